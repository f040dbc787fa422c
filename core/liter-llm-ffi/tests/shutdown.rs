//! `liter_llm_shutdown`: no callback after it, and it waits for running ones. Its own test
//! binary, because the shutdown is process-wide.

use std::ffi::{c_char, c_void, CString};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use liter_llm::{liter_llm_free, liter_llm_invoke, liter_llm_invoke_async, liter_llm_shutdown};

static FIRED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn on_done(_user_data: *mut c_void, result: *mut c_char, _len: i32) {
    // A slow callback: shutdown must wait for it to return.
    std::thread::sleep(Duration::from_millis(300));
    FIRED.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the result is ours to free, once.
    unsafe { liter_llm_free(result) };
}

#[test]
fn shutdown_waits_for_running_callbacks_then_stops_them() {
    let quick = CString::new(r#"{"model": "mock/m", "prompt": "x"}"#).unwrap();
    // SAFETY: valid strings; the callback is thread-safe.
    unsafe { liter_llm_invoke_async(ptr::null(), quick.as_ptr(), Some(on_done), ptr::null_mut()) };
    std::thread::sleep(Duration::from_millis(100)); // the callback is now running (sleeping)

    // A call still in flight at shutdown: its result must never reach the callback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let slow = CString::new(format!(
        r#"{{"model": "gpt", "prompt": "x", "api_key": "sk-test-1", "base_url": "http://127.0.0.1:{port}", "timeout": 0.5, "max_retries": 0}}"#
    ))
    .unwrap();
    let openai = CString::new("openai").unwrap();
    // SAFETY: as above.
    unsafe { liter_llm_invoke_async(openai.as_ptr(), slow.as_ptr(), Some(on_done), ptr::null_mut()) };

    assert_eq!(liter_llm_shutdown(5_000), 1);
    assert_eq!(FIRED.load(Ordering::SeqCst), 1, "shutdown returned only after the running callback did");
    std::thread::sleep(Duration::from_millis(1_000)); // the slow call times out meanwhile
    assert_eq!(FIRED.load(Ordering::SeqCst), 1, "no callback after shutdown");

    // Synchronous calls keep working.
    let mut len = 0;
    // SAFETY: valid strings and out_len.
    let out = unsafe { liter_llm_invoke(ptr::null(), quick.as_ptr(), &mut len) };
    assert!(len > 0);
    // SAFETY: freed once.
    unsafe { liter_llm_free(out) };
    drop(listener);
}
