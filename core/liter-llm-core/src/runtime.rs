//! The one Tokio runtime that every client of the process shares: clients own their state
//! (configuration, pool, limiter), not threads.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The shared runtime, started on first use.
pub fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .max_blocking_threads(8)
                .thread_name("liter-llm-worker")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::internal(format!("could not start the async runtime: {e}")))
}
