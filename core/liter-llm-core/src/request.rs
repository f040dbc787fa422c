//! The one request model: OpenAI chat-completions-shaped JSON, validated once, with the
//! call-configuration fields taken out.

use std::sync::OnceLock;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::embedding::EmbeddingParams;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Requests larger than this are rejected before parsing.
pub const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

/// Longest per-call timeout accepted, in seconds (one day).
const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// Fields that configure the call and are never sent upstream.
pub const CALL_OPTION_FIELDS: &[&str] = &[
    "api_key",
    "base_url",
    "api_base",
    "timeout",
    "mock_response",
    "drop_params",
    "max_retries",
    "fallbacks",
    "cache",
    "operation",
    "api_version",
    "azure_ad_token",
    "trace_context",
];

/// The most retries one call may ask for.
pub const MAX_RETRIES_LIMIT: u32 = 10;

/// Per-call settings that override the environment.
#[derive(Debug, Default)]
pub struct CallOptions {
    pub api_key: Option<Secret>,
    pub base_url: Option<String>,
    pub timeout: Option<Duration>,
    pub mock_response: Option<String>,
    pub drop_params: bool,
    /// Retries after the first attempt; `None` means the default (2).
    pub max_retries: Option<u32>,
    /// Models (`provider/model`) tried in order when the primary fails with a
    /// rate limit, an outage, a timeout or a connection error.
    pub fallbacks: Vec<String>,
    /// The call's cache controls (`cache: {...}`, LiteLLM's names).
    pub cache: CacheControl,
    /// The API version a versioned provider (Azure OpenAI) is called with.
    pub api_version: Option<String>,
    /// A Microsoft Entra ID token, sent as `Authorization: Bearer` in place of the key.
    pub azure_ad_token: Option<Secret>,
    /// The caller's span (`trace_context: {"traceparent", "tracestate"}`), whose child the
    /// call's span becomes.
    pub trace_context: Option<TraceContext>,
}

/// W3C Trace Context headers, as the caller's tracer would send them.
#[derive(Debug, Default, Clone)]
pub struct TraceContext {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

/// Per-call cache controls: `{"no-cache": true}` (do not read), `{"no-store": true}` (do not
/// write), `{"ttl": seconds}`, `{"namespace": "..."}`.
#[derive(Debug, Default, Clone)]
pub struct CacheControl {
    pub no_cache: bool,
    pub no_store: bool,
    pub ttl: Option<Duration>,
    pub namespace: Option<String>,
}

/// A validated request: a chat request, or (with `embedding` set) an embedding request.
#[derive(Debug)]
pub struct ChatRequest {
    /// The request as the caller sent it, without call options and with `prompt` expanded into
    /// `messages` (`body()`). `model` still carries any `provider/` prefix. Built from `raw` when
    /// first read, when the request was read on the fast path.
    body: OnceLock<Map<String, Value>>,
    /// The caller's text and the spans of its members, for a request read on the fast path.
    raw: Option<RawBody>,
    /// A typed view of the fields every adapter understands.
    pub params: ChatParams,
    pub options: CallOptions,
    /// Set for `"operation": "embedding"`: the request's embedding fields. `params` then holds
    /// only the model, with no messages.
    pub embedding: Option<EmbeddingParams>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChatParams {
    pub model: String,
    pub messages: Vec<Message>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Option<Stop>,
    pub tools: Option<Vec<Tool>>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    /// OpenAI's reasoning effort (`minimal`, `low`, `medium`, `high`...); adapters map it to
    /// their provider's thinking settings.
    pub reasoning_effort: Option<String>,
    pub seed: Option<i64>,
    pub user: Option<String>,
    pub n: Option<u32>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub stream: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    System {
        content: Content,
    },
    Developer {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        tool_calls: Option<Vec<ToolCall>>,
    },
    Tool {
        content: Content,
        tool_call_id: String,
    },
}

/// Message content: a string, or an array of typed parts.
#[derive(Debug)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug)]
pub enum ContentPart {
    Text(String),
    ImageUrl(String),
    /// A part type the adapter decides about (`input_audio`, `file`, ...), named by its `type`.
    Other(String),
}

impl Content {
    /// The text of the content: a string as it is; text parts joined, other parts skipped.
    pub fn text(&self) -> String {
        match self {
            Content::Text(s) => s.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(""),
        }
    }

    /// The characters of `text()`, counted without building it.
    pub fn chars(&self) -> usize {
        match self {
            Content::Text(s) => s.chars().count(),
            Content::Parts(parts) => parts
                .iter()
                .map(|p| match p {
                    ContentPart::Text(t) => t.chars().count(),
                    _ => 0,
                })
                .sum(),
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) => Ok(Content::Text(s)),
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| parse_part(item).map_err(|m| de::Error::custom(format!("content[{i}]: {m}"))))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Content::Parts),
            other => Err(de::Error::custom(format!(
                "expected a string or an array of content parts, got {}",
                json_type(&other)
            ))),
        }
    }
}

fn parse_part(item: Value) -> std::result::Result<ContentPart, String> {
    let Value::Object(mut part) = item else {
        return Err(format!("expected an object, got {}", json_type(&item)));
    };
    let kind = match part.get("type") {
        Some(Value::String(t)) => t.clone(),
        _ => return Err("`type` must be a string".into()),
    };
    match kind.as_str() {
        "text" => match part.remove("text") {
            Some(Value::String(t)) => Ok(ContentPart::Text(t)),
            _ => Err("a text part needs a string `text`".into()),
        },
        "image_url" => {
            let url = match part.remove("image_url") {
                Some(Value::String(u)) => Some(u),
                Some(Value::Object(mut o)) => match o.remove("url") {
                    Some(Value::String(u)) => Some(u),
                    _ => None,
                },
                _ => None,
            };
            url.map(ContentPart::ImageUrl).ok_or_else(|| "an image_url part needs `image_url.url`".into())
        }
        _ => Ok(ContentPart::Other(kind)),
    }
}

#[derive(Debug, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub call_type: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

#[derive(Debug, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Deserialize)]
pub struct Tool {
    #[serde(rename = "type")]
    pub tool_type: String,
    pub function: FunctionDef,
}

#[derive(Debug, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Option<Value>,
}

#[derive(Debug)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Stop {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) => Ok(Stop::One(s)),
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => {
                        Err(de::Error::custom(format!("stop sequences must be strings, got {}", json_type(&other))))
                    }
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Stop::Many),
            other => {
                Err(de::Error::custom(format!("expected a string or an array of strings, got {}", json_type(&other))))
            }
        }
    }
}

#[derive(Debug, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Function(String),
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match &value {
            Value::String(s) => match s.as_str() {
                "auto" => return Ok(ToolChoice::Auto),
                "none" => return Ok(ToolChoice::None),
                "required" => return Ok(ToolChoice::Required),
                _ => {}
            },
            Value::Object(o) => {
                if let Some(Value::String(name)) = o.get("function").and_then(|f| f.get("name")) {
                    return Ok(ToolChoice::Function(name.clone()));
                }
            }
            _ => {}
        }
        Err(de::Error::custom(
            "expected \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}",
        ))
    }
}

#[derive(Debug)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema(Value),
}

impl<'de> Deserialize<'de> for ResponseFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value.get("type").and_then(Value::as_str) {
            Some("text") => Ok(ResponseFormat::Text),
            Some("json_object") => Ok(ResponseFormat::JsonObject),
            Some("json_schema") => match value.get("json_schema").and_then(|s| s.get("schema")) {
                Some(schema) => Ok(ResponseFormat::JsonSchema(schema.clone())),
                None => Err(de::Error::custom("a json_schema response_format needs `json_schema.schema`")),
            },
            _ => Err(de::Error::custom("expected {\"type\": \"text\" | \"json_object\" | \"json_schema\", ...}")),
        }
    }
}

pub(crate) use crate::error::json_type;

impl ChatRequest {
    /// The GenAI semantic conventions' `gen_ai.operation.name` of this request.
    pub fn operation_name(&self) -> &'static str {
        if self.embedding.is_some() {
            "embeddings"
        } else {
            "chat"
        }
    }

    /// Parses and validates the caller's JSON for a non-streaming call.
    pub fn parse(bytes: &[u8]) -> Result<ChatRequest> {
        ChatRequest::parse_for(bytes, false)
    }

    /// Parses and validates the caller's JSON; `streaming` allows `stream: true`.
    pub fn parse_for(bytes: &[u8], streaming: bool) -> Result<ChatRequest> {
        if bytes.len() > MAX_REQUEST_BYTES {
            return Err(Error::invalid_request(format!(
                "the request is {} bytes; the limit is {MAX_REQUEST_BYTES} bytes",
                bytes.len()
            )));
        }
        if let Some(request) = std::str::from_utf8(bytes).ok().and_then(|text| fast::parse(text, streaming)) {
            return Ok(request);
        }
        ChatRequest::parse_full(bytes, streaming)
    }

    /// `parse_for` without the fast path: the request read as a `serde_json::Value` tree. Gives
    /// what `parse_for` gives for every input (the fuzz target `request` holds the two equal);
    /// public for that comparison.
    #[doc(hidden)]
    pub fn parse_full(bytes: &[u8], streaming: bool) -> Result<ChatRequest> {
        let value: Value = crate::json::from_bytes(bytes)
            .map_err(|e| Error::invalid_request(format!("the request is not valid JSON: {e}")))?;
        let Value::Object(body) = value else {
            return Err(Error::invalid_request(format!(
                "the request must be a JSON object, got {}",
                json_type(&value)
            )));
        };
        ChatRequest::from_map(body, streaming)
    }

    pub fn from_map(mut body: Map<String, Value>, streaming: bool) -> Result<ChatRequest> {
        whole_numbers_as_integers(&mut body);
        let embedding = match body.remove("operation") {
            None | Some(Value::Null) => false,
            Some(Value::String(op)) if op == "chat" => false,
            Some(Value::String(op)) if op == "embedding" => true,
            Some(other) => {
                return Err(Error::invalid_request(format!(
                    "`operation` must be \"chat\" or \"embedding\", got {other}"
                )))
            }
        };
        let options = take_options(&mut body)?;
        if embedding {
            if streaming {
                return Err(Error::unsupported("embeddings are not streamed; use the whole call (liter_llm_invoke)"));
            }
            let params = EmbeddingParams::from_body(&body)?;
            let chat = ChatParams { model: params.model.clone(), ..ChatParams::default() };
            return Ok(ChatRequest {
                body: OnceLock::from(body),
                raw: None,
                params: chat,
                options,
                embedding: Some(params),
            });
        }
        if let Some(prompt) = body.remove("prompt") {
            if body.contains_key("messages") {
                return Err(Error::invalid_request("pass either `prompt` or `messages`, not both"));
            }
            let Value::String(text) = prompt else {
                return Err(Error::invalid_request(format!("`prompt` must be a string, got {}", json_type(&prompt))));
            };
            let message = serde_json::json!({"role": "user", "content": text});
            body.insert("messages".to_owned(), Value::Array(vec![message]));
        }
        for required in ["model", "messages"] {
            if !body.contains_key(required) {
                let hint = if required == "messages" { " (or `prompt`)" } else { "" };
                return Err(Error::invalid_request(format!("the request needs `{required}`{hint}")));
            }
        }
        // Plain serde first; only a request it rejects is read again to name the failing path
        // (the same deserialiser fails at the same place, with the same message).
        let params: ChatParams = match ChatParams::deserialize(MapRef(&body)) {
            Ok(params) => params,
            Err(plain) => {
                return Err(match serde_path_to_error::deserialize::<_, ChatParams>(MapRef(&body)) {
                    Err(e) => {
                        let path = e.path().to_string();
                        Error::invalid_request(format!("`{path}`: {}", e.into_inner()))
                    }
                    Ok(_) => Error::invalid_request(format!("`.`: {plain}")),
                })
            }
        };
        let params = checked(params, streaming)?;
        Ok(ChatRequest { body: OnceLock::from(body), raw: None, params, options, embedding: None })
    }

    /// The request as the caller sent it, without call options and with `prompt` expanded into
    /// `messages`. `model` still carries any `provider/` prefix.
    pub fn body(&self) -> &Map<String, Value> {
        self.body.get_or_init(|| self.raw.as_ref().map(RawBody::to_map).unwrap_or_default())
    }

    /// The caller's members as written, for a request read on the fast path (see `RawBody`).
    pub(crate) fn raw_body(&self) -> Option<&RawBody> {
        self.raw.as_ref()
    }

    /// Characters of text across the messages (the inputs of an embedding), for token estimates.
    pub fn prompt_chars(&self) -> usize {
        if let Some(embedding) = &self.embedding {
            return embedding.input_chars();
        }
        self.params
            .messages
            .iter()
            .map(|m| match m {
                Message::System { content } | Message::Developer { content } | Message::User { content } => {
                    content.chars()
                }
                Message::Tool { content, .. } => content.chars(),
                Message::Assistant { content, .. } => content.as_ref().map_or(0, Content::chars),
            })
            .sum()
    }

    /// `max_tokens`, or its newer name `max_completion_tokens`.
    pub fn max_tokens(&self) -> Option<u32> {
        self.params.max_tokens.or(self.params.max_completion_tokens)
    }
}

/// The checks of a chat request's typed fields that serde's shapes do not make.
fn checked(params: ChatParams, streaming: bool) -> Result<ChatParams> {
    if params.model.is_empty() {
        return Err(Error::invalid_request("`model` must not be empty"));
    }
    if params.messages.is_empty() {
        return Err(Error::invalid_request("`messages` must not be empty"));
    }
    if params.stream == Some(true) && !streaming {
        return Err(Error::unsupported(
            "`stream: true` needs the streaming call: liter_llm_stream() in C, stream=True in Python",
        ));
    }
    for (field, value) in [("max_tokens", params.max_tokens), ("max_completion_tokens", params.max_completion_tokens)] {
        if value == Some(0) {
            return Err(Error::invalid_request(format!("`{field}` must be at least 1")));
        }
    }
    Ok(params)
}

/// Deserialises `ChatParams` from a borrowed map without cloning it.
struct MapRef<'a>(&'a Map<String, Value>);

impl<'de> Deserializer<'de> for MapRef<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> std::result::Result<V::Value, Self::Error> {
        let map = de::value::MapDeserializer::new(self.0.iter().map(|(k, v)| (k.as_str(), v)));
        visitor.visit_map(map)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// Fields that take integers. A whole number written as a decimal (`5.0`, as Python's `json`
/// writes a float) is read as the integer, here and in the body sent upstream, so every
/// language's encoder gives the same request.
const INTEGER_FIELDS: &[&str] = &["max_tokens", "max_completion_tokens", "n", "seed", "max_retries", "top_k", "k"];

fn whole_numbers_as_integers(body: &mut Map<String, Value>) {
    for field in INTEGER_FIELDS {
        let Some(Value::Number(n)) = body.get(*field) else {
            continue;
        };
        if n.is_f64() {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                body.insert((*field).to_owned(), Value::from(f as i64));
            }
        }
    }
}

fn take_options(body: &mut Map<String, Value>) -> Result<CallOptions> {
    let mut options = CallOptions::default();
    let mut take_string = |name: &str| -> Result<Option<String>> {
        match body.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Error::invalid_request(format!("`{name}` must be a string, got {}", json_type(&other)))),
        }
    };
    options.api_key = take_string("api_key")?.map(Secret::new);
    let base_url = take_string("base_url")?;
    let api_base = take_string("api_base")?;
    options.base_url = base_url.or(api_base);
    options.mock_response = take_string("mock_response")?;
    options.api_version = take_string("api_version")?;
    options.azure_ad_token = take_string("azure_ad_token")?.map(Secret::new);
    options.timeout = match body.remove("timeout") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => {
            let secs = n.as_f64().unwrap_or(f64::NAN);
            if !(secs.is_finite() && secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
                return Err(Error::invalid_request(format!(
                    "`timeout` must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECS}, got {n}"
                )));
            }
            Some(Duration::from_secs_f64(secs))
        }
        Some(other) => {
            return Err(Error::invalid_request(format!(
                "`timeout` must be a number of seconds, got {}",
                json_type(&other)
            )))
        }
    };
    options.max_retries = match body.remove("max_retries") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= u64::from(MAX_RETRIES_LIMIT)) => {
            n.as_u64().map(|n| n as u32)
        }
        Some(other) => {
            return Err(Error::invalid_request(format!(
                "`max_retries` must be a whole number from 0 to {MAX_RETRIES_LIMIT}, got {other}"
            )))
        }
    };
    options.fallbacks = match body.remove("fallbacks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(model) if model.contains('/') => Ok(model),
                other => Err(Error::invalid_request(format!(
                    "`fallbacks[{i}]` must be a \"provider/model\" string, got {other}"
                ))),
            })
            .collect::<Result<Vec<_>>>()?,
        Some(other) => {
            return Err(Error::invalid_request(format!(
                "`fallbacks` must be an array of \"provider/model\" strings, got {}",
                json_type(&other)
            )))
        }
    };
    options.cache = match body.remove("cache") {
        None | Some(Value::Null) => CacheControl::default(),
        Some(Value::Object(controls)) => cache_control(controls)?,
        Some(other) => {
            return Err(Error::invalid_request(format!(
                "`cache` must be an object such as {{\"no-cache\": true}}, got {}",
                json_type(&other)
            )))
        }
    };
    options.trace_context = match body.remove("trace_context") {
        None | Some(Value::Null) => None,
        Some(Value::Object(mut headers)) => {
            let mut take = |name: &str| match headers.remove(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.len() <= 1024 => Ok(Some(s)),
                Some(other) => Err(Error::invalid_request(format!(
                    "`trace_context.{name}` must be a string of at most 1024 bytes, got {}",
                    json_type(&other)
                ))),
            };
            let traceparent = take("traceparent")?;
            let tracestate = take("tracestate")?;
            if let Some(name) = headers.keys().next() {
                return Err(Error::invalid_request(format!(
                    "`trace_context.{name}` is not a trace context field; pass `traceparent` and `tracestate`"
                )));
            }
            traceparent.map(|traceparent| TraceContext { traceparent, tracestate })
        }
        Some(other) => {
            return Err(Error::invalid_request(format!(
                "`trace_context` must be an object such as {{\"traceparent\": \"00-...\"}}, got {}",
                json_type(&other)
            )))
        }
    };
    options.drop_params = match body.remove("drop_params") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(Error::invalid_request(format!("`drop_params` must be a boolean, got {}", json_type(&other))))
        }
    };
    Ok(options)
}

fn cache_control(controls: Map<String, Value>) -> Result<CacheControl> {
    let mut out = CacheControl::default();
    for (name, value) in controls {
        match (name.as_str(), value) {
            (_, Value::Null) => {}
            ("no-cache", Value::Bool(b)) => out.no_cache = b,
            ("no-store", Value::Bool(b)) => out.no_store = b,
            ("ttl", Value::Number(n)) => {
                let secs = n.as_f64().unwrap_or(f64::NAN);
                if !(secs.is_finite() && secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
                    return Err(Error::invalid_request(format!(
                        "`cache.ttl` must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECS}, got {n}"
                    )));
                }
                out.ttl = Some(Duration::from_secs_f64(secs));
            }
            ("namespace", Value::String(s)) => out.namespace = Some(s),
            (field @ ("no-cache" | "no-store" | "ttl" | "namespace"), other) => {
                return Err(Error::invalid_request(format!(
                    "`cache.{field}` has the wrong type: {}",
                    json_type(&other)
                )))
            }
            (other, _) => {
                return Err(Error::invalid_request(format!(
                    "`cache.{other}` is not a cache control; use no-cache, no-store, ttl or namespace"
                )))
            }
        }
    }
    Ok(out)
}

/// A request read on the fast path: its text, and the byte spans of its top-level members other
/// than the call options (each key without its quotes, each value as written), sorted by key as
/// the `Map` of the full path is. No key of it is escaped, and none appears twice.
pub(crate) struct RawBody {
    text: Box<str>,
    members: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

/// The members only: the text also holds the call options, secrets among them.
impl std::fmt::Debug for RawBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.members()).finish()
    }
}

impl RawBody {
    /// Each member's key and its value's JSON text, in key order.
    pub(crate) fn members(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members.iter().map(|(k, v)| (&self.text[k.clone()], &self.text[v.clone()]))
    }

    /// The bytes of the members' text, for sizing a body written from them.
    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    /// The body as the full path builds it. Every value was checked by `fast::plain_json` to be
    /// one that `Value` reads.
    fn to_map(&self) -> Map<String, Value> {
        self.members().map(|(k, v)| (k.to_owned(), serde_json::from_str(v).unwrap_or(Value::Null))).collect()
    }
}

/// The fast path of `ChatRequest::parse_for`: a chat request whose text needs none of the full
/// path's rewriting is read without building a `serde_json::Value` tree of it. The typed fields
/// are deserialised from the members' text, the call options from small `Value`s of their own
/// members, and the body sent upstream is written from the members' text (`RawBody`). Any request
/// this path does not take as it is, valid or not, goes to the full path, which gives its result
/// and its errors.
mod fast {
    use std::sync::OnceLock;

    use serde::de::{self, Deserializer, MapAccess, Visitor};
    use serde::Deserialize;
    use serde_json::value::RawValue;
    use serde_json::{Map, Value};

    use super::{checked, take_options, ChatParams, ChatRequest, RawBody, CALL_OPTION_FIELDS, INTEGER_FIELDS};

    /// Deepest nesting taken here; serde_json's `Value` refuses past 128.
    const MAX_DEPTH: usize = 64;

    /// The top-level members, borrowed: a key with an escape in it fails (a borrowed `str`
    /// cannot hold its decoded text), which sends the request to the full path.
    struct Members<'a>(Vec<(&'a str, &'a RawValue)>);

    impl<'de> Deserialize<'de> for Members<'de> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Members<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                    let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                    while let Some(entry) = map.next_entry::<&'de str, &'de RawValue>()? {
                        members.push(entry);
                    }
                    Ok(Members(members))
                }
            }
            deserializer.deserialize_map(V)
        }
    }

    /// Whether every value in `text` is one serde_json's `Value` reads as the text says: no
    /// `\u` escape (a lone surrogate is refused by `Value`), no number with an exponent or of
    /// more than 40 characters (`Value` refuses one out of `f64`'s range), nesting of at most
    /// `MAX_DEPTH`. The checks that skip a value (`RawValue`, unknown fields) make none of
    /// these; all else (syntax, control characters, escapes) they check as `Value` does.
    pub(super) fn plain_json(text: &str) -> bool {
        let bytes = text.as_bytes();
        let mut depth = 0usize;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    i += 1;
                    while i < bytes.len() {
                        match bytes[i] {
                            b'"' => break,
                            b'\\' => {
                                if bytes.get(i + 1) == Some(&b'u') {
                                    return false;
                                }
                                i += 2;
                                continue;
                            }
                            _ => i += 1,
                        }
                    }
                }
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return false;
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    while i < bytes.len() && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                        if matches!(bytes[i], b'e' | b'E') {
                            return false;
                        }
                        i += 1;
                    }
                    if i - start > 40 {
                        return false;
                    }
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        true
    }

    /// The request, when it takes this path (see the module's comment); `None` sends it to the
    /// full path.
    pub(super) fn parse(text: &str, streaming: bool) -> Option<ChatRequest> {
        if !plain_json(text) {
            return None;
        }
        let Members(mut members) = serde_json::from_str(text).ok()?;
        members.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if members.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
        let mut options = Map::new();
        let mut body = Vec::with_capacity(members.len());
        for &(key, value) in &members {
            match key {
                "operation" | "prompt" => return None,
                _ if CALL_OPTION_FIELDS.contains(&key) => {
                    options.insert(key.to_owned(), serde_json::from_str::<Value>(value.get()).ok()?);
                }
                // A whole number written as a decimal is rewritten by the full path.
                _ if INTEGER_FIELDS.contains(&key) && value.get().contains('.') => return None,
                _ => body.push((key, value)),
            }
        }
        let options = take_options(&mut options).ok()?;
        let params = ChatParams::deserialize(de::value::MapDeserializer::<_, serde_json::Error>::new(
            body.iter().map(|&(k, v)| (k, v)),
        ))
        .ok()?;
        let params = checked(params, streaming).ok()?;
        let base = text.as_ptr() as usize;
        let span = |s: &str| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        let members = body.iter().map(|&(k, v)| (span(k), span(v.get()))).collect();
        let raw = RawBody { text: text.into(), members };
        Some(ChatRequest { body: OnceLock::new(), raw: Some(raw), params, options, embedding: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_controls_are_call_options() {
        let r = parse(r#"{"model": "m", "prompt": "x", "cache": {"no-cache": true, "ttl": 5, "namespace": "team-a"}}"#)
            .unwrap();
        assert!(!r.body().contains_key("cache"));
        assert!(r.options.cache.no_cache && !r.options.cache.no_store);
        assert_eq!(r.options.cache.ttl, Some(Duration::from_secs(5)));
        assert_eq!(r.options.cache.namespace.as_deref(), Some("team-a"));
        for bad in [r#""yes""#, r#"{"no-cache": 1}"#, r#"{"ttl": 0}"#, r#"{"nocache": true}"#] {
            let e = parse(&format!(r#"{{"model": "m", "prompt": "x", "cache": {bad}}}"#)).unwrap_err();
            assert!(e.message.contains("cache"), "{bad}: {}", e.message);
        }
    }

    fn parse(json: &str) -> Result<ChatRequest> {
        ChatRequest::parse(json.as_bytes())
    }

    #[test]
    fn prompt_becomes_a_user_message() {
        let r = parse(r#"{"model": "m", "prompt": "hi"}"#).unwrap();
        assert_eq!(r.body()["messages"], serde_json::json!([{"role": "user", "content": "hi"}]));
        assert!(matches!(&r.params.messages[0], Message::User { content: Content::Text(t) } if t == "hi"));
    }

    #[test]
    fn call_options_are_removed_from_the_body() {
        let r = parse(r#"{"model": "m", "prompt": "hi", "api_key": "sk-x", "api_base": "http://h", "timeout": 1.5, "drop_params": true}"#).unwrap();
        for k in CALL_OPTION_FIELDS {
            assert!(!r.body().contains_key(*k), "{k} left in body");
        }
        assert_eq!(r.options.api_key.unwrap().expose(), "sk-x");
        assert_eq!(r.options.base_url.as_deref(), Some("http://h"));
        assert_eq!(r.options.timeout, Some(Duration::from_millis(1500)));
        assert!(r.options.drop_params);
    }

    #[test]
    fn errors_name_the_path() {
        let e =
            parse(r#"{"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]}"#)
                .unwrap_err();
        assert!(e.message.contains("messages[1]"), "{}", e.message);
        assert!(e.message.contains("bot"), "{}", e.message);
        let e = parse(r#"{"model": 3, "messages": []}"#).unwrap_err();
        assert!(e.message.contains("`model`"), "{}", e.message);
        let e = parse(r#"{"model": "m", "messages": "hi"}"#).unwrap_err();
        assert!(e.message.contains("`messages`"), "{}", e.message);
    }

    #[test]
    fn rejects_bad_shapes() {
        for (json, needle) in [
            ("[]", "JSON object"),
            ("{", "not valid JSON"),
            (r#"{"messages": [{"role":"user","content":"x"}]}"#, "needs `model`"),
            (r#"{"model": "m"}"#, "needs `messages`"),
            (r#"{"model": "m", "messages": []}"#, "must not be empty"),
            (r#"{"model": "m", "prompt": "a", "messages": []}"#, "not both"),
            (r#"{"model": "m", "prompt": "a", "timeout": -1}"#, "`timeout`"),
            (r#"{"model": "m", "prompt": "a", "timeout": "5"}"#, "`timeout`"),
            (r#"{"model": "m", "prompt": "a", "max_tokens": 0}"#, "at least 1"),
            (r#"{"model": "m", "prompt": "a", "stop": [1]}"#, "stop"),
            (r#"{"model": "m", "messages": [{"role":"user","content":5}]}"#, "content"),
        ] {
            let e = parse(json).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::InvalidRequest, "{json}");
            assert!(e.message.contains(needle), "{json}: {}", e.message);
        }
    }

    #[test]
    fn whole_number_decimals_are_integers() {
        let r = parse(
            r#"{"model": "m", "prompt": "x", "max_tokens": 5.0, "seed": -2.0, "max_retries": 1.0, "temperature": 1.0}"#,
        )
        .unwrap();
        assert_eq!(r.params.max_tokens, Some(5));
        assert_eq!(r.body()["max_tokens"].to_string(), "5");
        assert_eq!(r.body()["seed"].to_string(), "-2");
        assert_eq!(r.body()["temperature"].to_string(), "1.0", "non-integer fields are left alone");
        assert_eq!(r.options.max_retries, Some(1));
        let e = parse(r#"{"model": "m", "prompt": "x", "max_tokens": 5.5}"#).unwrap_err();
        assert!(e.message.contains("max_tokens"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse(&json).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::InvalidRequest);
    }

    #[test]
    fn oversized_requests_are_rejected_before_parsing() {
        let big = vec![b' '; MAX_REQUEST_BYTES + 1];
        let e = ChatRequest::parse(&big).unwrap_err();
        assert!(e.message.contains("limit"), "{}", e.message);
    }

    #[test]
    fn content_parts_and_tools_parse() {
        let r = parse(r#"{"model": "m", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}}, "stop": "END"}"#).unwrap();
        assert_eq!(r.params.messages.len(), 3);
        assert_eq!(r.params.tool_choice, Some(ToolChoice::Function("f".into())));
        assert_eq!(r.params.stop.unwrap().to_vec(), vec!["END".to_owned()]);
    }

    #[test]
    fn content_chars_are_those_of_its_text() {
        let r = parse(r#"{"model": "m", "messages": [
            {"role": "system", "content": "h\u00e9llo"},
            {"role": "user", "content": [{"type": "text", "text": "a\u00e9"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "bc"}]},
            {"role": "assistant", "content": null},
            {"role": "assistant", "content": "ok"},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "42"}]}]}"#).unwrap();
        let mut total = 0;
        for m in &r.params.messages {
            let content = match m {
                Message::System { content } | Message::Developer { content } | Message::User { content } => {
                    Some(content)
                }
                Message::Tool { content, .. } => Some(content),
                Message::Assistant { content, .. } => content.as_ref(),
            };
            if let Some(content) = content {
                assert_eq!(content.chars(), content.text().chars().count(), "{content:?}");
                total += content.chars();
            }
        }
        assert_eq!(r.prompt_chars(), total);
        assert_eq!(total, 5 + 4 + 2 + 2);
    }

    /// What a parse gives, for comparing the two paths: the body, the typed fields, the options
    /// (the secrets exposed) or the error.
    fn outcome(r: &Result<ChatRequest>) -> String {
        match r {
            Ok(r) => format!(
                "{:?} {:?} {:?} {:?} {:?}",
                r.body(),
                r.params,
                r.options,
                r.options.api_key.as_ref().map(|k| k.expose().to_owned()),
                r.options.azure_ad_token.as_ref().map(|k| k.expose().to_owned()),
            ),
            Err(e) => format!("error {:?} {}", e.kind, e.message),
        }
    }

    #[test]
    fn the_fast_path_reads_as_the_full_path_reads() {
        let m = r#""messages": [{"role": "user", "content": "hi"}]"#;
        let cases = [
            format!(r#"{{"model": "openai/gpt-4o-mini", {m}, "max_tokens": 5, "temperature": 0.2}}"#),
            format!(r#"{{"model": "m", {m}, "api_key": "sk-1", "base_url": "http://127.0.0.1:1/v1", "timeout": 2}}"#),
            format!(r#"{{"model": "m", {m}, "max_tokens": 5.0}}"#),
            format!(r#"{{"model": "m", {m}, "top_k": 5.0, "seed": 3}}"#),
            format!(r#"{{"model": "m", {m}, "x": 1e400}}"#),
            format!(r#"{{"model": "m", {m}, "x": 1e3}}"#),
            format!(r#"{{"model": "m", {m}, "x": "\ud800"}}"#),
            format!(r#"{{"model": "m", {m}, "x": "caf\u00e9 \n \" \\"}}"#),
            format!(r#"{{"model": "m", {m}, "model": "n"}}"#),
            format!(r#"{{"model": "m", {m}, "extra": 1, "extra": 2}}"#),
            format!(r#"{{"model": "m", {m}, "m\u006fdel": "n"}}"#),
            format!(r#"{{"model": "", {m}}}"#),
            r#"{"model": "m", "messages": []}"#.to_owned(),
            format!(r#"{{"model": "m", {m}, "stream": true}}"#),
            format!(r#"{{"model": "m", {m}, "max_tokens": 0}}"#),
            format!(r#"{{"model": "m", {m}, "max_tokens": -1}}"#),
            format!(r#"{{"model": "m", {m}, "max_retries": 2.0, "fallbacks": ["a/b"], "cache": {{"ttl": 5}}}}"#),
            format!(r#"{{"model": "m", {m}, "max_retries": 99}}"#),
            format!(r#"{{"model": "m", {m}, "trace_context": {{"traceparent": "00-x"}}, "drop_params": true}}"#),
            format!(r#"{{"model": "m", {m}, "operation": "chat"}}"#),
            r#"{"model": "m", "prompt": "hi"}"#.to_owned(),
            r#"{"model": "m", "input": "hi", "operation": "embedding"}"#.to_owned(),
            format!(r#"{{"model": "m", {m}, "n": 1, "x": {}}}"#, "[".repeat(70) + &"]".repeat(70)),
            format!(r#"{{"model": "m", {m}, "x": {}}}"#, "[".repeat(200) + &"]".repeat(200)),
            format!(r#"{{"model": "m", {m}, "x": 123456789012345678901234567890123456789012345}}"#),
            format!(r#"{{"model": "m", {m}, "x": -0.5, "y": null, "z": [true, false, {{}}]}}"#),
            format!(r#"{{"model": "m", {m}, "x": "tab	inside"}}"#),
            format!(r#"{{"model": "m", {m}}} trailing"#),
            format!(r#"{{"model": "m", {m},}}"#),
            format!(r#"{{"model": 5, {m}}}"#),
            r#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "http://x"}}]}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, {"role": "tool", "content": "r", "tool_call_id": "c"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}], "tool_choice": "auto", "stop": ["x"], "response_format": {"type": "json_object"}}"#.to_owned(),
            r#"{"model": "m", "messages": [{"role": "user", "content": "a", "content": "b"}]}"#.to_owned(),
            r#"{"model": "m", "messages": [{"role": "wizard", "content": "a"}]}"#.to_owned(),
            r#"[1, 2]"#.to_owned(),
            String::new(),
        ];
        for case in &cases {
            for streaming in [false, true] {
                let fast = ChatRequest::parse_for(case.as_bytes(), streaming);
                let full = ChatRequest::parse_full(case.as_bytes(), streaming);
                assert_eq!(outcome(&fast), outcome(&full), "for {case}");
            }
        }
        // A request's debug form holds none of its call options' values.
        let keyed = ChatRequest::parse(cases[1].as_bytes()).unwrap();
        assert!(keyed.raw_body().is_some());
        assert!(!format!("{keyed:?}").contains("sk-1"), "{keyed:?}");
        // The first case takes the fast path, and its upstream body is the full path's JSON.
        let fast = ChatRequest::parse(cases[0].as_bytes()).unwrap();
        assert!(fast.raw_body().is_some());
        let full = ChatRequest::parse_full(cases[0].as_bytes(), false).unwrap();
        assert!(full.raw_body().is_none());
        let ours = crate::providers::openai::request_chat_body(&fast, "gpt-4o-mini", false).unwrap();
        let theirs = crate::providers::openai::request_chat_body(&full, "gpt-4o-mini", false).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&ours).unwrap(), serde_json::from_slice::<Value>(&theirs).unwrap());
        let keys =
            |b: &[u8]| serde_json::from_slice::<Map<String, Value>>(b).unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&ours), keys(&theirs));
        assert!(ours.windows(11).any(|w| w == b"gpt-4o-mini") && !ours.windows(7).any(|w| w == b"openai/"));
    }
}
