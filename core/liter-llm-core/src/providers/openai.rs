//! OpenAI chat completions: the request passes through, the response is checked and returned as
//! is, and the stream's events already are chunks.

use reqwest::header::{HeaderMap, AUTHORIZATION};
use serde::de::IgnoredAny;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::embedding::{self, EmbeddingParams, Embeddings, Vector};
use crate::error::{Error, ErrorKind, ProviderError, Result};
use crate::provider::{
    bad_response, bearer, event_object, provider_error_from, reported_error, stream_ended_early, to_body, Endpoint,
    EnvSettings, Provider, Step, StreamDecoder,
};
use crate::request::ChatRequest;
use crate::response::{Answer, Observing, Reply};
use crate::secret::Secret;
use crate::sse::SseEvent;

pub struct OpenAi;

const NAME: &str = "openai";

static ENV: EnvSettings = EnvSettings {
    key_vars: &["OPENAI_API_KEY"],
    base_url_vars: &["OPENAI_BASE_URL"],
    default_base_url: "https://api.openai.com/v1",
};

/// The caller's body with `model` replaced, serialised without copying the map.
struct WithModel<'a> {
    body: &'a Map<String, Value>,
    model: &'a str,
}

impl Serialize for WithModel<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.body.len()))?;
        for (k, v) in self.body {
            if k == "model" {
                map.serialize_entry(k, self.model)?;
            } else {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

#[derive(Deserialize)]
struct Shape {
    #[expect(dead_code, reason = "parsed only to check the response has a choices array")]
    choices: Vec<IgnoredAny>,
}

impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn env(&self) -> Option<&EnvSettings> {
        Some(&ENV)
    }

    fn path(&self) -> &'static str {
        "/chat/completions"
    }

    fn auth_headers(&self, key: &Secret, headers: &mut HeaderMap) -> Result<()> {
        headers.insert(AUTHORIZATION, bearer(key)?);
        Ok(())
    }

    fn request_body(&self, request: &ChatRequest, model: &str, streaming: bool) -> Result<Vec<u8>> {
        request_chat_body(request, model, streaming)
    }

    fn parse_response(&self, _model: &str, body: &[u8]) -> Result<Vec<u8>> {
        check_completion(NAME, body)
    }

    fn parse_answer(&self, _model: &str, body: Vec<u8>, observing: Observing) -> Result<Answer> {
        read_completion(NAME, body, observing)
    }

    fn stream_decoder(&self, _model: &str) -> Box<dyn StreamDecoder> {
        chat_stream(NAME)
    }

    fn parse_error_body(&self, body: &Value) -> ProviderError {
        provider_error_from(body)
    }

    fn endpoint_path(&self, endpoint: &Endpoint<'_>) -> Result<String> {
        Ok(if endpoint.embedding { "/embeddings" } else { self.path() }.to_owned())
    }

    fn embedding_body(&self, request: &ChatRequest, _params: &EmbeddingParams, model: &str) -> Result<Vec<u8>> {
        embedding_body(request.body().clone(), model)
    }

    fn parse_embedding(&self, _model: &str, body: &[u8]) -> Result<Embeddings> {
        parse_embedding(NAME, body)
    }
}

/// `chat_body` of a request: written from the caller's members as they came when the request was
/// read on the fast path (`RawBody`) and the call is not streamed, which gives the same JSON as
/// serialising its `body()` (in the same member order) without building it.
pub(crate) fn request_chat_body(request: &ChatRequest, model: &str, streaming: bool) -> Result<Vec<u8>> {
    match request.raw_body() {
        Some(raw) if !streaming => {
            let mut out = Vec::with_capacity(raw.len() + model.len() + 8);
            out.push(b'{');
            for (i, (key, value)) in raw.members().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'"');
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(b"\":");
                if key == "model" {
                    serde_json::to_writer(&mut out, model)
                        .map_err(|e| Error::internal(format!("could not serialise the request: {e}")))?;
                } else {
                    out.extend_from_slice(value.as_bytes());
                }
            }
            out.push(b'}');
            Ok(out)
        }
        _ => chat_body(request.body(), model, streaming, true),
    }
}

/// An OpenAI chat-completions body: `body` with `model` replaced. A stream asks for
/// `stream: true` and, with `stream_usage` (unless the caller set `stream_options`),
/// `stream_options.include_usage`, so that it ends with a usage chunk as the other providers'
/// decoded streams do.
pub(crate) fn chat_body(
    body: &Map<String, Value>,
    model: &str,
    streaming: bool,
    stream_usage: bool,
) -> Result<Vec<u8>> {
    if !streaming {
        return serde_json::to_vec(&WithModel { body, model })
            .map_err(|e| Error::internal(format!("could not serialise the request: {e}")));
    }
    let mut body = body.clone();
    body.insert("model".into(), model.into());
    body.insert("stream".into(), Value::Bool(true));
    if stream_usage {
        body.entry("stream_options").or_insert_with(|| json!({"include_usage": true}));
    }
    to_body(&body)
}

/// Checks that a 2xx body is a chat completion (an object with a `choices` array) and returns
/// it unchanged.
pub(crate) fn check_completion(provider: &'static str, body: &[u8]) -> Result<Vec<u8>> {
    let starts_with_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !starts_with_object {
        return Err(bad_response(provider, "the response body is not a JSON object"));
    }
    // The body is forwarded as it came, so it must be UTF-8 throughout: serde_json checks the
    // strings it decodes, not those it skips.
    let text = std::str::from_utf8(body).map_err(|e| {
        bad_response(
            provider,
            format_args!("the response is not valid UTF-8 (invalid byte at offset {})", e.valid_up_to()),
        )
    })?;
    serde_json::from_str::<Shape>(text)
        .map_err(|e| bad_response(provider, format_args!("the response is not a chat completion: {e}")))?;
    Ok(body.to_vec())
}

/// `check_completion` of an owned body, in the same pass as `Reply` reads it: a body `Reply`
/// reads as a typed completion with `choices` passes the check (it is an object, UTF-8
/// throughout, with a `choices` array) and keeps its usage; any other body gets
/// `check_completion`'s answer, errors included.
/// When the call is `observing`, the facts its observers read are copied out of the same parse.
pub(crate) fn read_completion(provider: &'static str, body: Vec<u8>, observing: Observing) -> Result<Answer> {
    let read = {
        let reply = Reply::parse(&body);
        match &reply {
            Reply::Typed(typed) if typed.has_choices => Some((typed.usage, observing.facts(&reply))),
            _ => None,
        }
    };
    match read {
        Some((usage, facts)) => Ok(Answer { body, usage: Some(usage), facts }),
        None => check_completion(provider, &body).map(|_| Answer::unread(body)),
    }
}

/// The decoder of an OpenAI-shaped stream, its errors naming `provider`.
pub(crate) fn chat_stream(provider: &'static str) -> Box<dyn StreamDecoder> {
    Box::new(OpenAiStream { provider, total_tokens: None })
}

/// An OpenAI `/embeddings` body: the caller's fields with `model` replaced, without
/// `input_type` (a Cohere and Gemini hint that OpenAI rejects).
pub(crate) fn embedding_body(mut body: Map<String, Value>, model: &str) -> Result<Vec<u8>> {
    body.remove("input_type");
    body.insert("model".into(), model.into());
    to_body(&body)
}

/// Reads OpenAI's `{"data": [{"embedding", "index"}], "model", "usage"}`, in index order.
pub(crate) fn parse_embedding(provider: &'static str, body: &[u8]) -> Result<Embeddings> {
    #[derive(Deserialize)]
    struct List {
        data: Vec<Item>,
        model: Option<String>,
        usage: Option<Value>,
    }
    #[derive(Deserialize)]
    struct Item {
        embedding: Value,
        index: Option<usize>,
    }
    let list: List = serde_json::from_slice(body)
        .map_err(|e| bad_response(provider, format_args!("the response is not an embedding list: {e}")))?;
    let mut items: Vec<(usize, Vector)> = Vec::with_capacity(list.data.len());
    for (position, item) in list.data.into_iter().enumerate() {
        let vector = match item.embedding {
            Value::String(s) => Vector::Base64(s),
            other => embedding::floats(provider, &other)?,
        };
        items.push((item.index.unwrap_or(position), vector));
    }
    items.sort_by_key(|(index, _)| *index);
    Ok(Embeddings {
        vectors: items.into_iter().map(|(_, v)| v).collect(),
        model: list.model,
        prompt_tokens: list.usage.as_ref().and_then(|u| u.get("prompt_tokens")).and_then(Value::as_u64),
    })
}

/// The total of an OpenAI `usage` object: `total_tokens`, else prompt + completion.
fn total_tokens(usage: &Value) -> Option<u64> {
    let n = |k: &str| usage.get(k).and_then(Value::as_u64);
    match (n("total_tokens"), n("prompt_tokens"), n("completion_tokens")) {
        (Some(total), _, _) => Some(total),
        (None, None, None) => None,
        (None, prompt, completion) => Some(prompt.unwrap_or(0).saturating_add(completion.unwrap_or(0))),
    }
}

/// The kind of an OpenAI (or OpenAI-compatible) error `type` or `code`; a numeric code is read
/// as an HTTP status.
fn error_kind_of(value: &Value) -> Option<ErrorKind> {
    if let Some(status) = value.as_u64().and_then(|s| u16::try_from(s).ok()) {
        return (400..600).contains(&status).then(|| ErrorKind::from_status(status));
    }
    Some(match value.as_str()? {
        "invalid_request_error" | "context_length_exceeded" | "invalid_prompt" | "bad_request" => {
            ErrorKind::InvalidRequest
        }
        "authentication_error" | "invalid_api_key" | "invalid_authentication" => ErrorKind::Authentication,
        "permission_error" | "permission_denied" | "insufficient_permissions" => ErrorKind::PermissionDenied,
        "not_found_error" | "model_not_found" | "not_found" => ErrorKind::NotFound,
        "rate_limit_error" | "rate_limit_exceeded" | "insufficient_quota" | "tokens" | "requests" => {
            ErrorKind::RateLimited
        }
        "timeout" | "timeout_error" => ErrorKind::Timeout,
        "server_error"
        | "api_error"
        | "internal_error"
        | "service_unavailable"
        | "overloaded_error"
        | "engine_overloaded" => ErrorKind::ProviderUnavailable,
        _ => return None,
    })
}

/// OpenAI's events are chunks already: each passes through unchanged, `data: [DONE]` ends the
/// stream, and an event carrying an `error` fails it.
struct OpenAiStream {
    provider: &'static str,
    total_tokens: Option<u64>,
}

impl StreamDecoder for OpenAiStream {
    fn on_event(&mut self, event: &SseEvent) -> Result<Step> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Step { chunks: Vec::new(), done: true });
        }
        if data.is_empty() {
            return Ok(Step::default());
        }
        let value = event_object(self.provider, data)?;
        let has_error = value.get("error").is_some_and(|e| !e.is_null());
        if has_error || event.event.as_deref() == Some("error") {
            let provider_error = provider_error_from(&value);
            let kind = error_kind_of(&Value::from(provider_error.error_type.clone()))
                .or_else(|| provider_error.code.as_ref().and_then(error_kind_of))
                .unwrap_or(ErrorKind::ProviderUnavailable);
            return Err(reported_error(self.provider, kind, provider_error));
        }
        if let Some(total) = value.get("usage").and_then(total_tokens) {
            self.total_tokens = Some(total);
        }
        // The text that was checked goes out: `trim` also drops characters JSON does not count as
        // whitespace (a form feed, say), so the untrimmed data may not be JSON.
        Ok(Step { chunks: vec![data.as_bytes().to_vec()], done: false })
    }

    fn ended_early(&self) -> Error {
        stream_ended_early(self.provider, "no `data: [DONE]` was received")
    }

    fn reported_tokens(&self) -> Option<u64> {
        self.total_tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testing::{all_missing, all_null, assembled, ev, remove, run, set_null, with_unknown_fields};

    #[test]
    fn passes_unknown_fields_and_rewrites_the_model() {
        let r = ChatRequest::parse(
            br#"{"model": "openai/gpt-4o", "prompt": "hi", "logit_bias": {"1": 2}, "api_key": "sk-x"}"#,
        )
        .unwrap();
        let body: Value = serde_json::from_slice(&OpenAi.request_body(&r, "gpt-4o", false).unwrap()).unwrap();
        assert_eq!(body["model"], "gpt-4o");
        assert_eq!(body["logit_bias"]["1"], 2);
        assert!(body.get("api_key").is_none());
    }

    #[test]
    fn the_one_pass_check_answers_as_the_check_does() {
        let bodies: [&[u8]; 16] = [
            br#"{"id": "x", "choices": [{"index": 0}], "extra": 1}"#,
            br#" {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}"#,
            br#"{"choices": [1, "two"], "usage": {"prompt_tokens": 1}}"#,
            br#"{"choices": [{"message": {"content": "\u00e9"}}], "usage": {"prompt_tokens": "3"}}"#,
            br#"{"choices": [], "choices": []}"#,
            br#"{"choices": null}"#,
            br#"{"choices": [], "usage": null}"#,
            br#"{"choices": []} trailing"#,
            b"<html>",
            b"[]",
            b"{\"id\": 1}",
            b"{\"choices\": 3}",
            b"{\"choices\": [",
            b"{\"choices\": [], \"x\": \"\xff\"}",
            b"{\"choices\": [], \"usage\": {\"prompt_tokens\": 1}, \"x\": \"\xc3\"}",
            b"",
        ];
        let observings = [Observing::No, Observing::Yes { capture: false }, Observing::Yes { capture: true }];
        for (body, observing) in bodies.into_iter().flat_map(|b| observings.map(|o| (b, o))) {
            let checked = check_completion(NAME, body);
            let read = read_completion(NAME, body.to_vec(), observing);
            match (checked, read) {
                (Ok(checked), Ok(read)) => {
                    assert_eq!(read.body, checked, "{}", String::from_utf8_lossy(body));
                    if let Some(usage) = read.usage {
                        assert_eq!(usage, Reply::parse(body).usage(), "{}", String::from_utf8_lossy(body));
                    }
                    // The observers' facts come with the usage, as their own parse reads them.
                    let facts = read.facts.map(|f| format!("{f:?}"));
                    let alone = read.usage.and(observing.facts(&Reply::parse(body))).map(|f| format!("{f:?}"));
                    assert_eq!(facts, alone, "{}", String::from_utf8_lossy(body));
                }
                (Err(checked), Err(read)) => {
                    assert_eq!((read.kind, read.message), (checked.kind, checked.message));
                }
                (checked, read) => panic!("{}: {checked:?} against {read:?}", String::from_utf8_lossy(body)),
            }
        }
        let read = read_completion(NAME, bodies[1].to_vec(), Observing::No).unwrap();
        assert!(read.facts.is_none(), "no facts for a call nobody observes");
        let usage = read.usage.expect("read in the one pass").expect("has usage");
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (Some(3), Some(4), Some(7)));
        assert_eq!(read_completion(NAME, bodies[6].to_vec(), Observing::No).unwrap().usage, Some(None), "usage: null");
        let odd = read_completion(NAME, bodies[2].to_vec(), Observing::Yes { capture: true }).unwrap();
        assert!(odd.usage.is_none() && odd.facts.is_none(), "an odd body is read later");
        let body = br#"{"id": "c1", "model": "m-1", "choices": [{"message": {"content": "Hi \u00e9"},
            "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}"#;
        let facts = read_completion(NAME, body.to_vec(), Observing::Yes { capture: true }).unwrap().facts;
        let facts = facts.expect("read in the one pass");
        assert_eq!((facts.id.as_deref(), facts.model.as_deref()), (Some("c1"), Some("m-1")));
        assert_eq!(
            (facts.finish_reasons, facts.input_tokens, facts.output_tokens),
            (vec!["stop".into()], Some(5), Some(2))
        );
        assert_eq!(facts.output_text.as_deref(), Some("Hi \u{e9}"));
        let facts = read_completion(NAME, body.to_vec(), Observing::Yes { capture: false }).unwrap().facts;
        assert_eq!(facts.expect("read in the one pass").output_text, None, "no text without capture");
    }

    #[test]
    fn checks_the_response_shape() {
        let ok = br#"{"id": "x", "choices": [{"index": 0}], "extra": 1}"#;
        assert_eq!(OpenAi.parse_response("m", ok).unwrap(), ok.to_vec());
        for bad in [&b"<html>"[..], b"[]", b"{\"id\": 1}", b"{\"choices\": 3}", b"{\"choices\": ["] {
            let e = OpenAi.parse_response("m", bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadResponse);
        }
    }

    #[test]
    fn a_response_with_invalid_utf8_in_a_skipped_field_is_a_bad_response() {
        // Found by the fuzz target provider_openai: the body was forwarded with the bad bytes.
        let body = b"{\"id\": \"chatcmpl\xd5\xb5\xc6\xb2\xff\", \"choices\": [{\"index\": 0}]}";
        let error = OpenAi.parse_response("m", body).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadResponse);
        assert!(error.message.contains("not valid UTF-8 (invalid byte at offset 20)"), "{}", error.message);
    }

    #[test]
    fn asks_for_a_stream_with_usage() {
        let r =
            ChatRequest::parse_for(br#"{"model": "openai/gpt-4o", "prompt": "hi", "stream": false}"#, true).unwrap();
        let b: Value = serde_json::from_slice(&OpenAi.request_body(&r, "gpt-4o", true).unwrap()).unwrap();
        assert_eq!(b["model"], "gpt-4o");
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"], json!({"include_usage": true}));
        // The caller's stream_options are kept as given.
        let r = ChatRequest::parse_for(br#"{"model": "m", "prompt": "hi", "stream_options": {"x": 1}}"#, true).unwrap();
        let b: Value = serde_json::from_slice(&OpenAi.request_body(&r, "m", true).unwrap()).unwrap();
        assert_eq!(b["stream_options"], json!({"x": 1}));
        let plain: Value = serde_json::from_slice(&OpenAi.request_body(&r, "m", false).unwrap()).unwrap();
        assert!(plain.get("stream").is_none());
    }

    const FULL_RESPONSE: &str = r#"{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "system_fingerprint": "fp_1", "service_tier": "default",
        "choices": [{"index": 0, "logprobs": {"content": []}, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "hi", "refusal": "no", "annotations": [], "audio": {"id": "a"},
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}}"#;

    const OPTIONAL_RESPONSE_FIELDS: &[&str] = &[
        "/system_fingerprint",
        "/service_tier",
        "/usage",
        "/usage/prompt_tokens_details",
        "/usage/completion_tokens_details",
        "/choices/0/logprobs",
        "/choices/0/finish_reason",
        "/choices/0/message/content",
        "/choices/0/message/refusal",
        "/choices/0/message/annotations",
        "/choices/0/message/audio",
        "/choices/0/message/tool_calls",
    ];

    /// The body is already OpenAI's shape: whatever it holds besides `choices` passes unchanged.
    fn passes_unchanged(body: &Value) {
        let raw = serde_json::to_vec(body).unwrap();
        assert_eq!(OpenAi.parse_response("m", &raw).unwrap(), raw, "{body}");
    }

    #[test]
    fn responses_with_null_unknown_or_missing_optional_fields_pass_unchanged() {
        let full: Value = serde_json::from_str(FULL_RESPONSE).unwrap();
        for pointer in OPTIONAL_RESPONSE_FIELDS {
            let mut one = full.clone();
            set_null(&mut one, pointer);
            passes_unchanged(&one);
        }
        passes_unchanged(&all_null(&full, OPTIONAL_RESPONSE_FIELDS));
        passes_unchanged(&with_unknown_fields(full.clone(), &[]));
        let minimal = all_missing(&full, OPTIONAL_RESPONSE_FIELDS);
        assert_eq!(
            minimal,
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                   "choices": [{"index": 0, "message": {"role": "assistant"}}]})
        );
        passes_unchanged(&minimal);
        // `choices` is what we depend on: null or not an array is still a bad response.
        for choices in [Value::Null, json!({}), json!("x")] {
            let mut bad = full.clone();
            bad["choices"] = choices;
            let e = OpenAi.parse_response("m", &serde_json::to_vec(&bad).unwrap()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadResponse);
        }
    }

    // ---- the stream ----

    #[test]
    fn passes_chunks_through_unchanged() {
        let raw = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}], "extra": 1}"#;
        let mut n = OpenAi.stream_decoder("gpt-4o");
        let step = n.on_event(&ev(None, raw)).unwrap();
        assert_eq!(step, Step { chunks: vec![raw.as_bytes().to_vec()], done: false });
        assert_eq!(n.on_event(&ev(None, "[DONE]")).unwrap(), Step { chunks: vec![], done: true });
        assert_eq!(n.on_event(&ev(None, "")).unwrap(), Step::default());
    }

    #[test]
    fn stream_round_trip_with_tool_calls_and_usage() {
        let events = [
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"gpt-4o-2024","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29}}"#,
            "[DONE]",
        ];
        let events: Vec<_> = events.iter().map(|d| (None, *d)).collect();
        let (chunks, done) = run(&OpenAi, "gpt-4o", &events);
        assert!(done);
        assert_eq!(chunks.len(), 6);
        let a = assembled(&chunks);
        assert_eq!(a["id"], "c1");
        assert_eq!(a["created"], 7);
        assert_eq!(a["model"], "gpt-4o-2024");
        assert_eq!(a["object"], "chat.completion");
        let m = &a["choices"][0]["message"];
        assert_eq!(m["role"], "assistant");
        assert_eq!(m["content"], Value::Null);
        assert_eq!(
            m["tool_calls"],
            json!([
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
            ])
        );
        assert_eq!(a["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(a["usage"], json!({"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}));
    }

    #[test]
    fn errors_mid_stream() {
        let mut n = OpenAi.stream_decoder("gpt-4o");
        let e = n
            .on_event(&ev(
                None,
                r#"{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}"#,
            ))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.message, "openai: Rate limit reached");
        assert_eq!(e.provider.as_deref(), Some("openai"));
        let pe = e.provider_error.unwrap();
        assert_eq!(pe.error_type.as_deref(), Some("requests"));
        assert_eq!(pe.code, Some(json!("rate_limit_exceeded")));

        let e = n
            .on_event(&ev(None, r#"{"error": {"message": "boom", "type": null, "code": "server_error"}}"#))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::ProviderUnavailable);
        // OpenAI-compatible servers: numeric codes are statuses; a bare string error.
        let e = n.on_event(&ev(None, r#"{"error": {"message": "too long", "code": 400}}"#)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        let e = n.on_event(&ev(None, r#"{"error": "something broke"}"#)).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::ProviderUnavailable, "openai: something broke"));
        let e = n.on_event(&ev(Some("error"), r#"{"message": "overloaded", "type": "server_error"}"#)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ProviderUnavailable);
        // Every field of the error null: still an error, with the generic message.
        let e = n.on_event(&ev(None, r#"{"error": {"message": null, "type": null, "code": null}}"#)).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::ProviderUnavailable, "openai: an error without a message")
        );
        // `"error": null` is not an error.
        let ok = r#"{"id":"x","choices":[],"error":null}"#;
        assert_eq!(n.on_event(&ev(None, ok)).unwrap().chunks, vec![ok.as_bytes().to_vec()]);
    }

    #[test]
    fn rejects_malformed_events() {
        let mut n = OpenAi.stream_decoder("gpt-4o");
        for bad in ["{\"id\": ", "[1, 2]", "\"text\"", "<html>", "null"] {
            let e = n.on_event(&ev(None, bad)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadResponse, "{bad}");
            assert!(e.message.starts_with("openai: "), "{}", e.message);
            assert_eq!(e.provider.as_deref(), Some("openai"));
        }
    }

    #[test]
    fn a_chunk_goes_out_as_the_json_that_was_checked() {
        // Found by the provider_openai fuzz target: a form feed before the object (joined data
        // lines) is trimmed before the check but is not JSON whitespace, so forwarding the data as
        // it came sent a chunk that was not JSON.
        let mut n = OpenAi.stream_decoder("m");
        for (data, sent) in [
            ("\t\x0c\t\n{\"id\":\"c elm\"}", r#"{"id":"c elm"}"#),
            ("\u{a0}{\"id\":\"c\"}\u{2028}", r#"{"id":"c"}"#),
            (" {\"id\":\"c\"}\n", r#"{"id":"c"}"#),
        ] {
            let step = n.on_event(&ev(None, data)).unwrap();
            assert_eq!(step.chunks, vec![sent.as_bytes().to_vec()], "{data:?}");
            serde_json::from_slice::<Value>(&step.chunks[0]).unwrap();
        }
    }

    #[test]
    fn ended_early_is_a_connection_error() {
        let e = OpenAi.stream_decoder("m").ended_early();
        assert_eq!(e.kind, ErrorKind::Connection);
        assert_eq!(e.message, "openai: the stream ended before it was complete (no `data: [DONE]` was received)");
        assert_eq!(e.provider.as_deref(), Some("openai"));
        assert_eq!(e.status, None);
    }

    const FULL_CHUNK: &str = r#"{"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "gpt-4o",
        "system_fingerprint": "fp_1", "service_tier": "default", "obfuscation": "ab",
        "choices": [{"index": 0, "logprobs": {"content": []}, "finish_reason": "stop",
            "delta": {"role": "assistant", "content": "hi", "refusal": "no",
                "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}}"#;

    const OPTIONAL_CHUNK_FIELDS: &[&str] = &[
        "/system_fingerprint",
        "/service_tier",
        "/obfuscation",
        "/usage",
        "/choices/0/logprobs",
        "/choices/0/finish_reason",
        "/choices/0/delta/role",
        "/choices/0/delta/content",
        "/choices/0/delta/refusal",
        "/choices/0/delta/tool_calls",
        "/choices/0/delta/tool_calls/0/id",
        "/choices/0/delta/tool_calls/0/type",
        "/choices/0/delta/tool_calls/0/function",
        "/choices/0/delta/tool_calls/0/function/name",
        "/choices/0/delta/tool_calls/0/function/arguments",
    ];

    /// Decodes one chunk event: it must pass through unchanged; the usage it reported, if any.
    fn decode_chunk(chunk: &Value) -> Option<u64> {
        let raw = chunk.to_string();
        let mut n = OpenAi.stream_decoder("m");
        assert_eq!(n.reported_tokens(), None);
        assert_eq!(n.on_event(&ev(None, &raw)).unwrap(), Step { chunks: vec![raw.into_bytes()], done: false });
        n.reported_tokens()
    }

    #[test]
    fn stream_chunks_with_null_unknown_or_missing_optional_fields_pass_unchanged() {
        let full: Value = serde_json::from_str(FULL_CHUNK).unwrap();
        assert_eq!(decode_chunk(&full), Some(9));
        assert_eq!(decode_chunk(&with_unknown_fields(full.clone(), &[])), Some(9));
        for pointer in OPTIONAL_CHUNK_FIELDS {
            let mut one = full.clone();
            set_null(&mut one, pointer);
            let want = if *pointer == "/usage" { None } else { Some(9) };
            assert_eq!(decode_chunk(&one), want, "{pointer}");
        }
        assert_eq!(decode_chunk(&all_null(&full, OPTIONAL_CHUNK_FIELDS)), None);
        let minimal = all_missing(&full, OPTIONAL_CHUNK_FIELDS);
        assert_eq!(
            minimal,
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "gpt-4o",
                   "choices": [{"index": 0, "delta": {}}]})
        );
        assert_eq!(decode_chunk(&minimal), None);
        // Usage counts that are null or missing: the total falls back to prompt + completion.
        let mut usage = full.clone();
        set_null(&mut usage, "/usage/total_tokens");
        assert_eq!(decode_chunk(&usage), Some(9));
        remove(&mut usage, "/usage/completion_tokens");
        assert_eq!(decode_chunk(&usage), Some(4));
        set_null(&mut usage, "/usage/prompt_tokens");
        assert_eq!(decode_chunk(&usage), None);
    }

    #[test]
    fn reports_the_tokens_of_the_usage_chunk() {
        let mut n = OpenAi.stream_decoder("gpt-4o");
        let content = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"usage":null}"#;
        n.on_event(&ev(None, content)).unwrap();
        assert_eq!(n.reported_tokens(), None);
        let usage = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29}}"#;
        n.on_event(&ev(None, usage)).unwrap();
        assert_eq!(n.reported_tokens(), Some(29));
        n.on_event(&ev(None, "[DONE]")).unwrap();
        assert_eq!(n.reported_tokens(), Some(29));
    }
}
