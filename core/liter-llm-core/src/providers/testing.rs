//! Helpers for the adapters' tests: feed a decoder events and check the chunks' shape.

use serde_json::Value;

use crate::provider::{Provider, StreamDecoder};
use crate::sse::SseEvent;
use crate::stream::assemble;

pub fn ev(event: Option<&str>, data: &str) -> SseEvent {
    SseEvent { event: event.map(str::to_owned), data: data.to_owned() }
}

/// Feeds events (name, data) to `decoder`; every chunk, parsed, and whether the stream is done.
pub fn feed(decoder: &mut dyn StreamDecoder, events: &[(Option<&str>, &str)]) -> (Vec<Value>, bool) {
    let mut out = Vec::new();
    for (name, data) in events {
        let step = decoder.on_event(&ev(*name, data)).unwrap();
        out.extend(step.chunks.iter().map(|c| serde_json::from_slice::<Value>(c).unwrap()));
        if step.done {
            return (out, true);
        }
    }
    (out, false)
}

/// `feed` on a new decoder of `provider`.
pub fn run(provider: &dyn Provider, model: &str, events: &[(Option<&str>, &str)]) -> (Vec<Value>, bool) {
    feed(provider.stream_decoder(model).as_mut(), events)
}

pub fn assembled(chunks: &[Value]) -> Value {
    serde_json::from_slice(&assemble(chunks).unwrap()).unwrap()
}

/// Every chunk has the OpenAI shape, all share id, model and created, and only the first delta
/// names the role.
pub fn check_shape(chunks: &[Value]) {
    let created = &chunks[0]["created"];
    assert!(created.as_u64().unwrap() > 1_600_000_000);
    for c in chunks {
        assert_eq!(c["object"], "chat.completion.chunk", "{c}");
        assert_eq!(&c["created"], created);
        assert_eq!(c["id"], chunks[0]["id"]);
        assert_eq!(c["model"], chunks[0]["model"]);
        let choices = c["choices"].as_array().unwrap();
        if choices.is_empty() {
            assert!(c["usage"].is_object(), "{c}");
        } else {
            assert_eq!(choices.len(), 1);
            assert_eq!(choices[0]["index"], 0);
            assert!(choices[0]["delta"].is_object());
            assert!(choices[0].as_object().unwrap().contains_key("finish_reason"));
            assert_eq!(choices[0]["logprobs"], Value::Null);
            assert!(choices[0].as_object().unwrap().contains_key("logprobs"));
        }
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks[1..].iter().all(|c| c["choices"][0]["delta"].get("role").is_none()));
}
