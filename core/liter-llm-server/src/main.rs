//! `liter-llm serve [--config FILE] [--listen ADDR]`: the gateway, an OpenAI-compatible HTTP
//! server on the liter-llm core (docs/gateway.md). `liter-llm hash-key` prints the SHA-256 of
//! the key read from stdin, for `key_sha256`.

mod app;
mod body;
mod metrics;
mod scan;
mod settings;
mod shared;

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use liter_llm_core::config::{self, Config};
use liter_llm_core::limiter::Limiter;
use liter_llm_core::Client;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};

use crate::app::{App, Phase};
use crate::settings::Settings;

const USAGE: &str = "usage: liter-llm serve [--config FILE] [--listen ADDR]
       liter-llm hash-key < key-file
       liter-llm --version";

#[derive(Debug, Default, PartialEq)]
struct ServeOptions {
    config: Option<String>,
    listen: Option<SocketAddr>,
}

#[derive(Debug)]
enum Command {
    Serve(ServeOptions),
    HashKey,
    Version,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("serve") => {}
        Some("hash-key") => return Ok(Command::HashKey),
        Some("--version" | "-V") => return Ok(Command::Version),
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("no command given".to_owned()),
    }
    let mut options = ServeOptions::default();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value =
            |name: &str| inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--config" => options.config = Some(value("--config")?),
            "--listen" => {
                let text = value("--listen")?;
                options.listen = Some(
                    text.parse()
                        .map_err(|_| format!("--listen {text:?} is not an IP:PORT address such as 0.0.0.0:8080"))?,
                );
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Command::Serve(options))
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("liter-llm: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Version => {
            println!("liter-llm {}", liter_llm_core::VERSION);
            ExitCode::SUCCESS
        }
        Command::HashKey => {
            let mut key = String::new();
            if std::io::stdin().read_to_string(&mut key).is_err() {
                eprintln!("liter-llm: stdin is not UTF-8 text");
                return ExitCode::from(2);
            }
            println!("{}", settings::to_hex(&settings::sha256(key.trim_end_matches(['\n', '\r']).as_bytes())));
            ExitCode::SUCCESS
        }
        Command::Serve(options) => {
            // The control loop's runtime (signals, reloads, shutdown); requests are served on the
            // server threads' own runtimes (`ServerThread`).
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("liter-llm: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(options)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("liter-llm: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// What `GET /v1/models` lists: each route, and each model a route or a provider's limits name.
fn models_of(config: &Config) -> Vec<(String, String)> {
    let mut models: Vec<(String, String)> = Vec::new();
    for (name, route) in &config.routes {
        models.push((name.clone(), "liter-llm".to_owned()));
        for m in &route.models {
            let owner = m.split_once('/').map_or("liter-llm", |(p, _)| p);
            models.push((m.clone(), owner.to_owned()));
        }
    }
    for (provider, p) in &config.providers {
        for model in p.models.keys() {
            models.push((format!("{provider}/{model}"), provider.clone()));
        }
    }
    models.sort();
    models.dedup_by(|a, b| a.0 == b.0);
    models
}

/// The configuration file the server reads, and reads again: `--config`, else
/// `LITER_LLM_CONFIG`, else `liter-llm.toml` in the working directory when it exists (as the
/// library finds it); `None`: the defaults.
fn config_path(options: &ServeOptions) -> Option<String> {
    if let Some(path) = &options.config {
        return Some(path.clone());
    }
    match std::env::var("LITER_LLM_CONFIG") {
        Ok(path) if !path.is_empty() => Some(path),
        _ => std::path::Path::new(config::DEFAULT_FILE).exists().then(|| config::DEFAULT_FILE.to_owned()),
    }
}

/// Reads and checks the configuration: the library's part and the `[server]` table.
fn load(path: Option<&str>, addr: Option<SocketAddr>) -> Result<(Config, Settings, SocketAddr), String> {
    let config = match path {
        Some(path) => config::from_file(path).map_err(|e| e.message)?,
        None => Config::default(),
    };
    let settings = Settings::parse(config.server.as_ref())?;
    let addr = match addr {
        Some(addr) => addr,
        None => settings.listen_addr()?,
    };
    if settings.keys.is_empty() && !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {addr} without client keys: add [[server.keys]] or listen on 127.0.0.1"
        ));
    }
    Ok((config, settings, addr))
}

/// Reads the configuration file again. A valid one serves every later request (requests in
/// flight finish with theirs); an invalid one is reported (log, `/metrics`, `/readyz`) and the
/// previous one keeps serving.
fn reload(app: &App, path: &str, running: &Settings, addr: SocketAddr) {
    let outcome = load(Some(path), Some(addr)).and_then(|(config, settings, _)| {
        let models = models_of(&config);
        app.client.reconfigure(config).map_err(|e| e.message)?;
        app.reconfigure(&settings, models)?;
        Ok(settings)
    });
    match outcome {
        Ok(settings) => {
            eprintln!("liter-llm: read {path} again: later requests use it");
            let fixed = running.restart_only_changes(&settings);
            if !fixed.is_empty() {
                eprintln!("liter-llm: server.{} changed: that takes effect at the next start", fixed.join(", server."));
            }
        }
        Err(e) => {
            eprintln!("liter-llm: {path} was not applied, the previous configuration keeps serving: {e}");
            app.refuse_configuration(e);
        }
    }
}

/// What a server thread tells the control loop while it stops.
enum Stopping {
    /// Its listener is closed.
    Accepting,
    /// Its connections ended (true) or the drain deadline passed (false).
    Drained(bool),
}

/// One server thread: a single-threaded runtime accepting on its own listener, serving each
/// connection as a task of that runtime (so a call, its upstream connection and its client's
/// connection wake the same thread).
struct ServerThread {
    runtime: tokio::runtime::Runtime,
    listener: TcpListener,
}

impl ServerThread {
    /// A runtime and its listener on `addr`, which the other threads' listeners share
    /// (SO_REUSEPORT: the kernel spreads connections over them).
    fn bind(addr: SocketAddr) -> Result<ServerThread, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a server runtime: {e}"))?;
        let listener = {
            // The listener belongs to the reactor of the runtime that accepts on it.
            let _entered = runtime.enter();
            let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
            socket
                .and_then(|socket| {
                    socket.set_reuseaddr(true)?;
                    socket.set_reuseport(true)?;
                    socket.bind(addr)?;
                    socket.listen(LISTEN_BACKLOG)
                })
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?
        };
        Ok(ServerThread { runtime, listener })
    }

    /// Runs the thread: accepts until `stop` holds the drain deadline, drains its connections
    /// until then, and keeps its runtime (whose tasks, such as a Redis connection, other threads
    /// may use) running until `release`.
    fn spawn(
        self,
        index: usize,
        app: Arc<App>,
        header_timeout: std::time::Duration,
        stop: watch::Receiver<Option<tokio::time::Instant>>,
        stopping: mpsc::UnboundedSender<Stopping>,
        release: watch::Receiver<bool>,
    ) -> Result<std::thread::JoinHandle<()>, String> {
        let ServerThread { runtime, listener } = self;
        std::thread::Builder::new()
            // Linux keeps 15 bytes of a thread's name: `liter-llm-srv` and up to two digits.
            .name(format!("liter-llm-srv{index}"))
            .spawn(move || {
                runtime.block_on(accept_and_drain(listener, app, header_timeout, stop, stopping, release));
            })
            .map_err(|e| format!("cannot start a server thread: {e}"))
    }
}

/// The accept queue of each listener (tokio's `TcpListener::bind` uses the same).
const LISTEN_BACKLOG: u32 = 1024;

async fn accept_and_drain(
    listener: TcpListener,
    app: Arc<App>,
    header_timeout: std::time::Duration,
    mut stop: watch::Receiver<Option<tokio::time::Instant>>,
    stopping: mpsc::UnboundedSender<Stopping>,
    mut release: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let deadline = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let app = app.clone();
                    let service = service_fn(move |request| app.clone().handle(request));
                    let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                }
                // Out of file descriptors, say: wait a little rather than spin.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            },
            // The control loop gone without a deadline: stop at once.
            deadline = stop.wait_for(Option::is_some) => {
                break deadline.ok().and_then(|d| *d).unwrap_or_else(tokio::time::Instant::now);
            }
        }
    };
    drop(listener);
    let _ = stopping.send(Stopping::Accepting);
    let drained = tokio::time::timeout_at(deadline, graceful.shutdown()).await.is_ok();
    let _ = stopping.send(Stopping::Drained(drained));
    // Dropped now: once every thread has, the control loop stops waiting (also for one that
    // ended early).
    drop(stopping);
    let _ = release.wait_for(|released| *released).await;
}

async fn serve(options: ServeOptions) -> Result<(), String> {
    let path = config_path(&options);
    let (config, settings, addr) = load(path.as_deref(), options.listen)?;
    let models = models_of(&config);
    let store = match &settings.redis {
        Some(redis) => Some(Arc::new(shared::RedisBuckets::new(redis)?)),
        None => None,
    };
    let (provider_limiter, key_limiter) = match (&store, &settings.redis) {
        (Some(store), Some(redis)) => {
            (Limiter::shared(store.clone(), redis.fallback()), Limiter::shared(store.clone(), redis.fallback()))
        }
        _ => (Limiter::default(), Limiter::default()),
    };
    let client = Client::with_limiter(config, provider_limiter).map_err(|e| e.message)?;
    let app = Arc::new(App::new(client, key_limiter, &settings, models, store.clone())?);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| format!("cannot handle SIGHUP: {e}"))?;

    // Every listener is bound before any accepts; port 0 binds the first, and the others join
    // the port it got.
    let first = ServerThread::bind(addr)?;
    let local = first.listener.local_addr().map_err(|e| e.to_string())?;
    let mut servers = vec![first];
    for _ in 1..settings.workers {
        servers.push(ServerThread::bind(local)?);
    }
    let (stop, stop_rx) = watch::channel(None);
    let (release, release_rx) = watch::channel(false);
    let (stopping_tx, mut stopping) = mpsc::unbounded_channel();
    let threads = servers
        .into_iter()
        .enumerate()
        .map(|(index, server)| {
            server.spawn(
                index,
                app.clone(),
                settings.header_timeout,
                stop_rx.clone(),
                stopping_tx.clone(),
                release_rx.clone(),
            )
        })
        .collect::<Result<Vec<_>, String>>()?;
    drop(stopping_tx);
    println!("listening on http://{local}");
    let _ = std::io::stdout().flush();
    if let Some(store) = &store {
        // Starting until Redis answered once (or failed within its timeout: the fallback then
        // applies, and the replica serves). The connection is a task of this runtime, which
        // runs until the server threads have drained; they use it from theirs.
        if let Err(e) = store.ping().await {
            eprintln!("liter-llm: {e}; rate limits use the fallback until Redis answers");
        }
    }
    app.set_phase(Phase::Ready);

    let mut seen = path.as_deref().and_then(|p| std::fs::read(p).ok());
    // A changed file's content, waiting for the next check to read it the same.
    let mut changed: Option<Vec<u8>> = None;
    let mut watch = tokio::time::interval(settings.reload_interval.max(std::time::Duration::from_millis(10)));
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut grace: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        tokio::select! {
            _ = hangup.recv() => match &path {
                Some(path) => {
                    seen = std::fs::read(path).ok();
                    changed = None;
                    reload(&app, path, &settings, addr);
                }
                None => eprintln!("liter-llm: SIGHUP: no configuration file to read again (the defaults serve)"),
            },
            _ = watch.tick(), if path.is_some() && !settings.reload_interval.is_zero() => {
                let path = path.as_deref().expect("guarded");
                // A change is applied once the file reads the same at two checks in a row: a
                // file being written in place (truncated, then filled) is not read half-way.
                let now = std::fs::read(path).ok();
                if now.is_none() || now == seen {
                    changed = None;
                } else if changed == now {
                    seen = changed.take();
                    reload(&app, path, &settings, addr);
                } else {
                    changed = now;
                }
            }
            () = &mut signal, if grace.is_none() => {
                app.set_phase(Phase::Draining);
                eprintln!("liter-llm: shutting down: /readyz answers 503; serving for {:?} more", settings.shutdown_grace);
                grace = Some(Box::pin(tokio::time::sleep(settings.shutdown_grace)));
            }
            () = async { grace.as_mut().expect("guarded").await }, if grace.is_some() => break,
        }
    }
    // One deadline for every thread's connections.
    let _ = stop.send(Some(tokio::time::Instant::now() + settings.drain_timeout));
    let (mut accepting, mut draining, mut drained) = (threads.len(), threads.len(), true);
    // `None`: every thread has dropped its sender, and one ended early (by a panic, say) without
    // saying it drained: its connections are not known to have ended.
    while accepting > 0 {
        match stopping.recv().await {
            Some(Stopping::Accepting) => accepting -= 1,
            Some(Stopping::Drained(ok)) => (draining, drained) = (draining - 1, drained && ok),
            None => (accepting, draining, drained) = (0, 0, false),
        }
    }
    eprintln!("liter-llm: stopped accepting; draining for up to {:?}", settings.drain_timeout);
    while draining > 0 {
        match stopping.recv().await {
            Some(Stopping::Drained(ok)) => (draining, drained) = (draining - 1, drained && ok),
            Some(Stopping::Accepting) => {}
            None => (draining, drained) = (0, false),
        }
    }
    if drained {
        eprintln!("liter-llm: drained");
    } else {
        eprintln!("liter-llm: the drain timeout passed; closing the remaining connections");
    }
    // Only now may the server runtimes end: a task one of them runs (a Redis connection, an
    // upstream connection's reaper) may serve another until every thread has drained.
    let _ = release.send(true);
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Command, String> {
        parse_args(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn arguments() {
        let Ok(Command::Serve(o)) = args("serve --config a.toml --listen=0.0.0.0:9") else { panic!() };
        assert_eq!(o, ServeOptions { config: Some("a.toml".into()), listen: Some("0.0.0.0:9".parse().unwrap()) });
        assert!(args("serve --listen nowhere").unwrap_err().contains("--listen"));
        assert!(args("serve --port 1").unwrap_err().contains("--port"));
        assert!(args("launch").is_err() && args("").is_err());
    }
}
