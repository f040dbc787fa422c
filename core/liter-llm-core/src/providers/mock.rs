//! The built-in `mock` provider: a deterministic answer without the network, for users' tests.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use crate::chunk::{self, ChunkWriter};
use crate::embedding::{self, EmbeddingParams, Embeddings, Vector};
use crate::error::{Error, ProviderError, Result};
use crate::provider::{EnvSettings, Provider, Step, StreamDecoder};
use crate::request::{ChatRequest, Message};
use crate::response::{ChatCompletion, Usage};
use crate::secret::Secret;
use crate::sse::SseEvent;

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

/// The mock's answer: its id, the reply and the usage, all derived from the request.
struct Answer<'a> {
    id: String,
    reply: &'a str,
    usage: Usage,
}

fn answer<'a>(request: &'a ChatRequest, model: &str) -> Answer<'a> {
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
    Answer { id: format!("chatcmpl-mock-{hash:016x}"), reply, usage }
}

/// Splits `reply` into pieces at word starts, each word keeping the whitespace after it, so the
/// pieces concatenate back to `reply` exactly.
fn word_pieces(reply: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in reply.char_indices() {
        let space = c.is_whitespace();
        if in_space && !space && i > start {
            pieces.push(&reply[start..i]);
            start = i;
        }
        in_space = space;
    }
    if start < reply.len() || pieces.is_empty() {
        pieces.push(&reply[start..]);
    }
    pieces
}

/// The mock's stream: the reply split into content chunks by words (keeping spaces so they
/// concatenate back exactly), a finish chunk ("stop") and a usage chunk.
fn mock_chunks(id: &str, model: &str, reply: &str, usage: &Usage) -> Vec<Vec<u8>> {
    let mut out = ChunkWriter::new(NAME, model);
    out.set_id(id);
    let mut chunks: Vec<Vec<u8>> =
        word_pieces(reply).into_iter().map(|piece| out.delta(chunk::content(piece), None)).collect();
    chunks.push(out.delta(json!({}), Some("stop")));
    chunks.push(out.usage(usage));
    chunks
}

const NAME: &str = "mock";

impl Provider for Mock {
    fn name(&self) -> &'static str {
        NAME
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

    fn request_body(&self, _request: &ChatRequest, _model: &str, _streaming: bool) -> Result<Vec<u8>> {
        Err(Error::internal("the mock provider sends no request"))
    }

    fn parse_response(&self, _model: &str, _body: &[u8]) -> Result<Vec<u8>> {
        Err(Error::internal("the mock provider receives no response"))
    }

    fn stream_decoder(&self, _model: &str) -> Box<dyn StreamDecoder> {
        Box::new(NoStream)
    }

    fn parse_error_body(&self, _body: &Value) -> ProviderError {
        ProviderError::default()
    }

    fn respond_locally(&self, request: &ChatRequest, model: &str) -> Option<Result<Vec<u8>>> {
        if let Some(params) = &request.embedding {
            return Some(mock_embeddings(params, model));
        }
        let Answer { id, reply, usage } = answer(request, model);
        let completion =
            ChatCompletion::single(id, model.to_owned(), Some(reply.to_owned()), Vec::new(), "stop", Some(usage));
        Some(Ok(completion.to_json()))
    }

    fn stream_locally(&self, request: &ChatRequest, model: &str) -> Option<Result<Vec<Vec<u8>>>> {
        let Answer { id, reply, usage } = answer(request, model);
        Some(Ok(mock_chunks(&id, model, reply, &usage)))
    }
}

/// Dimensions of a mock embedding when the request names none.
pub const DEFAULT_DIMENSIONS: u32 = 8;

/// Deterministic vectors derived from the model and each input (values in [-1, 1), exact as
/// `f32`), with the four-characters-a-token usage.
fn mock_embeddings(params: &EmbeddingParams, model: &str) -> Result<Vec<u8>> {
    let seed = fnv1a(model.bytes(), 0xcbf2_9ce4_8422_2325);
    let vectors = params
        .input
        .iter()
        .map(|text| {
            let base = fnv1a(text.bytes(), seed);
            let values = (0..params.dimensions.unwrap_or(DEFAULT_DIMENSIONS))
                .map(|j| {
                    let h = fnv1a(j.to_le_bytes(), base);
                    f64::from((h >> 40) as u32) / f64::from(1u32 << 23) - 1.0
                })
                .collect();
            Vector::Floats(values)
        })
        .collect();
    let embeddings = Embeddings { vectors, model: None, prompt_tokens: Some(estimate_tokens(params.input_chars())) };
    embedding::to_response(NAME, model, embeddings, params.encoding_format)
}

/// The mock receives no stream (it answers with `stream_locally`).
struct NoStream;

impl StreamDecoder for NoStream {
    fn on_event(&mut self, _event: &SseEvent) -> Result<Step> {
        Err(Error::internal("the mock provider receives no stream").with_provider(NAME))
    }

    fn ended_early(&self) -> Error {
        Error::internal("the mock provider receives no stream").with_provider(NAME)
    }

    fn reported_tokens(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testing::{assembled, check_shape, ev};

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

    #[test]
    fn mock_chunks_concatenate_back_exactly() {
        let usage = Usage::new(3, 10);
        for reply in [
            DEFAULT_REPLY,
            "pong",
            "",
            "  leading and trailing  ",
            "tabs\tand\nnew lines,  double  spaces",
            "héllo wörld — ünïcode 🎉 done",
        ] {
            let chunks: Vec<Value> = mock_chunks("chatcmpl-mock-1", "m", reply, &usage)
                .iter()
                .map(|c| serde_json::from_slice(c).unwrap())
                .collect();
            check_shape(&chunks);
            let n = chunks.len();
            assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
            assert_eq!(
                chunks[n - 1]["usage"],
                json!({"prompt_tokens": 3, "completion_tokens": 10, "total_tokens": 13})
            );
            let joined: String =
                chunks[..n - 2].iter().map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap()).collect();
            assert_eq!(joined, reply);
            let a = assembled(&chunks);
            let want = if reply.is_empty() { Value::Null } else { Value::from(reply) };
            assert_eq!(a["choices"][0]["message"]["content"], want, "{reply:?}");
            assert_eq!(a["choices"][0]["finish_reason"], "stop");
            assert_eq!(a["id"], "chatcmpl-mock-1");
            assert_eq!(a["model"], "m");
            assert_eq!(a["object"], "chat.completion");
            assert_eq!(a["usage"]["total_tokens"], 13);
            assert!(a["choices"][0]["message"].get("tool_calls").is_none());
        }
        let chunks = mock_chunks("i", "m", DEFAULT_REPLY, &usage);
        // "This ", "is ", "a ", "mock ", "response ", "from ", "liter-llm." + finish + usage
        assert_eq!(chunks.len(), 9);
    }

    #[test]
    fn word_pieces_keep_whitespace() {
        assert_eq!(word_pieces("a b  c"), ["a ", "b  ", "c"]);
        assert_eq!(word_pieces(" a"), [" ", "a"]);
        assert_eq!(word_pieces(""), [""]);
        assert_eq!(word_pieces("a "), ["a "]);
    }

    #[test]
    fn streams_the_answer_it_gives() {
        let r = ChatRequest::parse_for(br#"{"model": "m", "prompt": "Hello there", "mock_response": "a b"}"#, true)
            .unwrap();
        let whole: Value = serde_json::from_slice(&Mock.respond_locally(&r, "m").unwrap().unwrap()).unwrap();
        let chunks: Vec<Value> =
            Mock.stream_locally(&r, "m").unwrap().unwrap().iter().map(|c| serde_json::from_slice(c).unwrap()).collect();
        check_shape(&chunks);
        let a = assembled(&chunks);
        assert_eq!(a["id"], whole["id"]);
        assert_eq!(a["model"], "m");
        assert_eq!(a["choices"], whole["choices"]);
        assert_eq!(a["usage"], whole["usage"]);
        assert_eq!(chunks.len(), 4);
    }

    #[test]
    fn receives_no_stream() {
        let mut n = Mock.stream_decoder("m");
        assert_eq!(n.on_event(&ev(None, "{}")).unwrap_err().kind, crate::ErrorKind::Internal);
        assert_eq!(n.ended_early().kind, crate::ErrorKind::Internal);
        assert_eq!(n.reported_tokens(), None);
    }
}
