//! A run of `chat.completion.chunk`s, whichever provider they came from, assembled back into
//! one `chat.completion`. The chunks themselves are written by each provider's stream decoder
//! (`crate::providers`), with the shape in `crate::chunk`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::Error;

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

#[derive(Default)]
struct ToolAcc {
    id: Option<String>,
    name: Option<String>,
    arguments: String,
}

#[derive(Default)]
struct ChoiceAcc {
    role: Option<String>,
    content: String,
    reasoning: Option<String>,
    tools: BTreeMap<u64, ToolAcc>,
    finish_reason: Option<String>,
}

#[derive(Serialize)]
struct Assembled {
    id: String,
    object: &'static str,
    created: Value,
    model: String,
    choices: Vec<AssembledChoice>,
    usage: Value,
    #[serde(skip_serializing_if = "Map::is_empty")]
    liter_llm: Map<String, Value>,
}

#[derive(Serialize)]
struct AssembledChoice {
    index: u64,
    message: AssembledMessage,
    finish_reason: Option<String>,
    logprobs: Option<()>,
}

#[derive(Serialize)]
struct AssembledMessage {
    role: String,
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
}

/// Assembles chunks (parsed JSON values, in order) into one `chat.completion`, like LiteLLM's
/// `stream_chunk_builder`: content and `reasoning_content` concatenated (content `null` when
/// empty, reasoning absent when none was streamed), tool calls merged by index
/// (`id` and `name` from the first delta that has them, `arguments` concatenated), the last
/// non-null `finish_reason`, `usage` from the last chunk that has one, `id`/`model`/`created`
/// from the first chunk, and the members of the chunks' `liter_llm` objects (the cache status,
/// the usage chunk's `cost_usd`), a later chunk's winning.
pub fn assemble(chunks: &[Value]) -> Result<Vec<u8>, Error> {
    let Some(first) = chunks.first() else {
        return Err(Error::bad_response("the stream produced no chunks"));
    };
    let mut choices: BTreeMap<u64, ChoiceAcc> = BTreeMap::new();
    let mut usage = Value::Null;
    let mut meta = Map::new();
    for (at, chunk) in chunks.iter().enumerate() {
        let Some(chunk) = chunk.as_object() else {
            return Err(Error::bad_response(format!("stream chunk {at} is not a JSON object")));
        };
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            usage = u.clone();
        }
        if let Some(Value::Object(m)) = chunk.get("liter_llm") {
            meta.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let Some(list) = chunk.get("choices").and_then(Value::as_array) else { continue };
        for c in list {
            let acc = choices.entry(c["index"].as_u64().unwrap_or(0)).or_default();
            if let Some(reason) = c["finish_reason"].as_str() {
                acc.finish_reason = Some(reason.to_owned());
            }
            let delta = &c["delta"];
            if let Some(role) = delta["role"].as_str() {
                acc.role.get_or_insert_with(|| role.to_owned());
            }
            if let Some(t) = delta["content"].as_str() {
                acc.content.push_str(t);
            }
            if let Some(t) = delta["reasoning_content"].as_str() {
                acc.reasoning.get_or_insert_with(String::new).push_str(t);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let tool = acc.tools.entry(call["index"].as_u64().unwrap_or(0)).or_default();
                if tool.id.is_none() {
                    tool.id = call["id"].as_str().map(str::to_owned);
                }
                if tool.name.is_none() {
                    tool.name = text(call, "/function/name").map(str::to_owned);
                }
                if let Some(args) = text(call, "/function/arguments") {
                    tool.arguments.push_str(args);
                }
            }
        }
    }
    if choices.is_empty() {
        choices.insert(0, ChoiceAcc::default());
    }
    let choices = choices
        .into_iter()
        .map(|(index, acc)| {
            let tool_calls: Vec<Value> = acc
                .tools
                .into_values()
                .map(|t| {
                    json!({"id": t.id.unwrap_or_default(), "type": "function",
                           "function": {"name": t.name.unwrap_or_default(), "arguments": t.arguments}})
                })
                .collect();
            AssembledChoice {
                index,
                message: AssembledMessage {
                    role: acc.role.unwrap_or_else(|| "assistant".to_owned()),
                    content: (!acc.content.is_empty()).then_some(acc.content),
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    reasoning_content: acc.reasoning,
                },
                finish_reason: acc.finish_reason,
                logprobs: None,
            }
        })
        .collect();
    let completion = Assembled {
        id: first["id"].as_str().unwrap_or_default().to_owned(),
        object: "chat.completion",
        created: first.get("created").cloned().unwrap_or(Value::Null),
        model: first["model"].as_str().unwrap_or_default().to_owned(),
        choices,
        usage,
        liter_llm: meta,
    };
    serde_json::to_vec(&completion)
        .map_err(|e| Error::internal(format!("could not serialise the assembled completion: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn assembled(chunks: &[Value]) -> Value {
        serde_json::from_slice(&assemble(chunks).unwrap()).unwrap()
    }

    #[test]
    fn the_chunks_meta_is_kept() {
        let a = assembled(&[
            json!({"id": "x", "choices": [{"index": 0, "delta": {"content": "A"}}], "liter_llm": {"cache": "miss"}}),
            json!({"id": "x", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                   "liter_llm": {"cache": "miss", "cost_usd": 0.25}}),
        ]);
        assert_eq!(a["liter_llm"], json!({"cache": "miss", "cost_usd": 0.25}));
    }

    #[test]
    fn assemble_edge_cases() {
        assert_eq!(assemble(&[]).unwrap_err().kind, ErrorKind::BadResponse);
        assert_eq!(assemble(&[json!([1])]).unwrap_err().kind, ErrorKind::BadResponse);
        // Only a usage chunk: one empty choice, usage kept.
        let a = assembled(&[
            json!({"id": "x", "created": 5, "model": "m", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}}),
        ]);
        assert_eq!(a["choices"][0]["message"], json!({"role": "assistant", "content": null}));
        assert_eq!(a["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(a["usage"]["prompt_tokens"], 1);
        // No usage anywhere: null. The last non-null finish_reason wins; n > 1 choices are kept apart.
        let a = assembled(&[
            json!({"id": "x", "created": 5, "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "A"}, "finish_reason": null}, {"index": 1, "delta": {"content": "B"}, "finish_reason": null}]}),
            json!({"id": "x", "created": 5, "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}),
            json!({"id": "x", "created": 5, "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": null}, {"index": 1, "delta": {}, "finish_reason": "stop"}]}),
        ]);
        assert_eq!(a["usage"], Value::Null);
        assert!(a.get("liter_llm").is_none(), "no chunk had liter_llm");
        assert_eq!(a["choices"][0]["finish_reason"], "length");
        assert_eq!(a["choices"][0]["message"]["content"], "A");
        assert_eq!(a["choices"][1]["index"], 1);
        assert_eq!(a["choices"][1]["message"]["content"], "B");
        assert_eq!(a["choices"][1]["finish_reason"], "stop");
    }
}
