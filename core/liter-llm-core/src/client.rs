//! The call path: validate and translate on the caller's thread, then one pooled HTTP client on
//! one shared Tokio runtime does the network part.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Url;

use crate::error::{parse_retry_after, Error, ErrorKind, Result};
use crate::provider::{route, Provider};
use crate::request::ChatRequest;
use crate::secret::Secret;

/// Used when the request names no `timeout` (the official SDKs' default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Connecting may take at most this long (less when the call's timeout is shorter).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Response bodies larger than this are a `bad_response`.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// How much of a non-JSON error body is quoted in the message.
const ERROR_EXCERPT_CHARS: usize = 200;

/// What a request becomes once validated: an answer already, or an HTTP call to make.
pub enum Prepared {
    Local(Vec<u8>),
    Http(HttpCall),
}

/// Everything the network part needs; owns its data so it can move to the runtime.
pub struct HttpCall {
    provider: &'static dyn Provider,
    model: String,
    url: Url,
    headers: HeaderMap,
    body: Vec<u8>,
    timeout: Duration,
    key: Secret,
}

/// The one runtime every call shares.
pub fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .max_blocking_threads(8)
                .thread_name("liter-llm-worker")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::internal(format!("could not start the async runtime: {e}")))
}

fn http_client() -> Result<&'static reqwest::Client> {
    static CLIENT: OnceLock<std::result::Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(concat!("liter-llm/", env!("CARGO_PKG_VERSION")))
                .tcp_nodelay(true)
                .connect_timeout(CONNECT_TIMEOUT)
                .pool_idle_timeout(Duration::from_secs(90))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::internal(format!("could not build the HTTP client: {e}")))
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `scheme://host:port/path`, without credentials or query, for messages.
fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.to_string()
}

/// Validates the request and translates it for its provider. Runs on the caller's thread.
pub fn prepare(provider: Option<&str>, request: &[u8]) -> Result<Prepared> {
    let request = ChatRequest::parse(request).map_err(|e| match provider {
        Some(p) if crate::provider::lookup(p).is_some() => e.with_provider(p),
        _ => e,
    })?;
    let (adapter, model) = route(provider, &request.params.model)?;
    let name = adapter.name();
    if let Some(answer) = adapter.respond_locally(&request, model) {
        return answer.map(Prepared::Local).map_err(|e| e.with_provider(name));
    }
    let Some(env) = adapter.env() else {
        return Err(Error::internal(format!("{name} has neither a local answer nor an endpoint")));
    };
    let key = match &request.options.api_key {
        Some(key) if !key.expose().is_empty() => key.clone(),
        _ => match env.key_vars.iter().find_map(|v| env_var(v)) {
            Some(key) => Secret::new(key),
            None => {
                let vars = env.key_vars.join(" (or ") + &")".repeat(env.key_vars.len() - 1);
                return Err(Error::new(
                    ErrorKind::Authentication,
                    format!("{vars} is not set; pass api_key or set the variable"),
                )
                .with_provider(name));
            }
        },
    };
    let base = request
        .options
        .base_url
        .clone()
        .or_else(|| env.base_url_vars.iter().find_map(|v| env_var(v)))
        .unwrap_or_else(|| env.default_base_url.to_owned());
    let full = format!("{}{}", base.trim().trim_end_matches('/'), adapter.path());
    let url = Url::parse(&full)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            Error::invalid_request(format!("the base URL for {name} is not an http(s) URL; check base_url or the environment"))
                .with_provider(name)
        })?;
    let body = adapter.request_body(&request, model).map_err(|e| e.with_provider(name))?;
    let mut headers = HeaderMap::with_capacity(5);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    adapter.auth_headers(&key, &mut headers).map_err(|e| e.with_provider(name))?;
    Ok(Prepared::Http(HttpCall {
        provider: adapter,
        model: model.to_owned(),
        url,
        headers,
        body,
        timeout: request.options.timeout.unwrap_or(DEFAULT_TIMEOUT),
        key,
    }))
}

/// Replaces every occurrence of the key in text that came from upstream.
fn redact(text: String, key: &Secret) -> String {
    let k = key.expose();
    if k.len() >= 4 && text.contains(k) {
        text.replace(k, "[redacted]")
    } else {
        text
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

impl HttpCall {
    fn transport_error(&self, e: &reqwest::Error, reading: bool) -> Error {
        let name = self.provider.name();
        let url = display_url(&self.url);
        let err = if e.is_timeout() {
            Error::new(
                ErrorKind::Timeout,
                format!(
                    "{name}: no complete response from {url} within {:.3}s (the call's timeout); raise `timeout` or try again",
                    self.timeout.as_secs_f64()
                ),
            )
        } else if e.is_connect() {
            Error::new(ErrorKind::Connection, format!("{name}: could not connect to {url}: {}", root_cause(e)))
        } else if reading {
            Error::new(
                ErrorKind::Connection,
                format!("{name}: the connection to {url} broke while reading the response: {}", root_cause(e)),
            )
        } else {
            Error::new(ErrorKind::Connection, format!("{name}: the request to {url} failed: {}", root_cause(e)))
        };
        err.with_provider(name)
    }

    /// Sends the request and turns the answer into OpenAI JSON or a typed error.
    pub async fn execute(self) -> Result<Vec<u8>> {
        let name = self.provider.name();
        let client = http_client()?;
        let sent = client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(self.body.clone())
            .timeout(self.timeout)
            .send()
            .await;
        let mut response = sent.map_err(|e| self.transport_error(&e, false))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let limit = MAX_RESPONSE_BYTES;
        let hint = response.content_length().unwrap_or(0).min(limit as u64) as usize;
        let mut body = Vec::with_capacity(hint);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(&e, true))? {
            if body.len() + chunk.len() > limit {
                return Err(Error::bad_response(format!("{name}: the response is larger than {limit} bytes"))
                    .with_provider(name)
                    .with_status(status));
            }
            body.extend_from_slice(&chunk);
        }
        if (200..300).contains(&status) {
            return self
                .provider
                .parse_response(&self.model, &body)
                .map_err(|mut e| {
                    e.message = redact(std::mem::take(&mut e.message), &self.key);
                    e.with_provider(name).with_status(status)
                });
        }
        Err(self.status_error(status, &headers, &body))
    }

    fn status_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
        let name = self.provider.name();
        let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
        let mut provider_error = parsed.as_ref().map(|v| self.provider.parse_error_body(v)).unwrap_or_default();
        provider_error.message = provider_error.message.map(|m| redact(m, &self.key));
        let kind = self.provider.error_kind(status, &provider_error);
        let detail = match (&provider_error.message, &parsed) {
            (Some(m), _) => m.clone(),
            (None, Some(_)) => "the error body has no message".to_owned(),
            (None, None) if body.is_empty() => "the error body is empty".to_owned(),
            (None, None) => {
                let text: String = String::from_utf8_lossy(body).chars().take(ERROR_EXCERPT_CHARS).collect();
                redact(text.trim().to_owned(), &self.key)
            }
        };
        let mut err = Error::new(kind, format!("{name}: {detail} (HTTP {status})")).with_provider(name).with_status(status);
        err.retry_after = parse_retry_after(headers, SystemTime::now());
        let has_detail = provider_error.error_type.is_some() || provider_error.message.is_some() || provider_error.code.is_some();
        err.provider_error = has_detail.then_some(provider_error);
        err
    }
}

/// Runs a whole call on the current async context.
pub async fn invoke(provider: Option<&str>, request: &[u8]) -> Result<Vec<u8>> {
    match prepare(provider, request)? {
        Prepared::Local(answer) => Ok(answer),
        Prepared::Http(call) => {
            let name = call.provider.name();
            call.execute().await.map_err(|e| e.with_provider(name))
        }
    }
}

/// Runs a whole call, blocking the calling thread until it ends. The network part runs on the
/// shared runtime; validation, translation and the `mock` provider run here.
pub fn invoke_blocking(provider: Option<&str>, request: &[u8]) -> Result<Vec<u8>> {
    let call = match prepare(provider, request)? {
        Prepared::Local(answer) => return Ok(answer),
        Prepared::Http(call) => call,
    };
    let name = call.provider.name();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(call.execute().await);
    });
    rx.recv()
        .unwrap_or_else(|_| Err(Error::internal("the request task ended without a result (a bug in liter-llm)")))
        .map_err(|e| e.with_provider(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_name_the_variables() {
        // Names a variable this test alone uses so parallel tests cannot interfere.
        let e = match prepare(Some("cohere"), br#"{"model": "command-r", "prompt": "x", "base_url": "http://127.0.0.1:1"}"#) {
            Err(e) => e,
            Ok(_) if env_var("CO_API_KEY").is_some() || env_var("COHERE_API_KEY").is_some() => return,
            Ok(_) => panic!("expected an error"),
        };
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert_eq!(e.message, "CO_API_KEY (or COHERE_API_KEY) is not set; pass api_key or set the variable");
        assert_eq!(e.provider.as_deref(), Some("cohere"));
    }

    #[test]
    fn bad_base_urls_are_invalid_requests() {
        for base in ["ftp://x", "not a url", ""] {
            let req = format!(r#"{{"model": "gpt", "prompt": "x", "api_key": "sk-test-1", "base_url": "{base}"}}"#);
            let e = match prepare(Some("openai"), req.as_bytes()) {
                Err(e) => e,
                Ok(_) => {
                    assert!(base.is_empty(), "{base} accepted");
                    continue;
                }
            };
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{base}");
            assert!(!e.message.contains("sk-test-1"));
        }
    }

    #[test]
    fn redacts_keys_from_upstream_text() {
        let key = Secret::new("sk-test-abcdef".into());
        assert_eq!(redact("bad key sk-test-abcdef!".into(), &key), "bad key [redacted]!");
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        let url = Url::parse("https://user:pw@example.test/v1/chat?token=x").unwrap();
        assert_eq!(display_url(&url), "https://example.test/v1/chat");
    }
}
