//! The HTTP client on the call path: hyper 1.x connections of our own, pooled per
//! (scheme, host, port), without the per-request work of a general client (URL to URI
//! conversions, layered timeouts, boxed futures, a task spawned per request to return its
//! connection).
//!
//! - HTTP/1.1 keep-alive: an idle connection is taken out of the pool for one request and put
//!   back by the response body itself when it reaches its end; a response dropped before its end
//!   drops its connection (hyper closes it). At most `pool.max_idle_per_host` idle connections
//!   are kept per key, none longer than `pool.idle_timeout`.
//! - https: rustls with the webpki roots, ALPN `h2` and `http/1.1`. An `h2` connection carries
//!   every concurrent call to its key, and is replaced when it closes. Plain http is HTTP/1.1.
//! - An idle connection is taken only while its socket has nothing to read: the server closing it
//!   (its idle timeout) leaves an end of stream there, and a TLS server's close_notify before it;
//!   anything readable on an idle HTTP/1 connection means it cannot carry another request. The
//!   check is one `recv(MSG_PEEK | MSG_DONTWAIT)`, as urllib3 and httpcore check a pooled socket:
//!   the connection's task may not have run since the server closed it, so hyper may not know
//!   yet (the blocking runtime's tasks run only while some thread is in a call: a script calling
//!   every 10 s meets a server's 5 s keep-alive timeout on every call). A connection idle for
//!   less than `CHECK_IDLE_AFTER` is taken without the check: servers time connections out after
//!   seconds, and a busy caller reuses its connections within microseconds, where the system
//!   call would be a measurable part of the call. A request that hyper hands back unsent because
//!   the connection closed between the checkout and the send is sent once more on a new
//!   connection. A request that was sent is never sent again here: retrying is the driver's
//!   decision.
//! - A URL a proxy applies to (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY, read when the
//!   pool is built, as reqwest reads them) goes through reqwest, which speaks to proxies.
//!
//! A connection is a task of the runtime the call that opened it runs on, and only calls on that
//! runtime take it from the pool (its key names the runtime): a call on another runtime would
//! wake that runtime's thread for every read and write, and would fail once that runtime is
//! gone. Several runtimes sharing one client (a server with a runtime per core) each keep their
//! own connections. See `transport::Pool` for why a pool belongs to one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, HOST, USER_AGENT};
use reqwest::Url;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config;

/// Connecting may take at most this long (less when the call's timeout is shorter: the call's
/// timeout covers the whole exchange).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An idle connection reused after at least this long is checked for the server's close first.
const CHECK_IDLE_AFTER: Duration = Duration::from_millis(1);

/// How long an idle connection is kept when `pool.idle_timeout` is not set (reqwest's default).
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const PROXY_VARIABLES: [&str; 6] = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

type RequestBody = Full<Bytes>;

/// Why an exchange failed, with the innermost error's text (what messages quote).
#[derive(Debug)]
pub(crate) struct HttpError {
    pub(crate) kind: HttpErrorKind,
    pub(crate) cause: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpErrorKind {
    /// No connection could be made (DNS, TCP or TLS).
    Connect,
    /// Connecting took longer than `CONNECT_TIMEOUT`.
    Timeout,
    /// The connection failed while the request was sent or the answer read.
    Exchange,
}

impl HttpError {
    fn new(kind: HttpErrorKind, e: &(dyn std::error::Error + 'static)) -> HttpError {
        HttpError { kind, cause: root_cause(e) }
    }

    fn from_reqwest(e: &reqwest::Error) -> HttpError {
        let kind = if e.is_timeout() {
            HttpErrorKind::Timeout
        } else if e.is_connect() {
            HttpErrorKind::Connect
        } else {
            HttpErrorKind::Exchange
        };
        HttpError::new(kind, e)
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Where a connection goes: requests to the same key share connections.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Key {
    https: bool,
    host: String,
    port: u16,
    /// The runtime whose task the connection is (none outside a runtime).
    runtime: Option<tokio::runtime::Id>,
}

/// One connection pool with its TLS settings; cheap to clone (shared).
#[derive(Clone)]
pub(crate) struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    tls: tokio_rustls::TlsConnector,
    user_agent: HeaderValue,
    max_idle_per_host: usize,
    idle_timeout: Duration,
    /// The proxy rules from the environment, when any proxy variable is set.
    proxy: Option<hyper_util::client::proxy::matcher::Matcher>,
    /// The client for proxied URLs, built on the first one.
    proxied: OnceLock<Result<reqwest::Client, String>>,
    /// `pool.max_idle_per_host` and `pool.idle_timeout`, for the proxied client.
    pool_settings: (Option<usize>, Option<Duration>),
    conns: Mutex<Conns>,
}

#[derive(Default)]
struct Conns {
    idle: HashMap<Key, Vec<Idle>>,
    h2: HashMap<Key, http2::SendRequest<RequestBody>>,
    /// Whether a task closes idle connections past their timeout.
    reaping: bool,
}

struct Idle {
    send: http1::SendRequest<RequestBody>,
    socket: Socket,
    since: Instant,
}

enum Conn {
    H1(http1::SendRequest<RequestBody>, Socket),
    H2(http2::SendRequest<RequestBody>),
}

/// A response whose body is read chunk by chunk; its connection goes back to the pool when the
/// body ends, and closes when the response is dropped before.
pub(crate) struct Response {
    status: u16,
    headers: HeaderMap,
    body: ResponseBody,
}

enum ResponseBody {
    Lean { body: Incoming, returns: Option<Returns> },
    Proxied(reqwest::Response),
}

/// An HTTP/1 connection waiting for its response body to end to go back to its pool.
struct Returns {
    pool: Weak<Inner>,
    key: Key,
    send: http1::SendRequest<RequestBody>,
    socket: Socket,
}

impl Response {
    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub(crate) fn content_length(&self) -> Option<u64> {
        match &self.body {
            ResponseBody::Lean { body, .. } => body.size_hint().exact(),
            ResponseBody::Proxied(response) => response.content_length(),
        }
    }

    /// The next piece of the body, `None` at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        match &mut self.body {
            ResponseBody::Proxied(response) => response.chunk().await.map_err(|e| HttpError::from_reqwest(&e)),
            ResponseBody::Lean { body, returns } => loop {
                let Some(frame) = body.frame().await else {
                    give_back(returns);
                    return Ok(None);
                };
                let frame = frame.map_err(|e| HttpError::new(HttpErrorKind::Exchange, &e))?;
                if let Ok(data) = frame.into_data() {
                    if body.is_end_stream() {
                        give_back(returns);
                    }
                    if !data.is_empty() {
                        return Ok(Some(data));
                    }
                }
            },
        }
    }
}

fn give_back(returns: &mut Option<Returns>) {
    if let Some(Returns { pool, key, send, socket }) = returns.take() {
        if let Some(pool) = pool.upgrade() {
            Inner::put_back(&pool, key, send, socket);
        }
    }
}

impl Client {
    /// A pool with `pool`'s settings, trusting the webpki roots.
    pub(crate) fn new(pool: &config::Pool) -> Result<Client, String> {
        Client::with_roots(pool, rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()))
    }

    fn with_roots(pool: &config::Pool, roots: rustls::RootCertStore) -> Result<Client, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let proxied = PROXY_VARIABLES.iter().any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
        Ok(Client {
            inner: Arc::new(Inner {
                tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
                user_agent: HeaderValue::from_static(concat!("liter-llm/", env!("CARGO_PKG_VERSION"))),
                max_idle_per_host: pool.max_idle_per_host.unwrap_or(usize::MAX),
                idle_timeout: pool.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT),
                proxy: proxied.then(hyper_util::client::proxy::matcher::Matcher::from_env),
                proxied: OnceLock::new(),
                pool_settings: (pool.max_idle_per_host, pool.idle_timeout),
                conns: Mutex::new(Conns::default()),
            }),
        })
    }

    /// POSTs `body` to `url` and returns the answer with its body unread.
    pub(crate) async fn post(&self, url: &Url, headers: HeaderMap, body: Bytes) -> Result<Response, HttpError> {
        if let Some(matcher) = &self.inner.proxy {
            // A URL the rules cannot read goes to reqwest as well, which reads it as it did.
            let uri: Option<http::Uri> = url.as_str().parse().ok();
            if uri.is_none_or(|uri| matcher.intercept(&uri).is_some()) {
                return self.post_proxied(url, headers, body).await;
            }
        }
        let (key, authority) = key_of(url)?;
        let length = HeaderValue::from(body.len());
        let mut request = http::Request::post(url_path(url)).body(Full::new(body)).map_err(|e| HttpError {
            kind: HttpErrorKind::Exchange,
            cause: format!("the URL is not a valid request target: {e}"),
        })?;
        *request.headers_mut() = headers;
        let request_headers = request.headers_mut();
        if !request_headers.contains_key(AUTHORIZATION) {
            if let Some(basic) = url_credentials(url) {
                request_headers.insert(AUTHORIZATION, basic);
            }
        }
        if !request_headers.contains_key(USER_AGENT) {
            request_headers.insert(USER_AGENT, self.inner.user_agent.clone());
        }
        request_headers.insert(CONTENT_LENGTH, length);
        let (conn, reused) = match self.inner.checkout(&key) {
            Some(conn) => (conn, true),
            // Boxed: connecting (TLS state included) is most of this future's size, and a call's
            // future is moved as a whole; most calls reuse a connection.
            None => (Box::pin(self.connect(&key)).await?, false),
        };
        match self.send(conn, &key, &authority, request).await {
            Ok(response) => Ok(response),
            Err((error, Some(request))) if reused => {
                drop(error);
                let conn = Box::pin(self.connect(&key)).await?;
                self.send(conn, &key, &authority, request).await.map_err(|(e, _)| e)
            }
            Err((error, _)) => Err(error),
        }
    }

    /// Sends `request` on `conn`; a request that was not sent comes back with the error.
    async fn send(
        &self,
        conn: Conn,
        key: &Key,
        authority: &str,
        mut request: http::Request<RequestBody>,
    ) -> Result<Response, (HttpError, Option<http::Request<RequestBody>>)> {
        let exchange = |e: hyper::Error| HttpError::new(HttpErrorKind::Exchange, &e);
        let unsent = |mut e: hyper::client::conn::TrySendError<http::Request<RequestBody>>| {
            let request = e.take_message();
            (exchange(e.into_error()), request)
        };
        match conn {
            Conn::H1(mut send, socket) => {
                // HTTP/1: origin-form target and a Host header.
                request.headers_mut().insert(HOST, HeaderValue::from_str(authority).map_err(|e| (bad_host(&e), None))?);
                if let Err(e) = send.ready().await {
                    return Err((exchange(e), Some(request)));
                }
                let response = send.try_send_request(request).await.map_err(unsent)?;
                let returns = Returns { pool: Arc::downgrade(&self.inner), key: key.clone(), send, socket };
                Ok(Response::lean(response, Some(returns)))
            }
            Conn::H2(mut send) => {
                // HTTP/2: the target carries scheme and authority (the :authority pseudo-header).
                let absolute = format!("https://{authority}{}", request.uri());
                *request.uri_mut() = absolute.parse().map_err(|e| (bad_host(&e), None))?;
                if let Err(e) = send.ready().await {
                    return Err((exchange(e), Some(request)));
                }
                let response = send.try_send_request(request).await.map_err(unsent)?;
                Ok(Response::lean(response, None))
            }
        }
    }

    /// Opens a new connection to `key`: TCP, then TLS for https, then the HTTP handshake.
    async fn connect(&self, key: &Key) -> Result<Conn, HttpError> {
        let connect = async {
            let tcp = connect_tcp(&key.host, key.port).await?;
            let socket = Socket::of(&tcp);
            let connect_error = |e: &(dyn std::error::Error + 'static)| HttpError::new(HttpErrorKind::Connect, e);
            if !key.https {
                return handshake_h1(tcp, socket).await.map_err(|e| connect_error(&e));
            }
            let name = match key.host.parse::<std::net::IpAddr>() {
                Ok(ip) => ServerName::IpAddress(ip.into()),
                Err(_) => ServerName::try_from(key.host.clone()).map_err(|e| connect_error(&e))?,
            };
            let tls = self.inner.tls.connect(name, tcp).await.map_err(|e| connect_error(&e))?;
            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                let (send, conn) =
                    http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.map_err(|e| connect_error(&e))?;
                tokio::spawn(conn);
                self.inner.share_h2(key, &send);
                return Ok(Conn::H2(send));
            }
            handshake_h1(tls, socket).await.map_err(|e| connect_error(&e))
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(conn) => conn,
            Err(_) => Err(HttpError {
                kind: HttpErrorKind::Timeout,
                cause: format!("no connection within {}s", CONNECT_TIMEOUT.as_secs()),
            }),
        }
    }

    async fn post_proxied(&self, url: &Url, headers: HeaderMap, body: Bytes) -> Result<Response, HttpError> {
        let client = self.inner.proxied.get_or_init(|| {
            let (max_idle_per_host, idle_timeout) = self.inner.pool_settings;
            build_reqwest(&config::Pool { max_idle_per_host, idle_timeout })
        });
        let client = client.as_ref().map_err(|e| HttpError { kind: HttpErrorKind::Connect, cause: e.clone() })?;
        let response = client
            .post(url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| HttpError::from_reqwest(&e))?;
        Ok(Response {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: ResponseBody::Proxied(response),
        })
    }

    /// The number of idle HTTP/1 connections kept for `url`'s key (for tests).
    #[cfg(test)]
    fn idle_count(&self, url: &Url) -> usize {
        let key = key_of(url).unwrap().0;
        self.inner.conns.lock().unwrap().idle.get(&key).map_or(0, Vec::len)
    }
}

impl Response {
    fn lean(response: hyper::Response<Incoming>, returns: Option<Returns>) -> Response {
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        Response { status, headers: parts.headers, body: ResponseBody::Lean { body, returns } }
    }
}

impl Inner {
    /// A connection for `key`: the shared h2 connection, else the most recently used idle one
    /// that is still open.
    fn checkout(&self, key: &Key) -> Option<Conn> {
        loop {
            let Idle { send, socket, since } = {
                let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(send) = conns.h2.get(key) {
                    if !send.is_closed() {
                        return Some(Conn::H2(send.clone()));
                    }
                    conns.h2.remove(key);
                }
                conns.idle.get_mut(key)?.pop()?
            };
            // Outside the lock: the check is a system call. A closed one is dropped here.
            let idle_for = since.elapsed();
            if !send.is_closed() && idle_for < self.idle_timeout && (idle_for < CHECK_IDLE_AFTER || socket.is_idle()) {
                return Some(Conn::H1(send, socket));
            }
        }
    }

    fn share_h2(&self, key: &Key, send: &http2::SendRequest<RequestBody>) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        match conns.h2.get(key) {
            Some(shared) if !shared.is_closed() => {}
            _ => {
                conns.h2.insert(key.clone(), send.clone());
            }
        }
    }

    fn put_back(self: &Arc<Inner>, key: Key, send: http1::SendRequest<RequestBody>, socket: Socket) {
        if send.is_closed() {
            return;
        }
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let idle = conns.idle.entry(key).or_default();
        if idle.len() >= self.max_idle_per_host {
            return;
        }
        idle.push(Idle { send, socket, since: Instant::now() });
        if !conns.reaping {
            conns.reaping = true;
            tokio::spawn(reap(Arc::downgrade(self), self.idle_timeout));
        }
    }

    /// Drops idle connections past their timeout; true while some are left.
    fn reap(&self) -> bool {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let timeout = self.idle_timeout;
        conns.idle.retain(|_, idle| {
            idle.retain(|c| !c.send.is_closed() && c.since.elapsed() < timeout);
            !idle.is_empty()
        });
        conns.h2.retain(|_, send| !send.is_closed());
        conns.reaping = !conns.idle.is_empty();
        conns.reaping
    }
}

/// Closes idle connections once they pass `timeout`, while the pool lives and has any.
async fn reap(pool: Weak<Inner>, timeout: Duration) {
    loop {
        tokio::time::sleep(timeout.max(Duration::from_millis(100))).await;
        match pool.upgrade() {
            Some(pool) if pool.reap() => {}
            _ => return,
        }
    }
}

async fn handshake_h1<S>(io: S, socket: Socket) -> Result<Conn, hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn);
    Ok(Conn::H1(send, socket))
}

/// The TCP socket under an HTTP/1 connection, for the idle check. The connection's task owns the
/// socket; this is its number only, asked about while the pool holds the connection's sender (so
/// the task, and the socket with it, lives unless it has just ended on its own).
#[derive(Clone, Copy)]
struct Socket {
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

impl Socket {
    fn of(tcp: &TcpStream) -> Socket {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd as _;
            Socket { fd: tcp.as_raw_fd() }
        }
        #[cfg(not(unix))]
        {
            let _ = tcp;
            Socket {}
        }
    }

    /// Whether the socket has nothing to read and no end of stream: the state of an idle HTTP/1
    /// connection that can carry a request. Anything else (bytes, the peer's FIN, an error)
    /// means it cannot.
    #[cfg(unix)]
    #[expect(unsafe_code, reason = "one recv(2) with MSG_PEEK on the connection's socket")]
    fn is_idle(self) -> bool {
        let mut byte = 0u8;
        // SAFETY: the buffer is one valid, writable byte of ours. MSG_PEEK reads nothing out of the
        // socket and MSG_DONTWAIT never blocks. In the instant after the connection's task has
        // ended (its socket closed) the number may name nothing, or something opened since: recv
        // then fails (EBADF, ENOTSOCK) or peeks at it without taking anything, and the answer only
        // decides whether this connection is used or dropped; its sender then reports it closed.
        let read = unsafe { libc::recv(self.fd, (&raw mut byte).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        read < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
    }

    #[cfg(not(unix))]
    fn is_idle(self) -> bool {
        true
    }
}

/// Connects to the first address of `host` that answers.
async fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, HttpError> {
    let connect_error = |e: &std::io::Error| HttpError::new(HttpErrorKind::Connect, e);
    let addrs: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![(ip, port).into()],
        Err(_) => tokio::net::lookup_host((host, port)).await.map_err(|e| connect_error(&e))?.collect(),
    };
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                tcp.set_nodelay(true).map_err(|e| connect_error(&e))?;
                return Ok(tcp);
            }
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::other(format!("{host} has no address")));
    Err(connect_error(&e))
}

/// The pool key of `url` and its `host[:port]` as the Host header and `:authority` carry it.
fn key_of(url: &Url) -> Result<(Key, String), HttpError> {
    let https = url.scheme() == "https";
    let Some(shown) = url.host_str() else {
        return Err(HttpError { kind: HttpErrorKind::Connect, cause: "the URL has no host".to_owned() });
    };
    // An IPv6 host is bracketed in URLs and Host headers, bare in addresses and TLS names.
    let host = shown.trim_start_matches('[').trim_end_matches(']').to_owned();
    let authority = match url.port() {
        Some(port) => format!("{shown}:{port}"),
        None => shown.to_owned(),
    };
    let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
    let runtime = tokio::runtime::Handle::try_current().ok().map(|handle| handle.id());
    Ok((Key { https, host, port, runtime }, authority))
}

/// The origin-form target: path and query.
fn url_path(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Credentials in the URL travel as basic auth, never in the request line (as reqwest does).
fn url_credentials(url: &Url) -> Option<HeaderValue> {
    use base64::Engine as _;
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8().ok().map(|s| s.into_owned());
    let user = decode(url.username())?;
    let password = match url.password() {
        Some(p) => Some(decode(p)?),
        None => None,
    };
    if user.is_empty() && password.is_none() {
        return None;
    }
    let plain = format!("{user}:{}", password.unwrap_or_default());
    let mut value =
        HeaderValue::from_str(&format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(plain))).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn bad_host(e: &dyn std::fmt::Display) -> HttpError {
    HttpError { kind: HttpErrorKind::Exchange, cause: format!("the URL's host is not a valid header: {e}") }
}

/// The reqwest client for URLs a proxy applies to, with the pool's settings.
pub(crate) fn build_reqwest(pool: &config::Pool) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("liter-llm/", env!("CARGO_PKG_VERSION")))
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(pool.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT));
    if let Some(n) = pool.max_idle_per_host {
        builder = builder.pool_max_idle_per_host(n);
    }
    builder.build().map_err(|e| format!("could not build the HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// What the test server does with the `request`th request (from 0) on its `conn`th
    /// connection (from 0).
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Act {
        Answer,
        /// Answers, then closes the connection once the test sends `proceed`.
        AnswerAndClose,
        /// Answers, then, once the test sends `proceed`, times the idle connection out with a 408
        /// and leaves it open.
        AnswerThenTimeOut,
        /// Sends the head and 10 bytes of a 100-byte body, then waits for the client to go.
        Partial,
        /// Reads the request and closes the connection without answering.
        Close,
    }

    /// An HTTP/1.1 server on a std thread per connection, scripted by `act`, counting what it
    /// sees: connections accepted and closed by the client, and the request heads. `closed`
    /// reports what an act did to an idle connection after the test's `proceed`.
    struct Server {
        url: Url,
        accepted: Arc<AtomicUsize>,
        ended: Arc<AtomicUsize>,
        heads: Arc<Mutex<Vec<String>>>,
        proceed: std::sync::mpsc::Sender<()>,
        closed: std::sync::mpsc::Receiver<()>,
    }

    fn server(act: fn(usize, usize) -> Act) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/v1/chat?x=1", listener.local_addr().unwrap())).unwrap();
        let (accepted, ended, heads) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::default());
        let (closed_tx, closed) = std::sync::mpsc::channel();
        let (proceed, proceed_rx) = std::sync::mpsc::channel::<()>();
        let proceed_rx = Arc::new(Mutex::new(proceed_rx));
        let (a, e, h): (_, _, Arc<Mutex<Vec<String>>>) = (accepted.clone(), ended.clone(), Arc::clone(&heads));
        std::thread::spawn(move || {
            for (conn, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                a.fetch_add(1, Ordering::SeqCst);
                let (e, h, closed_tx, proceed_rx) = (e.clone(), h.clone(), closed_tx.clone(), proceed_rx.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    for request in 0.. {
                        let mut head = String::new();
                        let mut length = 0;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                e.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                                length = n.trim().parse().unwrap();
                            }
                            if line == "\r\n" {
                                break;
                            }
                            head.push_str(&line);
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        h.lock().unwrap().push(head);
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        match act(conn, request) {
                            Act::Answer => stream.write_all(ok).unwrap(),
                            Act::AnswerAndClose => {
                                stream.write_all(ok).unwrap();
                                proceed_rx.lock().unwrap().recv().unwrap();
                                // Both handles: the socket closes with the last one.
                                drop((stream, reader));
                                closed_tx.send(()).unwrap();
                                return;
                            }
                            Act::AnswerThenTimeOut => {
                                stream.write_all(ok).unwrap();
                                proceed_rx.lock().unwrap().recv().unwrap();
                                stream.write_all(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n").unwrap();
                                closed_tx.send(()).unwrap();
                            }
                            Act::Partial => {
                                stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789").unwrap();
                            }
                            Act::Close => {
                                drop((stream, reader));
                                closed_tx.send(()).unwrap();
                                return;
                            }
                        }
                    }
                });
            }
        });
        Server { url, accepted, ended, heads, proceed, closed }
    }

    fn client(max_idle_per_host: Option<usize>, idle_timeout: Option<Duration>) -> Client {
        Client::new(&config::Pool { max_idle_per_host, idle_timeout }).unwrap()
    }

    /// POSTs and reads the whole body.
    async fn post(client: &Client, url: &Url) -> Result<(u16, Vec<u8>), HttpError> {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let mut response = client.post(url, headers, Bytes::from_static(b"{\"a\":1}")).await?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok((response.status(), body))
    }

    #[tokio::test]
    async fn sequential_calls_share_one_connection() {
        let server = server(|_, _| Act::Answer);
        let client = client(None, None);
        for _ in 0..5 {
            assert_eq!(post(&client, &server.url).await.unwrap(), (200, b"ok".to_vec()));
        }
        assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
        assert_eq!(client.idle_count(&server.url), 1);
        let heads = server.heads.lock().unwrap();
        assert_eq!(heads.len(), 5);
        let head = heads[0].to_ascii_lowercase();
        assert!(head.starts_with("post /v1/chat?x=1 http/1.1\r\n"), "{head}");
        let port = server.url.port().unwrap();
        for header in [format!("host: 127.0.0.1:{port}"), "content-length: 7".into(), "user-agent: liter-llm/".into()] {
            assert!(head.contains(&header), "{header} missing from {head}");
        }
    }

    /// A connection is a task of the runtime that opened it: a call on another runtime opens its
    /// own rather than waking that runtime's thread, and each runtime reuses its own.
    #[test]
    fn each_runtime_keeps_its_own_connections() {
        let server = server(|_, _| Act::Answer);
        let client = client(None, None);
        let runtimes: Vec<_> =
            (0..2).map(|_| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()).collect();
        for _ in 0..3 {
            for runtime in &runtimes {
                assert_eq!(runtime.block_on(post(&client, &server.url)).unwrap(), (200, b"ok".to_vec()));
            }
        }
        assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
        for runtime in &runtimes {
            assert_eq!(runtime.block_on(async { client.idle_count(&server.url) }), 1);
        }
    }

    #[tokio::test]
    async fn url_credentials_travel_as_basic_auth() {
        let server = server(|_, _| Act::Answer);
        let mut url = server.url.clone();
        url.set_username("us%40r").unwrap();
        url.set_password(Some("p%3Aw")).unwrap();
        post(&client(None, None), &url).await.unwrap();
        let head = server.heads.lock().unwrap()[0].clone();
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode("us@r:p:w");
        assert!(head.contains(&format!("authorization: Basic {basic}")), "{head}");
        assert!(head.starts_with("POST /v1/chat?x=1 "), "{head}");
    }

    #[tokio::test]
    async fn a_request_unsent_on_a_closed_idle_connection_goes_on_a_new_one() {
        let server = server(|conn, _| if conn == 0 { Act::AnswerAndClose } else { Act::Answer });
        let client = client(None, None);
        assert_eq!(post(&client, &server.url).await.unwrap(), (200, b"ok".to_vec()));
        // The server closes the pooled connection while this runtime's thread waits here: the
        // connection's task does not run before the next call takes the connection.
        server.proceed.send(()).unwrap();
        server.closed.recv_timeout(Duration::from_secs(10)).unwrap();
        std::thread::sleep(CHECK_IDLE_AFTER * 2);
        assert_eq!(post(&client, &server.url).await.unwrap(), (200, b"ok".to_vec()));
        assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
        assert_eq!(server.heads.lock().unwrap().len(), 2);
    }

    /// Bytes waiting on an idle connection (a server's 408 as it times the connection out) are no
    /// answer to the next request: that request goes on a new connection.
    #[tokio::test]
    async fn an_idle_connection_with_bytes_waiting_is_not_reused() {
        let server = server(|conn, _| if conn == 0 { Act::AnswerThenTimeOut } else { Act::Answer });
        let client = client(None, None);
        assert_eq!(post(&client, &server.url).await.unwrap(), (200, b"ok".to_vec()));
        server.proceed.send(()).unwrap();
        server.closed.recv_timeout(Duration::from_secs(10)).unwrap();
        std::thread::sleep(CHECK_IDLE_AFTER * 2);
        assert_eq!(post(&client, &server.url).await.unwrap(), (200, b"ok".to_vec()));
        assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
        assert_eq!(server.heads.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_sent_request_is_never_sent_again() {
        let server = server(|_, request| if request == 0 { Act::Answer } else { Act::Close });
        let client = client(None, None);
        post(&client, &server.url).await.unwrap();
        let e = post(&client, &server.url).await.unwrap_err();
        assert_eq!(e.kind, HttpErrorKind::Exchange, "{e:?}");
        assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
        assert_eq!(server.heads.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn idle_connections_are_capped_per_host() {
        for (max, kept) in [(Some(1), 1), (Some(0), 0), (None, 3)] {
            let server = server(|_, _| Act::Answer);
            let client = client(max, None);
            let (a, b, c) =
                tokio::join!(post(&client, &server.url), post(&client, &server.url), post(&client, &server.url));
            for answer in [a, b, c] {
                assert_eq!(answer.unwrap().0, 200);
            }
            assert_eq!(server.accepted.load(Ordering::SeqCst), 3);
            assert_eq!(client.idle_count(&server.url), kept, "max_idle_per_host {max:?}");
        }
    }

    #[tokio::test]
    async fn idle_connections_close_after_the_idle_timeout() {
        let server = server(|_, _| Act::Answer);
        let client = client(None, Some(Duration::from_millis(100)));
        post(&client, &server.url).await.unwrap();
        assert_eq!(client.idle_count(&server.url), 1);
        for _ in 0..100 {
            if server.ended.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(server.ended.load(Ordering::SeqCst), 1, "the idle connection was not closed");
        assert_eq!(client.idle_count(&server.url), 0);
    }

    #[tokio::test]
    async fn a_response_dropped_mid_body_does_not_return_its_connection() {
        let server = server(|conn, _| if conn == 0 { Act::Partial } else { Act::Answer });
        let client = client(None, None);
        let mut response = client.post(&server.url, HeaderMap::new(), Bytes::new()).await.unwrap();
        assert_eq!(response.chunk().await.unwrap().as_deref(), Some(&b"0123456789"[..]));
        drop(response);
        assert_eq!(client.idle_count(&server.url), 0);
        assert_eq!(post(&client, &server.url).await.unwrap(), (200, b"ok".to_vec()));
        assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
        for _ in 0..100 {
            if server.ended.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(server.ended.load(Ordering::SeqCst), 1, "the abandoned connection was not closed");
    }

    #[tokio::test]
    async fn refused_connections_name_the_cause() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/v1")).unwrap();
        let e = post(&client(None, None), &url).await.unwrap_err();
        assert_eq!(e.kind, HttpErrorKind::Connect);
        assert!(e.cause.contains("Connection refused"), "{}", e.cause);
    }

    const CA: &[u8] = include_bytes!("../tests/tls/ca.der");
    const LEAF: &[u8] = include_bytes!("../tests/tls/leaf.der");
    const LEAF_KEY: &[u8] = include_bytes!("../tests/tls/leaf.key.der");

    /// A TLS server for `localhost` offering `alpn`, answering with the request's version and
    /// target; counts the connections it accepts.
    async fn tls_server(alpn: &'static [u8]) -> (u16, Arc<AtomicUsize>) {
        use hyper::service::service_fn;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(LEAF_KEY.to_vec()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(LEAF.to_vec())], key)
            .unwrap();
        config.alpn_protocols = vec![alpn.to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let answer = service_fn(|req: http::Request<Incoming>| async move {
                        let text = format!("{:?} {}", req.version(), req.uri());
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(text))))
                    });
                    let io = TokioIo::new(tls);
                    if alpn == b"h2" {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, answer)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, answer).await;
                    }
                });
            }
        });
        (port, accepted)
    }

    fn trusting_test_ca() -> Client {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(rustls::pki_types::CertificateDer::from(CA.to_vec())).unwrap();
        Client::with_roots(&config::Pool::default(), roots).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn https_h2_connections_are_shared_by_concurrent_calls() {
        let (port, accepted) = tls_server(b"h2").await;
        let client = trusting_test_ca();
        let url = Url::parse(&format!("https://localhost:{port}/v1/chat")).unwrap();
        let (status, body) = post(&client, &url).await.unwrap();
        assert_eq!(
            (status, String::from_utf8(body).unwrap()),
            (200, format!("HTTP/2.0 https://localhost:{port}/v1/chat"))
        );
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (client, url) = (client.clone(), url.clone());
            set.spawn(async move { post(&client, &url).await.map(|(status, _)| status) });
        }
        while let Some(done) = set.join_next().await {
            assert_eq!(done.unwrap().unwrap(), 200);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        // An IP host: no SNI, the certificate's IP name.
        let url = Url::parse(&format!("https://127.0.0.1:{port}/v1/chat")).unwrap();
        assert_eq!(post(&client, &url).await.unwrap().0, 200);
    }

    #[tokio::test]
    async fn https_without_h2_is_http1_with_keep_alive() {
        let (port, accepted) = tls_server(b"http/1.1").await;
        let client = trusting_test_ca();
        let url = Url::parse(&format!("https://localhost:{port}/v1/chat?q=1")).unwrap();
        for _ in 0..3 {
            let (status, body) = post(&client, &url).await.unwrap();
            assert_eq!((status, String::from_utf8(body).unwrap()), (200, "HTTP/1.1 /v1/chat?q=1".to_owned()));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn untrusted_certificates_fail_to_connect() {
        let (port, _) = tls_server(b"h2").await;
        let url = Url::parse(&format!("https://localhost:{port}/v1/chat")).unwrap();
        let e = post(&client(None, None), &url).await.unwrap_err();
        assert_eq!(e.kind, HttpErrorKind::Connect);
        assert!(e.cause.contains("invalid peer certificate"), "{}", e.cause);
    }
}
