//! Embedding calls (`"operation": "embedding"`) through the one call loop, against the
//! in-process mock upstream: the request sent, OpenAI's list shape back, base64 decoded or
//! passed through, retries and fallbacks as for chat, and a typed error where a provider has
//! no embeddings.

mod common;

use common::{call, upstream};
use serde_json::{json, Value};

/// `[0.5, -1.0, 0.25]` as OpenAI's base64 of little-endian float32s.
const B64: &str = "AAAAPwAAgL8AAIA+";

fn openai_list(embedding: Value) -> Value {
    json!({"object": "list", "model": "text-embedding-3-small",
           "data": [{"object": "embedding", "index": 0, "embedding": embedding}],
           "usage": {"prompt_tokens": 2, "total_tokens": 2}})
}

fn request(base_url: &str, extra: Value) -> Value {
    let mut r = json!({"operation": "embedding", "model": "openai/text-embedding-3-small", "input": "hello world",
                       "api_key": "sk-test-embed", "base_url": base_url, "max_retries": 0});
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    r
}

#[test]
fn base64_from_the_provider_is_decoded_for_a_caller_who_asked_for_floats() {
    let s = upstream().session(json!([{"json": openai_list(Value::from(B64))}]), true);
    let (err, body) = call(None, request(&s.base_url, json!({"dimensions": 3})));
    assert!(!err, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"], json!([{"object": "embedding", "embedding": [0.5, -1.0, 0.25], "index": 0}]));
    assert_eq!(body["model"], "text-embedding-3-small");
    assert_eq!(body["usage"], json!({"prompt_tokens": 2, "total_tokens": 2}));
    assert_eq!(body["liter_llm"]["provider"], "openai");
    let sent = &s.requests()[0];
    assert_eq!(sent["path"], "/embeddings");
    assert_eq!(sent["headers"]["authorization"], "Bearer sk-test-embed");
    assert_eq!(sent["json"], json!({"model": "text-embedding-3-small", "input": "hello world", "dimensions": 3}));
}

#[test]
fn base64_is_passed_through_when_asked_for_and_floats_are_encoded() {
    let s = upstream().session(json!([{"json": openai_list(Value::from(B64))}]), true);
    let (err, body) = call(None, request(&s.base_url, json!({"encoding_format": "base64"})));
    assert!(!err, "{body}");
    assert_eq!(body["data"][0]["embedding"], B64);
    assert_eq!(s.requests()[0]["json"]["encoding_format"], "base64");
    let s = upstream().session(json!([{"json": openai_list(json!([0.5, -1.0, 0.25]))}]), true);
    let (_, body) = call(None, request(&s.base_url, json!({"encoding_format": "base64"})));
    assert_eq!(body["data"][0]["embedding"], B64);
}

#[test]
fn lists_come_back_in_input_order() {
    let list = json!({"object": "list", "model": "m",
        "data": [{"object": "embedding", "index": 1, "embedding": [2.0]}, {"object": "embedding", "index": 0, "embedding": [1.0]}]});
    let s = upstream().session(json!([{"json": list}]), true);
    let (err, body) = call(None, request(&s.base_url, json!({"input": ["a", "b"]})));
    assert!(!err, "{body}");
    assert_eq!(body["data"][0]["embedding"], json!([1.0]));
    assert_eq!(body["data"][1], json!({"object": "embedding", "embedding": [2.0], "index": 1}));
    assert_eq!(body["usage"], json!({"prompt_tokens": 0, "total_tokens": 0}));
    // One vector for two inputs is a bad response.
    let s = upstream().session(json!([{"json": openai_list(json!([1.0]))}]), true);
    let (err, body) = call(None, request(&s.base_url, json!({"input": ["a", "b"]})));
    assert!(err);
    assert_eq!(body["kind"], "bad_response");
    assert!(body["message"].as_str().unwrap().contains("1 embeddings for 2 inputs"), "{body}");
}

#[test]
fn embeddings_are_retried_and_fall_back_as_chat_is() {
    let s = upstream().session(
        json!([{"status": 429, "headers": {"retry-after-ms": "1"}, "json": {"error": {"message": "slow down", "type": "requests"}}},
               {"json": openai_list(json!([1.0, 2.0]))}]),
        false,
    );
    let (err, body) = call(None, request(&s.base_url, json!({"max_retries": 1})));
    assert!(!err, "{body}");
    assert_eq!(body["liter_llm"]["attempts"], 2);
    assert_eq!(s.requests().len(), 2);

    // The primary is down; the fallback (the local mock) answers.
    let down = upstream().session(json!([{"status": 503, "json": {"error": {"message": "down"}}}]), true);
    let (err, body) = call(None, request(&down.base_url, json!({"fallbacks": ["mock/embed"], "input": ["a", "b"]})));
    assert!(!err, "{body}");
    assert_eq!(body["liter_llm"]["provider"], "mock");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 8);
}

#[test]
fn a_provider_without_embeddings_is_a_typed_error_naming_it() {
    let (err, body) = call(
        None,
        json!({"operation": "embedding", "model": "anthropic/claude-x", "input": "x", "api_key": "sk-test-1"}),
    );
    assert!(err);
    assert_eq!(body["kind"], "unsupported");
    assert_eq!(body["provider"], "anthropic");
    assert!(body["message"].as_str().unwrap().starts_with("anthropic has no embeddings API"), "{body}");
    // Streaming an embedding and an unknown operation are errors too.
    let e = liter_llm_core::Client::from_json(b"{}")
        .unwrap()
        .plan(None, br#"{"operation": "embedding", "model": "mock/m", "input": "x"}"#, true)
        .err()
        .unwrap();
    assert_eq!(e.kind, liter_llm_core::ErrorKind::Unsupported);
    let (err, body) = call(None, json!({"operation": "rerank", "model": "mock/m", "input": "x"}));
    assert!(err);
    assert!(body["message"].as_str().unwrap().contains("`operation`"), "{body}");
}

#[test]
fn the_mock_embeds_deterministically_without_the_network() {
    let req = json!({"operation": "embedding", "model": "mock/e", "input": ["one", "two"], "dimensions": 4});
    let (err, a) = call(None, req.clone());
    assert!(!err, "{a}");
    let (_, b) = call(None, req);
    assert_eq!(a, b);
    assert_ne!(a["data"][0]["embedding"], a["data"][1]["embedding"]);
    for v in a["data"][0]["embedding"].as_array().unwrap() {
        assert!((-1.0..1.0).contains(&v.as_f64().unwrap()));
    }
    assert_eq!(a["usage"]["prompt_tokens"], 2);
}
