//! A proxy named by the environment (HTTP_PROXY, NO_PROXY...) carries the calls it applies to,
//! as it did when every call went through reqwest. Its own test binary: the variables are
//! process-wide.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// A forward proxy that answers every request itself with an OpenAI answer, recording the
/// request lines it receives.
fn proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = lines.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let (mut request_line, mut length) = (String::new(), 0);
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = n.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    seen.lock().unwrap().push(request_line.trim_end().to_owned());
                    let answer = common::openai_ok("via the proxy").to_string();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        answer.len()
                    );
                    stream.write_all(head.as_bytes()).unwrap();
                    stream.write_all(answer.as_bytes()).unwrap();
                }
            });
        }
    });
    (url, lines)
}

#[test]
fn a_proxy_from_the_environment_carries_the_calls_it_applies_to() {
    let (proxy_url, lines) = proxy();
    for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "http_proxy", "no_proxy"] {
        std::env::remove_var(var);
    }
    std::env::set_var("HTTP_PROXY", &proxy_url);
    // Loopback addresses (the mock upstream, its control calls) go direct.
    std::env::set_var("NO_PROXY", "127.0.0.1,localhost");
    let session = common::upstream().session(json!([{"status": 200, "json": common::openai_ok("direct")}]), false);
    let client = liter_llm_core::Client::from_json(b"{}").unwrap();
    let ask = |base_url: &str| -> Value {
        let request = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                             "api_key": "sk-test-proxy", "base_url": base_url});
        let body = client.invoke_blocking(None, request.to_string().as_bytes()).unwrap();
        serde_json::from_slice(&body).unwrap()
    };
    // A host that resolves nowhere: only the proxy can answer for it.
    let proxied = ask("http://upstream.example.test/v1");
    assert_eq!(proxied["choices"][0]["message"]["content"], "via the proxy");
    assert_eq!(*lines.lock().unwrap(), ["POST http://upstream.example.test/v1/chat/completions HTTP/1.1"]);
    let direct = ask(&session.base_url);
    assert_eq!(direct["choices"][0]["message"]["content"], "direct");
    assert_eq!(session.requests().len(), 1);
    assert_eq!(lines.lock().unwrap().len(), 1, "a NO_PROXY host went through the proxy");
    // The asynchronous pool follows the same rules.
    let rt = liter_llm_core::runtime().unwrap();
    let request = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                         "api_key": "sk-test-proxy", "base_url": "http://upstream.example.test/v1"});
    let body = rt.block_on(client.invoke(None, request.to_string().as_bytes())).unwrap();
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "via the proxy");
    assert_eq!(lines.lock().unwrap().len(), 2);
}
