//! ConverseStream's answer: AWS event-stream frames (`application/vnd.amazon.eventstream`), each
//! a prelude (total length, headers length, prelude CRC), headers, a JSON payload and a message
//! CRC. `aws-smithy-eventstream` reads one frame and checks both CRCs; this module finds the
//! frames in the bytes as they arrive (sans-I/O, a bounded buffer) and turns the events into
//! OpenAI chunks.
//!
//! Events (`:message-type` = `event`, named by `:event-type`): `messageStart`,
//! `contentBlockStart` (a `toolUse` start: id and name), `contentBlockDelta` (text, `toolUse`
//! input fragments, `reasoningContent`), `contentBlockStop`, `messageStop` (`stopReason`) and
//! `metadata` (`usage`), which ends the stream. A frame with `:message-type` = `exception` (or
//! `error`) is the provider's error, typed by `:exception-type` (or `:error-code`).

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{HeaderValue, Message};
use serde_json::{json, Value};

use super::{error_kind, finish_reason, ConverseUsage, NAME};
use crate::chunk::{self, ChunkWriter};
use crate::error::{Error, ProviderError, Result};
use crate::provider::{bad_response, reported_error, stream_ended_early};

/// The largest frame accepted (the service's frames are far smaller; this bounds the buffer).
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// A frame is at least its prelude and message CRC.
const MIN_FRAME_BYTES: usize = 16;

/// Splits bytes into frames; holds at most one incomplete frame.
#[derive(Debug, Default)]
pub struct FrameReader {
    buffer: Vec<u8>,
}

impl FrameReader {
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Appends `bytes` and pushes every frame now complete onto `out`, in order; a frame that
    /// declares a length out of bounds, or fails its CRC or header checks, is a `bad_response`
    /// (the frames before it are in `out`).
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Message>) -> Result<()> {
        self.buffer.extend_from_slice(bytes);
        let mut start = 0;
        let result = loop {
            let rest = &self.buffer[start..];
            let Some(prefix) = rest.get(..4) else { break Ok(()) };
            let total = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
            if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&total) {
                break Err(bad_response(
                    NAME,
                    format_args!(
                        "an event-stream frame declares {total} bytes (allowed {MIN_FRAME_BYTES} to {MAX_FRAME_BYTES})"
                    ),
                ));
            }
            if rest.len() < total {
                break Ok(());
            }
            match read_message_from(&rest[..total]) {
                Ok(m) => out.push(m),
                Err(e) => break Err(bad_response(NAME, format_args!("an event-stream frame is malformed: {e}"))),
            }
            start += total;
        };
        if result.is_err() {
            self.buffer.clear();
        } else {
            self.buffer.drain(..start);
        }
        result
    }

    /// Whether bytes of an incomplete frame are held.
    pub fn is_mid_frame(&self) -> bool {
        !self.buffer.is_empty()
    }
}

/// A string header of a frame.
fn header<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
    message.headers().iter().find(|h| h.name().as_str() == name).and_then(|h| match h.value() {
        HeaderValue::String(s) => Some(s.as_str()),
        _ => None,
    })
}

/// The HTTP status AWS gives each ConverseStream exception, for the error's kind.
fn exception_status(exception: &str) -> u16 {
    match exception {
        "throttlingException" | "ThrottlingException" => 429,
        "validationException" | "ValidationException" => 400,
        "serviceUnavailableException" | "ServiceUnavailableException" => 503,
        "modelStreamErrorException" | "ModelStreamErrorException" => 424,
        _ => 500,
    }
}

/// Decodes one ConverseStream answer into OpenAI chunks.
pub struct ConverseStreamDecoder {
    frames: FrameReader,
    out: ChunkWriter,
    /// OpenAI tool-call index of each open Converse content block that is a tool call.
    tool_index: Vec<(u64, usize)>,
    calls: usize,
    started: bool,
    finish: Option<&'static str>,
    total_tokens: Option<u64>,
    done: bool,
}

impl ConverseStreamDecoder {
    pub fn new(model: &str) -> ConverseStreamDecoder {
        ConverseStreamDecoder {
            frames: FrameReader::new(),
            out: ChunkWriter::new(NAME, model),
            tool_index: Vec::new(),
            calls: 0,
            started: false,
            finish: None,
            total_tokens: None,
            done: false,
        }
    }

    /// Bytes in, chunks pushed onto `chunks`; `true` once the `metadata` event (after
    /// `messageStop`) was read. On an error, the chunks of the events before it are in `chunks`,
    /// so the caller delivers them before the error (as for server-sent events).
    pub fn feed(&mut self, bytes: &[u8], chunks: &mut Vec<Vec<u8>>) -> Result<bool> {
        if self.done {
            return Ok(true);
        }
        let mut messages = Vec::new();
        let framed = self.frames.feed(bytes, &mut messages);
        for message in &messages {
            self.on_message(message, chunks)?;
            if self.done {
                return Ok(true);
            }
        }
        framed.map(|()| false)
    }

    /// The error for a stream that ended (EOF) before its `metadata` event.
    pub fn ended_early(&self) -> Error {
        if self.frames.is_mid_frame() {
            return stream_ended_early(NAME, "the last event-stream frame is truncated");
        }
        stream_ended_early(NAME, "no metadata event was received")
    }

    /// The stream's total tokens, once `metadata` reported them.
    pub fn reported_tokens(&self) -> Option<u64> {
        self.total_tokens
    }

    fn payload(message: &Message) -> Result<Value> {
        let payload = message.payload();
        if payload.is_empty() {
            return Ok(json!({}));
        }
        let value: Value = serde_json::from_slice(payload)
            .map_err(|e| bad_response(NAME, format_args!("an event's payload is not JSON: {e}")))?;
        if !value.is_object() {
            return Err(bad_response(NAME, "an event's payload is not a JSON object"));
        }
        Ok(value)
    }

    fn start(&mut self, chunks: &mut Vec<Vec<u8>>) {
        if !self.started {
            self.started = true;
            chunks.push(self.out.delta(chunk::content(""), None));
        }
    }

    fn on_message(&mut self, message: &Message, chunks: &mut Vec<Vec<u8>>) -> Result<()> {
        let payload = Self::payload(message)?;
        match header(message, ":message-type") {
            Some("event") => {}
            Some(kind @ ("exception" | "error")) => {
                let error_type = if kind == "exception" {
                    header(message, ":exception-type")
                } else {
                    header(message, ":error-code")
                };
                let error_type = error_type.unwrap_or("an unnamed exception").to_owned();
                let text = payload
                    .get("message")
                    .or_else(|| payload.get("Message"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| header(message, ":error-message").map(str::to_owned));
                let capitalised = capitalise(&error_type);
                let kind = error_kind(exception_status(&error_type), Some(&capitalised));
                let pe = ProviderError { error_type: Some(capitalised), message: text, code: None };
                return Err(reported_error(NAME, kind, pe));
            }
            other => {
                return Err(bad_response(
                    NAME,
                    format_args!("an event-stream frame has the message type {:?}", other.unwrap_or("(none)")),
                ))
            }
        }
        let event = header(message, ":event-type").unwrap_or_default().to_owned();
        let index = payload.get("contentBlockIndex").and_then(Value::as_u64).unwrap_or(0);
        match event.as_str() {
            "messageStart" => self.start(chunks),
            "contentBlockStart" => {
                self.start(chunks);
                if let Some(tool) = payload.pointer("/start/toolUse") {
                    let (Some(id), Some(name)) =
                        (tool.get("toolUseId").and_then(Value::as_str), tool.get("name").and_then(Value::as_str))
                    else {
                        return Err(bad_response(NAME, "a toolUse start has no toolUseId or name"));
                    };
                    let at = self.calls;
                    self.calls += 1;
                    self.tool_index.push((index, at));
                    chunks.push(self.out.delta(chunk::tool_start(at, id, name), None));
                }
            }
            "contentBlockDelta" => {
                self.start(chunks);
                let delta = payload.get("delta").unwrap_or(&Value::Null);
                if let Some(t) = delta.get("text").and_then(Value::as_str) {
                    if !t.is_empty() {
                        chunks.push(self.out.delta(chunk::content(t), None));
                    }
                } else if let Some(input) = delta.pointer("/toolUse/input").and_then(Value::as_str) {
                    let Some((_, at)) = self.tool_index.iter().find(|(block, _)| *block == index) else {
                        return Err(bad_response(
                            NAME,
                            format_args!("tool input for block {index}, which no toolUse start opened"),
                        ));
                    };
                    chunks.push(self.out.delta(chunk::tool_arguments(*at, input), None));
                } else if let Some(t) = delta.pointer("/reasoningContent/text").and_then(Value::as_str) {
                    if !t.is_empty() {
                        chunks.push(self.out.delta(chunk::reasoning(t), None));
                    }
                }
                // A reasoning signature or redacted reasoning has no place in a chunk.
            }
            "contentBlockStop" => {}
            "messageStop" => {
                self.start(chunks);
                let reason = finish_reason(payload.get("stopReason").and_then(Value::as_str));
                let reason = if reason == "stop" && self.calls > 0 { "tool_calls" } else { reason };
                self.finish = Some(reason);
                chunks.push(self.out.delta(json!({}), Some(reason)));
            }
            "metadata" => {
                if self.finish.is_none() {
                    return Err(bad_response(NAME, "the metadata event came before messageStop"));
                }
                let usage: ConverseUsage = match payload.get("usage") {
                    Some(u) => serde_json::from_value(u.clone())
                        .map_err(|e| bad_response(NAME, format_args!("the stream's usage is malformed: {e}")))?,
                    None => ConverseUsage::default(),
                };
                let usage = usage.to_usage();
                self.total_tokens = Some(usage.total_tokens);
                chunks.push(self.out.usage(&usage));
                self.done = true;
            }
            // Events added later are skipped.
            _ => {}
        }
        Ok(())
    }
}

/// `ThrottlingException` from the stream's `throttlingException`.
fn capitalise(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::providers::testing::{assembled, check_shape};
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::Header;

    /// One frame as ConverseStream sends it.
    pub(crate) fn frame(headers: &[(&str, &str)], payload: &Value) -> Vec<u8> {
        let mut message = Message::new(serde_json::to_vec(payload).unwrap());
        for (name, value) in headers {
            message = message.add_header(Header::new(name.to_string(), HeaderValue::String(value.to_string().into())));
        }
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        out
    }

    pub(crate) fn event(name: &str, payload: Value) -> Vec<u8> {
        frame(&[(":message-type", "event"), (":event-type", name), (":content-type", "application/json")], &payload)
    }

    fn answer() -> Vec<u8> {
        [
            event("messageStart", json!({"role": "assistant"})),
            event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm."}}})),
            event("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"text": "Let me look"}})),
            event("contentBlockStop", json!({"contentBlockIndex": 1})),
            event("contentBlockStart", json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "weather"}}})),
            event("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\":"}}})),
            event("contentBlockDelta", json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "\"Paris\"}"}}})),
            event("contentBlockStop", json!({"contentBlockIndex": 2})),
            event("messageStop", json!({"stopReason": "tool_use"})),
            event("metadata", json!({"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 19, "cacheReadInputTokens": 4}, "metrics": {"latencyMs": 100}})),
        ]
        .concat()
    }

    /// The chunks `bytes` gives, parsed, and whether the stream is done (or the error).
    fn feed(d: &mut ConverseStreamDecoder, bytes: &[u8]) -> (Vec<Value>, Result<bool>) {
        let mut chunks = Vec::new();
        let done = d.feed(bytes, &mut chunks);
        (chunks.iter().map(|c| serde_json::from_slice::<Value>(c).unwrap()).collect(), done)
    }

    fn decode_in_pieces(bytes: &[u8], piece: usize) -> (Vec<Value>, bool) {
        let mut d = ConverseStreamDecoder::new("m");
        let mut chunks = Vec::new();
        for part in bytes.chunks(piece) {
            let (more, done) = feed(&mut d, part);
            chunks.extend(more);
            if done.unwrap() {
                return (chunks, true);
            }
        }
        (chunks, false)
    }

    #[test]
    fn a_stream_assembles_text_reasoning_tool_calls_and_usage_split_anywhere() {
        let bytes = answer();
        let (whole, done) = decode_in_pieces(&bytes, bytes.len());
        assert!(done);
        check_shape(&whole);
        let a = assembled(&whole);
        assert_eq!(a["choices"][0]["message"]["content"], "Let me look");
        assert_eq!(a["choices"][0]["message"]["reasoning_content"], "Hmm.");
        assert_eq!(
            a["choices"][0]["message"]["tool_calls"][0],
            json!({"id": "tooluse_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}})
        );
        assert_eq!(a["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            a["usage"],
            json!({"prompt_tokens": 14, "completion_tokens": 5, "total_tokens": 19, "prompt_tokens_details": {"cached_tokens": 4}})
        );
        for piece in [1, 2, 3, 7, 15, 16, 17, 64] {
            let (chunks, done) = decode_in_pieces(&bytes, piece);
            assert!(done, "{piece}");
            let strip = |cs: &[Value]| -> Vec<Value> { cs.iter().map(|c| c["choices"].clone()).collect() };
            assert_eq!(strip(&chunks), strip(&whole), "split every {piece} bytes");
        }
    }

    #[test]
    fn exception_frames_are_typed_errors() {
        for (exception, kind) in [
            ("throttlingException", ErrorKind::RateLimited),
            ("validationException", ErrorKind::InvalidRequest),
            ("serviceUnavailableException", ErrorKind::ProviderUnavailable),
            ("modelStreamErrorException", ErrorKind::ProviderUnavailable),
            ("internalServerException", ErrorKind::ProviderUnavailable),
        ] {
            let mut d = ConverseStreamDecoder::new("m");
            let (first, _) = feed(&mut d, &event("messageStart", json!({"role": "assistant"})));
            assert_eq!(first.len(), 1);
            let bytes = frame(
                &[
                    (":message-type", "exception"),
                    (":exception-type", exception),
                    (":content-type", "application/json"),
                ],
                &json!({"message": "Too many tokens, please wait before trying again."}),
            );
            let e = feed(&mut d, &bytes).1.unwrap_err();
            assert_eq!(e.kind, kind, "{exception}");
            assert_eq!(e.message, "bedrock: Too many tokens, please wait before trying again.");
            assert_eq!(e.provider_error.unwrap().error_type.as_deref(), Some(&capitalise(exception)[..]));
        }
    }

    #[test]
    fn chunks_before_an_error_in_the_same_bytes_are_kept() {
        let throttled = frame(
            &[(":message-type", "exception"), (":exception-type", "throttlingException")],
            &json!({"message": "slow down"}),
        );
        let mut bad = event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "x"}}));
        bad[20] ^= 1;
        for tail in [throttled, bad] {
            let bytes = [
                event("messageStart", json!({"role": "assistant"})),
                event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hello"}})),
                tail,
            ]
            .concat();
            let (chunks, done) = feed(&mut ConverseStreamDecoder::new("m"), &bytes);
            assert!(done.is_err());
            assert_eq!(chunks.len(), 2, "{chunks:?}");
            assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Hello");
        }
    }

    #[test]
    fn truncated_and_malformed_frames_are_typed_errors() {
        let bytes = answer();
        // Cut inside the last frame: no panic, an early end that says so.
        let mut d = ConverseStreamDecoder::new("m");
        assert!(!feed(&mut d, &bytes[..bytes.len() - 5]).1.unwrap());
        let e = d.ended_early();
        assert_eq!(e.kind, ErrorKind::Connection);
        assert!(e.message.contains("truncated"), "{}", e.message);
        // A flipped payload byte fails the message CRC.
        let mut bad = event("messageStart", json!({"role": "assistant"}));
        let at = bad.len() - 6;
        bad[at] ^= 0x20;
        let e = feed(&mut ConverseStreamDecoder::new("m"), &bad).1.unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        // Absurd lengths are refused before buffering.
        for total in [0u32, 3, u32::MAX] {
            let mut bytes = total.to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0; 12]);
            let e = FrameReader::new().feed(&bytes, &mut Vec::new()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadResponse, "{total}");
        }
        // Non-JSON payloads, metadata before messageStop, tool input with no start.
        let not_json = {
            let mut m = Message::new(&b"{nope"[..]);
            m = m.add_header(Header::new(":message-type", HeaderValue::String("event".into())));
            let mut out = Vec::new();
            write_message_to(&m, &mut out).unwrap();
            out
        };
        for bytes in [
            not_json,
            event("metadata", json!({"usage": {}})),
            event("contentBlockDelta", json!({"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{"}}})),
            frame(&[(":event-type", "messageStart")], &json!({})),
        ] {
            let e = feed(&mut ConverseStreamDecoder::new("m"), &bytes).1.unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadResponse);
        }
    }

    #[test]
    fn stop_reasons_and_events_after_the_end() {
        for (reason, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("guardrail_intervened", "content_filter"),
            ("content_filtered", "content_filter"),
        ] {
            let bytes = [
                event("messageStart", json!({"role": "assistant"})),
                event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}})),
                event("messageStop", json!({"stopReason": reason})),
                event("metadata", json!({"usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}})),
                event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "ignored"}})),
            ]
            .concat();
            let mut d = ConverseStreamDecoder::new("m");
            let (chunks, done) = feed(&mut d, &bytes);
            assert!(done.unwrap());
            let a = assembled(&chunks);
            assert_eq!(
                (a["choices"][0]["finish_reason"].as_str(), a["choices"][0]["message"]["content"].as_str()),
                (Some(finish), Some("Hi"))
            );
            assert_eq!(d.reported_tokens(), Some(2));
            assert!(feed(&mut d, &event("messageStart", json!({}))).0.is_empty());
        }
    }
}
