//! The call path: validate and translate on the caller's thread, then one pooled HTTP client on
//! one shared Tokio runtime does the network part.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Url;

use crate::config::{self, Config, Strategy};
use crate::error::{parse_retry_after, Error, ErrorKind, Result};
use crate::limiter::{self, Limiter};
use crate::provider::Provider;
use crate::providers::route;
use crate::request::ChatRequest;
use crate::retry;
use crate::secret::Secret;
use crate::sse::SseParser;

/// Used when the request names no `timeout` (the official SDKs' default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Connecting may take at most this long (less when the call's timeout is shorter).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Response bodies larger than this are a `bad_response`.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// How much of a non-JSON error body is quoted in the message.
const ERROR_EXCERPT_CHARS: usize = 200;

/// A validated call: the request, the models to try in order, and the deadline.
pub struct Plan {
    request: ChatRequest,
    targets: Vec<Target>,
    timeout: Duration,
    max_retries: u32,
    estimated_tokens: u64,
    streaming: bool,
    cfg: Arc<Config>,
}

struct Target {
    provider: &'static dyn Provider,
    /// The model as sent upstream (routing prefix removed).
    model: String,
}

/// Everything one upstream request needs; cheap to send again for a retry.
pub struct HttpCall {
    provider: &'static dyn Provider,
    model: String,
    url: Url,
    headers: HeaderMap,
    body: bytes::Bytes,
    /// This attempt's limit: what is left of the call's deadline.
    timeout: Duration,
    /// The call's whole timeout, for messages (which must not vary from run to run).
    call_timeout: Duration,
    key: Secret,
}

/// One model of a call that failed, for the final error's `tried` list.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Tried {
    pub provider: String,
    pub model: String,
    pub kind: ErrorKind,
    pub status: Option<u16>,
    pub attempts: u32,
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

fn build_http_client(pool: &config::Pool) -> Result<Arc<reqwest::Client>> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("liter-llm/", env!("CARGO_PKG_VERSION")))
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(pool.idle_timeout.unwrap_or(Duration::from_secs(90)));
    if let Some(n) = pool.max_idle_per_host {
        builder = builder.pool_max_idle_per_host(n);
    }
    builder.build().map(Arc::new).map_err(|e| Error::internal(format!("could not build the HTTP client: {e}")))
}

fn http_slot() -> &'static RwLock<Option<Arc<reqwest::Client>>> {
    static CLIENT: RwLock<Option<Arc<reqwest::Client>>> = RwLock::new(None);
    &CLIENT
}

/// The one pooled HTTP client, built on first use with the configured pool settings.
fn http_client(cfg: &Config) -> Result<Arc<reqwest::Client>> {
    if let Some(client) = http_slot().read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return Ok(client.clone());
    }
    let mut slot = http_slot().write().unwrap_or_else(|p| p.into_inner());
    if let Some(client) = slot.as_ref() {
        return Ok(client.clone());
    }
    let client = build_http_client(&cfg.pool)?;
    *slot = Some(client.clone());
    Ok(client)
}

/// Replaces the configuration (the JSON form of `liter-llm.toml`) for every later call.
pub fn configure(json: &[u8]) -> Result<()> {
    let cfg = Config::from_json(json)?;
    let fresh_client = build_http_client(&cfg.pool)?;
    let pool_changed = config::set(cfg);
    limiter().reset();
    if pool_changed {
        // New pool settings take effect through a new client; calls in flight keep the old one.
        *http_slot().write().unwrap_or_else(|p| p.into_inner()) = Some(fresh_client);
    }
    Ok(())
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

/// Validates the request and resolves every model it may be sent to. Runs on the caller's thread.
pub fn plan(provider: Option<&str>, request: &[u8]) -> Result<Plan> {
    plan_for(provider, request, false)
}

/// `plan`, for a streaming call when `streaming` is true.
pub fn plan_for(provider: Option<&str>, request: &[u8], streaming: bool) -> Result<Plan> {
    let cfg = config::current()?;
    let request = ChatRequest::parse_for(request, streaming).map_err(|e| match provider {
        Some(p) if crate::providers::lookup(p).is_some() => e.with_provider(p),
        _ => e,
    })?;
    let prompt_chars = request.prompt_chars();
    let model = request.params.model.as_str();
    let mut targets = Vec::with_capacity(1 + request.options.fallbacks.len());
    match cfg.routes.get(model).filter(|_| provider.is_none_or(str::is_empty)) {
        Some(named) => {
            for m in ordered_route(&cfg, model, named, prompt_chars, request.max_tokens()) {
                let (adapter, upstream_model) = route(None, &m)?;
                targets.push(Target { provider: adapter, model: upstream_model.to_owned() });
            }
        }
        None => {
            let (adapter, upstream_model) = route(provider, model)?;
            targets.push(Target { provider: adapter, model: upstream_model.to_owned() });
        }
    }
    for fallback in &request.options.fallbacks {
        let (adapter, model) = route(None, fallback)?;
        targets.push(Target { provider: adapter, model: model.to_owned() });
    }
    let primary = cfg.providers.get(targets[0].provider.name());
    Ok(Plan {
        timeout: request
            .options
            .timeout
            .or(primary.and_then(|p| p.timeout))
            .or(cfg.defaults.timeout)
            .unwrap_or(DEFAULT_TIMEOUT),
        max_retries: request
            .options
            .max_retries
            .or(primary.and_then(|p| p.max_retries))
            .or(cfg.defaults.max_retries)
            .unwrap_or(retry::DEFAULT_MAX_RETRIES),
        estimated_tokens: limiter::estimate_tokens(prompt_chars, request.max_tokens()),
        streaming,
        request,
        targets,
        cfg,
    })
}

/// A named route's models in the order its strategy picks for this request.
fn ordered_route(
    cfg: &Config,
    name: &str,
    named: &config::Route,
    prompt_chars: usize,
    max_tokens: Option<u32>,
) -> Vec<String> {
    let mut models = named.models.clone();
    match named.strategy {
        Strategy::Fallback => {}
        Strategy::RoundRobin => {
            static TURNS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);
            let mut turns = TURNS.lock().unwrap_or_else(|p| p.into_inner());
            let turn = turns.get_or_insert_with(HashMap::new).entry(name.to_owned()).or_insert(0);
            let start = *turn % models.len();
            *turn = turn.wrapping_add(1);
            models.rotate_left(start);
        }
        Strategy::LowestPrice => {
            // Expected cost: the prompt estimate at the input price plus the completion budget
            // (max_tokens, else 1024) at the output price. Unpriced models go last, in order.
            let prompt = prompt_chars.div_ceil(4) as f64;
            let completion = f64::from(max_tokens.unwrap_or(1024));
            let cost = |m: &String| cfg.price(m).map(|p| prompt * p.input + completion * p.output);
            models.sort_by(|a, b| match (cost(a), cost(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
        }
    }
    models
}

impl Plan {
    /// The answer, when the first model answers without the network (the `mock` provider).
    pub fn answer_locally(&self) -> Option<Result<Vec<u8>>> {
        let first = &self.targets[0];
        let answer = first.provider.respond_locally(&self.request, &first.model)?;
        Some(
            answer
                .map(|body| with_meta(body, first.provider.name(), &first.model, 0))
                .map_err(|e| e.with_provider(first.provider.name())),
        )
    }

    /// Tries each model in turn, each with its retries, within one deadline.
    pub async fn run(self) -> Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        let mut tried: Vec<Tried> = Vec::new();
        let mut total_attempts = 0;
        let last = self.targets.len() - 1;
        for (index, target) in self.targets.iter().enumerate() {
            let name = target.provider.name();
            let outcome = match target.provider.respond_locally(&self.request, &target.model) {
                Some(answer) => answer.map(|body| (body, 0)).map_err(|e| (e, 0)),
                None => match HttpCall::build(
                    &self.request,
                    target,
                    target.provider.name() == self.targets[0].provider.name(),
                    &self.cfg,
                ) {
                    Ok(call) => call.run(&self, deadline).await,
                    Err(e) => Err((e, 0)),
                },
            };
            match outcome {
                Ok((body, attempts)) => return Ok(with_meta(body, name, &target.model, attempts)),
                Err((e, attempts)) => {
                    let mut e = e.with_provider(name);
                    total_attempts += attempts;
                    tried.push(Tried {
                        provider: name.to_owned(),
                        model: format!("{name}/{}", target.model),
                        kind: e.kind,
                        status: e.status,
                        attempts,
                    });
                    let next = index < last && retry::falls_back(&e) && Instant::now() < deadline;
                    if next {
                        continue;
                    }
                    e.attempts = total_attempts;
                    if tried.len() > 1 {
                        let summary: Vec<String> = tried
                            .iter()
                            .map(|t| {
                                let status = t.status.map(|s| format!(", HTTP {s}")).unwrap_or_default();
                                format!("{} ({}{status}, {} attempts)", t.model, t.kind, t.attempts)
                            })
                            .collect();
                        e.message = format!("{}; every model failed: {}", e.message, summary.join("; "));
                        e.tried = Some(tried);
                    }
                    return Err(e);
                }
            }
        }
        Err(Error::internal("a call had no model to try"))
    }
}

impl Plan {
    /// Streams the first model that answers, handing each `chat.completion.chunk` to `on_chunk`.
    /// Until the first chunk, failures are retried and fall back as in `run`; after it, an error
    /// ends the stream.
    pub async fn run_stream(self, on_chunk: &mut (dyn FnMut(Vec<u8>) + Send)) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        let mut total_attempts = 0;
        let last = self.targets.len() - 1;
        for (index, target) in self.targets.iter().enumerate() {
            let name = target.provider.name();
            if let Some(chunks) = target.provider.stream_locally(&self.request, &target.model) {
                for chunk in chunks.map_err(|e| e.with_provider(name))? {
                    on_chunk(chunk);
                }
                return Ok(());
            }
            let overrides = name == self.targets[0].provider.name();
            let outcome = match HttpCall::build_for(&self.request, target, overrides, &self.cfg, self.streaming) {
                Ok(call) => call.run_stream(&self, deadline, on_chunk).await,
                Err(e) => Err(StreamFailure { error: e, attempts: 0, delivered: false }),
            };
            let Err(failure) = outcome else {
                return Ok(());
            };
            let mut e = failure.error.with_provider(name);
            total_attempts += failure.attempts;
            if !failure.delivered && index < last && retry::falls_back(&e) && Instant::now() < deadline {
                continue;
            }
            e.attempts = total_attempts;
            return Err(e);
        }
        Err(Error::internal("a call had no model to try"))
    }
}

/// How a streaming attempt failed: whether chunks had already gone to the caller decides
/// whether another model may still be tried.
struct StreamFailure {
    error: Error,
    attempts: u32,
    delivered: bool,
}

/// Adds `"liter_llm": {"provider", "model", "attempts"}` to a response object: which provider
/// and model served it, after how many HTTP attempts (0 for a local answer).
fn with_meta(mut body: Vec<u8>, provider: &str, model: &str, attempts: u32) -> Vec<u8> {
    let Some(close) = body.iter().rposition(|b| *b == b'}') else {
        return body;
    };
    let is_empty_object = body[..close].iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let meta = serde_json::json!({"provider": provider, "model": format!("{provider}/{model}"), "attempts": attempts});
    let mut insert = Vec::with_capacity(96);
    if !is_empty_object {
        insert.push(b',');
    }
    insert.extend_from_slice(b"\"liter_llm\":");
    insert.extend_from_slice(meta.to_string().as_bytes());
    body.splice(close..close, insert);
    body
}

impl HttpCall {
    /// Resolves the key, the URL and the upstream body for one model. The call's `api_key` and
    /// `base_url` belong to the primary model's provider (`overrides`); a fallback to another
    /// provider takes that provider's settings from the environment.
    fn build(request: &ChatRequest, target: &Target, overrides: bool, cfg: &Config) -> Result<HttpCall> {
        HttpCall::build_for(request, target, overrides, cfg, false)
    }

    fn build_for(
        request: &ChatRequest,
        target: &Target,
        overrides: bool,
        cfg: &Config,
        streaming: bool,
    ) -> Result<HttpCall> {
        let adapter = target.provider;
        let name = adapter.name();
        let configured = cfg.providers.get(name);
        let Some(env) = adapter.env() else {
            return Err(Error::internal(format!("{name} has neither a local answer nor an endpoint")));
        };
        let key = match request.options.api_key.as_ref().filter(|_| overrides) {
            Some(key) if !key.expose().is_empty() => key.clone(),
            _ => {
                match configured
                    .and_then(|p| p.api_key.clone())
                    .or_else(|| env.key_vars.iter().find_map(|v| env_var(v)).map(Secret::new))
                {
                    Some(key) => key,
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
        let base = (if overrides { request.options.base_url.clone() } else { None })
            .or_else(|| configured.and_then(|p| p.base_url.clone()))
            .or_else(|| env.base_url_vars.iter().find_map(|v| env_var(v)))
            .unwrap_or_else(|| env.default_base_url.to_owned());
        let full = format!("{}{}", base.trim().trim_end_matches('/'), adapter.path());
        let url = cached_url(&full)
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                Error::invalid_request(format!(
                    "the base URL for {name} is not an http(s) URL; check base_url or the environment"
                ))
                .with_provider(name)
            })?;
        let body = adapter.request_body(request, &target.model, streaming).map_err(|e| e.with_provider(name))?;
        let mut headers = HeaderMap::with_capacity(5);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        adapter.auth_headers(&key, &mut headers).map_err(|e| e.with_provider(name))?;
        Ok(HttpCall {
            provider: adapter,
            model: target.model.clone(),
            url,
            headers,
            body: body.into(),
            timeout: DEFAULT_TIMEOUT,
            call_timeout: DEFAULT_TIMEOUT,
            key,
        })
    }

    /// Attempts `send` (one HTTP attempt of this call) until it succeeds, fails for good, or the
    /// deadline leaves no room. Each attempt first takes its place under the configured rate
    /// limits. Returns what the successful attempt gave, with its rate-limit permit and the
    /// number of attempts made; or the last error, with the attempts made.
    async fn with_retries<T>(
        &mut self,
        plan: &Plan,
        deadline: Instant,
        mut send: impl AsyncFnMut(&HttpCall) -> Result<T>,
    ) -> std::result::Result<(T, limiter::Permit, u32), (Error, u32)> {
        let name = self.provider.name();
        self.call_timeout = plan.timeout;
        let limits = plan.cfg.limits(name, &self.model);
        let on_limit = plan.cfg.on_limit(name);
        let max_wait = plan.cfg.defaults.max_retry_wait.unwrap_or(retry::DEFAULT_MAX_RETRY_WAIT);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let permit = limiter()
                .acquire(&limits, plan.estimated_tokens, on_limit, deadline)
                .await
                .map_err(|e| (e.with_provider(name), attempt - 1))?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err((self.deadline_error(), attempt - 1));
            }
            self.timeout = remaining;
            let mut error = match send(self).await {
                Ok(value) => return Ok((value, permit, attempt)),
                Err(e) => e,
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            match retry::decide(&error, attempt, plan.max_retries, max_wait, remaining) {
                retry::Decision::RetryAfter(wait) => tokio::time::sleep(wait).await,
                retry::Decision::Stop(why) => {
                    retry::explain_stop(&mut error, attempt, why);
                    return Err((error, attempt));
                }
            }
        }
    }

    /// Attempts the request as `with_retries` does; returns the body or the last error, with the
    /// number of attempts made. The permit is settled against the usage the body reports.
    async fn run(mut self, plan: &Plan, deadline: Instant) -> std::result::Result<(Vec<u8>, u32), (Error, u32)> {
        let (body, permit, attempts) =
            self.with_retries(plan, deadline, async |call: &HttpCall| call.execute().await).await?;
        if !permit.is_empty() {
            limiter().settle(&permit, reported_tokens(&body).unwrap_or(plan.estimated_tokens));
        }
        Ok((body, attempts))
    }

    /// A streaming request: opened (and retried) as `run` sends, then the body arrives as
    /// server-sent events, turned into chunks as they come; once the stream is open, an error ends
    /// it. `timeout` bounds the wait for the response head and each silence between events, not
    /// the whole stream.
    async fn run_stream(
        mut self,
        plan: &Plan,
        deadline: Instant,
        on_chunk: &mut (dyn FnMut(Vec<u8>) + Send),
    ) -> std::result::Result<(), StreamFailure> {
        let (response, _permit, attempts) = self
            .with_retries(plan, deadline, async |call: &HttpCall| call.open_stream().await)
            .await
            .map_err(|(error, attempts)| StreamFailure { error, attempts, delivered: false })?;
        let mut delivered = false;
        self.read_stream(response, &mut |chunk| {
            delivered = true;
            on_chunk(chunk);
        })
        .await
        .map_err(|error| StreamFailure { error, attempts, delivered })
    }

    /// Sends the request; a 2xx answer is returned unread, anything else becomes its error.
    async fn open_stream(&self) -> Result<reqwest::Response> {
        let client = http_client(&*config::current()?)?;
        let send = client.post(self.url.clone()).headers(self.headers.clone()).body(self.body.clone()).send();
        let response = match tokio::time::timeout(self.timeout, send).await {
            Err(_) => return Err(self.silence_error()),
            Ok(sent) => sent.map_err(|e| self.transport_error(&e, false))?,
        };
        let status = response.status().as_u16();
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
    async fn read_capped(&self, mut response: reqwest::Response, status: u16) -> Result<Vec<u8>> {
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
    async fn read_stream(
        &self,
        mut response: reqwest::Response,
        on_chunk: &mut (dyn FnMut(Vec<u8>) + Send),
    ) -> Result<()> {
        let name = self.provider.name();
        let status = response.status().as_u16();
        let mut parser = SseParser::new();
        let mut normalizer = self.provider.stream_decoder(&self.model);
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
                return Err(finish(normalizer.ended_early()));
            };
            for event in parser.feed(&bytes).map_err(finish)? {
                let step = normalizer.on_event(&event).map_err(finish)?;
                for chunk in step.chunks {
                    on_chunk(chunk);
                }
                if step.done {
                    return Ok(());
                }
            }
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

    fn deadline_error(&self) -> Error {
        let name = self.provider.name();
        Error::new(ErrorKind::Timeout, format!("{name}: the call's deadline passed before another attempt could start"))
            .with_provider(name)
    }
}

/// Parses an endpoint URL, remembering the few a process uses: parsing (with IDNA) is a
/// measurable share of a call's CPU, and the same base URLs come back on every call.
fn cached_url(text: &str) -> Option<Url> {
    static CACHE: Mutex<Option<HashMap<String, Url>>> = Mutex::new(None);
    const MAX_ENTRIES: usize = 64;
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(url) = cache.get(text) {
        return Some(url.clone());
    }
    let url = Url::parse(text).ok()?;
    if cache.len() >= MAX_ENTRIES {
        cache.clear();
    }
    cache.insert(text.to_owned(), url.clone());
    Some(url)
}

/// The process-wide rate limiter.
fn limiter() -> &'static Limiter {
    static LIMITER: OnceLock<Limiter> = OnceLock::new();
    LIMITER.get_or_init(Limiter::default)
}

/// `usage.total_tokens` of an OpenAI-shaped response, for settling token budgets.
fn reported_tokens(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Body {
        usage: Option<UsageTotal>,
    }
    #[derive(serde::Deserialize)]
    struct UsageTotal {
        total_tokens: u64,
    }
    serde_json::from_slice::<Body>(body).ok()?.usage.map(|u| u.total_tokens)
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
                    "{name}: no complete response from {url} within the call's timeout of {}s; raise `timeout` or try again",
                    self.call_timeout.as_secs_f64()
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
    async fn execute(&self) -> Result<Vec<u8>> {
        let name = self.provider.name();
        let client = http_client(&*config::current()?)?;
        let sent = client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(self.body.clone())
            .timeout(self.timeout)
            .send()
            .await;
        let response = sent.map_err(|e| self.transport_error(&e, false))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = self.read_capped(response, status).await?;
        if (200..300).contains(&status) {
            return self.provider.parse_response(&self.model, &body).map_err(|mut e| {
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
        let mut err =
            Error::new(kind, format!("{name}: {detail} (HTTP {status})")).with_provider(name).with_status(status);
        err.retry_after = parse_retry_after(headers, SystemTime::now());
        let has_detail =
            provider_error.error_type.is_some() || provider_error.message.is_some() || provider_error.code.is_some();
        err.provider_error = has_detail.then_some(provider_error);
        err
    }
}

/// Runs a whole call on the current async context.
pub async fn invoke(provider: Option<&str>, request: &[u8]) -> Result<Vec<u8>> {
    let plan = plan(provider, request)?;
    match plan.answer_locally() {
        Some(answer) => answer,
        None => plan.run().await,
    }
}

/// Streams a call on the current async context: each `chat.completion.chunk` goes to `on_chunk`.
pub async fn stream_call(
    provider: Option<&str>,
    request: &[u8],
    on_chunk: &mut (dyn FnMut(Vec<u8>) + Send),
) -> Result<()> {
    plan_for(provider, request, true)?.run_stream(on_chunk).await
}

/// Runs a whole call, blocking the calling thread until it ends. The network part runs on the
/// shared runtime; validation, translation and the `mock` provider run here.
pub fn invoke_blocking(provider: Option<&str>, request: &[u8]) -> Result<Vec<u8>> {
    let plan = plan(provider, request)?;
    if let Some(answer) = plan.answer_locally() {
        return answer;
    }
    let runtime = runtime()?;
    if tokio::runtime::Handle::try_current().is_err() {
        // Driving the call on this thread saves the hand-offs to and from a worker thread.
        return runtime.block_on(plan.run());
    }
    // Called from inside an async context (a callback on a runtime thread, say), where blocking
    // on the runtime is not allowed: run the call on a worker and wait for it.
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(plan.run().await);
    });
    rx.recv().unwrap_or_else(|_| Err(Error::internal("the request task ended without a result (a bug in liter-llm)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_name_the_variables() {
        // Names a variable this test alone uses so parallel tests cannot interfere.
        let plan = plan(Some("cohere"), br#"{"model": "command-r", "prompt": "x", "base_url": "http://127.0.0.1:1"}"#)
            .unwrap();
        let e = match HttpCall::build(&plan.request, &plan.targets[0], true, &Config::default()) {
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
            let e = match HttpCall::build(&plan.request, &plan.targets[0], true, &Config::default()) {
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
