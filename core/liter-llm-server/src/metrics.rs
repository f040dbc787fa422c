//! `/metrics`: counters, gauges and histograms in the Prometheus text format (version 0.0.4),
//! written by hand: a handful of series needs no registry.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use liter_llm_core::limiter::LimiterStats;
use liter_llm_core::telemetry::TelemetryStats;

/// Upper bounds of the request duration histogram, in seconds.
const BUCKETS: [f64; 14] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0];

/// One request series: its counters, updated without a lock.
#[derive(Debug, Default)]
struct Series {
    count: AtomicU64,
    /// Nanoseconds.
    sum: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

/// The request series by provider, then model, then outcome: found with the request's own
/// `&str`s, so a request allocates only the first time its labels are seen.
type RequestSeries = HashMap<Box<str>, HashMap<Box<str>, Vec<(&'static str, Series)>>>;

/// A series' counts at one moment.
struct Snapshot {
    count: u64,
    /// Seconds.
    sum: f64,
    buckets: [u64; BUCKETS.len()],
    prompt_tokens: u64,
    completion_tokens: u64,
}

impl Series {
    fn snapshot(&self) -> Snapshot {
        let buckets = std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed));
        // Updated one counter at a time: the count is at least what the buckets hold.
        let count = self.count.load(Ordering::Relaxed).max(buckets.iter().sum());
        Snapshot {
            count,
            sum: self.sum.load(Ordering::Relaxed) as f64 / 1e9,
            buckets,
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
        }
    }
}

/// What `/metrics` reports from outside the server's own counters.
#[derive(Debug, Default)]
pub struct State {
    pub ready: bool,
    pub provider_limits: LimiterStats,
    pub key_limits: LimiterStats,
    /// The core's telemetry; `None` when it is off.
    pub telemetry: Option<TelemetryStats>,
    /// Background corrections of shared token estimates that failed.
    pub settle_failures: u64,
}

/// The cache outcomes counted (the core's `liter_llm.cache`; `off` is not counted).
pub fn cache_outcome(reported: &str) -> Option<&'static str> {
    ["hit-l1", "hit-l2", "miss", "bypass"].into_iter().find(|&o| o == reported)
}

#[derive(Debug, Default)]
pub struct Metrics {
    requests: RwLock<RequestSeries>,
    /// Upstream errors by provider and error kind.
    upstream_errors: Mutex<BTreeMap<(String, String), u64>>,
    /// Responses the server refused itself, by reason.
    refused: Mutex<BTreeMap<&'static str, u64>>,
    /// Cache outcomes by provider, model and outcome.
    cache: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    /// Configuration reloads by outcome (`ok`, `invalid`).
    reloads: Mutex<BTreeMap<&'static str, u64>>,
    /// 1 while the configuration file's last reading was valid, else 0.
    pub config_valid: AtomicI64,
    pub in_flight: AtomicI64,
    pub queued: AtomicI64,
    pub streams: AtomicI64,
    pub client_disconnects: AtomicU64,
}

impl Metrics {
    /// The metrics of a server that started with a valid configuration.
    pub fn new() -> Metrics {
        Metrics { config_valid: AtomicI64::new(1), ..Metrics::default() }
    }

    /// Counts a request that ended with `outcome` (`ok`, or the error kind).
    pub fn observe(
        &self,
        provider: &str,
        model: &str,
        outcome: &'static str,
        elapsed: Duration,
        tokens: Option<(u64, u64)>,
    ) {
        let record = |series: &Series| {
            let secs = elapsed.as_secs_f64();
            series.count.fetch_add(1, Ordering::Relaxed);
            series.sum.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
            if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
                series.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
            if let Some((prompt, completion)) = tokens {
                series.prompt_tokens.fetch_add(prompt, Ordering::Relaxed);
                series.completion_tokens.fetch_add(completion, Ordering::Relaxed);
            }
        };
        let requests = self.requests.read().unwrap_or_else(|p| p.into_inner());
        let seen = requests
            .get(provider)
            .and_then(|models| models.get(model))
            .and_then(|outcomes| outcomes.iter().find(|(o, _)| *o == outcome).map(|(_, series)| series));
        if let Some(series) = seen {
            record(series);
            return;
        }
        drop(requests);
        let mut requests = self.requests.write().unwrap_or_else(|p| p.into_inner());
        let outcomes = requests.entry(provider.into()).or_default().entry(model.into()).or_default();
        let i = match outcomes.iter().position(|(o, _)| *o == outcome) {
            Some(i) => i,
            None => {
                outcomes.push((outcome, Series::default()));
                outcomes.len() - 1
            }
        };
        record(&outcomes[i].1);
    }

    pub fn upstream_error(&self, provider: &str, kind: &str) {
        let mut errors = self.upstream_errors.lock().unwrap_or_else(|p| p.into_inner());
        *errors.entry((provider.to_owned(), kind.to_owned())).or_default() += 1;
    }

    pub fn cache(&self, provider: &str, model: &str, outcome: &'static str) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get_mut(&(provider.to_owned(), model.to_owned(), outcome)) {
            Some(n) => *n += 1,
            None => {
                cache.insert((provider.to_owned(), model.to_owned(), outcome), 1);
            }
        }
    }

    pub fn reload(&self, outcome: &'static str) {
        *self.reloads.lock().unwrap_or_else(|p| p.into_inner()).entry(outcome).or_default() += 1;
        self.config_valid.store(i64::from(outcome == "ok"), Ordering::Relaxed);
    }

    pub fn refused(&self, reason: &'static str) {
        *self.refused.lock().unwrap_or_else(|p| p.into_inner()).entry(reason).or_default() += 1;
    }

    /// Each request series' labels (as the text format writes them) and counts, in label order.
    fn request_rows(&self) -> Vec<(String, Snapshot)> {
        let requests = self.requests.read().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<(&str, &str, &str, &Series)> = requests
            .iter()
            .flat_map(|(provider, models)| {
                models.iter().flat_map(move |(model, outcomes)| {
                    outcomes.iter().map(move |(outcome, series)| (&**provider, &**model, *outcome, series))
                })
            })
            .collect();
        rows.sort_unstable_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        rows.into_iter()
            .map(|(provider, model, outcome, series)| {
                let labels = format!(
                    "provider=\"{}\",model=\"{}\",outcome=\"{}\"",
                    escape(provider),
                    escape(model),
                    escape(outcome)
                );
                (labels, series.snapshot())
            })
            .collect()
    }

    /// The text exposition.
    pub fn render(&self, state: &State) -> String {
        let State { ready, provider_limits, key_limits, .. } = *state;
        let mut out = String::with_capacity(4096);
        let requests = self.request_rows();
        header(
            &mut out,
            "liter_llm_requests_total",
            "counter",
            "Chat completion and embedding requests served, by outcome.",
        );
        for (base, s) in &requests {
            let _ = writeln!(out, "liter_llm_requests_total{{{base}}} {}", s.count);
        }
        header(
            &mut out,
            "liter_llm_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to its last byte, by outcome.",
        );
        for (base, s) in &requests {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                cumulative += n;
                let _ =
                    writeln!(out, "liter_llm_request_duration_seconds_bucket{{{base},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "liter_llm_request_duration_seconds_bucket{{{base},le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "liter_llm_request_duration_seconds_sum{{{base}}} {}", s.sum);
            let _ = writeln!(out, "liter_llm_request_duration_seconds_count{{{base}}} {}", s.count);
        }
        header(&mut out, "liter_llm_tokens_total", "counter", "Tokens the providers reported, by direction.");
        for (base, s) in &requests {
            let _ = writeln!(out, "liter_llm_tokens_total{{{base},direction=\"prompt\"}} {}", s.prompt_tokens);
            let _ = writeln!(out, "liter_llm_tokens_total{{{base},direction=\"completion\"}} {}", s.completion_tokens);
        }
        header(
            &mut out,
            "liter_llm_upstream_errors_total",
            "counter",
            "Calls that ended with an error, by provider and kind.",
        );
        for ((provider, kind), n) in self.upstream_errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "liter_llm_upstream_errors_total{{provider=\"{}\",kind=\"{}\"}} {n}",
                escape(provider),
                escape(kind)
            );
        }
        header(
            &mut out,
            "liter_llm_refused_total",
            "counter",
            "Requests the server refused before any call, by reason.",
        );
        for (reason, n) in self.refused.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "liter_llm_refused_total{{reason=\"{reason}\"}} {n}");
        }
        gauge(
            &mut out,
            "liter_llm_in_flight_requests",
            "Requests being served now.",
            self.in_flight.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "liter_llm_queued_requests",
            "Requests waiting for a slot now.",
            self.queued.load(Ordering::Relaxed),
        );
        gauge(&mut out, "liter_llm_open_streams", "Streams being sent now.", self.streams.load(Ordering::Relaxed));
        gauge(
            &mut out,
            "liter_llm_ready",
            "1 while the server accepts traffic, 0 while starting or draining.",
            i64::from(ready),
        );
        header(
            &mut out,
            "liter_llm_client_disconnects_total",
            "counter",
            "Calls cancelled because their client went away.",
        );
        let _ = writeln!(out, "liter_llm_client_disconnects_total {}", self.client_disconnects.load(Ordering::Relaxed));
        header(
            &mut out,
            "liter_llm_cache_requests_total",
            "counter",
            "Answered requests by the response cache's outcome (hit-l1, hit-l2, miss, bypass).",
        );
        for ((provider, model, outcome), n) in self.cache.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "liter_llm_cache_requests_total{{provider=\"{}\",model=\"{}\",cache=\"{outcome}\"}} {n}",
                escape(provider),
                escape(model)
            );
        }
        let telemetry = state.telemetry.unwrap_or_default();
        header(
            &mut out,
            "liter_llm_telemetry_spans_dropped_total",
            "counter",
            "Telemetry spans dropped because the export queue was full or the receiver failed.",
        );
        let _ = writeln!(out, "liter_llm_telemetry_spans_dropped_total {}", telemetry.spans_dropped);
        header(
            &mut out,
            "liter_llm_telemetry_export_failures_total",
            "counter",
            "Telemetry exports the receiver did not accept.",
        );
        let _ = writeln!(out, "liter_llm_telemetry_export_failures_total {}", telemetry.export_failures);
        header(
            &mut out,
            "liter_llm_config_reloads_total",
            "counter",
            "Readings of the configuration file after the start, by outcome (invalid: the previous one kept serving).",
        );
        let reloads = self.reloads.lock().unwrap_or_else(|p| p.into_inner());
        for outcome in ["ok", "invalid"] {
            let _ = writeln!(
                out,
                "liter_llm_config_reloads_total{{outcome=\"{outcome}\"}} {}",
                reloads.get(outcome).copied().unwrap_or(0)
            );
        }
        drop(reloads);
        gauge(
            &mut out,
            "liter_llm_config_valid",
            "1 while the configuration file's last reading was valid, 0 while an invalid one is kept out.",
            self.config_valid.load(Ordering::Relaxed),
        );
        header(&mut out, "liter_llm_rate_limit_waits_total", "counter", "Calls that waited for rate-limit capacity.");
        header_rows(&mut out, "liter_llm_rate_limit_waits_total", provider_limits.waits, key_limits.waits);
        header(&mut out, "liter_llm_rate_limit_rejections_total", "counter", "Calls refused by a rate limit.");
        header_rows(
            &mut out,
            "liter_llm_rate_limit_rejections_total",
            provider_limits.rejections,
            key_limits.rejections,
        );
        header(
            &mut out,
            "liter_llm_shared_limit_errors_total",
            "counter",
            "Steps of the shared (Redis) limiter that failed or timed out.",
        );
        header_rows(
            &mut out,
            "liter_llm_shared_limit_errors_total",
            provider_limits.shared_errors,
            key_limits.shared_errors,
        );
        header(
            &mut out,
            "liter_llm_shared_limit_fallbacks_total",
            "counter",
            "Rate-limit decisions made by the fallback because the shared limiter failed.",
        );
        header_rows(
            &mut out,
            "liter_llm_shared_limit_fallbacks_total",
            provider_limits.fallbacks,
            key_limits.fallbacks,
        );
        header(
            &mut out,
            "liter_llm_shared_settle_failures_total",
            "counter",
            "Background corrections of shared token estimates (against the reported usage) that failed.",
        );
        let _ = writeln!(out, "liter_llm_shared_settle_failures_total {}", state.settle_failures);
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

/// One row for the provider limits, one for the client keys' limits.
fn header_rows(out: &mut String, name: &str, provider: u64, key: u64) {
    let _ = writeln!(out, "{name}{{scope=\"provider\"}} {provider}\n{name}{{scope=\"key\"}} {key}");
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let m = Metrics::default();
        m.observe("openai", "gpt\"x", "ok", Duration::from_millis(3), Some((5, 7)));
        m.observe("openai", "gpt\"x", "ok", Duration::from_secs(200), None);
        m.observe("openai", "a", "timeout", Duration::from_millis(3), None);
        m.observe("anthropic", "b", "ok", Duration::from_millis(3), None);
        m.cache("openai", "gpt\"x", "hit-l1");
        m.cache("openai", "gpt\"x", "hit-l1");
        m.reload("invalid");
        let text = m.render(&State { ready: true, ..State::default() });
        let base = r#"provider="openai",model="gpt\"x",outcome="ok""#;
        assert!(
            text.contains(&format!("liter_llm_request_duration_seconds_bucket{{{base},le=\"0.005\"}} 1")),
            "{text}"
        );
        assert!(text.contains(&format!("liter_llm_request_duration_seconds_bucket{{{base},le=\"120\"}} 1")));
        assert!(text.contains(&format!("liter_llm_request_duration_seconds_bucket{{{base},le=\"+Inf\"}} 2")));
        assert!(text.contains(&format!("liter_llm_tokens_total{{{base},direction=\"completion\"}} 7")));
        assert!(text.contains(&format!("liter_llm_request_duration_seconds_sum{{{base}}} 200.003")), "{text}");
        let totals: Vec<&str> = text.lines().filter(|l| l.starts_with("liter_llm_requests_total{")).collect();
        assert_eq!(
            totals,
            [
                r#"liter_llm_requests_total{provider="anthropic",model="b",outcome="ok"} 1"#,
                r#"liter_llm_requests_total{provider="openai",model="a",outcome="timeout"} 1"#,
                r#"liter_llm_requests_total{provider="openai",model="gpt\"x",outcome="ok"} 2"#,
            ]
        );
        assert!(text.contains("liter_llm_ready 1"));
        assert!(text.contains(r#"liter_llm_cache_requests_total{provider="openai",model="gpt\"x",cache="hit-l1"} 2"#));
        assert!(text.contains(r#"liter_llm_config_reloads_total{outcome="invalid"} 1"#));
        assert!(text.contains("liter_llm_config_valid 0"));
        assert_eq!(cache_outcome("hit-l2"), Some("hit-l2"));
        assert_eq!(cache_outcome("off"), None);
    }
}
