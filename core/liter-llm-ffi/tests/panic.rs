//! The panic boundary, proven with a build whose exports panic on purpose
//! (`cargo test -p liter-llm-ffi --features test-panic --test panic`): every export returns an
//! `internal` error (or its documented failure value) instead of unwinding into the host.
#![cfg(feature = "test-panic")]

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::mpsc::{channel, Sender};
use std::time::Duration;

use liter_llm::*;
use serde_json::Value;

const PANIC: &str = "__liter_llm_test_panic__";

fn take(out: *mut c_char, len: i32) -> Value {
    assert!(!out.is_null());
    assert!(len < 0, "an error result");
    // SAFETY: a non-NULL result is a NUL-terminated buffer owned by the caller.
    let v = serde_json::from_slice(unsafe { CStr::from_ptr(out) }.to_bytes()).unwrap();
    // SAFETY: freed once.
    unsafe { liter_llm_free(out) };
    v
}

fn assert_internal(v: &Value) {
    assert_eq!(v["error"]["kind"], "internal", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("panicked"), "{v}");
}

unsafe extern "C" fn on_last(user_data: *mut c_void, result: *mut c_char, len: i32) {
    // SAFETY: user_data is a leaked Sender, and this call form has one (last) event.
    let tx = unsafe { Box::from_raw(user_data.cast::<Sender<Value>>()) };
    let _ = tx.send(take(result, len));
}

#[test]
fn every_export_turns_a_panic_into_an_error() {
    let marker = CString::new(PANIC).unwrap();
    let request = CString::new(r#"{"model": "mock/m", "prompt": "x"}"#).unwrap();
    let mut len = 0;
    // SAFETY: valid strings and out-params throughout.
    unsafe {
        assert_internal(&take(liter_llm_invoke(marker.as_ptr(), request.as_ptr(), &mut len), len));
        assert_internal(&take(liter_llm_configure(marker.as_ptr(), &mut len), len));
        assert_internal(&take(liter_llm_stream_assemble(marker.as_ptr(), &mut len), len));
        let mut client = 7u64;
        assert_internal(&take(liter_llm_client_new(ptr::null(), marker.as_ptr(), &mut client, &mut len), len));
        assert_eq!(client, 0);
        let mut client = 0u64;
        take_ok(liter_llm_client_new(c"{}".as_ptr(), ptr::null(), &mut client, &mut len), len);
        assert_internal(&take(liter_llm_client_invoke(client, marker.as_ptr(), request.as_ptr(), &mut len), len));
        for start in [liter_llm_invoke_async, liter_llm_stream] {
            let (tx, rx) = channel::<Value>();
            let id = start(marker.as_ptr(), request.as_ptr(), Some(on_last), Box::into_raw(Box::new(tx)).cast());
            assert_ne!(id, 0);
            assert_internal(&rx.recv_timeout(Duration::from_secs(10)).unwrap());
        }
        let (tx, rx) = channel::<Value>();
        let user_data = Box::into_raw(Box::new(tx)).cast();
        liter_llm_client_stream(client, marker.as_ptr(), request.as_ptr(), Some(on_last), user_data);
        assert_internal(&rx.recv_timeout(Duration::from_secs(10)).unwrap());
        assert_eq!(liter_llm_cancel(u64::MAX), 0);
        assert_eq!(liter_llm_client_free(u64::MAX), 0);
        // The library still works after every one of those panics.
        assert_eq!(liter_llm_client_free(client), 1);
        let out = liter_llm_invoke(ptr::null(), request.as_ptr(), &mut len);
        take_ok(out, len);
    }
}

fn take_ok(out: *mut c_char, len: i32) {
    assert!(!out.is_null() && len > 0, "a successful result");
    // SAFETY: freed once.
    unsafe { liter_llm_free(out) };
}
