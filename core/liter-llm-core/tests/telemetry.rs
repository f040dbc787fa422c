//! Telemetry export and the audit trail against the in-process mock upstream and a small OTLP
//! receiver on loopback that keeps the bodies it was sent (the Python, Node and Go tests decode
//! them with a real receiver; these check what only the core can: export never blocks or fails
//! a call, sampling, forwarding, the audit chain).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{openai_ok, upstream};
use liter_llm_core::{telemetry, Client};
use serde_json::{json, Value};

/// A request's path and body.
type Posted = (String, Vec<u8>);

/// The bodies posted to a receiver, by path.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Posted>>>);

impl Received {
    fn bodies(&self, path: &str) -> Vec<Vec<u8>> {
        self.0.lock().unwrap().iter().filter(|(p, _)| p == path).map(|(_, b)| b.clone()).collect()
    }
}

fn receiver() -> (String, Received) {
    let received = Received::default();
    let kept = received.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    kept.0.lock().unwrap().push((uri.path().to_owned(), body.to_vec()));
                    ""
                }
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("http://{}", rx.recv().unwrap()), received)
}

fn contains(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn request(base_url: &str, sampled: bool) -> Value {
    json!({"model": "openai/gpt-4o-mini", "prompt": "canary-prompt-tl", "api_key": "sk-canary-tl", "base_url": base_url,
           "temperature": 0.5, "max_tokens": 20,
           "trace_context": {"traceparent": format!("00-{TRACE}-{PARENT}-{}", if sampled { "01" } else { "00" })}})
}

#[test]
fn a_retried_call_exports_its_span_and_one_child_per_attempt() {
    let (otlp, received) = receiver();
    let client = Client::from_json(
        json!({"telemetry": {"endpoint": otlp, "forward_traceparent": true, "service_name": "tl-test"}})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let s = upstream().session(
        json!([{"status": 500, "json": {"error": {"message": "boom"}}}, {"status": 200, "json": openai_ok("hi")}]),
        false,
    );
    let body = client.invoke_blocking(None, request(&s.base_url, true).to_string().as_bytes()).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["liter_llm"]["attempts"], 2);
    assert!(telemetry::flush_all(Duration::from_secs(10)));
    let traces = received.bodies("/v1/traces").concat();
    assert_eq!(contains(&traces, &hex(TRACE)), 3, "the call's span and two attempts share the caller's trace");
    assert_eq!(contains(&traces, &hex(PARENT)), 1, "only the call's span is the caller's child");
    assert_eq!(contains(&traces, b"chat gpt-4o-mini"), 1);
    assert!(contains(&traces, b"tl-test") >= 1);
    assert!(contains(&traces, b"http.request.resend_count") == 1);
    for secret in [&b"sk-canary-tl"[..], b"canary-prompt-tl"] {
        assert_eq!(contains(&traces, secret), 0, "no key or prompt in spans");
    }
    // Each attempt carried its own span id as the upstream request's parent.
    let sent: Vec<String> =
        s.requests().iter().map(|r| r["headers"]["traceparent"].as_str().unwrap().to_owned()).collect();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|t| t.starts_with(&format!("00-{TRACE}-")) && t.ends_with("-01")));
    assert_ne!(sent[0], sent[1]);
    let metrics = received.bodies("/v1/metrics").concat();
    for name in [&b"gen_ai.client.operation.duration"[..], b"gen_ai.client.token.usage", b"liter_llm.client.retries"] {
        assert!(contains(&metrics, name) >= 1, "{}", String::from_utf8_lossy(name));
    }
    assert_eq!(client.telemetry_stats().unwrap().spans_exported, 3);
}

#[test]
fn an_unsampled_parent_records_no_span_and_forwards_nothing_by_default() {
    let (otlp, received) = receiver();
    let client = Client::from_json(json!({"telemetry": {"endpoint": otlp}}).to_string().as_bytes()).unwrap();
    let s = upstream().session(json!([{"status": 200, "json": openai_ok("hi")}]), false);
    client.invoke_blocking(None, request(&s.base_url, false).to_string().as_bytes()).unwrap();
    assert!(telemetry::flush_all(Duration::from_secs(10)));
    assert_eq!(contains(&received.bodies("/v1/traces").concat(), &hex(TRACE)), 0);
    assert!(contains(&received.bodies("/v1/metrics").concat(), b"gen_ai.client.operation.duration") >= 1);
    assert!(s.requests()[0]["headers"].get("traceparent").is_none());
}

#[test]
fn a_receiver_that_is_down_loses_telemetry_not_calls() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = Client::from_json(
        json!({"telemetry": {"endpoint": format!("http://127.0.0.1:{closed}")}}).to_string().as_bytes(),
    )
    .unwrap();
    let s = upstream().session(json!([{"status": 200, "json": openai_ok("hi")}]), true);
    let started = Instant::now();
    for _ in 0..20 {
        client.invoke_blocking(None, request(&s.base_url, true).to_string().as_bytes()).unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(20), "calls do not wait for the receiver");
    telemetry::flush_all(Duration::from_secs(10));
    let stats = client.telemetry_stats().unwrap();
    assert_eq!(stats.spans_exported, 0);
    assert!(stats.spans_dropped >= 20 && stats.export_failures >= 1, "{stats:?}");
}

#[test]
fn telemetry_is_off_without_an_endpoint_and_bad_settings_are_refused() {
    assert!(Client::from_json(b"{}").unwrap().telemetry_stats().is_none());
    let e = Client::from_json(br#"{"telemetry": {"endpoint": "udp://x"}}"#).unwrap_err();
    assert!(e.message.contains("http(s)"), "{}", e.message);
    let e = Client::from_json(br#"{"telemetry": {"endpint": "http://x"}}"#).unwrap_err();
    assert!(e.message.contains("telemetry"), "{}", e.message);
}

#[test]
fn the_audit_trail_records_each_call_and_verifies() {
    let dir = std::env::temp_dir().join(format!("liter-llm-tl-audit-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let path = dir.to_string_lossy().into_owned();
    let client =
        Client::from_json(json!({"audit": {"path": path, "hmac_key": "audit-key"}}).to_string().as_bytes()).unwrap();
    let s = upstream().session(json!([{"status": 500, "json": {"error": {"message": "boom"}}}, {"status": 200, "json": openai_ok("hi")}, {"status": 401, "json": {"error": {"message": "no"}}}]), false);
    client.invoke_blocking(None, request(&s.base_url, true).to_string().as_bytes()).unwrap();
    client.invoke_blocking(None, request(&s.base_url, true).to_string().as_bytes()).unwrap_err();
    client.invoke_blocking(None, br#"{"model": "mock/m", "prompt": "canary-prompt-tl"}"#).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("canary-prompt-tl") && !text.contains("sk-canary-tl"));
    let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 3);
    assert_eq!(
        (records[0]["outcome"].as_str(), records[0]["attempts"].as_u64(), records[0]["status"].as_u64()),
        (Some("ok"), Some(2), Some(200))
    );
    assert_eq!((records[1]["outcome"].as_str(), records[1]["status"].as_u64()), (Some("authentication"), Some(401)));
    assert_eq!(records[0]["input_tokens"], 1);
    assert_eq!(records[0]["prompt_hash"], records[1]["prompt_hash"]);
    assert!(records[0]["prompt_hash"].as_str().unwrap().starts_with("hmac-sha256:"));
    assert_eq!(records[0]["key_id"].as_str().unwrap().len(), 16);
    assert_eq!((records[2]["provider"].as_str(), records[2]["attempts"].as_u64()), (Some("mock"), Some(0)));
    assert_eq!(liter_llm_core::audit::verify(&path, Some("audit-key")), Ok(3));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn an_embedding_call_is_an_embeddings_span() {
    let (otlp, received) = receiver();
    let client = Client::from_json(json!({"telemetry": {"endpoint": otlp}}).to_string().as_bytes()).unwrap();
    let answer = json!({"object": "list", "model": "text-embedding-3-small",
                        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
                        "usage": {"prompt_tokens": 3, "total_tokens": 3}});
    let s = upstream().session(json!([{"status": 200, "json": answer}]), false);
    let request = json!({"operation": "embedding", "model": "openai/text-embedding-3-small", "input": "canary-emb",
                         "api_key": "sk-canary-emb", "base_url": s.base_url});
    client.invoke_blocking(None, request.to_string().as_bytes()).unwrap();
    assert!(telemetry::flush_all(Duration::from_secs(10)));
    let traces = received.bodies("/v1/traces").concat();
    assert_eq!(contains(&traces, b"embeddings text-embedding-3-small"), 1);
    assert_eq!(contains(&traces, b"chat "), 0);
    for secret in [&b"sk-canary-emb"[..], b"canary-emb"] {
        assert_eq!(contains(&traces, secret), 0, "no key or input in spans");
    }
}
