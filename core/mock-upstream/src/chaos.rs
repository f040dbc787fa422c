//! Chaos mode: `/chaos/{seed}/<rest>` answers an OpenAI-shaped call (whole or streamed, as its
//! body's `stream` asks) with a fault chosen at random: a good answer, a stall before or during
//! the body, a body or stream cut short, a connection dropped before any byte of the body,
//! malformed JSON or events, or 429/5xx with and without `Retry-After`. Nothing is journaled, so
//! load and soak tests can send any number of calls. `GET /__mock/chaos` counts the faults
//! served so far, by name.
//!
//! The choice for the n-th chaos request is a hash of the seed and n, so one seed gives one
//! sequence of faults (which request gets which depends on arrival order under concurrency).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// How long a stall lasts: longer than any client deadline the tests use, short enough that
/// stalled tasks do not pile up in the server.
const STALL: Duration = Duration::from_secs(10);

/// Each fault with its weight (out of the sum of weights).
const FAULTS: [(&str, u64); 13] = [
    ("ok", 40),
    ("slow_ok", 4),
    ("stall_before_headers", 5),
    ("stall_in_body", 5),
    ("truncated", 7),
    ("reset", 6),
    ("malformed", 8),
    ("rate_limited_retry_after", 5),
    ("rate_limited", 4),
    ("unavailable_retry_after", 4),
    ("server_error", 5),
    ("bad_gateway_html", 4),
    ("overloaded", 3),
];

static SERVED: [AtomicU64; FAULTS.len()] = [const { AtomicU64::new(0) }; FAULTS.len()];
static NEXT: AtomicU64 = AtomicU64::new(0);

/// splitmix64: a well-mixed 64-bit hash of its input.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The fault for draw `draw` (a uniform 64-bit number).
fn pick(draw: u64) -> usize {
    let total: u64 = FAULTS.iter().map(|(_, w)| w).sum();
    let mut at = draw % total;
    for (index, (_, weight)) in FAULTS.iter().enumerate() {
        if at < *weight {
            return index;
        }
        at -= weight;
    }
    unreachable!("the draw is below the total weight")
}

/// `GET /__mock/chaos`: how many times each fault was served.
pub(crate) async fn served() -> Json<Value> {
    let counts: Map<String, Value> = FAULTS
        .iter()
        .zip(&SERVED)
        .map(|((name, _), n)| ((*name).to_owned(), n.load(Ordering::Relaxed).into()))
        .collect();
    Json(Value::Object(counts))
}

/// Any request under `/chaos/{seed}/`.
pub(crate) async fn serve(Path((seed, _rest)): Path<(String, String)>, request: Request) -> Response {
    let Ok(seed) = seed.parse::<u64>() else {
        return (StatusCode::NOT_FOUND, Json(json!({"mock_error": "the chaos seed must be a whole number"})))
            .into_response();
    };
    let streaming = match axum::body::to_bytes(request.into_body(), crate::MAX_BODY_BYTES).await {
        Ok(body) => serde_json::from_slice::<Value>(&body).is_ok_and(|v| v["stream"] == true),
        Err(_) => false,
    };
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let draw = mix(seed ^ mix(n));
    let fault = pick(draw);
    SERVED[fault].fetch_add(1, Ordering::Relaxed);
    let detail = mix(draw);
    answer(FAULTS[fault].0, streaming, detail).await
}

fn completion() -> Value {
    json!({"id": "chatcmpl-chaos", "object": "chat.completion", "created": 1, "model": "gpt-chaos",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "chaos ok"}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
}

fn chunk(delta: Value, finish: Value) -> String {
    let chunk = json!({"id": "chatcmpl-chaos", "object": "chat.completion.chunk", "created": 1, "model": "gpt-chaos",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {chunk}\n\n")
}

/// A whole stream, event by event.
fn stream_events() -> Vec<String> {
    vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "chaos "}), Value::Null),
        chunk(json!({"content": "ok"}), Value::Null),
        chunk(json!({}), json!("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
}

/// What a good answer's body is sent as: the whole JSON, or the events.
fn good_pieces(streaming: bool) -> Vec<Bytes> {
    if streaming {
        stream_events().into_iter().map(Bytes::from).collect()
    } else {
        vec![Bytes::from(completion().to_string())]
    }
}

enum Piece {
    Send(Bytes, Duration),
    Stall,
    Fail,
}

fn body_of(pieces: Vec<Piece>) -> Body {
    let stream = futures_util::stream::unfold(pieces.into_iter(), |mut pieces| async move {
        let item = match pieces.next()? {
            Piece::Send(bytes, delay) => {
                tokio::time::sleep(delay).await;
                Ok(bytes)
            }
            Piece::Stall => {
                tokio::time::sleep(STALL).await;
                Err(io::Error::new(io::ErrorKind::TimedOut, "chaos stall"))
            }
            Piece::Fail => {
                // Let hyper flush what was written before the connection drops.
                tokio::task::yield_now().await;
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "chaos reset"))
            }
        };
        Some((item, pieces))
    });
    Body::from_stream(stream)
}

fn response(status: StatusCode, content_type: &str, body: Body, headers: &[(&'static str, &str)]) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let map = response.headers_mut();
    map.insert("content-type", HeaderValue::from_str(content_type).expect("a valid content type"));
    for (name, value) in headers {
        map.insert(*name, HeaderValue::from_str(value).expect("a valid header value"));
    }
    response
}

fn error_json(kind: &str, message: &str) -> Body {
    Body::from(json!({"error": {"message": message, "type": kind, "param": null, "code": null}}).to_string())
}

async fn answer(fault: &str, streaming: bool, detail: u64) -> Response {
    let content_type = if streaming { "text/event-stream" } else { "application/json" };
    let good = good_pieces(streaming);
    // Which piece a fault strikes at, and small delays, vary with `detail`.
    let at = (detail % good.len() as u64) as usize;
    let pause = Duration::from_millis(detail % 7);
    match fault {
        "ok" => response(
            StatusCode::OK,
            content_type,
            body_of(good.into_iter().map(|b| Piece::Send(b, Duration::ZERO)).collect()),
            &[],
        ),
        "slow_ok" => response(
            StatusCode::OK,
            content_type,
            body_of(good.into_iter().map(|b| Piece::Send(b, pause)).collect()),
            &[],
        ),
        "stall_before_headers" => {
            tokio::time::sleep(STALL).await;
            response(StatusCode::OK, content_type, Body::from(completion().to_string()), &[])
        }
        "stall_in_body" => {
            let mut pieces: Vec<Piece> = cut(good, at).into_iter().map(|b| Piece::Send(b, Duration::ZERO)).collect();
            pieces.push(Piece::Stall);
            response(StatusCode::OK, content_type, body_of(pieces), &[])
        }
        "truncated" => {
            let mut pieces: Vec<Piece> = cut(good, at).into_iter().map(|b| Piece::Send(b, Duration::ZERO)).collect();
            pieces.push(Piece::Fail);
            response(StatusCode::OK, content_type, body_of(pieces), &[])
        }
        "reset" => response(StatusCode::OK, content_type, body_of(vec![Piece::Fail]), &[]),
        "malformed" => {
            let body = if streaming {
                format!("{}data: {{\"choices\": [{{\"delta\": \n\n", stream_events()[0])
            } else {
                r#"{"id": "chatcmpl-chaos", "choices": [{"message": {"content": "unfinished"#.to_owned()
            };
            response(StatusCode::OK, content_type, Body::from(body), &[])
        }
        "rate_limited_retry_after" => {
            let (name, value) = if detail % 2 == 0 { ("retry-after", "0") } else { ("retry-after-ms", "20") };
            response(
                StatusCode::TOO_MANY_REQUESTS,
                "application/json",
                error_json("rate_limit_exceeded", "Rate limit reached"),
                &[(name, value)],
            )
        }
        "rate_limited" => response(
            StatusCode::TOO_MANY_REQUESTS,
            "application/json",
            error_json("rate_limit_exceeded", "Rate limit reached"),
            &[],
        ),
        "unavailable_retry_after" => response(
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            error_json("server_error", "The server is overloaded"),
            &[("retry-after", "0")],
        ),
        "server_error" => response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            error_json("server_error", "Internal error"),
            &[],
        ),
        "bad_gateway_html" => {
            response(StatusCode::BAD_GATEWAY, "text/html", Body::from("<html><body>502 Bad Gateway</body></html>"), &[])
        }
        "overloaded" => response(
            StatusCode::from_u16(529).expect("529 is a valid status"),
            "application/json",
            Body::from("{\"error\": {\"message\": \"Overloaded\""),
            &[],
        ),
        other => unreachable!("no chaos fault {other}"),
    }
}

/// The first `at` pieces, then half of the next one (at least one byte is cut off).
fn cut(mut pieces: Vec<Bytes>, at: usize) -> Vec<Bytes> {
    let rest = pieces.split_off(at.min(pieces.len()));
    if let Some(next) = rest.first() {
        pieces.push(next.slice(..next.len() / 2));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_is_drawn_with_its_weight() {
        let mut seen = [0u64; FAULTS.len()];
        for n in 0..100_000u64 {
            seen[pick(mix(42 ^ mix(n)))] += 1;
        }
        let total: u64 = FAULTS.iter().map(|(_, w)| w).sum();
        for ((name, weight), count) in FAULTS.iter().zip(seen) {
            let expected = 100_000 * weight / total;
            assert!(count.abs_diff(expected) < expected / 5 + 50, "{name}: {count} draws, expected about {expected}");
        }
    }

    #[test]
    fn a_cut_answer_loses_at_least_a_byte() {
        let good = good_pieces(true);
        let whole: usize = good.iter().map(Bytes::len).sum();
        for at in 0..good.len() {
            let cut: usize = cut(good.clone(), at).iter().map(Bytes::len).sum();
            assert!(cut < whole, "cut at {at}");
        }
        assert!(cut(good_pieces(false), 0)[0].len() < completion().to_string().len());
    }
}
