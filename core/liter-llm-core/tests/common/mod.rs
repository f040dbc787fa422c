//! A mock upstream served in-process on 127.0.0.1, with a small control client.

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

use serde_json::{json, Value};

pub struct Upstream {
    pub url: String,
}

static UPSTREAM: std::sync::OnceLock<Upstream> = std::sync::OnceLock::new();

/// The process-wide mock upstream, started on first use on its own runtime thread.
pub fn upstream() -> &'static Upstream {
    UPSTREAM.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, liter_llm_mock_upstream::router()).await.unwrap();
            });
        });
        Upstream { url: format!("http://{}", rx.recv().unwrap()) }
    })
}

fn control(method: reqwest::Method, url: String, body: Option<Value>) -> Value {
    let rt = liter_llm_core::runtime().unwrap();
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let mut req = client.request(method, url);
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_string());
        }
        let text = req.send().await.unwrap().text().await.unwrap();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    })
}

pub struct Session {
    pub id: String,
    pub base_url: String,
}

impl Upstream {
    pub fn session(&self, responses: Value, repeat_last: bool) -> Session {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = format!("t{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        control(
            reqwest::Method::PUT,
            format!("{}/__mock/sessions/{id}", self.url),
            Some(json!({"responses": responses, "repeat_last": repeat_last})),
        );
        Session { base_url: format!("{}/s/{id}", self.url), id }
    }
}

impl Session {
    pub fn requests(&self) -> Vec<Value> {
        let url = format!("{}/__mock/sessions/{}/requests", upstream().url, self.id);
        control(reqwest::Method::GET, url, None)["requests"].as_array().cloned().unwrap_or_default()
    }

    /// Milliseconds between consecutive requests, from the upstream's journal.
    pub fn gaps_ms(&self) -> Vec<f64> {
        let times: Vec<f64> = self.requests().iter().map(|r| r["received_at_ms"].as_f64().unwrap()).collect();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

pub fn openai_ok(content: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
}

/// Runs a call and returns (is_error, JSON).
pub fn call(provider: Option<&str>, request: Value) -> (bool, Value) {
    match liter_llm_core::invoke_blocking(provider, request.to_string().as_bytes()) {
        Ok(body) => (false, serde_json::from_slice(&body).unwrap()),
        Err(e) => (true, serde_json::from_slice::<Value>(&e.to_json()).unwrap()["error"].clone()),
    }
}
