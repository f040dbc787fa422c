//! Anthropic Messages API (`POST /v1/messages`).

use std::collections::HashMap;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::chunk::{self, ChunkWriter};
use crate::error::{Error, ErrorKind, ProviderError, Result};
use crate::provider::{
    bad_response, check_fields, copy_native, key_header, provider_error_from, reasoning_budget, reported_error,
    stream_ended_early, to_body, typed_event, EnvSettings, Provider, Step, StreamDecoder,
};
use crate::request::{ChatRequest, Content, ContentPart, Message, ResponseFormat, ToolChoice};
use crate::response::{ChatCompletion, FunctionOut, PromptTokensDetails, ToolCallOut, Usage};
use crate::secret::Secret;
use crate::sse::SseEvent;

pub struct Anthropic;

pub const API_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; this is used when the caller gives none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

static ENV: EnvSettings = EnvSettings {
    key_vars: &["ANTHROPIC_API_KEY"],
    base_url_vars: &["ANTHROPIC_BASE_URL"],
    default_base_url: "https://api.anthropic.com",
};

const MAPPED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "n",
    "stream",
    "stream_options",
    "response_format",
    "reasoning_effort",
];
const NATIVE: &[&str] = &["top_k", "metadata", "thinking", "service_tier", "output_config"];

const NAME: &str = "anthropic";

fn invalid(message: String) -> Error {
    Error::invalid_request(message).with_provider(NAME)
}

/// A message being assembled; consecutive messages of one role are merged.
struct Turn {
    role: &'static str,
    content: TurnContent,
}

enum TurnContent {
    Text(String),
    Blocks(Vec<Value>),
}

impl TurnContent {
    fn into_blocks(self) -> Vec<Value> {
        match self {
            TurnContent::Text(t) => vec![json!({"type": "text", "text": t})],
            TurnContent::Blocks(b) => b,
        }
    }

    fn into_value(self) -> Value {
        match self {
            TurnContent::Text(t) => Value::String(t),
            TurnContent::Blocks(b) => Value::Array(b),
        }
    }
}

fn push(turns: &mut Vec<Turn>, role: &'static str, content: TurnContent) {
    match turns.last_mut() {
        Some(last) if last.role == role => {
            let previous = std::mem::replace(&mut last.content, TurnContent::Blocks(Vec::new()));
            let mut blocks = previous.into_blocks();
            blocks.extend(content.into_blocks());
            last.content = TurnContent::Blocks(blocks);
        }
        _ => turns.push(Turn { role, content }),
    }
}

fn image_block(url: &str) -> Value {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((media_type, data)) = rest.split_once(";base64,") {
            return json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}});
        }
    }
    json!({"type": "image", "source": {"type": "url", "url": url}})
}

/// The `cache_control` the caller set on an object (a message, a content part, a tool), passed
/// to Anthropic as it is (`{"type": "ephemeral"}`, with an optional `ttl`); `where_` names the
/// object for the error when it is not an object.
fn cache_control(object: Option<&Value>, where_: &str) -> Result<Option<Value>> {
    match object.and_then(|o| o.get("cache_control")) {
        None | Some(Value::Null) => Ok(None),
        Some(c @ Value::Object(_)) => Ok(Some(c.clone())),
        Some(_) => {
            Err(invalid(format!("`{where_}.cache_control` must be an object such as {{\"type\": \"ephemeral\"}}")))
        }
    }
}

/// Content as Anthropic blocks (a plain string stays a string unless it must carry
/// `cache_control`). `raw` is the message as the caller sent it, where each part's and the
/// message's `cache_control` are read.
fn user_content(content: &Content, at: usize, raw: Option<&Value>) -> Result<TurnContent> {
    with_message_cache_control(content_blocks(content, at, raw)?, at, raw)
}

/// `user_content` without the message-level `cache_control`.
fn content_blocks(content: &Content, at: usize, raw: Option<&Value>) -> Result<TurnContent> {
    Ok(match content {
        Content::Text(t) => TurnContent::Text(t.clone()),
        Content::Parts(parts) => {
            let raw_parts = raw.and_then(|m| m.get("content")).and_then(Value::as_array);
            let mut blocks = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let mut block = match part {
                    ContentPart::Text(t) => json!({"type": "text", "text": t}),
                    ContentPart::ImageUrl(url) => image_block(url),
                    ContentPart::Other(kind) => {
                        return Err(invalid(format!(
                            "`messages[{at}]`: anthropic has no place for content parts of type '{kind}'"
                        )))
                    }
                };
                let part_raw = raw_parts.and_then(|p| p.get(j));
                if let Some(c) = cache_control(part_raw, &format!("messages[{at}].content[{j}]"))? {
                    block["cache_control"] = c;
                }
                blocks.push(block);
            }
            TurnContent::Blocks(blocks)
        }
    })
}

/// A message-level `cache_control` (LiteLLM's shorthand) marks the message's last block.
fn with_message_cache_control(content: TurnContent, at: usize, raw: Option<&Value>) -> Result<TurnContent> {
    let Some(c) = cache_control(raw, &format!("messages[{at}]"))? else {
        return Ok(content);
    };
    let mut blocks = content.into_blocks();
    if let Some(last) = blocks.last_mut() {
        last["cache_control"] = c;
    }
    Ok(TurnContent::Blocks(blocks))
}

/// The Anthropic `system` (a string, or text blocks when one carries `cache_control`) and
/// `messages`.
fn build_messages(request: &ChatRequest) -> Result<(Option<Value>, Vec<Value>)> {
    let mut system: Vec<Value> = Vec::new();
    let mut system_cached = false;
    let mut system_texts: Vec<String> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    let raw_messages = request.body().get("messages").and_then(Value::as_array);
    for (at, message) in request.params.messages.iter().enumerate() {
        let raw = raw_messages.and_then(|m| m.get(at));
        match message {
            Message::System { content } | Message::Developer { content } => {
                // Only text has a place in the system prompt; other parts are left out.
                let raw_parts = raw.and_then(|m| m.get("content")).and_then(Value::as_array);
                let mut blocks = Vec::new();
                match content {
                    Content::Text(t) => blocks.push(json!({"type": "text", "text": t})),
                    Content::Parts(parts) => {
                        for (j, part) in parts.iter().enumerate() {
                            let ContentPart::Text(t) = part else { continue };
                            let mut block = json!({"type": "text", "text": t});
                            let part_raw = raw_parts.and_then(|p| p.get(j));
                            if let Some(c) = cache_control(part_raw, &format!("messages[{at}].content[{j}]"))? {
                                block["cache_control"] = c;
                            }
                            blocks.push(block);
                        }
                    }
                }
                let blocks = with_message_cache_control(TurnContent::Blocks(blocks), at, raw)?.into_blocks();
                system_cached |= blocks.iter().any(|b| b.get("cache_control").is_some());
                system.extend(blocks);
                system_texts.push(content.text());
            }
            Message::User { content } => push(&mut turns, "user", user_content(content, at, raw)?),
            Message::Assistant { content, tool_calls } => {
                let calls = tool_calls.as_deref().unwrap_or_default();
                let text = content.as_ref().map(Content::text).unwrap_or_default();
                if calls.is_empty() {
                    push(&mut turns, "assistant", with_message_cache_control(TurnContent::Text(text), at, raw)?);
                    continue;
                }
                let mut blocks = Vec::with_capacity(calls.len() + 1);
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                for (i, call) in calls.iter().enumerate() {
                    let input: Value = serde_json::from_str(&call.function.arguments).map_err(|e| {
                        invalid(format!("`messages[{at}].tool_calls[{i}].function.arguments` is not valid JSON: {e}"))
                    })?;
                    if !input.is_object() {
                        return Err(invalid(format!(
                            "`messages[{at}].tool_calls[{i}].function.arguments` must be a JSON object for anthropic"
                        )));
                    }
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.function.name, "input": input}));
                }
                push(&mut turns, "assistant", with_message_cache_control(TurnContent::Blocks(blocks), at, raw)?);
            }
            Message::Tool { content, tool_call_id } => {
                // The parts keep their own cache_control; a message-level one marks the result.
                let result_content = match content_blocks(content, at, raw)? {
                    TurnContent::Text(t) => Value::String(t),
                    TurnContent::Blocks(b) => Value::Array(b),
                };
                let mut block = json!({"type": "tool_result", "tool_use_id": tool_call_id, "content": result_content});
                if let Some(c) = cache_control(raw, &format!("messages[{at}]"))? {
                    block["cache_control"] = c;
                }
                push(&mut turns, "user", TurnContent::Blocks(vec![block]));
            }
        }
    }
    let messages = turns.into_iter().map(|t| json!({"role": t.role, "content": t.content.into_value()})).collect();
    let system = if system_cached {
        Some(Value::Array(system))
    } else {
        (!system_texts.is_empty()).then(|| Value::String(system_texts.join("\n\n")))
    };
    Ok((system, messages))
}

impl Provider for Anthropic {
    fn name(&self) -> &'static str {
        NAME
    }

    fn env(&self) -> Option<&EnvSettings> {
        Some(&ENV)
    }

    fn path(&self) -> &'static str {
        "/v1/messages"
    }

    fn auth_headers(&self, key: &Secret, headers: &mut HeaderMap) -> Result<()> {
        headers.insert(HeaderName::from_static("x-api-key"), key_header(key.expose().to_owned())?);
        headers.insert(HeaderName::from_static("anthropic-version"), HeaderValue::from_static(API_VERSION));
        Ok(())
    }

    fn request_body(&self, request: &ChatRequest, model: &str, streaming: bool) -> Result<Vec<u8>> {
        check_fields(NAME, request, MAPPED, NATIVE)?;
        let p = &request.params;
        if p.n.is_some_and(|n| n != 1) {
            return Err(invalid("anthropic returns one choice per call; `n` must be 1".into()));
        }
        let (system, messages) = build_messages(request)?;
        let mut body = Map::new();
        body.insert("model".into(), model.into());
        body.insert("max_tokens".into(), request.max_tokens().unwrap_or(DEFAULT_MAX_TOKENS).into());
        if let Some(system) = system {
            body.insert("system".into(), system);
        }
        body.insert("messages".into(), Value::Array(messages));
        if let Some(stop) = &p.stop {
            body.insert("stop_sequences".into(), stop.to_vec().into());
        }
        if let Some(t) = p.temperature {
            body.insert("temperature".into(), t.into());
        }
        if let Some(t) = p.top_p {
            body.insert("top_p".into(), t.into());
        }
        if let Some(tools) = &p.tools {
            let raw_tools = request.body().get("tools").and_then(Value::as_array);
            let tools = tools
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut tool = Map::new();
                    tool.insert("name".into(), t.function.name.clone().into());
                    if let Some(d) = &t.function.description {
                        tool.insert("description".into(), d.clone().into());
                    }
                    let schema =
                        t.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                    tool.insert("input_schema".into(), schema);
                    if let Some(c) = cache_control(raw_tools.and_then(|r| r.get(i)), &format!("tools[{i}]"))? {
                        tool.insert("cache_control".into(), c);
                    }
                    Ok(Value::Object(tool))
                })
                .collect::<Result<Vec<Value>>>()?;
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(effort) = &p.reasoning_effort {
            if let Some(budget) = thinking_budget(request, effort)? {
                body.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
                // The budget is part of max_tokens; with no max_tokens given, the answer keeps
                // the default room after it.
                let max_tokens = request.max_tokens().unwrap_or(budget + DEFAULT_MAX_TOKENS);
                if max_tokens <= budget {
                    return Err(invalid(format!(
                        "reasoning_effort '{effort}' gives anthropic a thinking budget of {budget} tokens, which must be below max_tokens ({max_tokens}); raise max_tokens"
                    )));
                }
                body.insert("max_tokens".into(), max_tokens.into());
            }
        }
        match &p.response_format {
            None | Some(ResponseFormat::Text) => {}
            Some(ResponseFormat::JsonSchema(schema)) => {
                if request.body().contains_key("output_config") {
                    return Err(invalid("pass response_format or output_config, not both".into()));
                }
                body.insert("output_config".into(), json!({"format": {"type": "json_schema", "schema": schema}}));
            }
            // Like a field with no place, dropped with drop_params.
            Some(ResponseFormat::JsonObject) if request.options.drop_params => {}
            Some(ResponseFormat::JsonObject) => {
                return Err(Error::unsupported(
                    "anthropic has no JSON mode without a schema: pass a response_format of type json_schema (anthropic's structured outputs)",
                )
                .with_provider(NAME));
            }
        }
        let mut tool_choice = p.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Function(name) => json!({"type": "tool", "name": name}),
        });
        if p.parallel_tool_calls == Some(false) {
            let choice = tool_choice.get_or_insert_with(|| json!({"type": "auto"}));
            if choice["type"] != "none" {
                choice["disable_parallel_tool_use"] = Value::Bool(true);
            }
        }
        if let Some(choice) = tool_choice {
            body.insert("tool_choice".into(), choice);
        }
        copy_native(request, NATIVE, &mut body);
        if let Some(user) = &p.user {
            let metadata = body.entry("metadata").or_insert_with(|| json!({}));
            if let Value::Object(m) = metadata {
                m.insert("user_id".into(), user.clone().into());
            }
        }
        if streaming {
            body.insert("stream".into(), Value::Bool(true));
        }
        to_body(&body)
    }

    fn parse_response(&self, _model: &str, body: &[u8]) -> Result<Vec<u8>> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Error::bad_response(format!("anthropic: the response is not JSON: {e}")))?;
        if value.get("type").and_then(Value::as_str) == Some("error") {
            return Err(reported(&value));
        }
        let r: MessageResponse = serde_json::from_value(value)
            .map_err(|e| Error::bad_response(format!("anthropic: the response is not a Messages API message: {e}")))?;
        let mut text = String::new();
        let mut has_text = false;
        let mut reasoning: Option<String> = None;
        let mut tool_calls = Vec::new();
        for block in r.content {
            match block.kind.as_str() {
                "text" => {
                    has_text = true;
                    text.push_str(block.text.as_deref().unwrap_or_default());
                }
                "thinking" => {
                    reasoning.get_or_insert_with(String::new).push_str(block.thinking.as_deref().unwrap_or_default());
                }
                "tool_use" => {
                    let (Some(id), Some(name)) = (block.id, block.name) else {
                        return Err(Error::bad_response("anthropic: a tool_use block lacks `id` or `name`"));
                    };
                    let arguments = block.input.unwrap_or_else(|| json!({})).to_string();
                    tool_calls.push(ToolCallOut {
                        id,
                        call_type: "function",
                        function: FunctionOut { name, arguments },
                    });
                }
                // redacted_thinking and other block types have no place in a chat.completion message.
                _ => {}
            }
        }
        if r.usage.input_tokens.is_none() || r.usage.output_tokens.is_none() {
            return Err(Error::bad_response("anthropic: the response's usage lacks `input_tokens` or `output_tokens`"));
        }
        let content = has_text.then_some(text);
        let finish_reason = finish_reason(r.stop_reason.as_deref());
        let mut completion =
            ChatCompletion::single(r.id, r.model, content, tool_calls, finish_reason, Some(r.usage.to_usage()));
        completion.choices[0].message.reasoning_content = reasoning;
        Ok(completion.to_json())
    }

    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder> {
        Box::new(AnthropicStream {
            out: ChunkWriter::new(NAME, model),
            tools: 0,
            tool_blocks: HashMap::new(),
            usage: None,
        })
    }

    fn parse_error_body(&self, body: &Value) -> ProviderError {
        provider_error_from(body)
    }

    fn error_kind(&self, status: u16, provider_error: &ProviderError) -> ErrorKind {
        if provider_error.error_type.as_deref() == Some("overloaded_error") {
            return ErrorKind::ProviderUnavailable;
        }
        ErrorKind::from_status(status)
    }
}

/// The thinking budget `reasoning_effort` asks for; `None` for `none`.
fn thinking_budget(request: &ChatRequest, effort: &str) -> Result<Option<u32>> {
    if request.body().get("thinking").is_some_and(|t| !t.is_null()) {
        return Err(invalid("pass reasoning_effort or thinking, not both".into()));
    }
    reasoning_budget(NAME, effort)
}

/// The OpenAI `finish_reason` of a `stop_reason` (`end_turn`, `stop_sequence`, `pause_turn` and
/// a missing one all stop).
fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// The kind of an Anthropic error `type` (their error types, by name).
fn kind_of_error_type(error_type: Option<&str>) -> Option<ErrorKind> {
    Some(match error_type? {
        "invalid_request_error" | "request_too_large" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" | "billing_error" => ErrorKind::PermissionDenied,
        "not_found_error" => ErrorKind::NotFound,
        "rate_limit_error" => ErrorKind::RateLimited,
        "timeout_error" => ErrorKind::Timeout,
        "api_error" | "overloaded_error" => ErrorKind::ProviderUnavailable,
        _ => return None,
    })
}

/// An error object delivered with a 2xx status or as a stream's `error` event.
fn reported(value: &Value) -> Error {
    let provider_error = provider_error_from(value);
    let kind = kind_of_error_type(provider_error.error_type.as_deref()).unwrap_or(ErrorKind::ProviderUnavailable);
    reported_error(NAME, kind, provider_error)
}

#[derive(Deserialize)]
struct MessageResponse {
    id: String,
    model: String,
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Tokens,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    thinking: Option<String>,
    id: Option<String>,
    name: Option<String>,
    input: Option<Value>,
}

/// Token counts, as a response gives them all and a stream reports them: some in
/// `message_start`, updated in `message_delta`. Every count may be null or missing.
#[derive(Debug, Default, Deserialize)]
struct Tokens {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

impl Tokens {
    /// Later counts replace earlier ones; a count not given keeps its value.
    fn update(&mut self, later: Tokens) {
        let keep = |now: &mut Option<u64>, later: Option<u64>| *now = later.or(*now);
        keep(&mut self.input_tokens, later.input_tokens);
        keep(&mut self.output_tokens, later.output_tokens);
        keep(&mut self.cache_creation_input_tokens, later.cache_creation_input_tokens);
        keep(&mut self.cache_read_input_tokens, later.cache_read_input_tokens);
    }

    /// OpenAI usage: Anthropic's `input_tokens` leaves out the tokens read from and written to
    /// the cache, OpenAI's `prompt_tokens` counts them; `cached_tokens` once a cache count was
    /// reported.
    fn to_usage(&self) -> Usage {
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0) + self.cache_creation_input_tokens.unwrap_or(0) + cache_read;
        let mut usage = Usage::new(prompt, self.output_tokens.unwrap_or(0));
        if self.cache_read_input_tokens.is_some() || self.cache_creation_input_tokens.is_some() {
            usage.prompt_tokens_details = Some(PromptTokensDetails { cached_tokens: cache_read });
            usage.cache_creation_input_tokens = self.cache_creation_input_tokens;
        }
        usage
    }
}

/// A tool call started by a `tool_use` content block.
#[derive(Debug, Clone, Copy)]
struct ToolBlock {
    /// The OpenAI tool-call index (count of tool blocks before it).
    index: usize,
    /// Whether any argument text was sent for it.
    has_arguments: bool,
}

/// Messages API stream events (`message_start`, `content_block_*`, `message_delta`,
/// `message_stop`, `error`) to chunks.
struct AnthropicStream {
    out: ChunkWriter,
    /// Tool calls started so far.
    tools: usize,
    /// Content block index -> its tool call.
    tool_blocks: HashMap<u64, ToolBlock>,
    /// The counts reported so far; `None` until the stream reports any.
    usage: Option<Tokens>,
}

impl AnthropicStream {
    fn update_usage(&mut self, usage: &Value) -> Result<()> {
        let reported = Option::<Tokens>::deserialize(usage)
            .map_err(|e| bad_response(NAME, format_args!("a stream event's usage is not token counts: {e}")))?;
        if let Some(reported) = reported {
            self.usage.get_or_insert_with(Tokens::default).update(reported);
        }
        Ok(())
    }

    fn on(&mut self, kind: &str, v: &Value) -> Result<Step> {
        let mut chunks = Vec::new();
        match kind {
            "message_start" => {
                let m = &v["message"];
                if let Some(id) = m["id"].as_str() {
                    self.out.set_id(id);
                }
                if let Some(model) = m["model"].as_str() {
                    self.out.set_model(model);
                }
                self.update_usage(&m["usage"])?;
                chunks.push(self.out.delta(chunk::content(""), None));
            }
            "content_block_start" => {
                let block = &v["content_block"];
                match block["type"].as_str() {
                    Some("text") => {
                        if let Some(t) = block["text"].as_str().filter(|t| !t.is_empty()) {
                            chunks.push(self.out.delta(chunk::content(t), None));
                        }
                    }
                    Some("tool_use") => {
                        let index = self.tools;
                        self.tools += 1;
                        let (Some(id), Some(name)) = (block["id"].as_str(), block["name"].as_str()) else {
                            return Err(bad_response(NAME, "a tool_use block lacks `id` or `name`"));
                        };
                        chunks.push(self.out.delta(chunk::tool_start(index, id, name), None));
                        let mut tool = ToolBlock { index, has_arguments: false };
                        // The input normally arrives in input_json_delta events; a non-empty one
                        // given up front is sent as the first piece.
                        if block["input"].as_object().is_some_and(|i| !i.is_empty()) {
                            let piece = block["input"].to_string();
                            chunks.push(self.out.delta(chunk::tool_arguments(index, &piece), None));
                            tool.has_arguments = true;
                        }
                        if let Some(block_index) = v["index"].as_u64() {
                            self.tool_blocks.insert(block_index, tool);
                        }
                    }
                    Some("thinking") => {
                        if let Some(t) = block["thinking"].as_str().filter(|t| !t.is_empty()) {
                            chunks.push(self.out.delta(chunk::reasoning(t), None));
                        }
                    }
                    // redacted_thinking, server tool blocks: no place in a chunk.
                    _ => {}
                }
            }
            "content_block_delta" => {
                let d = &v["delta"];
                match d["type"].as_str() {
                    Some("text_delta") => {
                        if let Some(t) = d["text"].as_str().filter(|t| !t.is_empty()) {
                            chunks.push(self.out.delta(chunk::content(t), None));
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(t) = d["thinking"].as_str().filter(|t| !t.is_empty()) {
                            chunks.push(self.out.delta(chunk::reasoning(t), None));
                        }
                    }
                    Some("input_json_delta") => {
                        let piece = d["partial_json"].as_str().unwrap_or_default();
                        if !piece.is_empty() {
                            let tool = v["index"].as_u64().and_then(|i| self.tool_blocks.get_mut(&i));
                            let Some(tool) = tool else {
                                return Err(bad_response(NAME, "an input_json_delta event names no tool_use block"));
                            };
                            tool.has_arguments = true;
                            let index = tool.index;
                            chunks.push(self.out.delta(chunk::tool_arguments(index, piece), None));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                // A tool called without arguments streams none; send "{}" as the response does,
                // so the arguments are always JSON.
                if let Some(tool) = v["index"].as_u64().and_then(|i| self.tool_blocks.get_mut(&i)) {
                    if !tool.has_arguments {
                        tool.has_arguments = true;
                        let index = tool.index;
                        chunks.push(self.out.delta(chunk::tool_arguments(index, "{}"), None));
                    }
                }
            }
            "message_delta" => {
                let finish_reason = finish_reason(v["delta"]["stop_reason"].as_str());
                self.update_usage(&v["usage"])?;
                chunks.push(self.out.delta(json!({}), Some(finish_reason)));
            }
            "message_stop" => {
                if let Some(usage) = &self.usage {
                    chunks.push(self.out.usage(&usage.to_usage()));
                }
                return Ok(Step { chunks, done: true });
            }
            "error" => return Err(reported(v)),
            // ping and event types added later.
            _ => {}
        }
        Ok(Step { chunks, done: false })
    }
}

impl StreamDecoder for AnthropicStream {
    fn on_event(&mut self, event: &SseEvent) -> Result<Step> {
        match typed_event(NAME, event)? {
            Some((kind, value)) => self.on(&kind, &value),
            None => Ok(Step::default()),
        }
    }

    fn ended_early(&self) -> Error {
        stream_ended_early(NAME, "no message_stop event was received")
    }

    fn reported_tokens(&self) -> Option<u64> {
        self.usage.as_ref().map(|u| u.to_usage().total_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testing::{
        all_missing, all_null, assembled, check_shape, decode_stream, delta_chunk, ev, events_all_missing,
        events_all_null, null_is_missing, run, set_null, timeless_completion, usage_chunk, with_unknown_fields, Events,
    };

    fn body(json: &str) -> Value {
        let r = ChatRequest::parse(json.as_bytes()).unwrap();
        serde_json::from_slice(&Anthropic.request_body(&r, "claude", false).unwrap()).unwrap()
    }

    #[test]
    fn lifts_system_and_fills_max_tokens() {
        let b = body(
            r#"{"model": "anthropic/claude", "messages": [{"role": "system", "content": "be brief"}, {"role": "developer", "content": "no jokes"}, {"role": "user", "content": "hi"}]}"#,
        );
        assert_eq!(b["system"], "be brief\n\nno jokes");
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(b["model"], "claude");
        assert_eq!(b["messages"], json!([{"role": "user", "content": "hi"}]));
    }

    #[test]
    fn maps_tool_calls_and_results() {
        let b = body(
            r#"{"model": "m", "max_tokens": 50, "stop": "END", "user": "u1", "parallel_tool_calls": false,
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "checking", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
            {"role": "user", "content": "thanks"}]}"#,
        );
        assert_eq!(b["max_tokens"], 50);
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["metadata"], json!({"user_id": "u1"}));
        assert_eq!(b["tool_choice"], json!({"type": "auto", "disable_parallel_tool_use": true}));
        assert_eq!(b["tools"][0]["input_schema"]["properties"]["city"]["type"], "string");
        let msgs = b["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3, "tool result and following user text merge: {msgs:?}");
        assert_eq!(
            msgs[1]["content"][1],
            json!({"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}})
        );
        assert_eq!(msgs[2]["content"][0], json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}));
        assert_eq!(msgs[2]["content"][1], json!({"type": "text", "text": "thanks"}));
    }

    fn body_error(json: &str) -> Error {
        let r = ChatRequest::parse(json.as_bytes()).unwrap();
        Anthropic.request_body(&r, "claude", false).unwrap_err()
    }

    #[test]
    fn cache_control_passes_through_on_system_parts_messages_and_tools() {
        let b = body(
            r#"{"model": "m", "messages": [
                {"role": "system", "content": [{"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}]},
                {"role": "system", "content": "More."},
                {"role": "user", "content": [{"type": "text", "text": "doc", "cache_control": {"type": "ephemeral", "ttl": "1h"}}, {"type": "text", "text": "q"}]},
                {"role": "assistant", "content": "a", "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": "plain"}],
              "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}, "cache_control": {"type": "ephemeral"}}]}"#,
        );
        assert_eq!(
            b["system"],
            json!([{"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "More."}])
        );
        assert_eq!(
            b["messages"][0]["content"],
            json!([{"type": "text", "text": "doc", "cache_control": {"type": "ephemeral", "ttl": "1h"}}, {"type": "text", "text": "q"}])
        );
        assert_eq!(
            b["messages"][1]["content"],
            json!([{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}])
        );
        assert_eq!(b["messages"][2]["content"], "plain");
        assert_eq!(b["tools"][0]["cache_control"], json!({"type": "ephemeral"}));
        // A message-level cache_control on a system string, and on a tool result.
        let b = body(
            r#"{"model": "m", "messages": [{"role": "system", "content": "S", "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": "u"},
                {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "result", "cache_control": {"type": "ephemeral"}}]}"#,
        );
        assert_eq!(b["system"], json!([{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]));
        assert_eq!(b["messages"][2]["content"][0]["cache_control"], json!({"type": "ephemeral"}));
        // Without cache_control the system prompt stays a string.
        let b = body(
            r#"{"model": "m", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "u"}]}"#,
        );
        assert_eq!(b["system"], "S");
        let e = body_error(
            r#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": "yes"}]}]}"#,
        );
        assert!(e.message.contains("messages[0].content[0].cache_control"), "{}", e.message);
    }

    #[test]
    fn reasoning_effort_becomes_a_thinking_budget() {
        let b = body(r#"{"model": "m", "prompt": "x", "reasoning_effort": "low"}"#);
        assert_eq!(b["thinking"], json!({"type": "enabled", "budget_tokens": 1024}));
        assert_eq!(b["max_tokens"], 1024 + DEFAULT_MAX_TOKENS);
        let b = body(r#"{"model": "m", "prompt": "x", "reasoning_effort": "high", "max_tokens": 10000}"#);
        assert_eq!(b["thinking"], json!({"type": "enabled", "budget_tokens": 4096}));
        assert_eq!(b["max_tokens"], 10000);
        let b = body(r#"{"model": "m", "prompt": "x", "reasoning_effort": "none"}"#);
        assert!(b.get("thinking").is_none());
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        let e = body_error(r#"{"model": "m", "prompt": "x", "reasoning_effort": "medium", "max_tokens": 2048}"#);
        assert!(e.message.contains("2048") && e.message.contains("raise max_tokens"), "{}", e.message);
        let e = body_error(r#"{"model": "m", "prompt": "x", "reasoning_effort": "turbo"}"#);
        assert!(e.message.contains("'turbo'") && e.message.contains("medium"), "{}", e.message);
        let e = body_error(
            r#"{"model": "m", "prompt": "x", "reasoning_effort": "low", "thinking": {"type": "enabled", "budget_tokens": 2000}}"#,
        );
        assert!(e.message.contains("not both"), "{}", e.message);
    }

    #[test]
    fn a_json_schema_response_format_is_a_structured_output() {
        let b = body(
            r#"{"model": "m", "prompt": "x", "response_format": {"type": "json_schema", "json_schema": {"name": "p", "strict": true,
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false}}}}"#,
        );
        assert_eq!(
            b["output_config"],
            json!({"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false}}})
        );
        let b = body(r#"{"model": "m", "prompt": "x", "response_format": {"type": "text"}}"#);
        assert!(b.get("output_config").is_none());
        let e = body_error(r#"{"model": "m", "prompt": "x", "response_format": {"type": "json_object"}}"#);
        assert_eq!((e.kind, e.provider.as_deref()), (ErrorKind::Unsupported, Some("anthropic")));
        assert!(e.message.contains("json_schema"), "{}", e.message);
        let b =
            body(r#"{"model": "m", "prompt": "x", "response_format": {"type": "json_object"}, "drop_params": true}"#);
        assert!(b.get("output_config").is_none());
    }

    #[test]
    fn rejects_fields_without_a_place_unless_dropped() {
        let r = ChatRequest::parse(br#"{"model": "m", "prompt": "x", "seed": 1}"#).unwrap();
        let e = Anthropic.request_body(&r, "m", false).unwrap_err();
        assert!(e.message.contains("`seed`") && e.message.contains("drop_params"), "{}", e.message);
        let r = ChatRequest::parse(br#"{"model": "m", "prompt": "x", "seed": 1, "drop_params": true, "top_k": 5}"#)
            .unwrap();
        let b: Value = serde_json::from_slice(&Anthropic.request_body(&r, "m", false).unwrap()).unwrap();
        assert!(b.get("seed").is_none());
        assert_eq!(b["top_k"], 5);
    }

    #[test]
    fn images_become_blocks() {
        let b = body(
            r#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "what?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}"#,
        );
        let c = &b["messages"][0]["content"];
        assert_eq!(c[1]["source"], json!({"type": "base64", "media_type": "image/png", "data": "iVBOR"}));
        assert_eq!(c[2]["source"], json!({"type": "url", "url": "https://x/y.png"}));
    }

    #[test]
    fn maps_the_response() {
        let raw = br#"{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Let me check."}, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 2}}"#;
        let out: Value = serde_json::from_slice(&Anthropic.parse_response("m", raw).unwrap()).unwrap();
        assert_eq!(out["object"], "chat.completion");
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(out["choices"][0]["message"]["content"], "Let me check.");
        assert_eq!(out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
        assert_eq!(
            out["usage"],
            json!({"prompt_tokens": 16, "completion_tokens": 5, "total_tokens": 21, "prompt_tokens_details": {"cached_tokens": 4}, "cache_creation_input_tokens": 2})
        );
        for (reason, mapped) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("refusal", "content_filter"),
            ("pause_turn", "stop"),
        ] {
            let raw = format!(
                r#"{{"id": "m", "model": "c", "content": [], "stop_reason": "{reason}", "usage": {{"input_tokens": 1, "output_tokens": 1}}}}"#
            );
            let out: Value = serde_json::from_slice(&Anthropic.parse_response("m", raw.as_bytes()).unwrap()).unwrap();
            assert_eq!(out["choices"][0]["finish_reason"], mapped);
            assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        }
    }

    #[test]
    fn an_error_body_with_a_2xx_status_is_an_error() {
        let raw = br#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#;
        let e = Anthropic.parse_response("m", raw).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ProviderUnavailable);
        assert_eq!(e.provider_error.unwrap().error_type.as_deref(), Some("overloaded_error"));
        let raw = br#"{"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}"#;
        assert_eq!(Anthropic.parse_response("m", raw).unwrap_err().kind, ErrorKind::RateLimited);
    }

    #[test]
    fn overloaded_is_unavailable() {
        let pe = Anthropic.parse_error_body(
            &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        );
        assert_eq!(Anthropic.error_kind(529, &pe), ErrorKind::ProviderUnavailable);
        assert_eq!(Anthropic.error_kind(400, &pe), ErrorKind::ProviderUnavailable);
        assert_eq!(pe.message.as_deref(), Some("Overloaded"));
    }

    // ---- the stream ----

    const TEXT_STREAM: &[(Option<&str>, &str)] = &[
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
    fn text_stream() {
        let (chunks, done) = run(&Anthropic, "claude-sonnet-4-5", TEXT_STREAM);
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
            json!({"prompt_tokens": 135, "completion_tokens": 15, "total_tokens": 150, "prompt_tokens_details": {"cached_tokens": 100}, "cache_creation_input_tokens": 10})
        );
        let a = assembled(&chunks);
        assert_eq!(a["choices"][0]["message"], json!({"role": "assistant", "content": "Hello, world!"}));
        assert_eq!(a["choices"][0]["finish_reason"], "stop");
        assert_eq!(a["usage"]["total_tokens"], 150);
        assert_eq!(a["id"], "msg_01");
    }

    #[test]
    fn tool_use_stream() {
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
        let (chunks, done) = run(&Anthropic, "claude", events);
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
    fn stream_finish_reasons() {
        for (stop, want) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("pause_turn", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
        ] {
            let mut n = Anthropic.stream_decoder("claude");
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
    fn message_delta_usage_overrides_cumulative_counts() {
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
        let (chunks, _) = run(&Anthropic, "c", events);
        assert_eq!(
            chunks.last().unwrap()["usage"],
            json!({"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14, "prompt_tokens_details": {"cached_tokens": 3}})
        );
    }

    #[test]
    fn error_events() {
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
            let mut n = Anthropic.stream_decoder("claude");
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
    fn thinking_deltas_are_reasoning_content() {
        let mut n = Anthropic.stream_decoder("claude");
        let events = [
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me "}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think."}}"#,
        ];
        let chunks: Vec<Value> = events
            .iter()
            .flat_map(|data| n.on_event(&ev(None, data)).unwrap().chunks)
            .map(|c| serde_json::from_slice(&c).unwrap())
            .collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0]["choices"][0]["delta"], json!({"role": "assistant", "reasoning_content": "Let me "}));
        assert_eq!(chunks[1]["choices"][0]["delta"], json!({"reasoning_content": "think."}));
        assert_eq!(assembled(&chunks)["choices"][0]["message"]["reasoning_content"], "Let me think.");
    }

    #[test]
    fn ignores_unknown_events_and_signatures() {
        let mut n = Anthropic.stream_decoder("claude");
        for (name, data) in [
            (Some("ping"), r#"{"type": "ping"}"#),
            (Some("ping"), ""),
            (None, r#"{"type": "future_event", "x": 1}"#),
            (
                Some("content_block_start"),
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":"x"}}"#,
            ),
            (
                Some("content_block_start"),
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
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
    fn rejects_malformed_events() {
        let mut n = Anthropic.stream_decoder("claude");
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

    #[test]
    fn created_is_shared_by_every_chunk() {
        let (chunks, _) = run(&Anthropic, "claude", TEXT_STREAM);
        check_shape(&chunks);
    }

    #[test]
    fn asks_for_a_stream() {
        let r = ChatRequest::parse_for(
            br#"{"model": "m", "prompt": "x", "stream_options": {"include_usage": true}}"#,
            true,
        )
        .unwrap();
        let b: Value = serde_json::from_slice(&Anthropic.request_body(&r, "m", true).unwrap()).unwrap();
        assert_eq!(b["stream"], true);
        assert!(b.get("stream_options").is_none());
        let plain: Value = serde_json::from_slice(&Anthropic.request_body(&r, "m", false).unwrap()).unwrap();
        assert!(plain.get("stream").is_none());
    }

    // ---- null, unknown and missing fields ----

    fn full_response() -> Value {
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [
                {"type": "text", "text": "Let me check.", "citations": [{"type": "char_location", "cited_text": "x"}]},
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}, "caller": {"type": "direct"}}],
            "stop_reason": "tool_use", "stop_sequence": "END", "stop_details": {"type": "refusal"},
            "container": {"id": "c", "expires_at": "2030-01-01T00:00:00Z"},
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 2,
                "cache_creation": {"ephemeral_5m_input_tokens": 2}, "inference_geo": "us", "output_tokens_details": {},
                "server_tool_use": {"web_search_requests": 0}, "service_tier": "standard"}})
    }

    /// Nullable or optional in the Messages API schema (`Message`, `Usage`, the content blocks).
    const OPTIONAL_RESPONSE_FIELDS: &[&str] = &[
        "/stop_reason",
        "/stop_sequence",
        "/stop_details",
        "/container",
        "/usage/cache_creation_input_tokens",
        "/usage/cache_read_input_tokens",
        "/usage/cache_creation",
        "/usage/inference_geo",
        "/usage/output_tokens_details",
        "/usage/server_tool_use",
        "/usage/service_tier",
        "/content/0/citations",
        "/content/2/caller",
    ];

    fn completion(content: Value, finish_reason: &str, usage: Value) -> Value {
        json!({"id": "msg_1", "object": "chat.completion", "created": 0, "model": "claude-x",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                "finish_reason": finish_reason, "logprobs": null}],
            "usage": usage})
    }

    fn parsed(body: &Value) -> Value {
        timeless_completion(&Anthropic.parse_response("m", &serde_json::to_vec(body).unwrap()).unwrap())
    }

    #[test]
    fn responses_with_null_unknown_or_missing_optional_fields() {
        let full = full_response();
        let mut want = completion(
            json!("Let me check."),
            "tool_calls",
            json!({"prompt_tokens": 16, "completion_tokens": 5, "total_tokens": 21, "prompt_tokens_details": {"cached_tokens": 4}, "cache_creation_input_tokens": 2}),
        );
        want["choices"][0]["message"]["reasoning_content"] = json!("hmm");
        assert_eq!(parsed(&full), want);
        assert_eq!(parsed(&with_unknown_fields(full.clone(), &["input"])), want);
        for pointer in OPTIONAL_RESPONSE_FIELDS {
            let mut one = full.clone();
            set_null(&mut one, pointer);
            let mut expected = want.clone();
            match *pointer {
                "/stop_reason" => expected["choices"][0]["finish_reason"] = json!("stop"),
                "/usage/cache_read_input_tokens" => {
                    expected["usage"] = json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "prompt_tokens_details": {"cached_tokens": 0}, "cache_creation_input_tokens": 2})
                }
                "/usage/cache_creation_input_tokens" => {
                    expected["usage"] = json!({"prompt_tokens": 14, "completion_tokens": 5, "total_tokens": 19, "prompt_tokens_details": {"cached_tokens": 4}})
                }
                _ => {}
            }
            assert_eq!(parsed(&one), expected, "{pointer}");
            assert_eq!(parsed(&all_missing(&full, &[pointer])), expected, "{pointer}");
        }
        let mut bare = completion(
            json!("Let me check."),
            "stop",
            json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}),
        );
        bare["choices"][0]["message"]["reasoning_content"] = json!("hmm");
        assert_eq!(parsed(&all_null(&full, OPTIONAL_RESPONSE_FIELDS)), bare);
        let minimal = all_missing(&full, OPTIONAL_RESPONSE_FIELDS);
        assert_eq!(parsed(&minimal), bare);
        // A tool_use block's input null or missing: the arguments are "{}"; text null is empty.
        let mut odd = minimal.clone();
        set_null(&mut odd, "/content/2/input");
        set_null(&mut odd, "/content/0/text");
        let out = parsed(&odd);
        assert_eq!(out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{}");
        assert_eq!(out["choices"][0]["message"]["content"], "");
        // What we depend on stays strict.
        for (pointer, value) in [
            ("/content", Value::Null),
            ("/content", json!("x")),
            ("/usage", Value::Null),
            ("/usage/input_tokens", Value::Null),
            ("/usage/output_tokens", json!("5")),
            ("/id", Value::Null),
            ("/content/2/name", Value::Null),
            ("/content/0/type", Value::Null),
        ] {
            let mut bad = full.clone();
            *bad.pointer_mut(pointer).unwrap() = value;
            let e = Anthropic.parse_response("m", &serde_json::to_vec(&bad).unwrap()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadResponse, "{pointer}");
        }
    }

    fn full_stream() -> Events {
        vec![
            (
                Some("message_start"),
                json!({"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant",
                "content": [], "model": "claude-x", "stop_reason": "end_turn", "stop_sequence": "END", "stop_details": {"type": "refusal"},
                "container": {"id": "c"}, "usage": {"input_tokens": 25, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 100,
                "output_tokens": 1, "cache_creation": {"ephemeral_5m_input_tokens": 10}, "inference_geo": "us", "service_tier": "standard",
                "server_tool_use": {"web_search_requests": 0}}}}),
            ),
            (
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "", "citations": []}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            ),
            (Some("content_block_stop"), json!({"type": "content_block_stop", "index": 0})),
            (
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}, "caller": {"type": "direct"}}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}}),
            ),
            (Some("content_block_stop"), json!({"type": "content_block_stop", "index": 1})),
            (
                Some("message_delta"),
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": "END",
                "stop_details": {"type": "refusal"}, "container": {"id": "c"}}, "usage": {"input_tokens": 25, "output_tokens": 15,
                "cache_creation_input_tokens": 10, "cache_read_input_tokens": 100, "server_tool_use": {"web_search_requests": 0},
                "output_tokens_details": {}}}),
            ),
            (Some("message_stop"), json!({"type": "message_stop"})),
        ]
    }

    /// Nullable or optional in the schema of the stream events (`MessageStartEvent`'s message
    /// and usage, the blocks, `MessageDelta`, `MessageDeltaUsage`).
    const OPTIONAL_STREAM_FIELDS: &[(usize, &str)] = &[
        (0, "/message/stop_reason"),
        (0, "/message/stop_sequence"),
        (0, "/message/stop_details"),
        (0, "/message/container"),
        (0, "/message/usage/cache_creation_input_tokens"),
        (0, "/message/usage/cache_read_input_tokens"),
        (0, "/message/usage/cache_creation"),
        (0, "/message/usage/inference_geo"),
        (0, "/message/usage/service_tier"),
        (0, "/message/usage/server_tool_use"),
        (1, "/content_block/citations"),
        (4, "/content_block/caller"),
        (7, "/delta/stop_reason"),
        (7, "/delta/stop_sequence"),
        (7, "/delta/stop_details"),
        (7, "/delta/container"),
        (7, "/usage/input_tokens"),
        (7, "/usage/cache_creation_input_tokens"),
        (7, "/usage/cache_read_input_tokens"),
        (7, "/usage/server_tool_use"),
        (7, "/usage/output_tokens_details"),
    ];

    fn stream_chunks(finish_reason: &str, usage: Value) -> Vec<Value> {
        let c = |delta: Value, finish: Option<&str>| delta_chunk("msg_01", "claude-x", delta, finish);
        vec![
            c(json!({"role": "assistant", "content": ""}), None),
            c(json!({"content": "Hi"}), None),
            c(chunk::tool_start(0, "toolu_1", "f"), None),
            c(chunk::tool_arguments(0, "{\"a\":1}"), None),
            c(json!({}), Some(finish_reason)),
            usage_chunk("msg_01", "claude-x", usage),
        ]
    }

    #[test]
    fn streams_with_null_unknown_or_missing_optional_fields() {
        let full = full_stream();
        let want = stream_chunks(
            "tool_calls",
            json!({"prompt_tokens": 135, "completion_tokens": 15, "total_tokens": 150, "prompt_tokens_details": {"cached_tokens": 100}, "cache_creation_input_tokens": 10}),
        );
        assert_eq!(decode_stream(&Anthropic, "claude", &full), (want.clone(), Some(150)));
        let unknown: Events = full.iter().map(|(n, v)| (*n, with_unknown_fields(v.clone(), &["input"]))).collect();
        assert_eq!(decode_stream(&Anthropic, "claude", &unknown), (want.clone(), Some(150)));
        let decoded = null_is_missing(&Anthropic, "claude", &full, OPTIONAL_STREAM_FIELDS);
        for ((at, pointer), (chunks, tokens)) in OPTIONAL_STREAM_FIELDS.iter().zip(decoded) {
            // message_delta repeats the counts of message_start; only its own stop reason counts.
            let finish = if (*at, *pointer) == (7, "/delta/stop_reason") { "stop" } else { "tool_calls" };
            assert_eq!(chunks[..5], stream_chunks(finish, Value::Null)[..5], "event {at}, {pointer}");
            assert_eq!(chunks[5], want[5], "event {at}, {pointer}");
            assert_eq!(tokens, Some(150));
        }
        let bare = stream_chunks("stop", json!({"prompt_tokens": 25, "completion_tokens": 15, "total_tokens": 40}));
        assert_eq!(
            decode_stream(&Anthropic, "claude", &events_all_null(&full, OPTIONAL_STREAM_FIELDS)),
            (bare.clone(), Some(40))
        );
        assert_eq!(
            decode_stream(&Anthropic, "claude", &events_all_missing(&full, OPTIONAL_STREAM_FIELDS)),
            (bare, Some(40))
        );
    }

    #[test]
    fn streams_with_null_where_the_schema_promises_values() {
        // A third-party server may send null for more than the schema allows: no id or model
        // (the requested model is used), no usage (no usage chunk), no text.
        let events: Events = vec![
            (
                Some("message_start"),
                json!({"type": "message_start", "message": {"id": null, "model": null, "usage": null}}),
            ),
            (
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": null}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": null}}),
            ),
            (Some("content_block_delta"), json!({"type": "content_block_delta", "index": 0, "delta": null})),
            (
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": null}}),
            ),
            (
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": null}}),
            ),
            (Some("content_block_stop"), json!({"type": "content_block_stop", "index": 1})),
            (Some("message_delta"), json!({"type": "message_delta", "delta": null, "usage": null})),
            (Some("message_stop"), json!({"type": "message_stop"})),
        ];
        let (chunks, tokens) = decode_stream(&Anthropic, "claude", &events);
        assert_eq!(tokens, None);
        let c = |delta: Value, finish: Option<&str>| delta_chunk("chatcmpl-anthropic", "claude", delta, finish);
        assert_eq!(
            chunks,
            vec![
                c(json!({"role": "assistant", "content": ""}), None),
                c(chunk::tool_start(0, "t", "f"), None),
                c(chunk::tool_arguments(0, "{}"), None),
                c(json!({}), Some("stop")),
            ]
        );
        // Counts must still be counts.
        let mut n = Anthropic.stream_decoder("claude");
        let e = n
            .on_event(&ev(None, r#"{"type": "message_delta", "delta": {}, "usage": {"output_tokens": "many"}}"#))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert!(e.message.starts_with("anthropic: a stream event's usage is not token counts"), "{}", e.message);
    }

    #[test]
    fn reports_tokens_once_the_stream_reports_usage() {
        let mut n = Anthropic.stream_decoder("claude");
        assert_eq!(n.reported_tokens(), None);
        n.on_event(&ev(Some("message_start"), TEXT_STREAM[0].1)).unwrap();
        // input 25 + cache writes 10 + cache reads 100, output 1 so far.
        assert_eq!(n.reported_tokens(), Some(136));
        for (name, data) in &TEXT_STREAM[1..] {
            n.on_event(&ev(*name, data)).unwrap();
        }
        assert_eq!(n.reported_tokens(), Some(150));
    }

    #[test]
    fn ended_early_is_a_connection_error() {
        let e = Anthropic.stream_decoder("m").ended_early();
        assert_eq!(e.kind, ErrorKind::Connection);
        assert_eq!(
            e.message,
            "anthropic: the stream ended before it was complete (no message_stop event was received)"
        );
        assert_eq!(e.provider.as_deref(), Some("anthropic"));
    }
}
