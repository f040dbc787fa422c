//! Anthropic Messages API (`POST /v1/messages`).

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::{Error, ErrorKind, ProviderError, Result};
use crate::provider::{check_fields, copy_native, provider_error_from, EnvSettings, Provider};
use crate::request::{ChatRequest, Content, ContentPart, Message, ToolChoice};
use crate::response::{ChatCompletion, FunctionOut, PromptTokensDetails, ToolCallOut, Usage};
use crate::secret::Secret;

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
];
const NATIVE: &[&str] = &["top_k", "metadata", "thinking", "service_tier"];

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

fn user_content(content: &Content, at: usize) -> Result<TurnContent> {
    match content {
        Content::Text(t) => Ok(TurnContent::Text(t.clone())),
        Content::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text(t) => Ok(json!({"type": "text", "text": t})),
                ContentPart::ImageUrl(url) => Ok(image_block(url)),
                ContentPart::Other(kind) => {
                    Err(invalid(format!("`messages[{at}]`: anthropic has no place for content parts of type '{kind}'")))
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(TurnContent::Blocks),
    }
}

fn build_messages(request: &ChatRequest) -> Result<(Option<String>, Vec<Value>)> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (at, message) in request.params.messages.iter().enumerate() {
        match message {
            Message::System { content } | Message::Developer { content } => system.push(content.text()),
            Message::User { content } => push(&mut turns, "user", user_content(content, at)?),
            Message::Assistant { content, tool_calls } => {
                let calls = tool_calls.as_deref().unwrap_or_default();
                let text = content.as_ref().map(Content::text).unwrap_or_default();
                if calls.is_empty() {
                    push(&mut turns, "assistant", TurnContent::Text(text));
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
                push(&mut turns, "assistant", TurnContent::Blocks(blocks));
            }
            Message::Tool { content, tool_call_id } => {
                let result_content = match user_content(content, at)? {
                    TurnContent::Text(t) => Value::String(t),
                    TurnContent::Blocks(b) => Value::Array(b),
                };
                let block = json!({"type": "tool_result", "tool_use_id": tool_call_id, "content": result_content});
                push(&mut turns, "user", TurnContent::Blocks(vec![block]));
            }
        }
    }
    let messages = turns.into_iter().map(|t| json!({"role": t.role, "content": t.content.into_value()})).collect();
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
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
        let mut value = HeaderValue::from_str(key.expose()).map_err(|_| {
            Error::new(
                ErrorKind::Authentication,
                "the API key contains characters that cannot be sent in an HTTP header",
            )
        })?;
        value.set_sensitive(true);
        headers.insert(HeaderName::from_static("x-api-key"), value);
        headers.insert(HeaderName::from_static("anthropic-version"), HeaderValue::from_static(API_VERSION));
        Ok(())
    }

    fn request_body(&self, request: &ChatRequest, model: &str) -> Result<Vec<u8>> {
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
            body.insert("system".into(), system.into());
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
            let tools: Vec<Value> = tools
                .iter()
                .map(|t| {
                    let mut tool = Map::new();
                    tool.insert("name".into(), t.function.name.clone().into());
                    if let Some(d) = &t.function.description {
                        tool.insert("description".into(), d.clone().into());
                    }
                    let schema =
                        t.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                    tool.insert("input_schema".into(), schema);
                    Value::Object(tool)
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
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
        serde_json::to_vec(&body).map_err(|e| Error::internal(format!("could not serialise the request: {e}")))
    }

    fn parse_response(&self, _model: &str, body: &[u8]) -> Result<Vec<u8>> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Error::bad_response(format!("anthropic: the response is not JSON: {e}")))?;
        if value.get("type").and_then(Value::as_str) == Some("error") {
            return Err(error_in_body(&value));
        }
        let r: MessageResponse = serde_json::from_value(value)
            .map_err(|e| Error::bad_response(format!("anthropic: the response is not a Messages API message: {e}")))?;
        let mut text = String::new();
        let mut has_text = false;
        let mut tool_calls = Vec::new();
        for block in r.content {
            match block.kind.as_str() {
                "text" => {
                    has_text = true;
                    text.push_str(block.text.as_deref().unwrap_or_default());
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
                // thinking and other block types have no place in a chat.completion message.
                _ => {}
            }
        }
        let finish_reason = match r.stop_reason.as_deref() {
            Some("max_tokens") => "length",
            Some("tool_use") => "tool_calls",
            Some("refusal") => "content_filter",
            _ => "stop",
        };
        let u = r.usage;
        let cache_read = u.cache_read_input_tokens.unwrap_or(0);
        let prompt = u.input_tokens + u.cache_creation_input_tokens.unwrap_or(0) + cache_read;
        let mut usage = Usage::new(prompt, u.output_tokens);
        if u.cache_read_input_tokens.is_some() || u.cache_creation_input_tokens.is_some() {
            usage.prompt_tokens_details = Some(PromptTokensDetails { cached_tokens: cache_read });
        }
        let content = has_text.then_some(text);
        Ok(ChatCompletion::single(r.id, r.model, content, tool_calls, finish_reason, Some(usage)).to_json())
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

/// The kind of an Anthropic error `type` (their error types, by name); streams use it too.
pub(crate) fn kind_of_error_type(error_type: Option<&str>) -> Option<ErrorKind> {
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

/// An error object delivered with a 2xx status.
fn error_in_body(value: &Value) -> Error {
    let provider_error = provider_error_from(value);
    let kind = kind_of_error_type(provider_error.error_type.as_deref()).unwrap_or(ErrorKind::ProviderUnavailable);
    let detail = provider_error.message.clone().unwrap_or_else(|| "an error without a message".to_owned());
    let mut e = Error::new(kind, format!("anthropic: {detail}")).with_provider(NAME);
    e.provider_error = Some(provider_error);
    e
}

#[derive(Deserialize)]
struct MessageResponse {
    id: String,
    model: String,
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: AnthropicUsage,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    id: Option<String>,
    name: Option<String>,
    input: Option<Value>,
}

#[derive(Deserialize)]
struct AnthropicUsage {
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Value {
        let r = ChatRequest::parse(json.as_bytes()).unwrap();
        serde_json::from_slice(&Anthropic.request_body(&r, "claude").unwrap()).unwrap()
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

    #[test]
    fn rejects_fields_without_a_place_unless_dropped() {
        let r = ChatRequest::parse(br#"{"model": "m", "prompt": "x", "seed": 1}"#).unwrap();
        let e = Anthropic.request_body(&r, "m").unwrap_err();
        assert!(e.message.contains("`seed`") && e.message.contains("drop_params"), "{}", e.message);
        let r = ChatRequest::parse(br#"{"model": "m", "prompt": "x", "seed": 1, "drop_params": true, "top_k": 5}"#)
            .unwrap();
        let b: Value = serde_json::from_slice(&Anthropic.request_body(&r, "m").unwrap()).unwrap();
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
            json!({"prompt_tokens": 16, "completion_tokens": 5, "total_tokens": 21, "prompt_tokens_details": {"cached_tokens": 4}})
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
}
