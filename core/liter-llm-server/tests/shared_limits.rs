//! Limits shared through a real `redis-server` (started on a free loopback port, without
//! persistence, stopped by its PID): three gateways admit together what one would, settle
//! tokens against the reported usage, and fall back as configured when Redis is down.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (Debian package redis-server)");
        let started = Instant::now();
        let redis = Redis { child, port };
        while redis.cli(&["PING"]) != "PONG" {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn signal(&self, signal: &str) {
        assert!(Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap().success());
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_table(redis: &Redis, extra: &str) -> String {
    format!("[server.redis]\nurl = \"redis://127.0.0.1:{}\"\ntimeout = 0.2\n{extra}\n", redis.port)
}

async fn statuses(gateways: &[Gateway], n: usize, request: &serde_json::Value) -> Vec<u16> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(gateways[i % gateways.len()].chat(request).send().await.unwrap().status().as_u16());
    }
    out
}

#[tokio::test]
async fn three_replicas_admit_a_keys_rpm_once_in_total() {
    let redis = Redis::start();
    let s = session(json!([{"status": 200, "json": openai_ok("ok")}]), true).await;
    let config = config_text(&s, &format!("{}{}", with_key("rpm = 10"), redis_table(&redis, "")));
    let gateways: Vec<Gateway> = (0..3).map(|_| Gateway::start(&config)).collect();
    let got = statuses(&gateways, 30, &chat_request("x")).await;
    assert_eq!(got.iter().filter(|s| **s == 200).count(), 10, "{got:?}");
    assert_eq!(got.iter().filter(|s| **s == 429).count(), 20, "{got:?}");
    assert_eq!(s.requests().await.len(), 10);
    assert!(redis.cli(&["EXISTS", "{liter-llm-limits}:key:team-a:rpm"]) == "1");
    let mut rejections = 0.0;
    for gw in &gateways {
        rejections += gw.metric(r#"liter_llm_rate_limit_rejections_total{scope="key"}"#).await;
        assert_eq!(gw.metric(r#"liter_llm_shared_limit_errors_total{scope="key"}"#).await, 0.0);
    }
    assert_eq!(rejections, 20.0);
}

#[tokio::test]
async fn a_providers_limits_are_shared_and_tokens_settled() {
    let redis = Redis::start();
    let s = session(json!([{"status": 200, "json": openai_ok("ok")}]), true).await;
    // rpm 6 for the provider, failing at once when spent; a key with 100 tokens a minute.
    let config = config_text(&s, &format!("{}{}", with_key("tpm = 100"), redis_table(&redis, "")))
        .replace("max_retries = 0\n", "max_retries = 0\nrpm = 6\non_limit = \"fail\"\n");
    let gateways: Vec<Gateway> = (0..3).map(|_| Gateway::start(&config)).collect();
    // Each request reserves about 41 tokens (max_tokens 40) and reports 5: settled, the key's
    // 100 tokens cover all six; unsettled, only two would pass.
    let mut request = chat_request("x");
    request["max_tokens"] = json!(40);
    let mut got = Vec::new();
    for i in 0..9 {
        got.push(gateways[i % 3].chat(&request).send().await.unwrap().status().as_u16());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got, [200, 200, 200, 200, 200, 200, 429, 429, 429], "the provider's rpm of 6, across replicas");
    assert_eq!(s.requests().await.len(), 6);
    let mut provider_rejections = 0.0;
    for gw in &gateways {
        provider_rejections += gw.metric(r#"liter_llm_rate_limit_rejections_total{scope="provider"}"#).await;
    }
    assert_eq!(provider_rejections, 3.0);
}

#[tokio::test]
async fn a_redis_that_is_down_or_stalled_falls_back_without_hanging() {
    let redis = Redis::start();
    let s = session(json!([{"status": 200, "json": openai_ok("ok")}]), true).await;
    let share = config_text(&s, &format!("{}{}", with_key("rpm = 9"), redis_table(&redis, "replicas = 3")));
    let open = config_text(&s, &format!("{}{}", with_key("rpm = 9"), redis_table(&redis, "on_error = \"fail_open\"")));
    let closed =
        config_text(&s, &format!("{}{}", with_key("rpm = 9"), redis_table(&redis, "on_error = \"fail_closed\"")));
    let (share, open, closed) = (Gateway::start(&share), Gateway::start(&open), Gateway::start(&closed));
    assert_eq!(statuses(std::slice::from_ref(&share), 1, &chat_request("x")).await, [200]);
    // A stalled Redis (stopped, its socket still open) answers nothing: each step times out.
    redis.signal("-STOP");
    let started = Instant::now();
    let got = statuses(std::slice::from_ref(&share), 5, &chat_request("x")).await;
    assert_eq!(got, [200, 200, 200, 429, 429], "a share of 9 / 3 replicas");
    assert_eq!(statuses(std::slice::from_ref(&open), 12, &chat_request("x")).await, [200; 12]);
    assert_eq!(statuses(std::slice::from_ref(&closed), 2, &chat_request("x")).await, [429, 429]);
    assert!(started.elapsed() < Duration::from_secs(10), "bounded by the timeout: {:?}", started.elapsed());
    assert!(share.metric(r#"liter_llm_shared_limit_fallbacks_total{scope="key"}"#).await >= 5.0);
    assert!(share.metric(r#"liter_llm_shared_limit_errors_total{scope="key"}"#).await >= 1.0);
    assert_eq!(share.get("/readyz").await.0, 200, "a replica without Redis still serves");
    // Redis back: after the backoff, the shared budget applies again.
    redis.signal("-CONT");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let got = statuses(std::slice::from_ref(&closed), 1, &chat_request("x")).await;
    assert_eq!(got, [200]);
}

#[tokio::test]
async fn a_background_settle_that_fails_is_counted() {
    let redis = Redis::start();
    let s = session(json!([openai_stream(&["a", "b"], 200)]), true).await;
    let gw = Gateway::start(&config_text(&s, &format!("{}{}", with_key("tpm = 1000"), redis_table(&redis, ""))));
    let mut request = chat_request("x");
    request["stream"] = json!(true);
    request["max_tokens"] = json!(40);
    // Admitted through Redis (the answer's first chunk has arrived); then Redis stalls, so the
    // correction of the estimate (41 tokens reserved, 5 used) at the stream's end fails.
    let response = gw.chat(&request).send().await.unwrap();
    assert_eq!(response.status(), 200);
    redis.signal("-STOP");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let started = Instant::now();
    while gw.metric("liter_llm_shared_settle_failures_total").await != 1.0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the failed settle was never counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(gw.metric(r#"liter_llm_shared_limit_fallbacks_total{scope="key"}"#).await, 0.0);
}
