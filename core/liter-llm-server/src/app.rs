//! The endpoints: `POST /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models`,
//! `/healthz`, `/readyz` and `/metrics`. Every call goes through the core's `Client`; the server adds authentication,
//! admission (body size, concurrency, the keys' limits), OpenAI's error format and metrics, and
//! holds no provider logic.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use liter_llm_core::limiter::{Limit, Limiter, OnLimit, Permit};
use liter_llm_core::{Client, Error, ErrorKind};
use serde_json::{json, Value};
use subtle::ConstantTimeEq as _;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::body::Body;
use crate::metrics::{cache_outcome, Metrics, State};
use crate::scan::{self, Scan};
use crate::settings::{sha256, ClientKey, Settings};
use crate::shared::RedisBuckets;

/// Where the server is in its life, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Starting = 0,
    Ready = 1,
    Draining = 2,
}

/// What a `POST` endpoint asks the core for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Chat,
    Embedding,
}

/// How long a refused client is told to wait when no better figure is known.
const RETRY_AFTER_SECS: u64 = 1;

pub struct App {
    pub client: Client,
    /// Limits of the client keys (rpm, tpm); shared through Redis when the providers' are.
    pub key_limiter: Limiter,
    /// What the configuration file decides, swapped whole when it is read again; a request
    /// keeps the one it started with.
    live: RwLock<Arc<Live>>,
    /// Why the last reading of the configuration file was refused, while it is.
    config_error: Mutex<Option<String>>,
    phase: AtomicU8,
    pub metrics: Metrics,
    /// The shared limits' store, for its counters.
    store: Option<Arc<RedisBuckets>>,
}

/// The part of the server the configuration file sets and a reload replaces.
struct Live {
    keys: Vec<Key>,
    /// What `GET /v1/models` lists: routes and configured models.
    models: Vec<(String, String)>,
    slots: Arc<Semaphore>,
    max_concurrency: usize,
    max_queue: usize,
    queue_timeout: Duration,
    max_body_bytes: usize,
    body_timeout: Duration,
}

struct Key {
    key: ClientKey,
    slots: Option<Arc<Semaphore>>,
}

impl Live {
    /// The live part for `settings`; slots whose bound did not change since `old` are kept, so
    /// that the requests holding them still count.
    fn new(settings: &Settings, models: Vec<(String, String)>, old: Option<&Live>) -> Result<Live, String> {
        let keys = settings
            .client_keys()?
            .into_iter()
            .map(|key| {
                let kept = old
                    .and_then(|o| o.keys.iter().find(|k| k.key.name == key.name))
                    .filter(|k| k.key.max_concurrency == key.max_concurrency)
                    .and_then(|k| k.slots.clone());
                Key { slots: kept.or_else(|| key.max_concurrency.map(|n| Arc::new(Semaphore::new(n)))), key }
            })
            .collect();
        let slots = match old.filter(|o| o.max_concurrency == settings.max_concurrency) {
            Some(o) => o.slots.clone(),
            None => Arc::new(Semaphore::new(settings.max_concurrency)),
        };
        Ok(Live {
            keys,
            models,
            slots,
            max_concurrency: settings.max_concurrency,
            max_queue: settings.max_queue(),
            queue_timeout: settings.queue_timeout,
            max_body_bytes: settings.max_body_bytes,
            body_timeout: settings.body_timeout,
        })
    }
}

/// An error as the OpenAI API writes it, with its status and `Retry-After`.
struct ApiError {
    status: StatusCode,
    error_type: &'static str,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, error_type: &'static str, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, error_type, code, message: message.into(), retry_after: None }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", "invalid_request", message)
    }

    fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// The status and type an error of the core is answered with (docs/gateway.md).
    fn from_core(e: &Error) -> ApiError {
        use StatusCode as S;
        let (status, error_type) = match e.kind {
            ErrorKind::InvalidRequest | ErrorKind::Unsupported => (S::BAD_REQUEST, "invalid_request_error"),
            // The provider refused the server's own key: not the client's fault.
            ErrorKind::Authentication => (S::BAD_GATEWAY, "api_error"),
            ErrorKind::PermissionDenied => (S::FORBIDDEN, "permission_error"),
            ErrorKind::NotFound => (S::NOT_FOUND, "invalid_request_error"),
            ErrorKind::RateLimited => (S::TOO_MANY_REQUESTS, "rate_limit_error"),
            ErrorKind::Timeout => (S::GATEWAY_TIMEOUT, "api_error"),
            ErrorKind::Connection | ErrorKind::BadResponse => (S::BAD_GATEWAY, "api_error"),
            ErrorKind::ProviderUnavailable | ErrorKind::Cancelled => (S::SERVICE_UNAVAILABLE, "api_error"),
            ErrorKind::Internal => (S::INTERNAL_SERVER_ERROR, "api_error"),
        };
        let mut api = ApiError::new(status, error_type, e.kind.as_str(), e.message.clone());
        if let Some(secs) = e.retry_after {
            api = api.retry_after(secs.ceil() as u64);
        } else if e.kind == ErrorKind::RateLimited {
            api = api.retry_after(RETRY_AFTER_SECS);
        }
        api
    }

    fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.error_type, "param": null, "code": self.code}})
    }

    fn response(&self) -> Response<Body> {
        let mut response = json_response(self.status, &self.body());
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    bytes_response(status, serde_json::to_vec(value).unwrap_or_default())
}

fn bytes_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Counts a request in flight from its admission to the end of its answer (a stream's end).
struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    fn new(metrics: &'a Metrics) -> InFlight<'a> {
        metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a request holds while it runs: its slots, released when it ends.
struct Admission {
    _global: OwnedSemaphorePermit,
    _key: Option<OwnedSemaphorePermit>,
}

impl App {
    pub fn new(
        client: Client,
        key_limiter: Limiter,
        settings: &Settings,
        models: Vec<(String, String)>,
        store: Option<Arc<RedisBuckets>>,
    ) -> Result<App, String> {
        Ok(App {
            client,
            key_limiter,
            live: RwLock::new(Arc::new(Live::new(settings, models, None)?)),
            config_error: Mutex::new(None),
            phase: AtomicU8::new(Phase::Starting as u8),
            metrics: Metrics::new(),
            store,
        })
    }

    fn live(&self) -> Arc<Live> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Swaps in a configuration read again (already applied to the client): later requests use
    /// it, requests in flight finish with theirs.
    pub fn reconfigure(&self, settings: &Settings, models: Vec<(String, String)>) -> Result<(), String> {
        let mut slot = self.live.write().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(Live::new(settings, models, Some(&slot))?);
        drop(slot);
        *self.config_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.metrics.reload("ok");
        Ok(())
    }

    /// Records a configuration that was read again and refused: the previous one keeps serving.
    pub fn refuse_configuration(&self, error: String) {
        *self.config_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        self.metrics.reload("invalid");
    }

    fn readiness(&self) -> Response<Body> {
        let status = match self.phase() {
            Phase::Ready => "ready",
            Phase::Starting => "starting",
            Phase::Draining => "draining",
        };
        let code = if status == "ready" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        let mut body = json!({"status": status});
        if let Some(error) = self.config_error.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            // Still ready: the previous configuration serves. The detail says why the new one
            // is not used.
            body["config"] = json!({"status": "invalid", "serving": "previous", "error": error});
        }
        json_response(code, &body)
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            1 => Phase::Ready,
            2 => Phase::Draining,
            _ => Phase::Starting,
        }
    }

    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<Body>, std::convert::Infallible> {
        let response = match (request.method(), request.uri().path()) {
            (&Method::POST, "/v1/chat/completions") => match self.call(request, Operation::Chat).await {
                Ok(response) => response,
                Err(e) => e.response(),
            },
            (&Method::POST, "/v1/embeddings") => match self.call(request, Operation::Embedding).await {
                Ok(response) => response,
                Err(e) => e.response(),
            },
            (&Method::GET, "/v1/models") => {
                let live = self.live();
                match self.authenticate(&live, &request) {
                    Ok(key) => list_models(&live, key),
                    Err(e) => e.response(),
                }
            }
            (&Method::GET, "/healthz") => json_response(StatusCode::OK, &json!({"status": "ok"})),
            (&Method::GET, "/readyz") => self.readiness(),
            (&Method::GET, "/metrics") => {
                let text = self.metrics.render(&State {
                    ready: self.phase() == Phase::Ready,
                    provider_limits: self.client.limiter_stats(),
                    key_limits: self.key_limiter.stats(),
                    telemetry: self.client.telemetry_stats(),
                    settle_failures: self.store.as_ref().map_or(0, |s| s.settle_failures()),
                });
                let mut response = Response::new(Body::full(text));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
                response
            }
            (_, "/v1/chat/completions" | "/v1/embeddings" | "/v1/models" | "/healthz" | "/readyz" | "/metrics") => {
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "invalid_request_error",
                    "method_not_allowed",
                    format!("{} is not allowed on {}", request.method(), request.uri().path()),
                )
                .response()
            }
            (_, path) => ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "not_found",
                format!("no endpoint {path}; the gateway serves /v1/chat/completions, /v1/embeddings and /v1/models"),
            )
            .response(),
        };
        Ok(response)
    }

    /// The key the request's `Authorization: Bearer` names; `None` when the server has no keys
    /// (it then listens on loopback only). Every key is compared, in constant time, with the
    /// SHA-256 of what was presented.
    fn authenticate<'a, B>(&self, live: &'a Live, request: &Request<B>) -> Result<Option<&'a Key>, ApiError> {
        if live.keys.is_empty() {
            return Ok(None);
        }
        let unauthorized = |message: &str| {
            self.metrics.refused("unauthorized");
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", "invalid_api_key", message)
        };
        let Some(value) = request.headers().get(header::AUTHORIZATION) else {
            return Err(unauthorized("no API key: send Authorization: Bearer <key>"));
        };
        let presented = value.as_bytes();
        let token = presented
            .strip_prefix(b"Bearer ")
            .ok_or_else(|| unauthorized("the Authorization header must be Bearer <key>"))?;
        let digest = sha256(token);
        let mut found = None;
        for (i, key) in live.keys.iter().enumerate() {
            if bool::from(key.key.sha256.ct_eq(&digest)) {
                found = Some(i);
            }
        }
        match found {
            Some(i) => Ok(Some(&live.keys[i])),
            None => Err(unauthorized("incorrect API key")),
        }
    }

    /// A slot for the request: its key's (429 when they are all taken) and the server's (a
    /// bounded wait in the queue, then 503).
    async fn admit(&self, live: &Live, key: Option<&Key>) -> Result<Admission, ApiError> {
        let key_slot = match key.and_then(|k| k.slots.as_ref().map(|s| (k, s))) {
            None => None,
            Some((k, slots)) => Some(slots.clone().try_acquire_owned().map_err(|_| {
                self.metrics.refused("key_concurrency");
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    "concurrency_limit",
                    format!("key {} has its {} requests in flight; retry after one ends", k.key.name, slots_of(k)),
                )
                .retry_after(RETRY_AFTER_SECS)
            })?),
        };
        let global = match live.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let overloaded = |why: &str| {
                    self.metrics.refused("overloaded");
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "api_error",
                        "overloaded",
                        format!("the gateway is at capacity: {why}"),
                    )
                    .retry_after(RETRY_AFTER_SECS)
                };
                let queued = self.metrics.queued.fetch_add(1, Ordering::SeqCst);
                let waited = if queued as usize >= live.max_queue {
                    Err(overloaded("its queue is full"))
                } else {
                    match tokio::time::timeout(live.queue_timeout, live.slots.clone().acquire_owned()).await {
                        Ok(Ok(permit)) => Ok(permit),
                        _ => Err(overloaded("no slot freed within the queue timeout")),
                    }
                };
                self.metrics.queued.fetch_sub(1, Ordering::SeqCst);
                waited?
            }
        };
        Ok(Admission { _global: global, _key: key_slot })
    }

    /// Reads the body within the size and time limits.
    async fn read_body(&self, live: &Live, request: Request<Incoming>) -> Result<Bytes, ApiError> {
        let too_large = || {
            self.metrics.refused("body_too_large");
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "request_too_large",
                format!("the request body is larger than the gateway's limit of {} bytes", live.max_body_bytes),
            )
        };
        let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > live.max_body_bytes as u64) {
            return Err(too_large());
        }
        let body = Limited::new(request.into_body(), live.max_body_bytes);
        match tokio::time::timeout(live.body_timeout, body.collect()).await {
            Err(_) => {
                self.metrics.refused("body_timeout");
                Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "invalid_request_error",
                    "request_timeout",
                    format!("the request body did not arrive within {:?}", live.body_timeout),
                ))
            }
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Ok(Err(_)) => Err(ApiError::bad_request("the request body could not be read")),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
        }
    }

    /// A chat completion (plain or streamed) or an embedding, through the core's `Client`.
    async fn call(
        self: &Arc<Self>,
        request: Request<Incoming>,
        operation: Operation,
    ) -> Result<Response<Body>, ApiError> {
        let started = Instant::now();
        let live = self.live();
        let key = self.authenticate(&live, &request)?;
        let admission = self.admit(&live, key).await?;
        let in_flight = InFlight::new(&self.metrics);
        let body = self.read_body(&live, request).await?;
        let scan = Scan::of(&body).map_err(ApiError::bad_request)?;
        if let Some(field) = scan.call_option() {
            return Err(ApiError::bad_request(format!(
                "`{field}` is not accepted by the gateway: the server's configuration decides how calls are made"
            )));
        }
        let model: &str = match &scan.model {
            Some(Some(model)) => model,
            Some(None) => return Err(ApiError::bad_request("`model` must be a string")),
            None => return Err(ApiError::bad_request("the request needs `model`")),
        };
        if let Some(k) = key.filter(|k| !k.key.allows(model)) {
            self.metrics.refused("model_not_allowed");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "model_not_allowed",
                format!("key {} may not use model {model}", k.key.name),
            ));
        }
        let streaming = operation == Operation::Chat && scan.stream;
        let include_usage = streaming && scan.include_usage;
        // The client's bytes go to the core as they came, unless the endpoint edits them.
        let edited = if operation == Operation::Embedding {
            if scan.stream {
                return Err(ApiError::bad_request("embeddings are not streamed: send the request without `stream`"));
            }
            Some(scan::with_embedding_operation(&body))
        } else if streaming && !include_usage && scan.stream_options {
            // The core asks the provider for usage to settle token limits; the client did not
            // ask for it, so the usage chunk is not forwarded.
            Some(scan::without_stream_options(&body))
        } else {
            None
        };
        let request = edited.as_deref().unwrap_or(&body);
        let plan = self.client.plan(None, request, streaming).map_err(|e| ApiError::from_core(&e))?;
        let key_permit = match key.filter(|k| k.key.rpm.is_some() || k.key.tpm.is_some()) {
            None => None,
            Some(k) => {
                let limits = [(format!("key:{}", k.key.name), Limit { rpm: k.key.rpm, tpm: k.key.tpm })];
                let deadline = Instant::now() + Duration::from_secs(60);
                let permit =
                    self.key_limiter.acquire(&limits, plan.estimated_tokens(), OnLimit::Fail, deadline).await.map_err(
                        |e| {
                            let mut api = ApiError::from_core(&e);
                            api.message = format!("key {}: {}", k.key.name, api.message);
                            api
                        },
                    )?;
                Some(permit)
            }
        };
        let (provider, label_model) = labels_for(model);
        if !streaming {
            let answer = match plan.answer_locally_with_facts() {
                Some(answer) => answer,
                None => self.client.run_with_facts(plan).await,
            };
            return match answer {
                Ok((body, facts)) => {
                    // What the core read of the answer: the body is not parsed again here.
                    let usage = facts.usage.map(|u| (u.prompt_tokens.unwrap_or(0), u.completion_tokens.unwrap_or(0)));
                    if let Some(outcome) = cache_outcome(facts.cache.as_str()) {
                        self.metrics.cache(provider, label_model, outcome);
                    }
                    self.settle_key(key_permit.as_ref(), usage);
                    self.metrics.observe(provider, label_model, "ok", started.elapsed(), usage);
                    Ok(bytes_response(StatusCode::OK, body))
                }
                Err(e) => {
                    self.settle_key(key_permit.as_ref(), Some((0, 0)));
                    self.failed(&e, provider, label_model, started);
                    Err(ApiError::from_core(&e))
                }
            };
        }
        // A stream: the first event decides the status; later errors become an error event.
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<Option<Error>>();
        let app = self.clone();
        drop(in_flight);
        let (provider, label_model) = (provider.to_owned(), label_model.to_owned());
        tokio::spawn(async move {
            let _in_flight = InFlight::new(&app.metrics);
            let _admission = admission;
            app.metrics.streams.fetch_add(1, Ordering::Relaxed);
            let mut first_tx = Some(first_tx);
            let mut usage = None;
            let mut cache = None;
            let closed = tx.clone();
            let mut on_chunk = |chunk: Vec<u8>| {
                let info = chunk_info(&chunk);
                if info.usage.is_some() {
                    usage = info.usage;
                }
                if info.cache.is_some() {
                    cache = info.cache;
                }
                if let Some(first) = first_tx.take() {
                    let _ = first.send(None);
                }
                if info.usage_only && !include_usage {
                    return;
                }
                let mut event = Vec::with_capacity(chunk.len() + 8);
                event.extend_from_slice(b"data: ");
                event.extend_from_slice(&chunk);
                event.extend_from_slice(b"\n\n");
                // Unbounded: the core's callback cannot wait, and one answer is bounded upstream.
                let _ = tx.send(Bytes::from(event));
            };
            let outcome = tokio::select! {
                result = app.client.run_stream(plan, &mut on_chunk) => Some(result),
                () = closed.closed() => None,
            };
            let result = match outcome {
                None => {
                    app.metrics.client_disconnects.fetch_add(1, Ordering::Relaxed);
                    Err(Error::new(ErrorKind::Cancelled, "the client went away"))
                }
                Some(result) => result,
            };
            app.settle_key(key_permit.as_ref(), usage.or(Some((0, 0))));
            match &result {
                Ok(()) => {
                    if let Some(outcome) = cache {
                        app.metrics.cache(&provider, &label_model, outcome);
                    }
                    app.metrics.observe(&provider, &label_model, "ok", started.elapsed(), usage);
                    let _ = closed.send(Bytes::from_static(b"data: [DONE]\n\n"));
                }
                Err(e) => {
                    app.failed(e, &provider, &label_model, started);
                    match first_tx.take() {
                        Some(first) => {
                            let _ = first.send(Some(e.clone()));
                        }
                        None => {
                            let event = format!("data: {}\n\n", ApiError::from_core(e).body());
                            let _ = closed.send(Bytes::from(event));
                        }
                    }
                }
            }
            app.metrics.streams.fetch_sub(1, Ordering::Relaxed);
        });
        match first_rx.await {
            Ok(Some(e)) => {
                rx.close();
                Err(ApiError::from_core(&e))
            }
            _ => {
                let mut response = Response::new(Body::Events(rx));
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                Ok(response)
            }
        }
    }

    fn settle_key(&self, permit: Option<&Permit>, usage: Option<(u64, u64)>) {
        if let (Some(permit), Some((prompt, completion))) = (permit, usage) {
            self.key_limiter.settle(permit, prompt + completion);
        }
    }

    fn failed(&self, e: &Error, provider: &str, model: &str, started: Instant) {
        let provider = e.provider.as_deref().unwrap_or(provider);
        if e.attempts > 0 || e.status.is_some() {
            self.metrics.upstream_error(provider, e.kind.as_str());
        }
        self.metrics.observe(provider, model, e.kind.as_str(), started.elapsed(), None);
    }
}

fn list_models(live: &Live, key: Option<&Key>) -> Response<Body> {
    let data: Vec<Value> = live
        .models
        .iter()
        .filter(|(id, _)| key.is_none_or(|k| k.key.allows(id)))
        .map(|(id, owner)| json!({"id": id, "object": "model", "created": 0, "owned_by": owner}))
        .collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

fn slots_of(k: &Key) -> usize {
    k.key.max_concurrency.unwrap_or(0)
}

/// The provider and model labels of a requested model: `provider/model` as given, a route
/// under `route`.
fn labels_for(model: &str) -> (&str, &str) {
    match model.split_once('/') {
        Some((provider, _)) => (provider, model),
        None => ("route", model),
    }
}

#[derive(serde::Deserialize)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

fn tokens(usage: &Usage) -> (u64, u64) {
    (usage.prompt_tokens.unwrap_or(0), usage.completion_tokens.unwrap_or(0))
}

/// The `liter_llm` member of a response or chunk, as far as the metrics need it.
#[derive(serde::Deserialize)]
struct LiterLlm<'a> {
    #[serde(borrow)]
    cache: Option<std::borrow::Cow<'a, str>>,
}

fn cache_of(member: Option<&LiterLlm<'_>>) -> Option<&'static str> {
    cache_outcome(member?.cache.as_deref()?)
}

struct ChunkInfo {
    usage: Option<(u64, u64)>,
    /// A chunk with usage and no choices: the usage chunk of `stream_options.include_usage`.
    usage_only: bool,
    cache: Option<&'static str>,
}

fn chunk_info(chunk: &[u8]) -> ChunkInfo {
    #[derive(serde::Deserialize)]
    struct Chunk<'a> {
        usage: Option<Usage>,
        #[serde(default)]
        choices: Vec<serde::de::IgnoredAny>,
        #[serde(borrow)]
        liter_llm: Option<LiterLlm<'a>>,
    }
    match serde_json::from_slice::<Chunk<'_>>(chunk) {
        Ok(c) => ChunkInfo {
            usage_only: c.usage.is_some() && c.choices.is_empty(),
            usage: c.usage.as_ref().map(tokens),
            cache: cache_of(c.liter_llm.as_ref()),
        },
        Err(_) => ChunkInfo { usage: None, usage_only: false, cache: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_openai_statuses() {
        let mut e = Error::new(ErrorKind::RateLimited, "slow down");
        e.retry_after = Some(2.2);
        let api = ApiError::from_core(&e);
        assert_eq!(
            (api.status, api.error_type, api.retry_after),
            (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", Some(3))
        );
        let cases = [
            (ErrorKind::InvalidRequest, 400),
            (ErrorKind::Authentication, 502),
            (ErrorKind::PermissionDenied, 403),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Timeout, 504),
            (ErrorKind::Connection, 502),
            (ErrorKind::ProviderUnavailable, 503),
            (ErrorKind::Internal, 500),
        ];
        for (kind, status) in cases {
            let api = ApiError::from_core(&Error::new(kind, "x"));
            assert_eq!(api.status.as_u16(), status, "{kind}");
            assert_eq!(api.body()["error"]["code"], kind.as_str());
        }
    }

    #[test]
    fn usage_chunks_are_recognised() {
        let c = chunk_info(br#"{"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}"#);
        assert!(c.usage_only);
        assert_eq!(c.usage, Some((3, 4)));
        let c = chunk_info(br#"{"choices": [{"index": 0, "delta": {"content": "x"}}], "usage": null}"#);
        assert!(!c.usage_only && c.usage.is_none() && c.cache.is_none());
        let c = chunk_info(br#"{"choices": [{"index": 0, "delta": {}}], "liter_llm": {"cache": "hit-l2"}}"#);
        assert_eq!(c.cache, Some("hit-l2"));
        assert_eq!(labels_for("openai/gpt-4o"), ("openai", "openai/gpt-4o"));
        assert_eq!(labels_for("chat").0, "route");
    }
}
