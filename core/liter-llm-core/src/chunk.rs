//! The OpenAI `chat.completion.chunk` that every stream decoder writes, whatever the provider.
//!
//! Every chunk has the shape
//! `{"id", "object": "chat.completion.chunk", "created", "model", "choices": [{"index": 0, "delta", "finish_reason", "logprobs": null}]}`;
//! the last one carries `"choices": []` and `"usage"`. The first chunk's delta carries
//! `"role": "assistant"`.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::response::{unix_now, Usage};

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a Usage>,
}

#[derive(Serialize)]
struct ChunkChoice {
    index: u32,
    delta: Value,
    finish_reason: Option<&'static str>,
    logprobs: Option<()>,
}

/// Writes the chunks of one stream: all share `id`, `model` and `created`, and the first delta
/// gets `role: assistant`.
#[derive(Debug)]
pub struct ChunkWriter {
    id: String,
    model: String,
    created: u64,
    role_sent: bool,
}

impl ChunkWriter {
    /// A writer created now, with the id `chatcmpl-<provider>-<created>` until `set_id`.
    pub fn new(provider: &str, model: &str) -> ChunkWriter {
        let created = unix_now();
        ChunkWriter { id: format!("chatcmpl-{provider}-{created}"), model: model.to_owned(), created, role_sent: false }
    }

    /// The id the provider gave its answer.
    pub fn set_id(&mut self, id: &str) {
        id.clone_into(&mut self.id);
    }

    /// The model the provider says answered.
    pub fn set_model(&mut self, model: &str) {
        model.clone_into(&mut self.model);
    }

    /// A chunk with one choice; the first such chunk of the stream gets `role: assistant`.
    pub fn delta(&mut self, mut delta: Value, finish_reason: Option<&'static str>) -> Vec<u8> {
        if !self.role_sent {
            self.role_sent = true;
            if let Value::Object(m) = &mut delta {
                let mut with_role = Map::with_capacity(m.len() + 1);
                with_role.insert("role".into(), "assistant".into());
                with_role.append(m);
                *m = with_role;
            }
        }
        let choice = ChunkChoice { index: 0, delta, finish_reason, logprobs: None };
        self.write(vec![choice], None)
    }

    /// The last chunk: no choices, the usage.
    pub fn usage(&self, usage: &Usage) -> Vec<u8> {
        self.write(Vec::new(), Some(usage))
    }

    fn write(&self, choices: Vec<ChunkChoice>, usage: Option<&Usage>) -> Vec<u8> {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        serde_json::to_vec(&chunk).expect("a chunk always serialises")
    }
}

/// The delta of a piece of text.
pub fn content(text: &str) -> Value {
    json!({"content": text})
}

/// The delta of a piece of the model's reasoning (`reasoning_content`, as DeepSeek and LiteLLM
/// name it).
pub fn reasoning(text: &str) -> Value {
    json!({"reasoning_content": text})
}

/// The delta that starts tool call `index` (its arguments follow in `tool_arguments` deltas).
pub fn tool_start(index: usize, id: &str, name: &str) -> Value {
    json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]})
}

/// The delta of a piece of tool call `index`'s arguments.
pub fn tool_arguments(index: usize, piece: &str) -> Value {
    json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(chunk: &[u8]) -> Value {
        serde_json::from_slice(chunk).unwrap()
    }

    #[test]
    fn chunks_share_id_model_and_created_and_the_first_delta_has_the_role() {
        let mut w = ChunkWriter::new("p", "m");
        let first = parsed(&w.delta(content("a"), None));
        assert_eq!(first["id"], format!("chatcmpl-p-{}", first["created"]));
        w.set_id("x-1");
        w.set_model("m-2");
        let second = parsed(&w.delta(json!({}), Some("stop")));
        let last = parsed(&w.usage(&Usage::new(2, 3)));
        assert_eq!(
            first["choices"],
            json!([{"index": 0, "delta": {"role": "assistant", "content": "a"}, "finish_reason": null, "logprobs": null}])
        );
        assert_eq!(
            second,
            json!({"id": "x-1", "object": "chat.completion.chunk", "created": first["created"], "model": "m-2",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": null}]})
        );
        assert_eq!(
            last,
            json!({"id": "x-1", "object": "chat.completion.chunk", "created": first["created"], "model": "m-2",
                   "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}})
        );
    }

    #[test]
    fn tool_call_deltas() {
        assert_eq!(
            tool_start(1, "c", "f"),
            json!({"tool_calls": [{"index": 1, "id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}]})
        );
        assert_eq!(tool_arguments(0, "{}"), json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}));
    }
}
