//! The `Provider` trait every adapter implements, and the registry that routes to them.

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, ProviderError, Result};
use crate::providers::{anthropic::Anthropic, cohere::Cohere, mock::Mock, openai::OpenAi};
use crate::request::ChatRequest;
use crate::secret::Secret;

/// Where a provider's settings come from in the environment.
pub struct EnvSettings {
    /// Variables holding the key, in order of preference.
    pub key_vars: &'static [&'static str],
    /// Variables holding the base URL, in order of preference.
    pub base_url_vars: &'static [&'static str],
    pub default_base_url: &'static str,
}

/// An adapter between the OpenAI-shaped request/response and one provider's wire format.
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;

    /// `None` for providers that need no network (the mock).
    fn env(&self) -> Option<&EnvSettings>;

    /// Path appended to the base URL.
    fn path(&self) -> &'static str;

    /// Adds the authentication (and version) headers.
    fn auth_headers(&self, key: &Secret, headers: &mut HeaderMap) -> Result<()>;

    /// The upstream request body. `model` is the model name with any routing prefix removed.
    fn request_body(&self, request: &ChatRequest, model: &str) -> Result<Vec<u8>>;

    /// Turns a 2xx body into OpenAI `chat.completion` JSON.
    fn parse_response(&self, model: &str, body: &[u8]) -> Result<Vec<u8>>;

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
}

static OPENAI: OpenAi = OpenAi;
static ANTHROPIC: Anthropic = Anthropic;
static COHERE: Cohere = Cohere;
static MOCK: Mock = Mock;

pub const KNOWN_PROVIDERS: &[&str] = &["openai", "anthropic", "cohere", "mock"];

pub fn lookup(name: &str) -> Option<&'static dyn Provider> {
    match name {
        "openai" => Some(&OPENAI),
        "anthropic" => Some(&ANTHROPIC),
        "cohere" => Some(&COHERE),
        "mock" => Some(&MOCK),
        _ => None,
    }
}

/// Whether two adapters are the same provider.
pub fn same_provider(a: &dyn Provider, b: &dyn Provider) -> bool {
    a.name() == b.name()
}

fn unknown_provider(name: &str) -> Error {
    Error::unsupported(format!("unknown provider '{name}'; known providers: {}", KNOWN_PROVIDERS.join(", ")))
}

/// Picks the adapter and the model name to send upstream.
pub fn route<'a>(provider: Option<&str>, model: &'a str) -> Result<(&'static dyn Provider, &'a str)> {
    match provider.filter(|p| !p.is_empty()) {
        Some(name) => {
            let adapter = lookup(name).ok_or_else(|| unknown_provider(name))?;
            let upstream_model = model.strip_prefix(name).and_then(|rest| rest.strip_prefix('/')).unwrap_or(model);
            Ok((adapter, upstream_model))
        }
        None => {
            let Some((prefix, rest)) = model.split_once('/') else {
                return Err(Error::unsupported(format!(
                    "no provider for model '{model}': pass a provider or prefix the model with one of {} (for example 'openai/{model}')",
                    KNOWN_PROVIDERS.join(", ")
                )));
            };
            let adapter = lookup(prefix).ok_or_else(|| unknown_provider(prefix))?;
            if rest.is_empty() {
                return Err(Error::invalid_request(format!("model '{model}' names no model after the provider")));
            }
            Ok((adapter, rest))
        }
    }
}

/// Rejects (or, with `drop_params`, lists for dropping) body fields an adapter has no place for.
pub fn check_fields(provider: &str, request: &ChatRequest, mapped: &[&str], native: &[&str]) -> Result<()> {
    if request.options.drop_params {
        return Ok(());
    }
    for key in request.body.keys() {
        if mapped.contains(&key.as_str()) || native.contains(&key.as_str()) {
            continue;
        }
        if is_null(&request.body, key) {
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
        if let Some(v) = request.body.get(*key) {
            if !v.is_null() {
                out.insert((*key).to_owned(), v.clone());
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_argument_or_prefix() {
        let (p, m) = route(Some("anthropic"), "claude-x").unwrap();
        assert_eq!((p.name(), m), ("anthropic", "claude-x"));
        let (p, m) = route(Some("openai"), "openai/gpt-4o").unwrap();
        assert_eq!((p.name(), m), ("openai", "gpt-4o"));
        let (p, m) = route(Some("openai"), "meta-llama/Llama-3").unwrap();
        assert_eq!((p.name(), m), ("openai", "meta-llama/Llama-3"));
        let (p, m) = route(None, "cohere/command-r-plus").unwrap();
        assert_eq!((p.name(), m), ("cohere", "command-r-plus"));
        let (p, _) = route(Some(""), "mock/x").unwrap();
        assert_eq!(p.name(), "mock");
    }

    #[test]
    fn unknown_providers_list_the_known_ones() {
        for (provider, model) in [(Some("azure"), "gpt"), (None, "azure/gpt"), (None, "gpt-4o")] {
            let e = route(provider, model).err().unwrap();
            assert_eq!(e.kind, ErrorKind::Unsupported);
            assert!(e.message.contains("openai, anthropic, cohere, mock"), "{}", e.message);
        }
    }

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
}
