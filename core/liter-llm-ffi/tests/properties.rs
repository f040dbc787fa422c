//! Property tests over the core's decoders, on inputs nobody chose (proptest): the SSE parser
//! gives the same events however its input is split, each provider's stream decoder and
//! response parser turn any event or body into valid chunks or a typed error (never a panic),
//! usage is never negative, and the assembled stream carries exactly the streamed content.

use liter_llm_core::providers::lookup;
use liter_llm_core::sse::{SseEvent, SseParser};
use liter_llm_core::stream::assemble;
use proptest::prelude::*;
use serde_json::{json, Value};

const PROVIDERS: [&str; 3] = ["openai", "anthropic", "cohere"];

fn config() -> ProptestConfig {
    ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() }
}

/// Bytes that look like an event stream: field names, separators, line ends of every kind.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"event: message_stop".to_vec()),
        Just(b"id: 7".to_vec()),
        Just(b"retry: 10".to_vec()),
        Just(b": comment".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(vec![0xEF, 0xBB, 0xBF]),
        Just(b"{\"choices\":[]}".to_vec()),
        "[a-z {}:\"]{0,12}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// Everything the parser yields for `parts` fed in order, then the end of the stream: the
/// events up to the first error, and that error's kind and message.
fn parse(parts: &[&[u8]]) -> (Vec<SseEvent>, Option<String>, bool) {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    for part in parts {
        if let Err(e) = parser.feed(part, &mut events) {
            return (events, Some(format!("{:?}: {}", e.kind, e.message)), false);
        }
    }
    let clean = parser.finish();
    (events, None, clean)
}

/// JSON values shaped like provider payloads: the keys they use, integers of any sign.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(Value::from),
        "[a-z_ ]{0,8}".prop_map(Value::from),
        prop::sample::select(vec![
            "assistant",
            "stop",
            "length",
            "tool_calls",
            "text",
            "text_delta",
            "input_json_delta",
            "message_start",
            "message_delta",
            "message_stop",
            "content_block_start",
            "content_block_delta",
            "content-delta",
            "message-end",
            "stream-start",
            "tool_use",
            "COMPLETE",
            "MAX_TOKENS",
            "error",
        ])
        .prop_map(Value::from),
    ];
    let keys = prop::sample::select(vec![
        "id",
        "object",
        "model",
        "choices",
        "index",
        "delta",
        "message",
        "content",
        "role",
        "finish_reason",
        "usage",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "input_tokens",
        "output_tokens",
        "type",
        "text",
        "partial_json",
        "tool_calls",
        "function",
        "name",
        "arguments",
        "stop_reason",
        "content_block",
        "event_type",
        "tokens",
        "billed_units",
        "meta",
        "error",
        "finish_reason",
        "response",
        "generation_id",
    ]);
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(keys.clone().prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every usage object in `value` has non-negative integer counts.
fn usage_is_never_negative(value: &Value) {
    if let Some(usage) = value.get("usage").filter(|u| !u.is_null()) {
        for field in ["prompt_tokens", "completion_tokens", "total_tokens"] {
            let n = &usage[field];
            assert!(n.is_u64(), "usage.{field} is {n} in {value}");
        }
    }
}

/// Whether the provider's answers are translated into OpenAI's shape (OpenAI's are forwarded).
fn translated(provider: &str) -> bool {
    provider != "openai"
}

fn event(kind: Option<&str>, data: &Value) -> SseEvent {
    SseEvent { event: kind.map(str::to_owned), data: data.to_string() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sse_split_anywhere_parses_the_same(bytes in sse_bytes(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let whole = parse(&[&bytes]);
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for cut in at {
            parts.push(&bytes[start..cut]);
            start = cut;
        }
        parts.push(&bytes[start..]);
        let split = parse(&parts);
        // Events completed before an error are kept, so even a failing stream gives the same
        // events and the same error however it was split.
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn stream_decoders_give_chunks_or_typed_errors(
        provider in prop::sample::select(PROVIDERS.to_vec()),
        events in prop::collection::vec((prop::option::of(prop::sample::select(vec![
            "message_start", "content_block_start", "content_block_delta", "message_delta", "message_stop",
            "error", "ping", "content-delta", "message-end", "stream-start",
        ])), json_value()), 0..12),
    ) {
        let adapter = lookup(provider).unwrap();
        let mut decoder = adapter.stream_decoder("m");
        let mut chunks = Vec::new();
        for (kind, data) in &events {
            match decoder.on_event(&event(*kind, data)) {
                Ok(step) => {
                    for chunk in step.chunks {
                        let value: Value = serde_json::from_slice(&chunk).expect("a chunk is JSON");
                        prop_assert!(value.is_object(), "a chunk is an object: {}", value);
                        if translated(provider) {
                            prop_assert_eq!(&value["object"], "chat.completion.chunk");
                            usage_is_never_negative(&value);
                        }
                        chunks.push(value);
                    }
                    if step.done {
                        break;
                    }
                }
                Err(e) => {
                    prop_assert!(!e.message.is_empty());
                    break;
                }
            }
        }
        let _ = decoder.ended_early();
        if chunks.is_empty() || !translated(provider) {
            // OpenAI's chunks are forwarded as sent; `assemble` judges those (a typed error
            // at worst), and the chunks of the other providers, built here, always assemble.
            let _ = assemble(&chunks);
            return Ok(());
        }
        // Reassembled, the chunks carry exactly the streamed text.
        let streamed: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        let assembled: Value = serde_json::from_slice(&assemble(&chunks).expect("decoded chunks assemble")).unwrap();
        let content = assembled["choices"][0]["message"]["content"].as_str().unwrap_or_default();
        prop_assert_eq!(content, streamed.as_str());
        usage_is_never_negative(&assembled);
    }

    #[test]
    fn response_parsers_give_a_completion_or_a_typed_error(
        provider in prop::sample::select(PROVIDERS.to_vec()),
        body in json_value(),
    ) {
        let adapter = lookup(provider).unwrap();
        let text = body.to_string();
        if let Ok(out) = adapter.parse_response("m", text.as_bytes()) {
            if translated(provider) {
                let value: Value = serde_json::from_slice(&out).expect("a completion is JSON");
                prop_assert_eq!(&value["object"], "chat.completion");
                usage_is_never_negative(&value);
            } else {
                prop_assert_eq!(out, text.into_bytes(), "an OpenAI completion is forwarded as sent");
            }
        }
    }

    #[test]
    fn response_parsers_survive_any_bytes(
        provider in prop::sample::select(PROVIDERS.to_vec()),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = lookup(provider).unwrap().parse_response("m", &body);
    }
}

#[test]
fn a_reassembled_openai_stream_equals_the_whole() {
    let adapter = lookup("openai").unwrap();
    let mut decoder = adapter.stream_decoder("m");
    let mut chunks = Vec::new();
    for piece in ["Hel", "lo", "!"] {
        let data = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
        for chunk in decoder.on_event(&event(None, &data)).unwrap().chunks {
            chunks.push(serde_json::from_slice::<Value>(&chunk).unwrap());
        }
    }
    let assembled: Value = serde_json::from_slice(&assemble(&chunks).unwrap()).unwrap();
    assert_eq!(assembled["choices"][0]["message"]["content"], "Hello!");
}
