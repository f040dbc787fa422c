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

mod asynchronous {
    use super::*;
    use liter_llm::{liter_llm_cancel, liter_llm_invoke_async};
    use std::ffi::c_void;
    use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
    use std::time::Duration;

    type Sender = SyncSender<(std::thread::ThreadId, bool, Value)>;

    unsafe extern "C" fn on_done(user_data: *mut c_void, result: *mut c_char, len: i32) {
        // SAFETY: user_data is the Box<Sender> leaked by `start`; reclaimed exactly once here.
        let tx = unsafe { Box::from_raw(user_data.cast::<Sender>()) };
        // SAFETY: result is a NUL-terminated buffer we now own.
        let bytes = unsafe { CStr::from_ptr(result) }.to_bytes().to_vec();
        assert_eq!(bytes.len(), len.unsigned_abs() as usize);
        // SAFETY: freed once.
        unsafe { liter_llm_free(result) };
        let _ = tx.send((std::thread::current().id(), len < 0, serde_json::from_slice(&bytes).unwrap()));
    }

    fn start(provider: Option<&str>, request: &str) -> (u64, Receiver<(std::thread::ThreadId, bool, Value)>) {
        let (tx, rx) = sync_channel(1);
        let user_data = Box::into_raw(Box::new(tx)).cast::<c_void>();
        let provider = provider.map(|p| CString::new(p).unwrap());
        let request = CString::new(request).unwrap();
        // SAFETY: valid strings for the call; the callback is thread-safe.
        let id = unsafe {
            liter_llm_invoke_async(
                provider.as_ref().map_or(ptr::null(), |p| p.as_ptr()),
                request.as_ptr(),
                Some(on_done),
                user_data,
            )
        };
        (id, rx)
    }

    #[test]
    fn delivers_once_off_the_calling_thread() {
        let (id, rx) = start(None, r#"{"model": "mock/m", "prompt": "hi", "mock_response": "yo"}"#);
        assert_ne!(id, 0);
        let (thread, is_err, v) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_ne!(thread, std::thread::current().id());
        assert!(!is_err);
        assert_eq!(v["choices"][0]["message"]["content"], "yo");
        assert_eq!(liter_llm_cancel(id), 0, "a finished call cannot be cancelled");
    }

    #[test]
    fn errors_arrive_through_the_callback() {
        let (_, rx) = start(None, "{");
        let (_, is_err, v) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(is_err);
        assert_eq!(v["error"]["kind"], "invalid_request");
    }

    #[test]
    fn cancel_stops_a_slow_call() {
        // A listener that accepts and never answers: the call can only end by cancellation.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let req = format!(
            r#"{{"model": "gpt", "prompt": "x", "api_key": "sk-test-1", "base_url": "http://127.0.0.1:{port}", "timeout": 30}}"#
        );
        let (id, rx) = start(Some("openai"), &req);
        let (mut conn, _) = listener.accept().unwrap();
        use std::io::Read;
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(conn.read(&mut byte).unwrap(), 1, "the request arrives before cancelling");
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"POST /chat/completions"));
        assert_eq!(liter_llm_cancel(id), 1);
        let (_, is_err, v) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(is_err);
        assert_eq!(v["error"]["kind"], "cancelled");
        assert_eq!(liter_llm_cancel(id), 0);
        // The upstream connection is closed: reading reaches EOF (the body at most comes first).
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).expect("EOF, not a read timeout");
    }

    #[test]
    fn null_callback_does_nothing() {
        let req = CString::new(r#"{"model": "mock/m", "prompt": "x"}"#).unwrap();
        // SAFETY: a NULL callback is documented to return 0.
        let id = unsafe { liter_llm_invoke_async(ptr::null(), req.as_ptr(), None, ptr::null_mut()) };
        assert_eq!(id, 0);
    }
}

mod streams {
    use super::*;
    use liter_llm::{liter_llm_cancel, liter_llm_stream, liter_llm_stream_assemble};
    use std::ffi::c_void;
    use std::sync::mpsc::{channel, Receiver, Sender};
    use std::time::Duration;

    /// (is_error, JSON) per event; None marks the end.
    type Event = Option<(bool, Value)>;

    unsafe extern "C" fn on_event(user_data: *mut c_void, result: *mut c_char, len: i32) {
        // SAFETY: user_data is a Sender leaked by `start`; it is reclaimed on the last event only.
        let tx = unsafe { &*user_data.cast::<Sender<Event>>() };
        if result.is_null() {
            assert_eq!(len, 0);
            let _ = tx.send(None);
            // SAFETY: the end is the last event: reclaim the sender.
            drop(unsafe { Box::from_raw(user_data.cast::<Sender<Event>>()) });
            return;
        }
        // SAFETY: a non-NULL result is a NUL-terminated buffer we own.
        let bytes = unsafe { CStr::from_ptr(result) }.to_bytes().to_vec();
        // SAFETY: freed once.
        unsafe { liter_llm_free(result) };
        let _ = tx.send(Some((len < 0, serde_json::from_slice(&bytes).unwrap())));
        if len < 0 {
            // SAFETY: an error is the last event too.
            drop(unsafe { Box::from_raw(user_data.cast::<Sender<Event>>()) });
        }
    }

    fn start(provider: Option<&str>, request: &str) -> (u64, Receiver<Event>) {
        let (tx, rx) = channel();
        let user_data = Box::into_raw(Box::new(tx)).cast::<c_void>();
        let provider = provider.map(|p| CString::new(p).unwrap());
        let request = CString::new(request).unwrap();
        // SAFETY: valid strings for the call; the callback is thread-safe.
        let id = unsafe {
            liter_llm_stream(
                provider.as_ref().map_or(ptr::null(), |p| p.as_ptr()),
                request.as_ptr(),
                Some(on_event),
                user_data,
            )
        };
        (id, rx)
    }

    fn drain(rx: &Receiver<Event>) -> (Vec<Value>, Option<Value>) {
        let mut chunks = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(10)).expect("the stream ends") {
                None => return (chunks, None),
                Some((true, e)) => return (chunks, Some(e)),
                Some((false, c)) => chunks.push(c),
            }
        }
    }

    #[test]
    fn chunks_then_the_end() {
        let (id, rx) = start(None, r#"{"model": "mock/m", "prompt": "hi", "mock_response": "a b c"}"#);
        assert_ne!(id, 0);
        let (chunks, error) = drain(&rx);
        assert!(error.is_none());
        let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(text, "a b c");
        assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));

        let json = CString::new(Value::Array(chunks).to_string()).unwrap();
        let mut len = 0;
        // SAFETY: valid string and out_len.
        let out = unsafe { liter_llm_stream_assemble(json.as_ptr(), &mut len) };
        // SAFETY: a result buffer, freed once below.
        let whole: Value = serde_json::from_slice(unsafe { CStr::from_ptr(out) }.to_bytes()).unwrap();
        // SAFETY: freed once.
        unsafe { liter_llm_free(out) };
        assert!(len > 0);
        assert_eq!(whole["choices"][0]["message"]["content"], "a b c");
    }

    #[test]
    fn an_invalid_request_ends_with_its_error() {
        let (_, rx) = start(None, "{");
        let (chunks, error) = drain(&rx);
        assert!(chunks.is_empty());
        assert_eq!(error.unwrap()["error"]["kind"], "invalid_request");
    }

    #[test]
    fn cancel_ends_a_stream_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let req = format!(
            r#"{{"model": "gpt", "prompt": "x", "api_key": "sk-test-1", "base_url": "http://127.0.0.1:{port}", "timeout": 30}}"#
        );
        let (id, rx) = start(Some("openai"), &req);
        let (_conn, _) = listener.accept().unwrap();
        assert_eq!(liter_llm_cancel(id), 1);
        let (chunks, error) = drain(&rx);
        assert!(chunks.is_empty());
        assert_eq!(error.unwrap()["error"]["kind"], "cancelled");
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "nothing after the end");
    }

    #[test]
    fn assemble_rejects_what_is_not_chunks() {
        for bad in ["[]", "{", "[1]"] {
            let json = CString::new(bad).unwrap();
            let mut len = 0;
            // SAFETY: valid string and out_len.
            let out = unsafe { liter_llm_stream_assemble(json.as_ptr(), &mut len) };
            assert!(len < 0, "{bad}");
            // SAFETY: freed once.
            unsafe { liter_llm_free(out) };
        }
    }
}
