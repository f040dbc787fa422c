//! A gateway of the test's own (the release or debug `liter-llm` binary, as a child process on a
//! free loopback port) in front of the in-process mock upstream.

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const KEY: &str = "sk-gw-team-a-0123456789";
pub const UPSTREAM_KEY: &str = "sk-upstream-secret-42";

static MOCK: OnceLock<String> = OnceLock::new();

/// The process-wide mock upstream, served on its own thread.
pub fn mock() -> &'static str {
    MOCK.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, liter_llm_mock_upstream::router()).await.unwrap();
            });
        });
        format!("http://{}", rx.recv().unwrap())
    })
}

pub struct Session {
    pub id: String,
    pub base_url: String,
}

pub async fn session(responses: Value, repeat_last: bool) -> Session {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = format!("gw{}-{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let url = format!("{}/__mock/sessions/{id}", mock());
    let status = reqwest::Client::new()
        .put(url)
        .header("content-type", "application/json")
        .body(json!({"responses": responses, "repeat_last": repeat_last}).to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    Session { base_url: format!("{}/s/{id}", mock()), id }
}

impl Session {
    pub async fn requests(&self) -> Vec<Value> {
        let url = format!("{}/__mock/sessions/{}/requests", mock(), self.id);
        let text = reqwest::get(url).await.unwrap().text().await.unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["requests"].as_array().cloned().unwrap_or_default()
    }

    /// Waits (up to 10 s) until the journal's last request has ended; returns its outcome.
    pub async fn last_outcome(&self) -> String {
        let started = Instant::now();
        loop {
            let requests = self.requests().await;
            if let Some(last) = requests.last() {
                if last["outcome"] != "pending" {
                    return last["outcome"].as_str().unwrap().to_owned();
                }
            }
            assert!(started.elapsed() < Duration::from_secs(10), "the upstream request never ended: {requests:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn openai_ok(content: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
}

/// An OpenAI stream saying `parts`, with a usage chunk, each chunk `delay_ms` after the last.
pub fn openai_stream(parts: &[&str], delay_ms: u64) -> Value {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    events.extend(parts.iter().map(|p| chunk(json!({"content": p}), Value::Null)));
    events.push(chunk(json!({}), json!("stop")));
    events.push(json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                       "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}));
    let mut chunks: Vec<Value> =
        events.iter().map(|e| json!({"data": format!("data: {e}\n\n"), "delay_ms": delay_ms})).collect();
    chunks.push(json!({"data": "data: [DONE]\n\n"}));
    json!({"status": 200, "headers": {"content-type": "text/event-stream"}, "chunks": chunks})
}

/// A gateway process; killed when dropped.
pub struct Gateway {
    pub child: Child,
    pub url: String,
    pub config: std::path::PathBuf,
    stderr: Option<std::process::ChildStderr>,
}

/// The configuration file for a gateway in front of `session`, with `server` appended.
pub fn config_text(session: &Session, server: &str) -> String {
    format!(
        "[providers.openai]\napi_key = \"{UPSTREAM_KEY}\"\nbase_url = \"{}\"\nmax_retries = 0\n\n\
         [server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = 0.3\ndrain_timeout = 10\n{server}\n",
        session.base_url
    )
}

pub fn with_key(extra: &str) -> String {
    format!("[[server.keys]]\nname = \"team-a\"\nkey = \"{KEY}\"\n{extra}\n")
}

impl Gateway {
    pub fn start(config: &str) -> Gateway {
        Gateway::start_with(config, &[])
    }

    pub fn start_with(config: &str, args: &[&str]) -> Gateway {
        Gateway::try_start(config, args).unwrap_or_else(|e| panic!("the gateway did not start: {e}"))
    }

    /// Starts the binary; `Err` with its stderr when it exits instead of listening.
    pub fn try_start(config: &str, args: &[&str]) -> Result<Gateway, String> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let path = std::env::temp_dir().join(format!(
            "liter-llm-gw-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_liter-llm"))
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("LITER_LLM_CONFIG")
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let status = child.wait().unwrap();
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return Err(format!("{status}: {err}"));
        };
        let stderr = child.stderr.take();
        Ok(Gateway { url: url.to_owned(), child, config: path, stderr })
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits (up to `limit`) for the process to exit; its status code and stderr.
    pub fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut stderr) = self.stderr.take() {
                    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
                }
                return (status.code(), err);
            }
            assert!(started.elapsed() < limit, "the gateway did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn chat(&self, body: &Value) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", self.url))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::Client::new().get(format!("{}{path}", self.url)).bearer_auth(KEY).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The value of one sample of `/metrics` (the line starting with `series `).
    pub async fn metric(&self, series: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

pub fn chat_request(content: &str) -> Value {
    json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": content}]})
}
