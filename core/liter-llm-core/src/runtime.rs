//! The one Tokio runtime that every client of the process shares: clients own their state
//! (configuration, pool, limiter), not threads.
//!
//! The runtime belongs to the process that built it. A child made by `fork()` inherits the
//! runtime's memory but none of its threads, so driving it there hangs, and dropping it would
//! run destructors that wait for those threads or take locks they held at the fork. The child
//! therefore builds its own runtime on first use and leaves the parent's copy untouched (it
//! leaks, deliberately: a few kilobytes once per fork). Process ids are compared on each use,
//! so this holds for any way of forking, with or without `pthread_atfork` handlers.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The runtime of one process, and the runtime of the next process down the line of forks that
/// uses the library (a child's, a grandchild's...): a chain as long as that line, one link in
/// most processes. No lock guards the links: a fork at any moment leaves nothing locked for the
/// child (unless another thread was building that very link, on the process's first call).
struct Link {
    pid: u32,
    runtime: std::result::Result<tokio::runtime::Runtime, String>,
    next: OnceLock<Box<Link>>,
}

impl Link {
    fn new(pid: u32) -> Box<Link> {
        Box::new(Link { pid, runtime: build(), next: OnceLock::new() })
    }
}

/// The shared runtime of this process, started on first use (and again in a forked child).
pub fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static FIRST: OnceLock<Box<Link>> = OnceLock::new();
    let pid = std::process::id();
    let mut link: &'static Link = FIRST.get_or_init(|| Link::new(pid));
    while link.pid != pid {
        link = link.next.get_or_init(|| Link::new(pid));
    }
    link.runtime.as_ref().map_err(|e| Error::internal(format!("could not start the async runtime: {e}")))
}

fn build() -> std::result::Result<tokio::runtime::Runtime, String> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(8)
        .thread_name("liter-llm-worker")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_per_process() {
        let a = runtime().unwrap() as *const _;
        let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(|| runtime().unwrap() as *const _ as usize)).collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), a as usize);
        }
        assert_eq!(runtime().unwrap().block_on(async { 1 + 1 }), 2);
    }
}
