//! `liter-llm-mock-upstream [--addr 127.0.0.1:0] [--exit-on-stdin-eof] [--max-lifetime-secs 3600]`
//!
//! Binds a loopback address, prints `listening on http://ADDR` as its only line on stdout, and
//! serves until killed, until stdin closes (with `--exit-on-stdin-eof`, so a runner that dies
//! takes the server with it), or until the maximum lifetime passes.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const USAGE: &str =
    "usage: liter-llm-mock-upstream [--addr 127.0.0.1:0] [--exit-on-stdin-eof] [--max-lifetime-secs 3600]";

#[derive(Debug, PartialEq)]
struct Options {
    addr: SocketAddr,
    exit_on_stdin_eof: bool,
    max_lifetime: Duration,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        exit_on_stdin_eof: false,
        max_lifetime: Duration::from_secs(3600),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value =
            |name: &str| inline_value.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--addr" => {
                let text = value("--addr")?;
                let addr: SocketAddr = text
                    .parse()
                    .map_err(|_| format!("--addr {text:?} is not an IP:PORT address such as 127.0.0.1:0"))?;
                if !addr.ip().is_loopback() {
                    return Err(format!(
                        "--addr {addr} is not a loopback address; the mock only serves 127.0.0.1 or ::1"
                    ));
                }
                options.addr = addr;
            }
            "--exit-on-stdin-eof" if inline_value.is_none() => options.exit_on_stdin_eof = true,
            "--max-lifetime-secs" => {
                let text = value("--max-lifetime-secs")?;
                let secs: u64 = text
                    .parse()
                    .ok()
                    .filter(|secs| *secs > 0)
                    .ok_or_else(|| format!("--max-lifetime-secs {text:?} is not a positive whole number"))?;
                options.max_lifetime = Duration::from_secs(secs);
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(options)
}

/// Resolves when stdin reaches end of file (or fails). A plain thread does the blocking read:
/// tokio's stdin would hold up runtime shutdown until the read returned.
fn stdin_closed() -> oneshot::Receiver<()> {
    let (sender, receiver) = oneshot::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buffer = [0u8; 1024];
        while matches!(stdin.read(&mut buffer), Ok(n) if n > 0) {}
        let _ = sender.send(());
    });
    receiver
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("liter-llm-mock-upstream: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(options.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("liter-llm-mock-upstream: cannot bind {}: {error}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    let local_addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("liter-llm-mock-upstream: cannot read the bound address: {error}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "listening on http://{local_addr}").and_then(|()| stdout.flush()).is_err() {
            return ExitCode::FAILURE;
        }
    }

    // Small SSE chunks must leave as they are written, not wait for Nagle's algorithm.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let server = axum::serve(listener, liter_llm_mock_upstream::router());
    let stdin_eof = async {
        if options.exit_on_stdin_eof {
            let _ = stdin_closed().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("liter-llm-mock-upstream: server failed: {error}");
                ExitCode::FAILURE
            }
        },
        () = stdin_eof => exit_now(),
        () = tokio::time::sleep(options.max_lifetime) => {
            eprintln!("liter-llm-mock-upstream: exiting after --max-lifetime-secs {}", options.max_lifetime.as_secs());
            exit_now()
        }
    }
}

/// Ends the process without dropping the sessions: a journal of millions of requests (a
/// benchmark's load) would take seconds to free, and nothing reads it any more.
fn exit_now() -> ! {
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        parse_args(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn defaults() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.addr, "127.0.0.1:0".parse().unwrap());
        assert!(!options.exit_on_stdin_eof);
        assert_eq!(options.max_lifetime, Duration::from_secs(3600));
    }

    #[test]
    fn all_flags_in_both_spellings() {
        let options = parse(&["--addr", "127.0.0.1:8080", "--exit-on-stdin-eof", "--max-lifetime-secs=5"]).unwrap();
        assert_eq!(options.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(options.exit_on_stdin_eof);
        assert_eq!(options.max_lifetime, Duration::from_secs(5));
        assert_eq!(parse(&["--addr=[::1]:0"]).unwrap().addr, "[::1]:0".parse().unwrap());
    }

    #[test]
    fn refuses_non_loopback_and_malformed_arguments() {
        let cases = [
            (&["--addr", "0.0.0.0:0"][..], "not a loopback address"),
            (&["--addr", "192.168.1.2:80"][..], "not a loopback address"),
            (&["--addr", "localhost:80"][..], "not an IP:PORT address"),
            (&["--addr"][..], "--addr needs a value"),
            (&["--max-lifetime-secs", "0"][..], "not a positive whole number"),
            (&["--exit-on-stdin-eof=yes"][..], "unknown argument"),
            (&["--verbose"][..], "unknown argument"),
        ];
        for (args, expected) in cases {
            let error = parse(args).unwrap_err();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
    }
}
