//! Configuration: `liter-llm.toml` (or the file named by `LITER_LLM_CONFIG`), or the same
//! settings as JSON (`liter_llm_configure()`, `liter_llm_client_new()`). Each client holds its
//! own.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};
use crate::limiter::{Limit, OnLimit};
pub use crate::price::Price;
use crate::providers::{known_names, lookup, route};
use crate::secret::Secret;

/// The configuration file looked for in the working directory.
pub const DEFAULT_FILE: &str = "liter-llm.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub pool: Pool,
    #[serde(default)]
    pub providers: HashMap<String, ProviderConfig>,
    #[serde(default)]
    pub routes: HashMap<String, Route>,
    /// USD per million tokens, by `provider/model`; overrides the built-in table.
    #[serde(default)]
    pub prices: HashMap<String, Price>,
    /// The response cache (docs/cache.md); off unless configured.
    #[serde(default)]
    pub cache: CacheConfig,
    /// OpenTelemetry export (docs/telemetry.md); off unless configured here or by `OTEL_*`.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The audit trail (docs/audit.md); off unless configured here or by `LITER_LLM_AUDIT_PATH`.
    #[serde(default)]
    pub audit: AuditConfig,
    /// `[server]`: the gateway's settings (`liter-llm serve`, docs/gateway.md). The library keeps
    /// the table as it came and never reads it; the server parses it strictly.
    #[serde(default)]
    pub server: Option<serde_json::Value>,
}

/// `[telemetry]`: each setting overrides its `OTEL_*` variable (docs/telemetry.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `false` turns telemetry off whatever the environment says.
    pub enabled: Option<bool>,
    /// OTLP/HTTP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`); `/v1/traces` and `/v1/metrics` are added.
    pub endpoint: Option<String>,
    /// Full URL for spans (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub traces_endpoint: Option<String>,
    /// Full URL for metrics (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`).
    pub metrics_endpoint: Option<String>,
    /// Headers sent with each export (`OTEL_EXPORTER_OTLP_HEADERS`); secrets, never shown.
    #[serde(default, deserialize_with = "secret_map")]
    pub headers: HashMap<String, Secret>,
    pub service_name: Option<String>,
    #[serde(default)]
    pub resource_attributes: HashMap<String, String>,
    /// `OTEL_TRACES_SAMPLER` names: `parentbased_always_on` (the default), `always_off`, ...
    pub sampler: Option<String>,
    pub sampler_arg: Option<f64>,
    /// Record messages on spans (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only`).
    pub capture_message_content: Option<bool>,
    /// Send `traceparent` to the provider with each attempt; off by default.
    #[serde(default)]
    pub forward_traceparent: bool,
    /// How often metrics are exported (`OTEL_METRIC_EXPORT_INTERVAL`, in milliseconds there).
    #[serde(default, deserialize_with = "seconds")]
    pub metric_export_interval: Option<Duration>,
}

/// `[audit]`: one JSON line per call (docs/audit.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The file appended to (`LITER_LLM_AUDIT_PATH`).
    pub path: Option<String>,
    /// Keys `prompt_hash` and the chain's `hash` (`LITER_LLM_AUDIT_HMAC_KEY`); a secret.
    #[serde(default, deserialize_with = "secret")]
    pub hmac_key: Option<Secret>,
}

/// `[cache]`: which requests are cached, and where.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    #[serde(default)]
    pub mode: CacheMode,
    /// The in-process tier. With neither `l1` nor `redis`, an `l1` with the defaults.
    pub l1: Option<L1Config>,
    /// The shared tier.
    pub redis: Option<RedisConfig>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    #[default]
    Off,
    /// Only requests whose answer is meant to be repeatable: `temperature` 0 or a `seed`, and
    /// never `n` > 1.
    Deterministic,
    /// Every request.
    Always,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L1Config {
    pub max_entries: Option<usize>,
    pub max_bytes: Option<usize>,
    #[serde(default, deserialize_with = "seconds")]
    pub ttl: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` (TLS), user and password in the URL; a secret, never shown.
    #[serde(deserialize_with = "required_secret")]
    pub url: Secret,
    #[serde(default, deserialize_with = "seconds")]
    pub ttl: Option<Duration>,
    #[serde(default, deserialize_with = "seconds")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "seconds")]
    pub response_timeout: Option<Duration>,
    pub key_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default, deserialize_with = "seconds")]
    pub timeout: Option<Duration>,
    pub max_retries: Option<u32>,
    #[serde(default, deserialize_with = "seconds")]
    pub max_retry_wait: Option<Duration>,
    pub on_limit: Option<OnLimit>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub max_idle_per_host: Option<usize>,
    #[serde(default, deserialize_with = "seconds")]
    pub idle_timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    #[serde(default, deserialize_with = "secret")]
    pub api_key: Option<Secret>,
    pub base_url: Option<String>,
    /// The API version of a versioned provider (Azure OpenAI's `api-version`).
    pub api_version: Option<String>,
    #[serde(default, deserialize_with = "seconds")]
    pub timeout: Option<Duration>,
    pub max_retries: Option<u32>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub on_limit: Option<OnLimit>,
    #[serde(default)]
    pub models: HashMap<String, ModelLimits>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelLimits {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    pub strategy: Strategy,
    pub models: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// In the order listed.
    #[default]
    Fallback,
    /// Cheapest first for the request at hand, by the price table.
    LowestPrice,
    /// Each call starts one model further along the list.
    RoundRobin,
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Duration>, D::Error> {
    let Some(secs) = Option::<f64>::deserialize(d)? else {
        return Ok(None);
    };
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err(serde::de::Error::custom(format!("expected seconds above 0 and at most 86400, got {secs}")));
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()).map(Secret::new))
}

impl CacheConfig {
    /// Checks what serde cannot about `[cache]`; never shows the Redis URL (it may hold a
    /// password).
    pub fn check(&self) -> Result<()> {
        if let Some(l1) = &self.l1 {
            for (what, value) in [("max_entries", l1.max_entries), ("max_bytes", l1.max_bytes)] {
                if value == Some(0) {
                    return Err(Error::invalid_request(format!("cache.l1.{what} must be at least 1")));
                }
            }
        }
        if let Some(redis) = &self.redis {
            let url = redis.url.expose();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) || redis::Client::open(url).is_err() {
                return Err(Error::invalid_request(
                    "cache.redis.url must be a redis:// or rediss:// URL (redis://user:password@host:port/db)",
                ));
            }
        }
        Ok(())
    }
}

fn secret_map<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<HashMap<String, Secret>, D::Error> {
    Ok(HashMap::<String, String>::deserialize(d)?.into_iter().map(|(k, v)| (k, Secret::new(v))).collect())
}

fn required_secret<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Secret, D::Error> {
    Ok(Secret::new(String::deserialize(d)?))
}

impl Config {
    /// Checks what serde cannot: provider names, route models, limits.
    fn validate(self) -> Result<Config> {
        self.cache.check()?;
        for name in self.providers.keys() {
            // A provider that takes no settings (the mock) has nothing to configure.
            if lookup(name).is_none_or(|p| p.env().is_none()) {
                return Err(Error::invalid_request(format!(
                    "providers.{name}: unknown provider; known providers: {}",
                    known_names()
                )));
            }
        }
        for (name, route_config) in &self.routes {
            if route_config.models.is_empty() {
                return Err(Error::invalid_request(format!("routes.{name}.models: list at least one model")));
            }
            for (i, model) in route_config.models.iter().enumerate() {
                route(None, model)
                    .map_err(|e| Error::invalid_request(format!("routes.{name}.models[{i}]: {}", e.message)))?;
            }
        }
        for (name, p) in &self.providers {
            let limits = [("rpm", p.rpm), ("tpm", p.tpm)]
                .into_iter()
                .chain(p.models.values().flat_map(|m| [("rpm", m.rpm), ("tpm", m.tpm)]));
            for (what, value) in limits {
                if value == Some(0) {
                    return Err(Error::invalid_request(format!("providers.{name}: {what} must be at least 1")));
                }
            }
        }
        Ok(self)
    }

    /// Parses the JSON form (as `liter_llm_configure()` takes it).
    pub fn from_json(bytes: &[u8]) -> Result<Config> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let config: Config = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            Error::invalid_request(format!("configuration `{path}`: {}", e.into_inner()))
        })?;
        config.validate()
    }

    /// Parses the TOML form, after replacing `${VAR}` with the environment variable's value.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config> {
        let text = interpolate(text, origin)?;
        let config: Config = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            let at = line.map(|l| format!(" line {l}")).unwrap_or_default();
            Error::invalid_request(format!("{origin}{at}: {}", e.message()))
        })?;
        config.validate().map_err(|e| Error::invalid_request(format!("{origin}: {}", e.message)))
    }

    /// The price of `provider/model`: `[prices]` first, then the built-in table (`crate::price`).
    pub fn price(&self, model: &str) -> Option<Price> {
        crate::price::lookup(&self.prices, model)
    }

    /// The limits that apply to a model, each with its bucket key.
    pub fn limits(&self, provider: &str, model: &str) -> Vec<(String, Limit)> {
        let Some(p) = self.providers.get(provider) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if p.rpm.is_some() || p.tpm.is_some() {
            out.push((provider.to_owned(), Limit { rpm: p.rpm, tpm: p.tpm }));
        }
        if let Some(m) = p.models.get(model).filter(|m| m.rpm.is_some() || m.tpm.is_some()) {
            out.push((format!("{provider}/{model}"), Limit { rpm: m.rpm, tpm: m.tpm }));
        }
        out
    }

    pub fn on_limit(&self, provider: &str) -> OnLimit {
        self.providers.get(provider).and_then(|p| p.on_limit).or(self.defaults.on_limit).unwrap_or(OnLimit::Wait)
    }
}

/// Replaces `${NAME}` with the variable's value, escaped for a TOML basic string.
fn interpolate(text: &str, origin: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(Error::invalid_request(format!("{origin} line {}: `${{` without a closing `}}`", n + 1)));
            };
            let name = &after[..end];
            let value = std::env::var(name)
                .map_err(|_| Error::invalid_request(format!("{origin} line {}: ${{{name}}} is not set", n + 1)))?;
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                    c => out.push(c),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

/// The configuration a client finds by itself: the file named by `LITER_LLM_CONFIG`, else
/// `liter-llm.toml` in the working directory when it exists, else the defaults.
pub fn discover() -> Result<Config> {
    match std::env::var("LITER_LLM_CONFIG") {
        Ok(path) if !path.is_empty() => from_file(&path),
        _ => match std::fs::read_to_string(DEFAULT_FILE) {
            Ok(text) => Config::from_toml(&text, DEFAULT_FILE),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(Error::invalid_request(format!("cannot read the configuration file {DEFAULT_FILE}: {e}"))),
        },
    }
}

/// Reads a `liter-llm.toml`.
pub fn from_file(path: &str) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid_request(format!("cannot read the configuration file {path}: {e}")))?;
    Config::from_toml(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toml_with_interpolation() {
        std::env::set_var("LITER_TEST_KEY_A", "sk-test-\"quoted\"");
        let c = Config::from_toml(
            r#"
[defaults]
timeout = 30
max_retries = 4

[pool]
max_idle_per_host = 8

[providers.openai]
api_key = "${LITER_TEST_KEY_A}"
base_url = "https://eu.example.test/v1"
rpm = 60
on_limit = "fail"
models."gpt-4o" = { tpm = 1000 }

[routes.chat]
strategy = "lowest_price"
models = ["openai/gpt-4o", "anthropic/claude-sonnet-4-5"]

[prices]
"openai/gpt-4o" = { input = 1.0, output = 2.0 }
"#,
            "liter-llm.toml",
        )
        .unwrap();
        assert_eq!(c.defaults.timeout, Some(Duration::from_secs(30)));
        let openai = &c.providers["openai"];
        assert_eq!(openai.api_key.as_ref().unwrap().expose(), "sk-test-\"quoted\"");
        assert_eq!(c.on_limit("openai"), OnLimit::Fail);
        assert_eq!(c.on_limit("anthropic"), OnLimit::Wait);
        assert_eq!(c.routes["chat"].strategy, Strategy::LowestPrice);
        assert_eq!(
            c.price("openai/gpt-4o"),
            Some(Price { input: 1.0, output: 2.0, cached_input: None, cache_write: None })
        );
        assert_eq!(c.price("cohere/command-r").unwrap().input, 0.15);
        let limits = c.limits("openai", "gpt-4o");
        assert_eq!(limits.len(), 2);
        assert_eq!(limits[1], ("openai/gpt-4o".to_owned(), Limit { rpm: None, tpm: Some(1000) }));
        assert!(!format!("{c:?}").contains("quoted"), "keys stay redacted in debug output");
    }

    #[test]
    fn errors_name_the_key_and_the_line() {
        let e = Config::from_toml("[defaults]\ntimeout = 5\nretries = 3\n", "cfg.toml").unwrap_err();
        assert!(e.message.starts_with("cfg.toml line 3:") && e.message.contains("retries"), "{}", e.message);
        let e = Config::from_toml("[providers.bogus]\nrpm = 1\n", "cfg.toml").unwrap_err();
        assert!(e.message.contains("providers.bogus"), "{}", e.message);
        let e = Config::from_toml("[x]\nkey = \"${LITER_TEST_UNSET_VAR}\"\n", "cfg.toml").unwrap_err();
        assert!(e.message.contains("line 2") && e.message.contains("LITER_TEST_UNSET_VAR"), "{}", e.message);
        let e = Config::from_toml("[routes.r]\nmodels = [\"llama-3\"]\n", "cfg.toml").unwrap_err();
        assert!(e.message.contains("routes.r.models[0]"), "{}", e.message);
        let e = Config::from_json(br#"{"providers": {"openai": {"timeout": -1}}}"#).unwrap_err();
        assert!(e.message.contains("providers.openai.timeout"), "{}", e.message);
    }

    #[test]
    fn the_server_table_is_kept_for_the_gateway() {
        let c = Config::from_toml("[server]\nlisten = \"0.0.0.0:8080\"\n[[server.keys]]\nname = \"a\"\n", "f.toml")
            .unwrap();
        let server = c.server.unwrap();
        assert_eq!(server["listen"], "0.0.0.0:8080");
        assert_eq!(server["keys"][0]["name"], "a");
        assert!(Config::from_json(b"{}").unwrap().server.is_none());
    }

    #[test]
    fn only_providers_with_settings_can_be_configured() {
        for name in ["bogus", "mock"] {
            let e =
                Config::from_json(format!(r#"{{"providers": {{"{name}": {{"rpm": 1}}}}}}"#).as_bytes()).unwrap_err();
            assert_eq!(e.message, format!("providers.{name}: unknown provider; known providers: {}", known_names()));
        }
        for name in ["openai", "anthropic", "cohere", "azure", "groq", "ollama", "openai_compatible"] {
            Config::from_json(format!(r#"{{"providers": {{"{name}": {{"rpm": 1}}}}}}"#).as_bytes()).unwrap();
        }
    }
}

#[cfg(test)]
mod doc_tests {
    use super::*;

    /// The example in docs/configuration.md is a valid configuration.
    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../../../docs/configuration.md");
        let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + doc[start..].find("```").expect("its end");
        std::env::set_var("OPENAI_API_KEY", "sk-test-doc");
        let c = Config::from_toml(&doc[start..end], "docs/configuration.md").unwrap();
        assert_eq!(c.providers["openai"].api_key.as_ref().unwrap().expose(), "sk-test-doc");
        assert_eq!(c.routes["chat"].strategy, Strategy::LowestPrice);
        assert_eq!(c.limits("openai", "gpt-4o").len(), 2);
        assert_eq!(c.cache.mode, CacheMode::Deterministic);
        assert_eq!(c.telemetry.service_name.as_deref(), Some("checkout"));
        assert_eq!(c.audit.path.as_deref(), Some("/var/log/liter-llm/audit.jsonl"));
    }

    /// The example in docs/cache.md is a valid configuration.
    #[test]
    fn the_documented_cache_example_parses() {
        let doc = include_str!("../../../docs/cache.md");
        let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + doc[start..].find("```").expect("its end");
        std::env::set_var("REDIS_PASSWORD", "doc-password");
        let c = Config::from_toml(&doc[start..end], "docs/cache.md").unwrap();
        let redis = c.cache.redis.as_ref().unwrap();
        assert!(redis.url.expose().contains("doc-password"));
        assert_eq!(redis.response_timeout, Some(Duration::from_millis(250)));
        assert_eq!(c.cache.l1.as_ref().unwrap().max_entries, Some(1024));
    }
}
