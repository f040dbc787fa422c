//! The C ABI of liter-llm: JSON bytes in, JSON bytes out.
//!
//! Every `extern "C"` item of the project lives in this crate. Each export runs behind the one
//! panic boundary (`boundary`), validates every pointer it is given, and reports failures in the
//! returned JSON. `include/liter_llm.h` is generated from these doc comments by cbindgen
//! (`make header`).

#![deny(unsafe_op_in_unsafe_fn)]

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, Once};
use std::task::{Context, Poll};

use liter_llm_core::{Client, Error, ErrorKind};

mod queue;

/// The version of the C ABI described by this header. `liter_llm_abi_version()` returns the
/// value the loaded library was built with; a binding built for another value must refuse to
/// load the library and ask for a rebuild.
pub const LITER_LLM_ABI_VERSION: u32 = 2;

/// Every error kind, as the `kind` string of an error object: the lower-case name after
/// `LITER_LLM_ERROR_KIND_` (`LITER_LLM_ERROR_KIND_INVALID_REQUEST` is `"invalid_request"`).
/// The list is stable: kinds may be added in a later ABI version, never renamed. See
/// `docs/errors.md` for when each occurs.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiterLlmErrorKind {
    InvalidRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    RateLimited,
    Timeout,
    Connection,
    ProviderUnavailable,
    BadResponse,
    Unsupported,
    Cancelled,
    Internal,
}

impl From<ErrorKind> for LiterLlmErrorKind {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidRequest => LiterLlmErrorKind::InvalidRequest,
            ErrorKind::Authentication => LiterLlmErrorKind::Authentication,
            ErrorKind::PermissionDenied => LiterLlmErrorKind::PermissionDenied,
            ErrorKind::NotFound => LiterLlmErrorKind::NotFound,
            ErrorKind::RateLimited => LiterLlmErrorKind::RateLimited,
            ErrorKind::Timeout => LiterLlmErrorKind::Timeout,
            ErrorKind::Connection => LiterLlmErrorKind::Connection,
            ErrorKind::ProviderUnavailable => LiterLlmErrorKind::ProviderUnavailable,
            ErrorKind::BadResponse => LiterLlmErrorKind::BadResponse,
            ErrorKind::Unsupported => LiterLlmErrorKind::Unsupported,
            ErrorKind::Cancelled => LiterLlmErrorKind::Cancelled,
            ErrorKind::Internal => LiterLlmErrorKind::Internal,
        }
    }
}

/// The library version, such as `"0.1.0"`.
///
/// The returned string is static, NUL-terminated UTF-8, owned by the library: never free it.
#[no_mangle]
pub extern "C" fn liter_llm_version() -> *const c_char {
    const VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the crate version contains a NUL byte"),
    };
    VERSION.as_ptr()
}

/// The ABI version of the loaded library; compare it with `LITER_LLM_ABI_VERSION`.
#[no_mangle]
pub extern "C" fn liter_llm_abi_version() -> u32 {
    LITER_LLM_ABI_VERSION
}

// ---------------------------------------------------------------------------------------------
// The panic boundary.

/// Replaces the default panic message (which could quote any value) with its location only.
/// `LITER_LLM_DEBUG_PANICS=1` keeps the full message, for developing liter-llm itself.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        if std::env::var_os("LITER_LLM_DEBUG_PANICS").is_some_and(|v| v == "1") {
            return;
        }
        std::panic::set_hook(Box::new(|info| {
            let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            eprintln!("liter-llm: internal error (panic){place}; the call returned an `internal` error");
        }));
    });
}

fn panic_error() -> Error {
    Error::new(ErrorKind::Internal, "liter-llm panicked while handling the call (a bug in liter-llm; please report it)")
}

/// Runs the body of an export: a panic inside becomes `on_panic()`, never an unwind into the
/// host. Every export goes through here.
fn boundary<T>(on_panic: impl FnOnce() -> T, body: impl FnOnce() -> T) -> T {
    install_panic_hook();
    fork::install();
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| on_panic())
}

/// The boundary for exports that return a result buffer: `*out_len` receives its length,
/// negated for an error.
fn buffer_boundary(out_len: &mut i32, body: impl FnOnce() -> Result<Vec<u8>, Error>) -> *mut c_char {
    let (ptr, len) = boundary(|| emit(Err(panic_error())), || emit(body()));
    *out_len = len;
    ptr
}

/// A future whose panic becomes `Err`, so that a task's callback still fires.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

/// With the `test-panic` feature (tests of the panic boundary only), a string argument equal to
/// this makes the export panic on purpose.
#[cfg(feature = "test-panic")]
const TEST_PANIC: &str = "__liter_llm_test_panic__";

#[cfg(feature = "test-panic")]
fn panic_on_purpose(argument: Option<&str>) {
    if argument == Some(TEST_PANIC) {
        panic!("a panic on purpose (test-panic build)");
    }
}

#[cfg(not(feature = "test-panic"))]
#[inline(always)]
fn panic_on_purpose(_argument: Option<&str>) {}

// ---------------------------------------------------------------------------------------------
// Buffers.

/// Turns a result into a JSON buffer for the caller and its length, negated for an error.
fn emit(result: Result<Vec<u8>, Error>) -> (*mut c_char, i32) {
    let (bytes, is_error) = match result {
        Ok(bytes) => (bytes, false),
        Err(e) => (e.to_json(), true),
    };
    let (bytes, is_error) = match i32::try_from(bytes.len()) {
        Ok(_) => (bytes, is_error),
        Err(_) => (Error::internal("the result is larger than 2 GiB and cannot be returned").to_json(), true),
    };
    let len = bytes.len() as i32;
    match CString::new(bytes) {
        Ok(c) => (c.into_raw(), if is_error { -len } else { len }),
        Err(_) => {
            let fallback = Error::internal("the result contained a NUL byte (a bug in liter-llm)").to_json();
            let len = -(fallback.len() as i32);
            (CString::new(fallback).map_or(std::ptr::null_mut(), CString::into_raw), len)
        }
    }
}

/// Reads an optional C string argument as UTF-8.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string that stays valid during the call.
unsafe fn read_str<'a>(ptr: *const c_char, what: &str) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller guarantees a valid NUL-terminated string (checked non-NULL above).
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes)
        .map(Some)
        .map_err(|e| Error::invalid_request(format!("`{what}` is not valid UTF-8 (at byte {})", e.valid_up_to())))
}

/// Reads a required C string argument.
///
/// # Safety
/// As for `read_str`.
unsafe fn require_str<'a>(ptr: *const c_char, what: &str, hint: &str) -> Result<&'a str, Error> {
    // SAFETY: forwarded under the same contract.
    unsafe { read_str(ptr, what) }?.ok_or_else(|| Error::invalid_request(format!("`{what}` is NULL; pass {hint}")))
}

/// Releases a buffer returned by any liter-llm function (`liter_llm_invoke()`,
/// `liter_llm_configure()`, a callback's `result`...). NULL is accepted and ignored.
///
/// # Safety
/// `ptr` must be NULL or a pointer returned by this library that has not been freed yet.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_free(ptr: *mut c_char) {
    if ptr.is_null() {
        return;
    }
    boundary(
        || (),
        || {
            // SAFETY: the caller guarantees `ptr` came from `CString::into_raw` in this library
            // and is freed once.
            drop(unsafe { CString::from_raw(ptr) });
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Clients.

/// The clients created by `liter_llm_client_new()`, by handle. Handles are never reused, so a
/// stale handle finds nothing rather than another client.
struct Clients {
    next: AtomicU64,
    live: Mutex<ClientTable>,
}

static CLIENTS: Clients = Clients { next: AtomicU64::new(1), live: Mutex::new(None) };

/// The clients' table; created on first use (`HashMap::new` is not `const`).
type ClientTable = Option<HashMap<u64, Client>>;

fn clients() -> &'static Clients {
    &CLIENTS
}

fn live_clients() -> std::sync::MutexGuard<'static, ClientTable> {
    CLIENTS.live.lock().unwrap_or_else(|p| p.into_inner())
}

/// The client behind a handle.
fn client(handle: u64) -> Result<Client, Error> {
    live_clients().as_ref().and_then(|live| live.get(&handle)).cloned().ok_or_else(|| {
        Error::invalid_request(format!(
            "client {handle} does not exist or was freed (liter_llm_client_free); create a new client"
        ))
    })
}

/// Creates a client: its own configuration, connection pool, rate limiter, route state and URL
/// cache. A process may hold any number, used concurrently from any threads.
///
/// - `json_config`: NUL-terminated UTF-8, the JSON form of `liter-llm.toml` (what
///   `liter_llm_configure()` takes), or NULL.
/// - `config_file`: NUL-terminated UTF-8 path of a `liter-llm.toml` (`${VAR}` is replaced by
///   the environment variable), or NULL. At most one of the two may be given; with neither,
///   the client finds its configuration as the default client does (`LITER_LLM_CONFIG`, else
///   `liter-llm.toml` in the working directory when it exists, else the defaults).
///   Both strings are borrowed for the duration of the call.
/// - `out_client`: receives the client's handle (never 0), or 0 on failure.
/// - `out_len`: as for `liter_llm_invoke()`.
///
/// Returns `{"client": N}`, or an error object (`invalid_request` naming the offending key or
/// file), to be released with `liter_llm_free()`. Returns NULL, doing nothing, only when
/// `out_client` or `out_len` is NULL. Release the client with `liter_llm_client_free()`.
///
/// # Safety
/// `json_config` and `config_file` must each be NULL or point to a NUL-terminated string valid
/// during the call; `out_client` and `out_len` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_client_new(
    json_config: *const c_char,
    config_file: *const c_char,
    out_client: *mut u64,
    out_len: *mut i32,
) -> *mut c_char {
    if out_client.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: `out_client` is non-NULL and the caller guarantees it is writable.
    unsafe { out_client.write(0) };
    // SAFETY: the caller guarantees `out_len` is NULL or writable.
    let Some(out_len) = (unsafe { out_len.as_mut() }) else {
        return std::ptr::null_mut();
    };
    buffer_boundary(out_len, || {
        // SAFETY: the caller guarantees both pointers are NULL or valid C strings.
        let json = unsafe { read_str(json_config, "json_config") }?;
        // SAFETY: as above.
        let file = unsafe { read_str(config_file, "config_file") }?;
        panic_on_purpose(file);
        let created = match (json, file) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_request("pass json_config or config_file, not both"));
            }
            (Some(json), None) => Client::from_json(json.as_bytes()),
            (None, Some(path)) => Client::from_file(path),
            (None, None) => Client::discover(),
        }?;
        let registry = clients();
        let handle = registry.next.fetch_add(1, Ordering::Relaxed);
        live_clients().get_or_insert_with(HashMap::new).insert(handle, created);
        // SAFETY: `out_client` is non-NULL and writable (checked above).
        unsafe { out_client.write(handle) };
        Ok(format!("{{\"client\":{handle}}}").into_bytes())
    })
}

/// Frees a client. Its calls in flight end with an error of kind `cancelled`: each
/// asynchronous call's or stream's callback still fires exactly once, and a blocking
/// `liter_llm_client_invoke()` on another thread returns the error. Later calls with the handle
/// fail with `invalid_request` ("client N does not exist or was freed").
///
/// Returns 1 when the client existed, 0 otherwise (0, unknown or already freed). Safe to call
/// from any thread, any number of times.
#[no_mangle]
pub extern "C" fn liter_llm_client_free(client: u64) -> i32 {
    boundary(
        || 0,
        || {
            #[cfg(feature = "test-panic")]
            if client == u64::MAX {
                panic!("a panic on purpose (test-panic build)");
            }
            let removed = live_clients().as_mut().and_then(|live| live.remove(&client));
            match removed {
                Some(c) => {
                    c.close();
                    1
                }
                None => 0,
            }
        },
    )
}

/// Which client a call runs on.
#[derive(Clone, Copy)]
enum On {
    Default,
    Handle(u64),
}

impl On {
    fn client(self) -> Result<Client, Error> {
        match self {
            On::Default => Ok(Client::default_client().clone()),
            On::Handle(handle) => client(handle),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Blocking calls.

/// Sends one chat request and waits for its answer, on the default client.
///
/// - `provider`: NUL-terminated UTF-8 naming the provider (`"openai"`, `"anthropic"`, `"cohere"`,
///   `"mock"`), or NULL / `""` to route by the `provider/` prefix of the request's `model`.
///   Borrowed for the duration of the call.
/// - `json_request`: NUL-terminated UTF-8 JSON, an OpenAI chat-completions request (see
///   `docs/providers.md`), or with `"operation": "embedding"` an OpenAI embeddings request
///   (`model`, `input`, `dimensions`, `encoding_format`; see `docs/embeddings.md`), answered
///   with OpenAI's embedding list. Borrowed for the duration of the call. At most 32 MiB.
/// - `out_len`: receives the length in bytes of the returned JSON (without the NUL) on success,
///   or minus that length when the returned JSON is an error object
///   `{"error": {"kind", "message", "status", "provider", "retry_after", "provider_error"}}`.
///
/// Returns a NUL-terminated UTF-8 JSON buffer owned by the caller, to be released with
/// `liter_llm_free()` exactly once. Returns NULL only when `out_len` is NULL (nothing is done
/// then).
///
/// Blocks the calling thread until the call ends (its `timeout`, 600 seconds unless the request
/// says otherwise, bounds that). Safe to call from any number of threads at once: calls
/// overlap and share one connection pool.
///
/// # Safety
/// `provider` and `json_request` must each be NULL or point to a NUL-terminated string that
/// stays valid and unmodified during the call; `out_len` must be NULL or point to writable
/// memory for one `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_invoke(
    provider: *const c_char,
    json_request: *const c_char,
    out_len: *mut i32,
) -> *mut c_char {
    // SAFETY: forwarded under the same contract.
    unsafe { invoke_on(On::Default, provider, json_request, out_len) }
}

/// `liter_llm_invoke()` on the given client (see `liter_llm_client_new()`). A handle that was
/// freed, or never existed, gives an `invalid_request` error.
///
/// # Safety
/// As for `liter_llm_invoke()`.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_client_invoke(
    client: u64,
    provider: *const c_char,
    json_request: *const c_char,
    out_len: *mut i32,
) -> *mut c_char {
    // SAFETY: forwarded under the same contract.
    unsafe { invoke_on(On::Handle(client), provider, json_request, out_len) }
}

/// Asked by an interruptible blocking call, on the thread that made the call, whether to stop:
/// a nonzero answer cancels the call. `user_data` is the pointer given with the call.
pub type LiterLlmInterrupt = Option<unsafe extern "C" fn(user_data: *mut c_void) -> i32>;

/// `liter_llm_invoke()` that can be interrupted: while the call waits, `interrupt` is called on
/// the calling thread about every 50 milliseconds (never for a call that needs no network,
/// such as the `mock` provider); when it returns nonzero, the upstream request is dropped and
/// the call returns an error of kind `cancelled`. For hosts whose signal handlers run only on
/// the thread that waits (Python's Ctrl-C): the call is still driven on the calling thread, as
/// `liter_llm_invoke()` drives it. A NULL `interrupt` makes it `liter_llm_invoke()`.
///
/// # Safety
/// As for `liter_llm_invoke()`; `interrupt` must be NULL or safe to call with `user_data` on
/// the calling thread during the call.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_invoke_interruptible(
    provider: *const c_char,
    json_request: *const c_char,
    interrupt: LiterLlmInterrupt,
    user_data: *mut c_void,
    out_len: *mut i32,
) -> *mut c_char {
    let check = Check { interrupt, user_data };
    // SAFETY: forwarded under the same contract.
    unsafe { invoke_checked(On::Default, provider, json_request, check, out_len) }
}

/// `liter_llm_invoke_interruptible()` on the given client.
///
/// # Safety
/// As for `liter_llm_invoke_interruptible()`.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_client_invoke_interruptible(
    client: u64,
    provider: *const c_char,
    json_request: *const c_char,
    interrupt: LiterLlmInterrupt,
    user_data: *mut c_void,
    out_len: *mut i32,
) -> *mut c_char {
    let check = Check { interrupt, user_data };
    // SAFETY: forwarded under the same contract.
    unsafe { invoke_checked(On::Handle(client), provider, json_request, check, out_len) }
}

/// An interrupt check and its user data.
struct Check {
    interrupt: LiterLlmInterrupt,
    user_data: *mut c_void,
}

/// # Safety
/// As for `liter_llm_invoke()`.
unsafe fn invoke_on(on: On, provider: *const c_char, json_request: *const c_char, out_len: *mut i32) -> *mut c_char {
    let check = Check { interrupt: None, user_data: std::ptr::null_mut() };
    // SAFETY: forwarded under the same contract.
    unsafe { invoke_checked(on, provider, json_request, check, out_len) }
}

/// # Safety
/// As for `liter_llm_invoke_interruptible()`.
unsafe fn invoke_checked(
    on: On,
    provider: *const c_char,
    json_request: *const c_char,
    check: Check,
    out_len: *mut i32,
) -> *mut c_char {
    // SAFETY: the caller guarantees `out_len` is NULL or writable.
    let Some(out_len) = (unsafe { out_len.as_mut() }) else {
        return std::ptr::null_mut();
    };
    buffer_boundary(out_len, || {
        // SAFETY: the caller guarantees both pointers are NULL or valid C strings.
        let provider = unsafe { read_str(provider, "provider") }?;
        // SAFETY: as above.
        let request = unsafe { require_str(json_request, "json_request", "a JSON request") }?;
        panic_on_purpose(provider);
        let client = on.client()?;
        let Some(interrupt) = check.interrupt else {
            return client.invoke_blocking(provider, request.as_bytes());
        };
        // SAFETY: the caller guarantees `interrupt` may be called with `user_data` on this
        // thread during the call.
        let mut interrupted = || unsafe { interrupt(check.user_data) } != 0;
        client.invoke_blocking_interruptible(provider, request.as_bytes(), Some(&mut interrupted))
    })
}

// ---------------------------------------------------------------------------------------------
// Callbacks.

/// Receives the result of an asynchronous call (exactly once), or the events of a stream (see
/// `liter_llm_stream()`).
///
/// - `user_data`: the pointer given to `liter_llm_invoke_async()`, untouched.
/// - `result`: NUL-terminated UTF-8 JSON, owned by the callee from now on: release it with
///   `liter_llm_free()` (it may be kept past the callback's return). NULL only for the end of a
///   stream (with `len` 0).
/// - `len`: as `out_len` of `liter_llm_invoke()`: the length, negated when `result` is an error.
///
/// It runs on liter-llm's delivery thread, never on a thread doing network I/O, so a callback
/// that is slow to return delays other callbacks but no call's traffic. It may run before the
/// function that started the call returns. Keep it short: hand the result to your own event
/// loop or queue and return.
pub type LiterLlmCallback = Option<unsafe extern "C" fn(user_data: *mut c_void, result: *mut c_char, len: i32)>;

/// The callback and its user data, moved to the thread that delivers the result.
#[derive(Clone, Copy)]
struct Callback {
    callback: unsafe extern "C" fn(*mut c_void, *mut c_char, i32),
    user_data: *mut c_void,
}

// SAFETY: the caller of `liter_llm_invoke_async` promises that the callback may be called from
// any thread with this user data; liter-llm never dereferences `user_data`.
unsafe impl Send for Callback {}

/// Where a call's events go: a callback on the delivery thread, or a completion queue (pushed
/// by the runtime worker itself, with the call's id and the host's tag).
#[derive(Clone)]
enum Delivery {
    Callback(Callback),
    Queue { queue: Arc<queue::CompletionQueue>, call: u64, tag: u64 },
}

impl Delivery {
    /// Delivers one event of the call; `last` when it is the call's last.
    fn send(&self, event: Event, last: bool) {
        match self {
            Delivery::Callback(callback) => callback.send(event),
            Delivery::Queue { queue, call, tag } => {
                let (ptr, len) = match event {
                    Event::Result(result) => emit(result),
                    Event::End => (std::ptr::null_mut(), 0),
                };
                queue.push(*call, last, queue::Ready::new(*tag, ptr, len));
            }
        }
    }
}

/// What the delivery thread hands to a callback.
enum Event {
    Result(Result<Vec<u8>, Error>),
    /// The end of a stream: `(NULL, 0)`.
    End,
}

/// Set by `liter_llm_shutdown()`: callbacks are no longer called.
static SHUT_DOWN: AtomicBool = AtomicBool::new(false);
/// Callbacks running right now, so that `liter_llm_shutdown()` can wait for them to return.
static DELIVERING: Mutex<usize> = Mutex::new(0);
static DELIVERED: Condvar = Condvar::new();

type Queue = mpsc::Sender<(Callback, Event)>;

/// The queue of the delivery thread, which calls every callback in the order they were queued.
/// Runtime workers only queue, so a host slow to take a callback never stalls network I/O.
/// Empty until the first asynchronous call of the process (and again in a forked child, which
/// has no delivery thread).
static QUEUE: Mutex<Option<Queue>> = Mutex::new(None);

/// The delivery queue, its thread started when there is none; None when no thread can start.
fn delivery_queue() -> Option<Queue> {
    let mut queue = QUEUE.lock().unwrap_or_else(|p| p.into_inner());
    if queue.is_none() {
        let (tx, rx) = mpsc::channel::<(Callback, Event)>();
        let spawned = std::thread::Builder::new().name("liter-llm-callbacks".into()).spawn(move || {
            for (delivery, event) in rx {
                delivery.call(event);
            }
        });
        *queue = spawned.ok().map(|_| tx);
    }
    queue.clone()
}

impl Callback {
    /// Queues the event for the delivery thread.
    fn send(self, event: Event) {
        if let Some(queue) = delivery_queue() {
            // The thread lives as long as the process, so the queue never closes.
            let _ = queue.send((self, event));
        }
    }

    /// Calls the callback unless `liter_llm_shutdown()` has run, counting it as running.
    fn call(self, event: Event) {
        {
            let mut running = DELIVERING.lock().unwrap_or_else(|p| p.into_inner());
            if SHUT_DOWN.load(Ordering::SeqCst) {
                return;
            }
            *running += 1;
        }
        let (ptr, len) = match event {
            Event::Result(result) => boundary(|| emit(Err(panic_error())), || emit(result)),
            Event::End => (std::ptr::null_mut(), 0),
        };
        // SAFETY: the callback was non-NULL when the call started; ownership of `ptr` (if not
        // NULL) passes to it, as documented on `LiterLlmCallback`. A callback that unwinds is
        // the host's bug; `boundary` keeps it from killing the delivery thread.
        boundary(|| (), || unsafe { (self.callback)(self.user_data, ptr, len) });
        let mut running = DELIVERING.lock().unwrap_or_else(|p| p.into_inner());
        *running -= 1;
        DELIVERED.notify_all();
    }
}

/// Stops all callbacks, for a host that is about to tear down its runtime (Python's interpreter
/// at exit, say): a callback that entered a finalizing interpreter would have its thread killed
/// under liter-llm. From this call on, no callback is called again (results of calls still in
/// flight are dropped and freed); the function then sends the spans and metrics telemetry still
/// holds (docs/telemetry.md) and waits for callbacks already running to return, both within
/// `timeout_ms` milliseconds in all.
///
/// Returns 1 when telemetry was sent and no callback is running any more, 0 when the time ran
/// out first. Call it without
/// holding any lock a callback may need (for Python: with the GIL released, as cffi does).
/// Synchronous calls keep working after it.
#[no_mangle]
pub extern "C" fn liter_llm_shutdown(timeout_ms: u32) -> i32 {
    boundary(
        || 0,
        || {
            let started = std::time::Instant::now();
            let wait = std::time::Duration::from_millis(u64::from(timeout_ms));
            {
                let _running = DELIVERING.lock().unwrap_or_else(|p| p.into_inner());
                SHUT_DOWN.store(true, Ordering::SeqCst);
            }
            let flushed = liter_llm_core::telemetry::flush_all(wait);
            let running = DELIVERING.lock().unwrap_or_else(|p| p.into_inner());
            let left = wait.saturating_sub(started.elapsed());
            let (running, _) =
                DELIVERED.wait_timeout_while(running, left, |n| *n > 0).unwrap_or_else(|p| p.into_inner());
            i32::from(*running == 0 && flushed)
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Asynchronous calls and streams.

/// The in-flight asynchronous calls. Whoever removes a call's entry (its task on completion, or
/// `liter_llm_cancel`) delivers its one last callback.
struct Calls {
    next_id: AtomicU64,
    running: Mutex<CallTable>,
}

struct Running {
    abort: tokio::task::AbortHandle,
    delivery: Delivery,
    /// Set once the call's last callback is queued; held while a callback of the call is
    /// queued, so that a stream's chunks never follow its end.
    finished: Arc<Mutex<bool>>,
}

impl Running {
    /// Queues the call's last callback, after any chunk being queued right now.
    fn finish(self, last: Event) {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        *finished = true;
        self.delivery.send(last, true);
    }
}

static CALLS: Calls = Calls { next_id: AtomicU64::new(1), running: Mutex::new(None) };

/// The running calls' table; created on first use.
type CallTable = Option<HashMap<u64, Running>>;

fn calls() -> &'static Calls {
    &CALLS
}

fn running_calls() -> std::sync::MutexGuard<'static, CallTable> {
    CALLS.running.lock().unwrap_or_else(|p| p.into_inner())
}

fn take_call(id: u64) -> Option<Running> {
    running_calls().as_mut().and_then(|running| running.remove(&id))
}

/// Starts a chat request on the default client and returns at once; the result arrives through
/// `callback`.
///
/// - `provider`, `json_request`: as for `liter_llm_invoke()`; both are copied before this
///   function returns, so they need only be valid during this call.
/// - `callback`: called exactly once (unless `liter_llm_shutdown()` was called first) with the
///   result (a response, or an error object such as `{"error": {"kind": "cancelled", ...}}`
///   after `liter_llm_cancel()`), from liter-llm's delivery thread. It may run before this
///   function returns, so find your state through `user_data`, not through the returned id.
/// - `user_data`: passed to `callback` unchanged; liter-llm never dereferences it.
///
/// Returns the call's id (never 0), for `liter_llm_cancel()`. Returns 0 and does nothing when
/// `callback` is NULL or the delivery thread cannot be started. No thread is created per call:
/// every call shares the runtime's threads.
///
/// # Safety
/// `provider` and `json_request` must each be NULL or point to a NUL-terminated string valid
/// during this call. `callback` must be safe to call from any thread with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_invoke_async(
    provider: *const c_char,
    json_request: *const c_char,
    callback: LiterLlmCallback,
    user_data: *mut c_void,
) -> u64 {
    // SAFETY: forwarded under the same contract.
    unsafe { start(On::Default, provider, json_request, callback, user_data, false) }
}

/// `liter_llm_invoke_async()` on the given client. A handle that was freed, or never existed,
/// gives the callback an `invalid_request` error.
///
/// # Safety
/// As for `liter_llm_invoke_async()`.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_client_invoke_async(
    client: u64,
    provider: *const c_char,
    json_request: *const c_char,
    callback: LiterLlmCallback,
    user_data: *mut c_void,
) -> u64 {
    // SAFETY: forwarded under the same contract.
    unsafe { start(On::Handle(client), provider, json_request, callback, user_data, false) }
}

/// Starts a streaming chat request on the default client and returns at once; its events
/// arrive through `callback`.
///
/// - `provider`, `json_request`: as for `liter_llm_invoke_async()` (`stream` may be absent or
///   `true` in the request).
/// - `callback`: called once per `chat.completion.chunk` (`len > 0`, the chunk's JSON), in
///   order, and then exactly once more to end the stream: with `(NULL, 0)` when it completed,
///   or with an error object (`len < 0`) — after chunks already delivered when the upstream
///   fails mid-stream, or `cancelled` after `liter_llm_cancel()`. Never a chunk after the end.
///   Each call comes from liter-llm's delivery thread, never two at once for one stream.
///   Every non-NULL buffer is owned by the callee (`liter_llm_free()`).
/// - `user_data`: passed to `callback` unchanged.
///
/// The call's `timeout` bounds the wait for the response head and each silence between events
/// (a stalled upstream ends the stream with a `timeout` error), not the whole stream. Until the
/// first chunk, failures are retried and fall back as for other calls. Returns the call's id
/// (never 0) for `liter_llm_cancel()`, which also closes the upstream connection; 0 and nothing
/// done when `callback` is NULL.
///
/// # Safety
/// As for `liter_llm_invoke_async()`.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_stream(
    provider: *const c_char,
    json_request: *const c_char,
    callback: LiterLlmCallback,
    user_data: *mut c_void,
) -> u64 {
    // SAFETY: forwarded under the same contract.
    unsafe { start(On::Default, provider, json_request, callback, user_data, true) }
}

/// `liter_llm_stream()` on the given client. A handle that was freed, or never existed, ends
/// the stream at once with an `invalid_request` error.
///
/// # Safety
/// As for `liter_llm_invoke_async()`.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_client_stream(
    client: u64,
    provider: *const c_char,
    json_request: *const c_char,
    callback: LiterLlmCallback,
    user_data: *mut c_void,
) -> u64 {
    // SAFETY: forwarded under the same contract.
    unsafe { start(On::Handle(client), provider, json_request, callback, user_data, true) }
}

/// Starts an asynchronous call or stream whose events go to a callback.
///
/// # Safety
/// As for `liter_llm_invoke_async()`.
unsafe fn start(
    on: On,
    provider: *const c_char,
    json_request: *const c_char,
    callback: LiterLlmCallback,
    user_data: *mut c_void,
    streaming: bool,
) -> u64 {
    let Some(callback) = callback else {
        return 0;
    };
    if delivery_queue().is_none() {
        return 0;
    }
    let delivery = Delivery::Callback(Callback { callback, user_data });
    let id = calls().next_id.fetch_add(1, Ordering::Relaxed);
    // SAFETY: forwarded under the same contract.
    unsafe { spawn_call(on, provider, json_request, id, delivery, streaming) }
}

/// Starts an asynchronous call or stream whose events go to a completion queue; 0 when the
/// queue does not exist.
///
/// # Safety
/// As for `liter_llm_invoke_async()`.
unsafe fn start_queued(
    on: On,
    provider: *const c_char,
    json_request: *const c_char,
    queue: u64,
    tag: u64,
    streaming: bool,
) -> u64 {
    boundary(
        || 0,
        || {
            let Some(queue) = queue::find(queue) else {
                return 0;
            };
            let id = calls().next_id.fetch_add(1, Ordering::Relaxed);
            let delivery = Delivery::Queue { queue, call: id, tag };
            // SAFETY: forwarded under the same contract.
            unsafe { spawn_call(on, provider, json_request, id, delivery, streaming) }
        },
    )
}

/// Runs call `id` on the runtime; its events go to `delivery`. Returns `id`, or 0 when
/// `delivery` is a queue freed meanwhile (nothing is started then) or on a panic (its error is
/// delivered).
///
/// # Safety
/// As for `liter_llm_invoke_async()`.
unsafe fn spawn_call(
    on: On,
    provider: *const c_char,
    json_request: *const c_char,
    id: u64,
    delivery: Delivery,
    streaming: bool,
) -> u64 {
    let fallback = delivery.clone();
    boundary(
        || {
            fallback.send(Event::Result(Err(panic_error())), true);
            0
        },
        || {
            // SAFETY: the caller guarantees both pointers are NULL or valid C strings for this
            // call; they are copied into owned values before returning.
            let inputs = (|| {
                // SAFETY: the caller guarantees a NULL or valid C string, read before returning.
                let provider = unsafe { read_str(provider, "provider") }?.map(str::to_owned);
                // SAFETY: as above.
                let request = unsafe { require_str(json_request, "json_request", "a JSON request") }?;
                Ok::<_, Error>((on.client()?, provider, request.as_bytes().to_vec()))
            })();
            let runtime = match liter_llm_core::runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    delivery.send(Event::Result(Err(e)), true);
                    return id;
                }
            };
            let finished = Arc::new(Mutex::new(false));
            let gate = finished.clone();
            let chunks = delivery.clone();
            let call = async move {
                let (client, provider, request) = inputs?;
                if client.is_closed() {
                    // Freed after this call started and before its task ran: a call in flight.
                    return Err(Error::new(ErrorKind::Cancelled, "the call was cancelled: its client was closed"));
                }
                panic_on_purpose(provider.as_deref());
                if !streaming {
                    return client.invoke(provider.as_deref(), &request).await.map(Some);
                }
                let mut on_chunk = move |chunk: Vec<u8>| {
                    let finished = gate.lock().unwrap_or_else(|p| p.into_inner());
                    if !*finished {
                        chunks.send(Event::Result(Ok(chunk)), false);
                    }
                };
                client.stream(provider.as_deref(), &request, &mut on_chunk).await.map(|()| None)
            };
            // Holding the lock while spawning guarantees the entry exists before the task can
            // look for it (and, for a queue, that the call is recorded on it before it ends).
            let mut running = running_calls();
            if let Delivery::Queue { queue, .. } = &delivery {
                if !queue.track(id) {
                    return 0;
                }
            }
            let task = runtime.spawn(async move {
                let outcome = CatchUnwind(Box::pin(call)).await.unwrap_or_else(|()| Err(panic_error()));
                let last = match outcome {
                    Ok(Some(response)) => Event::Result(Ok(response)),
                    Ok(None) => Event::End,
                    Err(e) => Event::Result(Err(e)),
                };
                if let Some(call) = take_call(id) {
                    call.finish(last);
                }
            });
            running
                .get_or_insert_with(HashMap::new)
                .insert(id, Running { abort: task.abort_handle(), delivery, finished });
            id
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Completion queues.

/// Creates a completion queue: the results of the calls started with `liter_llm_invoke_queued()`
/// and its kin wait in it until the host drains them with `liter_llm_queue_drain()`, on its own
/// thread, when it likes. The runtime worker that ends a call queues its result itself: no
/// liter-llm thread calls into the host, so this is the cheap way to feed an event loop.
///
/// - `out_fd`: receives the read end of a pipe (non-blocking, close-on-exec; Linux) that is
///   readable while events wait in the queue, or -1 on failure. Owned by the queue: never write
///   or close it. Either watch it (`epoll`, `poll`, asyncio's `add_reader`, Go's poller) and
///   drain when it is readable, leaving its bytes to `liter_llm_queue_drain()`; or, when the
///   event loop can only watch a stream it reads (libuv, Node's `net.Socket`), let it read the
///   bytes (or a descriptor of the same pipe, such as a `dup()`), and after each read drain
///   until `liter_llm_queue_drain()` returns fewer than `capacity` events: a byte is written
///   only when the queue goes from empty to non-empty, so events left behind would not wake the
///   host again.
///
/// Returns the queue's handle (never reused), or 0 when `out_fd` is NULL or no pipe can be
/// made (as on platforms other than Linux). Release it with `liter_llm_queue_free()`. A queue
/// made before `fork()` does not exist in the child (docs/fork.md).
///
/// # Safety
/// `out_fd` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_queue_new(out_fd: *mut i32) -> u64 {
    if out_fd.is_null() {
        return 0;
    }
    // SAFETY: `out_fd` is non-NULL and the caller guarantees it is writable.
    unsafe { out_fd.write(-1) };
    boundary(
        || 0,
        || match queue::create() {
            Some((handle, fd)) => {
                // SAFETY: as above.
                unsafe { out_fd.write(fd) };
                handle
            }
            None => 0,
        },
    )
}

/// Moves up to `capacity` waiting events of a completion queue into three arrays of the host,
/// oldest first, and returns how many (0 when none waits); never blocks. For each event `i`
/// below that count:
///
/// - `tags[i]`: the tag given when its call started;
/// - `data[i]`: NUL-terminated UTF-8 JSON owned by the host from now on (release it with
///   `liter_llm_free()`), or NULL for the end of a stream (`lens[i]` 0);
/// - `lens[i]`: the length of `data[i]` in bytes, negated when it is an error object.
///
/// The queue's fd is emptied (read until nothing is left) when this empties the queue and stays
/// readable while events remain (when `capacity` ran out): drain again, or wait for the fd,
/// which an event pushed at any moment leaves readable. A host that reads the fd itself must
/// drain again instead (see `liter_llm_queue_new()`).
///
/// Each call started on the queue gives exactly one last event: its result, or an error
/// object (`cancelled` after `liter_llm_cancel()` or `liter_llm_queue_free()`). A stream gives
/// its chunks (`lens[i] > 0`), in order, then one end: `data[i]` NULL, or an error.
///
/// Returns -1 for a queue that does not exist (0, freed, or made before a `fork()`), or when an
/// array is NULL and `capacity` positive; 0 when `capacity` is not positive.
///
/// # Safety
/// `tags`, `data` and `lens` must each be NULL or point to `capacity` writable elements.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_queue_drain(
    queue: u64,
    tags: *mut u64,
    data: *mut *mut c_char,
    lens: *mut i32,
    capacity: i32,
) -> i32 {
    boundary(
        || -1,
        || {
            let Some(found) = queue::find(queue) else {
                return -1;
            };
            let Ok(capacity) = usize::try_from(capacity) else {
                return 0;
            };
            if capacity > 0 && (tags.is_null() || data.is_null() || lens.is_null()) {
                return -1;
            }
            let n = found.drain(capacity, |i, ready| {
                let (tag, buffer, len) = ready.into_raw();
                // SAFETY: `i < capacity`, and the caller guarantees `capacity` writable elements
                // in each array.
                unsafe {
                    tags.add(i).write(tag);
                    data.add(i).write(buffer);
                    lens.add(i).write(len);
                }
            });
            n as i32
        },
    )
}

/// Frees a completion queue: cancels its calls still in flight (their events, and any later
/// event of its calls, are dropped and freed), frees its undrained events and closes both ends
/// of its pipe (stop watching the fd before this call). Returns 1 when the queue existed, 0
/// otherwise (0, unknown or already freed). Safe from any thread, any number of times.
#[no_mangle]
pub extern "C" fn liter_llm_queue_free(queue: u64) -> i32 {
    boundary(
        || 0,
        || {
            let Some(calls) = queue::remove(queue) else {
                return 0;
            };
            for id in calls {
                liter_llm_cancel(id);
            }
            1
        },
    )
}

/// `liter_llm_invoke_async()` whose result goes to a completion queue instead of a callback: one
/// event with `tag`, pushed by the runtime worker that ends the call.
///
/// - `provider`, `json_request`: as for `liter_llm_invoke_async()`, copied before returning.
/// - `queue`: a handle from `liter_llm_queue_new()`.
/// - `tag`: any value; liter-llm hands it back with the event and never interprets it.
///
/// Returns the call's id (never 0) for `liter_llm_cancel()`, or 0 (nothing started, no event)
/// when the queue does not exist. The result may be waiting before this function returns.
///
/// # Safety
/// `provider` and `json_request` must each be NULL or point to a NUL-terminated string valid
/// during this call.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_invoke_queued(
    provider: *const c_char,
    json_request: *const c_char,
    queue: u64,
    tag: u64,
) -> u64 {
    // SAFETY: forwarded under the same contract.
    unsafe { start_queued(On::Default, provider, json_request, queue, tag, false) }
}

/// `liter_llm_invoke_queued()` on the given client. A handle that was freed, or never existed,
/// gives the event an `invalid_request` error.
///
/// # Safety
/// As for `liter_llm_invoke_queued()`.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_client_invoke_queued(
    client: u64,
    provider: *const c_char,
    json_request: *const c_char,
    queue: u64,
    tag: u64,
) -> u64 {
    // SAFETY: forwarded under the same contract.
    unsafe { start_queued(On::Handle(client), provider, json_request, queue, tag, false) }
}

/// `liter_llm_stream()` whose events go to a completion queue, each with `tag`: the chunks in
/// order, then exactly one end (`data` NULL, or an error object); never a chunk after the end.
///
/// Returns the call's id (never 0) for `liter_llm_cancel()`, or 0 (nothing started) when the
/// queue does not exist.
///
/// # Safety
/// As for `liter_llm_invoke_queued()`.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_stream_queued(
    provider: *const c_char,
    json_request: *const c_char,
    queue: u64,
    tag: u64,
) -> u64 {
    // SAFETY: forwarded under the same contract.
    unsafe { start_queued(On::Default, provider, json_request, queue, tag, true) }
}

/// `liter_llm_stream_queued()` on the given client.
///
/// # Safety
/// As for `liter_llm_invoke_queued()`.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_client_stream_queued(
    client: u64,
    provider: *const c_char,
    json_request: *const c_char,
    queue: u64,
    tag: u64,
) -> u64 {
    // SAFETY: forwarded under the same contract.
    unsafe { start_queued(On::Handle(client), provider, json_request, queue, tag, true) }
}

/// Cancels an asynchronous call or stream, whatever its client: its upstream request is
/// dropped (closing the connection) and its callback, or its completion queue, receives an error
/// of kind `cancelled`.
///
/// Returns 1 when the call was still running and is now cancelled, 0 when it had already
/// finished (its callback has fired or is firing with the real result) or the id is unknown.
/// Safe to call from any thread, any number of times.
#[no_mangle]
pub extern "C" fn liter_llm_cancel(call_id: u64) -> i32 {
    boundary(
        || 0,
        || {
            #[cfg(feature = "test-panic")]
            if call_id == u64::MAX {
                panic!("a panic on purpose (test-panic build)");
            }
            let Some(call) = take_call(call_id) else {
                return 0;
            };
            call.abort.abort();
            let error = Error::new(ErrorKind::Cancelled, "the call was cancelled by liter_llm_cancel()");
            call.finish(Event::Result(Err(error)));
            1
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Configuration and assembly.

/// Replaces the default client's configuration: the JSON form of `liter-llm.toml` (`defaults`,
/// `pool`, `providers`, `routes`, `prices`; see `docs/configuration.md`). It applies to every
/// later call on the default client (the functions without `client_` in their name) from every
/// thread and every binding loaded in the process; clients made by `liter_llm_client_new()`
/// keep their own. Without a call to this function, the default client's configuration comes
/// from the file named by `LITER_LLM_CONFIG`, else from `liter-llm.toml` in the working
/// directory when it exists.
///
/// - `json_config`: NUL-terminated UTF-8 JSON, borrowed for the duration of the call.
/// - `out_len`: as for `liter_llm_invoke()`.
///
/// Returns `{"ok": true}`, or an error object (`invalid_request`, naming the offending key) and
/// leaves the configuration unchanged. Release the result with `liter_llm_free()`. Returns NULL
/// only when `out_len` is NULL.
///
/// # Safety
/// `json_config` must be NULL or point to a NUL-terminated string valid during the call;
/// `out_len` must be NULL or point to writable memory for one `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_configure(json_config: *const c_char, out_len: *mut i32) -> *mut c_char {
    // SAFETY: the caller guarantees `out_len` is NULL or writable.
    let Some(out_len) = (unsafe { out_len.as_mut() }) else {
        return std::ptr::null_mut();
    };
    buffer_boundary(out_len, || {
        // SAFETY: the caller guarantees a NULL or valid C string.
        let json = unsafe { require_str(json_config, "json_config", "a JSON object") }?;
        panic_on_purpose(Some(json));
        liter_llm_core::configure(json.as_bytes()).map(|()| br#"{"ok":true}"#.to_vec())
    })
}

/// Assembles the chunks of a stream into one `chat.completion` (content and tool-call
/// arguments concatenated, the last finish reason, the usage), like LiteLLM's
/// `stream_chunk_builder`.
///
/// - `json_chunks`: NUL-terminated UTF-8, a JSON array of the chunk objects in order, borrowed
///   for the call.
/// - `out_len`: as for `liter_llm_invoke()`.
///
/// Returns the completion JSON or an error object; release it with `liter_llm_free()`. NULL
/// only when `out_len` is NULL.
///
/// # Safety
/// `json_chunks` must be NULL or a NUL-terminated string valid during the call; `out_len` NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_stream_assemble(json_chunks: *const c_char, out_len: *mut i32) -> *mut c_char {
    // SAFETY: the caller guarantees `out_len` is NULL or writable.
    let Some(out_len) = (unsafe { out_len.as_mut() }) else {
        return std::ptr::null_mut();
    };
    buffer_boundary(out_len, || {
        // SAFETY: the caller guarantees a NULL or valid C string.
        let json = unsafe { require_str(json_chunks, "json_chunks", "a JSON array") }?;
        panic_on_purpose(Some(json));
        let chunks: Vec<serde_json::Value> = serde_json::from_str(json)
            .map_err(|e| Error::invalid_request(format!("`json_chunks` is not a JSON array: {e}")))?;
        liter_llm_core::stream::assemble(&chunks)
    })
}

/// Sends the spans and metrics that telemetry holds now (docs/telemetry.md), waiting at most
/// `timeout_ms` milliseconds; calls keep working, and keep recording, during and after it. For a
/// host that cannot rely on `liter_llm_shutdown()` at exit, or wants its telemetry out sooner.
///
/// Returns 1 when everything queued was sent (or telemetry is off), 0 when the time ran out
/// first.
#[no_mangle]
pub extern "C" fn liter_llm_telemetry_flush(timeout_ms: u32) -> i32 {
    boundary(
        || 0,
        || i32::from(liter_llm_core::telemetry::flush_all(std::time::Duration::from_millis(u64::from(timeout_ms)))),
    )
}

/// Verifies an audit file (docs/audit.md): each record's hash, and each chain's order.
///
/// - `path`: NUL-terminated UTF-8, the audit file's path, borrowed for the call.
/// - `hmac_key`: NUL-terminated UTF-8, the audit HMAC key the records were written with
///   (`audit.hmac_key`), borrowed for the call; NULL for records written without a key.
/// - `out_len`: as for `liter_llm_invoke()`.
///
/// Returns `{"records": N}` when all N records verify, `{"records": N, "bad_line": L,
/// "reason": "..."}` when line L (1-based) is the first that does not (N records verified
/// before it), or an error object when the file cannot be read. Release the result with
/// `liter_llm_free()`. NULL only when `out_len` is NULL.
///
/// # Safety
/// `path` and `hmac_key` must each be NULL or a NUL-terminated string valid during the call;
/// `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_audit_verify(
    path: *const c_char,
    hmac_key: *const c_char,
    out_len: *mut i32,
) -> *mut c_char {
    // SAFETY: the caller guarantees `out_len` is NULL or writable.
    let Some(out_len) = (unsafe { out_len.as_mut() }) else {
        return std::ptr::null_mut();
    };
    buffer_boundary(out_len, || {
        // SAFETY: the caller guarantees NULL or valid C strings.
        let path = unsafe { require_str(path, "path", "the audit file's path") }?;
        // SAFETY: as above.
        let key = unsafe { read_str(hmac_key, "hmac_key") }?;
        panic_on_purpose(Some(path));
        use liter_llm_core::audit::{verify, VerifyError};
        let answer = match verify(path, key) {
            Ok(records) => serde_json::json!({ "records": records }),
            Err(VerifyError::Bad(bad)) => serde_json::json!({
                "records": bad.verified,
                "bad_line": bad.line,
                "reason": bad.reason,
            }),
            Err(VerifyError::Io(message)) => return Err(Error::invalid_request(message)),
        };
        Ok(answer.to_string().into_bytes())
    })
}

// ---------------------------------------------------------------------------------------------
// Fork.

/// What a child made by `fork()` keeps: its clients (each builds a new connection pool, and the
/// core a new runtime, on first use there; see `liter_llm_core::runtime`). What it drops: the
/// parent's calls in flight (their callbacks never fire in the child, `liter_llm_cancel()` of
/// their ids returns 0) and the parent's delivery queue (results queued but not yet delivered
/// stay the parent's; the child starts its own delivery thread on its first asynchronous call),
/// and the parent's completion queues (their handles do not exist in the child, which closes its
/// copies of both ends of their pipes; make new queues there).
///
/// A lock held by another thread at the moment of the fork stays locked forever in the child,
/// whose copy of that thread does not exist. So the handlers registered with `pthread_atfork`
/// take this crate's tables' locks before the fork (no lock of them is held while waiting for
/// another, so this cannot deadlock) and release them after it, in both processes; the child
/// empties the tables in between, before anything else can run.
#[cfg(unix)]
mod fork {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::ffi::c_int;
    use std::panic::catch_unwind;
    use std::sync::{MutexGuard, Once};

    use super::queue::{forget_in_child, live_queues, QueueTable};
    use super::{live_clients, running_calls, CallTable, ClientTable, Queue, DELIVERING, QUEUE};

    type Handler = Option<unsafe extern "C" fn()>;

    extern "C" {
        fn pthread_atfork(prepare: Handler, parent: Handler, child: Handler) -> c_int;
    }

    /// The locks taken for a fork, by the thread that forks (which is also the child's only
    /// thread), in this order.
    struct Held {
        _clients: MutexGuard<'static, ClientTable>,
        calls: MutexGuard<'static, CallTable>,
        queue: MutexGuard<'static, Option<Queue>>,
        delivering: MutexGuard<'static, usize>,
        queues: MutexGuard<'static, QueueTable>,
    }

    thread_local! {
        static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
    }

    /// Registers the handlers, once per process (a child inherits them).
    pub(super) fn install() {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            // SAFETY: the three handlers are `extern "C"` functions that never unwind.
            // Registration fails only without memory; the library then works as before, but a
            // forked child may hang on its first call.
            let _ = unsafe { pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        });
    }

    extern "C" fn prepare() {
        let _ = catch_unwind(|| {
            let held = Held {
                _clients: live_clients(),
                calls: running_calls(),
                queue: QUEUE.lock().unwrap_or_else(|p| p.into_inner()),
                delivering: DELIVERING.lock().unwrap_or_else(|p| p.into_inner()),
                queues: live_queues(),
            };
            HELD.with(|slot| *slot.borrow_mut() = Some(held));
        });
    }

    extern "C" fn parent() {
        let _ = catch_unwind(|| HELD.with(|slot| drop(slot.borrow_mut().take())));
    }

    extern "C" fn child() {
        let _ = catch_unwind(|| {
            HELD.with(|slot| {
                let Some(mut held) = slot.borrow_mut().take() else {
                    return;
                };
                // Leaked, not dropped: their destructors would reach into the parent's runtime
                // (task handles) and its delivery thread's channel, which this process lacks.
                std::mem::forget(held.calls.take().map(|calls: HashMap<_, _>| calls));
                std::mem::forget(held.queue.take());
                *held.delivering = 0;
                forget_in_child(&mut held.queues);
            });
        });
    }
}

#[cfg(not(unix))]
mod fork {
    /// No `fork()` on this platform.
    pub(super) fn install() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header's kind list is the core's, in order, and each C name spells the kind string.
    #[test]
    fn error_kinds_match_the_core() {
        let header_order = [
            LiterLlmErrorKind::InvalidRequest,
            LiterLlmErrorKind::Authentication,
            LiterLlmErrorKind::PermissionDenied,
            LiterLlmErrorKind::NotFound,
            LiterLlmErrorKind::RateLimited,
            LiterLlmErrorKind::Timeout,
            LiterLlmErrorKind::Connection,
            LiterLlmErrorKind::ProviderUnavailable,
            LiterLlmErrorKind::BadResponse,
            LiterLlmErrorKind::Unsupported,
            LiterLlmErrorKind::Cancelled,
            LiterLlmErrorKind::Internal,
        ];
        let mapped: Vec<LiterLlmErrorKind> = ErrorKind::ALL.iter().map(|k| LiterLlmErrorKind::from(*k)).collect();
        assert_eq!(mapped, header_order);
        let header = include_str!("../../../include/liter_llm.h");
        for kind in ErrorKind::ALL {
            let constant = format!("LITER_LLM_ERROR_KIND_{}", kind.as_str().to_ascii_uppercase());
            assert!(header.contains(&constant), "include/liter_llm.h lacks {constant}: run `make header`");
        }
        let members = header.lines().filter(|l| l.trim_start().starts_with("LITER_LLM_ERROR_KIND_")).count();
        assert_eq!(members, ErrorKind::ALL.len(), "the header's enum lists another number of kinds");
    }

    /// Drains `queue` until every tag in `0..n` has had its last event; returns each tag's
    /// (chunks, last events, last was an error).
    #[cfg(target_os = "linux")]
    fn drain_all(queue: u64, n: usize, streams: bool) -> Vec<(usize, usize, bool)> {
        let mut seen = vec![(0usize, 0usize, false); n];
        let mut open = n;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let (mut tags, mut data, mut lens) = ([0u64; 4], [std::ptr::null_mut::<c_char>(); 4], [0i32; 4]);
        while open > 0 {
            assert!(std::time::Instant::now() < deadline, "{open} calls never ended");
            // SAFETY: each array holds 4 writable elements.
            let got =
                unsafe { liter_llm_queue_drain(queue, tags.as_mut_ptr(), data.as_mut_ptr(), lens.as_mut_ptr(), 4) };
            assert!(got >= 0);
            for ((&tag, &buffer), &len) in tags.iter().zip(&data).zip(&lens).take(got as usize) {
                let entry = &mut seen[tag as usize];
                assert_eq!(entry.1, 0, "an event after the call's last");
                let last = !streams || buffer.is_null() || len < 0;
                if last {
                    *entry = (entry.0, 1, len < 0);
                    open -= 1;
                } else {
                    entry.0 += 1;
                }
                // SAFETY: the buffer is ours (NULL for a stream's end is accepted).
                unsafe { liter_llm_free(buffer) };
            }
            if got == 0 {
                std::thread::yield_now();
            }
        }
        // SAFETY: as above.
        let again = unsafe { liter_llm_queue_drain(queue, tags.as_mut_ptr(), data.as_mut_ptr(), lens.as_mut_ptr(), 4) };
        assert_eq!(again, 0, "events after every last one");
        seen
    }

    /// Cancel racing completion, for calls and streams: each call ends exactly once, and a
    /// stream's chunks never follow its end.
    #[cfg(target_os = "linux")]
    #[test]
    fn queued_calls_end_exactly_once_when_cancel_races_completion() {
        let mut fd = -1;
        // SAFETY: `fd` is writable.
        let queue = unsafe { liter_llm_queue_new(&mut fd) };
        assert!(queue != 0 && fd >= 0);
        for streams in [false, true] {
            let n = 200;
            let request = c"{\"model\": \"mock/demo\", \"prompt\": \"Hi\", \"mock_response\": \"a b c d\"}";
            for tag in 0..n {
                // SAFETY: valid C strings for the call.
                let id = unsafe {
                    if streams {
                        liter_llm_stream_queued(std::ptr::null(), request.as_ptr(), queue, tag as u64)
                    } else {
                        liter_llm_invoke_queued(std::ptr::null(), request.as_ptr(), queue, tag as u64)
                    }
                };
                assert_ne!(id, 0);
                if tag % 2 == 0 {
                    liter_llm_cancel(id);
                }
            }
            let seen = drain_all(queue, n, streams);
            assert!(seen.iter().all(|&(_, last, _)| last == 1));
            // Odd tags were never cancelled: they succeeded.
            assert!(seen.iter().skip(1).step_by(2).all(|&(_, _, error)| !error));
            if streams {
                assert!(seen.iter().skip(1).step_by(2).all(|&(chunks, _, _)| chunks >= 4));
            }
        }
        assert_eq!(liter_llm_queue_free(queue), 1);
        assert_eq!(liter_llm_queue_free(queue), 0);
    }
}
