//! The C ABI of liter-llm: JSON bytes in, JSON bytes out.
//!
//! Every `extern "C"` item of the project lives in this crate. Each export runs behind a panic
//! boundary, validates every pointer it is given, and reports failures in the returned JSON.
//! `include/liter_llm.h` is generated from these doc comments by cbindgen (`make header`).

#![deny(unsafe_op_in_unsafe_fn)]

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once, OnceLock};

use liter_llm_core::{Error, ErrorKind};

/// The version of the C ABI described by this header. `liter_llm_abi_version()` returns the
/// value the loaded library was built with; a binding built for another value must refuse to
/// load the library and ask for a rebuild.
pub const LITER_LLM_ABI_VERSION: u32 = 1;

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

/// Hands a JSON buffer to the caller: `*out_len` is its length, negated for an error.
fn emit(result: Result<Vec<u8>, Error>, out_len: &mut i32) -> *mut c_char {
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
        Ok(c) => {
            *out_len = if is_error { -len } else { len };
            c.into_raw()
        }
        Err(_) => {
            let fallback = Error::internal("the result contained a NUL byte (a bug in liter-llm)").to_json();
            *out_len = -(fallback.len() as i32);
            CString::new(fallback).map_or(std::ptr::null_mut(), CString::into_raw)
        }
    }
}

fn panic_error() -> Error {
    Error::new(ErrorKind::Internal, "liter-llm panicked while handling the call (a bug in liter-llm; please report it)")
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

/// Sends one chat request and waits for its answer.
///
/// - `provider`: NUL-terminated UTF-8 naming the provider (`"openai"`, `"anthropic"`, `"cohere"`,
///   `"mock"`), or NULL / `""` to route by the `provider/` prefix of the request's `model`.
///   Borrowed for the duration of the call.
/// - `json_request`: NUL-terminated UTF-8 JSON, an OpenAI chat-completions request (see
///   `docs/providers.md`). Borrowed for the duration of the call. At most 32 MiB.
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
    if out_len.is_null() {
        return std::ptr::null_mut();
    }
    install_panic_hook();
    let mut len = 0i32;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees both pointers are NULL or valid C strings.
        let result = (|| {
            let provider = unsafe { read_str(provider, "provider") }?;
            let request = unsafe { read_str(json_request, "json_request") }?
                .ok_or_else(|| Error::invalid_request("`json_request` is NULL; pass a JSON request"))?;
            liter_llm_core::invoke_blocking(provider, request.as_bytes())
        })();
        emit(result, &mut len)
    }));
    let ptr = outcome.unwrap_or_else(|_| emit(Err(panic_error()), &mut len));
    // SAFETY: `out_len` is non-NULL and the caller guarantees it is writable.
    unsafe { out_len.write(len) };
    ptr
}

/// Releases a buffer returned by `liter_llm_invoke()`. NULL is accepted and ignored.
///
/// # Safety
/// `ptr` must be NULL or a pointer returned by this library that has not been freed yet.
#[no_mangle]
pub unsafe extern "C" fn liter_llm_free(ptr: *mut c_char) {
    if ptr.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees `ptr` came from `CString::into_raw` in this library and
        // is freed once.
        drop(unsafe { CString::from_raw(ptr) });
    }));
}

/// Receives the result of an asynchronous call (exactly once), or the events of a stream (see
/// `liter_llm_stream()`).
///
/// - `user_data`: the pointer given to `liter_llm_invoke_async()`, untouched.
/// - `result`: NUL-terminated UTF-8 JSON, owned by the callee from now on: release it with
///   `liter_llm_free()` (it may be kept past the callback's return). NULL only for the end of a
///   stream (with `len` 0).
/// - `len`: as `out_len` of `liter_llm_invoke()`: the length, negated when `result` is an error.
///
/// It runs on a liter-llm runtime thread, never on the thread that started the call, and must
/// not block for long: hand the result to your own event loop or queue and return.
pub type LiterLlmCallback = Option<unsafe extern "C" fn(user_data: *mut c_void, result: *mut c_char, len: i32)>;

/// The in-flight asynchronous calls. Whoever removes a call's entry (its task on completion, or
/// `liter_llm_cancel`) delivers its one callback.
struct Calls {
    next_id: AtomicU64,
    running: Mutex<HashMap<u64, Running>>,
}

struct Running {
    abort: tokio::task::AbortHandle,
    delivery: Delivery,
    /// Set once the call's last callback is delivered; held while any callback of the call
    /// runs, so that a stream's chunks never follow its end.
    finished: Arc<Mutex<bool>>,
}

impl Running {
    /// Delivers the call's last callback, after any chunk being delivered right now.
    fn finish(self, outcome: Outcome) {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        *finished = true;
        match outcome {
            Outcome::Response(result) => self.delivery.deliver(result),
            Outcome::StreamEnd(Ok(())) => self.delivery.deliver_end(),
            Outcome::StreamEnd(Err(e)) => self.delivery.deliver(Err(e)),
        }
    }
}

/// How an asynchronous call ends.
enum Outcome {
    Response(Result<Vec<u8>, Error>),
    StreamEnd(Result<(), Error>),
}

fn calls() -> &'static Calls {
    static CALLS: OnceLock<Calls> = OnceLock::new();
    CALLS.get_or_init(|| Calls { next_id: AtomicU64::new(1), running: Mutex::new(HashMap::new()) })
}

fn take_call(id: u64) -> Option<Running> {
    calls().running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id)
}

/// The callback and its user data, moved to the runtime thread that delivers the result.
#[derive(Clone, Copy)]
struct Delivery {
    callback: unsafe extern "C" fn(*mut c_void, *mut c_char, i32),
    user_data: *mut c_void,
}

// SAFETY: the caller of `liter_llm_invoke_async` promises that the callback may be called from
// any thread with this user data; liter-llm never dereferences `user_data`.
unsafe impl Send for Delivery {}

/// Set by `liter_llm_shutdown()`: callbacks are no longer called.
static SHUT_DOWN: AtomicBool = AtomicBool::new(false);
/// Callbacks running right now, so that `liter_llm_shutdown()` can wait for them to return.
static DELIVERING: Mutex<usize> = Mutex::new(0);
static DELIVERED: Condvar = Condvar::new();

impl Delivery {
    fn deliver(self, result: Result<Vec<u8>, Error>) {
        self.call(|| {
            let mut len = 0i32;
            let ptr = emit(result, &mut len);
            (ptr, len)
        });
    }

    /// The end of a stream: `(NULL, 0)`.
    fn deliver_end(self) {
        self.call(|| (std::ptr::null_mut(), 0));
    }

    /// Calls the callback unless `liter_llm_shutdown()` has run, counting it as running.
    fn call(self, make: impl FnOnce() -> (*mut c_char, i32)) {
        {
            let mut running = DELIVERING.lock().unwrap_or_else(|p| p.into_inner());
            if SHUT_DOWN.load(Ordering::SeqCst) {
                return;
            }
            *running += 1;
        }
        let (ptr, len) = make();
        // SAFETY: the callback was non-NULL when the call started; ownership of `ptr` (if not
        // NULL) passes to it, as documented on `LiterLlmCallback`.
        unsafe { (self.callback)(self.user_data, ptr, len) };
        let mut running = DELIVERING.lock().unwrap_or_else(|p| p.into_inner());
        *running -= 1;
        DELIVERED.notify_all();
    }
}

/// Stops all callbacks, for a host that is about to tear down its runtime (Python's interpreter
/// at exit, say): a callback that entered a finalizing interpreter would have its thread killed
/// under liter-llm. From this call on, no callback is called again (results of calls still in
/// flight are dropped and freed); the function then waits, up to `timeout_ms` milliseconds, for
/// callbacks already running to return.
///
/// Returns 1 when no callback is running any more, 0 when the wait timed out. Call it without
/// holding any lock a callback may need (for Python: with the GIL released, as cffi does).
/// Synchronous calls keep working after it.
#[no_mangle]
pub extern "C" fn liter_llm_shutdown(timeout_ms: u32) -> i32 {
    let quiet = catch_unwind(|| {
        let running = DELIVERING.lock().unwrap_or_else(|p| p.into_inner());
        SHUT_DOWN.store(true, Ordering::SeqCst);
        let wait = std::time::Duration::from_millis(u64::from(timeout_ms));
        let (running, _) = DELIVERED.wait_timeout_while(running, wait, |n| *n > 0).unwrap_or_else(|p| p.into_inner());
        *running == 0
    });
    i32::from(quiet.unwrap_or(false))
}

/// Starts a chat request and returns at once; the result arrives through `callback`.
///
/// - `provider`, `json_request`: as for `liter_llm_invoke()`; both are copied before this
///   function returns, so they need only be valid during this call.
/// - `callback`: called exactly once (unless `liter_llm_shutdown()` was called first) with the result (a response, or an error object such as
///   `{"error": {"kind": "cancelled", ...}}` after `liter_llm_cancel()`), from a liter-llm
///   runtime thread. It may run before this function returns, so find your state through
///   `user_data`, not through the returned id.
/// - `user_data`: passed to `callback` unchanged; liter-llm never dereferences it.
///
/// Returns the call's id (never 0), for `liter_llm_cancel()`. Returns 0 and does nothing when
/// `callback` is NULL. No thread is created per call: every call shares the runtime's threads.
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
    unsafe { start(provider, json_request, callback, user_data, false) }
}

/// Starts a streaming chat request and returns at once; its events arrive through `callback`.
///
/// - `provider`, `json_request`: as for `liter_llm_invoke_async()` (`stream` may be absent or
///   `true` in the request).
/// - `callback`: called once per `chat.completion.chunk` (`len > 0`, the chunk's JSON), in
///   order, and then exactly once more to end the stream: with `(NULL, 0)` when it completed,
///   or with an error object (`len < 0`) — after chunks already delivered when the upstream
///   fails mid-stream, or `cancelled` after `liter_llm_cancel()`. Never a chunk after the end.
///   Each call comes from a liter-llm runtime thread, never two at once for one stream.
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
    unsafe { start(provider, json_request, callback, user_data, true) }
}

/// Starts an asynchronous call or stream.
///
/// # Safety
/// As for `liter_llm_invoke_async()`.
unsafe fn start(
    provider: *const c_char,
    json_request: *const c_char,
    callback: LiterLlmCallback,
    user_data: *mut c_void,
    streaming: bool,
) -> u64 {
    let Some(callback) = callback else {
        return 0;
    };
    install_panic_hook();
    let delivery = Delivery { callback, user_data };
    let started = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees both pointers are NULL or valid C strings for this call;
        // they are copied into owned values before returning.
        let inputs = (|| {
            let provider = unsafe { read_str(provider, "provider") }?.map(str::to_owned);
            let request = unsafe { read_str(json_request, "json_request") }?
                .ok_or_else(|| Error::invalid_request("`json_request` is NULL; pass a JSON request"))?
                .as_bytes()
                .to_vec();
            Ok::<_, Error>((provider, request))
        })();
        let runtime = liter_llm_core::runtime();
        let calls = calls();
        let id = calls.next_id.fetch_add(1, Ordering::Relaxed);
        let runtime = match runtime {
            Ok(rt) => rt,
            Err(e) => {
                // No runtime thread exists to deliver on; a plain thread delivers this one error.
                std::thread::spawn(move || delivery.deliver(Err(e)));
                return id;
            }
        };
        let finished = Arc::new(Mutex::new(false));
        let gate = finished.clone();
        // Holding the lock while spawning guarantees the entry exists before the task can
        // look for it.
        let mut running = calls.running.lock().unwrap_or_else(|p| p.into_inner());
        let task = runtime.spawn(async move {
            let outcome = match (inputs, streaming) {
                (Err(e), false) => Outcome::Response(Err(e)),
                (Err(e), true) => Outcome::StreamEnd(Err(e)),
                (Ok((provider, request)), false) => {
                    Outcome::Response(liter_llm_core::invoke(provider.as_deref(), &request).await)
                }
                (Ok((provider, request)), true) => {
                    let mut on_chunk = move |chunk: Vec<u8>| {
                        let finished = gate.lock().unwrap_or_else(|p| p.into_inner());
                        if !*finished {
                            delivery.deliver(Ok(chunk));
                        }
                    };
                    Outcome::StreamEnd(liter_llm_core::stream_call(provider.as_deref(), &request, &mut on_chunk).await)
                }
            };
            if let Some(call) = take_call(id) {
                call.finish(outcome);
            }
        });
        running.insert(id, Running { abort: task.abort_handle(), delivery, finished });
        id
    }));
    started.unwrap_or_else(|_| {
        std::thread::spawn(move || delivery.deliver(Err(panic_error())));
        0
    })
}

/// Cancels an asynchronous call: its upstream request is dropped (closing the connection) and
/// its callback receives an error of kind `cancelled`, from a runtime thread.
///
/// Returns 1 when the call was still running and is now cancelled, 0 when it had already
/// finished (its callback has fired or is firing with the real result) or the id is unknown.
/// Safe to call from any thread, any number of times.
#[no_mangle]
pub extern "C" fn liter_llm_cancel(call_id: u64) -> i32 {
    let cancelled = catch_unwind(|| {
        let Some(call) = take_call(call_id) else {
            return 0;
        };
        call.abort.abort();
        let error = Error::new(ErrorKind::Cancelled, "the call was cancelled by liter_llm_cancel()");
        let outcome = Outcome::Response(Err(error));
        match liter_llm_core::runtime() {
            Ok(runtime) => drop(runtime.spawn(async move { call.finish(outcome) })),
            Err(_) => drop(std::thread::spawn(move || call.finish(outcome))),
        }
        1
    });
    cancelled.unwrap_or(0)
}

/// Replaces the process-wide configuration: the JSON form of `liter-llm.toml` (`defaults`,
/// `pool`, `providers`, `routes`, `prices`; see `docs/configuration.md`). It applies to every
/// later call from every thread and every binding loaded in the process. Without a call to this
/// function, the configuration comes from the file named by `LITER_LLM_CONFIG`, else from
/// `liter-llm.toml` in the working directory when it exists.
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
    if out_len.is_null() {
        return std::ptr::null_mut();
    }
    install_panic_hook();
    let mut len = 0i32;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees a NULL or valid C string.
        let result = unsafe { read_str(json_config, "json_config") }.and_then(|json| {
            let json = json.ok_or_else(|| Error::invalid_request("`json_config` is NULL; pass a JSON object"))?;
            liter_llm_core::configure(json.as_bytes()).map(|()| br#"{"ok":true}"#.to_vec())
        });
        emit(result, &mut len)
    }));
    let ptr = outcome.unwrap_or_else(|_| emit(Err(panic_error()), &mut len));
    // SAFETY: `out_len` is non-NULL and the caller guarantees it is writable.
    unsafe { out_len.write(len) };
    ptr
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
    if out_len.is_null() {
        return std::ptr::null_mut();
    }
    install_panic_hook();
    let mut len = 0i32;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees a NULL or valid C string.
        let result = unsafe { read_str(json_chunks, "json_chunks") }.and_then(|json| {
            let json = json.ok_or_else(|| Error::invalid_request("`json_chunks` is NULL; pass a JSON array"))?;
            let chunks: Vec<serde_json::Value> = serde_json::from_str(json)
                .map_err(|e| Error::invalid_request(format!("`json_chunks` is not a JSON array: {e}")))?;
            liter_llm_core::stream::assemble(&chunks)
        });
        emit(result, &mut len)
    }));
    let ptr = outcome.unwrap_or_else(|_| emit(Err(panic_error()), &mut len));
    // SAFETY: `out_len` is non-NULL and the caller guarantees it is writable.
    unsafe { out_len.write(len) };
    ptr
}
