//! The `Provider` trait every adapter implements, the `StreamDecoder` it returns for a stream,
//! and the helpers adapters share. The adapters themselves, and the registry that lists them,
//! are in `crate::providers`.

use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Url;
use serde_json::{Map, Value};

use crate::embedding::{EmbeddingParams, Embeddings};
use crate::error::{Error, ErrorKind, ProviderError, Result};
use crate::request::{ChatRequest, Content, ContentPart};
use crate::response::{Answer, Observing};
use crate::secret::Secret;
use crate::sse::SseEvent;

/// Where a provider's settings come from in the environment.
pub struct EnvSettings {
    /// Variables holding the key, in order of preference.
    pub key_vars: &'static [&'static str],
    /// Variables holding the base URL, in order of preference.
    pub base_url_vars: &'static [&'static str],
    pub default_base_url: &'static str,
}

/// What one call asks of an endpoint, for adapters whose URL depends on it.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// The model as sent upstream (routing prefix removed).
    pub model: &'a str,
    pub streaming: bool,
    /// An embedding call rather than a chat call.
    pub embedding: bool,
    /// The call's `api_version`, else the configured one.
    pub api_version: Option<&'a str>,
}

/// What a call authenticates with.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// An API key (the call's `api_key`, the configuration, or the key variable).
    Key(&'a Secret),
    /// A bearer token in place of a key (`azure_ad_token`).
    Token(&'a Secret),
}

/// The error for an embedding call to a provider without embeddings.
pub fn no_embeddings(provider: &'static str) -> Error {
    Error::unsupported(format!(
        "{provider} has no embeddings API; use a provider that has one (openai, azure, cohere, gemini, ...)"
    ))
    .with_provider(provider)
}

/// An adapter between the OpenAI-shaped request/response and one provider's wire format, both
/// ways, streaming included.
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;

    /// `None` for providers that need no network and take no settings (the mock).
    fn env(&self) -> Option<&EnvSettings>;

    /// Path appended to the base URL.
    fn path(&self) -> &'static str;

    /// Adds the authentication (and version) headers.
    fn auth_headers(&self, key: &Secret, headers: &mut HeaderMap) -> Result<()>;

    /// The upstream request body. `model` is the model name with any routing prefix removed;
    /// `streaming` asks the provider for a stream of server-sent events.
    fn request_body(&self, request: &ChatRequest, model: &str, streaming: bool) -> Result<Vec<u8>>;

    /// Turns a 2xx body into OpenAI `chat.completion` JSON.
    fn parse_response(&self, model: &str, body: &[u8]) -> Result<Vec<u8>>;

    /// `parse_response` of an owned body. A provider whose answers are OpenAI chat completions
    /// kept as they are checks and reads the body in one pass (`openai::read_completion`), and
    /// reads the facts the call's observers want in it when the call is `observing`.
    fn parse_answer(&self, model: &str, body: Vec<u8>, _observing: Observing) -> Result<Answer> {
        self.parse_response(model, &body).map(Answer::unread)
    }

    /// A decoder for one streamed answer; `model` is the model as requested upstream (used when
    /// the provider's stream does not name it).
    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder>;

    /// Extracts the provider's own error description from an error body.
    fn parse_error_body(&self, body: &Value) -> ProviderError;

    /// A provider-specific refinement of the status-derived kind.
    fn error_kind(&self, status: u16, _provider_error: &ProviderError) -> ErrorKind {
        ErrorKind::from_status(status)
    }

    /// Answers without the network; only the mock does.
    fn respond_locally(&self, _request: &ChatRequest, _model: &str) -> Option<Result<Vec<u8>>> {
        None
    }

    /// The path (and query) appended to the base URL for one call: `path()` for chat, and for
    /// embeddings the adapter's embeddings endpoint (by default, none: `no_embeddings`).
    fn endpoint_path(&self, endpoint: &Endpoint<'_>) -> Result<String> {
        if endpoint.embedding {
            return Err(no_embeddings(self.name()));
        }
        Ok(self.path().to_owned())
    }

    /// Adds the authentication headers for `credential`: by default `auth_headers` with the key
    /// or token.
    fn authenticate(&self, credential: Credential<'_>, headers: &mut HeaderMap) -> Result<()> {
        match credential {
            Credential::Key(secret) | Credential::Token(secret) => self.auth_headers(secret, headers),
        }
    }

    /// The upstream body of an embedding call.
    fn embedding_body(&self, _request: &ChatRequest, _params: &EmbeddingParams, _model: &str) -> Result<Vec<u8>> {
        Err(no_embeddings(self.name()))
    }

    /// Reads a 2xx embeddings answer: the vectors in input order, as the provider encoded them.
    fn parse_embedding(&self, _model: &str, _body: &[u8]) -> Result<Embeddings> {
        Err(no_embeddings(self.name()))
    }

    /// Streams an answer without the network (the chunks, in order); only the mock does.
    fn stream_locally(&self, _request: &ChatRequest, _model: &str) -> Option<Result<Vec<Vec<u8>>>> {
        None
    }

    /// The base URL when neither the call, the configuration nor a base URL variable names one,
    /// for providers whose endpoint depends on more than a constant (a region); `None` (the
    /// default) means `env().default_base_url`.
    fn default_base_url(&self) -> Result<Option<String>> {
        Ok(None)
    }

    /// For a provider that can authenticate by signing each request instead of sending a key
    /// (AWS SigV4): the signer for a call to `url` when no key is set. `None` (the default): the
    /// provider needs a key. `Some(Err)`: neither a key nor signing credentials are set.
    fn signer(&self, _url: &Url) -> Option<Result<Arc<dyn Signer>>> {
        None
    }
}

/// Signs every attempt of a call just before it is sent, for signatures that cover the time
/// (AWS SigV4): a retry is signed anew.
pub trait Signer: Send + Sync {
    /// What stands for the key where a call's key is used: the cache's tenant scope and the
    /// audit trail's `key_id` (both hash it), and the text redacted from upstream messages.
    fn identity(&self) -> &Secret;

    /// Adds the signature headers for a POST of `body` to `url` carrying `headers`.
    fn sign(&self, url: &Url, headers: &mut HeaderMap, body: &[u8]) -> Result<()>;
}

/// What one event produced: chunk JSON texts to forward, and whether the stream is complete.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    pub chunks: Vec<Vec<u8>>,
    pub done: bool,
}

/// Turns one provider's stream, event by event, into OpenAI `chat.completion.chunk` JSON.
pub trait StreamDecoder: Send {
    /// One SSE event in, zero or more chunk JSON texts out; `done` once the stream's terminal
    /// event was seen (later events are ignored by the caller).
    fn on_event(&mut self, event: &SseEvent) -> Result<Step>;

    /// The error to report when the stream ended (EOF) before its terminal event.
    fn ended_early(&self) -> Error;

    /// The stream's total tokens (prompt + completion, as in the usage chunk the decoder emitted
    /// or will emit) once the provider has reported usage; `None` before.
    fn reported_tokens(&self) -> Option<u64>;

    /// `true` for a stream not framed as server-sent events (Bedrock's AWS event stream): the
    /// transport then hands the raw bytes to `on_bytes` and never calls `on_event`.
    fn takes_bytes(&self) -> bool {
        false
    }

    /// The response bytes as they arrive (see `takes_bytes`): chunk JSON texts pushed onto
    /// `chunks`, `true` once the terminal event was read. On an error, the chunks of the events
    /// before it are already in `chunks`, and are delivered before the error.
    fn on_bytes(&mut self, _bytes: &[u8], _chunks: &mut Vec<Vec<u8>>) -> Result<bool> {
        Err(Error::internal("this stream decoder reads server-sent events, not raw bytes"))
    }
}

/// A header value that carries the API key, marked sensitive so it is never logged.
pub fn key_header(value: String) -> Result<HeaderValue> {
    let mut value = HeaderValue::try_from(value).map_err(|_| {
        Error::new(ErrorKind::Authentication, "the API key contains characters that cannot be sent in an HTTP header")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `Authorization: Bearer <key>`, marked sensitive.
pub fn bearer(key: &Secret) -> Result<HeaderValue> {
    let mut value = String::with_capacity(7 + key.expose().len());
    value.push_str("Bearer ");
    value.push_str(key.expose());
    key_header(value)
}

/// Rejects (or, with `drop_params`, lists for dropping) body fields an adapter has no place for.
pub fn check_fields(provider: &str, request: &ChatRequest, mapped: &[&str], native: &[&str]) -> Result<()> {
    if request.options.drop_params {
        return Ok(());
    }
    for key in request.body().keys() {
        if mapped.contains(&key.as_str()) || native.contains(&key.as_str()) {
            continue;
        }
        if is_null(request.body(), key) {
            continue;
        }
        return Err(Error::invalid_request(format!(
            "{provider} has no place for the field `{key}`; remove it, or pass \"drop_params\": true to drop such fields"
        ))
        .with_provider(provider));
    }
    Ok(())
}

fn is_null(body: &Map<String, Value>, key: &str) -> bool {
    matches!(body.get(key), Some(Value::Null))
}

/// Copies the provider-native fields the caller set into the upstream body.
pub fn copy_native(request: &ChatRequest, native: &[&str], out: &mut Map<String, Value>) {
    for key in native {
        if let Some(v) = request.body().get(*key) {
            if !v.is_null() {
                out.insert((*key).to_owned(), v.clone());
            }
        }
    }
}

/// The thinking-token budget for each `reasoning_effort`, as LiteLLM maps them (1024 is the
/// smallest budget Anthropic accepts).
const REASONING_BUDGETS: &[(&str, u32)] =
    &[("minimal", 1024), ("low", 1024), ("medium", 2048), ("high", 4096), ("xhigh", 8192)];

/// The thinking budget a `reasoning_effort` asks of a provider that takes a token budget
/// (Anthropic, Cohere); `None` for `none` (thinking off).
pub fn reasoning_budget(provider: &'static str, effort: &str) -> Result<Option<u32>> {
    if effort == "none" {
        return Ok(None);
    }
    match REASONING_BUDGETS.iter().find(|(name, _)| *name == effort) {
        Some((_, budget)) => Ok(Some(*budget)),
        None => {
            let names: Vec<&str> = REASONING_BUDGETS.iter().map(|(name, _)| *name).collect();
            Err(Error::invalid_request(format!(
                "reasoning_effort must be one of none, {}; got '{effort}'",
                names.join(", ")
            ))
            .with_provider(provider))
        }
    }
}

/// A message's content as the `{"text": ...}` blocks (Gemini's parts, Bedrock's content blocks)
/// both native formats share, images made by `image(url, message index)`; any other part type
/// is an `invalid_request` naming `provider`.
pub fn text_blocks(
    provider: &'static str,
    content: &Content,
    at: usize,
    image: impl Fn(&str, usize) -> Result<Value>,
) -> Result<Vec<Value>> {
    match content {
        Content::Text(t) => Ok(vec![serde_json::json!({"text": t})]),
        Content::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text(t) => Ok(serde_json::json!({"text": t})),
                ContentPart::ImageUrl(url) => image(url, at),
                ContentPart::Other(kind) => Err(Error::invalid_request(format!(
                    "`messages[{at}]`: {provider} has no place for content parts of type '{kind}'"
                ))
                .with_provider(provider)),
            })
            .collect(),
    }
}

/// Appends `items` to the last turn's `key` array when that turn has `role`, else starts a turn:
/// for APIs that want roles to alternate (several tool results answer one assistant turn).
pub fn push_turn(turns: &mut Vec<Value>, role: &str, key: &str, items: Vec<Value>) {
    if let Some(last) = turns.last_mut() {
        if last["role"] == role {
            if let Some(existing) = last[key].as_array_mut() {
                existing.extend(items);
                return;
            }
        }
    }
    turns.push(serde_json::json!({"role": role, key: items}));
}

/// Serialises an upstream body built by an adapter.
pub fn to_body(body: &Map<String, Value>) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| Error::internal(format!("could not serialise the request: {e}")))
}

/// Reads `{"error": {"type", "message", "code"}}` or a flat `{"type", "message", "code"}`.
pub fn provider_error_from(value: &Value) -> ProviderError {
    let inner = match value.get("error") {
        Some(e @ Value::Object(_)) => e,
        Some(Value::String(s)) => {
            return ProviderError { error_type: None, message: Some(s.clone()), code: None };
        }
        _ => value,
    };
    let text = |k: &str| inner.get(k).and_then(Value::as_str).map(str::to_owned);
    ProviderError {
        error_type: text("type"),
        message: text("message"),
        code: inner.get("code").filter(|c| !c.is_null()).cloned(),
    }
}

/// An error the provider reported in a 2xx body or in its stream: "<provider>: <its message>".
pub fn reported_error(provider: &'static str, kind: ErrorKind, provider_error: ProviderError) -> Error {
    let detail = provider_error.message.clone().unwrap_or_else(|| "an error without a message".to_owned());
    let mut e = Error::new(kind, format!("{provider}: {detail}")).with_provider(provider);
    e.provider_error = Some(Box::new(provider_error));
    e
}

/// A `bad_response` from `provider`'s answer.
pub fn bad_response(provider: &'static str, what: impl std::fmt::Display) -> Error {
    Error::bad_response(format!("{provider}: {what}")).with_provider(provider)
}

/// The error for a stream that ended before its terminal event; `missing` names that event.
pub fn stream_ended_early(provider: &'static str, missing: &str) -> Error {
    Error::new(ErrorKind::Connection, format!("{provider}: the stream ended before it was complete ({missing})"))
        .with_provider(provider)
}

/// A stream event's data, which must be a JSON object.
pub fn event_object(provider: &'static str, data: &str) -> Result<Value> {
    let value: Value = serde_json::from_str(data)
        .map_err(|e| bad_response(provider, format_args!("a stream event is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(bad_response(provider, "a stream event is not a JSON object"));
    }
    Ok(value)
}

/// For streams whose events name their type (Anthropic, Cohere): the event's type (the JSON
/// `type`, else the SSE event name) and its JSON body (`Null` when the data is empty). `None`
/// for an event with neither.
pub fn typed_event(provider: &'static str, event: &SseEvent) -> Result<Option<(String, Value)>> {
    let data = event.data.trim();
    let value = if data.is_empty() { Value::Null } else { event_object(provider, data)? };
    let kind = value.get("type").and_then(Value::as_str).or(event.event.as_deref()).map(str::to_owned);
    Ok(kind.map(|k| (k, value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_errors_are_read_from_either_shape() {
        let nested = serde_json::json!({"error": {"type": "invalid_request_error", "message": "bad", "code": "x"}});
        let e = provider_error_from(&nested);
        assert_eq!(e.error_type.as_deref(), Some("invalid_request_error"));
        assert_eq!(e.message.as_deref(), Some("bad"));
        assert_eq!(e.code, Some(Value::from("x")));
        let flat = serde_json::json!({"message": "invalid api token"});
        assert_eq!(provider_error_from(&flat).message.as_deref(), Some("invalid api token"));
    }

    #[test]
    fn bearer_header_is_sensitive() {
        let v = bearer(&Secret::new("sk-test".into())).unwrap();
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("sk-test"));
        assert!(bearer(&Secret::new("bad\nkey".into())).is_err());
    }

    #[test]
    fn typed_events_take_the_json_type_then_the_event_name() {
        let ev = |event: Option<&str>, data: &str| SseEvent { event: event.map(str::to_owned), data: data.to_owned() };
        let (kind, value) = typed_event("p", &ev(Some("ping"), r#"{"type": "pong"}"#)).unwrap().unwrap();
        assert_eq!((kind.as_str(), &value["type"]), ("pong", &Value::from("pong")));
        let (kind, value) = typed_event("p", &ev(Some("ping"), "  ")).unwrap().unwrap();
        assert_eq!((kind.as_str(), value), ("ping", Value::Null));
        assert_eq!(typed_event("p", &ev(None, r#"{"type": null}"#)).unwrap(), None);
        for bad in ["[1]", "{", "null"] {
            let e = typed_event("p", &ev(None, bad)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadResponse);
            assert!(e.message.starts_with("p: a stream event is not"), "{}", e.message);
            assert_eq!(e.provider.as_deref(), Some("p"));
        }
    }
}
