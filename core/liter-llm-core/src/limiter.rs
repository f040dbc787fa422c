//! Token buckets for requests and tokens per minute, shared by every thread of the process and
//! so by every binding loaded in it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};

/// A bucket holding up to `capacity` units that refills at `capacity` per minute. Reservations
/// may take it below zero; the debt is what later callers wait for, so waiters are served in
/// the order they reserved.
#[derive(Debug)]
pub struct Bucket {
    capacity: f64,
    per_sec: f64,
    level: f64,
    updated: Instant,
}

impl Bucket {
    pub fn per_minute(capacity: u64, now: Instant) -> Bucket {
        let capacity = capacity.max(1) as f64;
        Bucket { capacity, per_sec: capacity / 60.0, level: capacity, updated: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.level = (self.level + elapsed * self.per_sec).min(self.capacity);
        self.updated = now;
    }

    /// How long until `n` units are available, without taking them.
    pub fn wait_for(&mut self, n: f64, now: Instant) -> Duration {
        self.refill(now);
        let short = n - self.level;
        if short <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(short / self.per_sec)
        }
    }

    pub fn take(&mut self, n: f64, now: Instant) {
        self.refill(now);
        self.level -= n;
    }

    /// Corrects an earlier estimate: a positive `delta` takes more, a negative one gives back.
    pub fn settle(&mut self, delta: f64, now: Instant) {
        self.refill(now);
        self.level = (self.level - delta).min(self.capacity);
    }
}

/// What to do when the local budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLimit {
    /// Wait for capacity, as long as the call's deadline allows.
    Wait,
    /// Fail at once with `rate_limited` and a `retry_after`.
    Fail,
}

/// Requests-per-minute and tokens-per-minute limits for one provider or model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

#[derive(Debug)]
struct Buckets {
    limit: Limit,
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
}

/// Every bucket of the process, keyed by `provider` or `provider/model`.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, Buckets>>,
}

/// Tokens reserved for one attempt, settled against the reported usage afterwards.
#[derive(Debug, Default)]
pub struct Permit {
    keys: Vec<String>,
    estimated_tokens: f64,
}

impl Permit {
    /// True when no limit applies, so there is nothing to settle.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl Limiter {
    /// Reserves one request and `tokens` estimated tokens under every applicable limit.
    /// `limits` pairs each key with its limit; a changed limit starts a fresh bucket.
    pub async fn acquire(
        &self,
        limits: &[(String, Limit)],
        tokens: u64,
        on_limit: OnLimit,
        deadline: Instant,
    ) -> Result<Permit> {
        if limits.is_empty() {
            return Ok(Permit::default());
        }
        let wait = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let mut wait = Duration::ZERO;
            for (key, limit) in limits {
                let entry = buckets.entry(key.clone()).or_insert_with(|| Buckets {
                    limit: *limit,
                    requests: None,
                    tokens: None,
                });
                if entry.limit != *limit || (entry.requests.is_none() && entry.tokens.is_none()) {
                    entry.limit = *limit;
                    entry.requests = limit.rpm.map(|n| Bucket::per_minute(n, now));
                    entry.tokens = limit.tpm.map(|n| Bucket::per_minute(n, now));
                }
                if let Some(b) = entry.requests.as_mut() {
                    wait = wait.max(b.wait_for(1.0, now));
                }
                if let Some(b) = entry.tokens.as_mut() {
                    wait = wait.max(b.wait_for(tokens as f64, now));
                }
            }
            let refuse = |why: String| {
                let mut e = Error::new(ErrorKind::RateLimited, why);
                e.retry_after = Some(wait.as_secs_f64());
                Err(e)
            };
            if !wait.is_zero() {
                let keys = limits.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ");
                if on_limit == OnLimit::Fail {
                    return refuse(format!(
                        "the local rate limit for {keys} is spent; capacity returns in {:.3}s",
                        wait.as_secs_f64()
                    ));
                }
                if now + wait >= deadline {
                    return refuse(format!(
                        "the local rate limit for {keys} frees capacity in {:.3}s, after the call's deadline",
                        wait.as_secs_f64()
                    ));
                }
            }
            for (key, _) in limits {
                if let Some(entry) = buckets.get_mut(key) {
                    if let Some(b) = entry.requests.as_mut() {
                        b.take(1.0, now);
                    }
                    if let Some(b) = entry.tokens.as_mut() {
                        b.take(tokens as f64, now);
                    }
                }
            }
            wait
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(Permit { keys: limits.iter().map(|(k, _)| k.clone()).collect(), estimated_tokens: tokens as f64 })
    }

    /// Forgets every bucket: a new configuration starts with full budgets.
    pub fn reset(&self) {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Replaces the estimate with the tokens the provider reported.
    pub fn settle(&self, permit: &Permit, actual_tokens: u64) {
        if permit.keys.is_empty() {
            return;
        }
        let delta = actual_tokens as f64 - permit.estimated_tokens;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for key in &permit.keys {
            if let Some(b) = buckets.get_mut(key).and_then(|e| e.tokens.as_mut()) {
                b.settle(delta, now);
            }
        }
    }
}

/// Tokens a request is expected to use before its usage is known: a quarter of its characters
/// plus the completion budget it asks for.
pub fn estimate_tokens(prompt_chars: usize, max_tokens: Option<u32>) -> u64 {
    prompt_chars.div_ceil(4) as u64 + u64::from(max_tokens.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::per_minute(60, t0);
        for _ in 0..60 {
            assert_eq!(b.wait_for(1.0, t0), Duration::ZERO);
            b.take(1.0, t0);
        }
        assert_eq!(b.wait_for(1.0, t0), Duration::from_secs(1));
        assert_eq!(b.wait_for(1.0, t0 + Duration::from_millis(500)), Duration::from_millis(500));
        assert_eq!(b.wait_for(1.0, t0 + Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn settling_corrects_estimates() {
        let t0 = Instant::now();
        let mut b = Bucket::per_minute(600, t0);
        b.take(500.0, t0);
        b.settle(-400.0, t0); // used 100, not 500
        assert_eq!(b.wait_for(500.0, t0), Duration::ZERO);
        b.settle(1000.0, t0); // a response used far more than estimated: debt
        assert!(b.wait_for(1.0, t0) > Duration::from_secs(50), "the debt of 500 takes 50 s to repay");
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn fail_mode_admits_the_burst_then_refuses() {
        let limiter = Limiter::default();
        let limits = vec![("openai".to_owned(), Limit { rpm: Some(60), tpm: None })];
        let deadline = Instant::now() + Duration::from_secs(60);
        let rt = rt();
        let admitted =
            (0..100).filter(|_| rt.block_on(limiter.acquire(&limits, 0, OnLimit::Fail, deadline)).is_ok()).count();
        assert_eq!(admitted, 60);
        let e = rt.block_on(limiter.acquire(&limits, 0, OnLimit::Fail, deadline)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimited);
        let wait = e.retry_after.unwrap();
        assert!(wait > 0.9 && wait <= 1.0, "{wait}");
    }

    #[test]
    fn wait_mode_waits_within_the_deadline_only() {
        let limiter = Limiter::default();
        let limits = vec![("m".to_owned(), Limit { rpm: Some(600), tpm: None })];
        let rt = rt();
        let far = Instant::now() + Duration::from_secs(60);
        for _ in 0..600 {
            rt.block_on(limiter.acquire(&limits, 0, OnLimit::Wait, far)).unwrap();
        }
        // The next slot frees in 100 ms: a 50 ms deadline is refused, a far one waits.
        let near = Instant::now() + Duration::from_millis(50);
        let e = rt.block_on(limiter.acquire(&limits, 0, OnLimit::Wait, near)).unwrap_err();
        assert!(e.message.contains("deadline"), "{}", e.message);
        let started = Instant::now();
        rt.block_on(limiter.acquire(&limits, 0, OnLimit::Wait, far)).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(80));
    }

    #[test]
    fn token_limits_use_estimates_and_settle() {
        let limiter = Limiter::default();
        let limits = vec![("p/m".to_owned(), Limit { rpm: None, tpm: Some(1000) })];
        let rt = rt();
        let far = Instant::now() + Duration::from_secs(60);
        let permit = rt.block_on(limiter.acquire(&limits, 900, OnLimit::Fail, far)).unwrap();
        assert!(rt.block_on(limiter.acquire(&limits, 200, OnLimit::Fail, far)).is_err());
        limiter.settle(&permit, 100);
        assert!(rt.block_on(limiter.acquire(&limits, 200, OnLimit::Fail, far)).is_ok());
    }

    #[test]
    fn estimates() {
        assert_eq!(estimate_tokens(10, Some(100)), 103);
        assert_eq!(estimate_tokens(0, None), 0);
    }
}
