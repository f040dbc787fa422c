//! AWS Bedrock, through the Converse API (`POST /model/{modelId}/converse`), and embeddings
//! through `InvokeModel` (`POST /model/{modelId}/invoke`) for Amazon Titan Text Embeddings v2 and
//! Cohere Embed on Bedrock.
//!
//! The base URL is the host root (`https://bedrock-runtime.<region>.amazonaws.com`), as the AWS
//! SDKs take it; the adapter adds `/model/{modelId}/...`, the model id percent-encoded as one
//! path segment (`:` and `/` of versioned ids and ARNs included), as the SDKs encode it.
//!
//! Requests: `system` and `developer` messages become `system` blocks; consecutive messages of one
//! role become one Converse turn (Converse wants user and assistant turns to alternate, and
//! several tool results answer one assistant turn together); images become `image` blocks with
//! their bytes (Converse takes no image URLs); tools become `toolConfig.tools[].toolSpec`, tool
//! calls `toolUse` blocks and tool results `toolResult` blocks in a user turn; sampling fields go
//! into `inferenceConfig`. Responses: `output.message.content` (text, `toolUse`,
//! `reasoningContent`), `stopReason` and `usage`, cache reads and writes included.
//!
//! Streams: `POST /model/{modelId}/converse-stream`, answered in AWS event-stream frames, which
//! `eventstream` decodes (the transport hands it the raw bytes).
//!
//! Authentication: a Bedrock API key when one is set (the call's `api_key`,
//! `providers.bedrock.api_key`, or `AWS_BEARER_TOKEN_BEDROCK`, sent as `Authorization: Bearer`,
//! as AWS documents it); else AWS SigV4 with `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! `AWS_SESSION_TOKEN`, each attempt signed anew by `sigv4` (the `aws-sigv4` crate). The region
//! is `AWS_REGION` (then `AWS_DEFAULT_REGION`), else the one in the endpoint's host name; the
//! default base URL is that region's `https://bedrock-runtime.<region>.amazonaws.com`.

pub mod eventstream;
pub mod sigv4;

use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::embedding::{EmbeddingParams, Embeddings};
use crate::error::{Error, ErrorKind, ProviderError, Result};
use crate::provider::{
    bad_response, bearer, check_fields, copy_native, reasoning_budget, to_body, Endpoint, EnvSettings, Provider,
    Signer, Step, StreamDecoder,
};
use crate::request::{ChatRequest, Content, Message, ResponseFormat, ToolChoice};
use crate::response::{ChatCompletion, FunctionOut, PromptTokensDetails, ToolCallOut, Usage};
use crate::secret::Secret;
use crate::sse::SseEvent;

pub struct Bedrock;

pub(crate) const NAME: &str = "bedrock";

static ENV: EnvSettings = EnvSettings {
    key_vars: &["AWS_BEARER_TOKEN_BEDROCK"],
    // The AWS SDKs' service-specific endpoint variable.
    base_url_vars: &["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"],
    // Regional: `regional_base_url`.
    default_base_url: "",
};

/// The Bedrock Runtime endpoint of `region`, as the AWS SDKs build it.
pub fn regional_base_url(region: &str) -> Result<String> {
    let ok = !region.is_empty() && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        return Err(invalid(format!("`{region}` is not an AWS region name (such as us-east-1)")));
    }
    Ok(format!("https://bedrock-runtime.{region}.amazonaws.com"))
}

/// The region the AWS SDKs take from the environment: `AWS_REGION`, then `AWS_DEFAULT_REGION`.
pub fn region_from_env() -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()))
}

const MAPPED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "temperature",
    "top_p",
    "n",
    "tools",
    "tool_choice",
    "response_format",
    "reasoning_effort",
    // Set by the streaming call; the endpoint (converse-stream) says it instead.
    "stream",
    "stream_options",
];

/// Converse's own request members, passed through as given.
const NATIVE: &[&str] = &[
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "guardrailConfig",
    "performanceConfig",
    "promptVariables",
    "requestMetadata",
];

fn invalid(message: String) -> Error {
    Error::invalid_request(message).with_provider(NAME)
}

/// A model id (or ARN) as one URL path segment: everything but RFC 3986's unreserved characters
/// percent-encoded, as the AWS SDKs encode a path label.
pub fn model_segment(model: &str) -> Result<String> {
    if model.is_empty() || model.len() > 2048 || model.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(format!(
            "`{model}` is not a Bedrock model id (such as anthropic.claude-3-5-haiku-20241022-v1:0) or ARN"
        )));
    }
    let mut out = String::with_capacity(model.len() + 8);
    for b in model.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// Which InvokeModel embedding body a model takes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum EmbeddingFamily {
    Titan,
    Cohere,
}

fn embedding_family(model: &str) -> Result<EmbeddingFamily> {
    // Inference profiles put a geography in front (`us.cohere.embed-...`).
    let bare = model.rsplit('/').next().unwrap_or(model);
    if bare.contains("amazon.titan-embed-text") {
        Ok(EmbeddingFamily::Titan)
    } else if bare.contains("cohere.embed") {
        Ok(EmbeddingFamily::Cohere)
    } else {
        Err(Error::unsupported(format!(
            "bedrock embeddings take Amazon Titan Text Embeddings (amazon.titan-embed-text-v2:0) or Cohere Embed (cohere.embed-english-v3, cohere.embed-multilingual-v3); got '{model}'"
        ))
        .with_provider(NAME))
    }
}

/// Whether the model is an Anthropic Claude model (by id or inference profile).
fn is_claude(model: &str) -> bool {
    model.contains("anthropic.claude")
}

/// A data URL's image as a Converse `image` block.
fn image_block(url: &str, at: usize) -> Result<Value> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(Error::unsupported(format!(
            "`messages[{at}]`: bedrock's Converse API takes image bytes only; pass the image as a data: URL (data:image/png;base64,...)"
        ))
        .with_provider(NAME));
    };
    let Some((mime_type, data)) = rest.split_once(";base64,") else {
        return Err(invalid(format!("`messages[{at}]`: a data: URL image must be base64 (data:<type>;base64,...)")));
    };
    let format = match mime_type.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(invalid(format!(
                "`messages[{at}]`: bedrock takes png, jpeg, gif or webp images, not '{other}'"
            )))
        }
    };
    Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
}

fn blocks_of(content: &Content, at: usize) -> Result<Vec<Value>> {
    crate::provider::text_blocks(NAME, content, at, image_block)
}

/// Appends blocks to the last turn when it has the same role.
fn push_turn(messages: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    crate::provider::push_turn(messages, role, "content", blocks);
}

/// `system` blocks and Converse `messages`, and whether any tool block occurs.
fn build_messages(request: &ChatRequest) -> Result<(Vec<Value>, Vec<Value>, bool)> {
    let mut system = Vec::new();
    let mut messages = Vec::new();
    let mut tool_blocks = false;
    for (at, message) in request.params.messages.iter().enumerate() {
        match message {
            Message::System { content } | Message::Developer { content } => {
                for block in blocks_of(content, at)? {
                    if block.get("text").is_none() {
                        return Err(invalid(format!("`messages[{at}]`: a bedrock system message takes text only")));
                    }
                    system.push(block);
                }
            }
            Message::User { content } => push_turn(&mut messages, "user", blocks_of(content, at)?),
            Message::Assistant { content, tool_calls } => {
                let mut blocks: Vec<Value> = match content {
                    // Converse rejects empty text blocks.
                    Some(c) => blocks_of(c, at)?.into_iter().filter(|b| b["text"] != "").collect(),
                    None => Vec::new(),
                };
                for call in tool_calls.iter().flatten() {
                    let input: Value = serde_json::from_str(&call.function.arguments).map_err(|e| {
                        invalid(format!("`messages[{at}]`: the arguments of tool call '{}' are not JSON: {e}", call.id))
                    })?;
                    tool_blocks = true;
                    blocks.push(json!({"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": input}}));
                }
                if blocks.is_empty() {
                    return Err(invalid(format!(
                        "`messages[{at}]`: an assistant message needs content or tool_calls for bedrock"
                    )));
                }
                push_turn(&mut messages, "assistant", blocks);
            }
            Message::Tool { content, tool_call_id } => {
                let text = content.text();
                // A JSON object result is sent as JSON; anything else as text.
                let result = match serde_json::from_str::<Value>(&text) {
                    Ok(v @ Value::Object(_)) => json!({"json": v}),
                    _ => json!({"text": text}),
                };
                tool_blocks = true;
                push_turn(
                    &mut messages,
                    "user",
                    vec![json!({"toolResult": {"toolUseId": tool_call_id, "content": [result]}})],
                );
            }
        }
    }
    Ok((system, messages, tool_blocks))
}

/// `toolConfig`, from `tools` and `tool_choice`. Converse has no "none": with it, tools are left
/// out, which Converse allows only while the conversation has no tool blocks.
fn tool_config(request: &ChatRequest, tool_blocks: bool) -> Result<Option<Value>> {
    let p = &request.params;
    let Some(tools) = p.tools.as_ref().filter(|t| !t.is_empty()) else {
        if matches!(p.tool_choice, Some(ToolChoice::Required | ToolChoice::Function(_))) {
            return Err(invalid("tool_choice needs `tools` for bedrock".into()));
        }
        return Ok(None);
    };
    let choice = match &p.tool_choice {
        None | Some(ToolChoice::Auto) => None,
        Some(ToolChoice::None) if tool_blocks => {
            return Err(invalid(
                "bedrock has no tool_choice \"none\" for a conversation with tool calls (Converse needs toolConfig then); use \"auto\"".into(),
            ))
        }
        Some(ToolChoice::None) => return Ok(None),
        Some(ToolChoice::Required) => Some(json!({"any": {}})),
        Some(ToolChoice::Function(name)) => Some(json!({"tool": {"name": name}})),
    };
    let specs: Vec<Value> = tools
        .iter()
        .map(|t| {
            let mut spec = Map::new();
            spec.insert("name".into(), t.function.name.clone().into());
            if let Some(d) = &t.function.description {
                spec.insert("description".into(), d.clone().into());
            }
            let schema = t.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            spec.insert("inputSchema".into(), json!({"json": schema}));
            json!({"toolSpec": spec})
        })
        .collect();
    let mut config = Map::new();
    config.insert("tools".into(), Value::Array(specs));
    if let Some(choice) = choice {
        config.insert("toolChoice".into(), choice);
    }
    Ok(Some(Value::Object(config)))
}

/// ConverseStream's decoder, fed the raw bytes of the AWS event stream.
struct EventStream(eventstream::ConverseStreamDecoder);

impl StreamDecoder for EventStream {
    fn on_event(&mut self, _event: &SseEvent) -> Result<Step> {
        Err(Error::internal("bedrock streams are AWS event streams, not server-sent events"))
    }

    fn ended_early(&self) -> Error {
        self.0.ended_early()
    }

    fn reported_tokens(&self) -> Option<u64> {
        self.0.reported_tokens()
    }

    fn takes_bytes(&self) -> bool {
        true
    }

    fn on_bytes(&mut self, bytes: &[u8], chunks: &mut Vec<Vec<u8>>) -> Result<bool> {
        self.0.feed(bytes, chunks)
    }
}

/// The region a call is signed for: `AWS_REGION` (then `AWS_DEFAULT_REGION`), else the one in a
/// Bedrock Runtime host name (`bedrock-runtime[-fips].<region>.amazonaws.com`).
fn signing_region(url: &Url) -> Option<String> {
    region_from_env().or_else(|| region_in_host(url.host_str()?))
}

/// The region of a Bedrock Runtime host name.
fn region_in_host(host: &str) -> Option<String> {
    let rest = host.strip_prefix("bedrock-runtime-fips.").or_else(|| host.strip_prefix("bedrock-runtime."))?;
    let (region, domain) = rest.split_once('.')?;
    (domain.starts_with("amazonaws.") && regional_base_url(region).is_ok()).then(|| region.to_owned())
}

/// Signs every attempt with SigV4 for one set of credentials and one region.
struct SigV4 {
    credentials: sigv4::AwsCredentials,
    region: String,
    identity: Secret,
}

impl Signer for SigV4 {
    fn identity(&self) -> &Secret {
        &self.identity
    }

    fn sign(&self, url: &Url, headers: &mut HeaderMap, body: &[u8]) -> Result<()> {
        let signed = {
            let mut pairs = Vec::with_capacity(headers.len());
            for (name, value) in headers.iter() {
                let value = value
                    .to_str()
                    .map_err(|_| invalid(format!("the {name} header cannot be signed: it is not visible ASCII")))?;
                pairs.push((name.as_str(), value));
            }
            sigv4::sign_request(
                "POST",
                url.as_str(),
                &pairs,
                body,
                &self.credentials,
                &self.region,
                std::time::SystemTime::now(),
            )?
        };
        for header in signed {
            let mut value = HeaderValue::try_from(header.value)
                .map_err(|_| invalid("the request signature is not a valid header value".into()))?;
            value.set_sensitive(header.sensitive);
            headers.insert(HeaderName::from_static(header.name), value);
        }
        Ok(())
    }
}

/// Claude's default room for the answer after a thinking budget, as the Anthropic adapter's.
const THINKING_ANSWER_TOKENS: u32 = 4096;

impl Provider for Bedrock {
    fn name(&self) -> &'static str {
        NAME
    }

    fn env(&self) -> Option<&EnvSettings> {
        Some(&ENV)
    }

    fn path(&self) -> &'static str {
        "/model"
    }

    fn endpoint_path(&self, endpoint: &Endpoint<'_>) -> Result<String> {
        let model = model_segment(endpoint.model)?;
        let method = match (endpoint.embedding, endpoint.streaming) {
            (true, _) => {
                embedding_family(endpoint.model)?;
                "invoke"
            }
            (false, true) => "converse-stream",
            (false, false) => "converse",
        };
        Ok(format!("/model/{model}/{method}"))
    }

    fn auth_headers(&self, key: &Secret, headers: &mut HeaderMap) -> Result<()> {
        headers.insert(reqwest::header::AUTHORIZATION, bearer(key)?);
        Ok(())
    }

    fn request_body(&self, request: &ChatRequest, model: &str, _streaming: bool) -> Result<Vec<u8>> {
        check_fields(NAME, request, MAPPED, NATIVE)?;
        let p = &request.params;
        if let Some(n) = p.n {
            if n != 1 {
                return Err(invalid("liter-llm returns one choice per call; `n` must be 1 for bedrock".into()));
            }
        }
        match &p.response_format {
            None | Some(ResponseFormat::Text) => {}
            Some(_) => {
                return Err(Error::unsupported(
                    "bedrock's Converse API has no JSON response mode; describe the JSON in the prompt, or use a tool with the schema",
                )
                .with_provider(NAME))
            }
        }
        let (system, messages, tool_blocks) = build_messages(request)?;
        if messages.is_empty() {
            return Err(invalid(
                "bedrock needs at least one user or assistant message besides the system prompt".into(),
            ));
        }
        let mut body = Map::new();
        body.insert("messages".into(), Value::Array(messages));
        if !system.is_empty() {
            body.insert("system".into(), Value::Array(system));
        }
        let mut inference = Map::new();
        let mut max_tokens = request.max_tokens();
        let mut additional = match request.body().get("additionalModelRequestFields") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(invalid("`additionalModelRequestFields` must be an object".into())),
        };
        if let Some(effort) = &p.reasoning_effort {
            if !is_claude(model) {
                return Err(Error::unsupported(format!(
                    "reasoning_effort on bedrock maps to Claude's thinking budget; '{model}' is not a Claude model (pass the model's own fields in additionalModelRequestFields)"
                ))
                .with_provider(NAME));
            }
            if additional.contains_key("thinking") {
                return Err(invalid("pass reasoning_effort or additionalModelRequestFields.thinking, not both".into()));
            }
            if let Some(budget) = reasoning_budget(NAME, effort)? {
                let total = max_tokens.unwrap_or(budget + THINKING_ANSWER_TOKENS);
                if total <= budget {
                    return Err(invalid(format!(
                        "reasoning_effort '{effort}' gives bedrock a thinking budget of {budget} tokens, which must be below max_tokens ({total}); raise max_tokens"
                    )));
                }
                max_tokens = Some(total);
                additional.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
            }
        }
        if let Some(m) = max_tokens {
            inference.insert("maxTokens".into(), m.into());
        }
        if let Some(t) = p.temperature {
            inference.insert("temperature".into(), t.into());
        }
        if let Some(t) = p.top_p {
            inference.insert("topP".into(), t.into());
        }
        if let Some(stop) = &p.stop {
            inference.insert("stopSequences".into(), stop.to_vec().into());
        }
        if !inference.is_empty() {
            body.insert("inferenceConfig".into(), Value::Object(inference));
        }
        if let Some(config) = tool_config(request, tool_blocks)? {
            body.insert("toolConfig".into(), config);
        }
        copy_native(request, NATIVE, &mut body);
        if !additional.is_empty() {
            body.insert("additionalModelRequestFields".into(), Value::Object(additional));
        }
        to_body(&body)
    }

    fn parse_response(&self, model: &str, body: &[u8]) -> Result<Vec<u8>> {
        let r: ConverseResponse = serde_json::from_slice(body)
            .map_err(|e| bad_response(NAME, format_args!("the response is not a Converse response: {e}")))?;
        let message =
            r.output.and_then(|o| o.message).ok_or_else(|| bad_response(NAME, "the response has no output.message"))?;
        let mut text = String::new();
        let mut reasoning: Option<String> = None;
        let mut calls = Vec::new();
        for block in message.content.unwrap_or_default() {
            if let Some(t) = block.text {
                text.push_str(&t);
            } else if let Some(call) = block.tool_use {
                let input = if call.input.is_null() { json!({}) } else { call.input };
                calls.push(ToolCallOut {
                    id: call.tool_use_id,
                    call_type: "function",
                    function: FunctionOut { name: call.name, arguments: input.to_string() },
                });
            } else if let Some(r) = block.reasoning_content {
                if let Some(t) = r.reasoning_text.and_then(|t| t.text) {
                    reasoning.get_or_insert_with(String::new).push_str(&t);
                }
            }
        }
        let finish = finish_reason(r.stop_reason.as_deref());
        let finish = if finish == "stop" && !calls.is_empty() { "tool_calls" } else { finish };
        let id = format!("chatcmpl-{NAME}-{}", crate::response::unix_now());
        let content = (!text.is_empty()).then_some(text);
        let mut completion =
            ChatCompletion::single(id, model.to_owned(), content, calls, finish, r.usage.map(ConverseUsage::to_usage));
        completion.choices[0].message.reasoning_content = reasoning;
        Ok(completion.to_json())
    }

    fn stream_decoder(&self, model: &str) -> Box<dyn StreamDecoder> {
        Box::new(EventStream(eventstream::ConverseStreamDecoder::new(model)))
    }

    fn default_base_url(&self) -> Result<Option<String>> {
        match region_from_env() {
            Some(region) => regional_base_url(&region).map(Some),
            None => Err(invalid(
                "no region for bedrock: set AWS_REGION (or AWS_DEFAULT_REGION), pass base_url or set AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
                    .into(),
            )),
        }
    }

    fn signer(&self, url: &Url) -> Option<Result<Arc<dyn Signer>>> {
        let Some(credentials) = sigv4::AwsCredentials::from_env() else {
            return Some(Err(Error::new(
                ErrorKind::Authentication,
                "no bedrock credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), or a Bedrock API key in AWS_BEARER_TOKEN_BEDROCK, api_key or providers.bedrock.api_key",
            )));
        };
        let Some(region) = signing_region(url) else {
            return Some(Err(invalid(
                "no region to sign bedrock requests for: set AWS_REGION (or AWS_DEFAULT_REGION)".into(),
            )));
        };
        // The identity hashes to the cache's tenant scope and the audit key id: the secret keeps
        // two holders of one access key id apart only if they hold different secrets, as AWS does.
        let identity = Secret::new(format!(
            "aws-sigv4:{}:{}",
            credentials.access_key_id.expose(),
            credentials.secret_access_key.expose()
        ));
        Some(Ok(Arc::new(SigV4 { credentials, region, identity })))
    }

    fn parse_error_body(&self, body: &Value) -> ProviderError {
        error_from_body(body)
    }

    fn error_kind(&self, status: u16, provider_error: &ProviderError) -> ErrorKind {
        error_kind(status, provider_error.error_type.as_deref())
    }

    fn embedding_body(&self, _request: &ChatRequest, params: &EmbeddingParams, model: &str) -> Result<Vec<u8>> {
        let mut body = Map::new();
        match embedding_family(model)? {
            EmbeddingFamily::Titan => {
                // InvokeModel on Titan takes one text per call.
                let [text] = params.input.as_slice() else {
                    return Err(invalid(format!(
                        "Amazon Titan embeddings take one input per call on bedrock; got {} (send one call per input, or use a Cohere Embed model, which takes up to 96)",
                        params.input.len()
                    )));
                };
                body.insert("inputText".into(), text.clone().into());
                if let Some(d) = params.dimensions {
                    body.insert("dimensions".into(), d.into());
                }
                body.insert("normalize".into(), true.into());
            }
            EmbeddingFamily::Cohere => {
                if params.dimensions.is_some() {
                    return Err(invalid("Cohere Embed v3 on bedrock has a fixed size; remove `dimensions`".into()));
                }
                body.insert("texts".into(), params.input.clone().into());
                body.insert(
                    "input_type".into(),
                    params.input_type.as_deref().unwrap_or(crate::providers::cohere::DEFAULT_INPUT_TYPE).into(),
                );
                body.insert("embedding_types".into(), json!(["float"]));
            }
        }
        to_body(&body)
    }

    fn parse_embedding(&self, model: &str, body: &[u8]) -> Result<Embeddings> {
        match embedding_family(model)? {
            EmbeddingFamily::Titan => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct TitanResponse {
                    embedding: Value,
                    input_text_token_count: Option<u64>,
                }
                let r: TitanResponse = serde_json::from_slice(body)
                    .map_err(|e| bad_response(NAME, format_args!("the response is not a Titan embedding: {e}")))?;
                let vector = crate::embedding::floats(NAME, &r.embedding)?;
                Ok(Embeddings { vectors: vec![vector], model: None, prompt_tokens: r.input_text_token_count })
            }
            EmbeddingFamily::Cohere => {
                // `embedding_types` given: {"embeddings": {"float": [...]}}; else a plain list.
                let r: Value = serde_json::from_slice(body)
                    .map_err(|e| bad_response(NAME, format_args!("the response is not JSON: {e}")))?;
                let list = match r.get("embeddings") {
                    Some(Value::Object(by_type)) => by_type.get("float"),
                    Some(list @ Value::Array(_)) => Some(list),
                    _ => None,
                };
                let list = list
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad_response(NAME, "the Cohere Embed answer has no float embeddings"))?;
                let vectors = list.iter().map(|v| crate::embedding::floats(NAME, v)).collect::<Result<Vec<_>>>()?;
                Ok(Embeddings { vectors, model: None, prompt_tokens: None })
            }
        }
    }
}

/// Reads `{"message": ...}` (or `Message`) and the error type from `__type`
/// (`com.amazon.coral.service#ThrottlingException`, or `ThrottlingException:http://...`).
pub fn error_from_body(body: &Value) -> ProviderError {
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    ProviderError {
        error_type: text("__type").map(|t| error_type_name(&t).to_owned()),
        message: text("message").or_else(|| text("Message")),
        code: None,
    }
}

/// An AWS error type without its namespace and URI: `ThrottlingException` from
/// `aws.protocols#ThrottlingException:http://internal.amazon.com/coral/...`.
pub fn error_type_name(raw: &str) -> &str {
    let raw = raw.split(':').next().unwrap_or(raw);
    raw.rsplit('#').next().unwrap_or(raw).trim()
}

/// The kind of a Bedrock error, by its type where it names one, else by status.
pub fn error_kind(status: u16, error_type: Option<&str>) -> ErrorKind {
    match error_type {
        Some("ThrottlingException" | "ServiceQuotaExceededException" | "ModelNotReadyException") => {
            ErrorKind::RateLimited
        }
        Some("ValidationException") => ErrorKind::InvalidRequest,
        Some(
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "IncompleteSignatureException"
            | "ExpiredTokenException"
            | "MissingAuthenticationTokenException",
        ) => ErrorKind::Authentication,
        Some("AccessDeniedException") => ErrorKind::PermissionDenied,
        Some("ResourceNotFoundException") => ErrorKind::NotFound,
        Some("ModelTimeoutException") => ErrorKind::Timeout,
        Some(
            "ServiceUnavailableException"
            | "InternalServerException"
            | "ModelErrorException"
            | "ModelStreamErrorException",
        ) => ErrorKind::ProviderUnavailable,
        _ => ErrorKind::from_status(status),
    }
}

/// OpenAI's `finish_reason` for a Converse `stopReason`.
pub fn finish_reason(reason: Option<&str>) -> &'static str {
    match reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("guardrail_intervened" | "content_filtered") => "content_filter",
        // end_turn, stop_sequence, and reasons added later: the answer ended.
        _ => "stop",
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseResponse {
    output: Option<ConverseOutput>,
    stop_reason: Option<String>,
    usage: Option<ConverseUsage>,
}

#[derive(Deserialize)]
struct ConverseOutput {
    message: Option<ConverseMessage>,
}

#[derive(Deserialize)]
struct ConverseMessage {
    content: Option<Vec<ContentBlock>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContentBlock {
    text: Option<String>,
    tool_use: Option<ToolUse>,
    reasoning_content: Option<ReasoningContent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUse {
    tool_use_id: String,
    name: String,
    #[serde(default)]
    input: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasoningContent {
    reasoning_text: Option<ReasoningText>,
}

#[derive(Deserialize)]
struct ReasoningText {
    text: Option<String>,
}

/// Converse's `usage` (and ConverseStream's `metadata.usage`).
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConverseUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_write_input_tokens: Option<u64>,
}

impl ConverseUsage {
    /// OpenAI's usage: `inputTokens` excludes the cache reads and writes, which OpenAI counts in
    /// `prompt_tokens` (cache reads again in `prompt_tokens_details.cached_tokens`), as the
    /// Anthropic adapter reports them.
    pub(crate) fn to_usage(self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_write_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0) + read + write;
        let mut usage = Usage::new(prompt, self.output_tokens.unwrap_or(0));
        if self.cache_read_input_tokens.is_some() || self.cache_write_input_tokens.is_some() {
            usage.prompt_tokens_details = Some(PromptTokensDetails { cached_tokens: read });
            usage.cache_creation_input_tokens = self.cache_write_input_tokens;
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAUDE: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

    fn body(request: Value) -> Result<Value> {
        body_for(request, CLAUDE)
    }

    fn body_for(request: Value, model: &str) -> Result<Value> {
        let r = ChatRequest::parse(request.to_string().as_bytes())?;
        Ok(serde_json::from_slice(&Bedrock.request_body(&r, model, false)?).unwrap())
    }

    fn parsed(answer: Value) -> Value {
        serde_json::from_slice(&Bedrock.parse_response("m", answer.to_string().as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn model_ids_and_arns_are_one_encoded_path_segment() {
        let ep = |model, streaming, embedding| Endpoint { model, streaming, embedding, api_version: None };
        assert_eq!(
            Bedrock.endpoint_path(&ep(CLAUDE, false, false)).unwrap(),
            "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
        );
        assert_eq!(
            Bedrock
                .endpoint_path(&ep("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0", false, false))
                .unwrap(),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.amazon.nova-pro-v1%3A0/converse"
        );
        assert_eq!(
            Bedrock.endpoint_path(&ep("amazon.titan-embed-text-v2:0", false, true)).unwrap(),
            "/model/amazon.titan-embed-text-v2%3A0/invoke"
        );
        assert_eq!(
            Bedrock.endpoint_path(&ep("amazon.nova-pro-v1:0", false, true)).unwrap_err().kind,
            ErrorKind::Unsupported
        );
        assert_eq!(
            Bedrock.endpoint_path(&ep(CLAUDE, true, false)).unwrap(),
            "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"
        );
        for bad in ["", "a b", "a\nb"] {
            assert_eq!(Bedrock.endpoint_path(&ep(bad, false, false)).unwrap_err().kind, ErrorKind::InvalidRequest);
        }
        assert_eq!(regional_base_url("eu-west-3").unwrap(), "https://bedrock-runtime.eu-west-3.amazonaws.com");
        assert!(regional_base_url("evil.example/x").is_err());
    }

    #[test]
    fn the_signing_region_comes_from_a_bedrock_host_name() {
        assert_eq!(region_in_host("bedrock-runtime.eu-west-3.amazonaws.com").as_deref(), Some("eu-west-3"));
        assert_eq!(region_in_host("bedrock-runtime-fips.us-east-1.amazonaws.com").as_deref(), Some("us-east-1"));
        assert_eq!(region_in_host("bedrock-runtime.cn-north-1.amazonaws.com.cn").as_deref(), Some("cn-north-1"));
        assert_eq!(region_in_host("127.0.0.1"), None);
        assert_eq!(region_in_host("bedrock-runtime.evil.example.com"), None);
    }

    #[test]
    fn maps_system_images_tools_and_merged_tool_results() {
        let b = body(json!({"model": "bedrock/x", "max_tokens": 50, "temperature": 0.5, "top_p": 0.9, "stop": "END",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4A"}}]},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}},
                    {"id": "t2", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"dog\"}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "a cat"},
                {"role": "tool", "tool_call_id": "t2", "content": "{\"animal\": \"dog\"}"},
                {"role": "user", "content": "Thanks"}],
            "tools": [{"type": "function", "function": {"name": "lookup", "description": "Looks up", "parameters": {"type": "object"}}}],
            "tool_choice": "required"}))
        .unwrap();
        assert_eq!(
            b,
            json!({
                "system": [{"text": "Be brief."}],
                "messages": [
                    {"role": "user", "content": [{"text": "What is this?"}, {"image": {"format": "jpeg", "source": {"bytes": "/9j/4A"}}}]},
                    {"role": "assistant", "content": [
                        {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": "cat"}}},
                        {"toolUse": {"toolUseId": "t2", "name": "lookup", "input": {"q": "dog"}}}]},
                    {"role": "user", "content": [
                        {"toolResult": {"toolUseId": "t1", "content": [{"text": "a cat"}]}},
                        {"toolResult": {"toolUseId": "t2", "content": [{"json": {"animal": "dog"}}]}},
                        {"text": "Thanks"}]}],
                "inferenceConfig": {"maxTokens": 50, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
                "toolConfig": {"tools": [{"toolSpec": {"name": "lookup", "description": "Looks up", "inputSchema": {"json": {"type": "object"}}}}],
                    "toolChoice": {"any": {}}}
            })
        );
        let tools = json!([{"type": "function", "function": {"name": "f"}}]);
        let named = body(json!({"model": "m", "prompt": "x", "tools": tools, "tool_choice": {"type": "function", "function": {"name": "f"}}})).unwrap();
        assert_eq!(named["toolConfig"]["toolChoice"], json!({"tool": {"name": "f"}}));
        assert_eq!(
            named["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
            json!({"type": "object", "properties": {}})
        );
        let auto = body(json!({"model": "m", "prompt": "x", "tools": tools, "tool_choice": "auto"})).unwrap();
        assert!(auto["toolConfig"].get("toolChoice").is_none());
        let none = body(json!({"model": "m", "prompt": "x", "tools": tools, "tool_choice": "none"})).unwrap();
        assert!(none.get("toolConfig").is_none());
        let native = body(json!({"model": "m", "prompt": "x", "guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1"}})).unwrap();
        assert_eq!(native["guardrailConfig"]["guardrailIdentifier"], "g");
    }

    #[test]
    fn requests_bedrock_cannot_take_are_typed_errors() {
        let call = json!([{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]);
        for (bad, kind, needle) in [
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.test/cat.png"}}]}]}),
                ErrorKind::Unsupported,
                "image bytes only",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AA"}}]}]}),
                ErrorKind::InvalidRequest,
                "image/tiff",
            ),
            (json!({"model": "m", "prompt": "x", "logit_bias": {}}), ErrorKind::InvalidRequest, "`logit_bias`"),
            (json!({"model": "m", "prompt": "x", "n": 2}), ErrorKind::InvalidRequest, "`n` must be 1"),
            (
                json!({"model": "m", "prompt": "x", "response_format": {"type": "json_object"}}),
                ErrorKind::Unsupported,
                "no JSON response mode",
            ),
            (
                json!({"model": "m", "messages": [{"role": "system", "content": "only"}]}),
                ErrorKind::InvalidRequest,
                "at least one",
            ),
            (
                json!({"model": "m", "prompt": "x", "tool_choice": "required"}),
                ErrorKind::InvalidRequest,
                "needs `tools`",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": null, "tool_calls": call}, {"role": "tool", "tool_call_id": "t1", "content": "1"}],
                "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none"}),
                ErrorKind::InvalidRequest,
                "no tool_choice \"none\"",
            ),
            (
                json!({"model": "m", "prompt": "x", "reasoning_effort": "high", "max_tokens": 100}),
                ErrorKind::InvalidRequest,
                "below max_tokens",
            ),
        ] {
            let e = body(bad.clone()).unwrap_err();
            assert_eq!(e.kind, kind, "{bad}");
            assert!(e.message.contains(needle), "{bad}: {}", e.message);
            assert_eq!(e.provider.as_deref(), Some("bedrock"));
        }
        let e = body_for(json!({"model": "m", "prompt": "x", "reasoning_effort": "low"}), "amazon.nova-pro-v1:0")
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
    }

    #[test]
    fn reasoning_effort_becomes_claude_thinking() {
        let b = body(json!({"model": "m", "prompt": "x", "reasoning_effort": "medium",
            "additionalModelRequestFields": {"top_k": 5}}))
        .unwrap();
        assert_eq!(
            b["additionalModelRequestFields"],
            json!({"top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 2048}})
        );
        assert_eq!(b["inferenceConfig"]["maxTokens"], 2048 + THINKING_ANSWER_TOKENS);
        let b = body_for(
            json!({"model": "m", "prompt": "x", "reasoning_effort": "none"}),
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
        )
        .unwrap();
        assert!(b.get("additionalModelRequestFields").is_none());
    }

    #[test]
    fn reads_text_tool_calls_reasoning_stop_reasons_and_usage() {
        // The Converse API reference's response shape.
        let out = parsed(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "The user greets me.", "signature": "sig"}}},
                {"text": "Hello! How can I help?"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 12, "outputTokens": 8, "totalTokens": 35, "cacheReadInputTokens": 10, "cacheWriteInputTokens": 5},
            "metrics": {"latencyMs": 412}}));
        let choice = &out["choices"][0];
        assert_eq!(choice["message"]["content"], "Hello! How can I help?");
        assert_eq!(choice["message"]["reasoning_content"], "The user greets me.");
        assert_eq!(choice["finish_reason"], "stop");
        assert_eq!(
            out["usage"],
            json!({"prompt_tokens": 27, "completion_tokens": 8, "total_tokens": 35,
                   "prompt_tokens_details": {"cached_tokens": 10}, "cache_creation_input_tokens": 5})
        );
        assert!(out["id"].as_str().unwrap().starts_with("chatcmpl-bedrock-"));
        let out = parsed(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song", "input": {"sign": "WZPZ"}}}]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 375, "outputTokens": 36, "totalTokens": 411}}));
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"],
            json!([{"id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "type": "function", "function": {"name": "top_song", "arguments": "{\"sign\":\"WZPZ\"}"}}])
        );
        assert_eq!(out["usage"], json!({"prompt_tokens": 375, "completion_tokens": 36, "total_tokens": 411}));
        for (reason, finish) in [
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("guardrail_intervened", "content_filter"),
            ("content_filtered", "content_filter"),
        ] {
            let out = parsed(
                json!({"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": reason}),
            );
            assert_eq!(out["choices"][0]["finish_reason"], finish, "{reason}");
        }
        for bad in [&b"[]"[..], b"{}", b"{\"output\": {\"message\": {\"content\": 3}}}"] {
            assert_eq!(Bedrock.parse_response("m", bad).unwrap_err().kind, ErrorKind::BadResponse);
        }
    }

    #[test]
    fn errors_are_typed_by_their_aws_type_then_status() {
        let pe = Bedrock.parse_error_body(&json!({"__type": "com.amazon.coral.service#ThrottlingException", "message": "Too many requests, please wait before trying again."}));
        assert_eq!(pe.error_type.as_deref(), Some("ThrottlingException"));
        assert_eq!(pe.message.as_deref(), Some("Too many requests, please wait before trying again."));
        assert_eq!(Bedrock.error_kind(400, &pe), ErrorKind::RateLimited);
        assert_eq!(
            error_type_name("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            "ValidationException"
        );
        let pe =
            Bedrock.parse_error_body(&json!({"Message": "The security token included in the request is invalid."}));
        assert_eq!(
            (pe.error_type, pe.message.as_deref()),
            (None, Some("The security token included in the request is invalid."))
        );
        for (status, kind) in [
            (400, ErrorKind::InvalidRequest),
            (403, ErrorKind::PermissionDenied),
            (429, ErrorKind::RateLimited),
            (503, ErrorKind::ProviderUnavailable),
        ] {
            assert_eq!(Bedrock.error_kind(status, &ProviderError::default()), kind);
        }
        assert_eq!(error_kind(403, Some("UnrecognizedClientException")), ErrorKind::Authentication);
        assert_eq!(error_kind(429, Some("ModelNotReadyException")), ErrorKind::RateLimited);
        assert_eq!(error_kind(408, Some("ModelTimeoutException")), ErrorKind::Timeout);
    }

    #[test]
    fn embeddings_for_titan_and_cohere() {
        let request = |input: Value, extra: Value| {
            let mut r = json!({"operation": "embedding", "model": "bedrock/x", "input": input});
            r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            ChatRequest::parse(r.to_string().as_bytes()).unwrap()
        };
        let titan = "amazon.titan-embed-text-v2:0";
        let r = request(json!("hello"), json!({"dimensions": 256}));
        let b: Value =
            serde_json::from_slice(&Bedrock.embedding_body(&r, r.embedding.as_ref().unwrap(), titan).unwrap()).unwrap();
        assert_eq!(b, json!({"inputText": "hello", "dimensions": 256, "normalize": true}));
        let r = request(json!(["a", "b"]), json!({}));
        let e = Bedrock.embedding_body(&r, r.embedding.as_ref().unwrap(), titan).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(e.message.contains("one input per call"), "{}", e.message);
        let got = Bedrock.parse_embedding(titan, br#"{"embedding": [0.5, -0.25], "inputTextTokenCount": 3, "embeddingsByType": {"float": [0.5, -0.25]}}"#).unwrap();
        assert_eq!((got.vectors.len(), got.prompt_tokens), (1, Some(3)));
        let cohere = "cohere.embed-english-v3";
        let r = request(json!(["a", "b"]), json!({"input_type": "search_query"}));
        let b: Value =
            serde_json::from_slice(&Bedrock.embedding_body(&r, r.embedding.as_ref().unwrap(), cohere).unwrap())
                .unwrap();
        assert_eq!(b, json!({"texts": ["a", "b"], "input_type": "search_query", "embedding_types": ["float"]}));
        let r = request(json!(["a"]), json!({}));
        let b: Value =
            serde_json::from_slice(&Bedrock.embedding_body(&r, r.embedding.as_ref().unwrap(), cohere).unwrap())
                .unwrap();
        assert_eq!(b["input_type"], "search_document");
        let by_type = Bedrock.parse_embedding(cohere, br#"{"id": "x", "embeddings": {"float": [[0.1], [0.2]]}, "texts": ["a", "b"], "response_type": "embeddings_by_type"}"#).unwrap();
        assert_eq!(by_type.vectors.len(), 2);
        let floats = Bedrock
            .parse_embedding(
                cohere,
                br#"{"id": "x", "embeddings": [[0.1]], "texts": ["a"], "response_type": "embeddings_floats"}"#,
            )
            .unwrap();
        assert_eq!(floats.vectors.len(), 1);
        for bad in [&b"{}"[..], b"{\"embeddings\": {\"int8\": [[1]]}}", b"[]"] {
            assert_eq!(Bedrock.parse_embedding(cohere, bad).unwrap_err().kind, ErrorKind::BadResponse);
        }
        assert_eq!(Bedrock.parse_embedding(titan, br#"{"embedding": "x"}"#).unwrap_err().kind, ErrorKind::BadResponse);
    }
}
