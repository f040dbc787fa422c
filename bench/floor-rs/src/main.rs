//! The floor under a liter-llm call: the same POST of the same JSON to the same upstream, made by
//! a bare reqwest client (the core's reqwest version and features), by a bare hyper 1.x client
//! connection, by the same connection doing the JSON work of any JSON-in, JSON-out LLM client
//! (`hyper-json`: the caller's request and the answer parsed into types, the upstream body
//! written once), and by the core itself (`liter_llm_core::Client`), measured alike.
//!
//!   bench-floor <client> <shape> <concurrency> <seconds> <base_url> <request.json>
//!
//! `client` is `reqwest`, `hyper`, `hyper-json` or `core`; `shape` is `blocking` (that many threads, each
//! making one call at a time and waiting for it) or `async` (that many tasks in flight on a
//! multi-thread runtime). Prints one JSON object: calls made, and per call the process's CPU
//! time (user + system, every thread) and its voluntary and involuntary context switches.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

type Call = Arc<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

/// Calls made since the start, the warm-up's included (for per-call syscall counts).
static CALLS_TOTAL: AtomicU64 = AtomicU64::new(0);

struct Usage {
    cpu_ns: f64,
    voluntary: f64,
    involuntary: f64,
}

fn usage() -> Usage {
    // SAFETY: getrusage fills the struct it is given; a zeroed rusage is a valid value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e9 + t.tv_usec as f64 * 1e3;
    Usage { cpu_ns: tv(u.ru_utime) + tv(u.ru_stime), voluntary: u.ru_nvcsw as f64, involuntary: u.ru_nivcsw as f64 }
}

fn workers() -> usize {
    // As many as the core's shared runtime has.
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8)
}

struct Job {
    url: String,
    /// The URL's path, for a request line in origin form.
    path: String,
    body: Bytes,
    core_request: Vec<u8>,
}

/// One call made by a bare reqwest client; panics on anything but a 200 with a body.
async fn reqwest_call(client: &reqwest::Client, job: &Job) {
    let response = client
        .post(&job.url)
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-bench")
        .body(job.body.clone())
        .send()
        .await
        .expect("the request");
    assert_eq!(response.status(), 200);
    assert!(!response.bytes().await.expect("the body").is_empty());
}

/// A bare hyper HTTP/1 connection to the upstream, its connection task spawned on the current
/// runtime.
async fn hyper_connect(authority: &str) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(authority).await.expect("connecting");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo(stream)).await.expect("the handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

async fn hyper_call(sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>, job: &Job, authority: &str) {
    sender.ready().await.expect("the connection");
    let request = hyper::Request::post(job.path.as_str())
        .header("host", authority)
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-bench")
        .body(Full::new(job.body.clone()))
        .expect("the request");
    let response = sender.send_request(request).await.expect("the response");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.expect("the body").to_bytes();
    assert!(!body.is_empty());
}

/// The caller's request as a JSON-in client must read it: typed, borrowing the caller's bytes
/// (escaped strings are the exception serde makes).
#[derive(serde::Deserialize)]
struct CallerRequest<'a> {
    #[serde(borrow)]
    model: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<Message<'a>>,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    #[serde(borrow)]
    api_key: std::borrow::Cow<'a, str>,
    #[serde(borrow, rename = "base_url")]
    _base_url: std::borrow::Cow<'a, str>,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Message<'a> {
    #[serde(borrow)]
    role: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    content: std::borrow::Cow<'a, str>,
}

/// The body sent upstream, written once from the typed request.
#[derive(serde::Serialize)]
struct UpstreamBody<'r, 'a> {
    model: &'r str,
    messages: &'r [Message<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
}

/// The answer as a client must check it: its shape, the choices and the usage, typed.
#[derive(serde::Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    model: std::borrow::Cow<'a, str>,
    choices: Vec<Choice<'a>>,
    usage: Option<Usage3>,
}

#[derive(serde::Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    message: Message<'a>,
    #[serde(borrow)]
    finish_reason: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct Usage3 {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

/// One call made by bare hyper with the JSON work of any JSON-in, JSON-out LLM client: the
/// caller's request parsed into types, the upstream body and the authorization written from them,
/// the answer parsed into types and checked; the answer's bytes are what the caller gets.
async fn hyper_json_call(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    job: &Job,
    authority: &str,
) -> Bytes {
    let request: CallerRequest = serde_json::from_slice(&job.core_request).expect("the caller's request");
    let body = serde_json::to_vec(&UpstreamBody {
        model: &request.model,
        messages: &request.messages,
        max_tokens: request.max_tokens,
        temperature: request.temperature,
    })
    .expect("the body");
    let authorization = format!("Bearer {}", request.api_key);
    sender.ready().await.expect("the connection");
    let upstream = hyper::Request::post(job.path.as_str())
        .header("host", authority)
        .header("content-type", "application/json")
        .header("authorization", authorization)
        .body(Full::new(Bytes::from(body)))
        .expect("the request");
    let response = sender.send_request(upstream).await.expect("the response");
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.expect("the body").to_bytes();
    let answer: Answer = serde_json::from_slice(&bytes).expect("an OpenAI-shaped answer");
    assert!(!answer.id.is_empty() && !answer.model.is_empty() && !answer.choices.is_empty());
    assert!(answer.choices.iter().all(|c| !c.message.role.is_empty() && c.finish_reason.is_some()));
    let usage = answer.usage.expect("the answer's usage");
    assert_eq!(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    bytes
}

fn core_check(answer: liter_llm_core::Result<Vec<u8>>) {
    match answer {
        Ok(body) => assert!(!body.is_empty()),
        Err(e) => panic!("the core's call failed: {}", e.message),
    }
}

/// Counts the calls made, and those made while measuring.
#[derive(Clone, Default)]
struct Counter {
    counted: Arc<AtomicU64>,
    measuring: Arc<AtomicBool>,
}

impl Counter {
    fn made_one(&self) {
        CALLS_TOTAL.fetch_add(1, Ordering::Relaxed);
        if self.measuring.load(Ordering::Relaxed) {
            self.counted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits out the warm-up, then measures until `end`: the usage before and after.
    fn measure(&self, warmup: Instant, end: Instant) -> (Usage, Usage) {
        std::thread::sleep(warmup.saturating_duration_since(Instant::now()));
        let before = usage();
        self.measuring.store(true, Ordering::Relaxed);
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        self.measuring.store(false, Ordering::Relaxed);
        (before, usage())
    }

    fn counted(&self) -> u64 {
        self.counted.load(Ordering::Relaxed)
    }
}

/// Runs `concurrency` blocking callers until `end`, each with its own `caller()`; the calls made.
fn blocking(
    concurrency: usize,
    warmup: Instant,
    end: Instant,
    caller: impl Fn() -> Box<dyn FnMut() + Send>,
) -> (u64, Usage, Usage) {
    let counter = Counter::default();
    let threads: Vec<_> = (0..concurrency)
        .map(|_| {
            let (mut call, counter) = (caller(), counter.clone());
            std::thread::spawn(move || {
                while Instant::now() < end {
                    call();
                    counter.made_one();
                }
            })
        })
        .collect();
    let (before, after) = counter.measure(warmup, end);
    for t in threads {
        t.join().expect("a caller thread panicked");
    }
    (counter.counted(), before, after)
}

/// Runs `concurrency` tasks on `runtime`, each making calls one after the other, until `end`.
fn asynchronous(
    runtime: &tokio::runtime::Runtime,
    concurrency: usize,
    warmup: Instant,
    end: Instant,
    call: Call,
) -> (u64, Usage, Usage) {
    let counter = Counter::default();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (call, counter) = (call.clone(), counter.clone());
            runtime.spawn(async move {
                while Instant::now() < end {
                    call().await;
                    counter.made_one();
                }
            })
        })
        .collect();
    let (before, after) = counter.measure(warmup, end);
    runtime.block_on(async {
        for t in tasks {
            t.await.expect("a task panicked");
        }
    });
    (counter.counted(), before, after)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!(
            "usage: bench-floor reqwest|hyper|hyper-json|core blocking|async <concurrency> <seconds> <base_url> <request.json>"
        );
        std::process::exit(2);
    }
    let (client, shape) = (args[1].as_str(), args[2].as_str());
    let concurrency: usize = args[3].parse().expect("concurrency");
    let seconds: f64 = args[4].parse().expect("seconds");
    let base = args[5].trim_end_matches('/').to_owned();
    let request = std::fs::read(&args[6]).expect("the request file");
    let mut core_request: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&request).expect("the request is a JSON object");
    core_request.insert("api_key".into(), "sk-bench".into());
    core_request.insert("base_url".into(), base.clone().into());
    let url = format!("{base}/chat/completions");
    let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).expect("an http://host:port/... URL");
    let job = Arc::new(Job {
        url,
        path,
        body: Bytes::from(request),
        core_request: serde_json::to_vec(&core_request).expect("JSON"),
    });
    let authority = job.url.split('/').nth(2).expect("an http://host:port URL").to_owned();

    let start = Instant::now();
    let warmup = start + Duration::from_secs_f64((seconds * 0.25).max(0.2));
    let end = warmup + Duration::from_secs_f64(seconds);
    let (calls, before, after) = match (client, shape) {
        ("reqwest", "blocking") => {
            // Each thread drives its calls itself, on its own runtime, so with its own pool (a
            // connection is a task of the runtime that opened it).
            blocking(concurrency, warmup, end, || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                let http = reqwest::Client::builder().tcp_nodelay(true).build().expect("the client");
                let job = job.clone();
                Box::new(move || runtime.block_on(reqwest_call(&http, &job)))
            })
        }
        ("hyper", "blocking") => blocking(concurrency, warmup, end, || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            let mut sender = runtime.block_on(hyper_connect(&authority));
            let (job, authority) = (job.clone(), authority.clone());
            Box::new(move || runtime.block_on(hyper_call(&mut sender, &job, &authority)))
        }),
        ("hyper-json", "blocking") => blocking(concurrency, warmup, end, || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            let mut sender = runtime.block_on(hyper_connect(&authority));
            let (job, authority) = (job.clone(), authority.clone());
            Box::new(move || assert!(!runtime.block_on(hyper_json_call(&mut sender, &job, &authority)).is_empty()))
        }),
        ("core", "blocking") => {
            let core = liter_llm_core::Client::from_json(b"{}").expect("a client");
            blocking(concurrency, warmup, end, || {
                let (core, job) = (core.clone(), job.clone());
                Box::new(move || core_check(core.invoke_blocking(Some("openai"), &job.core_request)))
            })
        }
        ("reqwest", "async") => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers())
                .enable_all()
                .build()
                .expect("a runtime");
            let http = reqwest::Client::builder().tcp_nodelay(true).build().expect("the client");
            let call: Call = Arc::new(move || {
                let (http, job) = (http.clone(), job.clone());
                Box::pin(async move { reqwest_call(&http, &job).await })
            });
            asynchronous(&runtime, concurrency, warmup, end, call)
        }
        ("hyper", "async") | ("hyper-json", "async") => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers())
                .enable_all()
                .build()
                .expect("a runtime");
            // A pool of the simplest kind: as many connections as tasks, taken and given back.
            let senders: Vec<_> = (0..concurrency).map(|_| runtime.block_on(hyper_connect(&authority))).collect();
            let pool = Arc::new(std::sync::Mutex::new(senders));
            let json = client == "hyper-json";
            let call: Call = Arc::new(move || {
                let (pool, job, authority) = (pool.clone(), job.clone(), authority.clone());
                Box::pin(async move {
                    let mut sender = pool.lock().expect("the pool").pop().expect("a connection");
                    if json {
                        assert!(!hyper_json_call(&mut sender, &job, &authority).await.is_empty());
                    } else {
                        hyper_call(&mut sender, &job, &authority).await;
                    }
                    pool.lock().expect("the pool").push(sender);
                })
            });
            asynchronous(&runtime, concurrency, warmup, end, call)
        }
        ("core", "async") => {
            let core = liter_llm_core::Client::from_json(b"{}").expect("a client");
            let call: Call = Arc::new(move || {
                let (core, job) = (core.clone(), job.clone());
                Box::pin(async move { core_check(core.invoke(Some("openai"), &job.core_request).await) })
            });
            asynchronous(liter_llm_core::runtime().expect("the runtime"), concurrency, warmup, end, call)
        }
        _ => {
            eprintln!("bench-floor: unknown client or shape {client} {shape}");
            std::process::exit(2);
        }
    };
    let n = calls.max(1) as f64;
    println!(
        "{{\"calls\": {calls}, \"seconds\": {seconds}, \"throughput\": {:.1}, \"cpu_ns_per_call\": {:.0}, \"voluntary_cs_per_call\": {:.3}, \"involuntary_cs_per_call\": {:.3}, \"calls_total\": {}}}",
        calls as f64 / seconds,
        (after.cpu_ns - before.cpu_ns) / n,
        (after.voluntary - before.voluntary) / n,
        (after.involuntary - before.involuntary) / n,
        CALLS_TOTAL.load(Ordering::Relaxed),
    );
}

/// tokio's `TcpStream` as hyper's I/O traits (what hyper-util's `TokioIo` does).
struct TokioIo(tokio::net::TcpStream);

impl hyper::rt::Read for TokioIo {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        // SAFETY: the bytes tokio reports as filled are initialised, and are exactly those advanced.
        let filled = unsafe {
            let mut tbuf = tokio::io::ReadBuf::uninit(buf.as_mut());
            match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut self.get_mut().0), cx, &mut tbuf) {
                std::task::Poll::Ready(Ok(())) => tbuf.filled().len(),
                other => return other,
            }
        };
        // SAFETY: `filled` bytes were written by the read above.
        unsafe { buf.advance(filled) };
        std::task::Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for TokioIo {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.get_mut().0), cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.get_mut().0), cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.get_mut().0), cx)
    }
}
