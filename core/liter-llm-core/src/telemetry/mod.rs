//! OpenTelemetry for every call: a CLIENT span per logical call following the GenAI semantic
//! conventions v1.41.0, a child span per HTTP attempt (HTTP client conventions), and the GenAI
//! client metrics, exported as OTLP/HTTP protobuf (docs/telemetry.md).
//!
//! Off unless `[telemetry]` or the standard `OTEL_*` variables name an endpoint: a client then
//! holds no `Telemetry` and a call does nothing more than test an `Option`. On, a call never
//! waits for the receiver: finished spans go into a bounded queue (full: the span is dropped
//! and counted) that a task on the core's runtime sends in batches; metrics are aggregated in
//! memory and sent every export interval. `flush_all` (behind `liter_llm_shutdown`) sends what
//! is left, within a timeout.
//!
//! Deliberate choices: no OpenTelemetry SDK crate (the core needs one span shape, three
//! histograms and three counters; the OTLP messages are written in `otlp`); no span events and
//! no links; the opt-in content capture writes `gen_ai.input.messages` / `gen_ai.output.messages`
//! as span attributes only (`span_only`).

pub(crate) mod context;
pub(crate) mod otlp;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::TelemetryConfig;
use crate::error::{Error, Result};
pub(crate) use crate::response::ResponseFacts;
use crate::secret::Secret;
use context::{Parent, Sampler};
use otlp::{Attributes, CounterPoint, HistogramPoint, Metric, Resource, Span, Value};

/// Spans waiting for export; more are dropped (and counted).
pub const MAX_QUEUED_SPANS: usize = 2048;
/// Spans sent in one export request.
const MAX_BATCH: usize = 512;
/// How long a finished span may wait before its batch is sent.
const SPAN_DELAY: Duration = Duration::from_millis(1000);
/// The default metric export interval (the SDKs' is 60 s).
const METRIC_INTERVAL: Duration = Duration::from_secs(60);
/// One export request's limit (`OTEL_EXPORTER_OTLP_TIMEOUT`'s default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// `gen_ai.client.operation.duration` and time-to-first-chunk buckets, in seconds, as the
/// conventions advise.
const DURATION_BOUNDS: &[f64] =
    &[0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
/// `gen_ai.client.token.usage` buckets, as the conventions advise.
const TOKEN_BOUNDS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];

/// Telemetry settings resolved from `[telemetry]` and the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    traces_url: Option<String>,
    metrics_url: Option<String>,
    headers: Vec<(String, Secret)>,
    resource: Resource,
    sampler: Sampler,
    pub(crate) capture_content: bool,
    pub(crate) forward_traceparent: bool,
    /// `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`: the GenAI repository's newer
    /// metric names (`gen_ai.client.inference.*`).
    pub(crate) latest: bool,
    metric_interval: Duration,
}

fn is_true(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true")
}

impl Settings {
    /// The settings, or `None` when telemetry is off: `enabled = false`, `OTEL_SDK_DISABLED=true`,
    /// or no endpoint for either signal. `env` reads a variable (empty counts as unset).
    pub fn resolve(table: &TelemetryConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Settings>> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if table.enabled == Some(false) || var("OTEL_SDK_DISABLED").is_some_and(|v| is_true(&v)) {
            return Ok(None);
        }
        let base = table.endpoint.clone().or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let signal = |own: &Option<String>, own_var: &str, exporter_var: &str, path: &str| -> Result<Option<String>> {
            if var(exporter_var).is_some_and(|v| v.trim() == "none") {
                return Ok(None);
            }
            let url = own
                .clone()
                .or_else(|| var(own_var))
                .or_else(|| base.as_ref().map(|b| format!("{}{path}", b.trim().trim_end_matches('/'))));
            match url {
                Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                    Err(Error::invalid_request(format!(
                        "telemetry: the OTLP endpoint must be an http(s) URL (OTLP/HTTP protobuf), got {url:?}"
                    )))
                }
                url => Ok(url.map(|u| u.trim().to_owned())),
            }
        };
        let traces_url =
            signal(&table.traces_endpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER", "/v1/traces")?;
        let metrics_url = signal(
            &table.metrics_endpoint,
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "OTEL_METRICS_EXPORTER",
            "/v1/metrics",
        )?;
        if traces_url.is_none() && metrics_url.is_none() {
            return Ok(None);
        }
        let mut headers: Vec<(String, Secret)> = Vec::new();
        for (name, value) in parse_pairs(&var("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or_default()) {
            headers.push((name, Secret::new(value)));
        }
        for (name, value) in &table.headers {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value.clone()));
        }
        for (name, value) in &headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value.expose()).is_err()
            {
                return Err(Error::invalid_request(format!(
                    "telemetry: the export header {name:?} is not a valid HTTP header"
                )));
            }
        }
        let mut attributes: BTreeMap<String, String> =
            parse_pairs(&var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default()).into_iter().collect();
        attributes.extend(table.resource_attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
        let service = table
            .service_name
            .clone()
            .or_else(|| var("OTEL_SERVICE_NAME"))
            .or_else(|| attributes.get("service.name").cloned())
            .unwrap_or_else(|| "unknown_service".to_owned());
        attributes.insert("service.name".into(), service);
        attributes.insert("telemetry.sdk.name".into(), "liter-llm".into());
        attributes.insert("telemetry.sdk.language".into(), "rust".into());
        attributes.insert("telemetry.sdk.version".into(), crate::VERSION.into());
        let resource =
            Resource { attributes: attributes.into_iter().map(|(k, v)| (k, Value::Str(v.into()))).collect() };
        let sampler_name = table.sampler.clone().or_else(|| var("OTEL_TRACES_SAMPLER"));
        let sampler_arg =
            table.sampler_arg.or_else(|| var("OTEL_TRACES_SAMPLER_ARG").and_then(|a| a.trim().parse().ok()));
        let sampler = match sampler_name {
            None => Sampler::ParentBasedAlwaysOn,
            Some(name) => Sampler::parse(&name, sampler_arg).ok_or_else(|| {
                Error::invalid_request(format!(
                    "telemetry: unknown sampler {name:?}; use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
                ))
            })?,
        };
        let capture_content = table.capture_message_content.unwrap_or_else(|| {
            var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT").is_some_and(|v| v.trim() == "span_only")
        });
        let latest = var("OTEL_SEMCONV_STABILITY_OPT_IN")
            .is_some_and(|v| v.split(',').any(|item| item.trim() == "gen_ai_latest_experimental"));
        let metric_interval = table
            .metric_export_interval
            .or_else(|| {
                var("OTEL_METRIC_EXPORT_INTERVAL")
                    .and_then(|ms| ms.trim().parse::<u64>().ok())
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis)
            })
            .unwrap_or(METRIC_INTERVAL);
        Ok(Some(Settings {
            traces_url,
            metrics_url,
            headers,
            resource,
            sampler,
            capture_content,
            forward_traceparent: table.forward_traceparent,
            latest,
            metric_interval,
        }))
    }
}

/// `key1=value1,key2=value2` with percent-encoded values (the OTEL_* list syntax).
fn parse_pairs(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = [bytes[i + 1], bytes[i + 2]];
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&hex).unwrap_or("zz"), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Takes a lock that is only ever held briefly, giving up after a while (then the caller drops
/// what it meant to record). In a forked child, a lock another thread of the parent held at the
/// fork stays locked forever: telemetry must lose a span there, not hang a call. `tries` bounds
/// the wait (about a millisecond each after the first fifty).
pub(crate) fn lock_briefly<T>(mutex: &Mutex<T>, tries: u32) -> Option<std::sync::MutexGuard<'_, T>> {
    for i in 0..tries {
        match mutex.try_lock() {
            Ok(guard) => return Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if i < 50 => std::thread::yield_now(),
            Err(std::sync::TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    None
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// What telemetry has done so far, for tests and `liter_llm` diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TelemetryStats {
    pub spans_exported: u64,
    pub spans_dropped: u64,
    pub export_failures: u64,
}

/// One client's telemetry: its settings, its span queue and its metrics.
pub struct Telemetry {
    pub(crate) settings: Settings,
    queue: Mutex<VecDeque<Span>>,
    metrics: Mutex<Aggregates>,
    wake: tokio::sync::Notify,
    /// The process whose runtime runs this telemetry's export task (0: none yet).
    worker_pid: AtomicU32,
    /// Whether an export is running now (`flush` waits for none).
    exporting: tokio::sync::Mutex<()>,
    exported: AtomicU64,
    dropped: AtomicU64,
    failures: AtomicU64,
    start_unix_nano: u64,
    /// Set once any call recorded a metric, so an idle client sends none.
    measured: AtomicBool,
}

/// Every live telemetry of the process, for `flush_all`.
static LIVE: Mutex<Vec<Weak<Telemetry>>> = Mutex::new(Vec::new());

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl Telemetry {
    /// The telemetry `[telemetry]` and the environment ask for; `None` when off.
    pub fn from_config(table: &TelemetryConfig) -> Result<Option<Arc<Telemetry>>> {
        let env = |name: &str| std::env::var(name).ok();
        Ok(Settings::resolve(table, &env)?.map(Telemetry::new))
    }

    pub fn new(settings: Settings) -> Arc<Telemetry> {
        let telemetry = Arc::new(Telemetry {
            settings,
            queue: Mutex::new(VecDeque::new()),
            metrics: Mutex::new(Aggregates::default()),
            wake: tokio::sync::Notify::new(),
            worker_pid: AtomicU32::new(0),
            exporting: tokio::sync::Mutex::new(()),
            exported: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            start_unix_nano: unix_nanos(),
            measured: AtomicBool::new(false),
        });
        let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&telemetry));
        telemetry
    }

    pub fn stats(&self) -> TelemetryStats {
        TelemetryStats {
            spans_exported: self.exported.load(Ordering::Relaxed),
            spans_dropped: self.dropped.load(Ordering::Relaxed),
            export_failures: self.failures.load(Ordering::Relaxed),
        }
    }

    /// Queues a finished span, starting the export task in this process (`pid`) when it has
    /// none.
    fn push(self: &Arc<Self>, span: Span, pid: u32) {
        if self.settings.traces_url.is_none() {
            return;
        }
        let len = {
            let Some(mut queue) = lock_briefly(&self.queue, 200) else {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            };
            if queue.len() >= MAX_QUEUED_SPANS {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            queue.push_back(span);
            queue.len()
        };
        self.ensure_worker(pid);
        if len >= MAX_BATCH {
            self.wake.notify_one();
        }
    }

    /// Starts the export task on the core's runtime, once per process (a forked child starts
    /// its own: the parent's task is not there).
    fn ensure_worker(self: &Arc<Self>, pid: u32) {
        if self.worker_pid.load(Ordering::Acquire) == pid {
            return;
        }
        if self.worker_pid.swap(pid, Ordering::AcqRel) == pid {
            return;
        }
        let Ok(runtime) = crate::runtime::runtime() else {
            return;
        };
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut last_metrics = Instant::now();
            loop {
                let (interval, wake) = match weak.upgrade() {
                    Some(t) => (t.settings.metric_interval, t),
                    None => return,
                };
                let _ = tokio::time::timeout(SPAN_DELAY, wake.wake.notified()).await;
                let metrics_due = last_metrics.elapsed() >= interval;
                if metrics_due {
                    last_metrics = Instant::now();
                }
                wake.export(metrics_due).await;
                drop(wake);
            }
        });
    }

    /// Sends the queued spans (in batches) and, when `metrics`, the metrics.
    async fn export(&self, metrics: bool) {
        let _one_at_a_time = self.exporting.lock().await;
        let Some(http) = export_client() else {
            return;
        };
        loop {
            let batch: Vec<Span> = {
                let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                break;
            }
            let Some(url) = &self.settings.traces_url else { break };
            let body = otlp::traces_request(&self.settings.resource, &batch);
            if self.post(&http, url, body).await {
                self.exported.fetch_add(batch.len() as u64, Ordering::Relaxed);
            } else {
                self.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
        if metrics && self.measured.load(Ordering::Relaxed) {
            if let Some(url) = &self.settings.metrics_url {
                let dropped = self.dropped.load(Ordering::Relaxed);
                let snapshot =
                    self.metrics.lock().unwrap_or_else(|p| p.into_inner()).snapshot(self.settings.latest, dropped);
                let body =
                    otlp::metrics_request(&self.settings.resource, &snapshot, self.start_unix_nano, unix_nanos());
                self.post(&http, url, body).await;
            }
        }
    }

    /// One export request; false (counted) when it failed. Never retried: a receiver that is
    /// down loses telemetry, not calls.
    async fn post(&self, http: &reqwest::Client, url: &str, body: Vec<u8>) -> bool {
        let ok = send_export(http, url, body, &self.settings.headers).await;
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Sends everything now: the spans queued and the metrics.
    pub async fn flush(&self) {
        self.export(true).await;
    }

    fn record<F: FnOnce(&mut Aggregates)>(&self, f: F) {
        if self.settings.metrics_url.is_some() {
            self.measured.store(true, Ordering::Relaxed);
            if let Some(mut metrics) = lock_briefly(&self.metrics, 200) {
                f(&mut metrics);
            }
        }
    }
}

/// One OTLP/HTTP protobuf request; whether the receiver took it.
async fn send_export(http: &reqwest::Client, url: &str, body: Vec<u8>, headers: &[(String, Secret)]) -> bool {
    let mut request =
        http.post(url).header("content-type", "application/x-protobuf").body(body).timeout(EXPORT_TIMEOUT);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.expose());
    }
    matches!(request.send().await, Ok(r) if r.status().is_success())
}

/// Exports of clients that were dropped with telemetry still queued, not yet finished.
static FINAL_EXPORTS: AtomicU32 = AtomicU32::new(0);

impl Drop for Telemetry {
    /// A client dropped (closed, freed) right after its last call still delivers that call's
    /// span and its metrics: they are sent by a task of their own, which `flush_all` waits for.
    fn drop(&mut self) {
        let spans: Vec<Span> = self.queue.get_mut().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        let mut bodies = Vec::new();
        if let (Some(url), false) = (&self.settings.traces_url, spans.is_empty()) {
            for batch in spans.chunks(MAX_BATCH) {
                bodies.push((url.clone(), otlp::traces_request(&self.settings.resource, batch)));
            }
        }
        if let (Some(url), true) = (&self.settings.metrics_url, *self.measured.get_mut()) {
            let dropped = *self.dropped.get_mut();
            let latest = self.settings.latest;
            let snapshot = self.metrics.get_mut().unwrap_or_else(|p| p.into_inner()).snapshot(latest, dropped);
            bodies.push((
                url.clone(),
                otlp::metrics_request(&self.settings.resource, &snapshot, self.start_unix_nano, unix_nanos()),
            ));
        }
        if bodies.is_empty() {
            return;
        }
        let (Ok(runtime), Some(http)) = (crate::runtime::runtime(), export_client()) else {
            return;
        };
        let headers = self.settings.headers.clone();
        FINAL_EXPORTS.fetch_add(1, Ordering::AcqRel);
        runtime.spawn(async move {
            for (url, body) in bodies {
                send_export(&http, &url, body, &headers).await;
            }
            FINAL_EXPORTS.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// The HTTP client exports use: one per process, apart from the provider pools (whose
/// settings a configuration may change).
fn export_client() -> Option<reqwest::Client> {
    static CLIENT: Mutex<Option<(u32, reqwest::Client)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut slot = CLIENT.lock().unwrap_or_else(|p| p.into_inner());
    match slot.as_ref() {
        Some((owner, client)) if *owner == pid => Some(client.clone()),
        _ => {
            let client = reqwest::Client::builder()
                .user_agent(concat!("liter-llm/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(5))
                .build()
                .ok()?;
            // A parent's client (after fork) is leaked, as transport does with its pools.
            if let Some(old) = slot.replace((pid, client.clone())) {
                std::mem::forget(old);
            }
            Some(client)
        }
    }
}

/// Sends every client's queued spans and metrics, waiting at most `timeout`. Returns whether
/// everything was sent in time. Calls in flight keep recording; only what was queued is sent.
pub fn flush_all(timeout: Duration) -> bool {
    let live: Vec<Arc<Telemetry>> = {
        let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|w| w.strong_count() > 0);
        live.iter().filter_map(Weak::upgrade).collect()
    };
    let started = Instant::now();
    let mut done = true;
    if !live.is_empty() {
        let Ok(runtime) = crate::runtime::runtime() else {
            return false;
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            for telemetry in &live {
                telemetry.flush().await;
            }
            let _ = tx.send(());
        });
        done = rx.recv_timeout(timeout).is_ok();
    }
    while FINAL_EXPORTS.load(Ordering::Acquire) > 0 {
        if started.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done
}

// ---------------------------------------------------------------------------------------------
// Metrics.

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Instrument {
    Duration,
    TokenUsage,
    InputTokens,
    OutputTokens,
    TimeToFirstChunk,
    Retries,
    Fallbacks,
    RateLimitWaits,
}

/// Cumulative aggregates, by instrument and attribute set.
#[derive(Default)]
struct Aggregates {
    /// By instrument, then by the attribute set's key (`CallSpan::metric_key`), so a call that adds to a
    /// known point allocates nothing here.
    histograms: BTreeMap<Instrument, BTreeMap<String, HistogramPoint>>,
    counters: BTreeMap<(Instrument, String), CounterPoint>,
}

fn attribute_key(attributes: &Attributes) -> String {
    use std::fmt::Write as _;
    let mut key = String::with_capacity(256);
    for (k, v) in attributes {
        let _ = write!(key, "{k}={v:?};");
    }
    key
}

impl Aggregates {
    /// Adds `value` to the point of the attribute set whose key is `key`; `attributes` makes
    /// the set, for a new point.
    fn observe(
        &mut self,
        instrument: Instrument,
        bounds: &[f64],
        key: &str,
        attributes: impl FnOnce() -> Attributes,
        value: f64,
    ) {
        let add = |point: &mut HistogramPoint| {
            point.count += 1;
            point.sum += value;
            point.min = point.min.min(value);
            point.max = point.max.max(value);
            // Buckets are upper-inclusive: (previous bound, bound].
            let index = bounds.iter().position(|b| value <= *b).unwrap_or(bounds.len());
            point.bucket_counts[index] += 1;
        };
        let points = self.histograms.entry(instrument).or_default();
        if let Some(point) = points.get_mut(key) {
            return add(point);
        }
        add(points.entry(key.to_owned()).or_insert_with(|| HistogramPoint {
            attributes: attributes(),
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            bucket_counts: vec![0; bounds.len() + 1],
        }));
    }

    fn add(&mut self, instrument: Instrument, attributes: Attributes, n: i64) {
        self.counters
            .entry((instrument, attribute_key(&attributes)))
            .or_insert_with(|| CounterPoint { attributes, value: 0 })
            .value += n;
    }

    fn snapshot(&self, latest: bool, dropped: u64) -> Vec<Metric> {
        let mut out = Vec::new();
        let histogram = |instrument: Instrument| -> Vec<HistogramPoint> {
            self.histograms.get(&instrument).map(|points| points.values().cloned().collect()).unwrap_or_default()
        };
        let counter = |instrument: Instrument| -> Vec<CounterPoint> {
            self.counters.iter().filter(|((i, _), _)| *i == instrument).map(|(_, p)| p.clone()).collect()
        };
        let (duration, ttfc) = if latest {
            ("gen_ai.client.inference.duration", "gen_ai.client.inference.time_to_first_chunk")
        } else {
            ("gen_ai.client.operation.duration", "gen_ai.client.operation.time_to_first_chunk")
        };
        let mut push = |name, description, unit, bounds, points: Vec<HistogramPoint>| {
            if !points.is_empty() {
                out.push(Metric::Histogram { name, description, unit, bounds, points });
            }
        };
        push(duration, "GenAI operation duration.", "s", DURATION_BOUNDS, histogram(Instrument::Duration));
        push(
            "gen_ai.client.token.usage",
            "Number of input and output tokens used.",
            "{token}",
            TOKEN_BOUNDS,
            histogram(Instrument::TokenUsage),
        );
        push(
            "gen_ai.client.inference.usage.input_tokens",
            "Number of input tokens used.",
            "{token}",
            TOKEN_BOUNDS,
            histogram(Instrument::InputTokens),
        );
        push(
            "gen_ai.client.inference.usage.output_tokens",
            "Number of output tokens used.",
            "{token}",
            TOKEN_BOUNDS,
            histogram(Instrument::OutputTokens),
        );
        push(
            ttfc,
            "Time to receive the first chunk of a stream.",
            "s",
            DURATION_BOUNDS,
            histogram(Instrument::TimeToFirstChunk),
        );
        for (instrument, name, description) in [
            (Instrument::Retries, "liter_llm.client.retries", "HTTP attempts made again after a failed one."),
            (Instrument::Fallbacks, "liter_llm.client.fallbacks", "Calls moved on to the next model of their chain."),
            (
                Instrument::RateLimitWaits,
                "liter_llm.client.rate_limit.waits",
                "Attempts that waited for a rate-limit permit.",
            ),
        ] {
            let points = counter(instrument);
            if !points.is_empty() {
                out.push(Metric::Counter { name, description, unit: "{event}", points });
            }
        }
        if dropped > 0 {
            out.push(Metric::Counter {
                name: "liter_llm.telemetry.spans.dropped",
                description: "Spans lost because the queue was full or the receiver failed.",
                unit: "{span}",
                points: vec![CounterPoint { attributes: Vec::new(), value: dropped as i64 }],
            });
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// One call.

/// What a call's span starts with.
pub(crate) struct CallStart<'a> {
    pub(crate) provider: &'static str,
    pub(crate) request_model: &'a str,
    pub(crate) server: Option<(String, u16)>,
    pub(crate) streaming: bool,
    pub(crate) parent: Option<Parent>,
    pub(crate) request: &'a crate::request::ChatRequest,
}

/// The HTTP attempt in progress.
struct Attempt {
    span_id: [u8; 8],
    start_unix_nano: u64,
    number: u32,
    /// For the attempt's span: only a recorded span needs it.
    url: Option<reqwest::Url>,
}

/// A call's span and metrics while it runs.
pub(crate) struct CallSpan {
    telemetry: Arc<Telemetry>,
    /// `gen_ai.operation.name`: `chat` or `embeddings`.
    operation: &'static str,
    /// Whether the span is recorded (the sampler's decision); metrics are taken either way.
    sampled: bool,
    trace_id: [u8; 16],
    span_id: [u8; 8],
    /// The process the call runs in, asked once at its start and again at its end (a call
    /// dropped in a forked child ends there), for its ids and its export task.
    pid: u32,
    parent: Option<Parent>,
    name: String,
    start_unix_nano: u64,
    started: Instant,
    attributes: Attributes,
    /// Low-cardinality attributes shared by the call's metrics.
    provider: &'static str,
    request_model: String,
    server: Option<(String, u16)>,
    streaming: bool,
    first_chunk: Option<Duration>,
    /// The attempt in progress: its id, start and number.
    attempt: Option<Attempt>,
}

impl CallSpan {
    pub(crate) fn start(telemetry: &Arc<Telemetry>, start: CallStart<'_>) -> CallSpan {
        let pid = std::process::id();
        let trace_id = start.parent.as_ref().map(|p| p.trace_id).unwrap_or_else(|| context::random_bytes::<16>(pid));
        let sampled = telemetry.settings.traces_url.is_some()
            && telemetry.settings.sampler.samples(&trace_id, start.parent.as_ref());
        let operation = start.request.operation_name();
        let mut attributes: Attributes = Vec::new();
        if sampled {
            attributes.push(("gen_ai.operation.name", Value::Str(operation.into())));
            attributes.push(("gen_ai.provider.name", Value::Str(start.provider.into())));
            attributes.push(("gen_ai.request.model", Value::Str(start.request_model.to_owned().into())));
            if let Some((host, port)) = &start.server {
                attributes.push(("server.address", Value::Str(host.clone().into())));
                attributes.push(("server.port", Value::Int(i64::from(*port))));
            }
            let p = &start.request.params;
            if let Some(n) = start.request.max_tokens() {
                attributes.push(("gen_ai.request.max_tokens", Value::Int(i64::from(n))));
            }
            if let Some(t) = p.temperature {
                attributes.push(("gen_ai.request.temperature", Value::Double(t)));
            }
            if let Some(t) = p.top_p {
                attributes.push(("gen_ai.request.top_p", Value::Double(t)));
            }
            if let Some(stop) = &p.stop {
                attributes.push(("gen_ai.request.stop_sequences", Value::StrArray(stop.to_vec())));
            }
            if let Some(seed) = p.seed {
                attributes.push(("gen_ai.request.seed", Value::Int(seed)));
            }
            if let Some(v) = p.presence_penalty {
                attributes.push(("gen_ai.request.presence_penalty", Value::Double(v)));
            }
            if let Some(v) = p.frequency_penalty {
                attributes.push(("gen_ai.request.frequency_penalty", Value::Double(v)));
            }
            if let Some(n) = p.n.filter(|n| *n != 1) {
                attributes.push(("gen_ai.request.choice.count", Value::Int(i64::from(n))));
            }
            if start.streaming {
                attributes.push(("gen_ai.request.stream", Value::Bool(true)));
            }
            if telemetry.settings.capture_content {
                if let Some(messages) = start.request.body().get("messages") {
                    attributes.push(("gen_ai.input.messages", Value::Str(input_messages(messages).into())));
                }
            }
        }
        CallSpan {
            operation,
            telemetry: telemetry.clone(),
            sampled,
            trace_id,
            span_id: context::random_bytes::<8>(pid),
            pid,
            parent: start.parent,
            // Only a recorded span needs its name.
            name: if sampled { format!("{operation} {}", start.request_model) } else { String::new() },
            start_unix_nano: unix_nanos(),
            started: Instant::now(),
            attributes,
            provider: start.provider,
            request_model: start.request_model.to_owned(),
            server: start.server,
            streaming: start.streaming,
            first_chunk: None,
            attempt: None,
        }
    }

    /// The host and port of the call's first model.
    pub(crate) fn set_server(&mut self, server: (String, u16)) {
        if self.sampled {
            self.attributes.push(("server.address", Value::Str(server.0.clone().into())));
            self.attributes.push(("server.port", Value::Int(i64::from(server.1))));
        }
        self.server = Some(server);
    }

    fn flags(&self) -> u32 {
        // Bit 0: sampled; bits 8 and 9: the parent is known, and remote.
        let remote = if self.parent.is_some() { 0x300 } else { 0x100 };
        u32::from(self.sampled) | remote
    }

    /// `traceparent` for an attempt's upstream request, when forwarding is on.
    pub(crate) fn attempt_traceparent(&self) -> Option<String> {
        if !self.telemetry.settings.forward_traceparent {
            return None;
        }
        let span = match (self.sampled, &self.attempt, &self.parent) {
            (true, Some(attempt), _) => attempt.span_id,
            (false, _, Some(parent)) => parent.span_id,
            (_, _, _) => self.span_id,
        };
        Some(context::traceparent(&self.trace_id, &span, self.sampled))
    }

    /// An HTTP attempt begins (attempt numbers count from 1 per model).
    pub(crate) fn attempt_started(&mut self, number: u32, url: &reqwest::Url) {
        self.attempt = Some(Attempt {
            span_id: context::random_bytes::<8>(self.pid),
            start_unix_nano: unix_nanos(),
            number,
            url: self.sampled.then(|| url.clone()),
        });
        if number > 1 {
            let attributes = self.metric_attributes();
            self.telemetry.record(|m| m.add(Instrument::Retries, attributes, 1));
        }
    }

    /// The attempt in progress ended: its span goes to the queue.
    pub(crate) fn attempt_ended(&mut self, outcome: std::result::Result<u16, &Error>) {
        let Some(Attempt { span_id, start_unix_nano: start, number, url }) = self.attempt.take() else {
            return;
        };
        let Some(url) = url.as_ref().filter(|_| self.sampled) else {
            return;
        };
        let mut attributes: Attributes = Vec::with_capacity(8);
        attributes.extend([
            ("http.request.method", Value::Str("POST".into())),
            ("server.address", Value::Str(url.host_str().unwrap_or("").to_owned().into())),
            ("server.port", Value::Int(i64::from(url.port_or_known_default().unwrap_or(0)))),
            ("url.full", Value::Str(clean_url(url).into())),
            ("liter_llm.attempt", Value::Int(i64::from(number))),
        ]);
        if number > 1 {
            attributes.push(("http.request.resend_count", Value::Int(i64::from(number - 1))));
        }
        let status = match outcome {
            Ok(status) => Some(status),
            Err(e) => e.status,
        };
        if let Some(status) = status {
            attributes.push(("http.response.status_code", Value::Int(i64::from(status))));
        }
        let error = match outcome {
            Ok(_) => None,
            Err(e) => {
                let kind = status.map(|s| s.to_string()).unwrap_or_else(|| e.kind.as_str().to_owned());
                attributes.push(("error.type", Value::Str(kind.clone().into())));
                Some(kind)
            }
        };
        self.telemetry.push(
            Span {
                trace_id: self.trace_id,
                span_id,
                parent_span_id: Some(self.span_id),
                trace_state: self.parent.as_ref().map(|p| p.trace_state.clone()).unwrap_or_default(),
                name: "POST".into(),
                start_unix_nano: start,
                end_unix_nano: unix_nanos(),
                attributes,
                error,
                flags: u32::from(self.sampled) | 0x100,
            },
            self.pid,
        );
    }

    /// The call moved on to its next model.
    pub(crate) fn fell_back(&mut self) {
        let attributes = self.metric_attributes();
        self.telemetry.record(|m| m.add(Instrument::Fallbacks, attributes, 1));
    }

    /// An attempt waited for a rate-limit permit.
    pub(crate) fn waited_for_limit(&mut self) {
        let attributes = self.metric_attributes();
        self.telemetry.record(|m| m.add(Instrument::RateLimitWaits, attributes, 1));
    }

    /// A stream's first chunk arrived.
    pub(crate) fn first_chunk(&mut self) {
        if self.first_chunk.is_none() {
            self.first_chunk = Some(self.started.elapsed());
        }
    }

    fn metric_attributes(&self) -> Attributes {
        let mut attributes: Attributes = vec![
            ("gen_ai.operation.name", Value::Str(self.operation.into())),
            ("gen_ai.provider.name", Value::Str(self.provider.into())),
            ("gen_ai.request.model", Value::Str(self.request_model.clone().into())),
        ];
        if let Some((host, port)) = &self.server {
            attributes.push(("server.address", Value::Str(host.clone().into())));
            attributes.push(("server.port", Value::Int(i64::from(*port))));
        }
        attributes
    }

    /// Names the attribute set `metric_attributes` makes, with the response model and the
    /// error type, for the aggregates' maps: each part length-prefixed, so different sets never
    /// share a key.
    fn metric_key(&self, response_model: Option<&str>, error_type: Option<&str>) -> String {
        let mut key = String::with_capacity(96);
        let host = self.server.as_ref().map(|(host, _)| host.as_str());
        let parts = [Some(self.operation), Some(self.provider), Some(self.request_model.as_str()), host];
        for part in parts.into_iter().chain([response_model, error_type]) {
            match part {
                Some(part) => {
                    key.push_str(itoa::Buffer::new().format(part.len()));
                    key.push(':');
                    key.push_str(part);
                }
                None => key.push('-'),
            }
        }
        if let Some((_, port)) = &self.server {
            key.push_str(itoa::Buffer::new().format(*port));
        }
        key
    }

    /// The call ended: with the facts read from its answer, or with its error.
    pub(crate) fn finish(mut self, facts: ResponseFacts, error: Option<&Error>) {
        self.pid = std::process::id();
        if self.attempt.is_some() {
            // The call ended during an attempt (it was cancelled): the attempt ends with it.
            let cancelled = Error::new(crate::error::ErrorKind::Cancelled, "the call was cancelled");
            self.attempt_ended(Err(error.unwrap_or(&cancelled)));
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let response_model = facts.model.as_deref();
        let error_type = error.map(|e| e.kind.as_str());
        let latest = self.telemetry.settings.latest;
        let first_chunk = self.first_chunk.filter(|_| self.streaming);
        self.telemetry.record(|m| {
            // The attribute sets are made only for a point seen for the first time.
            let attributes = |error_type: Option<&str>| {
                let mut attributes = self.metric_attributes();
                if let Some(model) = response_model {
                    attributes.push(("gen_ai.response.model", Value::Str(model.to_owned().into())));
                }
                if let Some(kind) = error_type {
                    attributes.push(("error.type", Value::Str(kind.to_owned().into())));
                }
                attributes
            };
            let key = self.metric_key(response_model, error_type);
            m.observe(Instrument::Duration, DURATION_BOUNDS, &key, || attributes(error_type), elapsed);
            if let Some(ttfc) = first_chunk {
                let ttfc = ttfc.as_secs_f64();
                m.observe(Instrument::TimeToFirstChunk, DURATION_BOUNDS, &key, || attributes(error_type), ttfc);
            }
            // Token counts come with successful calls only, so their set never has error.type.
            let mut key = if error_type.is_none() { key } else { self.metric_key(response_model, None) };
            let base = key.len();
            for (kind, tokens, newer) in [
                ("input", facts.input_tokens, Instrument::InputTokens),
                ("output", facts.output_tokens, Instrument::OutputTokens),
            ] {
                let Some(tokens) = tokens else { continue };
                let token_attributes = || {
                    let mut attributes = attributes(None);
                    if !latest {
                        attributes.push(("gen_ai.token.type", Value::Str(kind.into())));
                    }
                    attributes
                };
                if latest {
                    m.observe(newer, TOKEN_BOUNDS, &key, token_attributes, tokens as f64);
                } else {
                    key.truncate(base);
                    key.push_str(kind);
                    m.observe(Instrument::TokenUsage, TOKEN_BOUNDS, &key, token_attributes, tokens as f64);
                }
            }
        });
        let error_type = error_type.map(str::to_owned);
        if !self.sampled {
            return;
        }
        let mut attributes = std::mem::take(&mut self.attributes);
        if let Some(id) = facts.id {
            attributes.push(("gen_ai.response.id", Value::Str(id.into())));
        }
        if let Some(model) = facts.model {
            attributes.push(("gen_ai.response.model", Value::Str(model.into())));
        }
        let output = if self.telemetry.settings.capture_content {
            facts.output_text.as_deref().map(|text| output_messages(text, &facts.finish_reasons))
        } else {
            None
        };
        if !facts.finish_reasons.is_empty() {
            attributes.push(("gen_ai.response.finish_reasons", Value::StrArray(facts.finish_reasons)));
        }
        if let Some(n) = facts.input_tokens {
            attributes.push(("gen_ai.usage.input_tokens", Value::Int(n as i64)));
        }
        if let Some(n) = facts.output_tokens {
            attributes.push(("gen_ai.usage.output_tokens", Value::Int(n as i64)));
        }
        if let Some(ttfc) = first_chunk {
            attributes.push(("gen_ai.response.time_to_first_chunk", Value::Double(ttfc.as_secs_f64())));
        }
        if let Some(messages) = output {
            attributes.push(("gen_ai.output.messages", Value::Str(messages.into())));
        }
        if let Some(kind) = error {
            attributes.push(("error.type", Value::Str(kind.kind.as_str().into())));
        }
        let span = Span {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent.as_ref().map(|p| p.span_id),
            trace_state: self.parent.as_ref().map(|p| p.trace_state.clone()).unwrap_or_default(),
            name: std::mem::take(&mut self.name),
            start_unix_nano: self.start_unix_nano,
            end_unix_nano: unix_nanos(),
            attributes,
            // The kind, never the message: messages may quote what upstream said.
            error: error_type,
            flags: self.flags(),
        };
        self.telemetry.push(span, self.pid);
    }
}

/// `scheme://host:port/path`: no credentials, no query (which may carry a key).
fn clean_url(url: &reqwest::Url) -> String {
    let (scheme, host, path) = (url.scheme(), url.host_str().unwrap_or(""), url.path());
    let mut clean = String::with_capacity(scheme.len() + host.len() + path.len() + 9);
    clean.push_str(scheme);
    clean.push_str("://");
    clean.push_str(host);
    if let Some(port) = url.port() {
        clean.push(':');
        clean.push_str(itoa::Buffer::new().format(port));
    }
    clean.push_str(path);
    clean
}

/// The request's messages in the conventions' shape (`role` and text `parts`).
fn input_messages(messages: &serde_json::Value) -> String {
    let items: Vec<serde_json::Value> = messages
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let role = m.get("role").cloned().unwrap_or(serde_json::Value::Null);
            let text = match m.get("content") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Array(parts)) => {
                    parts.iter().filter_map(|p| p.get("text").and_then(|t| t.as_str())).collect::<Vec<_>>().join("")
                }
                _ => String::new(),
            };
            serde_json::json!({"role": role, "parts": [{"type": "text", "content": text}]})
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

fn output_messages(text: &str, finish_reasons: &[String]) -> String {
    let finish = finish_reasons.first().cloned().unwrap_or_default();
    serde_json::json!([{"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": finish}])
        .to_string()
}

/// The host and port a model's requests go to, for `server.address` / `server.port`.
pub(crate) fn server_of(url: &reqwest::Url) -> Option<(String, u16)> {
    Some((url.host_str()?.to_owned(), url.port_or_known_default()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::Reply;

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        let table = TelemetryConfig::default();
        assert!(Settings::resolve(&table, &env_of(&[])).unwrap().is_none());
        assert!(Settings::resolve(&table, &env_of(&[("OTEL_SERVICE_NAME", "x")])).unwrap().is_none());
        let on = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/")];
        let s = Settings::resolve(&table, &env_of(&on)).unwrap().unwrap();
        assert_eq!(s.traces_url.as_deref(), Some("http://127.0.0.1:4318/v1/traces"));
        assert_eq!(s.metrics_url.as_deref(), Some("http://127.0.0.1:4318/v1/metrics"));
        let disabled = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:1"), ("OTEL_SDK_DISABLED", "TRUE")];
        assert!(Settings::resolve(&table, &env_of(&disabled)).unwrap().is_none());
        let off = TelemetryConfig { enabled: Some(false), ..TelemetryConfig::default() };
        assert!(Settings::resolve(&off, &env_of(&on)).unwrap().is_none());
    }

    #[test]
    fn per_signal_endpoints_headers_and_resource() {
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:1/custom"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20tok,x-a=1"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,deployment.environment=dev"),
            ("OTEL_SEMCONV_STABILITY_OPT_IN", "http,gen_ai_latest_experimental"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
        ];
        let s = Settings::resolve(&TelemetryConfig::default(), &env_of(&env)).unwrap().unwrap();
        assert_eq!(s.traces_url.as_deref(), Some("http://traces:1/custom"));
        assert_eq!(s.metrics_url, None);
        assert_eq!(s.headers[0].0, "authorization");
        assert_eq!(s.headers[0].1.expose(), "Bearer tok");
        assert!(s.resource.attributes.contains(&("service.name".into(), Value::Str("from-attrs".into()))));
        assert!(s.latest);
        assert_eq!(s.sampler, Sampler::AlwaysOff);
        assert!(!format!("{s:?}").contains("Bearer tok"), "headers stay redacted");
        let bad = [("OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://h:4317")];
        assert!(Settings::resolve(&TelemetryConfig::default(), &env_of(&bad)).is_err());
        let bad = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h"), ("OTEL_TRACES_SAMPLER", "nope")];
        assert!(Settings::resolve(&TelemetryConfig::default(), &env_of(&bad)).unwrap_err().message.contains("nope"));
    }

    #[test]
    fn histograms_fill_upper_inclusive_buckets() {
        let mut m = Aggregates::default();
        for v in [0.005, 0.01, 0.011, 100.0] {
            m.observe(Instrument::Duration, DURATION_BOUNDS, "", Vec::new, v);
        }
        let p = m.histograms[&Instrument::Duration].values().next().unwrap();
        assert_eq!(p.count, 4);
        assert_eq!(&p.bucket_counts[..2], &[2, 1]);
        assert_eq!(*p.bucket_counts.last().unwrap(), 1);
        assert_eq!(p.bucket_counts.len(), DURATION_BOUNDS.len() + 1);
    }

    #[test]
    fn facts_from_the_shared_parse_are_those_read_alone() {
        let bodies = crate::response::tests::bodies();
        for capture in [false, true] {
            // One answer at a time, and all of them as the chunks of one stream.
            let mut stream_alone = ResponseFacts::default();
            let mut stream_shared = ResponseFacts::default();
            for body in &bodies {
                let mut alone = ResponseFacts::default();
                alone.read(body, capture);
                let mut shared = ResponseFacts::default();
                shared.read_reply(&Reply::parse(body), capture);
                assert_eq!(format!("{shared:?}"), format!("{alone:?}"), "{}", String::from_utf8_lossy(body));
                stream_alone.read(body, capture);
                stream_shared.read_reply(&Reply::parse(body), capture);
            }
            assert_eq!(format!("{stream_shared:?}"), format!("{stream_alone:?}"));
            assert!(stream_shared.id.is_some() && stream_shared.finish_reasons.len() > 3, "{stream_shared:?}");
        }
    }

    #[test]
    fn absorbed_facts_are_those_read_in_place() {
        let bodies = crate::response::tests::bodies();
        for capture in [false, true] {
            for before in &bodies {
                for body in &bodies {
                    let mut in_place = ResponseFacts::default();
                    in_place.read(before, capture);
                    let mut absorbed = in_place.clone();
                    in_place.read_reply(&Reply::parse(body), capture);
                    let mut alone = ResponseFacts::default();
                    alone.read_reply(&Reply::parse(body), capture);
                    absorbed.absorb(alone);
                    assert_eq!(format!("{absorbed:?}"), format!("{in_place:?}"), "{}", String::from_utf8_lossy(body));
                }
            }
        }
    }

    #[test]
    fn facts_come_from_responses_and_chunks() {
        let mut f = ResponseFacts::default();
        f.read(
            br#"{"id": "c1", "model": "m-1", "choices": [{"delta": {"content": "Hi"}, "finish_reason": null}]}"#,
            true,
        );
        f.read(br#"{"id": "c1", "choices": [{"delta": {}, "finish_reason": "stop"}]}"#, true);
        f.read(br#"{"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}"#, true);
        assert_eq!(f.id.as_deref(), Some("c1"));
        assert_eq!(f.model.as_deref(), Some("m-1"));
        assert_eq!(f.finish_reasons, ["stop"]);
        assert_eq!((f.input_tokens, f.output_tokens), (Some(7), Some(2)));
        assert_eq!(f.output_text.as_deref(), Some("Hi"));
        let mut f = ResponseFacts::default();
        f.read(br#"{"choices": [{"message": {"content": "secret"}}]}"#, false);
        assert_eq!(f.output_text, None, "no content without capture");
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
