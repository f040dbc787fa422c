//! The one response model: an OpenAI `chat.completion`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: Option<&'static str>,
    pub logprobs: Option<()>,
}

#[derive(Debug, Serialize)]
pub struct AssistantMessage {
    pub role: &'static str,
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallOut>>,
    /// The model's reasoning text, where the provider returns it (Anthropic's and Cohere's
    /// thinking).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ToolCallOut {
    pub id: String,
    #[serde(rename = "type")]
    pub call_type: &'static str,
    pub function: FunctionOut,
}

#[derive(Debug, Serialize)]
pub struct FunctionOut {
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Serialize, Default, PartialEq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Prompt tokens written to the provider's prompt cache (Anthropic's name, as LiteLLM
    /// reports it); counted in `prompt_tokens`, priced as cache writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct PromptTokensDetails {
    pub cached_tokens: u64,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Usage {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            prompt_tokens_details: None,
            cache_creation_input_tokens: None,
        }
    }
}

impl ChatCompletion {
    /// A completion with one choice, created now.
    pub fn single(
        id: String,
        model: String,
        content: Option<String>,
        tool_calls: Vec<ToolCallOut>,
        finish_reason: &'static str,
        usage: Option<Usage>,
    ) -> ChatCompletion {
        ChatCompletion {
            id,
            object: "chat.completion",
            created: unix_now(),
            model,
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content,
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    reasoning_content: None,
                },
                finish_reason: Some(finish_reason),
                logprobs: None,
            }],
            usage,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a ChatCompletion always serialises")
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
/// Adds a member at the end of a JSON object's text (left as it is when it is not an object).
pub(crate) fn insert_member(mut body: Vec<u8>, name: &str, value: &serde_json::Value) -> Vec<u8> {
    let Some(close) = body.iter().rposition(|b| *b == b'}') else {
        return body;
    };
    let is_empty_object = body[..close].iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let mut insert = Vec::with_capacity(96);
    if !is_empty_object {
        insert.push(b',');
    }
    insert.extend_from_slice(serde_json::Value::from(name).to_string().as_bytes());
    insert.push(b':');
    insert.extend_from_slice(value.to_string().as_bytes());
    body.splice(close..close, insert);
    body
}
