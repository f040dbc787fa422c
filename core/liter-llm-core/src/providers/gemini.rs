//! Google Gemini, natively (the Generative Language API, `v1beta`): `generateContent`,
//! `streamGenerateContent?alt=sse` and `batchEmbedContents`, the key in `x-goog-api-key`.
//!
//! The base URL is the host root (`https://generativelanguage.googleapis.com`), as Google's SDKs
//! take it; the adapter adds `/v1beta/models/{model}:{method}`. Requests: `system` and
//! `developer` messages become `systemInstruction`; `assistant` is the `model` role; image parts
//! become `inlineData` (a `data:` URL) or `fileData`; tools become `functionDeclarations`, tool
//! calls `functionCall` parts and tool results `functionResponse` parts (named by the call they
//! answer). Responses: the first candidate's parts, `finishReason`, and `usageMetadata`; a
//! prompt or answer blocked for safety is `finish_reason: "content_filter"`.

use reqwest::header::{HeaderMap, HeaderName};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::chunk::{self, ChunkWriter};
use crate::embedding::{EmbeddingParams, Embeddings};
use crate::error::{Error, ErrorKind, ProviderError, Result};
use crate::provider::{
    bad_response, check_fields, copy_native, event_object, key_header, stream_ended_early, to_body, Endpoint,
    EnvSettings, Provider, Step, StreamDecoder,
};
use crate::request::{ChatRequest, Content, Message, ResponseFormat, ToolChoice};
use crate::response::{ChatCompletion, FunctionOut, PromptTokensDetails, ToolCallOut, Usage};
use crate::secret::Secret;
use crate::sse::SseEvent;

pub struct Gemini;

const NAME: &str = "gemini";

static ENV: EnvSettings = EnvSettings {
    key_vars: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    base_url_vars: &["GEMINI_BASE_URL", "GOOGLE_GEMINI_BASE_URL"],
    default_base_url: "https://generativelanguage.googleapis.com",
};

const MAPPED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "temperature",
    "top_p",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "tools",
    "tool_choice",
    "response_format",
    "reasoning_effort",
    // Set by the streaming call; the method (streamGenerateContent) says it instead.
    "stream",
    "stream_options",
];

/// Gemini's own request members, passed through as given.
const NATIVE: &[&str] = &["safetySettings", "cachedContent", "labels"];

/// `generationConfig` members that may be given at the top level, passed into it as given.
const NATIVE_GENERATION: &[&str] = &["top_k"];

fn invalid(message: String) -> Error {
    Error::invalid_request(message).with_provider(NAME)
}

/// A model name is one path segment (`models/` in front is accepted and removed).
fn model_segment(model: &str) -> Result<&str> {
    let model = model.strip_prefix("models/").unwrap_or(model);
    let ok = !model.is_empty()
        && model.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && model != "."
        && model != "..";
    if ok {
        Ok(model)
    } else {
        Err(invalid(format!("`{model}` is not a Gemini model name (letters, digits, '-', '_', '.')")))
    }
}

fn image_part(url: &str, at: usize) -> Result<Value> {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((mime_type, data)) = rest.split_once(";base64,") {
            return Ok(json!({"inlineData": {"mimeType": mime_type, "data": data}}));
        }
        return Err(invalid(format!("`messages[{at}]`: a data: URL image must be base64 (data:<type>;base64,...)")));
    }
    let lower = url.to_ascii_lowercase();
    let path = lower.split(['?', '#']).next().unwrap_or("");
    let mime_type = [(".png", "image/png"), (".jpg", "image/jpeg"), (".jpeg", "image/jpeg"), (".webp", "image/webp"), (".gif", "image/gif"), (".heic", "image/heic")]
        .iter()
        .find(|(ext, _)| path.ends_with(ext))
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            invalid(format!(
                "`messages[{at}]`: gemini needs an image as a data: URL or a URL ending in .png, .jpg, .webp, .gif or .heic"
            ))
        })?;
    Ok(json!({"fileData": {"mimeType": mime_type, "fileUri": url}}))
}

fn parts_of(content: &Content, at: usize) -> Result<Vec<Value>> {
    crate::provider::text_blocks(NAME, content, at, image_part)
}

/// Appends parts to the last turn when it has the same role (Gemini wants turns to alternate,
/// and several tool results answer one model turn together).
fn push_turn(contents: &mut Vec<Value>, role: &str, parts: Vec<Value>) {
    crate::provider::push_turn(contents, role, "parts", parts);
}

/// `systemInstruction` and `contents` from the messages.
fn build_contents(request: &ChatRequest) -> Result<(Option<Value>, Vec<Value>)> {
    let mut system: Vec<Value> = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // Tool results name the function they answer; OpenAI names only the call's id.
    let mut call_names: Vec<(&str, &str)> = Vec::new();
    for (at, message) in request.params.messages.iter().enumerate() {
        match message {
            Message::System { content } | Message::Developer { content } => system.extend(parts_of(content, at)?),
            Message::User { content } => push_turn(&mut contents, "user", parts_of(content, at)?),
            Message::Assistant { content, tool_calls } => {
                let mut parts = match content {
                    Some(c) => parts_of(c, at)?.into_iter().filter(|p| p["text"] != "").collect(),
                    None => Vec::new(),
                };
                for call in tool_calls.iter().flatten() {
                    let args: Value = serde_json::from_str(&call.function.arguments).map_err(|e| {
                        invalid(format!("`messages[{at}]`: the arguments of tool call '{}' are not JSON: {e}", call.id))
                    })?;
                    call_names.push((&call.id, &call.function.name));
                    parts.push(json!({"functionCall": {"name": call.function.name, "args": args}}));
                }
                if parts.is_empty() {
                    parts.push(json!({"text": ""}));
                }
                push_turn(&mut contents, "model", parts);
            }
            Message::Tool { content, tool_call_id } => {
                let Some((_, name)) = call_names.iter().find(|(id, _)| id == tool_call_id) else {
                    return Err(invalid(format!(
                        "`messages[{at}]`: no earlier assistant tool call has the id '{tool_call_id}'; gemini names a tool result by its function"
                    )));
                };
                let text = content.text();
                // A JSON object result is the response itself; anything else is wrapped.
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => json!({"result": text}),
                };
                push_turn(
                    &mut contents,
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                );
            }
        }
    }
    let system = (!system.is_empty()).then(|| json!({"parts": system}));
    Ok((system, contents))
}

impl Provider for Gemini {
    fn name(&self) -> &'static str {
        NAME
    }

    fn env(&self) -> Option<&EnvSettings> {
        Some(&ENV)
    }

    fn path(&self) -> &'static str {
        "/v1beta/models"
    }

    fn endpoint_path(&self, endpoint: &Endpoint<'_>) -> Result<String> {
        let model = model_segment(endpoint.model)?;
        let method = match (endpoint.embedding, endpoint.streaming) {
            (true, _) => "batchEmbedContents",
            (false, true) => "streamGenerateContent?alt=sse",
            (false, false) => "generateContent",
        };
        Ok(format!("/v1beta/models/{model}:{method}"))
    }

    fn auth_headers(&self, key: &Secret, headers: &mut HeaderMap) -> Result<()> {
        headers.insert(HeaderName::from_static("x-goog-api-key"), key_header(key.expose().to_owned())?);
        Ok(())
    }

    fn request_body(&self, request: &ChatRequest, model: &str, _streaming: bool) -> Result<Vec<u8>> {
        let mut native = NATIVE.to_vec();
        native.extend(NATIVE_GENERATION);
        check_fields(NAME, request, MAPPED, &native)?;
        let p = &request.params;
        let (system, contents) = build_contents(request)?;
        if contents.is_empty() {
            return Err(invalid(
                "gemini needs at least one user or assistant message besides the system prompt".into(),
            ));
        }
        let mut body = Map::new();
        if let Some(system) = system {
            body.insert("systemInstruction".into(), system);
        }
        body.insert("contents".into(), Value::Array(contents));
        let mut generation = Map::new();
        if let Some(m) = request.max_tokens() {
            generation.insert("maxOutputTokens".into(), m.into());
        }
        if let Some(stop) = &p.stop {
            generation.insert("stopSequences".into(), stop.to_vec().into());
        }
        for (name, value) in [
            ("temperature", p.temperature),
            ("topP", p.top_p),
            ("presencePenalty", p.presence_penalty),
            ("frequencyPenalty", p.frequency_penalty),
        ] {
            if let Some(v) = value {
                generation.insert(name.into(), v.into());
            }
        }
        if let Some(seed) = p.seed {
            generation.insert("seed".into(), seed.into());
        }
        if let Some(n) = p.n {
            if n != 1 {
                return Err(invalid("liter-llm returns one choice per call; `n` must be 1 for gemini".into()));
            }
        }
        if let Some(k) = request.body().get("top_k").filter(|v| !v.is_null()) {
            generation.insert("topK".into(), k.clone());
        }
        match &p.response_format {
            None | Some(ResponseFormat::Text) => {}
            Some(ResponseFormat::JsonObject) => {
                generation.insert("responseMimeType".into(), "application/json".into());
            }
            Some(ResponseFormat::JsonSchema(schema)) => {
                generation.insert("responseMimeType".into(), "application/json".into());
                generation.insert("responseJsonSchema".into(), schema.clone());
            }
        }
        if let Some(effort) = &p.reasoning_effort {
            generation.insert("thinkingConfig".into(), thinking_config(model, effort)?);
        }
        if !generation.is_empty() {
            body.insert("generationConfig".into(), Value::Object(generation));
        }
        if let Some(tools) = &p.tools {
            let declarations: Vec<Value> = tools
                .iter()
                .map(|t| {
                    let mut f = Map::new();
                    f.insert("name".into(), t.function.name.clone().into());
                    if let Some(d) = &t.function.description {
                        f.insert("description".into(), d.clone().into());
                    }
                    // OpenAI's parameters are JSON Schema: `parametersJsonSchema` takes it as it is
                    // (`parameters` is Gemini's OpenAPI subset, with upper-case types).
                    if let Some(params) = &t.function.parameters {
                        f.insert("parametersJsonSchema".into(), params.clone());
                    }
                    Value::Object(f)
                })
                .collect();
            body.insert("tools".into(), json!([{"functionDeclarations": declarations}]));
        }
        let mode = match &p.tool_choice {
            None => None,
            Some(ToolChoice::Auto) => Some(json!({"mode": "AUTO"})),
            Some(ToolChoice::None) => Some(json!({"mode": "NONE"})),
            Some(ToolChoice::Required) => Some(json!({"mode": "ANY"})),
            Some(ToolChoice::Function(name)) => Some(json!({"mode": "ANY", "allowedFunctionNames": [name]})),
        };
        if let Some(mode) = mode {
            body.insert("toolConfig".into(), json!({"functionCallingConfig": mode}));
        }
        copy_native(request, NATIVE, &mut body);
        to_body(&body)
    }

    fn parse_response(&self, model: &str, body: &[u8]) -> Result<Vec<u8>> {
        let r: GenerateResponse = serde_json::from_slice(body)
            .map_err(|e| bad_response(NAME, format_args!("the response is not a GenerateContentResponse: {e}")))?;
        let answer = r.answer()?;
        let id = r.response_id.clone().unwrap_or_else(|| format!("chatcmpl-{NAME}-{}", crate::response::unix_now()));
        let model = r.model_version.clone().unwrap_or_else(|| model.to_owned());
        let tool_calls = answer
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, (id, name, arguments))| ToolCallOut {
                id: id.unwrap_or_else(|| format!("call_{i}")),
                call_type: "function",
                function: FunctionOut { name, arguments },
            })
            .collect();
        let content = (!answer.text.is_empty()).then_some(answer.text);
        let mut completion = ChatCompletion::single(id, model, content, tool_calls, answer.finish_reason, r.usage());
        completion.choices[0].message.reasoning_content = (!answer.reasoning.is_empty()).then_some(answer.reasoning);
        Ok(completion.to_json())
    }

    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder> {
        Box::new(GeminiStream { out: ChunkWriter::new(NAME, model), calls: 0, started: false, total_tokens: None })
    }

    fn parse_error_body(&self, body: &Value) -> ProviderError {
        // {"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT", "details": [...]}}
        let inner = body.get("error").unwrap_or(body);
        let text = |k: &str| inner.get(k).and_then(Value::as_str).map(str::to_owned);
        let reason = inner
            .get("details")
            .and_then(Value::as_array)
            .and_then(|d| d.iter().find_map(|x| x.get("reason").and_then(Value::as_str)))
            .map(|r| Value::from(r.to_owned()));
        ProviderError { error_type: text("status"), message: text("message"), code: reason }
    }

    fn error_kind(&self, status: u16, provider_error: &ProviderError) -> ErrorKind {
        // An invalid key is a 400 INVALID_ARGUMENT with the reason API_KEY_INVALID.
        if provider_error.code.as_ref().and_then(Value::as_str) == Some("API_KEY_INVALID") {
            return ErrorKind::Authentication;
        }
        ErrorKind::from_status(status)
    }

    fn embedding_body(&self, _request: &ChatRequest, params: &EmbeddingParams, model: &str) -> Result<Vec<u8>> {
        let model = model_segment(model)?;
        let task_type = params.input_type.as_deref().map(|t| match t {
            "search_document" => "RETRIEVAL_DOCUMENT".to_owned(),
            "search_query" => "RETRIEVAL_QUERY".to_owned(),
            "classification" => "CLASSIFICATION".to_owned(),
            "clustering" => "CLUSTERING".to_owned(),
            other => other.to_ascii_uppercase(),
        });
        let requests: Vec<Value> = params
            .input
            .iter()
            .map(|text| {
                let mut r = Map::new();
                r.insert("model".into(), format!("models/{model}").into());
                r.insert("content".into(), json!({"parts": [{"text": text}]}));
                if let Some(t) = &task_type {
                    r.insert("taskType".into(), t.clone().into());
                }
                if let Some(d) = params.dimensions {
                    r.insert("outputDimensionality".into(), d.into());
                }
                Value::Object(r)
            })
            .collect();
        to_body(&Map::from_iter([("requests".to_owned(), Value::Array(requests))]))
    }

    fn parse_embedding(&self, _model: &str, body: &[u8]) -> Result<Embeddings> {
        #[derive(Deserialize)]
        struct Batch {
            embeddings: Vec<Item>,
        }
        #[derive(Deserialize)]
        struct Item {
            values: Value,
        }
        let batch: Batch = serde_json::from_slice(body)
            .map_err(|e| bad_response(NAME, format_args!("the response is not a BatchEmbedContentsResponse: {e}")))?;
        let vectors =
            batch.embeddings.iter().map(|e| crate::embedding::floats(NAME, &e.values)).collect::<Result<Vec<_>>>()?;
        Ok(Embeddings { vectors, model: None, prompt_tokens: None })
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GenerateResponse {
    #[serde(default)]
    candidates: Option<Vec<Candidate>>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<UsageMetadata>,
    model_version: Option<String>,
    response_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<CandidateContent>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct CandidateContent {
    parts: Option<Vec<Part>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    /// Set on a summary of the model's thinking, which is not answer text.
    thought: Option<bool>,
    function_call: Option<FunctionCallPart>,
}

#[derive(Deserialize)]
struct FunctionCallPart {
    id: Option<String>,
    name: String,
    #[serde(default)]
    args: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
    cached_content_token_count: Option<u64>,
}

impl UsageMetadata {
    fn to_usage(self) -> Usage {
        // Thinking tokens are billed as output.
        let completion =
            self.candidates_token_count.unwrap_or(0).saturating_add(self.thoughts_token_count.unwrap_or(0));
        let mut usage = Usage::new(self.prompt_token_count.unwrap_or(0), completion);
        if let Some(cached) = self.cached_content_token_count {
            usage.prompt_tokens_details = Some(PromptTokensDetails { cached_tokens: cached });
        }
        usage
    }
}

/// `generationConfig.thinkingConfig` for a `reasoning_effort`: a thinking level for Gemini 3 and
/// later (`none` is the least, `MINIMAL`: their thinking cannot be turned off), a token budget
/// for the models before (Google's own mapping in its OpenAI compatibility: `low` 1024,
/// `medium` 8192, `high` 24576; `none` turns thinking off). Thought summaries are asked for
/// whenever the model thinks, and come back as `reasoning_content`.
fn thinking_config(model: &str, effort: &str) -> Result<Value> {
    const LEVELS: &[(&str, &str)] = &[
        ("none", "MINIMAL"),
        ("minimal", "MINIMAL"),
        ("low", "LOW"),
        ("medium", "MEDIUM"),
        ("high", "HIGH"),
        ("xhigh", "HIGH"),
    ];
    const BUDGETS: &[(&str, u32)] =
        &[("none", 0), ("minimal", 1024), ("low", 1024), ("medium", 8192), ("high", 24576), ("xhigh", 24576)];
    let unknown = || {
        let names: Vec<&str> = LEVELS.iter().map(|(name, _)| *name).collect();
        invalid(format!("reasoning_effort must be one of {}; got '{effort}'", names.join(", ")))
    };
    let generation = model.strip_prefix("gemini-").and_then(|rest| rest.split(['.', '-']).next());
    let levels = generation.and_then(|g| g.parse::<u32>().ok()).is_some_and(|g| g >= 3);
    if levels {
        let level = LEVELS.iter().find(|(name, _)| *name == effort).ok_or_else(unknown)?.1;
        return Ok(json!({"thinkingLevel": level, "includeThoughts": true}));
    }
    let budget = BUDGETS.iter().find(|(name, _)| *name == effort).ok_or_else(unknown)?.1;
    Ok(json!({"thinkingBudget": budget, "includeThoughts": budget > 0}))
}

/// What one response (or stream chunk) says.
struct Answer {
    text: String,
    /// The thought summaries (`thought: true` parts), when asked for.
    reasoning: String,
    /// (id, name, arguments JSON text).
    calls: Vec<(Option<String>, String, String)>,
    finish_reason: &'static str,
}

/// OpenAI's `finish_reason` for Gemini's; `None` for a reason that is not a finish.
fn finish_reason(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "STOP" => "stop",
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" | "LANGUAGE" => {
            "content_filter"
        }
        "FINISH_REASON_UNSPECIFIED" => return None,
        // MALFORMED_FUNCTION_CALL, OTHER, and reasons added later: the answer ended.
        _ => "stop",
    })
}

impl GenerateResponse {
    fn usage(&self) -> Option<Usage> {
        self.usage_metadata.map(UsageMetadata::to_usage)
    }

    /// Whether the prompt itself was blocked (no candidates, a `blockReason`).
    fn prompt_blocked(&self) -> bool {
        self.candidates.as_ref().is_none_or(Vec::is_empty)
            && self.prompt_feedback.as_ref().is_some_and(|f| f.block_reason.is_some())
    }

    /// The first candidate's text and calls, and its finish reason (`stop` when absent).
    fn answer(&self) -> Result<Answer> {
        if self.prompt_blocked() {
            return Ok(Answer {
                text: String::new(),
                reasoning: String::new(),
                calls: Vec::new(),
                finish_reason: "content_filter",
            });
        }
        let candidate = self
            .candidates
            .as_ref()
            .and_then(|c| c.first())
            .ok_or_else(|| bad_response(NAME, "the response has no candidates and no blockReason"))?;
        let (text, reasoning, calls) = candidate_parts(candidate)?;
        let mut finish = candidate.finish_reason.as_deref().and_then(finish_reason).unwrap_or("stop");
        if !calls.is_empty() && finish == "stop" {
            finish = "tool_calls";
        }
        Ok(Answer { text, reasoning, calls, finish_reason: finish })
    }
}

type Calls = Vec<(Option<String>, String, String)>;

/// A candidate's answer text, thought summaries and calls.
fn candidate_parts(candidate: &Candidate) -> Result<(String, String, Calls)> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for part in candidate.content.as_ref().and_then(|c| c.parts.as_ref()).into_iter().flatten() {
        if let Some(call) = &part.function_call {
            let args = if call.args.is_null() { json!({}) } else { call.args.clone() };
            calls.push((call.id.clone(), call.name.clone(), args.to_string()));
        } else if let Some(t) = &part.text {
            if part.thought == Some(true) {
                reasoning.push_str(t);
            } else {
                text.push_str(t);
            }
        }
    }
    Ok((text, reasoning, calls))
}

/// Each event is a whole `GenerateContentResponse` carrying the next piece; the one with a
/// `finishReason` (or a blocked prompt) ends the stream, with the usage it reports.
struct GeminiStream {
    out: ChunkWriter,
    calls: usize,
    started: bool,
    total_tokens: Option<u64>,
}

impl StreamDecoder for GeminiStream {
    fn on_event(&mut self, event: &SseEvent) -> Result<Step> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Step::default());
        }
        let value = event_object(NAME, data)?;
        if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
            let pe = Gemini.parse_error_body(&json!({"error": error}));
            let status = error.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok());
            let kind = status.map(|s| Gemini.error_kind(s, &pe)).unwrap_or(ErrorKind::ProviderUnavailable);
            return Err(crate::provider::reported_error(NAME, kind, pe));
        }
        let r: GenerateResponse = serde_json::from_value(value)
            .map_err(|e| bad_response(NAME, format_args!("a stream event is not a GenerateContentResponse: {e}")))?;
        if let Some(id) = &r.response_id {
            self.out.set_id(id);
        }
        if let Some(m) = &r.model_version {
            self.out.set_model(m);
        }
        if let Some(usage) = r.usage() {
            self.total_tokens = Some(usage.total_tokens);
        }
        let mut chunks = Vec::new();
        let finish = if r.prompt_blocked() {
            Some("content_filter")
        } else {
            let candidate = r.candidates.as_ref().and_then(|c| c.first());
            let (text, reasoning, calls) = candidate.map(candidate_parts).transpose()?.unwrap_or_default();
            if !reasoning.is_empty() {
                self.started = true;
                chunks.push(self.out.delta(chunk::reasoning(&reasoning), None));
            }
            if !text.is_empty() || !self.started {
                self.started = true;
                chunks.push(self.out.delta(chunk::content(&text), None));
            }
            let had_calls = !calls.is_empty();
            for (id, name, arguments) in calls {
                let index = self.calls;
                self.calls += 1;
                let id = id.unwrap_or_else(|| format!("call_{index}"));
                chunks.push(self.out.delta(chunk::tool_start(index, &id, &name), None));
                chunks.push(self.out.delta(chunk::tool_arguments(index, &arguments), None));
            }
            candidate.and_then(|c| c.finish_reason.as_deref()).and_then(finish_reason).map(|f| {
                if f == "stop" && (had_calls || self.calls > 0) {
                    "tool_calls"
                } else {
                    f
                }
            })
        };
        let Some(finish) = finish else {
            return Ok(Step { chunks, done: false });
        };
        chunks.push(self.out.delta(json!({}), Some(finish)));
        chunks.push(self.out.usage(&r.usage().unwrap_or_else(|| Usage::new(0, 0))));
        Ok(Step { chunks, done: true })
    }

    fn ended_early(&self) -> Error {
        stream_ended_early(NAME, "no candidate with a finishReason was received")
    }

    fn reported_tokens(&self) -> Option<u64> {
        self.total_tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testing::{assembled, run};

    fn body(request: Value) -> Result<Value> {
        let r = ChatRequest::parse(request.to_string().as_bytes())?;
        Ok(serde_json::from_slice(&Gemini.request_body(&r, "gemini-2.5-flash", false)?).unwrap())
    }

    #[test]
    fn reasoning_effort_becomes_a_thinking_budget_or_level() {
        let thinking = |model: &str, effort: &str| {
            let r = ChatRequest::parse(
                json!({"model": "m", "prompt": "x", "reasoning_effort": effort}).to_string().as_bytes(),
            )
            .unwrap();
            Gemini
                .request_body(&r, model, false)
                .map(|b| serde_json::from_slice::<Value>(&b).unwrap()["generationConfig"]["thinkingConfig"].clone())
        };
        assert_eq!(
            thinking("gemini-2.5-flash", "low").unwrap(),
            json!({"thinkingBudget": 1024, "includeThoughts": true})
        );
        assert_eq!(
            thinking("gemini-2.5-pro", "high").unwrap(),
            json!({"thinkingBudget": 24576, "includeThoughts": true})
        );
        assert_eq!(
            thinking("gemini-2.5-flash", "none").unwrap(),
            json!({"thinkingBudget": 0, "includeThoughts": false})
        );
        assert_eq!(
            thinking("gemini-3-pro-preview", "low").unwrap(),
            json!({"thinkingLevel": "LOW", "includeThoughts": true})
        );
        assert_eq!(thinking("gemini-3.5-flash", "none").unwrap()["thinkingLevel"], "MINIMAL");
        assert_eq!(thinking("gemini-2.5-flash", "extreme").unwrap_err().kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn thought_summaries_are_reasoning_content() {
        let answer = json!({"candidates": [{"content": {"role": "model", "parts": [
                {"text": "The user greets; ", "thought": true}, {"text": "answer briefly.", "thought": true},
                {"text": "Hello!"}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "thoughtsTokenCount": 9, "totalTokenCount": 15}});
        let out: Value =
            serde_json::from_slice(&Gemini.parse_response("gemini-2.5-flash", answer.to_string().as_bytes()).unwrap())
                .unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], "Hello!");
        assert_eq!(out["choices"][0]["message"]["reasoning_content"], "The user greets; answer briefly.");
        let events = [
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Thinking it over.", "thought": true}]}, "index": 0}]}),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello!"}]}, "finishReason": "STOP", "index": 0}],
                   "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "thoughtsTokenCount": 3, "totalTokenCount": 9}}),
        ];
        let mut decoder = Gemini.stream_decoder("gemini-2.5-flash");
        let mut chunks = Vec::new();
        for event in &events {
            let step = decoder.on_event(&SseEvent { event: None, data: event.to_string() }).unwrap();
            chunks.extend(step.chunks.iter().map(|c| serde_json::from_slice::<Value>(c).unwrap()));
        }
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            json!({"role": "assistant", "reasoning_content": "Thinking it over."})
        );
        assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "Hello!"}));
    }

    #[test]
    fn maps_roles_system_images_and_tools() {
        let b = body(json!({"model": "gemini/gemini-2.5-flash", "max_tokens": 50, "temperature": 0.5, "stop": "END",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "a cat"}],
            "tools": [{"type": "function", "function": {"name": "lookup", "description": "Looks up", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "lookup"}}}))
        .unwrap();
        assert_eq!(
            b,
            json!({
                "systemInstruction": {"parts": [{"text": "Be brief."}]},
                "contents": [
                    {"role": "user", "parts": [{"text": "What is this?"}, {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}}]},
                    {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"q": "cat"}}}]},
                    {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {"result": "a cat"}}}]}],
                "generationConfig": {"maxOutputTokens": 50, "stopSequences": ["END"], "temperature": 0.5},
                "tools": [{"functionDeclarations": [{"name": "lookup", "description": "Looks up", "parametersJsonSchema": {"type": "object"}}]}],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}}
            })
        );
        for (bad, needle) in [
            (json!({"model": "m", "prompt": "x", "logit_bias": {}}), "`logit_bias`"),
            (json!({"model": "m", "prompt": "x", "n": 2}), "`n` must be 1"),
            (json!({"model": "m", "messages": [{"role": "tool", "tool_call_id": "x", "content": "1"}]}), "no earlier"),
            (json!({"model": "m", "messages": [{"role": "system", "content": "only"}]}), "at least one"),
        ] {
            let e = body(bad.clone()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{bad}");
            assert!(e.message.contains(needle), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn endpoints_put_the_version_and_method_in_the_path() {
        let ep = |model, streaming, embedding| Endpoint { model, streaming, embedding, api_version: None };
        assert_eq!(
            Gemini.endpoint_path(&ep("gemini-2.5-flash", false, false)).unwrap(),
            "/v1beta/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            Gemini.endpoint_path(&ep("models/gemini-2.5-flash", true, false)).unwrap(),
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            Gemini.endpoint_path(&ep("gemini-embedding-001", false, true)).unwrap(),
            "/v1beta/models/gemini-embedding-001:batchEmbedContents"
        );
        assert!(Gemini.endpoint_path(&ep("a/b", false, false)).is_err());
    }

    #[test]
    fn reads_text_calls_usage_and_safety_blocks() {
        let ok = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "thinking", "thought": true}, {"text": "Hi "}, {"text": "there"}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "thoughtsTokenCount": 3, "totalTokenCount": 9, "cachedContentTokenCount": 1},
            "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"});
        let out: Value =
            serde_json::from_slice(&Gemini.parse_response("m", ok.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(out["id"], "resp-1");
        assert_eq!(out["choices"][0]["message"]["content"], "Hi there");
        assert_eq!(out["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            out["usage"],
            json!({"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9, "prompt_tokens_details": {"cached_tokens": 1}})
        );
        let call = json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]}, "finishReason": "STOP"}]});
        let out: Value =
            serde_json::from_slice(&Gemini.parse_response("m", call.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"],
            json!({"name": "f", "arguments": "{\"a\":1}"})
        );
        assert_eq!(out["model"], "m");
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []}, "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}});
        let out: Value =
            serde_json::from_slice(&Gemini.parse_response("m", blocked.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(
            (out["choices"][0]["finish_reason"].clone(), out["choices"][0]["message"]["content"].clone()),
            (json!("content_filter"), Value::Null)
        );
        let unsafe_answer = json!({"candidates": [{"finishReason": "SAFETY", "safetyRatings": []}]});
        let out: Value =
            serde_json::from_slice(&Gemini.parse_response("m", unsafe_answer.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
        for bad in [&b"[]"[..], b"{}", b"{\"candidates\": 3}"] {
            assert_eq!(Gemini.parse_response("m", bad).unwrap_err().kind, ErrorKind::BadResponse);
        }
    }

    #[test]
    fn streams_assemble_with_usage_and_end_at_the_finish() {
        let events = [
            r#"{"candidates": [{"content": {"parts": [{"text": "Hello"}], "role": "model"}, "index": 0}], "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}, "modelVersion": "gemini-2.5-flash", "responseId": "r1"}"#,
            r#"{"candidates": [{"content": {"parts": [{"text": ", world"}], "role": "model"}, "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7}, "modelVersion": "gemini-2.5-flash", "responseId": "r1"}"#,
        ];
        let events: Vec<_> = events.iter().map(|d| (None, *d)).collect();
        let (chunks, done) = run(&Gemini, "gemini-2.5-flash", &events);
        assert!(done);
        let a = assembled(&chunks);
        assert_eq!(a["id"], "r1");
        assert_eq!(a["choices"][0]["message"]["content"], "Hello, world");
        assert_eq!(a["choices"][0]["finish_reason"], "stop");
        assert_eq!(a["usage"], json!({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}));
        let mut d = Gemini.stream_decoder("m");
        let e = d
            .on_event(&SseEvent {
                event: None,
                data: r#"{"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}"#
                    .into(),
            })
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(d.ended_early().kind, ErrorKind::Connection);
    }

    #[test]
    fn embeddings_use_batch_embed_contents() {
        let r = ChatRequest::parse(br#"{"operation": "embedding", "model": "gemini/gemini-embedding-001", "input": ["a", "b"], "dimensions": 3, "input_type": "search_query"}"#).unwrap();
        let b: Value = serde_json::from_slice(
            &Gemini.embedding_body(&r, r.embedding.as_ref().unwrap(), "gemini-embedding-001").unwrap(),
        )
        .unwrap();
        assert_eq!(
            b["requests"][1],
            json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "taskType": "RETRIEVAL_QUERY", "outputDimensionality": 3})
        );
        let e = Gemini.parse_embedding("m", br#"{"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3]}]}"#).unwrap();
        assert_eq!(e.vectors.len(), 2);
        assert!(Gemini.parse_embedding("m", br#"{"embeddings": [{"values": "x"}]}"#).is_err());
    }

    #[test]
    fn an_invalid_key_is_an_authentication_error() {
        let pe = Gemini.parse_error_body(&json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}));
        assert_eq!(pe.error_type.as_deref(), Some("INVALID_ARGUMENT"));
        assert_eq!(Gemini.error_kind(400, &pe), ErrorKind::Authentication);
        assert_eq!(Gemini.error_kind(400, &ProviderError::default()), ErrorKind::InvalidRequest);
    }
}
