//! The response cache a client owns (docs/cache.md): an in-process LRU (`l1`, bounded by
//! entries and bytes) in front of an optional Redis (`l2`, shared by processes).
//!
//! A key is the SHA-256 of a versioned, canonical (RFC 8785) JSON form of what shapes the
//! answer: the provider, the model sent upstream, the endpoint URL, the upstream body exactly as
//! it would be sent (so every field that reaches the provider counts, and nothing that does not),
//! the call's namespace and a tenant scope (the SHA-256 of the API key in use, never the key).
//! Redis sees only `key_prefix` + the hex digest.
//!
//! Redis is an optimisation, never a dependency: every wait on it is bounded by its timeouts; a
//! failure is a miss (or a skipped store), is counted, and makes the client leave Redis alone for
//! a while (doubling from `L2_BACKOFF_MIN` to `L2_BACKOFF_MAX`). Values read back are checked
//! (version, key, shape) before use; anything else is a miss.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::config::{CacheConfig, CacheMode};
use crate::error::{Error, Result};
use crate::request::{CacheControl, ChatRequest};

/// Bumped whenever the key's input or the stored value changes shape.
const KEY_VERSION: u32 = 1;
pub const DEFAULT_L1_MAX_ENTRIES: usize = 1024;
pub const DEFAULT_L1_MAX_BYTES: usize = 64 * 1024 * 1024;
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
pub const DEFAULT_REDIS_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
pub const DEFAULT_REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
pub const DEFAULT_KEY_PREFIX: &str = "liter-llm:";
const L2_BACKOFF_MIN: Duration = Duration::from_secs(1);
const L2_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A stream longer than this is answered but not recorded.
const MAX_RECORDED_BYTES: usize = 16 * 1024 * 1024;

/// What the cache did for one answer, as `liter_llm.cache` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The client has no cache.
    Off,
    /// The cache was not read: a request `deterministic` mode does not cache, `no-cache`, or an
    /// answer made without the network.
    Bypass,
    Miss,
    /// From this client's memory (or from an identical call in flight that this one waited for).
    HitL1,
    /// From Redis.
    HitL2,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Off => "off",
            Status::Bypass => "bypass",
            Status::Miss => "miss",
            Status::HitL1 => "hit-l1",
            Status::HitL2 => "hit-l2",
        }
    }
}

pub(crate) type Key = [u8; 32];

/// A complete answer as stored: a whole response, or a stream's chunks in order (each as the
/// stream delivered it, before `liter_llm` meta is added).
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Response(Arc<[u8]>),
    Chunks(Arc<[Vec<u8>]>),
}

impl Entry {
    fn size(&self) -> usize {
        match self {
            Entry::Response(body) => body.len(),
            Entry::Chunks(chunks) => chunks.iter().map(|c| c.len() + 16).sum(),
        }
    }

    /// The form stored in Redis: `{"v":1,"key":"<hex>","response":{...}}` or `..."chunks":[...]}`.
    fn encode(&self, key: &Key) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size() + 120);
        out.extend_from_slice(format!(r#"{{"v":{KEY_VERSION},"key":"{}","#, hex(key)).as_bytes());
        match self {
            Entry::Response(body) => {
                out.extend_from_slice(br#""response":"#);
                out.extend_from_slice(body);
            }
            Entry::Chunks(chunks) => {
                out.extend_from_slice(br#""chunks":["#);
                for (i, chunk) in chunks.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(chunk);
                }
                out.push(b']');
            }
        }
        out.push(b'}');
        out
    }

    /// Reads a stored value back; `None` unless it is well formed, of this version and this key.
    fn decode(bytes: &[u8], key: &Key) -> Option<Entry> {
        #[derive(Deserialize)]
        struct Stored<'a> {
            v: u32,
            key: &'a str,
            #[serde(borrow)]
            response: Option<&'a RawValue>,
            #[serde(borrow)]
            chunks: Option<Vec<&'a RawValue>>,
        }
        let stored: Stored<'_> = serde_json::from_slice(bytes).ok()?;
        if stored.v != KEY_VERSION || stored.key != hex(key) {
            return None;
        }
        let is_object = |raw: &RawValue| raw.get().starts_with('{');
        match (stored.response, stored.chunks) {
            (Some(body), None) if is_object(body) => Some(Entry::Response(body.get().as_bytes().into())),
            (None, Some(chunks)) if !chunks.is_empty() && chunks.iter().all(|c| is_object(c)) => {
                Some(Entry::Chunks(chunks.iter().map(|c| c.get().as_bytes().to_vec()).collect()))
            }
            _ => None,
        }
    }
}

/// Decodes a value as read from Redis for `key`, then encodes it again: the bytes a second
/// store would write, or `None` when the value is rejected. The entry point of the fuzz target
/// for stored values (`core/fuzz`); not part of the API.
#[doc(hidden)]
pub fn fuzz_stored_value(bytes: &[u8], key: &[u8; 32]) -> Option<Vec<u8>> {
    Entry::decode(bytes, key).map(|entry| entry.encode(key))
}

/// Counters of what the cache did, for tests and operators.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CacheStats {
    pub hits_l1: u64,
    pub hits_l2: u64,
    pub misses: u64,
    /// Redis operations that failed or timed out.
    pub l2_errors: u64,
    /// Redis operations not attempted because of an earlier failure (backoff).
    pub l2_skipped: u64,
    /// Values read from Redis that were not a valid entry for their key.
    pub l2_corrupt: u64,
}

#[derive(Default)]
struct Counters {
    hits_l1: AtomicU64,
    hits_l2: AtomicU64,
    misses: AtomicU64,
    l2_errors: AtomicU64,
    l2_skipped: AtomicU64,
    l2_corrupt: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A client's cache.
pub(crate) struct Cache {
    mode: CacheMode,
    l1: Option<L1>,
    l2: Option<L2>,
    flights: Mutex<HashMap<Key, watch::Receiver<Option<Result<Entry>>>>>,
    counters: Counters,
    /// The process the flights and the Redis connection belong to: a forked child forgets the
    /// parent's (their tasks do not run in the child, so waiting on them would never end).
    pid: AtomicU32,
}

impl Cache {
    /// The cache `config` describes; `None` when the mode is `off`.
    pub(crate) fn new(config: &CacheConfig) -> Result<Option<Arc<Cache>>> {
        if config.mode == CacheMode::Off {
            return Ok(None);
        }
        config.check()?;
        let l1 = match (&config.l1, &config.redis) {
            (None, Some(_)) => None,
            (l1, _) => {
                let l1 = l1.as_ref();
                Some(L1::new(
                    l1.and_then(|c| c.max_entries).unwrap_or(DEFAULT_L1_MAX_ENTRIES),
                    l1.and_then(|c| c.max_bytes).unwrap_or(DEFAULT_L1_MAX_BYTES),
                    l1.and_then(|c| c.ttl).unwrap_or(DEFAULT_TTL),
                ))
            }
        };
        let l2 = match &config.redis {
            None => None,
            Some(r) => Some(L2 {
                client: redis::Client::open(r.url.expose())
                    .map_err(|_| Error::invalid_request("cache.redis.url is not a valid Redis URL"))?,
                ttl: r.ttl.unwrap_or(DEFAULT_TTL),
                connect_timeout: r.connect_timeout.unwrap_or(DEFAULT_REDIS_CONNECT_TIMEOUT),
                response_timeout: r.response_timeout.unwrap_or(DEFAULT_REDIS_RESPONSE_TIMEOUT),
                prefix: r.key_prefix.clone().unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_owned()),
                connection: Mutex::default(),
                health: Mutex::new(Health::default()),
            }),
        };
        Ok(Some(Arc::new(Cache {
            mode: config.mode,
            l1,
            l2,
            flights: Mutex::default(),
            counters: Counters::default(),
            pid: AtomicU32::new(std::process::id()),
        })))
    }

    /// Whether entries are also kept in Redis.
    pub(crate) fn uses_redis(&self) -> bool {
        self.l2.is_some()
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits_l1: get(&c.hits_l1),
            hits_l2: get(&c.hits_l2),
            misses: get(&c.misses),
            l2_errors: get(&c.l2_errors),
            l2_skipped: get(&c.l2_skipped),
            l2_corrupt: get(&c.l2_corrupt),
        }
    }

    /// Whether this request may be cached at all under the mode.
    fn admits(&self, request: &ChatRequest) -> bool {
        match self.mode {
            CacheMode::Off => false,
            CacheMode::Always => true,
            // An embedding is a function of its input.
            CacheMode::Deterministic if request.embedding.is_some() => true,
            CacheMode::Deterministic => {
                let p = &request.params;
                let repeatable = p.temperature == Some(0.0) || p.seed.is_some();
                repeatable && p.n.unwrap_or(1) <= 1
            }
        }
    }

    /// The cache's part in one model's call, or the status to report when it takes none.
    pub(crate) fn ticket(
        &self,
        request: &ChatRequest,
        identity: Identity<'_>,
    ) -> std::result::Result<Ticket<'_>, Status> {
        self.forget_other_processes();
        let controls = &request.options.cache;
        if !self.admits(request) || (controls.no_cache && controls.no_store) {
            return Err(Status::Bypass);
        }
        Ok(Ticket { cache: self, key: identity.key(controls.namespace.as_deref()), controls: controls.clone() })
    }

    /// In a forked child, drops what the parent had in flight and its Redis connection.
    fn forget_other_processes(&self) {
        let pid = std::process::id();
        if self.pid.swap(pid, Ordering::Relaxed) == pid {
            return;
        }
        self.flights.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Some(l2) = &self.l2 {
            l2.forget_connection();
        }
    }

    async fn lookup(&self, key: &Key) -> Option<(Entry, Status)> {
        if let Some(entry) = self.l1.as_ref().and_then(|l1| l1.get(key)) {
            bump(&self.counters.hits_l1);
            return Some((entry, Status::HitL1));
        }
        let l2 = self.l2.as_ref()?;
        let bytes = l2.get(key, &self.counters).await?;
        let Some(entry) = Entry::decode(&bytes, key) else {
            bump(&self.counters.l2_corrupt);
            return None;
        };
        if let Some(l1) = &self.l1 {
            l1.put(*key, entry.clone(), l1.ttl);
        }
        bump(&self.counters.hits_l2);
        Some((entry, Status::HitL2))
    }

    async fn store(&self, key: &Key, entry: &Entry, ttl: Option<Duration>) {
        if let Some(l1) = &self.l1 {
            l1.put(*key, entry.clone(), ttl.unwrap_or(l1.ttl));
        }
        if let Some(l2) = &self.l2 {
            l2.set(key, &entry.encode(key), ttl.unwrap_or(l2.ttl), &self.counters).await;
        }
    }
}

/// What identifies one model's upstream request, for its key.
pub(crate) struct Identity<'a> {
    pub(crate) provider: &'a str,
    pub(crate) model: &'a str,
    /// The endpoint, without credentials.
    pub(crate) url: &'a str,
    /// The upstream body as it would be sent.
    pub(crate) body: &'a [u8],
    pub(crate) api_key: &'a str,
}

impl Identity<'_> {
    /// SHA-256 over the RFC 8785 form of `{"v", "provider", "model", "url", "body", "namespace",
    /// "tenant"}`, written member by member in canonical order instead of built as a `Value`
    /// (the test `the_key_is_the_canonical_form_of_its_inputs` holds the two equal).
    fn key(&self, namespace: Option<&str>) -> Key {
        let body: Value = serde_json::from_slice(self.body).unwrap_or_else(|_| Value::from(hex(&sha256(self.body))));
        let mut canonical = Vec::with_capacity(self.body.len() + 256);
        canonical.extend_from_slice(b"{\"body\":");
        write_canonical(&body, &mut canonical);
        canonical.extend_from_slice(b",\"model\":");
        write_canonical_str(self.model, &mut canonical);
        canonical.extend_from_slice(b",\"namespace\":");
        match namespace {
            Some(namespace) => write_canonical_str(namespace, &mut canonical),
            None => canonical.extend_from_slice(b"null"),
        }
        canonical.extend_from_slice(b",\"provider\":");
        write_canonical_str(self.provider, &mut canonical);
        canonical.extend_from_slice(b",\"tenant\":\"");
        canonical.extend_from_slice(hex(&sha256(self.api_key.as_bytes())).as_bytes());
        canonical.extend_from_slice(b"\",\"url\":");
        write_canonical_str(self.url, &mut canonical);
        canonical.extend_from_slice(format!(",\"v\":{KEY_VERSION}}}").as_bytes());
        sha256(&canonical)
    }
}

fn sha256(bytes: &[u8]) -> Key {
    Sha256::digest(bytes).into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// The cache's part in one model's call: look up first (unless `no-cache`), store a complete
/// answer after (unless `no-store`).
pub(crate) struct Ticket<'a> {
    cache: &'a Cache,
    key: Key,
    controls: CacheControl,
}

/// Whether a call leads the upstream request for its key or waits for the one in flight.
pub(crate) enum Flight<'a> {
    Leader(Leader<'a>),
    /// The answer of the identical call that was in flight (or that just ended), or its error.
    /// A leader dropped before it ended leaves no answer: then a waiting call leads instead.
    Followed(Result<Entry>),
}

/// Removes its key from the flights when dropped, so that a cancelled leader never strands the
/// followers: they see the sender go and go upstream themselves.
pub(crate) struct Leader<'a> {
    cache: &'a Cache,
    key: Key,
    tx: watch::Sender<Option<Result<Entry>>>,
}

impl Leader<'_> {
    pub(crate) fn finish(self, result: Result<Entry>) {
        self.tx.send_replace(Some(result));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.cache.flights.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
    }
}

impl<'a> Ticket<'a> {
    pub(crate) fn reads(&self) -> bool {
        !self.controls.no_cache
    }

    /// The stored answer, when there is one and the call may read it.
    pub(crate) async fn lookup(&self) -> Option<(Entry, Status)> {
        if !self.reads() {
            return None;
        }
        let found = self.cache.lookup(&self.key).await;
        if found.is_none() {
            bump(&self.cache.counters.misses);
        }
        found
    }

    /// Joins the in-flight call for this key, or becomes it (single-flight).
    pub(crate) async fn fly(&self) -> Flight<'a> {
        loop {
            let waiting = {
                let mut flights = self.cache.flights.lock().unwrap_or_else(|p| p.into_inner());
                match flights.get(&self.key) {
                    Some(rx) => rx.clone(),
                    None => {
                        // A leader stores before it leaves the flights: a call that missed just
                        // before that finds the answer here instead of asking again.
                        if let Some(entry) = self.cache.l1.as_ref().and_then(|l1| l1.get(&self.key)) {
                            return Flight::Followed(Ok(entry));
                        }
                        let (tx, rx) = watch::channel(None);
                        flights.insert(self.key, rx);
                        return Flight::Leader(Leader { cache: self.cache, key: self.key, tx });
                    }
                }
            };
            let mut rx = waiting;
            let answer = rx.wait_for(Option::is_some).await.ok().and_then(|result| result.clone());
            match answer {
                Some(answer) => return Flight::Followed(answer),
                // The leader was dropped without an answer; its entry is gone, so try again.
                None => continue,
            }
        }
    }

    /// Stores a complete answer, unless the call said `no-store`.
    pub(crate) async fn store(&self, entry: &Entry) {
        if !self.controls.no_store {
            self.cache.store(&self.key, entry, self.controls.ttl).await;
        }
    }
}

/// Records a stream's chunks as they pass, up to `MAX_RECORDED_BYTES`.
#[derive(Default)]
pub(crate) struct Recording {
    chunks: Vec<Vec<u8>>,
    bytes: usize,
    overflowed: bool,
}

impl Recording {
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        if self.overflowed {
            return;
        }
        self.bytes += chunk.len();
        if self.bytes > MAX_RECORDED_BYTES {
            self.overflowed = true;
            self.chunks = Vec::new();
            return;
        }
        self.chunks.push(chunk.to_vec());
    }

    /// The entry for a stream that completed; `None` if nothing (or too much) was recorded.
    pub(crate) fn finish(self) -> Option<Entry> {
        (!self.overflowed && !self.chunks.is_empty()).then(|| Entry::Chunks(self.chunks.into()))
    }
}

/// The in-process tier: least recently used first out, by entries and by bytes.
struct L1 {
    max_entries: usize,
    max_bytes: usize,
    ttl: Duration,
    state: Mutex<L1State>,
}

#[derive(Default)]
struct L1State {
    slots: HashMap<Key, Slot>,
    /// Last use → key, oldest first.
    order: BTreeMap<u64, Key>,
    clock: u64,
    bytes: usize,
}

struct Slot {
    entry: Entry,
    expires: Instant,
    size: usize,
    used: u64,
}

impl L1State {
    fn remove(&mut self, key: &Key) {
        if let Some(slot) = self.slots.remove(key) {
            self.order.remove(&slot.used);
            self.bytes -= slot.size;
        }
    }
}

impl L1 {
    fn new(max_entries: usize, max_bytes: usize, ttl: Duration) -> L1 {
        L1 { max_entries, max_bytes, ttl, state: Mutex::default() }
    }

    fn get(&self, key: &Key) -> Option<Entry> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let expired = state.slots.get(key)?.expires <= Instant::now();
        if expired {
            state.remove(key);
            return None;
        }
        state.clock += 1;
        let now = state.clock;
        let slot = state.slots.get_mut(key)?;
        let before = std::mem::replace(&mut slot.used, now);
        let entry = slot.entry.clone();
        state.order.remove(&before);
        state.order.insert(now, *key);
        Some(entry)
    }

    fn put(&self, key: Key, entry: Entry, ttl: Duration) {
        let size = entry.size() + std::mem::size_of::<Slot>() + 64;
        if size > self.max_bytes {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.remove(&key);
        while state.slots.len() >= self.max_entries || state.bytes + size > self.max_bytes {
            let Some((_, oldest)) = state.order.pop_first() else { break };
            state.remove(&oldest);
        }
        state.clock += 1;
        let used = state.clock;
        state.order.insert(used, key);
        state.bytes += size;
        state.slots.insert(key, Slot { entry, expires: Instant::now() + ttl, size, used });
    }
}

/// The Redis tier.
struct L2 {
    client: redis::Client,
    ttl: Duration,
    connect_timeout: Duration,
    response_timeout: Duration,
    prefix: String,
    /// The open connection; held while connecting so that one task connects at a time. Replaced
    /// as a whole in a forked child, where a parent's task may hold it forever.
    connection: Mutex<Arc<ConnectionSlot>>,
    health: Mutex<Health>,
}

type ConnectionSlot = tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>;

#[derive(Default)]
struct Health {
    failures: u32,
    resting_until: Option<Instant>,
}

impl L2 {
    fn redis_key(&self, key: &Key) -> String {
        format!("{}{}", self.prefix, hex(key))
    }

    /// Whether Redis may be asked now (it is not resting after a failure).
    fn available(&self) -> bool {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        health.resting_until.is_none_or(|until| Instant::now() >= until)
    }

    fn failed(&self, counters: &Counters) {
        bump(&counters.l2_errors);
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        health.failures = health.failures.saturating_add(1);
        let rest = L2_BACKOFF_MIN.saturating_mul(1 << (health.failures - 1).min(5)).min(L2_BACKOFF_MAX);
        health.resting_until = Some(Instant::now() + rest);
    }

    fn succeeded(&self) {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        health.failures = 0;
        health.resting_until = None;
    }

    fn slot(&self) -> Arc<ConnectionSlot> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn forget_connection(&self) {
        *self.connection.lock().unwrap_or_else(|p| p.into_inner()) = Arc::default();
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = Health::default();
    }

    async fn connection(&self, counters: &Counters) -> Option<redis::aio::MultiplexedConnection> {
        let slot = self.slot();
        let mut slot = slot.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Some(connection.clone());
        }
        if !self.available() {
            bump(&counters.l2_skipped);
            return None;
        }
        match tokio::time::timeout(self.connect_timeout, self.client.get_multiplexed_async_connection()).await {
            Ok(Ok(connection)) => {
                *slot = Some(connection.clone());
                Some(connection)
            }
            _ => {
                self.failed(counters);
                None
            }
        }
    }

    /// Runs one command within the response timeout; a failure drops the connection.
    async fn run<T: redis::FromRedisValue>(&self, command: redis::Cmd, counters: &Counters) -> Option<T> {
        if !self.available() {
            bump(&counters.l2_skipped);
            return None;
        }
        let mut connection = self.connection(counters).await?;
        match tokio::time::timeout(self.response_timeout, command.query_async::<T>(&mut connection)).await {
            Ok(Ok(value)) => {
                self.succeeded();
                Some(value)
            }
            _ => {
                *self.slot().lock().await = None;
                self.failed(counters);
                None
            }
        }
    }

    async fn get(&self, key: &Key, counters: &Counters) -> Option<Vec<u8>> {
        let mut command = redis::cmd("GET");
        command.arg(self.redis_key(key));
        self.run::<Option<Vec<u8>>>(command, counters).await.flatten()
    }

    async fn set(&self, key: &Key, value: &[u8], ttl: Duration, counters: &Counters) {
        let mut command = redis::cmd("SET");
        command.arg(self.redis_key(key)).arg(value).arg("PX").arg(ttl.as_millis().max(1) as u64);
        let _: Option<()> = self.run(command, counters).await;
    }
}

/// RFC 8785 (JCS): members sorted by their UTF-16 code units, no whitespace, strings escaped
/// only where JSON requires, numbers as ECMAScript prints them.
pub(crate) fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            (_, Some(u)) => out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes()),
            _ => out.extend_from_slice(ecmascript_number(n.as_f64().unwrap_or(0.0)).as_bytes()),
        },
        Value::String(s) => write_canonical_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut names: Vec<&String> = members.keys().collect();
            // UTF-16 order is byte order for ASCII names, the common case.
            names.sort_by(|a, b| match a.is_ascii() && b.is_ascii() {
                true => a.cmp(b),
                false => a.encode_utf16().cmp(b.encode_utf16()),
            });
            out.push(b'{');
            for (i, name) in names.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_str(name, out);
                out.push(b':');
                write_canonical(&members[name], out);
            }
            out.push(b'}');
        }
    }
}

/// A JSON string as RFC 8785 writes it: serde_json escapes exactly `"`, `\`, and control
/// characters (`\b \f \n \r \t`, the others as lowercase `\u00xx`), as JCS asks.
pub(crate) fn write_canonical_str(s: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// ECMAScript's Number::toString for a finite double (ECMA-262 §6.1.6.1.20), from the shortest
/// round-tripping digits Rust's `{:e}` gives.
fn ecmascript_number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".to_owned();
    }
    let sci = format!("{:e}", x.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i32;
    let n = exponent.parse::<i32>().unwrap_or(0) + 1;
    let sign = if x < 0.0 { "-" } else { "" };
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let rest = if k > 1 { format!(".{}", &digits[1..]) } else { String::new() };
        let e = n - 1;
        format!("{}{rest}e{}{e}", &digits[..1], if e > 0 { "+" } else { "" })
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        let mut out = Vec::new();
        write_canonical(&serde_json::from_str(text).unwrap(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_key_is_the_canonical_form_of_its_inputs() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"h\u00e9 \"x\""}],"temperature":0.0,"n":1}"#;
        for namespace in [None, Some("team-\u{e9}")] {
            let id = Identity { provider: "openai", model: "m", url: "http://h/v1/chat", body, api_key: "sk-1" };
            let input = serde_json::json!({
                "v": KEY_VERSION,
                "provider": "openai",
                "model": "m",
                "url": "http://h/v1/chat",
                "body": serde_json::from_slice::<Value>(body).unwrap(),
                "namespace": namespace,
                "tenant": hex(&sha256(b"sk-1")),
            });
            let mut canonical = Vec::new();
            write_canonical(&input, &mut canonical);
            assert_eq!(id.key(namespace), sha256(&canonical));
        }
        assert_eq!(hex(&[0x00, 0x7f, 0xa5, 0xff]), "007fa5ff");
    }

    #[test]
    fn canonical_json_follows_rfc_8785() {
        // RFC 8785 §3.2.3's sorting example and its number samples (Appendix B).
        assert_eq!(
            canonical(r#"{"\u20ac": 1, "\r": 2, "\ud83d\ude00": 3, "1": 4, "\u0080": 5, "\u00f6": 6, "\ufb33": 7}"#),
            "{\"\\r\":2,\"1\":4,\"\u{80}\":5,\"\u{f6}\":6,\"\u{20ac}\":1,\"\u{1f600}\":3,\"\u{fb33}\":7}"
        );
        assert_eq!(
            canonical(r#"[1.0, 1.5, 1e-7, 1e21, 1e20, 0.000001, -0.5, 1e+300]"#),
            "[1,1.5,1e-7,1e+21,100000000000000000000,0.000001,-0.5,1e+300]"
        );
        assert_eq!(
            canonical("{ \"b\" : [true, null, \"\\u001f/\"], \"a\" : {} }"),
            r#"{"a":{},"b":[true,null,"\u001f/"]}"#
        );
    }

    fn identity<'a>(body: &'a [u8], api_key: &'a str) -> Identity<'a> {
        Identity { provider: "openai", model: "gpt", url: "http://h/v1/chat/completions", body, api_key }
    }

    #[test]
    fn keys_cover_the_body_the_tenant_and_the_namespace() {
        let body = br#"{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "temperature": 0}"#;
        let reordered = br#"{"temperature": 0, "messages": [{"content": "x", "role": "user"}], "model": "gpt"}"#;
        let base = identity(body, "sk-test-a").key(None);
        assert_eq!(base, identity(reordered, "sk-test-a").key(None), "member order does not matter");
        assert_ne!(base, identity(body, "sk-test-b").key(None), "two keys never share");
        assert_ne!(base, identity(body, "sk-test-a").key(Some("ns")));
        let with_tools =
            br#"{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "temperature": 0, "tools": []}"#;
        assert_ne!(base, identity(with_tools, "sk-test-a").key(None));
        let mut other_model = identity(body, "sk-test-a");
        other_model.model = "gpt-mini";
        assert_ne!(base, other_model.key(None));
    }

    #[test]
    fn stored_values_are_checked_before_use() {
        let key = [7u8; 32];
        let response = Entry::Response(br#"{"id": "x"}"#.as_slice().into());
        assert!(
            matches!(Entry::decode(&response.encode(&key), &key), Some(Entry::Response(b)) if &*b == br#"{"id": "x"}"#)
        );
        let chunks = Entry::Chunks(vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()].into());
        match Entry::decode(&chunks.encode(&key), &key) {
            Some(Entry::Chunks(c)) => assert_eq!(c.to_vec(), vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]),
            other => panic!("{other:?}"),
        }
        assert!(Entry::decode(&response.encode(&key), &[8u8; 32]).is_none(), "another key's value");
        for bad in [&b"garbage"[..], br#"{"v": 1}"#, br#"{"v": 99, "key": "00", "response": {}}"#] {
            assert!(Entry::decode(bad, &key).is_none());
        }
        let wrong_shape = format!(r#"{{"v":1,"key":"{}","response":[1]}}"#, hex(&key));
        assert!(Entry::decode(wrong_shape.as_bytes(), &key).is_none());
    }

    #[test]
    fn l1_evicts_the_least_recently_used_by_entries_and_bytes() {
        let entry = |n: usize| Entry::Response(vec![b'x'; n].into());
        let l1 = L1::new(2, 1 << 20, DEFAULT_TTL);
        l1.put([1; 32], entry(1), DEFAULT_TTL);
        l1.put([2; 32], entry(1), DEFAULT_TTL);
        assert!(l1.get(&[1; 32]).is_some());
        l1.put([3; 32], entry(1), DEFAULT_TTL);
        assert!(l1.get(&[2; 32]).is_none(), "the least recently used went");
        assert!(l1.get(&[1; 32]).is_some() && l1.get(&[3; 32]).is_some());
        let slot = std::mem::size_of::<Slot>() + 64;
        let l1 = L1::new(100, 2 * (1000 + slot), DEFAULT_TTL);
        for i in 0..5u8 {
            l1.put([i; 32], entry(1000), DEFAULT_TTL);
        }
        let state = l1.state.lock().unwrap();
        assert_eq!(state.slots.len(), 2);
        assert!(state.bytes <= l1.max_bytes);
        drop(state);
        l1.put([9; 32], entry(10_000), DEFAULT_TTL);
        assert!(l1.get(&[9; 32]).is_none(), "larger than the whole tier");
        let l1 = L1::new(10, 1 << 20, DEFAULT_TTL);
        l1.put([1; 32], entry(1), Duration::ZERO);
        assert!(l1.get(&[1; 32]).is_none(), "expired");
    }

    #[test]
    fn redis_urls_are_checked_without_being_shown() {
        let config: CacheConfig =
            serde_json::from_str(r#"{"mode": "always", "redis": {"url": "http://user:hunter2@h"}}"#).unwrap();
        let e = config.check().err().unwrap();
        assert!(e.message.contains("cache.redis.url") && !e.message.contains("hunter2"), "{}", e.message);
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
