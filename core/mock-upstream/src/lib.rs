//! A scriptable stand-in for LLM provider APIs, for liter-llm's conformance suite.
//!
//! Tests run concurrently against one server, each in its own session: a request to
//! `/s/{session}/<rest>` is an upstream call for that session, recorded with the path `/<rest>`
//! and answered with the session's next scripted response. The control API under `/__mock/`
//! sets scripts and reads back what was received. The wire format is described in
//! `conformance/RUNNER_CONTRACT.md`. Under `/chaos/{seed}/` it answers with random faults
//! instead (see `chaos`), for load tests.

mod chaos;
mod script;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, put};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

pub use script::{Chunk, ScriptedBody, ScriptedResponse, SessionScript};

/// Request bodies up to this size are accepted, both upstream calls and scripts.
pub const MAX_BODY_BYTES: usize = 128 * 1024 * 1024;

/// The server's state: every session, keyed by id.
pub struct MockUpstream {
    sessions: Mutex<HashMap<String, Session>>,
    started: Instant,
    /// Numbers every recorded request, so the end of its answer finds it again.
    next_serial: AtomicU64,
}

struct Session {
    script: SessionScript,
    /// How many upstream requests this session has answered.
    served: usize,
    journal: Vec<RecordedRequest>,
}

/// One upstream request as `GET /__mock/sessions/{id}/requests` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lowercase names; repeated headers are joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body as UTF-8, with invalid sequences replaced.
    pub body: String,
    /// The body parsed as JSON, or `null` when it is not JSON.
    pub json: Value,
    /// Milliseconds since the server started, from a monotonic clock.
    pub received_at_ms: f64,
    /// How the answer ended, or `pending` while it is still being sent.
    pub outcome: Outcome,
    /// When the answer ended (same clock as `received_at_ms`); `None` while pending.
    pub ended_at_ms: Option<f64>,
    #[serde(skip)]
    serial: u64,
}

/// How the answer to a recorded request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still being sent (or waiting out its `delay_ms`).
    Pending,
    /// The whole answer was handed to the connection.
    Completed,
    /// The client closed the connection before the answer was complete (a cancelled call, a
    /// client-side timeout, an abandoned stream).
    ClientClosed,
    /// The script broke the connection on purpose (`disconnect_after_chunks`).
    Disconnected,
}

impl Outcome {
    fn from_code(code: u8) -> Outcome {
        match code {
            1 => Outcome::Completed,
            2 => Outcome::Disconnected,
            _ => Outcome::ClientClosed,
        }
    }

    fn code(self) -> u8 {
        match self {
            Outcome::Completed => 1,
            Outcome::Disconnected => 2,
            Outcome::Pending | Outcome::ClientClosed => 0,
        }
    }
}

/// Owned by the answer to one request (its handler, then its body stream). When it is dropped,
/// the answer is over: the journal entry gets the outcome marked so far, `client_closed` when
/// nothing was marked, since then the client went away first and hyper dropped the answer.
pub(crate) struct ResponseEnd {
    state: Arc<MockUpstream>,
    session: String,
    serial: u64,
    outcome: AtomicU8,
}

impl ResponseEnd {
    pub(crate) fn mark(&self, outcome: Outcome) {
        self.outcome.store(outcome.code(), Ordering::Relaxed);
    }
}

impl Drop for ResponseEnd {
    fn drop(&mut self) {
        let ended_at_ms = self.state.elapsed_ms();
        let outcome = Outcome::from_code(self.outcome.load(Ordering::Relaxed));
        let mut sessions = self.state.sessions();
        let Some(session) = sessions.get_mut(&self.session) else {
            return; // deleted or replaced since; nobody will read the entry
        };
        if let Some(recorded) = session.journal.iter_mut().rev().find(|r| r.serial == self.serial) {
            recorded.outcome = outcome;
            recorded.ended_at_ms = Some(ended_at_ms);
        }
    }
}

impl Session {
    fn new(script: SessionScript) -> Self {
        Session { script, served: 0, journal: Vec::new() }
    }

    fn next_response(&mut self) -> Option<ScriptedResponse> {
        let responses = &self.script.responses;
        let next = match responses.get(self.served) {
            Some(response) => Some(response),
            None if self.script.repeat_last => responses.last(),
            None => None,
        };
        self.served += 1;
        next.cloned()
    }
}

impl MockUpstream {
    pub fn new() -> Self {
        MockUpstream { sessions: Mutex::new(HashMap::new()), started: Instant::now(), next_serial: AtomicU64::new(0) }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        // No code panics while holding the lock, and a half-updated session is still usable.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }
}

impl Default for MockUpstream {
    fn default() -> Self {
        Self::new()
    }
}

/// The whole HTTP application, with fresh state.
pub fn router() -> Router {
    Router::new()
        .route("/__mock/health", get(health))
        .route("/__mock/sessions/{id}", put(put_session).delete(delete_session))
        .route("/__mock/sessions/{id}/requests", get(get_requests))
        .route("/__mock/chaos", get(chaos::served))
        .route("/chaos/{seed}/{*rest}", any(chaos::serve))
        .fallback(upstream)
        .with_state(Arc::new(MockUpstream::new()))
}

fn mock_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "mock_error": message.into() }))).into_response()
}

fn unknown_session() -> Response {
    mock_error(StatusCode::NOT_FOUND, "unknown session")
}

async fn health() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// Session ids appear in URLs, so they are kept to characters that need no escaping.
fn valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

async fn put_session(State(state): State<Arc<MockUpstream>>, Path(id): Path<String>, request: Request) -> Response {
    if !valid_session_id(&id) {
        return mock_error(
            StatusCode::BAD_REQUEST,
            format!("invalid session id {id:?}: use 1-128 characters from A-Z a-z 0-9 - _ ."),
        );
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(error) => return mock_error(StatusCode::BAD_REQUEST, format!("could not read the script: {error}")),
    };
    let script: SessionScript = match serde_json::from_slice(&body) {
        Ok(script) => script,
        Err(error) => return mock_error(StatusCode::BAD_REQUEST, format!("invalid session script: {error}")),
    };
    state.sessions().insert(id, Session::new(script));
    StatusCode::NO_CONTENT.into_response()
}

async fn delete_session(State(state): State<Arc<MockUpstream>>, Path(id): Path<String>) -> Response {
    match state.sessions().remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => unknown_session(),
    }
}

async fn get_requests(State(state): State<Arc<MockUpstream>>, Path(id): Path<String>) -> Response {
    match state.sessions().get(&id) {
        Some(session) => Json(json!({ "requests": session.journal })).into_response(),
        None => unknown_session(),
    }
}

/// Splits `/s/{session}/<rest>` into the session id and `/<rest>` (`/` when there is no rest).
fn split_session_path(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/s/")?;
    let (session, rest) = match after.find('/') {
        Some(slash) => after.split_at(slash),
        None => (after, "/"),
    };
    if session.is_empty() {
        return None;
    }
    Some((session, rest))
}

fn header_map_to_object(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut object: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        object
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    object
}

/// Any request outside the control API: an upstream call when it is under `/s/{session}/`.
async fn upstream(State(state): State<Arc<MockUpstream>>, request: Request) -> Response {
    let received_at_ms = state.elapsed_ms();
    let (parts, body) = request.into_parts();
    let Some((session_id, rest)) = split_session_path(parts.uri.path()) else {
        return mock_error(StatusCode::NOT_FOUND, format!("no such route: {} {}", parts.method, parts.uri.path()));
    };
    let (body, oversized) = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => (body, false),
        // Still journaled (with an empty body), so the test sees the call happened.
        Err(_) => (Bytes::new(), true),
    };
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: rest.to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: header_map_to_object(&parts.headers),
        body: String::from_utf8_lossy(&body).into_owned(),
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        received_at_ms,
        outcome: Outcome::Pending,
        ended_at_ms: None,
        serial: state.next_serial.fetch_add(1, Ordering::Relaxed),
    };
    let end = Arc::new(ResponseEnd {
        state: Arc::clone(&state),
        session: session_id.to_owned(),
        serial: recorded.serial,
        outcome: AtomicU8::new(Outcome::ClientClosed.code()),
    });

    let next = {
        let mut sessions = state.sessions();
        let Some(session) = sessions.get_mut(session_id) else {
            return unknown_session();
        };
        session.journal.push(recorded);
        session.next_response()
    };

    if oversized || next.is_none() {
        end.mark(Outcome::Completed);
    }
    if oversized {
        return mock_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds the mock's limit of {MAX_BODY_BYTES} bytes"),
        );
    }
    let Some(response) = next else {
        return mock_error(StatusCode::from_u16(599).expect("599 is a valid status"), "script exhausted");
    };
    // tokio rounds a sleep up to its timer's next millisecond tick, even a zero one: a response
    // scripted with no delay is answered at once.
    if !response.delay.is_zero() {
        tokio::time::sleep(response.delay).await;
    }
    response.into_response(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Method;
    use tower::ServiceExt as _;

    async fn call(app: &Router, method: Method, uri: &str, body: impl Into<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let request =
            axum::http::Request::builder().method(method).uri(uri).header("X-Test", "one").body(body.into()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, body)
    }

    fn json_of(bytes: &Bytes) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn splits_session_paths() {
        assert_eq!(split_session_path("/s/abc/v1/messages"), Some(("abc", "/v1/messages")));
        assert_eq!(split_session_path("/s/abc"), Some(("abc", "/")));
        assert_eq!(split_session_path("/s/abc/"), Some(("abc", "/")));
        assert_eq!(split_session_path("/s//v1"), None);
        assert_eq!(split_session_path("/s/"), None);
        assert_eq!(split_session_path("/v1/messages"), None);
    }

    #[test]
    fn validates_session_ids() {
        assert!(valid_session_id("case-1_a.b"));
        assert!(!valid_session_id(""));
        assert!(!valid_session_id("a b"));
        assert!(!valid_session_id(&"x".repeat(129)));
    }

    #[tokio::test]
    async fn health_answers_ok() {
        let (status, _, body) = call(&router(), Method::GET, "/__mock/health", Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_of(&body), json!({"ok": true}));
    }

    #[tokio::test]
    async fn serves_script_in_order_then_reports_exhaustion() {
        let app = router();
        let script = json!({"responses": [
            {"json": {"n": 1}},
            {"status": 429, "headers": {"retry-after": "2"}, "body": "slow down"}
        ]});
        let (status, _, _) = call(&app, Method::PUT, "/__mock/sessions/s1", script.to_string()).await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        let (status, headers, body) = call(&app, Method::POST, "/s/s1/v1/chat?x=1", r#"{"q": true}"#).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(json_of(&body), json!({"n": 1}));

        let (status, headers, body) = call(&app, Method::POST, "/s/s1/v1/chat", "not json").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["retry-after"], "2");
        assert_eq!(body, "slow down");

        let (status, _, body) = call(&app, Method::GET, "/s/s1/v1/models", Body::empty()).await;
        assert_eq!(status.as_u16(), 599);
        assert_eq!(json_of(&body), json!({"mock_error": "script exhausted"}));

        let (status, _, body) = call(&app, Method::GET, "/__mock/sessions/s1/requests", Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        let requests = json_of(&body)["requests"].as_array().unwrap().clone();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0]["method"], "POST");
        assert_eq!(requests[0]["path"], "/v1/chat");
        assert_eq!(requests[0]["query"], "x=1");
        assert_eq!(requests[0]["headers"]["x-test"], "one");
        assert_eq!(requests[0]["body"], r#"{"q": true}"#);
        assert_eq!(requests[0]["json"], json!({"q": true}));
        assert_eq!(requests[1]["query"], Value::Null);
        assert_eq!(requests[1]["json"], Value::Null);
        assert_eq!(requests[1]["body"], "not json");
        assert_eq!(requests[2]["path"], "/v1/models");
        let times: Vec<f64> = requests.iter().map(|r| r["received_at_ms"].as_f64().unwrap()).collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "{times:?}");
        for request in &requests {
            assert_eq!(request["outcome"], "completed");
            assert!(request["ended_at_ms"].as_f64().unwrap() >= request["received_at_ms"].as_f64().unwrap());
        }
    }

    /// One HTTP/1.1 exchange on a fresh connection; reads until `until` appears in what came
    /// back (then drops the connection) or until the server closes it.
    async fn exchange(addr: std::net::SocketAddr, request: String, until: Option<&str>) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
            if until.is_some_and(|marker| String::from_utf8_lossy(&received).contains(marker)) {
                break;
            }
        }
        String::from_utf8_lossy(&received).into_owned()
    }

    fn http(method: &str, path: &str, body: &str) -> String {
        format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn the_journal_records_how_each_answer_ended() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router()).await.unwrap() });
        let script = json!({"responses": [
            {"chunks": [{"data": "first-chunk"}, {"data": "never", "delay_ms": 30000}]},
            {"chunks": [{"data": "one"}, {"data": "two"}], "disconnect_after_chunks": 1},
            {"delay_ms": 30000, "json": {}},
            {"chunks": [{"data": "a"}, {"data": "b", "delay_ms": 5}]}
        ]});
        let answer = exchange(addr, http("PUT", "/__mock/sessions/ends", &script.to_string()), None).await;
        assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");

        // The client reads the first chunk and goes away while the next one is 30 s off.
        exchange(addr, http("POST", "/s/ends/a", "{}"), Some("first-chunk")).await;
        // The server breaks the connection after one chunk.
        let broken = exchange(addr, http("POST", "/s/ends/b", "{}"), None).await;
        assert!(broken.contains("one") && !broken.contains("two"), "{broken}");
        // The client gives up during the 30 s delay, before any byte of the answer.
        let slow = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            exchange(addr, http("POST", "/s/ends/c", "{}"), None),
        );
        assert!(slow.await.is_err());
        let whole = exchange(addr, http("POST", "/s/ends/d", "{}"), None).await;
        assert!(whole.contains("HTTP/1.1 200"), "{whole}");

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let requests = loop {
            let answer = exchange(addr, http("GET", "/__mock/sessions/ends/requests", ""), None).await;
            let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
            let requests = serde_json::from_str::<Value>(body).unwrap()["requests"].as_array().unwrap().clone();
            if requests.iter().all(|r| r["outcome"] != "pending") || std::time::Instant::now() > deadline {
                break requests;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let outcomes: Vec<&str> = requests.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["client_closed", "disconnected", "client_closed", "completed"]);
        for request in &requests {
            let open = request["ended_at_ms"].as_f64().unwrap() - request["received_at_ms"].as_f64().unwrap();
            assert!((0.0..5000.0).contains(&open), "{request}");
        }
    }

    #[tokio::test]
    async fn repeat_last_and_replacing_a_script_clears_the_journal() {
        let app = router();
        let script = json!({"responses": [{"json": 1}, {"json": 2}], "repeat_last": true});
        call(&app, Method::PUT, "/__mock/sessions/r", script.to_string()).await;
        for expected in [1, 2, 2, 2] {
            let (_, _, body) = call(&app, Method::POST, "/s/r/x", Body::empty()).await;
            assert_eq!(json_of(&body), json!(expected));
        }
        call(&app, Method::PUT, "/__mock/sessions/r", json!({"responses": [{"json": 3}]}).to_string()).await;
        let (_, _, body) = call(&app, Method::GET, "/__mock/sessions/r/requests", Body::empty()).await;
        assert_eq!(json_of(&body), json!({"requests": []}));
        let (_, _, body) = call(&app, Method::POST, "/s/r/x", Body::empty()).await;
        assert_eq!(json_of(&body), json!(3));
    }

    #[tokio::test]
    async fn unknown_and_deleted_sessions_answer_404() {
        let app = router();
        let (status, _, body) = call(&app, Method::POST, "/s/nope/v1/messages", Body::empty()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(json_of(&body), json!({"mock_error": "unknown session"}));

        call(&app, Method::PUT, "/__mock/sessions/d", "{}").await;
        let (status, _, _) = call(&app, Method::DELETE, "/__mock/sessions/d", Body::empty()).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, _) = call(&app, Method::GET, "/__mock/sessions/d/requests", Body::empty()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = call(&app, Method::DELETE, "/__mock/sessions/d", Body::empty()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn rejects_bad_scripts_and_routes() {
        let app = router();
        let (status, _, body) = call(&app, Method::PUT, "/__mock/sessions/b", r#"{"responses": [{}]}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(json_of(&body)["mock_error"].as_str().unwrap().contains("exactly one of"));

        let (status, _, _) = call(&app, Method::PUT, "/__mock/sessions/b", r#"{"respones": []}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let (status, _, body) = call(&app, Method::GET, "/v1/messages", Body::empty()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(json_of(&body), json!({"mock_error": "no such route: GET /v1/messages"}));
    }

    #[tokio::test]
    async fn accepts_large_bodies() {
        let app = router();
        call(&app, Method::PUT, "/__mock/sessions/big", r#"{"responses": [{"json": {}}]}"#).await;
        let big = vec![b'a'; 64 * 1024 * 1024 + 1];
        let (status, _, _) = call(&app, Method::POST, "/s/big/v1", big).await;
        assert_eq!(status, StatusCode::OK);
    }
}
