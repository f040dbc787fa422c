//! Explicit clients through the C ABI: separate configurations in one process, freeing with
//! calls in flight, freed handles, and callbacks that are slow to return.

#[path = "../../liter-llm-core/tests/common/mod.rs"]
mod common;

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

use common::{openai_ok, upstream, Session};
use liter_llm::{
    liter_llm_client_free, liter_llm_client_invoke, liter_llm_client_invoke_async, liter_llm_client_new,
    liter_llm_client_stream, liter_llm_free, liter_llm_invoke,
};
use serde_json::{json, Value};

/// Copies a result buffer and frees it: (is_error, JSON).
fn take(out: *mut c_char, len: i32) -> (bool, Value) {
    assert!(!out.is_null());
    // SAFETY: a non-NULL result is a NUL-terminated buffer owned by the caller.
    let bytes = unsafe { CStr::from_ptr(out) }.to_bytes().to_vec();
    // SAFETY: freed once.
    unsafe { liter_llm_free(out) };
    assert_eq!(bytes.len(), len.unsigned_abs() as usize);
    (len < 0, serde_json::from_slice(&bytes).unwrap())
}

fn new_client(config: Option<&str>, file: Option<&str>) -> Result<u64, Value> {
    let config = config.map(|c| CString::new(c).unwrap());
    let file = file.map(|f| CString::new(f).unwrap());
    let (mut handle, mut len) = (0u64, 0i32);
    // SAFETY: valid strings or NULL, writable out-params.
    let out = unsafe {
        liter_llm_client_new(
            config.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            file.as_ref().map_or(ptr::null(), |f| f.as_ptr()),
            &mut handle,
            &mut len,
        )
    };
    match take(out, len) {
        (false, v) => {
            assert_eq!(v["client"], handle);
            assert_ne!(handle, 0);
            Ok(handle)
        }
        (true, e) => {
            assert_eq!(handle, 0);
            Err(e)
        }
    }
}

fn openai_client(session: &Session, key: &str) -> u64 {
    let config = json!({"providers": {"openai": {"api_key": key, "base_url": session.base_url}}});
    new_client(Some(&config.to_string()), None).unwrap()
}

fn invoke(client: u64, request: &Value) -> (bool, Value) {
    let request = CString::new(request.to_string()).unwrap();
    let mut len = 0;
    // SAFETY: valid strings and out_len.
    let out = unsafe { liter_llm_client_invoke(client, ptr::null(), request.as_ptr(), &mut len) };
    take(out, len)
}

/// An OpenAI event stream saying `text`, for a session's script.
fn openai_stream(text: &str) -> Value {
    let chunk = json!({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": "stop"}]});
    let body = format!("data: {chunk}\n\ndata: [DONE]\n\n");
    json!({"status": 200, "headers": {"content-type": "text/event-stream"}, "chunks": [{"data": body}]})
}

fn hello() -> Value {
    json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}], "timeout": 30})
}

type Event = Option<(bool, Value)>;

/// A callback for both call forms: each event goes to the `Sender` behind `user_data`, reclaimed
/// at the last event (a response, an error, or a stream's end).
unsafe extern "C" fn on_event(user_data: *mut c_void, result: *mut c_char, len: i32) {
    // SAFETY: user_data is a leaked Box<Sender<Event>> until its last event.
    let tx = unsafe { &*user_data.cast::<(Sender<Event>, bool)>() };
    let last = result.is_null() || len < 0 || !tx.1;
    let event = (!result.is_null()).then(|| take(result, len));
    let _ = tx.0.send(event);
    if last {
        // SAFETY: the last event: nothing uses user_data after it.
        drop(unsafe { Box::from_raw(user_data.cast::<(Sender<Event>, bool)>()) });
    }
}

fn start(client: u64, request: &Value, streaming: bool) -> (u64, Receiver<Event>) {
    let (tx, rx) = channel();
    let user_data = Box::into_raw(Box::new((tx, streaming))).cast::<c_void>();
    let request = CString::new(request.to_string()).unwrap();
    // SAFETY: valid strings for the call; the callback is thread-safe.
    let id = unsafe {
        if streaming {
            liter_llm_client_stream(client, ptr::null(), request.as_ptr(), Some(on_event), user_data)
        } else {
            liter_llm_client_invoke_async(client, ptr::null(), request.as_ptr(), Some(on_event), user_data)
        }
    };
    assert_ne!(id, 0);
    (id, rx)
}

/// The last event of a call: its result, or a stream's end (`None`) or error.
fn last_event(rx: &Receiver<Event>) -> Event {
    loop {
        match rx.recv_timeout(Duration::from_secs(20)).expect("the call ends") {
            Some((false, v)) if v["object"] == "chat.completion.chunk" => continue,
            other => return other,
        }
    }
}

/// Waits until the session's journal holds `n` requests, every one settled unless `pending_ok`.
fn journal(session: &Session, n: usize, pending_ok: bool) -> Vec<Value> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let requests = session.requests();
        let settled = requests.iter().all(|r| r["outcome"] != "pending");
        if requests.len() >= n && (pending_ok || settled) {
            return requests;
        }
        assert!(Instant::now() < until, "the journal never held {n} requests: {requests:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_clients_keep_their_own_keys_and_upstreams() {
    let a = upstream().session(json!([{"status": 200, "json": openai_ok("from a")}]), true);
    let b = upstream().session(json!([{"status": 200, "json": openai_ok("from b")}]), true);
    let (client_a, client_b) = (openai_client(&a, "sk-test-client-a"), openai_client(&b, "sk-test-client-b"));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let (client, expected) = if i % 2 == 0 { (client_a, "from a") } else { (client_b, "from b") };
                    let (is_error, v) = invoke(client, &hello());
                    assert!(!is_error, "{v}");
                    assert_eq!(v["choices"][0]["message"]["content"], expected);
                }
            })
        })
        .collect();
    let streamed_a = upstream().session(json!([openai_stream("a")]), false);
    let streamed_b = upstream().session(json!([openai_stream("b")]), false);
    let streaming = |session: &Session| {
        let mut request = hello();
        request["base_url"] = session.base_url.clone().into();
        request
    };
    let (tx_a, rx_a) = start(client_a, &hello(), false);
    let (tx_b, rx_b) = start(client_b, &streaming(&streamed_b), true);
    let (tx_c, rx_c) = start(client_a, &streaming(&streamed_a), true);
    for t in threads {
        t.join().unwrap();
    }
    assert!(matches!(last_event(&rx_a), Some((false, _))), "{tx_a}");
    assert_eq!(last_event(&rx_b), None, "{tx_b}");
    assert_eq!(last_event(&rx_c), None, "{tx_c}");
    for (session, key, n) in [
        (&a, "sk-test-client-a", 21),
        (&b, "sk-test-client-b", 20),
        (&streamed_a, "sk-test-client-a", 1),
        (&streamed_b, "sk-test-client-b", 1),
    ] {
        let requests = journal(session, n, false);
        assert_eq!(requests.len(), n, "20 blocking calls each, an async call on a, a stream each");
        for r in &requests {
            assert_eq!(r["headers"]["authorization"], format!("Bearer {key}"));
            assert_eq!(r["path"], "/chat/completions");
        }
    }
    assert_eq!(liter_llm_client_free(client_a), 1);
    assert_eq!(liter_llm_client_free(client_b), 1);
}

#[test]
fn freeing_a_client_cancels_its_calls_and_the_handle_stays_dead() {
    let mut slow = openai_stream("late");
    slow["delay_ms"] = 15000.into();
    let session = upstream().session(json!([slow]), true);
    let client = openai_client(&session, "sk-test-free");
    let (_, async_rx) = start(client, &hello(), false);
    let (_, stream_rx) = start(client, &hello(), true);
    let blocking = std::thread::spawn(move || invoke(client, &hello()));
    journal(&session, 3, true);
    let freed_at = Instant::now();
    assert_eq!(liter_llm_client_free(client), 1);
    for event in [last_event(&async_rx), last_event(&stream_rx), Some(blocking.join().unwrap())] {
        let (is_error, e) = event.expect("an error, not a stream's end");
        assert!(is_error);
        assert_eq!(e["error"]["kind"], "cancelled", "{e}");
        assert!(e["error"]["message"].as_str().unwrap().contains("client was closed"), "{e}");
    }
    assert!(freed_at.elapsed() < Duration::from_secs(10), "the calls ended on free, not after the upstream's delay");
    for r in journal(&session, 3, false) {
        assert_eq!(r["outcome"], "client_closed", "{r}");
    }

    assert_eq!(liter_llm_client_free(client), 0, "freeing twice is harmless");
    assert_eq!(liter_llm_client_free(0), 0);
    let (is_error, e) = invoke(client, &hello());
    assert!(is_error);
    assert_eq!(e["error"]["kind"], "invalid_request");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("client {client} does not exist or was freed")), "{message}");
    let (_, rx) = start(client, &hello(), true);
    assert_eq!(last_event(&rx).unwrap().1["error"]["kind"], "invalid_request");
    let (is_error, e) = invoke(0, &hello());
    assert!(is_error && e["error"]["kind"] == "invalid_request");

    // The default client is untouched.
    let request = CString::new(r#"{"model": "mock/m", "prompt": "x"}"#).unwrap();
    let mut len = 0;
    // SAFETY: valid strings and out_len.
    let (is_error, _) = take(unsafe { liter_llm_invoke(ptr::null(), request.as_ptr(), &mut len) }, len);
    assert!(!is_error);
}

#[test]
fn configuration_errors_and_files() {
    let e = new_client(Some(r#"{"defaults": {"retries": 1}}"#), None).unwrap_err();
    assert_eq!(e["error"]["kind"], "invalid_request");
    assert!(e["error"]["message"].as_str().unwrap().contains("retries"), "{e}");
    let e = new_client(Some("{}"), Some("liter-llm.toml")).unwrap_err();
    assert!(e["error"]["message"].as_str().unwrap().contains("not both"), "{e}");
    let e = new_client(None, Some("/nonexistent/liter-llm.toml")).unwrap_err();
    assert!(e["error"]["message"].as_str().unwrap().contains("/nonexistent/liter-llm.toml"), "{e}");

    let session = upstream().session(json!([{"status": 200, "json": openai_ok("from the file")}]), true);
    let path = std::env::temp_dir().join(format!("liter-llm-client-{}.toml", std::process::id()));
    std::env::set_var("LITER_LLM_TEST_FILE_KEY", "sk-test-from-file");
    let toml = format!(
        "[providers.openai]\napi_key = \"${{LITER_LLM_TEST_FILE_KEY}}\"\nbase_url = \"{}\"\n",
        session.base_url
    );
    std::fs::write(&path, toml).unwrap();
    let client = new_client(None, Some(path.to_str().unwrap())).unwrap();
    std::fs::remove_file(&path).unwrap();
    let (is_error, v) = invoke(client, &hello());
    assert!(!is_error, "{v}");
    assert_eq!(session.requests()[0]["headers"]["authorization"], "Bearer sk-test-from-file");
    assert_eq!(liter_llm_client_free(client), 1);
}

/// Callbacks that block hold up other callbacks, but not other calls' network I/O: more
/// callbacks block than the runtime has worker threads, and other calls still complete upstream.
#[test]
fn blocked_callbacks_do_not_stall_other_calls() {
    static GATE: (std::sync::Mutex<bool>, std::sync::Condvar) =
        (std::sync::Mutex::new(false), std::sync::Condvar::new());
    unsafe extern "C" fn blocks(user_data: *mut c_void, result: *mut c_char, len: i32) {
        take(result, len);
        let (open, opened) = &GATE;
        let guard = open.lock().unwrap();
        let (_guard, wait) = opened.wait_timeout_while(guard, Duration::from_secs(30), |open| !*open).unwrap();
        assert!(!wait.timed_out(), "the test opens the gate");
        // SAFETY: user_data is a leaked Sender<()>, used once.
        let done = unsafe { Box::from_raw(user_data.cast::<Sender<()>>()) };
        let _ = done.send(());
    }
    const BLOCKED: usize = 9; // more than the runtime's at most 8 workers
    let (blocked_tx, blocked_rx) = channel::<()>();
    let mock = CString::new(r#"{"model": "mock/m", "prompt": "x"}"#).unwrap();
    for _ in 0..BLOCKED {
        let user_data = Box::into_raw(Box::new(blocked_tx.clone())).cast();
        // SAFETY: valid strings; the callback is thread-safe.
        let id = unsafe { liter_llm::liter_llm_invoke_async(ptr::null(), mock.as_ptr(), Some(blocks), user_data) };
        assert_ne!(id, 0);
    }

    let session = upstream().session(json!([{"status": 200, "json": openai_ok("fine")}]), true);
    let client = openai_client(&session, "sk-test-blocked");
    let others: Vec<_> = (0..4).map(|_| start(client, &hello(), false).1).collect();
    // Every other call reaches the upstream and is answered in full while the callbacks block.
    let requests = journal(&session, 4, false);
    assert_eq!(requests.len(), 4);
    assert!(requests.iter().all(|r| r["outcome"] == "completed"), "{requests:?}");
    assert!(blocked_rx.try_recv().is_err(), "the blocking callbacks have not returned");
    *GATE.0.lock().unwrap() = true;
    GATE.1.notify_all();
    for _ in 0..BLOCKED {
        blocked_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    for rx in &others {
        let last = last_event(rx);
        assert!(matches!(last, Some((false, _))), "{last:?}");
    }
    assert_eq!(liter_llm_client_free(client), 1);
}

/// An interruptible blocking call asks its check on the calling thread and stops when told.
#[test]
fn an_interrupted_blocking_call_ends_cancelled_and_closes_the_connection() {
    struct Asked {
        thread: std::thread::ThreadId,
        count: u32,
    }
    unsafe extern "C" fn third_time(user_data: *mut c_void) -> i32 {
        // SAFETY: user_data points to the test's `Asked`, alive for the call.
        let asked = unsafe { &mut *user_data.cast::<Asked>() };
        assert_eq!(asked.thread, std::thread::current().id(), "asked on the calling thread");
        asked.count += 1;
        i32::from(asked.count == 3)
    }
    let slow = json!({"status": 200, "delay_ms": 15000, "json": openai_ok("late")});
    let session = upstream().session(json!([slow]), true);
    let client = openai_client(&session, "sk-test-interrupt");
    for on_client in [true, false] {
        let mut request = hello();
        request["api_key"] = "sk-test-interrupt".into();
        request["base_url"] = session.base_url.clone().into();
        let request = CString::new(request.to_string()).unwrap();
        let mut asked = Asked { thread: std::thread::current().id(), count: 0 };
        let user_data = (&mut asked as *mut Asked).cast::<c_void>();
        let mut len = 0;
        // SAFETY: valid strings, out_len, and a check valid on this thread for the call.
        let out = unsafe {
            if on_client {
                liter_llm::liter_llm_client_invoke_interruptible(
                    client,
                    ptr::null(),
                    request.as_ptr(),
                    Some(third_time),
                    user_data,
                    &mut len,
                )
            } else {
                liter_llm::liter_llm_invoke_interruptible(
                    ptr::null(),
                    request.as_ptr(),
                    Some(third_time),
                    user_data,
                    &mut len,
                )
            }
        };
        let (is_error, e) = take(out, len);
        assert!(is_error);
        assert_eq!(e["error"]["kind"], "cancelled", "{e}");
        assert_eq!(asked.count, 3);
    }
    for r in journal(&session, 2, false) {
        assert_eq!(r["outcome"], "client_closed", "{r}");
    }
    assert_eq!(liter_llm_client_free(client), 1);
}
