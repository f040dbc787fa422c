//! The built-in `mock` provider: a deterministic answer without the network, for users' tests.

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::error::{Error, ProviderError, Result};
use crate::provider::{EnvSettings, Provider};
use crate::request::{ChatRequest, Message};
use crate::response::{ChatCompletion, Usage};
use crate::secret::Secret;

pub struct Mock;

pub const DEFAULT_REPLY: &str = "This is a mock response from liter-llm.";

/// One token per four characters, rounded up.
fn estimate_tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

/// 64-bit FNV-1a: stable across platforms and releases, unlike `std`'s hasher.
fn fnv1a(bytes: impl IntoIterator<Item = u8>, mut hash: u64) -> u64 {
    for b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn message_text(m: &Message) -> String {
    match m {
        Message::System { content } | Message::Developer { content } | Message::User { content } => content.text(),
        Message::Tool { content, .. } => content.text(),
        Message::Assistant { content, .. } => content.as_ref().map(|c| c.text()).unwrap_or_default(),
    }
}

impl Provider for Mock {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn env(&self) -> Option<&EnvSettings> {
        None
    }

    fn path(&self) -> &'static str {
        ""
    }

    fn auth_headers(&self, _key: &Secret, _headers: &mut HeaderMap) -> Result<()> {
        Ok(())
    }

    fn request_body(&self, _request: &ChatRequest, _model: &str) -> Result<Vec<u8>> {
        Err(Error::internal("the mock provider sends no request"))
    }

    fn parse_response(&self, _model: &str, _body: &[u8]) -> Result<Vec<u8>> {
        Err(Error::internal("the mock provider receives no response"))
    }

    fn parse_error_body(&self, _body: &Value) -> ProviderError {
        ProviderError::default()
    }

    fn respond_locally(&self, request: &ChatRequest, model: &str) -> Option<Result<Vec<u8>>> {
        let reply = request.options.mock_response.as_deref().unwrap_or(DEFAULT_REPLY);
        let mut hash = fnv1a(model.bytes(), 0xcbf2_9ce4_8422_2325);
        let mut prompt_chars = 0;
        for m in &request.params.messages {
            let text = message_text(m);
            prompt_chars += text.chars().count();
            hash = fnv1a(text.bytes().chain([0]), hash);
        }
        hash = fnv1a(reply.bytes(), hash);
        let usage = Usage::new(estimate_tokens(prompt_chars), estimate_tokens(reply.chars().count()));
        let completion = ChatCompletion::single(
            format!("chatcmpl-mock-{hash:016x}"),
            model.to_owned(),
            Some(reply.to_owned()),
            Vec::new(),
            "stop",
            Some(usage),
        );
        Some(Ok(completion.to_json()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> Value {
        let r = ChatRequest::parse(json.as_bytes()).unwrap();
        serde_json::from_slice(&Mock.respond_locally(&r, "m").unwrap().unwrap()).unwrap()
    }

    #[test]
    fn answers_deterministically() {
        let a = answer(r#"{"model": "m", "prompt": "Hello there"}"#);
        let b = answer(r#"{"model": "m", "prompt": "Hello there"}"#);
        let c = answer(r#"{"model": "m", "prompt": "Hello"}"#);
        assert_eq!(a["id"], b["id"]);
        assert_ne!(a["id"], c["id"]);
        assert_eq!(a["choices"][0]["message"]["content"], DEFAULT_REPLY);
        assert_eq!(a["usage"]["prompt_tokens"], 3);
        assert_eq!(a["usage"]["completion_tokens"], 10);
        assert_eq!(a["usage"]["total_tokens"], 13);
    }

    #[test]
    fn uses_mock_response() {
        let a = answer(r#"{"model": "m", "prompt": "x", "mock_response": "pong"}"#);
        assert_eq!(a["choices"][0]["message"]["content"], "pong");
        assert_eq!(a["choices"][0]["finish_reason"], "stop");
    }
}
