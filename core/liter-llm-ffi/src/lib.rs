//! The C ABI of liter-llm: JSON bytes in, JSON bytes out.
//!
//! Every `extern "C"` item of the project lives in this crate. Each export runs behind a panic
//! boundary, validates every pointer it is given, and reports failures in the returned JSON.
//! `include/liter_llm.h` is generated from these doc comments by cbindgen (`make header`).

#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

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
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
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
