//! ConverseStream frames as the mock upstream scripts them (`event_frame` chunks, encoded with
//! `aws-smithy-eventstream`), read over HTTP in the pieces the connection delivers and decoded
//! by the Bedrock stream decoder.

mod common;

use liter_llm_core::error::ErrorKind;
use liter_llm_core::providers::bedrock::eventstream::ConverseStreamDecoder;
use liter_llm_core::stream::assemble;
use serde_json::{json, Value};

fn event(name: &str, payload: Value) -> Value {
    json!({"event_frame": {"headers": {":message-type": "event", ":event-type": name, ":content-type": "application/json"}, "json": payload}})
}

/// The chunks decoded from the session's answer, and how the stream ended.
fn read(chunks: Vec<Value>, disconnect_after: Option<usize>) -> (Vec<Value>, Result<(), ErrorKind>) {
    let mut response = json!({"headers": {"content-type": "application/vnd.amazon.eventstream"}, "chunks": chunks});
    if let Some(n) = disconnect_after {
        response["disconnect_after_chunks"] = n.into();
    }
    let session = common::upstream().session(json!([response]), false);
    let rt = liter_llm_core::runtime().unwrap();
    rt.block_on(async move {
        let url = format!("{}/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream", session.base_url);
        let mut answer = reqwest::Client::new().post(url).body("{}").send().await.unwrap();
        assert_eq!(answer.headers()["content-type"], "application/vnd.amazon.eventstream");
        let mut decoder = ConverseStreamDecoder::new("m");
        let mut out = Vec::new();
        loop {
            let bytes = match answer.chunk().await {
                Ok(Some(bytes)) => bytes,
                Ok(None) | Err(_) => return (out, Err(decoder.ended_early().kind)),
            };
            let mut chunks = Vec::new();
            let done = decoder.feed(&bytes, &mut chunks);
            out.extend(chunks.iter().map(|c| serde_json::from_slice::<Value>(c).unwrap()));
            match done {
                Ok(true) => return (out, Ok(())),
                Ok(false) => {}
                Err(e) => return (out, Err(e.kind)),
            }
        }
    })
}

#[test]
fn mock_frames_decode_into_an_answer() {
    let (chunks, end) = read(
        vec![
            event("messageStart", json!({"role": "assistant"})),
            event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hello"}})),
            event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": ", world"}})),
            event("contentBlockStop", json!({"contentBlockIndex": 0})),
            event("messageStop", json!({"stopReason": "end_turn"})),
            event(
                "metadata",
                json!({"usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}, "metrics": {"latencyMs": 120}}),
            ),
        ],
        None,
    );
    assert_eq!(end, Ok(()));
    let assembled: Value = serde_json::from_slice(&assemble(&chunks).unwrap()).unwrap();
    assert_eq!(assembled["choices"][0]["message"]["content"], "Hello, world");
    assert_eq!(assembled["choices"][0]["finish_reason"], "stop");
    assert_eq!(assembled["usage"], json!({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}));
}

#[test]
fn exception_frames_and_cut_streams_are_typed_errors() {
    let throttled = json!({"event_frame": {
        "headers": {":message-type": "exception", ":exception-type": "throttlingException", ":content-type": "application/json"},
        "json": {"message": "Too many tokens, please wait before trying again."}}});
    let (chunks, end) = read(vec![event("messageStart", json!({"role": "assistant"})), throttled], None);
    assert_eq!(chunks.len(), 1);
    assert_eq!(end, Err(ErrorKind::RateLimited));
    let (_, end) = read(
        vec![
            event("messageStart", json!({"role": "assistant"})),
            event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}})),
        ],
        Some(1),
    );
    assert_eq!(end, Err(ErrorKind::Connection));
}
