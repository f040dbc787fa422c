//! Glue between a call and its stream: the request body that asks for one, and the `mock`
//! provider's stream.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::response::Usage;
use crate::stream::mock_chunks;

/// The upstream body with streaming turned on. OpenAI also gets
/// `stream_options.include_usage` (unless the caller set `stream_options`), so its stream ends
/// with a usage chunk as the other providers' normalised streams do.
pub fn streaming_body(provider: &str, body: &[u8]) -> Result<Vec<u8>> {
    let mut map: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| Error::internal(format!("the upstream body is not an object: {e}")))?;
    map.insert("stream".to_owned(), Value::Bool(true));
    if provider == "openai" {
        map.entry("stream_options").or_insert_with(|| serde_json::json!({"include_usage": true}));
    } else {
        map.remove("stream_options");
    }
    serde_json::to_vec(&map).map_err(|e| Error::internal(format!("could not serialise the request: {e}")))
}

/// The chunks of a complete `chat.completion` (the `mock` provider's answer, streamed).
pub fn chunks_of_completion(completion: &[u8]) -> Result<Vec<Vec<u8>>> {
    let v: Value = serde_json::from_slice(completion).map_err(|e| Error::internal(format!("mock answer: {e}")))?;
    let text = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
    let count = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let usage = Usage::new(count("/usage/prompt_tokens"), count("/usage/completion_tokens"));
    Ok(mock_chunks(&text("/id"), &text("/model"), &text("/choices/0/message/content"), &usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_for_a_stream_with_usage() {
        let b: Value = serde_json::from_slice(&streaming_body("openai", br#"{"model": "m"}"#).unwrap()).unwrap();
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"]["include_usage"], true);
        let b: Value =
            serde_json::from_slice(&streaming_body("anthropic", br#"{"model": "m", "stream_options": {}}"#).unwrap())
                .unwrap();
        assert_eq!(b["stream"], true);
        assert!(b.get("stream_options").is_none());
    }
}
