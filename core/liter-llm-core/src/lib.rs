//! liter-llm core: one OpenAI-shaped chat API over OpenAI, Anthropic, Cohere and a built-in
//! mock. Plain Rust; the C ABI lives in the `liter-llm-ffi` crate.
//!
//! Layers, each depending only on those below it: `error`, `secret`, `response`, `sse` at the
//! bottom; `request`, `retry`, `limiter`; the providers (`provider`, `providers`, `stream`);
//! `config`; `plan` (routing), `transport` (one HTTP exchange); `driver` (the one call loop);
//! `client` (the state a caller holds) and `runtime`.

#![deny(unsafe_code)]

pub mod client;
pub mod config;
mod driver;
pub mod error;
pub mod limiter;
pub mod plan;
pub mod provider;
pub mod providers;
pub mod request;
pub mod response;
pub mod retry;
pub mod runtime;
pub mod secret;
pub mod sse;
pub mod stream;
pub mod streaming;
pub mod transport;

pub use client::{configure, invoke, invoke_blocking, stream_call, Client};
pub use error::{Error, ErrorKind, ProviderError, Result, Tried};
pub use plan::Plan;
pub use runtime::runtime;
pub use secret::Secret;

/// The crate version, as reported by `liter_llm_version()`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
