//! Cohere Chat v2 (`POST /v2/chat`).

use reqwest::header::{HeaderMap, AUTHORIZATION};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::chunk::{self, ChunkWriter};
use crate::embedding::{EmbeddingParams, Embeddings};
use crate::error::{Error, ErrorKind, ProviderError, Result};
use crate::provider::{
    bad_response, bearer, check_fields, copy_native, provider_error_from, reasoning_budget, stream_ended_early,
    to_body, typed_event, EnvSettings, Provider, Step, StreamDecoder,
};
use crate::request::{ChatRequest, Content, ContentPart, Message, ResponseFormat, ToolChoice};
use crate::response::{ChatCompletion, FunctionOut, ToolCallOut, Usage};
use crate::secret::Secret;
use crate::sse::SseEvent;

pub struct Cohere;

static ENV: EnvSettings = EnvSettings {
    key_vars: &["CO_API_KEY", "COHERE_API_KEY"],
    base_url_vars: &["CO_API_URL", "COHERE_BASE_URL"],
    default_base_url: "https://api.cohere.com",
};

const MAPPED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "top_p",
    "temperature",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "tools",
    "tool_choice",
    "response_format",
    "reasoning_effort",
    "n",
    "stream",
    "stream_options",
];
const NATIVE: &[&str] = &["k", "documents", "citation_options", "safety_mode", "strict_tools", "logprobs", "thinking"];

const NAME: &str = "cohere";

fn invalid(message: String) -> Error {
    Error::invalid_request(message).with_provider(NAME)
}

fn content_value(content: &Content, at: usize) -> Result<Value> {
    match content {
        Content::Text(t) => Ok(Value::String(t.clone())),
        Content::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text(t) => Ok(json!({"type": "text", "text": t})),
                ContentPart::ImageUrl(url) => Ok(json!({"type": "image_url", "image_url": {"url": url}})),
                ContentPart::Other(kind) => {
                    Err(invalid(format!("`messages[{at}]`: cohere has no place for content parts of type '{kind}'")))
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(Value::Array),
    }
}

fn build_messages(request: &ChatRequest) -> Result<Vec<Value>> {
    request
        .params
        .messages
        .iter()
        .enumerate()
        .map(|(at, message)| {
            Ok(match message {
                Message::System { content } | Message::Developer { content } => {
                    json!({"role": "system", "content": content_value(content, at)?})
                }
                Message::User { content } => json!({"role": "user", "content": content_value(content, at)?}),
                Message::Assistant { content, tool_calls } => {
                    let mut m = Map::new();
                    m.insert("role".into(), "assistant".into());
                    if let Some(content) = content {
                        let text_is_empty = matches!(content, Content::Text(t) if t.is_empty());
                        if !text_is_empty {
                            m.insert("content".into(), content_value(content, at)?);
                        }
                    }
                    if let Some(calls) = tool_calls.as_deref().filter(|c| !c.is_empty()) {
                        let calls: Vec<Value> = calls
                            .iter()
                            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}))
                            .collect();
                        m.insert("tool_calls".into(), Value::Array(calls));
                    }
                    Value::Object(m)
                }
                Message::Tool { content, tool_call_id } => {
                    json!({"role": "tool", "tool_call_id": tool_call_id, "content": content_value(content, at)?})
                }
            })
        })
        .collect()
}

impl Provider for Cohere {
    fn name(&self) -> &'static str {
        NAME
    }

    fn env(&self) -> Option<&EnvSettings> {
        Some(&ENV)
    }

    fn path(&self) -> &'static str {
        "/v2/chat"
    }

    fn auth_headers(&self, key: &Secret, headers: &mut HeaderMap) -> Result<()> {
        headers.insert(AUTHORIZATION, bearer(key)?);
        Ok(())
    }

    fn request_body(&self, request: &ChatRequest, model: &str, streaming: bool) -> Result<Vec<u8>> {
        check_fields(NAME, request, MAPPED, NATIVE)?;
        let p = &request.params;
        if p.n.is_some_and(|n| n != 1) {
            return Err(invalid("cohere returns one choice per call; `n` must be 1".into()));
        }
        let mut body = Map::new();
        body.insert("model".into(), model.into());
        body.insert("messages".into(), Value::Array(build_messages(request)?));
        if let Some(m) = request.max_tokens() {
            body.insert("max_tokens".into(), m.into());
        }
        if let Some(stop) = &p.stop {
            body.insert("stop_sequences".into(), stop.to_vec().into());
        }
        for (name, value) in [
            ("temperature", p.temperature),
            ("p", p.top_p),
            ("frequency_penalty", p.frequency_penalty),
            ("presence_penalty", p.presence_penalty),
        ] {
            if let Some(v) = value {
                body.insert(name.into(), v.into());
            }
        }
        if let Some(seed) = p.seed {
            body.insert("seed".into(), seed.into());
        }
        if let Some(tools) = &p.tools {
            let tools: Vec<Value> = tools
                .iter()
                .map(|t| {
                    let mut f = Map::new();
                    f.insert("name".into(), t.function.name.clone().into());
                    if let Some(d) = &t.function.description {
                        f.insert("description".into(), d.clone().into());
                    }
                    if let Some(params) = &t.function.parameters {
                        f.insert("parameters".into(), params.clone());
                    }
                    json!({"type": "function", "function": f})
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        match &p.tool_choice {
            None | Some(ToolChoice::Auto) => {}
            Some(ToolChoice::Required) => {
                body.insert("tool_choice".into(), "REQUIRED".into());
            }
            Some(ToolChoice::None) => {
                body.insert("tool_choice".into(), "NONE".into());
            }
            Some(ToolChoice::Function(name)) => {
                return Err(invalid(format!(
                    "cohere cannot be told to call one named tool ('{name}'); use \"required\" or \"auto\""
                )))
            }
        }
        if let Some(format) = &p.response_format {
            let value = match format {
                ResponseFormat::Text => json!({"type": "text"}),
                ResponseFormat::JsonObject => json!({"type": "json_object"}),
                ResponseFormat::JsonSchema(schema) => json!({"type": "json_object", "json_schema": schema}),
            };
            body.insert("response_format".into(), value);
        }
        if let Some(effort) = &p.reasoning_effort {
            if request.body().get("thinking").is_some_and(|t| !t.is_null()) {
                return Err(invalid("pass reasoning_effort or thinking, not both".into()));
            }
            let thinking = match reasoning_budget(NAME, effort)? {
                Some(budget) => json!({"type": "enabled", "token_budget": budget}),
                None => json!({"type": "disabled"}),
            };
            body.insert("thinking".into(), thinking);
        }
        copy_native(request, NATIVE, &mut body);
        if streaming {
            body.insert("stream".into(), Value::Bool(true));
        }
        to_body(&body)
    }

    fn parse_response(&self, model: &str, body: &[u8]) -> Result<Vec<u8>> {
        let r: ChatResponse = serde_json::from_slice(body)
            .map_err(|e| Error::bad_response(format!("cohere: the response is not a Chat v2 response: {e}")))?;
        let finish_reason = finish_reason(r.finish_reason.as_deref(), None).map_err(|e| e.with_status(200))?;
        let message = r.message.unwrap_or_default();
        let texts: Vec<&str> =
            message.content.iter().flatten().filter(|c| c.kind == "text").filter_map(|c| c.text.as_deref()).collect();
        let content = (!texts.is_empty()).then(|| texts.concat());
        let thoughts: Vec<&str> = message
            .content
            .iter()
            .flatten()
            .filter(|c| c.kind == "thinking")
            .filter_map(|c| c.thinking.as_deref())
            .collect();
        let tool_calls = message
            .tool_calls
            .into_iter()
            .flatten()
            .map(|c| {
                let function = c.function.unwrap_or_default();
                let Some(name) = function.name else {
                    return Err(Error::bad_response("cohere: a tool call lacks its function `name`"));
                };
                let arguments = function.arguments.unwrap_or_else(|| "{}".to_owned());
                Ok(ToolCallOut { id: c.id, call_type: "function", function: FunctionOut { name, arguments } })
            })
            .collect::<Result<Vec<_>>>()?;
        let usage = r.usage.and_then(CohereUsage::into_usage);
        let mut completion = ChatCompletion::single(r.id, model.to_owned(), content, tool_calls, finish_reason, usage);
        completion.choices[0].message.reasoning_content = (!thoughts.is_empty()).then(|| thoughts.concat());
        Ok(completion.to_json())
    }

    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder> {
        Box::new(CohereStream { out: ChunkWriter::new(NAME, model), tools: 0, current_tool: None, total_tokens: None })
    }

    fn parse_error_body(&self, body: &Value) -> ProviderError {
        provider_error_from(body)
    }

    fn endpoint_path(&self, endpoint: &crate::provider::Endpoint<'_>) -> Result<String> {
        Ok(if endpoint.embedding { "/v2/embed" } else { self.path() }.to_owned())
    }

    /// Embed v2: `texts`, `input_type` (`search_document` unless the request says otherwise:
    /// the v3+ models require one, and documents are what most callers embed), float vectors
    /// (converted to base64 here when the caller asked for it), `output_dimension`.
    fn embedding_body(&self, _request: &ChatRequest, params: &EmbeddingParams, model: &str) -> Result<Vec<u8>> {
        let mut body = Map::new();
        body.insert("model".into(), model.into());
        body.insert("texts".into(), params.input.clone().into());
        body.insert("input_type".into(), params.input_type.as_deref().unwrap_or(DEFAULT_INPUT_TYPE).into());
        body.insert("embedding_types".into(), json!(["float"]));
        if let Some(d) = params.dimensions {
            body.insert("output_dimension".into(), d.into());
        }
        to_body(&body)
    }

    fn parse_embedding(&self, _model: &str, body: &[u8]) -> Result<Embeddings> {
        #[derive(Deserialize)]
        struct EmbedResponse {
            embeddings: EmbeddingsByType,
            meta: Option<EmbedMeta>,
        }
        #[derive(Deserialize)]
        struct EmbeddingsByType {
            float: Option<Vec<Value>>,
        }
        #[derive(Deserialize)]
        struct EmbedMeta {
            billed_units: Option<BilledUnits>,
        }
        #[derive(Deserialize)]
        struct BilledUnits {
            input_tokens: Option<f64>,
        }
        let r: EmbedResponse = serde_json::from_slice(body)
            .map_err(|e| Error::bad_response(format!("cohere: the response is not an Embed v2 response: {e}")))?;
        let floats =
            r.embeddings.float.ok_or_else(|| Error::bad_response("cohere: the response has no float embeddings"))?;
        let vectors = floats.iter().map(|v| crate::embedding::floats(NAME, v)).collect::<Result<Vec<_>>>()?;
        let prompt_tokens = r.meta.and_then(|m| m.billed_units).and_then(|b| b.input_tokens).map(|t| t as u64);
        Ok(Embeddings { vectors, model: None, prompt_tokens })
    }
}

/// The `input_type` Embed v2 gets when the request names none.
pub const DEFAULT_INPUT_TYPE: &str = "search_document";

/// The OpenAI `finish_reason` of a Cohere one; a generation that failed (`ERROR`, `TIMEOUT`,
/// or an `error` text) is an error. None at all stops.
fn finish_reason(reason: Option<&str>, error_text: Option<&str>) -> Result<&'static str> {
    match (reason, error_text) {
        (Some("COMPLETE" | "STOP_SEQUENCE"), _) | (None, None) => Ok("stop"),
        (Some("MAX_TOKENS"), _) => Ok("length"),
        (Some("TOOL_CALL"), _) => Ok("tool_calls"),
        (Some("ERROR_TOXIC"), _) => Ok("content_filter"),
        (reason, error_text) => {
            let what = match reason {
                Some(r) => format!("the generation ended with finish_reason {r}"),
                None => "the generation failed".to_owned(),
            };
            let message = match error_text {
                Some(t) => format!("cohere: {what}: {t}"),
                None => format!("cohere: {what}"),
            };
            let mut e = Error::new(ErrorKind::ProviderUnavailable, message).with_provider(NAME);
            e.provider_error = Some(Box::new(ProviderError {
                error_type: reason.map(str::to_owned),
                message: error_text.map(str::to_owned),
                code: None,
            }));
            Err(e)
        }
    }
}

#[derive(Deserialize)]
struct ChatResponse {
    id: String,
    finish_reason: Option<String>,
    message: Option<ResponseMessage>,
    usage: Option<CohereUsage>,
}

#[derive(Deserialize, Default)]
struct ResponseMessage {
    content: Option<Vec<ContentItem>>,
    tool_calls: Option<Vec<CohereToolCall>>,
}

#[derive(Deserialize)]
struct ContentItem {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    thinking: Option<String>,
}

#[derive(Deserialize)]
struct CohereToolCall {
    id: String,
    function: Option<CohereFunction>,
}

#[derive(Deserialize, Default)]
struct CohereFunction {
    name: Option<String>,
    arguments: Option<String>,
}

/// `usage` of a response and of a stream's `message-end`.
#[derive(Deserialize)]
struct CohereUsage {
    billed_units: Option<Tokens>,
    tokens: Option<Tokens>,
}

#[derive(Deserialize)]
struct Tokens {
    input_tokens: Option<f64>,
    output_tokens: Option<f64>,
}

impl CohereUsage {
    /// OpenAI usage: the tokens the model saw (`tokens`), else the billed ones.
    fn into_usage(self) -> Option<Usage> {
        let t = self.tokens.or(self.billed_units)?;
        Some(Usage::new(t.input_tokens.unwrap_or(0.0) as u64, t.output_tokens.unwrap_or(0.0) as u64))
    }
}

/// Chat v2 stream events (`message-start`, `content-*`, `tool-call-*`, `message-end`) to chunks.
struct CohereStream {
    out: ChunkWriter,
    /// Tool calls started so far.
    tools: usize,
    /// The tool call the next `tool-call-delta` without an `index` belongs to.
    current_tool: Option<usize>,
    total_tokens: Option<u64>,
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

impl CohereStream {
    fn on(&mut self, kind: &str, v: &Value) -> Result<Step> {
        let mut chunks = Vec::new();
        let event_index = v["index"].as_u64().map(|i| i as usize);
        match kind {
            "message-start" => {
                if let Some(id) = v["id"].as_str() {
                    self.out.set_id(id);
                }
                chunks.push(self.out.delta(chunk::content(""), None));
            }
            "content-start" | "content-delta" => {
                if let Some(t) = text(v, "/delta/message/content/text").filter(|t| !t.is_empty()) {
                    chunks.push(self.out.delta(chunk::content(t), None));
                }
                if let Some(t) = text(v, "/delta/message/content/thinking").filter(|t| !t.is_empty()) {
                    chunks.push(self.out.delta(chunk::reasoning(t), None));
                }
            }
            "tool-call-start" => {
                let call = &v["delta"]["message"]["tool_calls"];
                let index = event_index.unwrap_or(self.tools);
                self.tools = self.tools.max(index + 1);
                self.current_tool = Some(index);
                let (Some(id), Some(name)) = (call["id"].as_str(), text(call, "/function/name")) else {
                    return Err(bad_response(NAME, "a tool-call-start event lacks the call's `id` or function `name`"));
                };
                chunks.push(self.out.delta(chunk::tool_start(index, id, name), None));
                if let Some(args) = text(call, "/function/arguments").filter(|a| !a.is_empty()) {
                    chunks.push(self.out.delta(chunk::tool_arguments(index, args), None));
                }
            }
            "tool-call-delta" => {
                let Some(index) = event_index.or(self.current_tool) else {
                    return Err(bad_response(NAME, "a tool-call-delta event came before any tool-call-start"));
                };
                if let Some(args) = text(v, "/delta/message/tool_calls/function/arguments").filter(|a| !a.is_empty()) {
                    chunks.push(self.out.delta(chunk::tool_arguments(index, args), None));
                }
            }
            "message-end" => {
                let d = &v["delta"];
                let error_text = d["error"].as_str().filter(|e| !e.is_empty());
                let finish_reason = finish_reason(d["finish_reason"].as_str(), error_text)?;
                chunks.push(self.out.delta(json!({}), Some(finish_reason)));
                let usage = Option::<CohereUsage>::deserialize(&d["usage"])
                    .map_err(|e| bad_response(NAME, format_args!("the message-end usage is not token counts: {e}")))?;
                if let Some(usage) = usage.and_then(CohereUsage::into_usage) {
                    self.total_tokens = Some(usage.total_tokens);
                    chunks.push(self.out.usage(&usage));
                }
                return Ok(Step { chunks, done: true });
            }
            // content-end, tool-plan-delta, tool-call-end, citation-start/end, debug, and
            // event types added later.
            _ => {}
        }
        Ok(Step { chunks, done: false })
    }
}

impl StreamDecoder for CohereStream {
    fn on_event(&mut self, event: &SseEvent) -> Result<Step> {
        match typed_event(NAME, event)? {
            Some((kind, value)) => self.on(&kind, &value),
            None => Ok(Step::default()),
        }
    }

    fn ended_early(&self) -> Error {
        stream_ended_early(NAME, "no message-end event was received")
    }

    fn reported_tokens(&self) -> Option<u64> {
        self.total_tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_v2_defaults_the_input_type_and_reads_float_vectors() {
        let r = ChatRequest::parse(br#"{"operation": "embedding", "model": "cohere/embed-v4.0", "input": ["a", "b"]}"#)
            .unwrap();
        let b: Value =
            serde_json::from_slice(&Cohere.embedding_body(&r, r.embedding.as_ref().unwrap(), "embed-v4.0").unwrap())
                .unwrap();
        assert_eq!(
            b,
            json!({"model": "embed-v4.0", "texts": ["a", "b"], "input_type": "search_document", "embedding_types": ["float"]})
        );
        let e = Cohere
            .parse_embedding("m", br#"{"id": "x", "embeddings": {"float": [[0.5], [1.0]]}, "meta": {"billed_units": {"input_tokens": 2}}}"#)
            .unwrap();
        assert_eq!((e.vectors.len(), e.prompt_tokens), (2, Some(2)));
        assert_eq!(
            Cohere.parse_embedding("m", br#"{"id": "x", "embeddings": {}}"#).unwrap_err().kind,
            ErrorKind::BadResponse
        );
    }
    use crate::providers::testing::{
        all_missing, all_null, assembled, check_shape, decode_stream, delta_chunk, ev, events_all_missing,
        events_all_null, null_is_missing, run, set_null, timeless_completion, usage_chunk, with_unknown_fields, Events,
    };

    fn body(json: &str) -> Result<Value> {
        let r = ChatRequest::parse(json.as_bytes()).unwrap();
        Cohere.request_body(&r, "command-r", false).map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn reasoning_effort_becomes_thinking_and_thinking_comes_back() {
        let r = ChatRequest::parse(br#"{"model": "m", "prompt": "x", "reasoning_effort": "medium"}"#).unwrap();
        let b: Value = serde_json::from_slice(&Cohere.request_body(&r, "m", false).unwrap()).unwrap();
        assert_eq!(b["thinking"], json!({"type": "enabled", "token_budget": 2048}));
        let r = ChatRequest::parse(br#"{"model": "m", "prompt": "x", "reasoning_effort": "none"}"#).unwrap();
        let b: Value = serde_json::from_slice(&Cohere.request_body(&r, "m", false).unwrap()).unwrap();
        assert_eq!(b["thinking"], json!({"type": "disabled"}));
        let r = ChatRequest::parse(br#"{"model": "m", "prompt": "x", "reasoning_effort": "lots"}"#).unwrap();
        assert_eq!(Cohere.request_body(&r, "m", false).unwrap_err().provider.as_deref(), Some("cohere"));
        let raw = br#"{"id": "c", "finish_reason": "COMPLETE", "message": {"role": "assistant",
            "content": [{"type": "thinking", "thinking": "Two and "}, {"type": "thinking", "thinking": "two."}, {"type": "text", "text": "4"}]}}"#;
        let out: Value = serde_json::from_slice(&Cohere.parse_response("m", raw).unwrap()).unwrap();
        assert_eq!(out["choices"][0]["message"]["reasoning_content"], "Two and two.");
        assert_eq!(out["choices"][0]["message"]["content"], "4");
        let mut n = Cohere.stream_decoder("m");
        let data = r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"thinking":"hmm"}}}}"#;
        let step = n.on_event(&crate::providers::testing::ev(None, data)).unwrap();
        let chunk: Value = serde_json::from_slice(&step.chunks[0]).unwrap();
        assert_eq!(chunk["choices"][0]["delta"]["reasoning_content"], "hmm");
    }

    #[test]
    fn maps_the_request() {
        let b = body(r#"{"model": "cohere/command-r", "top_p": 0.5, "stop": ["x"], "max_completion_tokens": 9, "tool_choice": "required",
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
            "messages": [{"role": "developer", "content": "sys"}, {"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"}]}"#).unwrap();
        assert_eq!(b["p"], 0.5);
        assert_eq!(b["stop_sequences"], json!(["x"]));
        assert_eq!(b["max_tokens"], 9);
        assert_eq!(b["tool_choice"], "REQUIRED");
        assert_eq!(b["response_format"], json!({"type": "json_object", "json_schema": {"type": "object"}}));
        assert_eq!(b["messages"][0], json!({"role": "system", "content": "sys"}));
        assert!(b["messages"][2].get("content").is_none());
        assert_eq!(b["messages"][3], json!({"role": "tool", "tool_call_id": "c1", "content": "r"}));
    }

    #[test]
    fn rejects_what_has_no_place() {
        let e = body(r#"{"model": "m", "prompt": "x", "user": "u"}"#).unwrap_err();
        assert!(e.message.contains("`user`"), "{}", e.message);
        let e =
            body(r#"{"model": "m", "prompt": "x", "tool_choice": {"type": "function", "function": {"name": "f"}}}"#)
                .unwrap_err();
        assert!(e.message.contains("'f'"), "{}", e.message);
        let e = body(r#"{"model": "m", "prompt": "x", "n": 2}"#).unwrap_err();
        assert!(e.message.contains("`n`"), "{}", e.message);
    }

    #[test]
    fn maps_the_response() {
        let raw = br#"{"id": "c-1", "finish_reason": "TOOL_CALL", "message": {"role": "assistant", "tool_plan": "p",
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 2}, "tokens": {"input_tokens": 70, "output_tokens": 20}}}"#;
        let out: Value = serde_json::from_slice(&Cohere.parse_response("command-r", raw).unwrap()).unwrap();
        assert_eq!(out["model"], "command-r");
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(out["choices"][0]["message"]["tool_calls"][0]["id"], "t1");
        assert_eq!(out["usage"], json!({"prompt_tokens": 70, "completion_tokens": 20, "total_tokens": 90}));
        let raw = br#"{"id": "c-2", "finish_reason": "ERROR", "message": {"role": "assistant", "content": []}}"#;
        let e = Cohere.parse_response("m", raw).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ProviderUnavailable);
        assert!(e.message.contains("ERROR"));
    }

    // ---- the stream ----

    #[test]
    fn text_stream() {
        let events: &[(Option<&str>, &str)] = &[
            (
                Some("message-start"),
                r#"{"id":"29f14a5a-11de-4cae-9800-25e4747408ea","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}"#,
            ),
            (
                Some("content-start"),
                r#"{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}"#,
            ),
            (
                Some("content-delta"),
                r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hi"}}},"logprobs":null}"#,
            ),
            (
                Some("content-delta"),
                r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":" there"}}}}"#,
            ),
            (Some("content-end"), r#"{"type":"content-end","index":0}"#),
            (
                Some("message-end"),
                r#"{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":5,"output_tokens":2},"tokens":{"input_tokens":71,"output_tokens":2}}}}"#,
            ),
        ];
        let (chunks, done) = run(&Cohere, "command-r-plus", events);
        assert!(done);
        check_shape(&chunks);
        assert_eq!(chunks.len(), 5);
        assert_eq!(chunks[0]["id"], "29f14a5a-11de-4cae-9800-25e4747408ea");
        assert_eq!(chunks[0]["model"], "command-r-plus");
        assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[4]["usage"], json!({"prompt_tokens": 71, "completion_tokens": 2, "total_tokens": 73}));
        let a = assembled(&chunks);
        assert_eq!(a["choices"][0]["message"], json!({"role": "assistant", "content": "Hi there"}));
        assert_eq!(a["model"], "command-r-plus");
    }

    #[test]
    fn tool_call_stream() {
        let events: &[(Option<&str>, &str)] = &[
            (None, r#"{"id":"c-2","type":"message-start","delta":{"message":{"role":"assistant"}}}"#),
            (None, r#"{"type":"tool-plan-delta","delta":{"message":{"tool_plan":"I will look up the weather."}}}"#),
            (
                None,
                r#"{"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"get_weather_a1","type":"function","function":{"name":"get_weather","arguments":""}}}}}"#,
            ),
            (
                None,
                r#"{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\n    \"loc"}}}}}"#,
            ),
            (
                None,
                r#"{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"ation\": \"Toronto\"\n}"}}}}}"#,
            ),
            (None, r#"{"type":"tool-call-end","index":0}"#),
            (
                None,
                r#"{"type":"tool-call-start","index":1,"delta":{"message":{"tool_calls":{"id":"get_weather_b2","type":"function","function":{"name":"get_weather","arguments":"{\"location\":"}}}}}"#,
            ),
            (
                None,
                r#"{"type":"tool-call-delta","delta":{"message":{"tool_calls":{"function":{"arguments":"\"Oslo\"}"}}}}}"#,
            ),
            (None, r#"{"type":"tool-call-end","index":1}"#),
            (
                None,
                r#"{"type":"citation-start","index":0,"delta":{"message":{"citations":{"start":0,"end":1,"text":"x"}}}}"#,
            ),
            (None, r#"{"type":"citation-end","index":0}"#),
            (None, r#"{"type":"debug","prompt":"..."}"#),
            (
                None,
                r#"{"type":"message-end","delta":{"finish_reason":"TOOL_CALL","usage":{"billed_units":{"input_tokens":37,"output_tokens":28}}}}"#,
            ),
        ];
        let (chunks, done) = run(&Cohere, "command-a", events);
        assert!(done);
        check_shape(&chunks);
        assert_eq!(
            chunks[1]["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "id": "get_weather_a1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})
        );
        assert_eq!(
            chunks.last().unwrap()["usage"],
            json!({"prompt_tokens": 37, "completion_tokens": 28, "total_tokens": 65})
        );
        let a = assembled(&chunks);
        let m = &a["choices"][0]["message"];
        assert_eq!(m["content"], Value::Null);
        assert_eq!(m["tool_calls"][0]["function"]["arguments"], "{\n    \"location\": \"Toronto\"\n}");
        assert_eq!(m["tool_calls"][1]["id"], "get_weather_b2");
        assert_eq!(m["tool_calls"][1]["function"]["arguments"], "{\"location\":\"Oslo\"}");
        assert_eq!(a["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn stream_finish_reasons_and_errors() {
        for (reason, want) in [
            ("COMPLETE", "stop"),
            ("STOP_SEQUENCE", "stop"),
            ("MAX_TOKENS", "length"),
            ("TOOL_CALL", "tool_calls"),
            ("ERROR_TOXIC", "content_filter"),
        ] {
            let mut n = Cohere.stream_decoder("command-r");
            let data = format!(r#"{{"type":"message-end","delta":{{"finish_reason":"{reason}"}}}}"#);
            let step = n.on_event(&ev(None, &data)).unwrap();
            assert!(step.done);
            // No usage in the event: no usage chunk.
            assert_eq!(step.chunks.len(), 1);
            let c: Value = serde_json::from_slice(&step.chunks[0]).unwrap();
            assert_eq!(c["choices"][0]["finish_reason"], want, "{reason}");
        }
        for reason in ["ERROR", "TIMEOUT"] {
            let mut n = Cohere.stream_decoder("command-r");
            let data = format!(
                r#"{{"type":"message-end","delta":{{"finish_reason":"{reason}","error":"internal failure"}}}}"#
            );
            let e = n.on_event(&ev(None, &data)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::ProviderUnavailable);
            assert_eq!(
                e.message,
                format!("cohere: the generation ended with finish_reason {reason}: internal failure")
            );
            assert_eq!(e.provider.as_deref(), Some("cohere"));
            let pe = e.provider_error.unwrap();
            assert_eq!(pe.error_type.as_deref(), Some(reason));
            assert_eq!(pe.message.as_deref(), Some("internal failure"));
        }
    }

    #[test]
    fn rejects_malformed_events() {
        let mut n = Cohere.stream_decoder("command-r");
        let e = n.on_event(&ev(None, "{not json")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert!(e.message.starts_with("cohere: "), "{}", e.message);
        let e = n
            .on_event(&ev(
                None,
                r#"{"type":"tool-call-delta","delta":{"message":{"tool_calls":{"function":{"arguments":"x"}}}}}"#,
            ))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert_eq!(n.on_event(&ev(None, r#"{"type":"brand-new-event"}"#)).unwrap(), Step::default());
    }

    #[test]
    fn asks_for_a_stream() {
        let r = ChatRequest::parse_for(
            br#"{"model": "m", "prompt": "x", "stream_options": {"include_usage": true}}"#,
            true,
        )
        .unwrap();
        let b: Value = serde_json::from_slice(&Cohere.request_body(&r, "m", true).unwrap()).unwrap();
        assert_eq!(b["stream"], true);
        assert!(b.get("stream_options").is_none());
        let plain: Value = serde_json::from_slice(&Cohere.request_body(&r, "m", false).unwrap()).unwrap();
        assert!(plain.get("stream").is_none());
    }

    #[test]
    fn ended_early_is_a_connection_error() {
        let e = Cohere.stream_decoder("m").ended_early();
        assert_eq!(e.kind, ErrorKind::Connection);
        assert_eq!(e.message, "cohere: the stream ended before it was complete (no message-end event was received)");
        assert_eq!(e.provider.as_deref(), Some("cohere"));
    }

    // ---- null, unknown and missing fields ----

    fn parsed(body: &Value) -> Value {
        timeless_completion(&Cohere.parse_response("command-r", &serde_json::to_vec(body).unwrap()).unwrap())
    }

    fn completion(content: Value, tool_calls: Option<Value>, finish_reason: &str, usage: Value) -> Value {
        let mut message = json!({"role": "assistant", "content": content});
        if let Some(calls) = tool_calls {
            message["tool_calls"] = calls;
        }
        json!({"id": "c-1", "object": "chat.completion", "created": 0, "model": "command-r",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": null}], "usage": usage})
    }

    fn tool_calls(arguments: &str) -> Option<Value> {
        Some(json!([{"id": "t1", "type": "function", "function": {"name": "f", "arguments": arguments}}]))
    }

    #[test]
    fn a_message_with_null_tool_calls_is_a_message_without_tool_calls() {
        // As a third-party Cohere server answers; this was a bad_response
        // ("invalid type: null, expected a sequence").
        let raw = br#"{"id": "c-1", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}],
            "tool_calls": null, "tool_plan": null, "citations": null}, "usage": null}"#;
        let out = timeless_completion(&Cohere.parse_response("command-r", raw).unwrap());
        assert_eq!(out, completion(json!("Hello!"), None, "stop", Value::Null));
    }

    fn full_response() -> Value {
        json!({"id": "c-1", "finish_reason": "TOOL_CALL", "logprobs": [{"token_ids": [1], "text": "x"}],
            "message": {"role": "assistant", "tool_plan": "p", "citations": [{"start": 0, "end": 1, "text": "x"}],
                "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Let me check."}],
                "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 2, "search_units": 0, "classifications": 0},
                "tokens": {"input_tokens": 70, "output_tokens": 20}, "cached_tokens": 0}})
    }

    /// Optional in the Chat v2 schema (`ChatResponseV2`, `AssistantMessageResponse`, `Usage`,
    /// `ToolCallV2`).
    const OPTIONAL_RESPONSE_FIELDS: &[&str] = &[
        "/logprobs",
        "/message/tool_plan",
        "/message/citations",
        "/message/content",
        "/message/tool_calls",
        "/message/tool_calls/0/function/arguments",
        "/usage",
        "/usage/billed_units",
        "/usage/billed_units/input_tokens",
        "/usage/billed_units/output_tokens",
        "/usage/billed_units/search_units",
        "/usage/billed_units/classifications",
        "/usage/tokens",
        "/usage/tokens/input_tokens",
        "/usage/tokens/output_tokens",
        "/usage/cached_tokens",
    ];

    #[test]
    fn responses_with_null_unknown_or_missing_optional_fields() {
        let full = full_response();
        let usage = |p: u64, c: u64| json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c});
        let mut want = completion(json!("Let me check."), tool_calls("{\"a\":1}"), "tool_calls", usage(70, 20));
        want["choices"][0]["message"]["reasoning_content"] = json!("hmm");
        assert_eq!(parsed(&full), want);
        assert_eq!(parsed(&with_unknown_fields(full.clone(), &[])), want);
        for pointer in OPTIONAL_RESPONSE_FIELDS {
            let mut expected = want.clone();
            let choice = &mut expected["choices"][0];
            match *pointer {
                "/message/content" => {
                    choice["message"]["content"] = Value::Null;
                    choice["message"].as_object_mut().unwrap().remove("reasoning_content");
                }
                "/message/tool_calls" => {
                    choice["message"].as_object_mut().unwrap().remove("tool_calls");
                }
                "/message/tool_calls/0/function/arguments" => {
                    choice["message"]["tool_calls"][0]["function"]["arguments"] = json!("{}")
                }
                "/usage" => expected["usage"] = Value::Null,
                "/usage/tokens" => expected["usage"] = usage(5, 2),
                "/usage/tokens/input_tokens" => expected["usage"] = usage(0, 20),
                "/usage/tokens/output_tokens" => expected["usage"] = usage(70, 0),
                _ => {}
            }
            let mut one = full.clone();
            set_null(&mut one, pointer);
            assert_eq!(parsed(&one), expected, "{pointer}");
            assert_eq!(parsed(&all_missing(&full, &[pointer])), expected, "{pointer}");
        }
        let nulls = all_null(&full, OPTIONAL_RESPONSE_FIELDS);
        assert_eq!(parsed(&nulls), completion(Value::Null, tool_calls("{}"), "tool_calls", usage(0, 0)));
        let minimal = all_missing(&full, OPTIONAL_RESPONSE_FIELDS);
        assert_eq!(minimal, json!({"id": "c-1", "finish_reason": "TOOL_CALL", "message": {"role": "assistant"}}));
        assert_eq!(parsed(&minimal), completion(Value::Null, None, "tool_calls", Value::Null));
        // Beyond the schema: no message or no finish_reason at all.
        assert_eq!(
            parsed(&json!({"id": "c-1", "message": null, "finish_reason": null})),
            completion(Value::Null, None, "stop", Value::Null)
        );
        // What we depend on stays strict.
        for (pointer, value) in [
            ("/id", Value::Null),
            ("/message/tool_calls", json!({})),
            ("/message/content", json!("x")),
            ("/message/tool_calls/0/id", Value::Null),
            ("/message/tool_calls/0/function/name", Value::Null),
            ("/message/tool_calls/0/function", Value::Null),
            ("/usage/tokens/input_tokens", json!("70")),
            ("/finish_reason", json!(1)),
        ] {
            let mut bad = full.clone();
            *bad.pointer_mut(pointer).unwrap() = value;
            let e = Cohere.parse_response("m", &serde_json::to_vec(&bad).unwrap()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadResponse, "{pointer}");
        }
    }

    fn full_stream() -> Events {
        vec![
            (
                Some("message-start"),
                json!({"id": "c-1", "type": "message-start", "delta": {"message": {"role": "assistant",
                "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}),
            ),
            (
                Some("content-start"),
                json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
            ),
            (
                Some("content-delta"),
                json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hi"}}},
                "logprobs": {"token_ids": [1]}}),
            ),
            (Some("content-end"), json!({"type": "content-end", "index": 0})),
            (Some("tool-plan-delta"), json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "p"}}})),
            (
                Some("tool-call-start"),
                json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls":
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":"}}}}}),
            ),
            (
                Some("tool-call-delta"),
                json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": "1}"}}}}}),
            ),
            (Some("tool-call-end"), json!({"type": "tool-call-end", "index": 0})),
            (
                Some("message-end"),
                json!({"id": "c-1", "type": "message-end", "delta": {"finish_reason": "TOOL_CALL",
                "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 2}, "tokens": {"input_tokens": 70, "output_tokens": 20}, "cached_tokens": 0}}}),
            ),
        ]
    }

    /// Optional in the schema of the Chat v2 stream events.
    const OPTIONAL_STREAM_FIELDS: &[(usize, &str)] = &[
        (0, "/id"),
        (0, "/delta"),
        (0, "/delta/message"),
        (0, "/delta/message/role"),
        (0, "/delta/message/content"),
        (0, "/delta/message/tool_plan"),
        (0, "/delta/message/tool_calls"),
        (0, "/delta/message/citations"),
        (1, "/index"),
        (1, "/delta/message/content/type"),
        (1, "/delta/message/content/text"),
        (2, "/index"),
        (2, "/logprobs"),
        (3, "/index"),
        (4, "/delta/message/tool_plan"),
        (5, "/index"),
        (5, "/delta/message/tool_calls/type"),
        (6, "/index"),
        (7, "/index"),
        (8, "/id"),
        (8, "/delta/finish_reason"),
        (8, "/delta/usage"),
        (8, "/delta/usage/billed_units"),
        (8, "/delta/usage/tokens"),
        (8, "/delta/usage/tokens/input_tokens"),
        (8, "/delta/usage/tokens/output_tokens"),
        (8, "/delta/usage/cached_tokens"),
    ];

    fn stream_chunks(id: &str, finish_reason: &str, usage: Option<(u64, u64)>) -> Vec<Value> {
        let c = |delta: Value, finish: Option<&str>| delta_chunk(id, "command-a", delta, finish);
        let mut chunks = vec![
            c(json!({"role": "assistant", "content": ""}), None),
            c(json!({"content": "Hi"}), None),
            c(chunk::tool_start(0, "t1", "f"), None),
            c(chunk::tool_arguments(0, "{\"a\":"), None),
            c(chunk::tool_arguments(0, "1}"), None),
            c(json!({}), Some(finish_reason)),
        ];
        if let Some((p, c)) = usage {
            chunks.push(usage_chunk(
                id,
                "command-a",
                json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}),
            ));
        }
        chunks
    }

    #[test]
    fn streams_with_null_unknown_or_missing_optional_fields() {
        let full = full_stream();
        let want = stream_chunks("c-1", "tool_calls", Some((70, 20)));
        assert_eq!(decode_stream(&Cohere, "command-a", &full), (want.clone(), Some(90)));
        let unknown: Events = full.iter().map(|(n, v)| (*n, with_unknown_fields(v.clone(), &[]))).collect();
        assert_eq!(decode_stream(&Cohere, "command-a", &unknown), (want.clone(), Some(90)));
        let decoded = null_is_missing(&Cohere, "command-a", &full, OPTIONAL_STREAM_FIELDS);
        for ((at, pointer), got) in OPTIONAL_STREAM_FIELDS.iter().zip(decoded) {
            let (finish, usage) = match (*at, *pointer) {
                (8, "/delta/finish_reason") => ("stop", Some((70, 20))),
                (8, "/delta/usage") => ("tool_calls", None),
                (8, "/delta/usage/tokens") => ("tool_calls", Some((5, 2))),
                (8, "/delta/usage/tokens/input_tokens") => ("tool_calls", Some((0, 20))),
                (8, "/delta/usage/tokens/output_tokens") => ("tool_calls", Some((70, 0))),
                _ => ("tool_calls", Some((70, 20))),
            };
            let id = if (*at, *pointer) == (0, "/id") { "chatcmpl-cohere" } else { "c-1" };
            let tokens = usage.map(|(p, c)| p + c);
            assert_eq!(got, (stream_chunks(id, finish, usage), tokens), "event {at}, {pointer}");
        }
        let nulls = events_all_null(&full, OPTIONAL_STREAM_FIELDS);
        assert_eq!(
            decode_stream(&Cohere, "command-a", &nulls),
            (stream_chunks("chatcmpl-cohere", "stop", Some((0, 0))), Some(0))
        );
        let minimal = events_all_missing(&full, OPTIONAL_STREAM_FIELDS);
        assert_eq!(
            decode_stream(&Cohere, "command-a", &minimal),
            (stream_chunks("chatcmpl-cohere", "stop", None), None)
        );
    }

    #[test]
    fn streams_with_null_where_the_schema_promises_values() {
        let events: Events = vec![
            (
                None,
                json!({"type": "message-start", "id": null, "delta": {"message": {"tool_calls": null, "content": null}}}),
            ),
            (None, json!({"type": "content-delta", "index": null, "delta": {"message": {"content": {"text": null}}}})),
            (None, json!({"type": "content-delta", "delta": {"message": {"content": null}}})),
            (
                None,
                json!({"type": "tool-call-start", "index": null, "delta": {"message": {"tool_calls":
                {"id": "t1", "type": null, "function": {"name": "f", "arguments": null}}}}}),
            ),
            (
                None,
                json!({"type": "tool-call-delta", "index": null, "delta": {"message": {"tool_calls": {"function": {"arguments": null}}}}}),
            ),
            (None, json!({"type": "tool-call-delta", "delta": null})),
            (
                None,
                json!({"type": "message-end", "delta": {"finish_reason": null, "error": null, "usage": {"tokens": null, "billed_units": null}}}),
            ),
        ];
        let c = |delta: Value, finish: Option<&str>| delta_chunk("chatcmpl-cohere", "command-a", delta, finish);
        assert_eq!(
            decode_stream(&Cohere, "command-a", &events),
            (
                vec![
                    c(json!({"role": "assistant", "content": ""}), None),
                    c(chunk::tool_start(0, "t1", "f"), None),
                    c(json!({}), Some("stop")),
                ],
                None
            )
        );
        let mut n = Cohere.stream_decoder("command-r");
        let e = n
            .on_event(&ev(None, r#"{"type": "message-end", "delta": {"usage": {"tokens": {"input_tokens": "many"}}}}"#))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert!(e.message.starts_with("cohere: the message-end usage is not token counts"), "{}", e.message);
    }
}
