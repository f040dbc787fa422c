//! The response cache against the in-process mock upstream and a real `redis-server` (started
//! by these tests on a free loopback port, without persistence, and stopped by its PID).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{openai_ok, upstream, Session};
use liter_llm_core::Client;
use serde_json::{json, Value};

/// A `redis-server` of this test's own.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts `redis-server` with `args` (no persistence, loopback only) on a free port, listening
    /// with TLS when `tls` (then `port` is the TLS port), and waits until it accepts connections.
    fn spawn(tls: bool, args: &[&std::ffi::OsStr]) -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let port_args: &[&str] = if tls { &["--port", "0", "--tls-port"] } else { &["--port"] };
        let child = Command::new("redis-server")
            .args(port_args)
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (Debian package redis-server)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port }
    }

    fn start() -> Redis {
        let redis = Redis::spawn(false, &[]);
        let started = Instant::now();
        // Accepting connections is not yet answering them.
        while redis.cli(&["PING"]).trim() != "PONG" {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server does not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A redis-server that speaks only TLS (a self-signed certificate made by `openssl`) and
    /// asks for a password; `cli` does not reach it.
    fn start_tls(dir: &std::path::Path, password: &str) -> Redis {
        let (cert, key) = (dir.join("redis.crt"), dir.join("redis.key"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed");
        assert!(made.success());
        let args: Vec<&std::ffi::OsStr> = vec![
            "--tls-auth-clients".as_ref(),
            "no".as_ref(),
            "--requirepass".as_ref(),
            password.as_ref(),
            "--tls-cert-file".as_ref(),
            cert.as_os_str(),
            "--tls-key-file".as_ref(),
            key.as_os_str(),
        ];
        Redis::spawn(true, &args)
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.signal_quietly("-CONT");
        self.stop();
    }
}

impl Redis {
    fn signal_quietly(&self, signal: &str) {
        let _ = Command::new("kill").args([signal, &self.child.id().to_string()]).stderr(Stdio::null()).status();
    }
}

fn client(cache: Value) -> Client {
    Client::from_json(json!({"cache": cache}).to_string().as_bytes()).unwrap()
}

fn ok_session() -> Session {
    upstream().session(json!([{"status": 200, "json": openai_ok("cached answer")}]), true)
}

fn request(s: &Session, prompt: &str) -> Value {
    json!({"model": "openai/gpt-4o-mini", "prompt": prompt, "temperature": 0, "api_key": "sk-test-cache-1",
           "base_url": s.base_url, "max_retries": 0})
}

fn invoke(c: &Client, request: &Value) -> Value {
    serde_json::from_slice(&c.invoke_blocking(None, request.to_string().as_bytes()).unwrap()).unwrap()
}

fn status(response: &Value) -> &str {
    response["liter_llm"]["cache"].as_str().unwrap()
}

#[test]
fn a_deterministic_call_twice_goes_upstream_once() {
    let s = ok_session();
    let c = client(json!({"mode": "deterministic"}));
    let first = invoke(&c, &request(&s, "hello"));
    let second = invoke(&c, &request(&s, "hello"));
    assert_eq!(status(&first), "miss");
    assert_eq!(status(&second), "hit-l1");
    assert_eq!(s.requests().len(), 1);
    for field in ["id", "model", "usage", "choices"] {
        assert_eq!(first[field], second[field], "{field} is kept");
    }
    assert_eq!(second["liter_llm"]["attempts"], 0);
    assert_eq!(c.cache_stats().unwrap().hits_l1, 1);
}

#[test]
fn without_a_cache_every_answer_says_off() {
    let s = ok_session();
    let c = Client::from_json(b"{}").unwrap();
    assert_eq!(status(&invoke(&c, &request(&s, "x"))), "off");
    assert_eq!(status(&invoke(&c, &request(&s, "x"))), "off");
    assert_eq!(s.requests().len(), 2);
    assert!(c.cache_stats().is_none());
}

#[test]
fn non_deterministic_calls_bypass_the_cache() {
    let s = ok_session();
    let c = client(json!({"mode": "deterministic"}));
    let mut req = request(&s, "x");
    req.as_object_mut().unwrap().remove("temperature");
    assert_eq!(status(&invoke(&c, &req)), "bypass");
    assert_eq!(status(&invoke(&c, &req)), "bypass");
    let mut many = request(&s, "x");
    many["n"] = json!(2);
    assert_eq!(status(&invoke(&c, &many)), "bypass", "n > 1 is never cached");
    let mut seeded = request(&s, "x");
    seeded.as_object_mut().unwrap().remove("temperature");
    seeded["seed"] = json!(7);
    invoke(&c, &seeded);
    assert_eq!(status(&invoke(&c, &seeded)), "hit-l1", "a seed makes it repeatable");
    assert_eq!(s.requests().len(), 4);
    let always = client(json!({"mode": "always"}));
    invoke(&always, &req);
    assert_eq!(status(&invoke(&always, &req)), "hit-l1");
}

#[test]
fn two_api_keys_never_share_an_entry() {
    let s = ok_session();
    let c = client(json!({"mode": "always"}));
    invoke(&c, &request(&s, "same"));
    let mut other = request(&s, "same");
    other["api_key"] = json!("sk-test-cache-2");
    assert_eq!(status(&invoke(&c, &other)), "miss");
    assert_eq!(status(&invoke(&c, &other)), "hit-l1");
    assert_eq!(s.requests().len(), 2);
}

#[test]
fn tools_and_response_format_are_part_of_the_key() {
    let s = ok_session();
    let c = client(json!({"mode": "always"}));
    let base = request(&s, "weather?");
    invoke(&c, &base);
    let mut tools = base.clone();
    tools["tools"] =
        json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    assert_eq!(status(&invoke(&c, &tools)), "miss");
    let mut choice = tools.clone();
    choice["tool_choice"] = json!("required");
    assert_eq!(status(&invoke(&c, &choice)), "miss");
    let mut format = base.clone();
    format["response_format"] = json!({"type": "json_object"});
    assert_eq!(status(&invoke(&c, &format)), "miss");
    let mut namespaced = base.clone();
    namespaced["cache"] = json!({"namespace": "team-b"});
    assert_eq!(status(&invoke(&c, &namespaced)), "miss");
    assert_eq!(status(&invoke(&c, &base)), "hit-l1");
    assert_eq!(s.requests().len(), 5);
    for r in s.requests() {
        assert!(r["json"].get("cache").is_none(), "cache controls never reach the provider");
    }
}

#[test]
fn entries_expire_after_their_ttl() {
    let s = ok_session();
    let c = client(json!({"mode": "always", "l1": {"ttl": 0.3}}));
    invoke(&c, &request(&s, "x"));
    assert_eq!(status(&invoke(&c, &request(&s, "x"))), "hit-l1");
    std::thread::sleep(Duration::from_millis(450));
    assert_eq!(status(&invoke(&c, &request(&s, "x"))), "miss");
    // A call's own ttl overrides the configured one.
    let mut short = request(&s, "y");
    short["cache"] = json!({"ttl": 0.2});
    invoke(&c, &short);
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(status(&invoke(&c, &short)), "miss");
    assert_eq!(s.requests().len(), 4);
}

#[test]
fn per_request_controls() {
    let s = ok_session();
    let c = client(json!({"mode": "always"}));
    let mut no_store = request(&s, "x");
    no_store["cache"] = json!({"no-store": true});
    assert_eq!(status(&invoke(&c, &no_store)), "miss");
    assert_eq!(status(&invoke(&c, &request(&s, "x"))), "miss", "nothing was stored");
    let mut no_cache = request(&s, "x");
    no_cache["cache"] = json!({"no-cache": true});
    assert_eq!(status(&invoke(&c, &no_cache)), "bypass", "not read, though stored");
    assert_eq!(status(&invoke(&c, &request(&s, "x"))), "hit-l1");
    assert_eq!(s.requests().len(), 3);
}

#[test]
fn concurrent_identical_calls_go_upstream_once() {
    let s = upstream().session(json!([{"status": 200, "delay_ms": 300, "json": openai_ok("slow")}]), true);
    let c = client(json!({"mode": "always"}));
    let req = request(&s, "together").to_string();
    let rt = liter_llm_core::runtime().unwrap();
    let answers: Vec<Value> = rt.block_on(async {
        let calls: Vec<_> = (0..32)
            .map(|_| {
                let c = c.clone();
                let req = req.clone();
                tokio::spawn(async move { c.invoke(None, req.as_bytes()).await.unwrap() })
            })
            .collect();
        let mut out = Vec::new();
        for call in calls {
            out.push(serde_json::from_slice(&call.await.unwrap()).unwrap());
        }
        out
    });
    assert_eq!(s.requests().len(), 1);
    assert_eq!(answers.iter().filter(|a| status(a) == "miss").count(), 1);
    assert!(answers.iter().all(|a| a["choices"][0]["message"]["content"] == "slow"));
}

#[test]
fn errors_are_never_cached_and_reach_every_waiter() {
    let s = upstream().session(
        json!([{"status": 400, "delay_ms": 200, "json": {"error": {"message": "bad", "type": "invalid_request_error"}}},
               {"status": 200, "json": openai_ok("fine")}]),
        true,
    );
    let c = client(json!({"mode": "always"}));
    let req = request(&s, "e").to_string();
    let rt = liter_llm_core::runtime().unwrap();
    let failed = rt.block_on(async {
        let calls: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                let req = req.clone();
                tokio::spawn(async move { c.invoke(None, req.as_bytes()).await.is_err() })
            })
            .collect();
        let mut n = 0;
        for call in calls {
            n += usize::from(call.await.unwrap());
        }
        n
    });
    assert_eq!(failed, 4);
    assert_eq!(s.requests().len(), 1);
    assert_eq!(status(&invoke(&c, &request(&s, "e"))), "miss", "the error was not stored");
}

fn sse_chunks(texts: &[&str]) -> Value {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events: Vec<Value> = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    events.extend(texts.iter().map(|t| chunk(json!({"content": t}), Value::Null)));
    events.push(chunk(
        json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
        Value::Null,
    ));
    events.push(chunk(json!({}), json!("tool_calls")));
    events.push(json!({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                       "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}));
    let mut out: Vec<Value> = events.iter().map(|e| json!({"data": format!("data: {e}\n\n")})).collect();
    out.push(json!({"data": "data: [DONE]\n\n"}));
    Value::Array(out)
}

fn stream(c: &Client, request: &Value) -> Result<Vec<Value>, liter_llm_core::Error> {
    let rt = liter_llm_core::runtime().unwrap();
    let mut chunks = Vec::new();
    rt.block_on(async {
        let mut on_chunk = |c: Vec<u8>| chunks.push(serde_json::from_slice::<Value>(&c).unwrap());
        c.stream(None, request.to_string().as_bytes(), &mut on_chunk).await
    })?;
    Ok(chunks)
}

fn without_meta(chunks: &[Value]) -> Vec<Value> {
    chunks
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.as_object_mut().unwrap().remove("liter_llm");
            c
        })
        .collect()
}

#[test]
fn a_stream_is_replayed_chunk_for_chunk() {
    let sse =
        json!({"status": 200, "headers": {"content-type": "text/event-stream"}, "chunks": sse_chunks(&["Hel", "lo"])});
    let s = upstream().session(json!([sse, {"status": 200, "json": openai_ok("whole")}]), true);
    let c = client(json!({"mode": "always"}));
    let first = stream(&c, &request(&s, "stream me")).unwrap();
    let second = stream(&c, &request(&s, "stream me")).unwrap();
    assert_eq!(s.requests().len(), 1);
    assert_eq!(first.len(), 6);
    assert!(first.iter().all(|c| c["liter_llm"]["cache"] == "miss"));
    assert!(second.iter().all(|c| c["liter_llm"]["cache"] == "hit-l1"));
    assert_eq!(without_meta(&first), without_meta(&second), "same boundaries, tool calls, usage and finish");
    assert_eq!(status(&invoke(&c, &request(&s, "stream me"))), "miss", "a whole call is not a stream");
}

#[test]
fn a_stream_cut_short_is_not_stored() {
    let cut = json!({"status": 200, "headers": {"content-type": "text/event-stream"}, "chunks": sse_chunks(&["a", "b"]),
                     "disconnect_after_chunks": 2});
    let whole =
        json!({"status": 200, "headers": {"content-type": "text/event-stream"}, "chunks": sse_chunks(&["a", "b"])});
    let s = upstream().session(json!([cut, whole]), true);
    let c = client(json!({"mode": "always"}));
    assert!(stream(&c, &request(&s, "cut")).is_err());
    let again = stream(&c, &request(&s, "cut")).unwrap();
    assert_eq!(again[0]["liter_llm"]["cache"], "miss");
    assert_eq!(s.requests().len(), 2);
}

#[test]
fn a_fallback_answer_is_kept_under_its_own_model() {
    let unavailable = json!({"status": 503, "json": {"error": {"message": "down", "type": "server_error"}}});
    let s = upstream()
        .session(json!([unavailable, {"status": 200, "json": openai_ok("from the fallback")}, unavailable]), false);
    let c = client(json!({"mode": "always"}));
    let mut req = request(&s, "fb");
    req["fallbacks"] = json!(["openai/gpt-4o"]);
    let first = invoke(&c, &req);
    assert_eq!((status(&first), first["liter_llm"]["model"].as_str()), ("miss", Some("openai/gpt-4o")));
    let second = invoke(&c, &req);
    assert_eq!((status(&second), second["liter_llm"]["model"].as_str()), ("hit-l1", Some("openai/gpt-4o")));
    let models: Vec<Value> = s.requests().iter().map(|r| r["json"]["model"].clone()).collect();
    assert_eq!(models, [json!("gpt-4o-mini"), json!("gpt-4o"), json!("gpt-4o-mini")], "the primary was asked again");
}

fn redis_cache(redis: &Redis) -> Value {
    json!({"mode": "always", "redis": {"url": redis.url(), "connect_timeout": 0.3, "response_timeout": 0.3,
                                      "key_prefix": "liter-llm-test:"}})
}

#[test]
fn a_second_client_hits_redis() {
    let redis = Redis::start();
    let s = ok_session();
    let mut two_tiers = redis_cache(&redis);
    two_tiers["l1"] = json!({"max_entries": 16});
    let a = client(two_tiers.clone());
    assert_eq!(status(&invoke(&a, &request(&s, "shared"))), "miss");
    let b = client(two_tiers);
    assert_eq!(status(&invoke(&b, &request(&s, "shared"))), "hit-l2");
    assert_eq!(status(&invoke(&b, &request(&s, "shared"))), "hit-l1", "an L2 hit fills L1");
    assert_eq!(s.requests().len(), 1);
    let keys = redis.cli(&["--scan", "--pattern", "liter-llm-test:*"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].len(), "liter-llm-test:".len() + 64, "prefix and a SHA-256, nothing else");
    let stored = redis.cli(&["GET", keys[0]]);
    assert!(!stored.contains("sk-test-cache-1"), "the key is never stored");
    let ttl: i64 = redis.cli(&["PTTL", keys[0]]).trim().parse().unwrap();
    assert!(ttl > 0 && ttl <= 300_000, "{ttl}");
}

#[test]
fn rediss_urls_speak_tls_with_the_password_in_the_url() {
    let dir = std::env::temp_dir().join(format!("liter-llm-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis = Redis::start_tls(&dir, "s3cret-redis");
    let s = ok_session();
    // `#insecure` skips verifying the self-signed certificate; a real deployment's certificate
    // verifies against the web PKI roots.
    let tls = |password: &str| {
        json!({"mode": "always", "redis": {"url": format!("rediss://:{password}@127.0.0.1:{}/#insecure", redis.port),
                                           "connect_timeout": 2, "response_timeout": 2}})
    };
    let a = client(tls("s3cret-redis"));
    assert_eq!(status(&invoke(&a, &request(&s, "tls"))), "miss");
    let b = client(tls("s3cret-redis"));
    assert_eq!(status(&invoke(&b, &request(&s, "tls"))), "hit-l2", "the entry went through TLS both ways");
    let wrong = client(tls("wrong-password"));
    let response = invoke(&wrong, &request(&s, "tls"));
    assert_eq!(status(&response), "miss", "a refused password is a miss, not an error");
    assert!(!response.to_string().contains("wrong-password"));
    assert!(wrong.cache_stats().unwrap().l2_errors >= 1);
    assert_eq!(s.requests().len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_value_in_redis_is_a_miss() {
    let redis = Redis::start();
    let s = ok_session();
    invoke(&client(redis_cache(&redis)), &request(&s, "corrupt"));
    let keys = redis.cli(&["--scan", "--pattern", "liter-llm-test:*"]);
    let key = keys.lines().next().unwrap().to_owned();
    for garbage in ["not json", r#"{"v":1,"key":"0000","response":{}}"#] {
        assert_eq!(redis.cli(&["SET", &key, garbage]).trim(), "OK");
        let c = client(redis_cache(&redis));
        assert_eq!(status(&invoke(&c, &request(&s, "corrupt"))), "miss");
        assert_eq!(c.cache_stats().unwrap().l2_corrupt, 1);
    }
    assert_eq!(s.requests().len(), 3);
}

/// Calls with distinct prompts (so each needs Redis), each bounded well below a hang.
fn misses(c: &Client, s: &Session, tag: &str, n: usize) {
    for i in 0..n {
        let started = Instant::now();
        assert_eq!(status(&invoke(c, &request(s, &format!("{tag} {i}")))), "miss");
        assert!(started.elapsed() < Duration::from_secs(5), "a Redis failure never holds a call");
    }
}

#[test]
fn a_killed_redis_costs_one_failure_then_nothing() {
    let mut redis = Redis::start();
    let s = ok_session();
    let c = client(redis_cache(&redis));
    misses(&c, &s, "before", 2);
    assert_eq!(c.cache_stats().unwrap().l2_errors, 0);
    redis.stop();
    misses(&c, &s, "after", 5);
    let stats = c.cache_stats().unwrap();
    assert_eq!(stats.l2_errors, 1, "{stats:?}");
    assert!(stats.l2_skipped >= 8, "the calls after the failure leave Redis alone: {stats:?}");
}

#[test]
fn a_paused_redis_costs_one_timeout_then_nothing_and_recovers() {
    let redis = Redis::start();
    let s = ok_session();
    let c = client(redis_cache(&redis));
    misses(&c, &s, "before", 1);
    redis.signal("-STOP");
    misses(&c, &s, "paused", 5);
    let stats = c.cache_stats().unwrap();
    assert_eq!(stats.l2_errors, 1, "{stats:?}");
    redis.signal("-CONT");
    // The first rest after a failure is one second.
    std::thread::sleep(Duration::from_millis(1200));
    misses(&c, &s, "resumed", 1);
    let again = client(redis_cache(&redis));
    assert_eq!(status(&invoke(&again, &request(&s, "resumed 0"))), "hit-l2", "stored again once Redis answered");
    assert_eq!(c.cache_stats().unwrap().l2_errors, 1);
}

#[test]
fn bad_cache_configurations_are_refused() {
    for (bad, says) in [
        (json!({"mode": "sometimes"}), "mode"),
        (json!({"mode": "always", "l1": {"max_entries": 0}}), "max_entries"),
        (json!({"mode": "always", "redis": {"url": "http://user:hunter2@h"}}), "cache.redis.url"),
        (json!({"mode": "always", "l1": {"size": 1}}), "size"),
    ] {
        let e = Client::from_json(json!({"cache": bad}).to_string().as_bytes()).unwrap_err();
        assert!(e.message.contains(says) && !e.message.contains("hunter2"), "{}", e.message);
    }
}

/// `Client::run_with_facts`: the answer's usage and cache outcome as the core read them, equal
/// to what the body says.
#[test]
fn facts_come_with_the_answer() {
    use liter_llm_core::cache::Status;
    let s = ok_session();
    let runtime = liter_llm_core::runtime::runtime().unwrap();
    let facts_of = |c: &Client, request: &Value| {
        let plan = c.plan(None, request.to_string().as_bytes(), false).unwrap();
        let (body, facts) = runtime.block_on(c.run_with_facts(plan)).unwrap();
        (serde_json::from_slice::<Value>(&body).unwrap(), facts)
    };
    let c = client(json!({"mode": "deterministic"}));
    for expected in [Status::Miss, Status::HitL1] {
        let (body, facts) = facts_of(&c, &request(&s, "facts"));
        assert_eq!(facts.cache, expected);
        assert_eq!(status(&body), expected.as_str());
        let usage = facts.usage.expect("the answer has usage");
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (Some(1), Some(1), Some(2)));
    }
    let (body, facts) = facts_of(&Client::from_json(b"{}").unwrap(), &request(&s, "no cache"));
    assert_eq!((facts.cache, status(&body)), (Status::Off, "off"));
    // An answer of odd shape (a count that is a string) is read as pricing reads it.
    let odd = upstream().session(
        json!([{"status": 200, "json": {"choices": [], "usage": {"prompt_tokens": "5", "completion_tokens": 2}}}]),
        true,
    );
    let (_, facts) = facts_of(&Client::from_json(b"{}").unwrap(), &request(&odd, "odd"));
    let usage = facts.usage.expect("usage is an object");
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (None, Some(2)));
    // A local answer, without the network.
    let plan = c.plan(None, br#"{"model": "mock/echo", "prompt": "hi"}"#, false).unwrap();
    let (body, facts) = plan.answer_locally_with_facts().expect("a local answer").unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    let usage = facts.usage.expect("the mock reports usage");
    assert_eq!(Some(body["usage"]["prompt_tokens"].as_u64().unwrap()), usage.prompt_tokens);
    assert_eq!((facts.cache, status(&body)), (Status::Bypass, "bypass"));
}
