//! Cohere Chat v2 (`POST /v2/chat`).

use reqwest::header::{HeaderMap, AUTHORIZATION};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::{Error, ErrorKind, ProviderError, Result};
use crate::provider::{check_fields, copy_native, provider_error_from, EnvSettings, Provider};
use crate::providers::openai::bearer;
use crate::request::{ChatRequest, Content, ContentPart, Message, ResponseFormat, ToolChoice};
use crate::response::{ChatCompletion, FunctionOut, ToolCallOut, Usage};
use crate::secret::Secret;

pub struct Cohere;

static ENV: EnvSettings = EnvSettings {
    key_vars: &["CO_API_KEY", "COHERE_API_KEY"],
    base_url_vars: &["CO_API_URL", "COHERE_BASE_URL"],
    default_base_url: "https://api.cohere.com",
};

const MAPPED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "top_p",
    "temperature",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "tools",
    "tool_choice",
    "response_format",
    "n",
    "stream",
    "stream_options",
];
const NATIVE: &[&str] = &["k", "documents", "citation_options", "safety_mode", "strict_tools", "logprobs"];

const NAME: &str = "cohere";

fn invalid(message: String) -> Error {
    Error::invalid_request(message).with_provider(NAME)
}

fn content_value(content: &Content, at: usize) -> Result<Value> {
    match content {
        Content::Text(t) => Ok(Value::String(t.clone())),
        Content::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text(t) => Ok(json!({"type": "text", "text": t})),
                ContentPart::ImageUrl(url) => Ok(json!({"type": "image_url", "image_url": {"url": url}})),
                ContentPart::Other(kind) => {
                    Err(invalid(format!("`messages[{at}]`: cohere has no place for content parts of type '{kind}'")))
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(Value::Array),
    }
}

fn build_messages(request: &ChatRequest) -> Result<Vec<Value>> {
    request
        .params
        .messages
        .iter()
        .enumerate()
        .map(|(at, message)| {
            Ok(match message {
                Message::System { content } | Message::Developer { content } => {
                    json!({"role": "system", "content": content_value(content, at)?})
                }
                Message::User { content } => json!({"role": "user", "content": content_value(content, at)?}),
                Message::Assistant { content, tool_calls } => {
                    let mut m = Map::new();
                    m.insert("role".into(), "assistant".into());
                    if let Some(content) = content {
                        let text_is_empty = matches!(content, Content::Text(t) if t.is_empty());
                        if !text_is_empty {
                            m.insert("content".into(), content_value(content, at)?);
                        }
                    }
                    if let Some(calls) = tool_calls.as_deref().filter(|c| !c.is_empty()) {
                        let calls: Vec<Value> = calls
                            .iter()
                            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}))
                            .collect();
                        m.insert("tool_calls".into(), Value::Array(calls));
                    }
                    Value::Object(m)
                }
                Message::Tool { content, tool_call_id } => {
                    json!({"role": "tool", "tool_call_id": tool_call_id, "content": content_value(content, at)?})
                }
            })
        })
        .collect()
}

impl Provider for Cohere {
    fn name(&self) -> &'static str {
        NAME
    }

    fn env(&self) -> Option<&EnvSettings> {
        Some(&ENV)
    }

    fn path(&self) -> &'static str {
        "/v2/chat"
    }

    fn auth_headers(&self, key: &Secret, headers: &mut HeaderMap) -> Result<()> {
        headers.insert(AUTHORIZATION, bearer(key)?);
        Ok(())
    }

    fn request_body(&self, request: &ChatRequest, model: &str) -> Result<Vec<u8>> {
        check_fields(NAME, request, MAPPED, NATIVE)?;
        let p = &request.params;
        if p.n.is_some_and(|n| n != 1) {
            return Err(invalid("cohere returns one choice per call; `n` must be 1".into()));
        }
        let mut body = Map::new();
        body.insert("model".into(), model.into());
        body.insert("messages".into(), Value::Array(build_messages(request)?));
        if let Some(m) = request.max_tokens() {
            body.insert("max_tokens".into(), m.into());
        }
        if let Some(stop) = &p.stop {
            body.insert("stop_sequences".into(), stop.to_vec().into());
        }
        for (name, value) in [
            ("temperature", p.temperature),
            ("p", p.top_p),
            ("frequency_penalty", p.frequency_penalty),
            ("presence_penalty", p.presence_penalty),
        ] {
            if let Some(v) = value {
                body.insert(name.into(), v.into());
            }
        }
        if let Some(seed) = p.seed {
            body.insert("seed".into(), seed.into());
        }
        if let Some(tools) = &p.tools {
            let tools: Vec<Value> = tools
                .iter()
                .map(|t| {
                    let mut f = Map::new();
                    f.insert("name".into(), t.function.name.clone().into());
                    if let Some(d) = &t.function.description {
                        f.insert("description".into(), d.clone().into());
                    }
                    if let Some(params) = &t.function.parameters {
                        f.insert("parameters".into(), params.clone());
                    }
                    json!({"type": "function", "function": f})
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        match &p.tool_choice {
            None | Some(ToolChoice::Auto) => {}
            Some(ToolChoice::Required) => {
                body.insert("tool_choice".into(), "REQUIRED".into());
            }
            Some(ToolChoice::None) => {
                body.insert("tool_choice".into(), "NONE".into());
            }
            Some(ToolChoice::Function(name)) => {
                return Err(invalid(format!(
                    "cohere cannot be told to call one named tool ('{name}'); use \"required\" or \"auto\""
                )))
            }
        }
        if let Some(format) = &p.response_format {
            let value = match format {
                ResponseFormat::Text => json!({"type": "text"}),
                ResponseFormat::JsonObject => json!({"type": "json_object"}),
                ResponseFormat::JsonSchema(schema) => json!({"type": "json_object", "json_schema": schema}),
            };
            body.insert("response_format".into(), value);
        }
        copy_native(request, NATIVE, &mut body);
        serde_json::to_vec(&body).map_err(|e| Error::internal(format!("could not serialise the request: {e}")))
    }

    fn parse_response(&self, model: &str, body: &[u8]) -> Result<Vec<u8>> {
        let r: ChatResponse = serde_json::from_slice(body)
            .map_err(|e| Error::bad_response(format!("cohere: the response is not a Chat v2 response: {e}")))?;
        let finish_reason = match r.finish_reason.as_str() {
            "COMPLETE" | "STOP_SEQUENCE" => "stop",
            "MAX_TOKENS" => "length",
            "TOOL_CALL" => "tool_calls",
            "ERROR_TOXIC" => "content_filter",
            other => {
                let mut e = Error::new(
                    ErrorKind::ProviderUnavailable,
                    format!("cohere: the generation ended with finish_reason {other}"),
                )
                .with_provider(NAME)
                .with_status(200);
                e.provider_error =
                    Some(ProviderError { error_type: Some(other.to_owned()), message: None, code: None });
                return Err(e);
            }
        };
        let message = r.message.unwrap_or_default();
        let texts: Vec<&str> =
            message.content.iter().filter(|c| c.kind == "text").filter_map(|c| c.text.as_deref()).collect();
        let content = (!texts.is_empty()).then(|| texts.concat());
        let tool_calls = message
            .tool_calls
            .into_iter()
            .map(|c| ToolCallOut {
                id: c.id,
                call_type: "function",
                function: FunctionOut { name: c.function.name, arguments: c.function.arguments },
            })
            .collect();
        let usage = r
            .usage
            .and_then(|u| u.tokens.or(u.billed_units))
            .map(|t| Usage::new(t.input_tokens.unwrap_or(0.0) as u64, t.output_tokens.unwrap_or(0.0) as u64));
        Ok(ChatCompletion::single(r.id, model.to_owned(), content, tool_calls, finish_reason, usage).to_json())
    }

    fn parse_error_body(&self, body: &Value) -> ProviderError {
        provider_error_from(body)
    }
}

#[derive(Deserialize)]
struct ChatResponse {
    id: String,
    finish_reason: String,
    message: Option<ResponseMessage>,
    usage: Option<CohereUsage>,
}

#[derive(Deserialize, Default)]
struct ResponseMessage {
    #[serde(default)]
    content: Vec<ContentItem>,
    #[serde(default)]
    tool_calls: Vec<CohereToolCall>,
}

#[derive(Deserialize)]
struct ContentItem {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
struct CohereToolCall {
    id: String,
    function: CohereFunction,
}

#[derive(Deserialize)]
struct CohereFunction {
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
struct CohereUsage {
    billed_units: Option<Tokens>,
    tokens: Option<Tokens>,
}

#[derive(Deserialize)]
struct Tokens {
    input_tokens: Option<f64>,
    output_tokens: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Result<Value> {
        let r = ChatRequest::parse(json.as_bytes()).unwrap();
        Cohere.request_body(&r, "command-r").map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn maps_the_request() {
        let b = body(r#"{"model": "cohere/command-r", "top_p": 0.5, "stop": ["x"], "max_completion_tokens": 9, "tool_choice": "required",
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
            "messages": [{"role": "developer", "content": "sys"}, {"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"}]}"#).unwrap();
        assert_eq!(b["p"], 0.5);
        assert_eq!(b["stop_sequences"], json!(["x"]));
        assert_eq!(b["max_tokens"], 9);
        assert_eq!(b["tool_choice"], "REQUIRED");
        assert_eq!(b["response_format"], json!({"type": "json_object", "json_schema": {"type": "object"}}));
        assert_eq!(b["messages"][0], json!({"role": "system", "content": "sys"}));
        assert!(b["messages"][2].get("content").is_none());
        assert_eq!(b["messages"][3], json!({"role": "tool", "tool_call_id": "c1", "content": "r"}));
    }

    #[test]
    fn rejects_what_has_no_place() {
        let e = body(r#"{"model": "m", "prompt": "x", "user": "u"}"#).unwrap_err();
        assert!(e.message.contains("`user`"), "{}", e.message);
        let e =
            body(r#"{"model": "m", "prompt": "x", "tool_choice": {"type": "function", "function": {"name": "f"}}}"#)
                .unwrap_err();
        assert!(e.message.contains("'f'"), "{}", e.message);
        let e = body(r#"{"model": "m", "prompt": "x", "n": 2}"#).unwrap_err();
        assert!(e.message.contains("`n`"), "{}", e.message);
    }

    #[test]
    fn maps_the_response() {
        let raw = br#"{"id": "c-1", "finish_reason": "TOOL_CALL", "message": {"role": "assistant", "tool_plan": "p",
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 2}, "tokens": {"input_tokens": 70, "output_tokens": 20}}}"#;
        let out: Value = serde_json::from_slice(&Cohere.parse_response("command-r", raw).unwrap()).unwrap();
        assert_eq!(out["model"], "command-r");
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(out["choices"][0]["message"]["tool_calls"][0]["id"], "t1");
        assert_eq!(out["usage"], json!({"prompt_tokens": 70, "completion_tokens": 20, "total_tokens": 90}));
        let raw = br#"{"id": "c-2", "finish_reason": "ERROR", "message": {"role": "assistant", "content": []}}"#;
        let e = Cohere.parse_response("m", raw).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ProviderUnavailable);
        assert!(e.message.contains("ERROR"));
    }
}
