//! Streaming: each provider's server-sent events become OpenAI `chat.completion.chunk` JSON, and
//! a run of chunks assembles back into one `chat.completion`.
//!
//! Every chunk has the shape
//! `{"id", "object": "chat.completion.chunk", "created", "model", "choices": [{"index": 0, "delta", "finish_reason", "logprobs": null}]}`;
//! the last one carries `"choices": []` and `"usage"`. The first chunk's delta carries
//! `"role": "assistant"`.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::{Error, ErrorKind, ProviderError};
use crate::provider::provider_error_from;
use crate::response::{unix_now, PromptTokensDetails, Usage};
use crate::sse::SseEvent;

/// What one event produced: chunk JSON texts to forward, and whether the stream is complete.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    pub chunks: Vec<Vec<u8>>,
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    OpenAi,
    Anthropic,
    Cohere,
    Unknown,
}

/// A tool call started by an Anthropic `tool_use` content block.
#[derive(Debug, Clone, Copy)]
struct ToolBlock {
    /// The OpenAI tool-call index (count of tool blocks before it).
    index: usize,
    /// Whether any argument text was sent for it.
    has_arguments: bool,
}

/// Usage as it accumulates over a stream.
#[derive(Debug, Default)]
struct UsageAcc {
    seen: bool,
    input: u64,
    output: u64,
    cache_creation: Option<u64>,
    cache_read: Option<u64>,
}

impl UsageAcc {
    fn to_usage(&self) -> Usage {
        let cache_read = self.cache_read.unwrap_or(0);
        let prompt = self.input + self.cache_creation.unwrap_or(0) + cache_read;
        let mut usage = Usage::new(prompt, self.output);
        if self.cache_read.is_some() || self.cache_creation.is_some() {
            usage.prompt_tokens_details = Some(PromptTokensDetails { cached_tokens: cache_read });
        }
        usage
    }
}

/// Turns one provider's stream, event by event, into OpenAI chunks.
#[derive(Debug)]
pub struct Normalizer {
    provider: &'static str,
    flavour: Flavour,
    id: String,
    model: String,
    created: u64,
    role_sent: bool,
    /// Tool calls started so far.
    tools: usize,
    /// Anthropic: content block index -> its tool call.
    tool_blocks: HashMap<u64, ToolBlock>,
    /// Cohere: the tool call the next `tool-call-delta` without an `index` belongs to.
    current_tool: Option<usize>,
    usage: UsageAcc,
    /// OpenAI: `usage.total_tokens` of the usage chunk.
    openai_reported: Option<u64>,
}

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

fn chunk_json(id: &str, model: &str, created: u64, choice: Option<ChunkChoice>, usage: Option<&Usage>) -> Vec<u8> {
    let chunk =
        Chunk { id, object: "chat.completion.chunk", created, model, choices: choice.into_iter().collect(), usage };
    serde_json::to_vec(&chunk).expect("a chunk always serialises")
}

fn tool_start(index: usize, id: &str, name: &str) -> Value {
    json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]})
}

fn tool_arguments(index: usize, piece: &str) -> Value {
    json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
}

/// The kind of an OpenAI (or OpenAI-compatible) error `type` or `code`; a numeric code is read
/// as an HTTP status.
fn openai_error_kind(value: &Value) -> Option<ErrorKind> {
    if let Some(status) = value.as_u64().and_then(|s| u16::try_from(s).ok()) {
        return (400..600).contains(&status).then(|| ErrorKind::from_status(status));
    }
    Some(match value.as_str()? {
        "invalid_request_error" | "context_length_exceeded" | "invalid_prompt" | "bad_request" => {
            ErrorKind::InvalidRequest
        }
        "authentication_error" | "invalid_api_key" | "invalid_authentication" => ErrorKind::Authentication,
        "permission_error" | "permission_denied" | "insufficient_permissions" => ErrorKind::PermissionDenied,
        "not_found_error" | "model_not_found" | "not_found" => ErrorKind::NotFound,
        "rate_limit_error" | "rate_limit_exceeded" | "insufficient_quota" | "tokens" | "requests" => {
            ErrorKind::RateLimited
        }
        "timeout" | "timeout_error" => ErrorKind::Timeout,
        "server_error"
        | "api_error"
        | "internal_error"
        | "service_unavailable"
        | "overloaded_error"
        | "engine_overloaded" => ErrorKind::ProviderUnavailable,
        _ => return None,
    })
}

fn error_from(provider: &str, kind: ErrorKind, provider_error: ProviderError) -> Error {
    let detail = provider_error.message.clone().unwrap_or_else(|| "an error without a message".to_owned());
    let mut e = Error::new(kind, format!("{provider}: {detail}")).with_provider(provider);
    e.provider_error = Some(provider_error);
    e
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

impl Normalizer {
    /// `provider`: "openai" | "anthropic" | "cohere"; `model`: the model as requested upstream
    /// (used when the provider's stream does not name it).
    pub fn new(provider: &'static str, model: &str) -> Normalizer {
        let flavour = match provider {
            "openai" => Flavour::OpenAi,
            "anthropic" => Flavour::Anthropic,
            "cohere" => Flavour::Cohere,
            _ => Flavour::Unknown,
        };
        let created = unix_now();
        Normalizer {
            provider,
            flavour,
            id: format!("chatcmpl-{provider}-{created}"),
            model: model.to_owned(),
            created,
            role_sent: false,
            tools: 0,
            tool_blocks: HashMap::new(),
            current_tool: None,
            usage: UsageAcc::default(),
            openai_reported: None,
        }
    }

    /// One SSE event in, zero or more chunk JSON texts out; `done` once the stream's terminal
    /// event was seen (later events are ignored by the caller).
    pub fn on_event(&mut self, event: &SseEvent) -> Result<Step, Error> {
        match self.flavour {
            Flavour::OpenAi => self.openai(event),
            Flavour::Anthropic => {
                let Some((kind, value)) = self.decode(event)? else { return Ok(Step::default()) };
                self.anthropic(&kind, &value)
            }
            Flavour::Cohere => {
                let Some((kind, value)) = self.decode(event)? else { return Ok(Step::default()) };
                self.cohere(&kind, &value)
            }
            Flavour::Unknown => {
                Err(Error::internal(format!("there is no stream normaliser for provider '{}'", self.provider))
                    .with_provider(self.provider))
            }
        }
    }

    /// The error to report when the stream ended (EOF) before its terminal event.
    pub fn ended_early(&self) -> Error {
        let missing = match self.flavour {
            Flavour::OpenAi => "no `data: [DONE]` was received",
            Flavour::Anthropic => "no message_stop event was received",
            Flavour::Cohere => "no message-end event was received",
            Flavour::Unknown => "no terminal event was received",
        };
        Error::new(
            ErrorKind::Connection,
            format!("{}: the stream ended before it was complete ({missing})", self.provider),
        )
        .with_provider(self.provider)
    }

    fn bad(&self, what: impl std::fmt::Display) -> Error {
        Error::bad_response(format!("{}: {what}", self.provider)).with_provider(self.provider)
    }

    /// The event's type (the JSON `type`, else the SSE event name) and its JSON body (`Null`
    /// when the data is empty). `None` for an event with neither.
    fn decode(&self, event: &SseEvent) -> Result<Option<(String, Value)>, Error> {
        let data = event.data.trim();
        let value = if data.is_empty() {
            Value::Null
        } else {
            let v: Value = serde_json::from_str(data)
                .map_err(|e| self.bad(format_args!("a stream event is not valid JSON: {e}")))?;
            if !v.is_object() {
                return Err(self.bad("a stream event is not a JSON object"));
            }
            v
        };
        let kind = value.get("type").and_then(Value::as_str).or(event.event.as_deref()).map(str::to_owned);
        Ok(kind.map(|k| (k, value)))
    }

    /// A chunk with one choice; the first such chunk of the stream gets `role: assistant`.
    fn delta(&mut self, mut delta: Value, finish_reason: Option<&'static str>) -> Vec<u8> {
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
        chunk_json(&self.id, &self.model, self.created, Some(choice), None)
    }

    fn usage_chunk(&self, usage: &Usage) -> Vec<u8> {
        chunk_json(&self.id, &self.model, self.created, None, Some(usage))
    }

    fn openai(&mut self, event: &SseEvent) -> Result<Step, Error> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Step { chunks: Vec::new(), done: true });
        }
        if data.is_empty() {
            return Ok(Step::default());
        }
        let value: Value =
            serde_json::from_str(data).map_err(|e| self.bad(format_args!("a stream event is not valid JSON: {e}")))?;
        let Some(object) = value.as_object() else {
            return Err(self.bad("a stream event is not a JSON object"));
        };
        let has_error = object.get("error").is_some_and(|e| !e.is_null());
        if has_error || event.event.as_deref() == Some("error") {
            let provider_error = provider_error_from(&value);
            let kind = openai_error_kind(&Value::from(provider_error.error_type.clone()))
                .or_else(|| provider_error.code.as_ref().and_then(openai_error_kind))
                .unwrap_or(ErrorKind::ProviderUnavailable);
            return Err(error_from(self.provider, kind, provider_error));
        }
        if let Some(total) = value.pointer("/usage/total_tokens").and_then(Value::as_u64) {
            self.openai_reported = Some(total);
        }
        Ok(Step { chunks: vec![event.data.as_bytes().to_vec()], done: false })
    }

    /// The stream's total tokens once the provider reported usage.
    pub fn reported_tokens(&self) -> Option<u64> {
        match self.flavour {
            Flavour::OpenAi => self.openai_reported,
            _ => self.usage.seen.then(|| self.usage.to_usage().total_tokens),
        }
    }

    fn anthropic_usage(&mut self, usage: &Value) {
        let Some(u) = usage.as_object() else { return };
        let n = |k: &str| u.get(k).and_then(Value::as_u64);
        self.usage.seen = true;
        if let Some(v) = n("input_tokens") {
            self.usage.input = v;
        }
        if let Some(v) = n("output_tokens") {
            self.usage.output = v;
        }
        if let Some(v) = n("cache_creation_input_tokens") {
            self.usage.cache_creation = Some(v);
        }
        if let Some(v) = n("cache_read_input_tokens") {
            self.usage.cache_read = Some(v);
        }
    }

    fn anthropic(&mut self, kind: &str, v: &Value) -> Result<Step, Error> {
        let mut chunks = Vec::new();
        match kind {
            "message_start" => {
                let m = &v["message"];
                if let Some(id) = m["id"].as_str() {
                    self.id = id.to_owned();
                }
                if let Some(model) = m["model"].as_str() {
                    self.model = model.to_owned();
                }
                self.anthropic_usage(&m["usage"]);
                chunks.push(self.delta(json!({"content": ""}), None));
            }
            "content_block_start" => {
                let block = &v["content_block"];
                match block["type"].as_str() {
                    Some("text") => {
                        if let Some(t) = block["text"].as_str().filter(|t| !t.is_empty()) {
                            chunks.push(self.delta(json!({"content": t}), None));
                        }
                    }
                    Some("tool_use") => {
                        let index = self.tools;
                        self.tools += 1;
                        let (Some(id), Some(name)) = (block["id"].as_str(), block["name"].as_str()) else {
                            return Err(self.bad("a tool_use block lacks `id` or `name`"));
                        };
                        chunks.push(self.delta(tool_start(index, id, name), None));
                        let mut tool = ToolBlock { index, has_arguments: false };
                        // The input normally arrives in input_json_delta events; a non-empty one
                        // given up front is sent as the first piece.
                        if block["input"].as_object().is_some_and(|i| !i.is_empty()) {
                            chunks.push(self.delta(tool_arguments(index, &block["input"].to_string()), None));
                            tool.has_arguments = true;
                        }
                        if let Some(block_index) = v["index"].as_u64() {
                            self.tool_blocks.insert(block_index, tool);
                        }
                    }
                    // thinking, redacted_thinking, server tool blocks: no place in a chunk.
                    _ => {}
                }
            }
            "content_block_delta" => {
                let d = &v["delta"];
                match d["type"].as_str() {
                    Some("text_delta") => {
                        if let Some(t) = d["text"].as_str().filter(|t| !t.is_empty()) {
                            chunks.push(self.delta(json!({"content": t}), None));
                        }
                    }
                    Some("input_json_delta") => {
                        let piece = d["partial_json"].as_str().unwrap_or_default();
                        if !piece.is_empty() {
                            let tool = v["index"].as_u64().and_then(|i| self.tool_blocks.get_mut(&i));
                            let Some(tool) = tool else {
                                return Err(self.bad("an input_json_delta event names no tool_use block"));
                            };
                            tool.has_arguments = true;
                            let index = tool.index;
                            chunks.push(self.delta(tool_arguments(index, piece), None));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                // A tool called without arguments streams none; send "{}" as the non-streaming
                // adapter does, so the arguments are always JSON.
                if let Some(tool) = v["index"].as_u64().and_then(|i| self.tool_blocks.get_mut(&i)) {
                    if !tool.has_arguments {
                        tool.has_arguments = true;
                        let index = tool.index;
                        chunks.push(self.delta(tool_arguments(index, "{}"), None));
                    }
                }
            }
            "message_delta" => {
                let finish_reason = match v["delta"]["stop_reason"].as_str() {
                    Some("max_tokens") => "length",
                    Some("tool_use") => "tool_calls",
                    Some("refusal") => "content_filter",
                    _ => "stop",
                };
                self.anthropic_usage(&v["usage"]);
                chunks.push(self.delta(json!({}), Some(finish_reason)));
            }
            "message_stop" => {
                if self.usage.seen {
                    let usage = self.usage.to_usage();
                    chunks.push(self.usage_chunk(&usage));
                }
                return Ok(Step { chunks, done: true });
            }
            "error" => {
                let provider_error = provider_error_from(v);
                let kind = crate::providers::anthropic::kind_of_error_type(provider_error.error_type.as_deref())
                    .unwrap_or(ErrorKind::ProviderUnavailable);
                return Err(error_from(self.provider, kind, provider_error));
            }
            // ping and event types added later.
            _ => {}
        }
        Ok(Step { chunks, done: false })
    }

    fn cohere(&mut self, kind: &str, v: &Value) -> Result<Step, Error> {
        let mut chunks = Vec::new();
        let event_index = v["index"].as_u64().map(|i| i as usize);
        match kind {
            "message-start" => {
                if let Some(id) = v["id"].as_str() {
                    self.id = id.to_owned();
                }
                chunks.push(self.delta(json!({"content": ""}), None));
            }
            "content-start" | "content-delta" => {
                if let Some(t) = text(v, "/delta/message/content/text").filter(|t| !t.is_empty()) {
                    chunks.push(self.delta(json!({"content": t}), None));
                }
            }
            "tool-call-start" => {
                let call = &v["delta"]["message"]["tool_calls"];
                let index = event_index.unwrap_or(self.tools);
                self.tools = self.tools.max(index + 1);
                self.current_tool = Some(index);
                let (Some(id), Some(name)) = (call["id"].as_str(), text(call, "/function/name")) else {
                    return Err(self.bad("a tool-call-start event lacks the call's `id` or function `name`"));
                };
                chunks.push(self.delta(tool_start(index, id, name), None));
                if let Some(args) = text(call, "/function/arguments").filter(|a| !a.is_empty()) {
                    chunks.push(self.delta(tool_arguments(index, args), None));
                }
            }
            "tool-call-delta" => {
                let Some(index) = event_index.or(self.current_tool) else {
                    return Err(self.bad("a tool-call-delta event came before any tool-call-start"));
                };
                if let Some(args) = text(v, "/delta/message/tool_calls/function/arguments").filter(|a| !a.is_empty()) {
                    chunks.push(self.delta(tool_arguments(index, args), None));
                }
            }
            "message-end" => {
                let d = &v["delta"];
                let error_text = d["error"].as_str().filter(|e| !e.is_empty());
                let finish_reason = match (d["finish_reason"].as_str(), error_text) {
                    (Some("COMPLETE" | "STOP_SEQUENCE"), _) | (None, None) => "stop",
                    (Some("MAX_TOKENS"), _) => "length",
                    (Some("TOOL_CALL"), _) => "tool_calls",
                    (Some("ERROR_TOXIC"), _) => "content_filter",
                    (reason, error_text) => {
                        let what = match reason {
                            Some(r) => format!("the generation ended with finish_reason {r}"),
                            None => "the generation failed".to_owned(),
                        };
                        let message = match error_text {
                            Some(t) => format!("cohere: {what}: {t}"),
                            None => format!("cohere: {what}"),
                        };
                        let mut e = Error::new(ErrorKind::ProviderUnavailable, message).with_provider(self.provider);
                        e.provider_error = Some(ProviderError {
                            error_type: reason.map(str::to_owned),
                            message: error_text.map(str::to_owned),
                            code: None,
                        });
                        return Err(e);
                    }
                };
                chunks.push(self.delta(json!({}), Some(finish_reason)));
                let usage = &d["usage"];
                let tokens = Some(&usage["tokens"])
                    .filter(|t| t.is_object())
                    .or(Some(&usage["billed_units"]).filter(|t| t.is_object()));
                if let Some(t) = tokens {
                    let n = |k: &str| t[k].as_f64().unwrap_or(0.0) as u64;
                    let usage = Usage::new(n("input_tokens"), n("output_tokens"));
                    chunks.push(self.usage_chunk(&usage));
                }
                return Ok(Step { chunks, done: true });
            }
            // content-end, tool-plan-delta, tool-call-end, citation-start/end, debug, and
            // event types added later.
            _ => {}
        }
        Ok(Step { chunks, done: false })
    }
}

/// Splits `reply` into pieces at word starts, each word keeping the whitespace after it, so the
/// pieces concatenate back to `reply` exactly.
fn word_pieces(reply: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in reply.char_indices() {
        let space = c.is_whitespace();
        if in_space && !space && i > start {
            pieces.push(&reply[start..i]);
            start = i;
        }
        in_space = space;
    }
    if start < reply.len() || pieces.is_empty() {
        pieces.push(&reply[start..]);
    }
    pieces
}

/// The `mock` provider's stream: the reply split into content chunks by words (keeping spaces
/// so they concatenate back exactly), a finish chunk ("stop") and a usage chunk.
pub fn mock_chunks(id: &str, model: &str, reply: &str, usage: &Usage) -> Vec<Vec<u8>> {
    let created = unix_now();
    let choice = |delta: Value, finish_reason: Option<&'static str>| {
        Some(ChunkChoice { index: 0, delta, finish_reason, logprobs: None })
    };
    let mut chunks: Vec<Vec<u8>> = word_pieces(reply)
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let delta = if i == 0 { json!({"role": "assistant", "content": piece}) } else { json!({"content": piece}) };
            chunk_json(id, model, created, choice(delta, None), None)
        })
        .collect();
    chunks.push(chunk_json(id, model, created, choice(json!({}), Some("stop")), None));
    chunks.push(chunk_json(id, model, created, None, Some(usage)));
    chunks
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
}

/// Assembles chunks (parsed JSON values, in order) into one `chat.completion`, like LiteLLM's
/// `stream_chunk_builder`: content concatenated (`null` when empty), tool calls merged by index
/// (`id` and `name` from the first delta that has them, `arguments` concatenated), the last
/// non-null `finish_reason`, `usage` from the last chunk that has one, `id`/`model`/`created`
/// from the first chunk.
pub fn assemble(chunks: &[Value]) -> Result<Vec<u8>, Error> {
    let Some(first) = chunks.first() else {
        return Err(Error::bad_response("the stream produced no chunks"));
    };
    let mut choices: BTreeMap<u64, ChoiceAcc> = BTreeMap::new();
    let mut usage = Value::Null;
    for (at, chunk) in chunks.iter().enumerate() {
        let Some(chunk) = chunk.as_object() else {
            return Err(Error::bad_response(format!("stream chunk {at} is not a JSON object")));
        };
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            usage = u.clone();
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
    };
    serde_json::to_vec(&completion)
        .map_err(|e| Error::internal(format!("could not serialise the assembled completion: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: event.map(str::to_owned), data: data.to_owned() }
    }

    /// Feeds events (name, data) and returns every chunk, parsed, and whether the stream is done.
    fn run(provider: &'static str, model: &str, events: &[(Option<&str>, &str)]) -> (Vec<Value>, bool) {
        let mut n = Normalizer::new(provider, model);
        let mut out = Vec::new();
        for (name, data) in events {
            let step = n.on_event(&ev(*name, data)).unwrap();
            out.extend(step.chunks.iter().map(|c| serde_json::from_slice::<Value>(c).unwrap()));
            if step.done {
                return (out, true);
            }
        }
        (out, false)
    }

    fn assembled(chunks: &[Value]) -> Value {
        serde_json::from_slice(&assemble(chunks).unwrap()).unwrap()
    }

    fn check_shape(chunks: &[Value]) {
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

    // ---- openai ----

    #[test]
    fn openai_passes_chunks_through_unchanged() {
        let raw = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}], "extra": 1}"#;
        let mut n = Normalizer::new("openai", "gpt-4o");
        let step = n.on_event(&ev(None, raw)).unwrap();
        assert_eq!(step, Step { chunks: vec![raw.as_bytes().to_vec()], done: false });
        assert_eq!(n.on_event(&ev(None, "[DONE]")).unwrap(), Step { chunks: vec![], done: true });
        assert_eq!(n.on_event(&ev(None, "")).unwrap(), Step::default());
    }

    #[test]
    fn openai_round_trip_with_tool_calls_and_usage() {
        let events = [
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29}}"#,
            "[DONE]",
        ];
        let events: Vec<_> = events.iter().map(|d| (None, *d)).collect();
        let (chunks, done) = run("openai", "gpt-4o", &events);
        assert!(done);
        assert_eq!(chunks.len(), 6);
        let a = assembled(&chunks);
        assert_eq!(a["id"], "c1");
        assert_eq!(a["created"], 7);
        assert_eq!(a["model"], "gpt-4o-2024");
        assert_eq!(a["object"], "chat.completion");
        let m = &a["choices"][0]["message"];
        assert_eq!(m["role"], "assistant");
        assert_eq!(m["content"], Value::Null);
        assert_eq!(
            m["tool_calls"],
            json!([
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
            ])
        );
        assert_eq!(a["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(a["usage"], json!({"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}));
    }

    #[test]
    fn openai_errors_mid_stream() {
        let mut n = Normalizer::new("openai", "gpt-4o");
        let e = n
            .on_event(&ev(
                None,
                r#"{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}"#,
            ))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.message, "openai: Rate limit reached");
        assert_eq!(e.provider.as_deref(), Some("openai"));
        let pe = e.provider_error.unwrap();
        assert_eq!(pe.error_type.as_deref(), Some("requests"));
        assert_eq!(pe.code, Some(json!("rate_limit_exceeded")));

        let e = n
            .on_event(&ev(None, r#"{"error": {"message": "boom", "type": null, "code": "server_error"}}"#))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::ProviderUnavailable);
        // OpenAI-compatible servers: numeric codes are statuses; a bare string error.
        let e = n.on_event(&ev(None, r#"{"error": {"message": "too long", "code": 400}}"#)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        let e = n.on_event(&ev(None, r#"{"error": "something broke"}"#)).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::ProviderUnavailable, "openai: something broke"));
        let e = n.on_event(&ev(Some("error"), r#"{"message": "overloaded", "type": "server_error"}"#)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ProviderUnavailable);
        // `"error": null` is not an error.
        let ok = r#"{"id":"x","choices":[],"error":null}"#;
        assert_eq!(n.on_event(&ev(None, ok)).unwrap().chunks, vec![ok.as_bytes().to_vec()]);
    }

    #[test]
    fn openai_rejects_malformed_events() {
        let mut n = Normalizer::new("openai", "gpt-4o");
        for bad in ["{\"id\": ", "[1, 2]", "\"text\"", "<html>"] {
            let e = n.on_event(&ev(None, bad)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadResponse, "{bad}");
            assert!(e.message.starts_with("openai: "), "{}", e.message);
            assert_eq!(e.provider.as_deref(), Some("openai"));
        }
    }

    // ---- anthropic ----

    const ANTHROPIC_TEXT: &[(Option<&str>, &str)] = &[
        (
            Some("message_start"),
            r#"{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":10,"cache_read_input_tokens":100,"output_tokens":1}}}"#,
        ),
        (
            Some("content_block_start"),
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        (Some("ping"), r#"{"type": "ping"}"#),
        (
            Some("content_block_delta"),
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
        ),
        (
            Some("content_block_delta"),
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", world!"}}"#,
        ),
        (Some("content_block_stop"), r#"{"type":"content_block_stop","index":0}"#),
        (
            Some("message_delta"),
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
        ),
        (Some("message_stop"), r#"{"type":"message_stop"}"#),
    ];

    #[test]
    fn anthropic_text_stream() {
        let (chunks, done) = run("anthropic", "claude-sonnet-4-5", ANTHROPIC_TEXT);
        assert!(done);
        check_shape(&chunks);
        assert_eq!(chunks.len(), 5, "{chunks:?}");
        assert_eq!(chunks[0]["id"], "msg_01");
        assert_eq!(chunks[0]["model"], "claude-sonnet-4-5-20250929");
        assert_eq!(chunks[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
        assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "Hello"}));
        assert_eq!(chunks[2]["choices"][0]["delta"], json!({"content": ", world!"}));
        assert_eq!(chunks[3]["choices"][0]["delta"], json!({}));
        assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[4]["choices"], json!([]));
        assert_eq!(
            chunks[4]["usage"],
            json!({"prompt_tokens": 135, "completion_tokens": 15, "total_tokens": 150, "prompt_tokens_details": {"cached_tokens": 100}})
        );
        let a = assembled(&chunks);
        assert_eq!(a["choices"][0]["message"], json!({"role": "assistant", "content": "Hello, world!"}));
        assert_eq!(a["choices"][0]["finish_reason"], "stop");
        assert_eq!(a["usage"]["total_tokens"], 150);
        assert_eq!(a["id"], "msg_01");
    }

    #[test]
    fn anthropic_tool_use_stream() {
        // Text block 0, then tool blocks at content indexes 1 and 2: tool-call indexes 0 and 1.
        let events: &[(Option<&str>, &str)] = &[
            (
                Some("message_start"),
                r#"{"type":"message_start","message":{"id":"msg_02","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":400,"output_tokens":1}}}"#,
            ),
            (
                Some("content_block_start"),
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Let me check."}}"#,
            ),
            (Some("content_block_stop"), r#"{"type":"content_block_stop","index":0}"#),
            (
                Some("content_block_start"),
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}"#,
            ),
            (
                Some("content_block_delta"),
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            ),
            (
                Some("content_block_delta"),
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"San Fra"}}"#,
            ),
            (
                Some("content_block_delta"),
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ncisco, CA\"}"}}"#,
            ),
            (Some("content_block_stop"), r#"{"type":"content_block_stop","index":1}"#),
            (
                Some("content_block_start"),
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_02","name":"get_time","input":{}}}"#,
            ),
            (Some("content_block_stop"), r#"{"type":"content_block_stop","index":2}"#),
            (
                Some("message_delta"),
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#,
            ),
            (Some("message_stop"), r#"{"type":"message_stop"}"#),
        ];
        let (chunks, done) = run("anthropic", "claude", events);
        assert!(done);
        check_shape(&chunks);
        assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "Let me check."}));
        assert_eq!(
            chunks[2]["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})
        );
        assert_eq!(
            chunks[3]["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"location\": \"San Fra"}}]})
        );
        assert_eq!(chunks[5]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
        // A tool without streamed input gets "{}".
        assert_eq!(
            chunks[6]["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]})
        );
        assert_eq!(chunks[7]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(chunks[8]["usage"], json!({"prompt_tokens": 400, "completion_tokens": 89, "total_tokens": 489}));
        assert_eq!(chunks.len(), 9);
        let a = assembled(&chunks);
        let m = &a["choices"][0]["message"];
        assert_eq!(m["content"], "Let me check.");
        assert_eq!(
            m["tool_calls"],
            json!([
                {"id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\": \"San Francisco, CA\"}"}},
                {"id": "toolu_02", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
            ])
        );
        let args: Value = serde_json::from_str(m["tool_calls"][0]["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"location": "San Francisco, CA"}));
        assert_eq!(a["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn anthropic_finish_reasons() {
        for (stop, want) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("pause_turn", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
        ] {
            let mut n = Normalizer::new("anthropic", "claude");
            let data = format!(
                r#"{{"type":"message_delta","delta":{{"stop_reason":"{stop}"}},"usage":{{"output_tokens":3}}}}"#
            );
            let step = n.on_event(&ev(Some("message_delta"), &data)).unwrap();
            assert!(!step.done);
            let c: Value = serde_json::from_slice(&step.chunks[0]).unwrap();
            assert_eq!(c["choices"][0]["finish_reason"], want, "{stop}");
            // The stream named no model: the requested one is used.
            assert_eq!(c["model"], "claude");
        }
    }

    #[test]
    fn anthropic_message_delta_usage_overrides_cumulative_counts() {
        let events: &[(Option<&str>, &str)] = &[
            (
                Some("message_start"),
                r#"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":5,"output_tokens":1}}}"#,
            ),
            (
                Some("message_delta"),
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":7,"cache_read_input_tokens":3,"cache_creation_input_tokens":null,"output_tokens":4}}"#,
            ),
            (Some("message_stop"), r#"{"type":"message_stop"}"#),
        ];
        let (chunks, _) = run("anthropic", "c", events);
        assert_eq!(
            chunks.last().unwrap()["usage"],
            json!({"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14, "prompt_tokens_details": {"cached_tokens": 3}})
        );
    }

    #[test]
    fn anthropic_error_events() {
        let table = [
            ("overloaded_error", ErrorKind::ProviderUnavailable),
            ("api_error", ErrorKind::ProviderUnavailable),
            ("rate_limit_error", ErrorKind::RateLimited),
            ("invalid_request_error", ErrorKind::InvalidRequest),
            ("authentication_error", ErrorKind::Authentication),
            ("billing_error", ErrorKind::PermissionDenied),
            ("not_found_error", ErrorKind::NotFound),
            ("timeout_error", ErrorKind::Timeout),
            ("something_new", ErrorKind::ProviderUnavailable),
        ];
        for (ty, kind) in table {
            let mut n = Normalizer::new("anthropic", "claude");
            n.on_event(&ev(Some("message_start"), r#"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":1,"output_tokens":1}}}"#)).unwrap();
            let data = format!(r#"{{"type": "error", "error": {{"type": "{ty}", "message": "Overloaded"}}}}"#);
            let e = n.on_event(&ev(Some("error"), &data)).unwrap_err();
            assert_eq!(e.kind, kind, "{ty}");
            assert_eq!(e.message, "anthropic: Overloaded");
            assert_eq!(e.provider.as_deref(), Some("anthropic"));
            assert_eq!(e.provider_error.unwrap().error_type.as_deref(), Some(ty));
        }
    }

    #[test]
    fn anthropic_ignores_unknown_and_thinking_events() {
        let mut n = Normalizer::new("anthropic", "claude");
        for (name, data) in [
            (Some("ping"), r#"{"type": "ping"}"#),
            (Some("ping"), ""),
            (None, r#"{"type": "future_event", "x": 1}"#),
            (
                Some("content_block_start"),
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            ),
            (
                Some("content_block_delta"),
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            ),
            (
                Some("content_block_delta"),
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
            ),
            (Some("content_block_stop"), r#"{"type":"content_block_stop","index":0}"#),
        ] {
            assert_eq!(n.on_event(&ev(name, data)).unwrap(), Step::default(), "{data}");
        }
        // The event name is used when the JSON has no type.
        let step = n.on_event(&ev(Some("message_stop"), "{}")).unwrap();
        assert!(step.done);
    }

    #[test]
    fn anthropic_rejects_malformed_events() {
        let mut n = Normalizer::new("anthropic", "claude");
        let e = n.on_event(&ev(Some("content_block_delta"), r#"{"type":"content_block_delta","#)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert!(e.message.starts_with("anthropic: a stream event is not valid JSON"), "{}", e.message);
        let e = n.on_event(&ev(Some("message_start"), "[]")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        let e = n
            .on_event(&ev(
                None,
                r#"{"type":"content_block_delta","index":5,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
            ))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
    }

    // ---- cohere ----

    #[test]
    fn cohere_text_stream() {
        let events: &[(Option<&str>, &str)] = &[
            (
                Some("message-start"),
                r#"{"id":"29f14a5a-11de-4cae-9800-25e4747408ea","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}"#,
            ),
            (
                Some("content-start"),
                r#"{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}"#,
            ),
            (
                Some("content-delta"),
                r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hi"}}},"logprobs":null}"#,
            ),
            (
                Some("content-delta"),
                r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":" there"}}}}"#,
            ),
            (Some("content-end"), r#"{"type":"content-end","index":0}"#),
            (
                Some("message-end"),
                r#"{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":5,"output_tokens":2},"tokens":{"input_tokens":71,"output_tokens":2}}}}"#,
            ),
        ];
        let (chunks, done) = run("cohere", "command-r-plus", events);
        assert!(done);
        check_shape(&chunks);
        assert_eq!(chunks.len(), 5);
        assert_eq!(chunks[0]["id"], "29f14a5a-11de-4cae-9800-25e4747408ea");
        assert_eq!(chunks[0]["model"], "command-r-plus");
        assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[4]["usage"], json!({"prompt_tokens": 71, "completion_tokens": 2, "total_tokens": 73}));
        let a = assembled(&chunks);
        assert_eq!(a["choices"][0]["message"], json!({"role": "assistant", "content": "Hi there"}));
        assert_eq!(a["model"], "command-r-plus");
    }

    #[test]
    fn cohere_tool_call_stream() {
        let events: &[(Option<&str>, &str)] = &[
            (None, r#"{"id":"c-2","type":"message-start","delta":{"message":{"role":"assistant"}}}"#),
            (None, r#"{"type":"tool-plan-delta","delta":{"message":{"tool_plan":"I will look up the weather."}}}"#),
            (
                None,
                r#"{"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"get_weather_a1","type":"function","function":{"name":"get_weather","arguments":""}}}}}"#,
            ),
            (
                None,
                r#"{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\n    \"loc"}}}}}"#,
            ),
            (
                None,
                r#"{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"ation\": \"Toronto\"\n}"}}}}}"#,
            ),
            (None, r#"{"type":"tool-call-end","index":0}"#),
            (
                None,
                r#"{"type":"tool-call-start","index":1,"delta":{"message":{"tool_calls":{"id":"get_weather_b2","type":"function","function":{"name":"get_weather","arguments":"{\"location\":"}}}}}"#,
            ),
            (
                None,
                r#"{"type":"tool-call-delta","delta":{"message":{"tool_calls":{"function":{"arguments":"\"Oslo\"}"}}}}}"#,
            ),
            (None, r#"{"type":"tool-call-end","index":1}"#),
            (
                None,
                r#"{"type":"citation-start","index":0,"delta":{"message":{"citations":{"start":0,"end":1,"text":"x"}}}}"#,
            ),
            (None, r#"{"type":"citation-end","index":0}"#),
            (None, r#"{"type":"debug","prompt":"..."}"#),
            (
                None,
                r#"{"type":"message-end","delta":{"finish_reason":"TOOL_CALL","usage":{"billed_units":{"input_tokens":37,"output_tokens":28}}}}"#,
            ),
        ];
        let (chunks, done) = run("cohere", "command-a", events);
        assert!(done);
        check_shape(&chunks);
        assert_eq!(
            chunks[1]["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "id": "get_weather_a1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})
        );
        assert_eq!(
            chunks.last().unwrap()["usage"],
            json!({"prompt_tokens": 37, "completion_tokens": 28, "total_tokens": 65})
        );
        let a = assembled(&chunks);
        let m = &a["choices"][0]["message"];
        assert_eq!(m["content"], Value::Null);
        assert_eq!(m["tool_calls"][0]["function"]["arguments"], "{\n    \"location\": \"Toronto\"\n}");
        assert_eq!(m["tool_calls"][1]["id"], "get_weather_b2");
        assert_eq!(m["tool_calls"][1]["function"]["arguments"], "{\"location\":\"Oslo\"}");
        assert_eq!(a["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn cohere_finish_reasons_and_errors() {
        for (reason, want) in [
            ("COMPLETE", "stop"),
            ("STOP_SEQUENCE", "stop"),
            ("MAX_TOKENS", "length"),
            ("TOOL_CALL", "tool_calls"),
            ("ERROR_TOXIC", "content_filter"),
        ] {
            let mut n = Normalizer::new("cohere", "command-r");
            let data = format!(r#"{{"type":"message-end","delta":{{"finish_reason":"{reason}"}}}}"#);
            let step = n.on_event(&ev(None, &data)).unwrap();
            assert!(step.done);
            // No usage in the event: no usage chunk.
            assert_eq!(step.chunks.len(), 1);
            let c: Value = serde_json::from_slice(&step.chunks[0]).unwrap();
            assert_eq!(c["choices"][0]["finish_reason"], want, "{reason}");
        }
        for reason in ["ERROR", "TIMEOUT"] {
            let mut n = Normalizer::new("cohere", "command-r");
            let data = format!(
                r#"{{"type":"message-end","delta":{{"finish_reason":"{reason}","error":"internal failure"}}}}"#
            );
            let e = n.on_event(&ev(None, &data)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::ProviderUnavailable);
            assert_eq!(
                e.message,
                format!("cohere: the generation ended with finish_reason {reason}: internal failure")
            );
            assert_eq!(e.provider.as_deref(), Some("cohere"));
            let pe = e.provider_error.unwrap();
            assert_eq!(pe.error_type.as_deref(), Some(reason));
            assert_eq!(pe.message.as_deref(), Some("internal failure"));
        }
    }

    #[test]
    fn cohere_rejects_malformed_events() {
        let mut n = Normalizer::new("cohere", "command-r");
        let e = n.on_event(&ev(None, "{not json")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert!(e.message.starts_with("cohere: "), "{}", e.message);
        let e = n
            .on_event(&ev(
                None,
                r#"{"type":"tool-call-delta","delta":{"message":{"tool_calls":{"function":{"arguments":"x"}}}}}"#,
            ))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert_eq!(n.on_event(&ev(None, r#"{"type":"brand-new-event"}"#)).unwrap(), Step::default());
    }

    // ---- ending, unknown providers ----

    #[test]
    fn ended_early_is_a_connection_error() {
        for (provider, missing) in [("openai", "[DONE]"), ("anthropic", "message_stop"), ("cohere", "message-end")] {
            let e = Normalizer::new(provider, "m").ended_early();
            assert_eq!(e.kind, ErrorKind::Connection);
            assert!(
                e.message.starts_with(&format!("{provider}: the stream ended before it was complete (")),
                "{}",
                e.message
            );
            assert!(e.message.contains(missing), "{}", e.message);
            assert_eq!(e.provider.as_deref(), Some(provider));
            assert_eq!(e.status, None);
        }
    }

    #[test]
    fn unknown_provider_is_an_internal_error() {
        let e = Normalizer::new("mock", "m").on_event(&ev(None, "{}")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
    }

    #[test]
    fn created_is_shared_by_every_chunk() {
        let (chunks, _) = run("anthropic", "claude", ANTHROPIC_TEXT);
        check_shape(&chunks);
    }

    // ---- mock and assemble ----

    #[test]
    fn mock_chunks_concatenate_back_exactly() {
        let usage = Usage::new(3, 10);
        for reply in [
            crate::providers::mock::DEFAULT_REPLY,
            "pong",
            "",
            "  leading and trailing  ",
            "tabs\tand\nnew lines,  double  spaces",
            "héllo wörld — ünïcode 🎉 done",
        ] {
            let chunks: Vec<Value> = mock_chunks("chatcmpl-mock-1", "m", reply, &usage)
                .iter()
                .map(|c| serde_json::from_slice(c).unwrap())
                .collect();
            check_shape(&chunks);
            let n = chunks.len();
            assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
            assert_eq!(
                chunks[n - 1]["usage"],
                json!({"prompt_tokens": 3, "completion_tokens": 10, "total_tokens": 13})
            );
            let joined: String =
                chunks[..n - 2].iter().map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap()).collect();
            assert_eq!(joined, reply);
            let a = assembled(&chunks);
            let want = if reply.is_empty() { Value::Null } else { Value::from(reply) };
            assert_eq!(a["choices"][0]["message"]["content"], want, "{reply:?}");
            assert_eq!(a["choices"][0]["finish_reason"], "stop");
            assert_eq!(a["id"], "chatcmpl-mock-1");
            assert_eq!(a["model"], "m");
            assert_eq!(a["object"], "chat.completion");
            assert_eq!(a["usage"]["total_tokens"], 13);
            assert!(a["choices"][0]["message"].get("tool_calls").is_none());
        }
        let chunks = mock_chunks("i", "m", crate::providers::mock::DEFAULT_REPLY, &usage);
        // "This ", "is ", "a ", "mock ", "response ", "from ", "liter-llm." + finish + usage
        assert_eq!(chunks.len(), 9);
    }

    #[test]
    fn word_pieces_keep_whitespace() {
        assert_eq!(word_pieces("a b  c"), ["a ", "b  ", "c"]);
        assert_eq!(word_pieces(" a"), [" ", "a"]);
        assert_eq!(word_pieces(""), [""]);
        assert_eq!(word_pieces("a "), ["a "]);
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
        assert_eq!(a["choices"][0]["finish_reason"], "length");
        assert_eq!(a["choices"][0]["message"]["content"], "A");
        assert_eq!(a["choices"][1]["index"], 1);
        assert_eq!(a["choices"][1]["message"]["content"], "B");
        assert_eq!(a["choices"][1]["finish_reason"], "stop");
    }
}
