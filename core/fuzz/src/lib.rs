//! The checks behind each fuzz target (`src/bin/<target>.rs`, one line each): feed the input to
//! one parser of outside input and assert what must hold for every input. A panic or abort is a
//! crash; libFuzzer saves the input. Every crash found is kept as a unit test next to the code
//! it broke.

use std::time::{Duration, SystemTime};

use liter_llm_core::config::Config;
use liter_llm_core::error::{parse_retry_after, Error, ErrorKind};
use liter_llm_core::providers::lookup;
use liter_llm_core::request::ChatRequest;
use liter_llm_core::retry;
use liter_llm_core::sse::{SseEvent, SseParser, MAX_EVENT_BYTES};
use serde_json::Value;

/// The events and the error, if any, of `bytes` fed in pieces of `piece` bytes.
fn sse_events(bytes: &[u8], piece: usize) -> (Vec<SseEvent>, Option<Error>, bool) {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    for part in bytes.chunks(piece.max(1)) {
        if let Err(error) = parser.feed(part, &mut events) {
            return (events, Some(error), false);
        }
    }
    let truncated = parser.finish();
    (events, None, truncated)
}

/// The SSE parser: the same events, error and truncation however the input is split; errors are
/// `bad_response`; no event is larger than the limit.
pub fn sse(data: &[u8]) {
    let Some((&split, bytes)) = data.split_first() else { return };
    let whole = sse_events(bytes, bytes.len());
    let pieces = sse_events(bytes, usize::from(split % 17) + 1);
    assert_eq!(whole.0, pieces.0, "events differ when split");
    assert_eq!(whole.1, pieces.1, "errors differ when split");
    assert_eq!(whole.2, pieces.2, "truncation differs when split");
    if let Some(error) = &whole.1 {
        assert_eq!(error.kind, ErrorKind::BadResponse, "{error:?}");
    }
    for event in &whole.0 {
        assert!(event.data.len() <= MAX_EVENT_BYTES);
    }
}

/// The providers whose answers are OpenAI's own wire format, forwarded as they came (checked, not
/// rewritten).
const FORWARDING: &[&str] = &["openai", "azure"];

/// A JSON object in UTF-8 whose `usage`, when present, has non-negative integer counts.
fn check_openai_shaped(provider: &str, what: &str, bytes: &[u8]) {
    let text = std::str::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("{provider}: the {what} is not UTF-8 ({e}): {}", String::from_utf8_lossy(bytes)));
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        // A forwarded body may hold an escaped lone surrogate (`"\ud800"`): valid JSON syntax,
        // which serde_json's `Value` refuses. It must still be JSON.
        assert!(FORWARDING.contains(&provider), "{provider}: the {what} is not JSON: {text}");
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .unwrap_or_else(|e| panic!("{provider}: the {what} is not JSON ({e}): {text}"));
        return;
    };
    assert!(value.is_object(), "{provider}: the {what} is not an object: {value}");
    if let Some(usage) = value.get("usage").filter(|u| !u.is_null()) {
        // Forwarded answers (OpenAI's own) are passed through as sent; translated ones are ours.
        if !FORWARDING.contains(&provider) {
            for field in ["prompt_tokens", "completion_tokens", "total_tokens"] {
                assert!(usage[field].is_u64(), "{provider}: usage.{field} in the {what}: {value}");
            }
        }
    }
}

/// One provider's response parser and stream decoder over the same bytes: the body as a whole
/// response, and as an event stream. Either gives OpenAI-shaped JSON or a typed error.
pub fn provider(name: &str, data: &[u8]) {
    let provider = lookup(name).unwrap_or_else(|| panic!("no provider {name}"));
    if let Ok(body) = provider.parse_response("m", data) {
        check_openai_shaped(name, "response", &body);
    }
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        // The error body parser sees any JSON an upstream sends with a failing status.
        let _ = provider.parse_error_body(&value);
    }

    let mut decoder = provider.stream_decoder("m");
    let (events, _, _) = sse_events(data, data.len());
    for event in &events {
        match decoder.on_event(event) {
            Ok(step) => {
                for chunk in &step.chunks {
                    check_openai_shaped(name, "chunk", chunk);
                }
                if step.done {
                    return;
                }
            }
            Err(error) => {
                assert_ne!(error.kind, ErrorKind::Internal, "{error:?}");
                return;
            }
        }
    }
    let _ = decoder.reported_tokens();
    let _ = decoder.ended_early();
}

/// Request validation, then every provider's request body for a valid request: a typed error or
/// a JSON object.
pub fn request(data: &[u8]) {
    for streaming in [false, true] {
        let Ok(request) = ChatRequest::parse_for(data, streaming) else { continue };
        let _ = request.prompt_chars();
        let _ = request.max_tokens();
        for name in ["openai", "anthropic", "cohere", "mock"] {
            let provider = lookup(name).expect("a built-in provider");
            if let Ok(body) = provider.request_body(&request, "m", streaming) {
                let value: Value = serde_json::from_slice(&body).expect("a request body is JSON");
                assert!(value.is_object(), "{name}: {value}");
            }
        }
    }
}

/// The configuration file (TOML, with `${VAR}` interpolation) and its JSON form.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::from_toml(text, "fuzz.toml");
    }
    let _ = Config::from_json(data);
}

/// `retry-after-ms` and `retry-after` (seconds or an HTTP date), split at the first NUL: a wait
/// in [0, 24 h] or none, and a retry decision on it that does not panic.
pub fn retry_after(data: &[u8]) {
    let (ms, rest) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&[][..], data),
    };
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in [("retry-after-ms", ms), ("retry-after", rest)] {
        if let Ok(value) = reqwest::header::HeaderValue::from_bytes(value) {
            headers.insert(name, value);
        }
    }
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let wait = parse_retry_after(&headers, now);
    if let Some(secs) = wait {
        assert!(secs.is_finite() && (0.0..=86_400.0).contains(&secs), "retry_after {secs}");
    }
    let mut error = Error::new(ErrorKind::RateLimited, "x").with_status(429);
    error.retry_after = wait;
    let _ = retry::decide(&error, 1, 2, retry::DEFAULT_MAX_RETRY_WAIT, Duration::from_secs(600));
}

/// A value read from Redis: rejected, or decoded into an entry whose encoding decodes to itself.
pub fn cache_value(data: &[u8]) {
    let key = [7u8; 32];
    if let Some(stored) = liter_llm_core::cache::fuzz_stored_value(data, &key) {
        let again = liter_llm_core::cache::fuzz_stored_value(&stored, &key);
        assert_eq!(again.as_deref(), Some(&stored[..]), "a re-encoded entry does not decode to itself");
        assert_eq!(
            liter_llm_core::cache::fuzz_stored_value(&stored, &[8u8; 32]),
            None,
            "another key's value was accepted"
        );
    }
}

/// The chunks' `choices` and `usage` (the rest names the decoder's creation time), whether the
/// stream ended, and the error kind, of `bytes` fed to a ConverseStream decoder in pieces.
fn converse_stream(bytes: &[u8], piece: usize) -> (Vec<(Value, Value)>, bool, Option<ErrorKind>) {
    use liter_llm_core::providers::bedrock::eventstream::ConverseStreamDecoder;
    let mut decoder = ConverseStreamDecoder::new("m");
    let mut chunks = Vec::new();
    for part in bytes.chunks(piece.max(1)) {
        let mut out = Vec::new();
        let done = decoder.feed(part, &mut out);
        for chunk in &out {
            let v: Value = serde_json::from_slice(chunk).expect("a chunk is JSON");
            chunks.push((v["choices"].clone(), v["usage"].clone()));
        }
        match done {
            Ok(true) => return (chunks, true, None),
            Ok(false) => {}
            Err(error) => return (chunks, false, Some(error.kind)),
        }
    }
    let early = decoder.ended_early();
    assert_eq!(early.kind, ErrorKind::Connection, "{early:?}");
    (chunks, false, None)
}

/// Bedrock's ConverseStream framing (AWS event-stream): the same chunks, end and error however
/// the input is split; a malformed or oversized frame is a `bad_response`, never a panic.
pub fn bedrock_eventstream(data: &[u8]) {
    let Some((&split, bytes)) = data.split_first() else { return };
    let whole = converse_stream(bytes, bytes.len());
    let pieces = converse_stream(bytes, usize::from(split % 23) + 1);
    assert_eq!(whole, pieces, "the outcome differs when split");
    if let Some(kind) = whole.2 {
        assert_ne!(kind, ErrorKind::Internal, "an internal error from stream bytes");
    }
}
