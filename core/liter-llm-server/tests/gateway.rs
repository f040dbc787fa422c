//! The gateway end to end: the `liter-llm` binary in front of the mock upstream, driven over
//! HTTP as an OpenAI client would.

mod common;

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn completions_pass_through_with_the_servers_key() {
    let s = session(json!([{"status": 200, "json": openai_ok("hello")}]), true).await;
    let gw = Gateway::start(&config_text(&s, &with_key("")));
    let response = gw.chat(&chat_request("hi")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "hello");
    assert_eq!(body["liter_llm"]["provider"], "openai");
    let sent = &s.requests().await[0];
    assert_eq!(sent["path"], "/chat/completions");
    assert_eq!(sent["headers"]["authorization"], format!("Bearer {UPSTREAM_KEY}"));
    assert_eq!(sent["json"]["model"], "gpt-4o-mini");
    assert!(!sent["body"].as_str().unwrap().contains(KEY), "the client's key never goes upstream");
    let series = r#"liter_llm_requests_total{provider="openai",model="openai/gpt-4o-mini",outcome="ok"}"#;
    assert_eq!(gw.metric(series).await, 1.0);
    let tokens =
        r#"liter_llm_tokens_total{provider="openai",model="openai/gpt-4o-mini",outcome="ok",direction="prompt"}"#;
    assert_eq!(gw.metric(tokens).await, 3.0);
    assert_eq!(gw.metric("liter_llm_in_flight_requests").await, 0.0);
    let (status, text) = gw.get("/healthz").await;
    assert_eq!((status, text.as_str()), (200, r#"{"status":"ok"}"#));
    assert_eq!(gw.get("/readyz").await.0, 200);
}

#[tokio::test]
async fn keys_are_required_and_never_echoed() {
    let s = session(json!([{"status": 200, "json": openai_ok("hello")}]), true).await;
    let gw = Gateway::start(&config_text(&s, &with_key("models = [\"openai/gpt-4o*\"]")));
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", gw.url);
    for auth in [None, Some("Bearer sk-gw-wrong-000000000000"), Some("Basic abc"), Some(&format!("Bearer {KEY}x")[..])]
    {
        let mut request = client.post(&url).body(chat_request("hi").to_string());
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_api_key");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(!body.to_string().contains("sk-gw"), "{body}");
    }
    assert!(s.requests().await.is_empty(), "nothing reached the upstream");
    let response = gw.chat(&json!({"model": "anthropic/claude-x", "prompt": "x"})).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_allowed");
    let response = reqwest::Client::new().get(format!("{}/v1/models", gw.url)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(gw.metric(r#"liter_llm_refused_total{reason="unauthorized"}"#).await, 5.0);
}

#[tokio::test]
async fn bad_requests_get_a_400_naming_the_problem() {
    let s = session(json!([]), false).await;
    let gw = Gateway::start(&config_text(&s, &with_key("")));
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", gw.url);
    let cases: [(&str, &str); 9] = [
        ("{\"model\": ", "not valid JSON"),
        (r#"{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "x"}]} {}"#, "not valid JSON"),
        ("[1]", "must be a JSON object"),
        (r#"{"messages": [{"role": "user", "content": "x"}]}"#, "needs `model`"),
        (r#"{"model": ["openai/gpt-4o"], "messages": [{"role": "user", "content": "x"}]}"#, "`model` must be a string"),
        (
            r#"{"model": "openai/gpt-4o", "messages": [], "trace_context": {}, "cache": false}"#,
            "`cache` is not accepted",
        ),
        (r#"{"model": "openai/gpt-4o", "messages": []}"#, "`messages` must not be empty"),
        (
            r#"{"model": "openai/gpt-4o", "prompt": "x", "base_url": "http://127.0.0.1:9"}"#,
            "`base_url` is not accepted",
        ),
        (r#"{"model": "openai/gpt-4o", "prompt": "x", "api_key": "sk-mine"}"#, "`api_key` is not accepted"),
    ];
    for (body, expected) in cases {
        let response = client.post(&url).bearer_auth(KEY).body(body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
        assert_eq!(error["error"]["type"], "invalid_request_error");
    }
    assert!(s.requests().await.is_empty());
    let response = client.post(format!("{}/v1/nothing", gw.url)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn upstream_errors_keep_their_meaning() {
    let s = session(
        json!([
            {"status": 429, "headers": {"retry-after": "7"}, "json": {"error": {"message": "slow down", "type": "rate_limit_error"}}},
            {"status": 500, "json": {"error": {"message": "boom", "type": "server_error"}}},
            {"status": 401, "json": {"error": {"message": "bad key", "type": "invalid_request_error"}}},
        ]),
        false,
    )
    .await;
    let gw = Gateway::start(&config_text(&s, &with_key("")));
    let response = gw.chat(&chat_request("a")).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let response = gw.chat(&chat_request("b")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    // The provider refusing the server's key is the server's problem, not a 401 for the client.
    let response = gw.chat(&chat_request("c")).send().await.unwrap();
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "authentication");
    assert!(!body.to_string().contains(UPSTREAM_KEY));
    assert_eq!(gw.metric(r#"liter_llm_upstream_errors_total{provider="openai",kind="rate_limited"}"#).await, 1.0);
}

/// Reads an SSE response to its end: the `data:` payloads.
async fn events(response: reqwest::Response) -> Vec<String> {
    let text = response.text().await.unwrap();
    text.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).map(str::to_owned).collect()
}

#[tokio::test]
async fn streams_end_with_done_and_usage_only_when_asked() {
    let s = session(json!([openai_stream(&["Hel", "lo"], 0)]), true).await;
    let gw = Gateway::start(&config_text(&s, &with_key("tpm = 100000")));
    let mut request = chat_request("hi");
    request["stream"] = json!(true);
    let response = gw.chat(&request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let data = events(response).await;
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "Hello");
    assert!(chunks.iter().all(|c| c["usage"].is_null()), "no usage chunk unless asked: {chunks:?}");
    // The upstream was asked for usage all the same: the token limits settle against it.
    assert_eq!(s.requests().await[0]["json"]["stream_options"], json!({"include_usage": true}));

    request["stream_options"] = json!({"include_usage": true});
    let data = events(gw.chat(&request).send().await.unwrap()).await;
    let usage: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["total_tokens"], 5);
    assert_eq!(usage["choices"], json!([]));
    let tokens =
        r#"liter_llm_tokens_total{provider="openai",model="openai/gpt-4o-mini",outcome="ok",direction="completion"}"#;
    assert_eq!(gw.metric(tokens).await, 4.0);

    // Declined in so many words: no usage chunk either, and the upstream is still asked for usage.
    request["stream_options"] = json!({"include_usage": false});
    let data = events(gw.chat(&request).send().await.unwrap()).await;
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    assert!(chunks.iter().all(|c| c["usage"].is_null()), "no usage chunk when declined: {chunks:?}");
    assert_eq!(s.requests().await[2]["json"]["stream_options"], json!({"include_usage": true}));
    assert_eq!(gw.metric(tokens).await, 6.0);
    assert_eq!(gw.metric("liter_llm_open_streams").await, 0.0);
}

#[tokio::test]
async fn a_stream_that_fails_before_its_first_chunk_gets_a_status() {
    let s =
        session(json!([{"status": 429, "json": {"error": {"message": "no", "type": "rate_limit_error"}}}]), true).await;
    let gw = Gateway::start(&config_text(&s, &with_key("")));
    let mut request = chat_request("hi");
    request["stream"] = json!(true);
    let response = gw.chat(&request).send().await.unwrap();
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn a_keys_rpm_is_enforced_with_retry_after() {
    let s = session(json!([{"status": 200, "json": openai_ok("ok")}]), true).await;
    let gw = Gateway::start(&config_text(&s, &with_key("rpm = 3")));
    let mut statuses = Vec::new();
    for i in 0..5 {
        let response = gw.chat(&chat_request(&format!("{i}"))).send().await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=20).contains(&retry), "{retry}");
            let body: Value = response.json().await.unwrap();
            assert!(body["error"]["message"].as_str().unwrap().starts_with("key team-a:"), "{body}");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert_eq!(s.requests().await.len(), 3);
    assert_eq!(gw.metric(r#"liter_llm_rate_limit_rejections_total{scope="key"}"#).await, 2.0);
}

#[tokio::test]
async fn concurrency_is_bounded_with_clear_refusals() {
    let s = session(json!([{"status": 200, "delay_ms": 1500, "json": openai_ok("slow")}]), true).await;
    let server = "max_concurrency = 1\nmax_queue = 0\n";
    let gw = Gateway::start(&config_text(&s, &format!("{server}{}", with_key("max_concurrency = 1"))));
    let first = tokio::spawn(gw.chat(&chat_request("a")).send());
    while s.requests().await.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = gw.chat(&chat_request("b")).send().await.unwrap();
    assert_eq!(response.status(), 429, "the key's own limit comes first");
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(gw.metric("liter_llm_in_flight_requests").await, 1.0);
    assert_eq!(first.await.unwrap().unwrap().status(), 200);

    let gw = Gateway::start(&config_text(&s, &format!("{server}{}", with_key(""))));
    let first = tokio::spawn(gw.chat(&chat_request("a")).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = gw.chat(&chat_request("b")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
}

#[tokio::test]
async fn bodies_are_bounded_in_size_and_time() {
    let s = session(json!([]), false).await;
    let gw = Gateway::start(&config_text(&s, &format!("max_body_bytes = 1000\nbody_timeout = 0.5\n{}", with_key(""))));
    let big = chat_request(&"x".repeat(2000));
    let response = gw.chat(&big).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "request_too_large");
    // Without a length, the limit applies while reading.
    let bytes = big.to_string().into_bytes();
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(KEY)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // A body that stops arriving: 408 after the body timeout.
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let answer = tokio::task::spawn_blocking(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\ncontent-length: 100\r\n\r\n{{\"mo"
        );
        c.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_slowloris_connection_is_closed() {
    let s = session(json!([]), false).await;
    let gw = Gateway::start(&config_text(&s, &format!("header_timeout = 0.5\n{}", with_key(""))));
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let ended = tokio::task::spawn_blocking(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n").unwrap();
        // Trickle header bytes, never finishing the head.
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(200));
            if c.write_all(b"x-a: b\r\n").is_err() {
                break;
            }
        }
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        rest
    })
    .await
    .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "closed by the header timeout, not the test's: {elapsed:?}");
    let text = String::from_utf8_lossy(&ended);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_call() {
    let s = session(json!([{"status": 200, "delay_ms": 5000, "json": openai_ok("late")}]), true).await;
    let gw = Gateway::start(&config_text(&s, &with_key("")));
    let e = gw.chat(&chat_request("a")).timeout(Duration::from_millis(400)).send().await.unwrap_err();
    assert!(e.is_timeout());
    assert_eq!(s.last_outcome().await, "client_closed");

    let s = session(json!([openai_stream(&["a", "b", "c", "d", "e", "f"], 400)]), true).await;
    let gw = Gateway::start(&config_text(&s, &with_key("")));
    let mut request = chat_request("hi");
    request["stream"] = json!(true);
    let mut response = gw.chat(&request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(response);
    assert_eq!(s.last_outcome().await, "client_closed");
    let started = Instant::now();
    while gw.metric("liter_llm_open_streams").await != 0.0 {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(gw.metric("liter_llm_client_disconnects_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_in_flight_calls_and_streams_then_exits_0() {
    // The session answers the call (late), then the stream (slowly).
    let script = json!([{"status": 200, "delay_ms": 1200, "json": openai_ok("done")}, openai_stream(&["a", "b", "c", "d"], 250)]);
    let s = session(script, false).await;
    let config = config_text(&s, &with_key("")).replace("shutdown_grace = 0.3", "shutdown_grace = 0.5");
    let mut gw = Gateway::start(&config);
    let call = tokio::spawn(gw.chat(&chat_request("a")).send());
    while s.requests().await.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut request = chat_request("hi");
    request["stream"] = json!(true);
    let stream = gw.chat(&request).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    gw.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(gw.get("/readyz").await, (503, r#"{"status":"draining"}"#.to_owned()));
    // Still served during the grace period.
    assert_eq!(gw.get("/healthz").await.0, 200);
    let response = call.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "done");
    let data = events(stream).await;
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "the stream ran to its end: {data:?}");
    let (code, stderr) = tokio::task::block_in_place(|| gw.wait_exit(Duration::from_secs(10)));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("drained"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_server_threads_serve_many_connections_and_drain_them_on_sigterm() {
    let s = session(json!([{"status": 200, "delay_ms": 800, "json": openai_ok("done")}]), true).await;
    let mut gw = Gateway::start(&config_text(&s, &format!("workers = 2\n{}", with_key(""))));
    let threads = || -> Vec<String> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", gw.child.id())).unwrap();
        let comm = |t: std::fs::DirEntry| std::fs::read_to_string(t.path().join("comm")).ok();
        tasks.filter_map(|t| comm(t.ok()?)).map(|c| c.trim().to_owned()).collect()
    };
    // Server threads are `liter-llm-srv<i>`; a thread names itself once it runs.
    let serving = |names: &[String]| names.iter().filter(|t| t.starts_with("liter-llm-srv")).count();
    let started = Instant::now();
    while serving(&threads()) < 2 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let names = threads();
    assert_eq!(serving(&names), 2, "{names:?}");
    // Each client its own connection; the kernel spreads them over the two listeners.
    let calls: Vec<_> = (0..8).map(|i| tokio::spawn(gw.chat(&chat_request(&format!("c{i}"))).send())).collect();
    while s.requests().await.len() < 8 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.signal("-TERM");
    for call in calls {
        let response = call.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "done");
    }
    let (code, stderr) = tokio::task::block_in_place(|| gw.wait_exit(Duration::from_secs(10)));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("stopped accepting") && stderr.contains("drained"), "{stderr}");
    assert_eq!(stderr.matches("stopped accepting").count(), 1, "one control loop: {stderr}");
}

#[tokio::test]
async fn startup_refuses_an_open_listener_without_keys_and_bad_settings() {
    let s = session(json!([]), false).await;
    let e = Gateway::try_start(&config_text(&s, ""), &["--listen", "0.0.0.0:0"]).err().unwrap();
    assert!(e.contains("without client keys"), "{e}");
    let e = Gateway::try_start(&config_text(&s, "max_concurency = 2"), &[]).err().unwrap();
    assert!(e.contains("max_concurency"), "{e}");
    // Before listening, with a status Kubernetes shows as CrashLoopBackOff, not a 503 forever.
    assert!(e.starts_with("exit status: 2"), "{e}");
    // Loopback without keys is a development server: no key needed.
    let gw = Gateway::start(&config_text(&s, ""));
    let response = reqwest::Client::new().get(format!("{}/v1/models", gw.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn models_lists_routes_and_configured_models() {
    let s = session(json!([]), false).await;
    let config = config_text(&s, &with_key("models = [\"chat\", \"openai/*\"]"))
        .replace("max_retries = 0\n", "max_retries = 0\nmodels.\"gpt-4o\" = { rpm = 10 }\n\n[routes.chat]\nmodels = [\"openai/gpt-4o-mini\", \"anthropic/claude-haiku-4-5\"]\n");
    let gw = Gateway::start(&config);
    let (status, text) = gw.get("/v1/models").await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = body["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["chat", "openai/gpt-4o", "openai/gpt-4o-mini"], "the key may not see anthropic's");
    assert_eq!(body["object"], "list");
}

#[tokio::test]
async fn metrics_pass_promtool_check() {
    let s = session(
        json!([{"status": 200, "json": openai_ok("hello")}, {"status": 500, "json": {"error": {"message": "x"}}}]),
        true,
    )
    .await;
    let gw = Gateway::start(&config_text(&s, &with_key("rpm = 100")));
    for _ in 0..3 {
        let _ = gw.chat(&chat_request("a")).send().await.unwrap();
    }
    let _ = reqwest::Client::new().post(format!("{}/v1/chat/completions", gw.url)).send().await.unwrap();
    let (status, text) = gw.get("/metrics").await;
    assert_eq!(status, 200);
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package prometheus)");
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool: {report}\n{text}");
    assert!(text.contains(r#"outcome="provider_unavailable""#), "{text}");
}

fn openai_embedding(vectors: &[&[f32]]) -> Value {
    let data: Vec<Value> =
        vectors.iter().enumerate().map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v})).collect();
    json!({"object": "list", "data": data, "model": "text-embedding-3-small",
           "usage": {"prompt_tokens": 6, "total_tokens": 6}})
}

#[tokio::test]
async fn embeddings_are_served_as_floats_and_base64() {
    let s = session(json!([{"status": 200, "json": openai_embedding(&[&[0.5, -1.0, 0.25], &[1.0, 2.0, 3.0]])}]), true)
        .await;
    let gw = Gateway::start(&config_text(&s, &with_key("tpm = 1000")));
    let url = format!("{}/v1/embeddings", gw.url);
    let request = json!({"model": "openai/text-embedding-3-small", "input": ["a", "b"]});
    let response = reqwest::Client::new().post(&url).bearer_auth(KEY).body(request.to_string()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][0]["embedding"], json!([0.5, -1.0, 0.25]));
    assert_eq!(body["data"][1]["index"], 1);
    assert_eq!(body["usage"]["prompt_tokens"], 6);
    let sent = &s.requests().await[0];
    assert_eq!(sent["path"], "/embeddings");
    assert_eq!(sent["headers"]["authorization"], format!("Bearer {UPSTREAM_KEY}"));
    assert_eq!(sent["json"], json!({"model": "text-embedding-3-small", "input": ["a", "b"]}));

    let request = json!({"model": "openai/text-embedding-3-small", "input": ["a", "b"], "encoding_format": "base64"});
    let response = reqwest::Client::new().post(&url).bearer_auth(KEY).body(request.to_string()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    // Little-endian float32 of 0.5, -1.0, 0.25.
    assert_eq!(body["data"][0]["embedding"], "AAAAPwAAgL8AAIA+");

    let series = r#"liter_llm_requests_total{provider="openai",model="openai/text-embedding-3-small",outcome="ok"}"#;
    assert_eq!(gw.metric(series).await, 2.0);
    let tokens = r#"liter_llm_tokens_total{provider="openai",model="openai/text-embedding-3-small",outcome="ok",direction="prompt"}"#;
    assert_eq!(gw.metric(tokens).await, 12.0);
    assert_eq!(gw.metric("liter_llm_in_flight_requests").await, 0.0);
}

#[tokio::test]
async fn embeddings_share_the_chat_endpoints_checks() {
    let s = session(json!([{"status": 200, "json": openai_embedding(&[&[0.5]])}]), true).await;
    let gw = Gateway::start(&config_text(&s, &with_key("models = [\"openai/text-embedding-*\"]\nrpm = 2")));
    let url = format!("{}/v1/embeddings", gw.url);
    let post = |auth: Option<&'static str>, body: Value| {
        let mut request = reqwest::Client::new().post(&url).body(body.to_string());
        if let Some(key) = auth {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let ok = json!({"model": "openai/text-embedding-3-small", "input": "x"});
    let response = post(None, ok.clone()).await.unwrap();
    assert_eq!(response.status(), 401);
    let response = post(Some(KEY), json!({"model": "openai/gpt-4o-mini", "input": "x"})).await.unwrap();
    assert_eq!(response.status(), 403, "the key's models allow-list applies");
    let cases = [
        (json!({"model": "openai/text-embedding-3-small"}), "input"),
        (
            json!({"model": "openai/text-embedding-3-small", "input": "x", "operation": "chat"}),
            "`operation` is not accepted",
        ),
        (json!({"model": "openai/text-embedding-3-small", "input": "x", "encoding_format": "hex"}), "encoding_format"),
        (json!({"model": "openai/text-embedding-3-small", "input": "x", "stream": true}), "not streamed"),
    ];
    for (body, expected) in cases {
        let response = post(Some(KEY), body.clone()).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"]["message"].as_str().unwrap().contains(expected), "{body}: {error}");
    }
    assert!(s.requests().await.is_empty(), "nothing reached the upstream");
    assert_eq!(post(Some(KEY), ok.clone()).await.unwrap().status(), 200);
    assert_eq!(post(Some(KEY), ok.clone()).await.unwrap().status(), 200);
    let response = post(Some(KEY), ok).await.unwrap();
    assert_eq!(response.status(), 429, "the key's rpm counts embeddings");
    assert!(response.headers().contains_key("retry-after"));
    let response = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn cache_outcomes_are_counted_per_model() {
    let s = session(json!([{"status": 200, "json": openai_ok("hello")}]), true).await;
    let config = config_text(&s, &with_key("")).replace("[server]", "[cache]\nmode = \"deterministic\"\n\n[server]");
    let gw = Gateway::start(&config);
    let mut repeatable = chat_request("same");
    repeatable["temperature"] = json!(0);
    for _ in 0..3 {
        assert_eq!(gw.chat(&repeatable).send().await.unwrap().status(), 200);
    }
    assert_eq!(gw.chat(&chat_request("sampled")).send().await.unwrap().status(), 200);
    let base = r#"liter_llm_cache_requests_total{provider="openai",model="openai/gpt-4o-mini",cache="#;
    assert_eq!(gw.metric(&format!("{base}\"miss\"}}")).await, 1.0);
    assert_eq!(gw.metric(&format!("{base}\"hit-l1\"}}")).await, 2.0);
    assert_eq!(gw.metric(&format!("{base}\"bypass\"}}")).await, 1.0);
    assert_eq!(s.requests().await.len(), 2, "two answers came from the cache");
    assert_eq!(gw.metric("liter_llm_telemetry_spans_dropped_total").await, 0.0);
    assert_eq!(gw.metric("liter_llm_shared_settle_failures_total").await, 0.0);
}

/// Waits (up to 10 s) until `/metrics` shows `series` at `value`.
async fn wait_metric(gw: &Gateway, series: &str, value: f64) {
    let started = Instant::now();
    while gw.metric(series).await != value {
        assert!(started.elapsed() < Duration::from_secs(10), "{series} never reached {value}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_swaps_in_a_valid_configuration_and_keeps_serving_with_an_invalid_one() {
    let s = session(json!([{"status": 200, "json": openai_ok("hello")}]), true).await;
    let before = config_text(&s, &with_key("models = [\"openai/gpt-4o-mini\"]"))
        .replace("[server]\n", "[server]\nreload_interval = 0\n");
    let gw = Gateway::start(&before);
    assert_eq!(gw.chat(&chat_request("a")).send().await.unwrap().status(), 200);
    let other = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "b"}]});
    assert_eq!(gw.chat(&other).send().await.unwrap().status(), 403);

    // A valid new file: the new allow-list applies to the next request.
    std::fs::write(&gw.config, before.replace("models = [\"openai/gpt-4o-mini\"]", "models = [\"openai/*\"]")).unwrap();
    gw.signal("-HUP");
    wait_metric(&gw, r#"liter_llm_config_reloads_total{outcome="ok"}"#, 1.0).await;
    assert_eq!(gw.chat(&other).send().await.unwrap().status(), 200);
    assert_eq!(gw.metric("liter_llm_config_valid").await, 1.0);

    // An invalid one (an unknown key, holding a secret-looking value): reported, not applied.
    let secret = "sk-gw-not-to-be-shown-0123456789";
    let invalid = before.replace("[server]\n", &format!("[server]\nmax_concurency = 2\n# {secret}\n"));
    std::fs::write(&gw.config, invalid).unwrap();
    gw.signal("-HUP");
    wait_metric(&gw, r#"liter_llm_config_reloads_total{outcome="invalid"}"#, 1.0).await;
    assert_eq!(gw.metric("liter_llm_config_valid").await, 0.0);
    let (status, text) = gw.get("/readyz").await;
    assert_eq!(status, 200, "the previous configuration still serves: {text}");
    let ready: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ready["config"]["status"], "invalid");
    assert!(ready["config"]["error"].as_str().unwrap().contains("max_concurency"), "{ready}");
    assert!(!text.contains(secret));
    assert_eq!(gw.chat(&other).send().await.unwrap().status(), 200, "the last valid configuration serves");

    // A key removed by a valid file no longer authenticates.
    std::fs::write(
        &gw.config,
        config_text(&s, "reload_interval = 0\n[[server.keys]]\nname = \"b\"\nkey = \"sk-gw-team-b-0123456789\"\n"),
    )
    .unwrap();
    gw.signal("-HUP");
    wait_metric(&gw, r#"liter_llm_config_reloads_total{outcome="ok"}"#, 2.0).await;
    assert_eq!(gw.chat(&chat_request("c")).send().await.unwrap().status(), 401);
    let (_, text) = gw.get("/readyz").await;
    assert_eq!(text, r#"{"status":"ready"}"#);
    assert_eq!(gw.metric("liter_llm_config_valid").await, 1.0);
    let mut gw = gw;
    gw.signal("-TERM");
    let (code, stderr) = tokio::task::block_in_place(|| gw.wait_exit(Duration::from_secs(10)));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("was not applied, the previous configuration keeps serving"), "{stderr}");
    assert!(!stderr.contains(secret) && !stderr.contains(KEY), "{stderr}");
}

#[tokio::test]
async fn a_changed_file_is_read_again_without_a_signal() {
    let s = session(json!([{"status": 200, "json": openai_ok("hello")}]), true).await;
    let before = config_text(&s, &with_key("")).replace("[server]\n", "[server]\nreload_interval = 0.1\n");
    let gw = Gateway::start(&before);
    assert_eq!(gw.chat(&chat_request("a")).send().await.unwrap().status(), 200);
    // As a ConfigMap volume changes: the file is replaced by another.
    let next = gw.config.with_extension("next");
    std::fs::write(&next, before.replace("[[server.keys]]", "max_body_bytes = 10\n\n[[server.keys]]")).unwrap();
    std::fs::rename(&next, &gw.config).unwrap();
    wait_metric(&gw, r#"liter_llm_config_reloads_total{outcome="ok"}"#, 1.0).await;
    assert_eq!(gw.chat(&chat_request("a")).send().await.unwrap().status(), 413);
    // Broken TOML: the previous configuration keeps serving.
    std::fs::write(&gw.config, "[providers.openai\n").unwrap();
    wait_metric(&gw, r#"liter_llm_config_reloads_total{outcome="invalid"}"#, 1.0).await;
    assert_eq!(gw.chat(&chat_request("a")).send().await.unwrap().status(), 413);
    assert_eq!(gw.get("/readyz").await.0, 200);
}
