//! The one Tokio runtime that every client of the process shares: clients own their state
//! (configuration, pool, limiter), not threads.
//!
//! The runtime belongs to the process that built it. A child made by `fork()` inherits the
//! runtime's memory but none of its threads, so driving it there hangs, and dropping it would
//! run destructors that wait for those threads or take locks they held at the fork. The child
//! therefore builds its own runtime on first use and leaves the parent's copy untouched (it
//! leaks, deliberately: a few kilobytes once per fork). Each use compares the process's fork
//! generation (`fork_generation`: a counter a `pthread_atfork` child handler bumps, one atomic
//! load, no system call) with the one the runtime was built in.
//!
//! Blocking calls (`Client::invoke_blocking`, from C, Python threads, cgo) run on a second
//! runtime, `blocking_runtime`: a current_thread runtime whose I/O and timers are driven by the
//! threads that wait on it. A lone caller thus sends, waits and reads on its own thread, with no
//! hand-off to a worker and back; when several threads wait at once, one of them drives the I/O
//! for all and the others sleep until their answer is ready. Its connection pool is shared by
//! every blocking caller of a client (see `transport`), and its tasks (connections) run only while
//! some thread is in a blocking call.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The runtime of one process, and the runtime of the next process down the line of forks that
/// uses the library (a child's, a grandchild's...): a chain as long as that line, one link in
/// most processes. No lock guards the links: a fork at any moment leaves nothing locked for the
/// child (unless another thread was building that very link, on the process's first call).
struct Link {
    generation: u64,
    runtime: std::result::Result<tokio::runtime::Runtime, String>,
    next: OnceLock<Box<Link>>,
}

type Build = fn() -> std::result::Result<tokio::runtime::Runtime, String>;

impl Link {
    fn new(generation: u64, build: Build) -> Box<Link> {
        Box::new(Link { generation, runtime: build(), next: OnceLock::new() })
    }
}

/// This process's link of the chain that starts at `first`.
fn here(first: &'static OnceLock<Box<Link>>, build: Build) -> Result<&'static tokio::runtime::Runtime> {
    let generation = fork_generation();
    let mut link: &'static Link = first.get_or_init(|| Link::new(generation, build));
    while link.generation != generation {
        link = link.next.get_or_init(|| Link::new(generation, build));
    }
    link.runtime.as_ref().map_err(|e| Error::internal(format!("could not start the async runtime: {e}")))
}

/// Which process of a line of forks this is: the same value for the life of a process, a new
/// one in each child made by `fork()` (a `pthread_atfork` child handler bumps it; glibc and musl
/// run the handlers for every `fork()`). What the runtimes and connection pools compare on each
/// use instead of the process id, which costs a system call. If the handler cannot be
/// registered, the process id is the generation.
pub(crate) fn fork_generation() -> u64 {
    fork::generation()
}

#[cfg(unix)]
#[expect(unsafe_code, reason = "registering the handler is the one libc call (pthread_atfork) the core makes")]
mod fork {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Once;

    type Handler = Option<unsafe extern "C" fn()>;

    extern "C" {
        fn pthread_atfork(prepare: Handler, parent: Handler, child: Handler) -> std::ffi::c_int;
    }

    /// Bumped in each forked child; `u64::MAX` when the handler could not be registered.
    static GENERATION: AtomicU64 = AtomicU64::new(0);
    const UNREGISTERED: u64 = u64::MAX;

    pub(super) fn generation() -> u64 {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            // SAFETY: `child` is an `extern "C"` function that never unwinds (one atomic add).
            if unsafe { pthread_atfork(None, None, Some(child)) } != 0 {
                GENERATION.store(UNREGISTERED, Ordering::Relaxed);
            }
        });
        match GENERATION.load(Ordering::Relaxed) {
            // Registration fails only without memory: fall back to the process id.
            UNREGISTERED => u64::from(std::process::id()) | 1 << 63,
            generation => generation,
        }
    }

    extern "C" fn child() {
        // The child's only thread runs this before `fork()` returns there.
        let _ = GENERATION.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| {
            (g != UNREGISTERED).then(|| (g + 1) % UNREGISTERED)
        });
    }
}

#[cfg(not(unix))]
mod fork {
    /// Without `fork()`, one generation.
    pub(super) fn generation() -> u64 {
        0
    }
}

/// The shared runtime of this process, started on first use (and again in a forked child).
pub fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static FIRST: OnceLock<Box<Link>> = OnceLock::new();
    here(&FIRST, build)
}

/// The runtime blocking calls wait on, driven by the waiting threads (see the module docs);
/// started on first use (and again in a forked child).
pub(crate) fn blocking_runtime() -> Result<&'static tokio::runtime::Runtime> {
    static FIRST: OnceLock<Box<Link>> = OnceLock::new();
    here(&FIRST, build_blocking)
}

fn build_blocking() -> std::result::Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())
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

    #[test]
    fn threads_wait_on_the_blocking_runtime_together() {
        // Each thread's answer needs the others' tasks to run: whichever thread drives the
        // runtime must run them all.
        let rt = blocking_runtime().unwrap();
        let (tx, rx) = tokio::sync::watch::channel(0);
        let rx = std::sync::Arc::new(rx);
        let threads: Vec<_> = (1..=4)
            .map(|i| {
                let (tx, rx) = (tx.clone(), rx.clone());
                std::thread::spawn(move || {
                    blocking_runtime().unwrap().block_on(async move {
                        let task = tokio::spawn(async move { tx.send_modify(|n| *n += i) });
                        task.await.unwrap();
                        let mut rx = (*rx).clone();
                        let seen = *rx.wait_for(|n| *n == 10).await.unwrap();
                        seen
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 10);
        }
        assert_eq!(rt.block_on(async { 2 + 2 }), 4);
    }
}
