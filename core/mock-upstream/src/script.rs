//! The scripted responses a session answers with, as given to `PUT /__mock/sessions/{id}`.
//!
//! Scripts are validated when they are set, so a malformed script is a 400 for the test that
//! wrote it instead of a confusing answer to the client under test later.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use futures_util::StreamExt as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::{Outcome, ResponseEnd};

/// The body of `PUT /__mock/sessions/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionScript {
    #[serde(default)]
    pub responses: Vec<ScriptedResponse>,
    /// Answer every request past the end of `responses` with the last one.
    #[serde(default)]
    pub repeat_last: bool,
}

/// One validated scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Waited before the status line is sent.
    pub delay: Duration,
    pub body: ScriptedBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScriptedBody {
    Json(Value),
    Raw(Bytes),
    /// Sent with chunked transfer encoding, one write per chunk (used for SSE).
    Chunks {
        chunks: Vec<Chunk>,
        /// Send this many chunks, then break the connection without finishing the body.
        disconnect_after: Option<usize>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub data: Bytes,
    /// Waited before this chunk is sent.
    pub delay: Duration,
}

/// A response as written in JSON, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseSpec {
    #[serde(default = "default_status")]
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    delay_ms: u64,
    /// `Some(Value::Null)` when the script says `"json": null`, `None` when it has no `json` key.
    #[serde(default, deserialize_with = "present")]
    json: Option<Value>,
    body: Option<String>,
    body_base64: Option<String>,
    chunks: Option<Vec<ChunkSpec>>,
    disconnect_after_chunks: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChunkSpec {
    /// The chunk's bytes as text, or
    data: Option<String>,
    /// as base64, for bytes that are not text on their own (half a UTF-8 character), or
    data_base64: Option<String>,
    /// as one AWS event-stream frame (Bedrock's ConverseStream framing).
    event_frame: Option<EventFrameSpec>,
    #[serde(default)]
    delay_ms: u64,
}

/// One AWS event-stream frame: its string headers (`:message-type`, `:event-type`,
/// `:exception-type`, ...) and its JSON payload, encoded with the CRCs by
/// `aws-smithy-eventstream`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFrameSpec {
    headers: BTreeMap<String, String>,
    json: Value,
}

impl EventFrameSpec {
    fn encode(self) -> Result<Bytes, String> {
        use aws_smithy_types::event_stream::{Header, HeaderValue as FrameValue, Message};
        let mut message = Message::new(self.json.to_string().into_bytes());
        for (name, value) in self.headers {
            message = message.add_header(Header::new(name, FrameValue::String(value.into())));
        }
        let mut out = Vec::new();
        aws_smithy_eventstream::frame::write_message_to(&message, &mut out)
            .map_err(|error| format!("an event_frame cannot be encoded: {error}"))?;
        Ok(Bytes::from(out))
    }
}

fn default_status() -> u16 {
    200
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl<'de> Deserialize<'de> for ScriptedResponse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spec = ResponseSpec::deserialize(deserializer)?;
        ScriptedResponse::try_from(spec).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<ResponseSpec> for ScriptedResponse {
    type Error = String;

    fn try_from(spec: ResponseSpec) -> Result<Self, String> {
        let status = StatusCode::from_u16(spec.status)
            .map_err(|_| format!("status {} is not an HTTP status code (100-999)", spec.status))?;

        let mut headers = HeaderMap::new();
        for (name, value) in &spec.headers {
            let header_name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a valid header name"))?;
            let header_value = HeaderValue::from_str(value)
                .map_err(|_| format!("the value of header {name:?} is not a valid header value"))?;
            headers.append(header_name, header_value);
        }

        let given = [
            ("json", spec.json.is_some()),
            ("body", spec.body.is_some()),
            ("body_base64", spec.body_base64.is_some()),
            ("chunks", spec.chunks.is_some()),
        ];
        let given: Vec<&str> = given.iter().filter(|(_, is_given)| *is_given).map(|(name, _)| *name).collect();
        if given.len() != 1 {
            return Err(format!(
                "a response needs exactly one of json, body, body_base64, chunks; got {}",
                if given.is_empty() { "none".to_owned() } else { given.join(", ") }
            ));
        }
        if spec.disconnect_after_chunks.is_some() && spec.chunks.is_none() {
            return Err("disconnect_after_chunks needs chunks".to_owned());
        }

        let body = if let Some(json) = spec.json {
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            ScriptedBody::Json(json)
        } else if let Some(text) = spec.body {
            ScriptedBody::Raw(Bytes::from(text))
        } else if let Some(encoded) = spec.body_base64 {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map_err(|error| format!("body_base64 is not valid base64: {error}"))?;
            ScriptedBody::Raw(Bytes::from(bytes))
        } else {
            let chunks: Vec<Chunk> = spec
                .chunks
                .unwrap_or_default()
                .into_iter()
                .map(|chunk| {
                    let data = match (chunk.data, chunk.data_base64, chunk.event_frame) {
                        (Some(text), None, None) => Bytes::from(text),
                        (None, None, Some(frame)) => frame.encode()?,
                        (None, Some(encoded), None) => Bytes::from(
                            base64::engine::general_purpose::STANDARD
                                .decode(encoded.as_bytes())
                                .map_err(|error| format!("a chunk's data_base64 is not valid base64: {error}"))?,
                        ),
                        _ => return Err("a chunk needs exactly one of data, data_base64, event_frame".to_owned()),
                    };
                    Ok(Chunk { data, delay: Duration::from_millis(chunk.delay_ms) })
                })
                .collect::<Result<_, String>>()?;
            if let Some(count) = spec.disconnect_after_chunks {
                if count > chunks.len() {
                    return Err(format!(
                        "disconnect_after_chunks is {count} but there are only {} chunks",
                        chunks.len()
                    ));
                }
            }
            ScriptedBody::Chunks { chunks, disconnect_after: spec.disconnect_after_chunks }
        };

        Ok(ScriptedResponse { status, headers, delay: Duration::from_millis(spec.delay_ms), body })
    }
}

impl ScriptedResponse {
    /// Builds the HTTP response. `delay` is the caller's to wait; chunk delays happen while the
    /// body streams, so a slow stream never holds up other requests.
    /// `end` records how the answer ended once it is dropped: here for a whole body, or when
    /// the body stream ends or is dropped for chunks.
    pub(crate) fn into_response(self, end: Arc<ResponseEnd>) -> Response {
        let body = match self.body {
            ScriptedBody::Json(value) => {
                end.mark(Outcome::Completed);
                Body::from(value.to_string())
            }
            ScriptedBody::Raw(bytes) => {
                end.mark(Outcome::Completed);
                Body::from(bytes)
            }
            ScriptedBody::Chunks { chunks, disconnect_after } => chunked_body(chunks, disconnect_after, end),
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

enum Step {
    Send(Chunk),
    Disconnect,
}

fn chunked_body(chunks: Vec<Chunk>, disconnect_after: Option<usize>, end: Arc<ResponseEnd>) -> Body {
    let mut steps: Vec<Step> =
        chunks.into_iter().take(disconnect_after.unwrap_or(usize::MAX)).map(Step::Send).collect();
    if disconnect_after.is_some() {
        steps.push(Step::Disconnect);
    } else if steps.is_empty() {
        end.mark(Outcome::Completed);
    }
    let last = steps.len().saturating_sub(1);
    // A body stream that fails makes hyper drop the connection before the terminating chunk,
    // which is what a client sees when an upstream dies mid-stream. The stream owns `end`, so
    // a client that goes away mid-stream (hyper drops the body) is recorded as `client_closed`.
    let stream = futures_util::stream::iter(steps.into_iter().enumerate()).then(move |(index, step)| {
        let end = Arc::clone(&end);
        async move {
            match step {
                Step::Send(chunk) => {
                    tokio::time::sleep(chunk.delay).await;
                    if index == last {
                        end.mark(Outcome::Completed);
                    }
                    Ok(chunk.data)
                }
                Step::Disconnect => {
                    end.mark(Outcome::Disconnected);
                    // Yield once so hyper flushes the chunks already written before it drops the
                    // connection; otherwise they could die in its write buffer.
                    tokio::task::yield_now().await;
                    Err(io::Error::new(io::ErrorKind::ConnectionAborted, "scripted disconnect"))
                }
            }
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<ScriptedResponse, String> {
        serde_json::from_value(value).map_err(|error| error.to_string())
    }

    #[test]
    fn json_response_defaults_to_200_and_application_json() {
        let response = parse(json!({"json": {"a": 1}})).unwrap();
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.headers[CONTENT_TYPE], "application/json");
        assert_eq!(response.delay, Duration::ZERO);
        assert_eq!(response.body, ScriptedBody::Json(json!({"a": 1})));
    }

    #[test]
    fn explicit_content_type_wins_over_the_json_default() {
        let response = parse(json!({"json": "x", "headers": {"Content-Type": "text/plain"}})).unwrap();
        assert_eq!(response.headers.get_all(CONTENT_TYPE).iter().count(), 1);
        assert_eq!(response.headers[CONTENT_TYPE], "text/plain");
    }

    #[test]
    fn json_null_is_a_body() {
        let response = parse(json!({"json": null})).unwrap();
        assert_eq!(response.body, ScriptedBody::Json(Value::Null));
    }

    #[test]
    fn raw_bodies() {
        let text = parse(json!({"status": 502, "body": "<html>bad gateway</html>"})).unwrap();
        assert_eq!(text.status, StatusCode::BAD_GATEWAY);
        assert_eq!(text.body, ScriptedBody::Raw(Bytes::from_static(b"<html>bad gateway</html>")));
        assert!(text.headers.get(CONTENT_TYPE).is_none());

        let bytes = parse(json!({"body_base64": "/wA="})).unwrap();
        assert_eq!(bytes.body, ScriptedBody::Raw(Bytes::from_static(&[0xff, 0x00])));
    }

    #[test]
    fn event_frames_are_aws_event_stream_messages() {
        let response = parse(json!({"chunks": [{"event_frame": {
            "headers": {":message-type": "event", ":event-type": "contentBlockDelta"},
            "json": {"contentBlockIndex": 0, "delta": {"text": "Hi"}}
        }}]}))
        .unwrap();
        let ScriptedBody::Chunks { chunks, .. } = response.body else { panic!("not chunks") };
        let message = aws_smithy_eventstream::frame::read_message_from(&chunks[0].data[..]).unwrap();
        let header = |name: &str| {
            message
                .headers()
                .iter()
                .find(|h| h.name().as_str() == name)
                .map(|h| h.value().as_string().unwrap().as_str().to_owned())
        };
        assert_eq!(header(":event-type").as_deref(), Some("contentBlockDelta"));
        assert_eq!(header(":message-type").as_deref(), Some("event"));
        let payload: Value = serde_json::from_slice(message.payload()).unwrap();
        assert_eq!(payload, json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}));
        assert!(parse(json!({"chunks": [{"data": "a", "event_frame": {"headers": {}, "json": 1}}]})).is_err());
    }

    #[test]
    fn chunks_with_disconnect() {
        let response = parse(json!({
            "chunks": [{"data": "a"}, {"data": "b", "delay_ms": 5}],
            "disconnect_after_chunks": 1
        }))
        .unwrap();
        let ScriptedBody::Chunks { chunks, disconnect_after } = response.body else { panic!("not chunks") };
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].delay, Duration::from_millis(5));
        assert_eq!(disconnect_after, Some(1));
    }

    #[test]
    fn rejects_malformed_responses() {
        let cases = [
            (json!({}), "exactly one of json, body, body_base64, chunks; got none"),
            (json!({"json": 1, "body": "x"}), "got json, body"),
            (json!({"body": "x", "disconnect_after_chunks": 1}), "disconnect_after_chunks needs chunks"),
            (json!({"chunks": [{"data": "a"}], "disconnect_after_chunks": 2}), "only 1 chunks"),
            (json!({"status": 42, "body": ""}), "not an HTTP status code"),
            (json!({"body": "", "headers": {"bad name": "x"}}), "not a valid header name"),
            (json!({"body": "", "headers": {"x": "line\nbreak"}}), "not a valid header value"),
            (json!({"body_base64": "***"}), "not valid base64"),
            (json!({"body": "", "delay": 5}), "unknown field `delay`"),
        ];
        for (spec, expected) in cases {
            let error = parse(spec.clone()).unwrap_err();
            assert!(error.contains(expected), "{spec}: {error}");
        }
    }
}
