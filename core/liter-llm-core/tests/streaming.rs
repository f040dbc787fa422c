//! Streams against a real local HTTP server: each provider's events become OpenAI chunks, and
//! every way a stream can fail ends in its typed error.

mod common;

use common::upstream;
use serde_json::{json, Value};

/// Runs a stream; returns the chunks delivered and the outcome.
fn stream(provider: Option<&str>, request: Value) -> (Vec<Value>, Result<(), Value>) {
    let mut chunks = Vec::new();
    let rt = liter_llm_core::runtime().unwrap();
    let outcome = rt.block_on(async {
        let mut on_chunk = |c: Vec<u8>| chunks.push(serde_json::from_slice::<Value>(&c).unwrap());
        liter_llm_core::stream_call(provider, request.to_string().as_bytes(), &mut on_chunk).await
    });
    let outcome = outcome.map_err(|e| serde_json::from_slice::<Value>(&e.to_json()).unwrap()["error"].clone());
    (chunks, outcome)
}

fn sse(events: &[(&str, Value)]) -> Value {
    let chunks: Vec<Value> = events
        .iter()
        .map(|(name, data)| {
            let head = if name.is_empty() { String::new() } else { format!("event: {name}\n") };
            json!({"data": format!("{head}data: {data}\n\n")})
        })
        .collect();
    Value::Array(chunks)
}

fn text(chunks: &[Value]) -> String {
    chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect()
}

fn assembled(chunks: &[Value]) -> Value {
    serde_json::from_slice(&liter_llm_core::stream::assemble(chunks).unwrap()).unwrap()
}

fn openai_chunk(delta: Value, finish: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

#[test]
fn openai_stream_passes_through_with_usage() {
    let mut body = sse(&[
        ("", openai_chunk(json!({"role": "assistant", "content": ""}), Value::Null)),
        ("", openai_chunk(json!({"content": "Hel"}), Value::Null)),
        ("", openai_chunk(json!({"content": "lo"}), Value::Null)),
        ("", openai_chunk(json!({}), json!("stop"))),
        (
            "",
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": [],
                   "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}),
        ),
    ]);
    body.as_array_mut().unwrap().push(json!({"data": ": keep-alive\r\n\r\ndata: [DONE]\r\n\r\n"}));
    let s = upstream()
        .session(json!([{"status": 200, "headers": {"content-type": "text/event-stream"}, "chunks": body}]), false);
    let (chunks, outcome) = stream(
        None,
        json!({"model": "openai/gpt-4o-mini", "prompt": "hi", "api_key": "sk-test-s", "base_url": s.base_url}),
    );
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(text(&chunks), "Hello");
    assert_eq!(chunks.len(), 5);
    let whole = assembled(&chunks);
    assert_eq!(whole["choices"][0]["message"]["content"], "Hello");
    assert_eq!(whole["choices"][0]["finish_reason"], "stop");
    assert_eq!(whole["usage"]["total_tokens"], 7);
    let sent = &s.requests()[0]["json"];
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
}

#[test]
fn anthropic_stream_with_a_tool_call_split_anywhere() {
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [], "stop_reason": null, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Looking é✓"}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Pa"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "ris\"}"}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 20}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    // The whole stream as bytes, re-cut into 7-byte pieces (inside events and characters).
    let whole: String =
        sse(&events).as_array().unwrap().iter().map(|c| c["data"].as_str().unwrap().to_owned()).collect();
    let bytes = whole.as_bytes();
    let pieces: Vec<Value> = bytes.chunks(7).map(|p| json!({"data_base64": base64(p)})).collect();
    let pieces = if pieces.is_empty() { vec![] } else { pieces };
    let s = upstream().session(json!([{"status": 200, "chunks": pieces}]), false);
    let (chunks, outcome) = stream(
        Some("anthropic"),
        json!({"model": "claude-sonnet-4-5", "prompt": "weather?", "api_key": "sk-test-a", "base_url": s.base_url}),
    );
    assert!(outcome.is_ok(), "{outcome:?}");
    let whole = assembled(&chunks);
    assert_eq!(whole["choices"][0]["message"]["content"], "Looking é✓");
    let call = &whole["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(whole["usage"]["completion_tokens"], 20);
    assert_eq!(s.requests()[0]["json"]["stream"], true);
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn cohere_stream() {
    let events = [
        (
            "message-start",
            json!({"type": "message-start", "id": "c-1", "delta": {"message": {"role": "assistant", "content": []}}}),
        ),
        (
            "content-start",
            json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
        ),
        (
            "content-delta",
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hi "}}}}),
        ),
        (
            "content-delta",
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "there"}}}}),
        ),
        ("content-end", json!({"type": "content-end", "index": 0})),
        (
            "message-end",
            json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {"tokens": {"input_tokens": 4, "output_tokens": 2}}}}),
        ),
    ];
    let s = upstream().session(json!([{"status": 200, "chunks": sse(&events)}]), false);
    let (chunks, outcome) = stream(
        Some("cohere"),
        json!({"model": "command-r", "prompt": "hi", "api_key": "sk-test-c", "base_url": s.base_url}),
    );
    assert!(outcome.is_ok(), "{outcome:?}");
    let whole = assembled(&chunks);
    assert_eq!(whole["choices"][0]["message"]["content"], "Hi there");
    assert_eq!(whole["usage"]["total_tokens"], 6);
}

#[test]
fn a_dropped_connection_is_an_error_after_the_chunks_delivered() {
    let body = sse(&[
        ("", openai_chunk(json!({"role": "assistant", "content": "one "}), Value::Null)),
        ("", openai_chunk(json!({"content": "two "}), Value::Null)),
        ("", openai_chunk(json!({"content": "three"}), Value::Null)),
    ]);
    let s = upstream().session(json!([{"status": 200, "chunks": body, "disconnect_after_chunks": 2}]), false);
    let (chunks, outcome) =
        stream(None, json!({"model": "openai/gpt", "prompt": "hi", "api_key": "sk-test-s", "base_url": s.base_url}));
    assert_eq!(text(&chunks), "one two ");
    let e = outcome.unwrap_err();
    assert_eq!(e["kind"], "connection", "{e}");
    assert_eq!(s.requests().len(), 1, "no retry once chunks were delivered");
}

#[test]
fn events_before_a_bad_line_in_the_same_read_are_delivered_first() {
    // Two good events and a line that is not UTF-8, written at once: one read of the body.
    let mut bytes = Vec::new();
    for piece in ["one ", "two"] {
        bytes.extend_from_slice(
            format!("data: {}\n\n", openai_chunk(json!({"content": piece}), Value::Null)).as_bytes(),
        );
    }
    bytes.extend_from_slice(b"data: \xFF\n\ndata: [DONE]\n\n");
    let s = upstream().session(json!([{"status": 200, "chunks": [{"data_base64": base64(&bytes)}]}]), false);
    let (chunks, outcome) =
        stream(None, json!({"model": "openai/gpt", "prompt": "hi", "api_key": "sk-test-s", "base_url": s.base_url}));
    assert_eq!(text(&chunks), "one two");
    let e = outcome.unwrap_err();
    assert_eq!(e["kind"], "bad_response", "{e}");
    assert!(e["message"].as_str().unwrap().contains("not valid UTF-8"), "{e}");
    assert_eq!(s.requests().len(), 1, "no retry once chunks were delivered");
}

#[test]
fn a_stream_that_ends_without_done_is_truncated() {
    let body = sse(&[("", openai_chunk(json!({"content": "partial"}), Value::Null))]);
    let s = upstream().session(json!([{"status": 200, "chunks": body}]), false);
    let (chunks, outcome) =
        stream(None, json!({"model": "openai/gpt", "prompt": "hi", "api_key": "sk-test-s", "base_url": s.base_url}));
    assert_eq!(chunks.len(), 1);
    assert_eq!(outcome.unwrap_err()["kind"], "connection");
}

#[test]
fn a_stalled_upstream_times_out() {
    let body = json!([{"data": format!("data: {}\n\n", openai_chunk(json!({"content": "a"}), Value::Null))},
                      {"data": "data: [DONE]\n\n", "delay_ms": 3000}]);
    let s = upstream().session(json!([{"status": 200, "chunks": body}]), false);
    let started = std::time::Instant::now();
    let (chunks, outcome) = stream(
        None,
        json!({"model": "openai/gpt", "prompt": "hi", "api_key": "sk-test-s", "base_url": s.base_url, "timeout": 0.3}),
    );
    assert_eq!(chunks.len(), 1);
    assert_eq!(outcome.unwrap_err()["kind"], "timeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn malformed_events_and_error_events_are_typed() {
    let s = upstream().session(json!([{"status": 200, "chunks": [{"data": "data: {not json\n\n"}]}]), false);
    let (_, outcome) =
        stream(None, json!({"model": "openai/gpt", "prompt": "hi", "api_key": "sk-test-s", "base_url": s.base_url}));
    assert_eq!(outcome.unwrap_err()["kind"], "bad_response");

    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "c",
            "content": [], "stop_reason": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        ),
        ("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
    ];
    let s = upstream().session(json!([{"status": 200, "chunks": sse(&events)}]), false);
    let (chunks, outcome) = stream(
        Some("anthropic"),
        json!({"model": "c", "prompt": "hi", "api_key": "sk-test-a", "base_url": s.base_url}),
    );
    assert_eq!(chunks.len(), 1);
    let e = outcome.unwrap_err();
    assert_eq!(e["kind"], "provider_unavailable");
    assert_eq!(e["provider_error"]["type"], "overloaded_error");
}

#[test]
fn failures_before_the_first_chunk_are_retried() {
    let body = sse(&[("", openai_chunk(json!({"content": "ok"}), json!("stop")))]);
    let mut body = body;
    body.as_array_mut().unwrap().push(json!({"data": "data: [DONE]\n\n"}));
    let s = upstream().session(json!([
        {"status": 429, "headers": {"retry-after-ms": "50"}, "json": {"error": {"message": "slow down", "type": "requests"}}},
        {"status": 200, "chunks": body}]), false);
    let (chunks, outcome) =
        stream(None, json!({"model": "openai/gpt", "prompt": "hi", "api_key": "sk-test-s", "base_url": s.base_url}));
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(text(&chunks), "ok");
    assert_eq!(s.requests().len(), 2);
}

#[test]
fn the_mock_provider_streams() {
    let (chunks, outcome) = stream(None, json!({"model": "mock/m", "prompt": "hi", "mock_response": "one two three"}));
    assert!(outcome.is_ok());
    assert_eq!(text(&chunks), "one two three");
    assert_eq!(assembled(&chunks)["choices"][0]["finish_reason"], "stop");
    assert!(chunks.last().unwrap()["usage"]["total_tokens"].as_u64().unwrap() > 0);
}
