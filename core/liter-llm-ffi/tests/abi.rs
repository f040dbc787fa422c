//! The C ABI exercised the way a C caller would, with hostile inputs.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use liter_llm::{liter_llm_abi_version, liter_llm_free, liter_llm_invoke, liter_llm_version, LITER_LLM_ABI_VERSION};
use serde_json::Value;

/// Calls `liter_llm_invoke` and returns (is_error, parsed JSON), freeing the buffer.
fn call(provider: *const c_char, request: *const c_char) -> (bool, Value) {
    let mut len = 0i32;
    // SAFETY: the pointers are NULL or valid C strings owned by the caller for the call.
    let out = unsafe { liter_llm_invoke(provider, request, &mut len) };
    assert!(!out.is_null());
    // SAFETY: a non-NULL result is a NUL-terminated string from the library.
    let bytes = unsafe { CStr::from_ptr(out) }.to_bytes().to_vec();
    assert_eq!(bytes.len(), len.unsigned_abs() as usize, "out_len matches the buffer");
    // SAFETY: `out` came from liter_llm_invoke and is freed once.
    unsafe { liter_llm_free(out) };
    (len < 0, serde_json::from_slice(&bytes).expect("the result is JSON"))
}

fn kind(v: &Value) -> &str {
    v["error"]["kind"].as_str().unwrap()
}

#[test]
fn versions() {
    assert_eq!(liter_llm_abi_version(), LITER_LLM_ABI_VERSION);
    // SAFETY: the version is a static C string.
    let v = unsafe { CStr::from_ptr(liter_llm_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn mock_round_trip() {
    let req = CString::new(r#"{"model": "mock/echo", "prompt": "hi", "mock_response": "hello"}"#).unwrap();
    let (is_err, v) = call(ptr::null(), req.as_ptr());
    assert!(!is_err, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "hello");
    assert_eq!(v["model"], "echo");
}

#[test]
fn null_and_bad_pointers_are_errors() {
    let (is_err, v) = call(ptr::null(), ptr::null());
    assert!(is_err);
    assert_eq!(kind(&v), "invalid_request");
    assert!(v["error"]["message"].as_str().unwrap().contains("NULL"));

    let bad_utf8 = [b'{', 0xff, 0xfe, b'}', 0];
    let (is_err, v) = call(ptr::null(), bad_utf8.as_ptr().cast());
    assert!(is_err);
    assert!(v["error"]["message"].as_str().unwrap().contains("UTF-8"), "{v}");

    let provider_bad = [0xc3u8, 0x28, 0];
    let req = CString::new(r#"{"model": "m", "prompt": "x"}"#).unwrap();
    let (is_err, v) = call(provider_bad.as_ptr().cast(), req.as_ptr());
    assert!(is_err);
    assert!(v["error"]["message"].as_str().unwrap().contains("provider"), "{v}");

    // A NULL out_len: nothing is done and NULL comes back.
    // SAFETY: NULL out_len is documented to be accepted.
    let out = unsafe { liter_llm_invoke(ptr::null(), req.as_ptr(), ptr::null_mut()) };
    assert!(out.is_null());
    // SAFETY: freeing NULL is documented to be a no-op.
    unsafe { liter_llm_free(ptr::null_mut()) };
}

#[test]
fn hostile_json_is_an_error() {
    let deep = CString::new(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))).unwrap();
    let huge = CString::new(format!(r#"{{"model": "mock/x", "prompt": "{}"}}"#, "a".repeat(50 * 1024 * 1024))).unwrap();
    let cases = [
        ("not json", "invalid_request"),
        ("[1, 2]", "invalid_request"),
        (r#"{"model": 1, "prompt": "x"}"#, "invalid_request"),
        (r#"{"model": "nope/x", "prompt": "x"}"#, "unsupported"),
    ];
    for (json, expected) in cases {
        let c = CString::new(json).unwrap();
        let (is_err, v) = call(ptr::null(), c.as_ptr());
        assert!(is_err, "{json}");
        assert_eq!(kind(&v), expected, "{json}");
    }
    for c in [deep, huge] {
        let (is_err, v) = call(ptr::null(), c.as_ptr());
        assert!(is_err);
        assert_eq!(kind(&v), "invalid_request");
    }
}

#[test]
fn concurrent_calls_from_many_threads() {
    let handles: Vec<_> = (0..32)
        .map(|i| {
            std::thread::spawn(move || {
                let req = CString::new(format!(r#"{{"model": "mock/m", "prompt": "thread {i}"}}"#)).unwrap();
                let (is_err, v) = call(ptr::null(), req.as_ptr());
                assert!(!is_err);
                v["id"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let ids: std::collections::HashSet<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(ids.len(), 32, "each distinct prompt has its own deterministic id");
}
