//! Runs the built binary and talks raw HTTP/1.1 to it, for what only a real socket shows:
//! the startup line, chunked streaming, scripted disconnects, concurrent delays, stdin EOF.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    host: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_liter-llm-mock-upstream"))
            .args(["--exit-on-stdin-eof", "--max-lifetime-secs", "120"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the mock upstream");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let host = line
            .trim_end()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(host.starts_with("127.0.0.1:"), "{host}");
        let stdin = child.stdin.take();
        Server { child, stdin, host }
    }

    /// Sends one request on a fresh connection and returns everything read until the server
    /// closes it (or breaks it).
    fn raw(&self, method: &str, path: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(&self.host).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        )
        .unwrap();
        let mut received = Vec::new();
        // A scripted disconnect may surface as a reset rather than a clean end of stream.
        let _ = stream.read_to_end(&mut received);
        String::from_utf8_lossy(&received).into_owned()
    }

    fn json(&self, method: &str, path: &str, body: &str) -> Value {
        let response = self.raw(method, path, body);
        let (_, body) = response.split_once("\r\n\r\n").expect("a complete response");
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {response}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn streams_chunks_with_chunked_encoding() {
    let server = Server::start();
    let script = json!({"responses": [{
        "headers": {"content-type": "text/event-stream"},
        "chunks": [{"data": "data: one\n\n"}, {"data": "data: two\n\n", "delay_ms": 20}]
    }]});
    server.raw("PUT", "/__mock/sessions/sse", &script.to_string());
    let response = server.raw("POST", "/s/sse/v1/chat/completions", "{}");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("transfer-encoding: chunked\r\n"), "{response}");
    assert!(response.contains("content-type: text/event-stream\r\n"), "{response}");
    assert!(response.ends_with("B\r\ndata: one\n\n\r\nB\r\ndata: two\n\n\r\n0\r\n\r\n"), "{response:?}");
}

#[test]
fn disconnect_after_chunks_breaks_the_body() {
    let server = Server::start();
    let script = json!({"responses": [{
        "chunks": [{"data": "first"}, {"data": "second"}],
        "disconnect_after_chunks": 1
    }]});
    server.raw("PUT", "/__mock/sessions/cut", &script.to_string());
    let response = server.raw("POST", "/s/cut/v1/messages", "{}");
    assert!(response.contains("5\r\nfirst\r\n"), "{response:?}");
    assert!(!response.contains("second"), "{response:?}");
    assert!(!response.ends_with("0\r\n\r\n"), "the body must not be terminated: {response:?}");
}

#[test]
fn delayed_responses_do_not_block_each_other() {
    const CALLS: usize = 8;
    const DELAY_MS: u64 = 1000;
    let server = Server::start();
    let script = json!({"responses": [{"delay_ms": DELAY_MS, "json": {"ok": true}}], "repeat_last": true});
    server.raw("PUT", "/__mock/sessions/slow", &script.to_string());
    std::thread::scope(|scope| {
        for _ in 0..CALLS {
            scope.spawn(|| assert_eq!(server.json("POST", "/s/slow/x", "{}"), json!({"ok": true})));
        }
    });
    let journal = server.json("GET", "/__mock/sessions/slow/requests", "");
    let times: Vec<f64> =
        journal["requests"].as_array().unwrap().iter().map(|r| r["received_at_ms"].as_f64().unwrap()).collect();
    assert_eq!(times.len(), CALLS);
    let spread = times.iter().cloned().fold(f64::MIN, f64::max) - times.iter().cloned().fold(f64::MAX, f64::min);
    // Had the server answered one call at a time, each would arrive a full delay after the last.
    assert!(spread < DELAY_MS as f64, "requests were not accepted while others waited: {times:?}");
}

#[test]
fn exits_when_stdin_closes() {
    let mut server = Server::start();
    drop(server.stdin.take());
    for _ in 0..100 {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server kept running after stdin closed");
}
