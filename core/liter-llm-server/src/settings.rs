//! The `[server]` table of `liter-llm.toml`, parsed strictly: an unknown key is an error, as
//! everywhere else in the file. The library keeps the table opaque; only the server reads it.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

/// The address served when neither the file nor `--listen` names one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default)]
    pub keys: Vec<KeySettings>,
    pub redis: Option<RedisSettings>,
    /// Request bodies above this many bytes are refused with 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Requests served at once; more wait in a bounded queue.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Requests that may wait for a slot; beyond it, 503 at once. Default: `max_concurrency`.
    pub max_queue: Option<usize>,
    /// How long a request waits for a slot before a 503.
    #[serde(default = "default_queue_timeout", deserialize_with = "seconds")]
    pub queue_timeout: Duration,
    /// How long in-flight requests and streams may take to finish after SIGTERM.
    #[serde(default = "default_drain_timeout", deserialize_with = "seconds")]
    pub drain_timeout: Duration,
    /// After SIGTERM, how long new requests are still served while `/readyz` answers 503, so
    /// that load balancers see the replica leave before it stops accepting.
    #[serde(default = "default_shutdown_grace", deserialize_with = "seconds")]
    pub shutdown_grace: Duration,
    /// A connection must send a request's headers within this time (slowloris).
    #[serde(default = "default_header_timeout", deserialize_with = "seconds")]
    pub header_timeout: Duration,
    /// A request's body must arrive within this time.
    #[serde(default = "default_body_timeout", deserialize_with = "seconds")]
    pub body_timeout: Duration,
    /// How often the configuration file is checked for a change (a ConfigMap update); 0: only
    /// on SIGHUP.
    #[serde(default = "default_reload_interval", deserialize_with = "seconds")]
    pub reload_interval: Duration,
    /// Server threads, each a single-threaded runtime accepting on its own listener (the
    /// kernel spreads connections over them) with its own upstream connections. Default: the
    /// CPUs this process may use (cgroup quotas included).
    #[serde(default = "default_workers")]
    pub workers: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    pub name: String,
    /// The key itself (usually `${VAR}`); or `key_sha256`, its SHA-256 in hex.
    pub key: Option<String>,
    pub key_sha256: Option<String>,
    /// The models (`provider/model`, a route, or a prefix ending in `*`) the key may call;
    /// every model when absent.
    pub models: Option<Vec<String>>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrency: Option<usize>,
}

/// What a replica does with its limits when Redis fails or is slow.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRedisError {
    /// Enforce its share of each limit: the limit divided by `replicas`.
    #[default]
    Share,
    FailOpen,
    FailClosed,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://` or `rediss://`; may hold a password, never shown.
    pub url: String,
    /// Bound on connecting and on each step (default 0.25 s).
    #[serde(default = "default_redis_timeout", deserialize_with = "seconds")]
    pub timeout: Duration,
    #[serde(default)]
    pub on_error: OnRedisError,
    /// How many replicas share the limits, for `on_error = "share"`.
    #[serde(default = "one")]
    pub replicas: u32,
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}
fn default_max_body_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_max_concurrency() -> usize {
    1024
}
fn default_queue_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_drain_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(5)
}
fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_reload_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}
fn default_redis_timeout() -> Duration {
    Duration::from_millis(250)
}
/// One hash tag for every key, so that the scripts also run on a Redis Cluster (one slot).
fn default_key_prefix() -> String {
    "{liter-llm-limits}:".to_owned()
}
fn one() -> u32 {
    1
}

/// Seconds as a number, 0 to one day.
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    if !(secs.is_finite() && (0.0..=86_400.0).contains(&secs)) {
        return Err(serde::de::Error::custom(format!("expected seconds from 0 to 86400, got {secs}")));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A client key as the server holds it: its name and the SHA-256 of the key, never the key.
#[derive(Debug, Clone)]
pub struct ClientKey {
    pub name: String,
    pub sha256: [u8; 32],
    pub models: Option<Vec<String>>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrency: Option<usize>,
}

impl ClientKey {
    /// Whether this key may call `model` (as the request names it).
    pub fn allows(&self, model: &str) -> bool {
        self.models.as_ref().is_none_or(|allowed| {
            allowed.iter().any(|m| match m.strip_suffix('*') {
                Some(prefix) => model.starts_with(prefix),
                None => m == model,
            })
        })
    }
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl RedisSettings {
    /// What the limiters do when Redis fails.
    pub fn fallback(&self) -> liter_llm_core::limiter::Fallback {
        use liter_llm_core::limiter::Fallback;
        match self.on_error {
            OnRedisError::Share => Fallback::Share(self.replicas),
            OnRedisError::FailOpen => Fallback::FailOpen,
            OnRedisError::FailClosed => Fallback::FailClosed,
        }
    }
}

impl Settings {
    /// Parses the `[server]` table (absent: the defaults); errors name the key.
    pub fn parse(table: Option<&serde_json::Value>) -> Result<Settings, String> {
        let empty = serde_json::Value::Object(Default::default());
        let settings: Settings = serde_path_to_error::deserialize(table.unwrap_or(&empty))
            .map_err(|e| format!("server.{}: {}", e.path(), e.inner()))?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        self.listen_addr()?;
        for (what, value) in [
            ("max_body_bytes", self.max_body_bytes),
            ("max_concurrency", self.max_concurrency),
            ("workers", self.workers),
        ] {
            if value == 0 {
                return Err(format!("server.{what} must be at least 1"));
            }
        }
        self.client_keys()?;
        if let Some(redis) = &self.redis {
            if !(redis.url.starts_with("redis://") || redis.url.starts_with("rediss://"))
                || redis::Client::open(redis.url.as_str()).is_err()
            {
                return Err("server.redis.url must be a redis:// or rediss:// URL".to_owned());
            }
            if redis.replicas == 0 {
                return Err("server.redis.replicas must be at least 1".to_owned());
            }
            if redis.timeout.is_zero() {
                return Err("server.redis.timeout must be above 0".to_owned());
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen.parse().map_err(|_| format!("server.listen {:?} is not an IP:PORT address", self.listen))
    }

    /// The settings that a reload cannot change (the listeners and their threads, the Redis
    /// store, the timers of connections and shutdown) and that differ in `other`.
    pub fn restart_only_changes(&self, other: &Settings) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let pairs = [
            ("listen", self.listen == other.listen),
            ("workers", self.workers == other.workers),
            ("redis", self.redis == other.redis),
            ("header_timeout", self.header_timeout == other.header_timeout),
            ("drain_timeout", self.drain_timeout == other.drain_timeout),
            ("shutdown_grace", self.shutdown_grace == other.shutdown_grace),
            ("reload_interval", self.reload_interval == other.reload_interval),
        ];
        for (name, same) in pairs {
            if !same {
                changed.push(name);
            }
        }
        changed
    }

    pub fn max_queue(&self) -> usize {
        self.max_queue.unwrap_or(self.max_concurrency)
    }

    /// The client keys, hashed; errors name the entry, never the key.
    pub fn client_keys(&self) -> Result<Vec<ClientKey>, String> {
        let mut keys: Vec<ClientKey> = Vec::with_capacity(self.keys.len());
        for (i, k) in self.keys.iter().enumerate() {
            let at = format!("server.keys[{i}]");
            if k.name.is_empty() {
                return Err(format!("{at}.name must not be empty"));
            }
            if keys.iter().any(|other| other.name == k.name) {
                return Err(format!("{at}.name {:?} is used twice", k.name));
            }
            let sha256 = match (&k.key, &k.key_sha256) {
                (Some(key), None) if key.len() >= 16 => sha256(key.as_bytes()),
                (Some(_), None) => return Err(format!("{at} ({}): key must be at least 16 characters", k.name)),
                (None, Some(hex)) => parse_hex(hex)
                    .ok_or_else(|| format!("{at} ({}): key_sha256 must be 64 hexadecimal digits", k.name))?,
                _ => return Err(format!("{at} ({}): give exactly one of key and key_sha256", k.name)),
            };
            if keys.iter().any(|other| other.sha256 == sha256) {
                return Err(format!("{at} ({}): the same key is listed twice", k.name));
            }
            for (what, value) in
                [("rpm", k.rpm), ("tpm", k.tpm), ("max_concurrency", k.max_concurrency.map(|n| n as u64))]
            {
                if value == Some(0) {
                    return Err(format!("{at} ({}): {what} must be at least 1", k.name));
                }
            }
            keys.push(ClientKey {
                name: k.name.clone(),
                sha256,
                models: k.models.clone(),
                rpm: k.rpm,
                tpm: k.tpm,
                max_concurrency: k.max_concurrency,
            });
        }
        Ok(keys)
    }
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_strictness() {
        let s = Settings::parse(None).unwrap();
        assert_eq!(s.listen, DEFAULT_LISTEN);
        assert_eq!(s.max_queue(), s.max_concurrency);
        let e = Settings::parse(Some(&json!({"listen": "127.0.0.1:1", "max_concurency": 3}))).unwrap_err();
        assert!(e.contains("max_concurency"), "{e}");
        let e = Settings::parse(Some(&json!({"keys": [{"name": "a", "key": "k-0123456789abcdef", "rpn": 1}]})))
            .unwrap_err();
        assert!(e.starts_with("server.keys[0]") && e.contains("rpn"), "{e}");
        let e = Settings::parse(Some(&json!({"drain_timeout": -1}))).unwrap_err();
        assert!(e.contains("server.drain_timeout"), "{e}");
        let e = Settings::parse(Some(&json!({"listen": "localhost"}))).unwrap_err();
        assert!(e.contains("server.listen"), "{e}");
        let other = Settings::parse(Some(&json!({"listen": "127.0.0.1:9", "max_concurrency": 3}))).unwrap();
        assert_eq!(s.restart_only_changes(&other), ["listen"]);
        let e = Settings::parse(Some(&json!({"redis": {"url": "http://x"}}))).unwrap_err();
        assert!(e.contains("server.redis.url"), "{e}");
    }

    #[test]
    fn workers_default_to_the_available_cpus_and_need_a_restart() {
        let s = Settings::parse(None).unwrap();
        assert_eq!(s.workers, std::thread::available_parallelism().unwrap().get());
        let two = Settings::parse(Some(&json!({"workers": 2}))).unwrap();
        assert_eq!(two.workers, 2);
        let e = Settings::parse(Some(&json!({"workers": 0}))).unwrap_err();
        assert_eq!(e, "server.workers must be at least 1");
        let e = Settings::parse(Some(&json!({"workers": -1}))).unwrap_err();
        assert!(e.starts_with("server.workers"), "{e}");
        let e = Settings::parse(Some(&json!({"workers": "2"}))).unwrap_err();
        assert!(e.starts_with("server.workers"), "{e}");
        let three = Settings::parse(Some(&json!({"workers": 3}))).unwrap();
        assert_eq!(two.restart_only_changes(&three), ["workers"]);
    }

    #[test]
    fn keys_are_hashed_and_checked_without_showing_them() {
        let secret = "sk-gw-0123456789abcdef";
        let hex = to_hex(&sha256(b"another-key-0123456789"));
        let s = Settings::parse(Some(&json!({"keys": [
            {"name": "a", "key": secret, "models": ["openai/*", "chat"]},
            {"name": "b", "key_sha256": hex, "rpm": 5},
        ]})))
        .unwrap();
        let keys = s.client_keys().unwrap();
        assert_eq!(keys[0].sha256, sha256(secret.as_bytes()));
        assert_eq!(keys[1].sha256, sha256(b"another-key-0123456789"));
        assert!(keys[0].allows("openai/gpt-4o") && keys[0].allows("chat"));
        assert!(!keys[0].allows("anthropic/claude") && !keys[0].allows("chat2"));
        assert!(keys[1].allows("anything"));
        for bad in [
            json!([{"name": "a", "key": "short"}]),
            json!([{"name": "a", "key": secret, "key_sha256": hex}]),
            json!([{"name": "a"}]),
            json!([{"name": "a", "key_sha256": "zz"}]),
            json!([{"name": "a", "key": secret}, {"name": "a", "key": "sk-gw-other-0123456789"}]),
            json!([{"name": "a", "key": secret}, {"name": "b", "key": secret}]),
            json!([{"name": "a", "key": secret, "rpm": 0}]),
        ] {
            let e = Settings::parse(Some(&json!({ "keys": bad }))).unwrap_err();
            assert!(e.starts_with("server.keys["), "{e}");
            assert!(!e.contains(secret), "the key is never shown: {e}");
        }
    }

    /// The ConfigMap of deploy/kubernetes holds a configuration the core and the server accept.
    #[test]
    fn the_kubernetes_configuration_parses() {
        let manifest = include_str!("../../../deploy/kubernetes/base/configmap.yaml");
        let start = manifest.find("liter-llm.toml: |\n").expect("the file") + "liter-llm.toml: |\n".len();
        let toml: String =
            manifest[start..].lines().map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l))).collect();
        for var in ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "LITER_LLM_KEY_TEAM_A"] {
            std::env::set_var(var, "k8s-test-value-0123456789");
        }
        let config = liter_llm_core::config::Config::from_toml(&toml, "configmap.yaml").unwrap();
        let settings = Settings::parse(config.server.as_ref()).unwrap();
        assert_eq!(settings.listen, "0.0.0.0:8080");
        assert_eq!(settings.client_keys().unwrap()[0].name, "team-a");
        assert_eq!(settings.redis.unwrap().replicas, 3);
    }
}
