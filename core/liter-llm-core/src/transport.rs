//! One upstream HTTP exchange: the key, URL, headers and body for one model, sending it, reading
//! the answer (whole, as server-sent events, or as raw frames a provider's decoder reads), and
//! turning failures into typed errors. Knows
//! nothing of fallbacks, retries or limits (see `driver`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Url;

use crate::config::{self, Config};
use crate::embedding::{self, Encoding};
use crate::error::{parse_retry_after, Error, ErrorKind, Result};
use crate::http::{self, HttpError, HttpErrorKind, Response};
use crate::plan::{Target, DEFAULT_TIMEOUT};
use crate::provider::{Credential, Endpoint, Provider, Signer};
use crate::request::ChatRequest;
use crate::response::{Answer, Observing};
use crate::runtime;
use crate::secret::Secret;
use crate::sse::SseParser;

pub use crate::http::CONNECT_TIMEOUT;
/// Response bodies larger than this are a `bad_response`.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// How much of a non-JSON error body is quoted in the message.
const ERROR_EXCERPT_CHARS: usize = 200;
/// Endpoint URLs remembered per client.
const MAX_CACHED_URLS: usize = 64;

/// A client's connection pool and parsed endpoint URLs.
#[derive(Default)]
pub struct Transport {
    /// Built on first use with the configured pool settings, in the process that uses it;
    /// replaced when they change.
    http: RwLock<Option<Pool>>,
    /// Shared with the calls to each URL, so that a call's URL is not copied.
    urls: Mutex<HashMap<String, Arc<Url>>>,
}

/// The HTTP clients of one process: one for calls on the shared runtime (and any caller's own),
/// one for blocking calls on `runtime::blocking_runtime`. A connection is a task of the runtime
/// that opened it, so the two runtimes keep apart pools: a connection whose task only runs while
/// some thread waits in a blocking call must not carry an asynchronous call. Their sockets are
/// shared with the process that built them, so a forked child must not use them, nor drop them
/// (dropping wakes the parent's connection tasks, on runtimes whose threads the child does not
/// have): the child builds its own and leaks the parent's.
struct Pool {
    /// `runtime::fork_generation` of the process that built it.
    generation: u64,
    client: http::Client,
    blocking: http::Client,
}

impl Pool {
    /// The client for the calling context, when the pool was built in this process.
    fn here(&self) -> Option<&http::Client> {
        let blocking = BLOCKING_CALL.try_with(|_| ()).is_ok();
        (self.generation == runtime::fork_generation()).then_some(if blocking { &self.blocking } else { &self.client })
    }
}

tokio::task_local! {
    /// Set around a call that a thread drives on `runtime::blocking_runtime`.
    static BLOCKING_CALL: ();
}

/// Runs `call` as a blocking call: its HTTP requests use the blocking runtime's pool.
pub(crate) async fn blocking_call<T>(call: impl std::future::Future<Output = T>) -> T {
    BLOCKING_CALL.scope((), call).await
}

/// Replaces the pool in `slot`, leaking the old one when it came from another process.
fn replace_pool(slot: &mut Option<Pool>, new: Option<Pool>) {
    if let Some(old) = std::mem::replace(slot, new) {
        if old.here().is_none() {
            std::mem::forget(old);
        }
    }
}

fn build_http_client(pool: &config::Pool) -> Result<http::Client> {
    http::Client::new(pool).map_err(|e| Error::internal(format!("could not build the HTTP client: {e}")))
}

impl Drop for Transport {
    fn drop(&mut self) {
        replace_pool(self.http.get_mut().unwrap_or_else(|p| p.into_inner()), None);
    }
}

impl Transport {
    /// The pooled HTTP client, built on first use with `pool`.
    fn http(&self, pool: &config::Pool) -> Result<http::Client> {
        if let Some(client) = self.http.read().unwrap_or_else(|p| p.into_inner()).as_ref().and_then(Pool::here) {
            return Ok(client.clone());
        }
        let mut slot = self.http.write().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = slot.as_ref().and_then(Pool::here) {
            return Ok(client.clone());
        }
        let built = Pool {
            generation: runtime::fork_generation(),
            client: build_http_client(pool)?,
            blocking: build_http_client(pool)?,
        };
        let client = built.here().cloned().ok_or_else(|| Error::internal("a pool built in another process"))?;
        replace_pool(&mut slot, Some(built));
        Ok(client)
    }

    /// Checks that `pool` can be built; calls in flight keep the pool they have.
    pub fn check_pool(pool: &config::Pool) -> Result<()> {
        build_http_client(pool).map(drop)
    }

    /// Drops the pool, so that the next call builds one with the new settings.
    pub fn reset_pool(&self) {
        replace_pool(&mut self.http.write().unwrap_or_else(|p| p.into_inner()), None);
    }

    /// Parses an endpoint URL, remembering the few a client uses: parsing (with IDNA) is a
    /// measurable share of a call's CPU, and the same base URLs come back on every call.
    fn url(&self, text: &str) -> Option<Arc<Url>> {
        let mut cache = self.urls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(url) = cache.get(text) {
            return Some(url.clone());
        }
        let url = Arc::new(Url::parse(text).ok()?);
        if cache.len() >= MAX_CACHED_URLS {
            cache.clear();
        }
        cache.insert(text.to_owned(), url.clone());
        Some(url)
    }
}

/// Everything one upstream request needs; cheap to send again for a retry.
pub(crate) struct HttpCall {
    pub(crate) provider: &'static dyn Provider,
    pub(crate) model: String,
    url: Arc<Url>,
    headers: HeaderMap,
    body: bytes::Bytes,
    /// This attempt's limit: what is left of the call's deadline.
    pub(crate) timeout: Duration,
    /// The call's whole timeout, for messages (which must not vary from run to run).
    pub(crate) call_timeout: Duration,
    key: Secret,
    /// Signs each attempt, for a provider authenticated by signature rather than a key.
    signer: Option<Arc<dyn Signer>>,
    http: http::Client,
    /// For an embedding call: the encoding the caller asked for and the number of inputs.
    embedding: Option<(Encoding, usize)>,
    /// The HTTP status of the last answer, for telemetry.
    status: std::sync::atomic::AtomicU16,
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

impl HttpCall {
    /// Resolves the key, the URL and the upstream body for one model (see `Target::overrides`
    /// for whose `api_key` and `base_url` apply).
    pub(crate) fn build(
        request: &ChatRequest,
        target: &Target,
        cfg: &Config,
        streaming: bool,
        transport: &Transport,
    ) -> Result<HttpCall> {
        let overrides = target.overrides;
        let adapter = target.provider;
        let name = adapter.name();
        let configured = cfg.providers.get(name);
        let Some(env) = adapter.env() else {
            return Err(Error::internal(format!("{name} has neither a local answer nor an endpoint")));
        };
        let api_version = (if overrides { request.options.api_version.as_deref() } else { None })
            .or_else(|| configured.and_then(|p| p.api_version.as_deref()));
        let endpoint =
            Endpoint { model: &target.model, streaming, embedding: request.embedding.is_some(), api_version };
        let path = adapter.endpoint_path(&endpoint).map_err(|e| e.with_provider(name))?;
        let call_key = request.options.api_key.as_ref().filter(|k| overrides && !k.expose().is_empty());
        // A call's token replaces any configured key; the call's own api_key wins over both.
        let token = request.options.azure_ad_token.as_ref().filter(|t| overrides && !t.expose().is_empty());
        let token = token.filter(|_| call_key.is_none());
        let key = call_key.or(token).cloned().or_else(|| {
            configured
                .and_then(|p| p.api_key.clone())
                .or_else(|| env.key_vars.iter().find_map(|v| env_var(v)).map(Secret::new))
        });
        let base = (if overrides { request.options.base_url.as_deref().map(Cow::Borrowed) } else { None })
            .or_else(|| configured.and_then(|p| p.base_url.as_deref().map(Cow::Borrowed)))
            .or_else(|| env.base_url_vars.iter().find_map(|v| env_var(v)).map(Cow::Owned));
        let base = match base {
            Some(base) => base,
            None => adapter
                .default_base_url()
                .map_err(|e| e.with_provider(name))?
                .map_or(Cow::Borrowed(env.default_base_url), Cow::Owned),
        };
        if base.trim().is_empty() {
            let vars: String = env.base_url_vars.iter().map(|v| format!(", set {v}")).collect();
            return Err(Error::invalid_request(format!(
                "{name} has no default base URL; pass base_url{vars} or configure providers.{name}.base_url"
            ))
            .with_provider(name));
        }
        let full = format!("{}{path}", base.trim().trim_end_matches('/'));
        let url = transport
            .url(&full)
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                Error::invalid_request(format!(
                    "the base URL for {name} is not an http(s) URL; check base_url or the environment"
                ))
                .with_provider(name)
            })?;
        // No key: a provider that signs its requests (SigV4) may sign instead; a local server
        // (Ollama, vLLM, LM Studio) needs none.
        let (key, signer) = match key {
            Some(key) => (key, None),
            None => {
                match adapter.signer(&url) {
                    Some(signer) => {
                        let signer = signer.map_err(|e| e.with_provider(name))?;
                        (signer.identity().clone(), Some(signer))
                    }
                    None if env.key_vars.is_empty() => (Secret::new(String::new()), None),
                    None => {
                        let vars = env.key_vars.join(" (or ") + &")".repeat(env.key_vars.len() - 1);
                        return Err(Error::new(
                        ErrorKind::Authentication,
                        format!("{vars} is not set; pass api_key, set the variable or configure providers.{name}.api_key"),
                    )
                    .with_provider(name));
                    }
                }
            }
        };
        let body = match &request.embedding {
            Some(params) => adapter.embedding_body(request, params, &target.model),
            None => adapter.request_body(request, &target.model, streaming),
        }
        .map_err(|e| e.with_provider(name))?;
        let mut headers = HeaderMap::with_capacity(5);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if signer.is_none() {
            let credential = if token.is_some() { Credential::Token(&key) } else { Credential::Key(&key) };
            adapter.authenticate(credential, &mut headers).map_err(|e| e.with_provider(name))?;
        }
        Ok(HttpCall {
            provider: adapter,
            model: target.model.clone(),
            url,
            headers,
            body: body.into(),
            timeout: DEFAULT_TIMEOUT,
            call_timeout: DEFAULT_TIMEOUT,
            embedding: request.embedding.as_ref().map(|p| (p.encoding_format, p.input.len())),
            key,
            signer,
            http: transport.http(&cfg.pool)?,
            status: std::sync::atomic::AtomicU16::new(0),
        })
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    pub(crate) fn key(&self) -> &Secret {
        &self.key
    }

    /// The HTTP status of the last answer (0 before any).
    pub(crate) fn status(&self) -> u16 {
        self.status.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends `traceparent` with the next attempts (`telemetry.forward_traceparent`).
    pub(crate) fn set_traceparent(&mut self, traceparent: &str) {
        if let Ok(value) = HeaderValue::from_str(traceparent) {
            self.headers.insert("traceparent", value);
        }
    }

    /// What the response cache keys on: the endpoint (credentials removed, query kept), the body
    /// as it is sent, and the key.
    pub(crate) fn cache_inputs(&self) -> (String, &[u8], &Secret) {
        let mut url = Url::clone(&self.url);
        let _ = url.set_username("");
        let _ = url.set_password(None);
        (url.to_string(), &self.body, &self.key)
    }

    /// The headers of one attempt: signed now, when the provider signs its requests.
    fn attempt_headers(&self) -> Result<HeaderMap> {
        let mut headers = self.headers.clone();
        if let Some(signer) = &self.signer {
            let name = self.provider.name();
            signer.sign(&self.url, &mut headers, &self.body).map_err(|e| e.with_provider(name))?;
        }
        Ok(headers)
    }

    /// Sends the request; a 2xx answer is returned unread, anything else becomes its error.
    pub(crate) async fn open_stream(&self) -> Result<Response> {
        let send = self.http.post(&self.url, self.attempt_headers()?, self.body.clone());
        let response = match tokio::time::timeout(self.timeout, send).await {
            Err(_) => return Err(self.silence_error()),
            Ok(sent) => sent.map_err(|e| self.transport_error(&e, false))?,
        };
        let status = response.status();
        self.status.store(status, std::sync::atomic::Ordering::Relaxed);
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = match tokio::time::timeout(self.timeout, self.read_capped(response, status)).await {
            Err(_) => return Err(self.silence_error()),
            Ok(body) => body?,
        };
        Err(self.status_error(status, &headers, &body))
    }

    /// Reads a whole body, failing past `MAX_RESPONSE_BYTES`.
    async fn read_capped(&self, mut response: Response, status: u16) -> Result<Vec<u8>> {
        let name = self.provider.name();
        let hint = response.content_length().unwrap_or(0).min(MAX_RESPONSE_BYTES as u64) as usize;
        let mut body = Vec::with_capacity(hint);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(&e, true))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(Error::bad_response(format!(
                    "{name}: the response is larger than {MAX_RESPONSE_BYTES} bytes"
                ))
                .with_provider(name)
                .with_status(status));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Parses the event stream and hands each normalised chunk on, until the terminal event.
    pub(crate) async fn read_stream(
        &self,
        mut response: Response,
        reported: &mut Option<u64>,
        on_chunk: &mut (dyn FnMut(Vec<u8>) + Send),
    ) -> Result<()> {
        let name = self.provider.name();
        let status = response.status();
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        let mut decoder = self.provider.stream_decoder(&self.model);
        let raw_bytes = decoder.takes_bytes();
        let finish = |e: Error| {
            let mut e = e.with_provider(name);
            e.message = redact(std::mem::take(&mut e.message), &self.key);
            if let Some(pe) = e.provider_error.as_mut() {
                pe.message = pe.message.take().map(|m| redact(m, &self.key));
            }
            if e.status.is_none() && e.kind != ErrorKind::Connection && e.kind != ErrorKind::Timeout {
                e.status = Some(status);
            }
            e
        };
        loop {
            let next = match tokio::time::timeout(self.timeout, response.chunk()).await {
                Err(_) => return Err(finish(self.silence_error())),
                Ok(next) => next.map_err(|e| finish(self.transport_error(&e, true)))?,
            };
            let Some(bytes) = next else {
                parser.finish();
                return Err(finish(decoder.ended_early()));
            };
            if raw_bytes {
                let mut chunks = Vec::new();
                let fed = decoder.on_bytes(&bytes, &mut chunks);
                *reported = decoder.reported_tokens();
                for chunk in chunks {
                    on_chunk(chunk);
                }
                if fed.map_err(finish)? {
                    return Ok(());
                }
                continue;
            }
            // Events completed before a bad line are delivered before its error.
            let fed = parser.feed(&bytes, &mut events);
            for event in events.drain(..) {
                let step = decoder.on_event(&event).map_err(finish)?;
                *reported = decoder.reported_tokens();
                for chunk in step.chunks {
                    on_chunk(chunk);
                }
                if step.done {
                    return Ok(());
                }
            }
            fed.map_err(finish)?;
        }
    }

    fn silence_error(&self) -> Error {
        let name = self.provider.name();
        Error::new(
            ErrorKind::Timeout,
            format!(
                "{name}: nothing arrived from {} within the call's timeout of {}s; raise `timeout` or try again",
                display_url(&self.url),
                self.call_timeout.as_secs_f64()
            ),
        )
        .with_provider(name)
    }

    pub(crate) fn deadline_error(&self) -> Error {
        let name = self.provider.name();
        Error::new(ErrorKind::Timeout, format!("{name}: the call's deadline passed before another attempt could start"))
            .with_provider(name)
    }
}

/// Parses an endpoint URL, remembering the few a process uses: parsing (with IDNA) is a
/// measurable share of a call's CPU, and the same base URLs come back on every call.
/// Replaces every occurrence of the key in text that came from upstream.
fn redact(text: String, key: &Secret) -> String {
    let k = key.expose();
    if k.len() >= 4 && text.contains(k) {
        text.replace(k, "[redacted]")
    } else {
        text
    }
}

impl HttpCall {
    fn transport_error(&self, e: &HttpError, reading: bool) -> Error {
        let name = self.provider.name();
        let url = display_url(&self.url);
        let cause = &e.cause;
        let err = if e.kind == HttpErrorKind::Timeout {
            Error::new(
                ErrorKind::Timeout,
                format!(
                    "{name}: no complete response from {url} within the call's timeout of {}s; raise `timeout` or try again",
                    self.call_timeout.as_secs_f64()
                ),
            )
        } else if e.kind == HttpErrorKind::Connect {
            Error::new(ErrorKind::Connection, format!("{name}: could not connect to {url}: {cause}"))
        } else if reading {
            Error::new(
                ErrorKind::Connection,
                format!("{name}: the connection to {url} broke while reading the response: {cause}"),
            )
        } else {
            Error::new(ErrorKind::Connection, format!("{name}: the request to {url} failed: {cause}"))
        };
        err.with_provider(name)
    }

    /// Sends the request and turns the answer into OpenAI JSON or a typed error; the provider's
    /// check reads the answer's facts for the call's observers when it is `observing`.
    pub(crate) async fn execute(&self, observing: Observing) -> Result<Answer> {
        let name = self.provider.name();
        let headers = self.attempt_headers()?;
        // The attempt's timeout covers the whole exchange: connecting, sending, the whole body.
        let exchange = async {
            let response = self
                .http
                .post(&self.url, headers, self.body.clone())
                .await
                .map_err(|e| self.transport_error(&e, false))?;
            let status = response.status();
            self.status.store(status, std::sync::atomic::Ordering::Relaxed);
            // Only an error's headers are read (Retry-After).
            let headers = if (200..300).contains(&status) { HeaderMap::new() } else { response.headers().clone() };
            let body = self.read_capped(response, status).await?;
            Ok::<_, Error>((status, headers, body))
        };
        let (status, headers, body) = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(exchange) => exchange?,
            Err(_) => {
                let timeout = HttpError { kind: HttpErrorKind::Timeout, cause: String::new() };
                return Err(self.transport_error(&timeout, false));
            }
        };
        if (200..300).contains(&status) {
            let parsed = match self.embedding {
                Some((wanted, inputs)) => self.parse_embedding(&body, wanted, inputs).map(Answer::unread),
                None => self.provider.parse_answer(&self.model, body, observing),
            };
            return parsed.map_err(|mut e| {
                e.message = redact(std::mem::take(&mut e.message), &self.key);
                e.with_provider(name).with_status(status)
            });
        }
        Err(self.status_error(status, &headers, &body))
    }

    /// An embeddings answer in OpenAI's list shape, one vector per input.
    fn parse_embedding(&self, body: &[u8], wanted: Encoding, inputs: usize) -> Result<Vec<u8>> {
        let name = self.provider.name();
        let embeddings = self.provider.parse_embedding(&self.model, body)?;
        if embeddings.vectors.len() != inputs {
            return Err(Error::bad_response(format!(
                "{name}: the answer has {} embeddings for {inputs} inputs",
                embeddings.vectors.len()
            )));
        }
        embedding::to_response(name, &self.model, embeddings, wanted)
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
        let mut err =
            Error::new(kind, format!("{name}: {detail} (HTTP {status})")).with_provider(name).with_status(status);
        err.retry_after = parse_retry_after(headers, SystemTime::now());
        let has_detail =
            provider_error.error_type.is_some() || provider_error.message.is_some() || provider_error.code.is_some();
        err.provider_error = has_detail.then(|| Box::new(provider_error));
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(provider: Option<&str>, request: &[u8]) -> Result<crate::plan::Plan> {
        crate::plan::Plan::new(
            std::sync::Arc::new(Config::default()),
            &crate::plan::RouteTurns::default(),
            provider,
            request,
            false,
        )
    }

    #[test]
    fn missing_keys_name_the_variables() {
        // Names a variable this test alone uses so parallel tests cannot interfere.
        let plan = plan(Some("cohere"), br#"{"model": "command-r", "prompt": "x", "base_url": "http://127.0.0.1:1"}"#)
            .unwrap();
        let e = match HttpCall::build(&plan.request, &plan.targets[0], &Config::default(), false, &Transport::default())
        {
            Err(e) => e,
            Ok(_) if env_var("CO_API_KEY").is_some() || env_var("COHERE_API_KEY").is_some() => return,
            Ok(_) => panic!("expected an error"),
        };
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert_eq!(e.message, "CO_API_KEY (or COHERE_API_KEY) is not set; pass api_key, set the variable or configure providers.cohere.api_key");
        assert_eq!(e.provider.as_deref(), Some("cohere"));
    }

    #[test]
    fn bad_base_urls_are_invalid_requests() {
        for base in ["ftp://x", "not a url", ""] {
            let req = format!(r#"{{"model": "gpt", "prompt": "x", "api_key": "sk-test-1", "base_url": "{base}"}}"#);
            let plan = plan(Some("openai"), req.as_bytes()).unwrap();
            let e = match HttpCall::build(
                &plan.request,
                &plan.targets[0],
                &Config::default(),
                false,
                &Transport::default(),
            ) {
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
