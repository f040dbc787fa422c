//! liter-llm core: one OpenAI-shaped chat API over OpenAI, Anthropic, Cohere and a built-in
//! mock. Plain Rust; the C ABI lives in the `liter-llm-ffi` crate.

#![deny(unsafe_code)]

pub mod chunk;
pub mod client;
pub mod config;
pub mod error;
pub mod limiter;
pub mod provider;
pub mod providers;
pub mod request;
pub mod response;
pub mod retry;
pub mod secret;
pub mod sse;
pub mod stream;

pub use client::{configure, invoke, invoke_blocking, plan, runtime, stream_call, Plan};
pub use error::{Error, ErrorKind, ProviderError, Result};
pub use secret::Secret;

/// The crate version, as reported by `liter_llm_version()`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
