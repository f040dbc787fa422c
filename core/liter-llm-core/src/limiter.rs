//! Token buckets for requests and tokens per minute, shared by every thread of the process and
//! so by every binding loaded in it; or, with a [`SharedBuckets`] store (the gateway's Redis),
//! by every process that uses the same store, with a local fallback when the store fails.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// One bucket of a [`SharedBuckets`] step: its key (the limit's key with `:rpm` or `:tpm`), its
/// capacity per minute, and the amount to take (or, when settling, to take back if negative).
#[derive(Debug, Clone, PartialEq)]
pub struct SharedBucket {
    pub key: String,
    pub capacity: u64,
    pub amount: f64,
}

/// A future a [`SharedBuckets`] store returns; its error is a description for logs and never
/// holds a credential.
pub type SharedFuture<T> = Pin<Box<dyn Future<Output = std::result::Result<T, String>> + Send>>;

/// Buckets kept outside the process, so that every process using the same store shares one
/// budget. Each step is atomic across every bucket it names, and bounds its own waits (a store
/// that does not answer in time answers an error).
pub trait SharedBuckets: Send + Sync {
    /// Takes each bucket's amount when every bucket holds enough, answering `Duration::ZERO`;
    /// otherwise takes nothing and answers how long until they would all hold enough. An amount
    /// above a bucket's capacity counts as its capacity, so every request can be admitted.
    fn take(&self, buckets: Vec<SharedBucket>) -> SharedFuture<Duration>;
    /// Takes each bucket's amount regardless of its level (a negative amount gives back, up to
    /// the capacity): the correction of an estimate.
    fn settle(&self, buckets: Vec<SharedBucket>) -> SharedFuture<()>;
}

/// What a limiter with a shared store does when the store fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Enforce locally a share of each limit: the limit divided by this many processes.
    Share(u32),
    /// Admit every request.
    FailOpen,
    /// Refuse every request with `rate_limited`.
    FailClosed,
}

/// What a limiter has done since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimiterStats {
    /// Calls that waited for capacity before being admitted.
    pub waits: u64,
    /// Calls refused with `rate_limited`.
    pub rejections: u64,
    /// Steps of the shared store that failed or timed out.
    pub shared_errors: u64,
    /// Calls decided by the fallback because the shared store failed.
    pub fallbacks: u64,
}

#[derive(Debug, Default)]
struct Counters {
    waits: AtomicU64,
    rejections: AtomicU64,
    shared_errors: AtomicU64,
    fallbacks: AtomicU64,
}

struct Shared {
    store: Arc<dyn SharedBuckets>,
    fallback: Fallback,
    /// The buckets of `Fallback::Share`, each at its share of the limit.
    local: Mutex<HashMap<String, Buckets>>,
}

/// Every bucket of the process, keyed by `provider` or `provider/model`.
#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, Buckets>>,
    shared: Option<Shared>,
    counters: Counters,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("shared", &self.shared.as_ref().map(|s| s.fallback)).finish_non_exhaustive()
    }
}

/// Where a permit's reservation was made, so it is settled in the same place.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Reserved {
    #[default]
    Local,
    Shared,
    /// In the buckets of `Fallback::Share`.
    Fallback,
    /// Nowhere (`Fallback::FailOpen` admitted it).
    Nowhere,
}

/// Tokens reserved for one attempt, settled against the reported usage afterwards.
#[derive(Debug, Default)]
pub struct Permit {
    keys: Vec<String>,
    /// The token limit of each key (for the shared store's buckets).
    tpm: Vec<Option<u64>>,
    estimated_tokens: f64,
    reserved: Reserved,
}

impl Permit {
    /// True when no limit applies, so there is nothing to settle.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl Limiter {
    /// Whether the buckets live in a shared store.
    pub(crate) fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// A limiter whose buckets live in `store`, shared with every process using it; when the
    /// store fails, `fallback` decides.
    pub fn shared(store: Arc<dyn SharedBuckets>, fallback: Fallback) -> Limiter {
        Limiter { shared: Some(Shared { store, fallback, local: Mutex::default() }), ..Limiter::default() }
    }

    /// What this limiter has done so far.
    pub fn stats(&self) -> LimiterStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LimiterStats {
            waits: get(&c.waits),
            rejections: get(&c.rejections),
            shared_errors: get(&c.shared_errors),
            fallbacks: get(&c.fallbacks),
        }
    }

    fn refuse(&self, why: String, wait: Duration) -> Error {
        self.counters.rejections.fetch_add(1, Ordering::Relaxed);
        let mut e = Error::new(ErrorKind::RateLimited, why);
        e.retry_after = Some(wait.as_secs_f64());
        e
    }

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
        let permit = |reserved| Permit {
            keys: limits.iter().map(|(k, _)| k.clone()).collect(),
            tpm: limits.iter().map(|(_, l)| l.tpm).collect(),
            estimated_tokens: tokens as f64,
            reserved,
        };
        let Some(shared) = &self.shared else {
            self.acquire_in(&self.buckets, limits, tokens, on_limit, deadline).await?;
            return Ok(permit(Reserved::Local));
        };
        let buckets: Vec<SharedBucket> = limits
            .iter()
            .flat_map(|(key, limit)| {
                let requests = limit.rpm.map(|n| SharedBucket { key: format!("{key}:rpm"), capacity: n, amount: 1.0 });
                let tokens =
                    limit.tpm.map(|n| SharedBucket { key: format!("{key}:tpm"), capacity: n, amount: tokens as f64 });
                requests.into_iter().chain(tokens)
            })
            .collect();
        let mut waited = false;
        loop {
            match shared.store.take(buckets.clone()).await {
                Ok(wait) if wait.is_zero() => {
                    if waited {
                        self.counters.waits.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(permit(Reserved::Shared));
                }
                Ok(wait) => {
                    let keys = limits.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ");
                    if on_limit == OnLimit::Fail {
                        return Err(self.refuse(
                            format!(
                                "the shared rate limit for {keys} is spent; capacity returns in {:.3}s",
                                wait.as_secs_f64()
                            ),
                            wait,
                        ));
                    }
                    if Instant::now() + wait >= deadline {
                        return Err(self.refuse(
                            format!(
                                "the shared rate limit for {keys} frees capacity in {:.3}s, after the call's deadline",
                                wait.as_secs_f64()
                            ),
                            wait,
                        ));
                    }
                    waited = true;
                    tokio::time::sleep(wait).await;
                }
                Err(_) => {
                    self.counters.shared_errors.fetch_add(1, Ordering::Relaxed);
                    self.counters.fallbacks.fetch_add(1, Ordering::Relaxed);
                    return match shared.fallback {
                        Fallback::FailOpen => Ok(permit(Reserved::Nowhere)),
                        Fallback::FailClosed => Err(self.refuse(
                            "the shared rate-limit store is unavailable and the limiter fails closed".to_owned(),
                            Duration::from_secs(1),
                        )),
                        Fallback::Share(replicas) => {
                            let share = |n: Option<u64>| n.map(|n| (n / u64::from(replicas.max(1))).max(1));
                            let local: Vec<(String, Limit)> = limits
                                .iter()
                                .map(|(k, l)| (k.clone(), Limit { rpm: share(l.rpm), tpm: share(l.tpm) }))
                                .collect();
                            self.acquire_in(&shared.local, &local, tokens, on_limit, deadline).await?;
                            Ok(permit(Reserved::Fallback))
                        }
                    };
                }
            }
        }
    }

    /// The in-process reservation, in `buckets`.
    async fn acquire_in(
        &self,
        buckets: &Mutex<HashMap<String, Buckets>>,
        limits: &[(String, Limit)],
        tokens: u64,
        on_limit: OnLimit,
        deadline: Instant,
    ) -> Result<()> {
        let wait = {
            let mut buckets = buckets.lock().unwrap_or_else(|p| p.into_inner());
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
            if !wait.is_zero() {
                let keys = limits.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ");
                if on_limit == OnLimit::Fail {
                    return Err(self.refuse(
                        format!(
                            "the local rate limit for {keys} is spent; capacity returns in {:.3}s",
                            wait.as_secs_f64()
                        ),
                        wait,
                    ));
                }
                if now + wait >= deadline {
                    return Err(self.refuse(
                        format!(
                            "the local rate limit for {keys} frees capacity in {:.3}s, after the call's deadline",
                            wait.as_secs_f64()
                        ),
                        wait,
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
            self.counters.waits.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Forgets every in-process bucket: a new configuration starts with full budgets. A shared
    /// store's buckets belong to every process using it and are kept.
    pub fn reset(&self) {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Some(shared) = &self.shared {
            shared.local.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    /// Replaces the estimate with the tokens the provider reported. With a shared store, the
    /// correction is sent in the background (the caller does not wait for the store).
    pub fn settle(&self, permit: &Permit, actual_tokens: u64) {
        if permit.keys.is_empty() {
            return;
        }
        let delta = actual_tokens as f64 - permit.estimated_tokens;
        let local = match (permit.reserved, &self.shared) {
            (Reserved::Local, _) => &self.buckets,
            (Reserved::Fallback, Some(shared)) => &shared.local,
            (Reserved::Shared, Some(shared)) => {
                let buckets: Vec<SharedBucket> = permit
                    .keys
                    .iter()
                    .zip(&permit.tpm)
                    .filter_map(|(key, tpm)| {
                        tpm.map(|n| SharedBucket { key: format!("{key}:tpm"), capacity: n, amount: delta })
                    })
                    .collect();
                if buckets.is_empty() || delta == 0.0 {
                    return;
                }
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    let step = shared.store.settle(buckets);
                    handle.spawn(step);
                }
                return;
            }
            _ => return,
        };
        let mut buckets = local.lock().unwrap_or_else(|p| p.into_inner());
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

    /// A store in memory, standing in for Redis: a bucket level per key, or failing on demand.
    #[derive(Default)]
    struct FakeStore {
        levels: Mutex<HashMap<String, f64>>,
        down: std::sync::atomic::AtomicBool,
    }

    impl SharedBuckets for Arc<FakeStore> {
        fn take(&self, buckets: Vec<SharedBucket>) -> SharedFuture<Duration> {
            let store = self.clone();
            Box::pin(async move {
                if store.down.load(Ordering::SeqCst) {
                    return Err("down".to_owned());
                }
                let mut levels = store.levels.lock().unwrap();
                let short =
                    buckets.iter().any(|b| *levels.entry(b.key.clone()).or_insert(b.capacity as f64) < b.amount);
                if short {
                    return Ok(Duration::from_secs(1));
                }
                for b in &buckets {
                    *levels.get_mut(&b.key).unwrap() -= b.amount;
                }
                Ok(Duration::ZERO)
            })
        }

        fn settle(&self, buckets: Vec<SharedBucket>) -> SharedFuture<()> {
            let store = self.clone();
            Box::pin(async move {
                for b in &buckets {
                    *store.levels.lock().unwrap().entry(b.key.clone()).or_insert(b.capacity as f64) -= b.amount;
                }
                Ok(())
            })
        }
    }

    #[test]
    fn two_limiters_on_one_store_share_the_budget() {
        let store = Arc::new(FakeStore::default());
        let a = Limiter::shared(Arc::new(store.clone()), Fallback::Share(2));
        let b = Limiter::shared(Arc::new(store.clone()), Fallback::Share(2));
        let limits = vec![("k".to_owned(), Limit { rpm: Some(4), tpm: Some(100) })];
        let far = Instant::now() + Duration::from_secs(60);
        let rt = rt();
        let admitted = (0..8)
            .filter(|i| {
                let limiter = if i % 2 == 0 { &a } else { &b };
                rt.block_on(limiter.acquire(&limits, 10, OnLimit::Fail, far)).is_ok()
            })
            .count();
        assert_eq!(admitted, 4);
        assert_eq!(a.stats().rejections + b.stats().rejections, 4);
        assert_eq!(store.levels.lock().unwrap()["k:tpm"], 60.0);
        // Settling sends the correction to the store (in the background).
        let store2 = Arc::new(FakeStore::default());
        let c = Limiter::shared(Arc::new(store2.clone()), Fallback::FailClosed);
        rt.block_on(async {
            let permit = c.acquire(&limits, 50, OnLimit::Fail, far).await.unwrap();
            c.settle(&permit, 5);
            tokio::time::sleep(Duration::from_millis(10)).await;
        });
        assert_eq!(store2.levels.lock().unwrap()["k:tpm"], 95.0);
    }

    #[test]
    fn a_failing_store_falls_back_as_configured() {
        let limits = vec![("k".to_owned(), Limit { rpm: Some(10), tpm: None })];
        let far = Instant::now() + Duration::from_secs(60);
        let rt = rt();
        let admitted = |fallback| {
            let store = Arc::new(FakeStore::default());
            store.down.store(true, Ordering::SeqCst);
            let limiter = Limiter::shared(Arc::new(store), fallback);
            let n = (0..20).filter(|_| rt.block_on(limiter.acquire(&limits, 0, OnLimit::Fail, far)).is_ok()).count();
            (n, limiter.stats())
        };
        let (n, stats) = admitted(Fallback::Share(5));
        assert_eq!(n, 2, "a fifth of 10");
        assert_eq!((stats.shared_errors, stats.fallbacks, stats.rejections), (20, 20, 18));
        assert_eq!(admitted(Fallback::FailOpen).0, 20);
        let (n, stats) = admitted(Fallback::FailClosed);
        assert_eq!((n, stats.rejections), (0, 20));
    }

    #[test]
    fn estimates() {
        assert_eq!(estimate_tokens(10, Some(100)), 103);
        assert_eq!(estimate_tokens(0, None), 0);
    }
}
