//! `Client`: what a call needs besides its request — the configuration, the connection pool, the
//! rate limiter, route state and URL caches — owned by an object the caller holds, so that one
//! process can hold any number of configurations. The default client, built on first use from
//! the configuration file, backs the process-level functions.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use tokio::sync::watch;

use crate::audit::Audit;
use crate::cache::{Cache, CacheStats};
use crate::config::{self, Config};
use crate::driver::{self, Resources, Sink};
use crate::error::{Error, ErrorKind, Result};
use crate::limiter::Limiter;
use crate::observe::Observers;
use crate::plan::{Facts, Plan, RouteTurns};
use crate::runtime::runtime;
use crate::telemetry::{Telemetry, TelemetryStats};
use crate::transport::Transport;

/// A configuration and the state calls under it share. Cheap to clone: clones are the same
/// client. Safe to use from any number of threads and tasks at once.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    /// The configuration, or the error that made the configuration file unusable (every call
    /// then fails with it, until `configure` replaces it).
    config: RwLock<std::result::Result<Arc<Config>, Error>>,
    transport: Transport,
    /// The response cache the configuration asks for; `None` when it is off.
    cache: RwLock<Option<Arc<Cache>>>,
    limiter: Limiter,
    turns: RouteTurns,
    /// Becomes true when the client is closed; calls in flight watch it.
    closed: watch::Sender<bool>,
    /// Telemetry and the audit trail; `observed` says whether either is on, so that a call
    /// with both off takes no lock for them.
    observers: RwLock<Observers>,
    observed: AtomicBool,
}

/// The telemetry and audit trail a configuration asks for.
fn observers(config: &Config) -> Result<Observers> {
    Ok(Observers {
        telemetry: Telemetry::from_config(&config.telemetry)?,
        audit: Audit::from_config(&config.audit)?.map(Arc::new),
    })
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

impl Client {
    fn with_config(config: std::result::Result<Arc<Config>, Error>) -> Client {
        Client::with_parts(config, Limiter::default())
    }

    fn with_parts(config: std::result::Result<Arc<Config>, Error>, limiter: Limiter) -> Client {
        // A configuration that parsed has a buildable cache (`Config` checks it).
        let cache = config.as_ref().ok().and_then(|c| Cache::new(&c.cache).ok().flatten());
        // Telemetry or an audit file that cannot be set up makes the configuration unusable.
        let (config, observers) = match config.and_then(|c| observers(&c).map(|o| (c, o))) {
            Ok((c, o)) => (Ok(c), o),
            Err(e) => (Err(e), Observers::default()),
        };
        Client {
            inner: Arc::new(Inner {
                config: RwLock::new(config),
                transport: Transport::default(),
                cache: RwLock::new(cache),
                limiter,
                turns: RouteTurns::default(),
                closed: watch::Sender::new(false),
                observed: AtomicBool::new(!observers.is_off()),
                observers: RwLock::new(observers),
            }),
        }
    }

    /// A client with this configuration.
    pub fn new(config: Config) -> Result<Client> {
        Client::with_limiter(config, Limiter::default())
    }

    /// A client with this configuration whose rate limits are kept by `limiter` (one whose
    /// buckets are shared with other processes, say: `Limiter::shared`).
    pub fn with_limiter(config: Config, limiter: Limiter) -> Result<Client> {
        Transport::check_pool(&config.pool)?;
        Cache::new(&config.cache)?;
        Telemetry::from_config(&config.telemetry)?;
        Ok(Client::with_parts(Ok(Arc::new(config)), limiter))
    }

    /// What this client's rate limiter has done so far.
    pub fn limiter_stats(&self) -> crate::limiter::LimiterStats {
        self.inner.limiter.stats()
    }

    /// A client configured by the JSON form of `liter-llm.toml`.
    pub fn from_json(json: &[u8]) -> Result<Client> {
        Client::new(Config::from_json(json)?)
    }

    /// A client configured by a `liter-llm.toml` file.
    pub fn from_file(path: &str) -> Result<Client> {
        Client::new(config::from_file(path)?)
    }

    /// A client configured as the default client is: `LITER_LLM_CONFIG`, else `liter-llm.toml`
    /// in the working directory, else the defaults.
    pub fn discover() -> Result<Client> {
        Client::new(config::discover()?)
    }

    /// The process's default client, built on first use. A configuration file it cannot use
    /// makes each of its calls fail with the reason, until `configure` replaces it.
    pub fn default_client() -> &'static Client {
        static DEFAULT: OnceLock<Client> = OnceLock::new();
        DEFAULT.get_or_init(|| Client::with_config(config::discover().map(Arc::new)))
    }

    /// Replaces the configuration for every later call of this client; rate-limit buckets,
    /// route turns and the in-process cache start afresh, and new pool settings take effect through a new pool (calls in
    /// flight keep the old one). On error the configuration is unchanged.
    pub fn configure(&self, json: &[u8]) -> Result<()> {
        self.reconfigure(Config::from_json(json)?)
    }

    /// `configure` with a configuration already parsed (a `liter-llm.toml` read again, say).
    pub fn reconfigure(&self, config: Config) -> Result<()> {
        Transport::check_pool(&config.pool)?;
        let cache = Cache::new(&config.cache)?;
        let observers = observers(&config)?;
        let mut slot = self.inner.config.write().unwrap_or_else(|p| p.into_inner());
        let pool_changed = match slot.as_ref() {
            Ok(old) => old.pool != config.pool,
            Err(_) => true,
        };
        *slot = Ok(Arc::new(config));
        if pool_changed {
            self.inner.transport.reset_pool();
        }
        *self.inner.cache.write().unwrap_or_else(|p| p.into_inner()) = cache;
        self.inner.observed.store(!observers.is_off(), Ordering::Release);
        *self.inner.observers.write().unwrap_or_else(|p| p.into_inner()) = observers;
        self.inner.limiter.reset();
        self.inner.turns.reset();
        Ok(())
    }

    /// Ends every call in flight on this client with `cancelled`; later calls fail. Idempotent.
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    pub fn is_closed(&self) -> bool {
        *self.inner.closed.borrow()
    }

    fn config(&self) -> Result<Arc<Config>> {
        if self.is_closed() {
            return Err(Error::invalid_request("the client is closed; create a new client"));
        }
        self.inner.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Validates the request and resolves every model it may be sent to, on the caller's
    /// thread; `streaming` for a streamed call.
    pub fn plan(&self, provider: Option<&str>, request: &[u8], streaming: bool) -> Result<Plan> {
        Plan::new(self.config()?, &self.inner.turns, provider, request, streaming)
    }

    fn resources(&self) -> Resources<'_> {
        let cache = self.inner.cache.read().unwrap_or_else(|p| p.into_inner()).clone();
        let observers = if self.inner.observed.load(Ordering::Acquire) {
            self.inner.observers.read().unwrap_or_else(|p| p.into_inner()).clone()
        } else {
            Observers::default()
        };
        Resources { limiter: &self.inner.limiter, transport: &self.inner.transport, cache, observers }
    }

    /// Whether calls use a Redis cache or a shared limiter store: connections that must live on
    /// the shared runtime.
    fn uses_shared_stores(&self) -> bool {
        self.inner.limiter.is_shared()
            || self.inner.cache.read().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|c| c.uses_redis())
    }

    /// What this client's telemetry has exported and dropped; `None` when telemetry is off.
    pub fn telemetry_stats(&self) -> Option<TelemetryStats> {
        self.inner.observers.read().unwrap_or_else(|p| p.into_inner()).telemetry.as_ref().map(|t| t.stats())
    }

    /// A local answer (the `mock` provider) made here, unless telemetry or the audit trail is
    /// on: then the call loop makes it, and reports it.
    fn answer_locally(&self, plan: &Plan) -> Option<Result<Vec<u8>>> {
        if self.inner.observed.load(Ordering::Acquire) {
            return None;
        }
        plan.answer_locally()
    }

    /// What this client's cache has done so far; `None` when it has none.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.inner.cache.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|c| c.stats())
    }

    /// Runs `call` until it ends or the client is closed, whichever comes first.
    async fn until_closed<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        let mut closed = self.inner.closed.subscribe();
        tokio::select! {
            biased;
            result = call => result,
            _ = closed.wait_for(|closed| *closed) => {
                Err(Error::new(ErrorKind::Cancelled, "the call was cancelled: its client was closed"))
            }
        }
    }

    /// Runs a planned call to its answer.
    pub async fn run(&self, plan: Plan) -> Result<Vec<u8>> {
        self.run_to(plan, None).await
    }

    /// `run`, with what the core read of the answer (`Facts`: its usage and cache outcome), so
    /// that the caller need not parse the body again.
    pub async fn run_with_facts(&self, plan: Plan) -> Result<(Vec<u8>, Facts)> {
        let mut facts = Facts::default();
        let body = self.run_to(plan, Some(&mut facts)).await?;
        Ok((body, facts))
    }

    async fn run_to(&self, plan: Plan, facts: Option<&mut Facts>) -> Result<Vec<u8>> {
        let resources = self.resources();
        // Boxed: the call loop's future is large, and a future is moved (copied) by every layer
        // that wraps it before it first runs.
        let call = Box::pin(driver::drive(&plan, &resources, Sink::Response(facts)));
        self.until_closed(async {
            call.await?.ok_or_else(|| Error::internal("a call ended without a response (a bug in liter-llm)"))
        })
        .await
    }

    /// Runs a whole call on the current async context.
    pub async fn invoke(&self, provider: Option<&str>, request: &[u8]) -> Result<Vec<u8>> {
        let plan = self.plan(provider, request, false)?;
        match self.answer_locally(&plan) {
            Some(answer) => answer,
            None => self.run(plan).await,
        }
    }

    /// Streams a call on the current async context: each `chat.completion.chunk` goes to
    /// `on_chunk`, in order.
    pub async fn stream(
        &self,
        provider: Option<&str>,
        request: &[u8],
        on_chunk: &mut (dyn FnMut(Vec<u8>) + Send),
    ) -> Result<()> {
        let plan = self.plan(provider, request, true)?;
        self.run_stream(plan, on_chunk).await
    }

    /// Streams a planned call (planned with `streaming`): each chunk goes to `on_chunk`, in
    /// order.
    pub async fn run_stream(&self, plan: Plan, on_chunk: &mut (dyn FnMut(Vec<u8>) + Send)) -> Result<()> {
        let resources = self.resources();
        let call = Box::pin(driver::drive(&plan, &resources, Sink::Chunks(on_chunk)));
        self.until_closed(async { call.await.map(drop) }).await
    }

    /// Runs a whole call, blocking the calling thread until it ends. Validation, translation and
    /// the `mock` provider run here; so does the network part, on the shared runtime's I/O.
    pub fn invoke_blocking(&self, provider: Option<&str>, request: &[u8]) -> Result<Vec<u8>> {
        self.invoke_blocking_interruptible(provider, request, None)
    }

    /// `invoke_blocking`, asking `interrupted` on the calling thread every
    /// `INTERRUPT_CHECK_INTERVAL` while the call waits: when it answers true, the call is
    /// cancelled (its upstream request dropped) and ends with `cancelled`. This lets a host
    /// whose signal handlers run only on the calling thread (Python's Ctrl-C) stop a call
    /// without moving it to other threads.
    pub fn invoke_blocking_interruptible(
        &self,
        provider: Option<&str>,
        request: &[u8],
        mut interrupted: Option<&mut dyn FnMut() -> bool>,
    ) -> Result<Vec<u8>> {
        let plan = self.plan(provider, request, false)?;
        if let Some(answer) = self.answer_locally(&plan) {
            return answer;
        }
        let driving = DrivingSlot::take();
        if driving.is_some() && tokio::runtime::Handle::try_current().is_err() && !self.uses_shared_stores() {
            // Driving the call's I/O on this thread saves the hand-offs to and from a worker.
            let runtime = crate::runtime::blocking_runtime()?;
            // One call future, boxed: the plan it holds is large, and `block_on` moves its future.
            let mut call = Box::pin(self.run(plan));
            return runtime.block_on(crate::transport::blocking_call(async {
                let result = match interrupted.as_mut() {
                    None => call.await,
                    Some(interrupted) => {
                        let result = loop {
                            tokio::select! {
                                biased;
                                result = &mut call => break result,
                                () = tokio::time::sleep(INTERRUPT_CHECK_INTERVAL) => {
                                    if interrupted() {
                                        break Err(interrupted_error());
                                    }
                                }
                            }
                        };
                        // An interrupted call drops its request here, before the turn below.
                        drop(call);
                        result
                    }
                };
                // A call that failed may have dropped its request mid-way (interrupted, past its
                // deadline): give the connection task it woke a turn while this thread still
                // drives the runtime, so that the abandoned connection is closed now rather than
                // at the next blocking call. (A successful call has already read its answer to
                // the end, which hands the connection back to the pool.)
                if result.is_err() {
                    tokio::task::yield_now().await;
                }
                result
            }));
        }
        drop(driving);
        let runtime = runtime()?;
        // Called from inside an async context (a callback on a runtime thread, say), where
        // blocking on the runtime is not allowed, or using a Redis cache or limiter store (whose
        // connections are tasks of the shared runtime, and must keep running between calls), or
        // with `MAX_DRIVEN_BLOCKING_CALLS` blocking calls already in flight: run the call on a
        // worker and wait for it.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let client = self.clone();
        let task = runtime.spawn(async move {
            let _ = tx.send(client.run(plan).await);
        });
        loop {
            match rx.recv_timeout(INTERRUPT_CHECK_INTERVAL) {
                Ok(result) => return result,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if interrupted.as_mut().is_some_and(|interrupted| interrupted()) {
                        task.abort();
                        return Err(interrupted_error());
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::internal("the request task ended without a result (a bug in liter-llm)"));
                }
            }
        }
    }
}

/// Blocking calls in flight at once on the blocking runtime. Beyond a few, the one thread that
/// drives the runtime's I/O for all the others becomes the bottleneck (measured at 256 threads:
/// more CPU per call and less throughput than the shared runtime's workers), so further calls
/// wait on the shared runtime instead.
pub const MAX_DRIVEN_BLOCKING_CALLS: usize = 8;

static DRIVEN_BLOCKING_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One of the `MAX_DRIVEN_BLOCKING_CALLS` places, held for a call's length.
struct DrivingSlot;

impl DrivingSlot {
    fn take() -> Option<DrivingSlot> {
        let taken = DRIVEN_BLOCKING_CALLS.fetch_add(1, Ordering::AcqRel);
        let slot = DrivingSlot;
        (taken < MAX_DRIVEN_BLOCKING_CALLS).then_some(slot)
    }
}

impl Drop for DrivingSlot {
    fn drop(&mut self) {
        DRIVEN_BLOCKING_CALLS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How often a blocking call asks whether it was interrupted.
pub const INTERRUPT_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

fn interrupted_error() -> Error {
    Error::new(ErrorKind::Cancelled, "the call was interrupted")
}

/// Replaces the default client's configuration (the JSON form of `liter-llm.toml`).
pub fn configure(json: &[u8]) -> Result<()> {
    Client::default_client().configure(json)
}

/// `Client::invoke` on the default client.
pub async fn invoke(provider: Option<&str>, request: &[u8]) -> Result<Vec<u8>> {
    Client::default_client().invoke(provider, request).await
}

/// `Client::stream` on the default client.
pub async fn stream_call(
    provider: Option<&str>,
    request: &[u8],
    on_chunk: &mut (dyn FnMut(Vec<u8>) + Send),
) -> Result<()> {
    Client::default_client().stream(provider, request, on_chunk).await
}

/// `Client::invoke_blocking` on the default client.
pub fn invoke_blocking(provider: Option<&str>, request: &[u8]) -> Result<Vec<u8>> {
    Client::default_client().invoke_blocking(provider, request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_hold_their_own_configuration() {
        let a = Client::from_json(br#"{"defaults": {"timeout": 5}}"#).unwrap();
        let b = Client::from_json(br#"{"defaults": {"timeout": 7}}"#).unwrap();
        let req = br#"{"model": "openai/gpt-4o", "prompt": "x"}"#;
        assert_eq!(a.plan(None, req, false).unwrap().timeout.as_secs(), 5);
        assert_eq!(b.plan(None, req, false).unwrap().timeout.as_secs(), 7);
        a.configure(br#"{"defaults": {"timeout": 9}}"#).unwrap();
        assert_eq!(a.plan(None, req, false).unwrap().timeout.as_secs(), 9);
        assert_eq!(b.plan(None, req, false).unwrap().timeout.as_secs(), 7);
    }

    #[test]
    fn a_bad_configuration_leaves_the_old_one() {
        let a = Client::from_json(br#"{"defaults": {"timeout": 5}}"#).unwrap();
        let e = a.configure(br#"{"defaults": {"timeout": -1}}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(e.message.contains("defaults.timeout"), "{}", e.message);
        let req = br#"{"model": "openai/gpt-4o", "prompt": "x"}"#;
        assert_eq!(a.plan(None, req, false).unwrap().timeout.as_secs(), 5);
        assert!(Client::from_json(br#"{"nope": 1}"#).is_err());
        assert!(Client::from_file("/nonexistent/liter-llm.toml").unwrap_err().message.contains("/nonexistent"));
    }

    #[test]
    fn a_closed_client_refuses_calls() {
        let c = Client::from_json(b"{}").unwrap();
        c.close();
        c.close();
        assert!(c.is_closed());
        let e = c.invoke_blocking(None, br#"{"model": "mock/m", "prompt": "x"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(e.message.contains("closed"), "{}", e.message);
    }

    #[test]
    fn an_interrupted_blocking_call_is_cancelled() {
        // A listener that accepts and never answers: only the interruption can end the call.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = Client::from_json(b"{}").unwrap();
        let req = format!(
            r#"{{"model": "openai/gpt", "prompt": "x", "api_key": "sk-test-1", "base_url": "http://127.0.0.1:{port}", "timeout": 30}}"#
        );
        let mut asked = 0;
        let mut interrupted = || {
            asked += 1;
            asked == 3
        };
        let started = std::time::Instant::now();
        let e = c.invoke_blocking_interruptible(None, req.as_bytes(), Some(&mut interrupted)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Cancelled);
        assert_eq!(asked, 3);
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "ended by the interruption");
        let mock = br#"{"model": "mock/m", "prompt": "x"}"#;
        let mut never = || -> bool { unreachable!("a local answer never waits") };
        assert!(c.invoke_blocking_interruptible(None, mock, Some(&mut never)).is_ok());
    }

    #[test]
    fn closing_cancels_calls_in_flight() {
        let c = Client::from_json(b"{}").unwrap();
        let rt = runtime().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let held = c.clone();
        rt.spawn(async move {
            let never = std::future::pending::<Result<()>>();
            let _ = tx.send(held.until_closed(never).await);
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        c.close();
        let e = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Cancelled);
    }
}
