//! Rate-limit buckets in Redis, shared by every replica: each step is one Lua script, atomic
//! across every bucket it names, on Redis's own clock (`TIME`), so that N replicas together
//! admit what one would. Every step is bounded by the configured timeout; after a failure the
//! store answers errors at once for a second (the limiter's fallback decides meanwhile), so a
//! Redis that is down or slow never holds a request for long.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use liter_llm_core::limiter::{SharedBucket, SharedBuckets, SharedFuture};
use redis::aio::MultiplexedConnection;

use crate::settings::RedisSettings;

/// How long the store gives up on Redis after a failure before trying again.
const BACKOFF: Duration = Duration::from_secs(1);

/// Idle buckets expire after this long (a full bucket needs no state).
const TTL_MS: u64 = 120_000;

/// `KEYS`: the buckets; `ARGV`: capacity and amount of each, in turn. Answers `0` when every
/// bucket held its amount (taken), else the milliseconds until they would (nothing taken).
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[2 * i - 1])
  local amount = math.min(tonumber(ARGV[2 * i]), cap)
  local state = redis.call('HMGET', key, 'level', 'at', 'cap')
  local level, at = tonumber(state[1]), tonumber(state[2])
  if level == nil or at == nil or tonumber(state[3]) ~= cap then level, at = cap, now end
  level = math.min(cap, level + math.max(0, now - at) * cap / 60000)
  levels[i] = level
  if amount > level then wait = math.max(wait, (amount - level) * 60000 / cap) end
end
if wait > 0 then return tostring(math.ceil(wait)) end
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[2 * i - 1])
  local amount = math.min(tonumber(ARGV[2 * i]), cap)
  redis.call('HSET', key, 'level', tostring(levels[i] - amount), 'at', now, 'cap', cap)
  redis.call('PEXPIRE', key, ARGV[#ARGV])
end
return '0'
";

/// Takes each amount regardless of the level (a negative amount gives back, up to capacity).
const SETTLE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[2 * i - 1])
  local amount = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'level', 'at', 'cap')
  local level, at = tonumber(state[1]), tonumber(state[2])
  if level == nil or at == nil or tonumber(state[3]) ~= cap then level, at = cap, now end
  level = math.min(cap, level + math.max(0, now - at) * cap / 60000)
  redis.call('HSET', key, 'level', tostring(math.min(cap, level - amount)), 'at', now, 'cap', cap)
  redis.call('PEXPIRE', key, ARGV[#ARGV])
end
return 'ok'
";

pub struct RedisBuckets {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    timeout: Duration,
    prefix: String,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Until when steps fail at once, after a failure.
    backoff_until: Mutex<Option<Instant>>,
    /// Settle steps that failed: they run in the background, so nobody else sees them fail.
    settle_failures: AtomicU64,
}

impl RedisBuckets {
    pub fn new(settings: &RedisSettings) -> Result<RedisBuckets, String> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|_| "server.redis.url must be a redis:// or rediss:// URL".to_owned())?;
        Ok(RedisBuckets {
            inner: Arc::new(Inner {
                client,
                timeout: settings.timeout,
                prefix: settings.key_prefix.clone(),
                connection: tokio::sync::Mutex::new(None),
                backoff_until: Mutex::new(None),
                settle_failures: AtomicU64::new(0),
            }),
        })
    }

    /// Checks that Redis answers (within the timeout), for the startup log.
    pub async fn ping(&self) -> Result<(), String> {
        self.inner.run::<String>(redis::cmd("PING")).await.map(drop)
    }

    /// How many background settle steps failed (the corrections of token estimates lost).
    pub fn settle_failures(&self) -> u64 {
        self.inner.settle_failures.load(Ordering::Relaxed)
    }
}

impl Inner {
    async fn connection(&self) -> Result<MultiplexedConnection, String> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let connection = self
            .client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("cannot connect to Redis: {:?}", e.kind()))?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Runs one command within the timeout; a failure drops the connection and starts the
    /// backoff.
    async fn run<T: redis::FromRedisValue>(&self, command: redis::Cmd) -> Result<T, String> {
        if self.backoff_until.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|until| Instant::now() < until) {
            return Err("Redis failed recently; not trying again yet".to_owned());
        }
        let step = async {
            let mut connection = self.connection().await?;
            command.query_async::<T>(&mut connection).await.map_err(|e| format!("Redis: {:?}", e.kind()))
        };
        let outcome = match tokio::time::timeout(self.timeout, step).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("Redis did not answer within {:?}", self.timeout)),
        };
        if outcome.is_err() {
            *self.connection.lock().await = None;
            *self.backoff_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + BACKOFF);
        }
        outcome
    }

    fn script(&self, script: &str, buckets: &[SharedBucket]) -> redis::Cmd {
        let mut command = redis::cmd("EVAL");
        command.arg(script).arg(buckets.len());
        for bucket in buckets {
            command.arg(format!("{}{}", self.prefix, bucket.key));
        }
        for bucket in buckets {
            command.arg(bucket.capacity).arg(bucket.amount);
        }
        command.arg(TTL_MS);
        command
    }
}

impl SharedBuckets for RedisBuckets {
    fn take(&self, buckets: Vec<SharedBucket>) -> SharedFuture<Duration> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let command = inner.script(TAKE, &buckets);
            let answer: String = inner.run(command).await?;
            let ms: u64 = answer.parse().map_err(|_| "Redis answered the limit script with a non-number".to_owned())?;
            Ok(Duration::from_millis(ms))
        })
    }

    fn settle(&self, buckets: Vec<SharedBucket>) -> SharedFuture<()> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let command = inner.script(SETTLE, &buckets);
            let outcome = inner.run::<String>(command).await.map(drop);
            if outcome.is_err() {
                inner.settle_failures.fetch_add(1, Ordering::Relaxed);
            }
            outcome
        })
    }
}
