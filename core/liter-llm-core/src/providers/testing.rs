//! Helpers for the adapters' tests: feed a decoder events, check the chunks' shape, and compare
//! answers that differ only in the time they were made.

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

/// `value` without what depends on the clock: `created` becomes 0, and an id made from it
/// (`chatcmpl-<provider>-<created>`) becomes `chatcmpl-<provider>`.
pub fn timeless(mut value: Value) -> Value {
    if let Value::Object(m) = &mut value {
        if let Some(created) = m.get("created").and_then(Value::as_u64) {
            m.insert("created".into(), 0.into());
            if let Some(Value::String(id)) = m.get_mut("id") {
                if let Some(base) = id.strip_suffix(&format!("-{created}")).filter(|b| b.starts_with("chatcmpl-")) {
                    *id = base.to_owned();
                }
            }
        }
    }
    value
}

/// Sets the field at `pointer` (which must exist) to `null`.
pub fn set_null(value: &mut Value, pointer: &str) {
    *value.pointer_mut(pointer).unwrap_or_else(|| panic!("no field at {pointer}")) = Value::Null;
}

/// Removes the field at `pointer` (which must exist).
pub fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = value.pointer_mut(parent).and_then(Value::as_object_mut).unwrap_or_else(|| panic!("no {parent}"));
    assert!(parent.remove(key).is_some(), "no field at {pointer}");
}

/// Adds a field no schema names to every object in `value`, except inside the values of the
/// keys in `opaque` (free-form objects such as tool inputs, which are passed on as they are).
pub fn with_unknown_fields(mut value: Value, opaque: &[&str]) -> Value {
    fn add(v: &mut Value, opaque: &[&str]) {
        match v {
            Value::Object(m) => {
                for (k, child) in m.iter_mut() {
                    if !opaque.contains(&k.as_str()) {
                        add(child, opaque);
                    }
                }
                m.insert("x_unknown_field".into(), serde_json::json!({"nested": [1, null]}));
            }
            Value::Array(items) => items.iter_mut().for_each(|item| add(item, opaque)),
            _ => {}
        }
    }
    add(&mut value, opaque);
    value
}

/// `value` with every field at `pointers` set to `null`, except those whose own optional fields
/// are listed too (these stay, with their fields null), so one value has every null at once.
pub fn all_null(value: &Value, pointers: &[&str]) -> Value {
    let mut out = value.clone();
    for pointer in pointers {
        let parent_of_another = pointers.iter().any(|p| p.starts_with(&format!("{pointer}/")));
        if !parent_of_another {
            set_null(&mut out, pointer);
        }
    }
    out
}

/// `value` without any of the fields at `pointers`.
pub fn all_missing(value: &Value, pointers: &[&str]) -> Value {
    let mut out = value.clone();
    for pointer in pointers.iter().rev() {
        if out.pointer(pointer).is_some() {
            remove(&mut out, pointer);
        }
    }
    out
}

/// A chunk with one choice, as `timeless` leaves it.
pub fn delta_chunk(id: &str, model: &str, delta: Value, finish_reason: Option<&str>) -> Value {
    serde_json::json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": null}]})
}

/// The usage chunk, as `timeless` leaves it.
pub fn usage_chunk(id: &str, model: &str, usage: Value) -> Value {
    serde_json::json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [], "usage": usage})
}

/// Feeds `events` (SSE name, JSON data) to a new decoder of `provider`: the chunks (timeless)
/// once the stream is done, and the tokens the decoder reports then.
pub fn decode_stream(
    provider: &dyn Provider,
    model: &str,
    events: &[(Option<&str>, Value)],
) -> (Vec<Value>, Option<u64>) {
    let mut decoder = provider.stream_decoder(model);
    let data: Vec<String> = events.iter().map(|(_, v)| v.to_string()).collect();
    let events: Vec<(Option<&str>, &str)> =
        events.iter().zip(&data).map(|((name, _), d)| (*name, d.as_str())).collect();
    let (chunks, done) = feed(decoder.as_mut(), &events);
    assert!(done, "the stream did not end");
    (chunks.into_iter().map(timeless).collect(), decoder.reported_tokens())
}

/// A completion (parsed) as `timeless` leaves it.
pub fn timeless_completion(body: &[u8]) -> Value {
    timeless(serde_json::from_slice(body).unwrap())
}

/// A stream's events: SSE event name and JSON data.
pub type Events = Vec<(Option<&'static str>, Value)>;

/// Optional fields of a stream's events: (event index, JSON pointer).
pub type Fields<'a> = &'a [(usize, &'a str)];

fn per_event(events: &Events, fields: Fields, f: fn(&Value, &[&str]) -> Value) -> Events {
    events
        .iter()
        .enumerate()
        .map(|(i, (name, v))| {
            let pointers: Vec<&str> = fields.iter().filter(|(at, _)| *at == i).map(|(_, p)| *p).collect();
            (*name, f(v, &pointers))
        })
        .collect()
}

/// `events` with every optional field null at once (see `all_null`).
pub fn events_all_null(events: &Events, fields: Fields) -> Events {
    per_event(events, fields, all_null)
}

/// `events` without any of their optional fields.
pub fn events_all_missing(events: &Events, fields: Fields) -> Events {
    per_event(events, fields, all_missing)
}

/// For each optional field in turn: the stream decodes the same with the field `null` as
/// without it. Returns, per field, what it decoded to.
pub fn null_is_missing(
    provider: &dyn Provider,
    model: &str,
    events: &Events,
    fields: Fields,
) -> Vec<(Vec<Value>, Option<u64>)> {
    fields
        .iter()
        .map(|(at, pointer)| {
            let mut nulled = events.clone();
            set_null(&mut nulled[*at].1, pointer);
            let mut missing = events.clone();
            remove(&mut missing[*at].1, pointer);
            let decoded = decode_stream(provider, model, &nulled);
            assert_eq!(decoded, decode_stream(provider, model, &missing), "event {at}, {pointer}");
            decoded
        })
        .collect()
}
