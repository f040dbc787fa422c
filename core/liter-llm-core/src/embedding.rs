//! Embeddings: the request (`"operation": "embedding"` in the request JSON, through the same
//! invoke functions as chat), the provider-neutral result adapters return, and the one OpenAI
//! list shape every provider's answer becomes.
//!
//! `encoding_format` is the caller's: `"float"` (the default) gets arrays of numbers, `"base64"`
//! gets the little-endian `f32` bytes in base64, as OpenAI sends them. Adapters report what the
//! provider sent, either way; `to_response` converts when the two differ.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::json_type;
use crate::error::{Error, Result};

/// Inputs one call may carry (OpenAI's limit per request).
pub const MAX_INPUTS: usize = 2048;

/// How the caller wants each vector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Float,
    Base64,
}

/// The typed view of an embedding request.
#[derive(Debug)]
pub struct EmbeddingParams {
    pub model: String,
    /// The texts, in order (a single string is a list of one).
    pub input: Vec<String>,
    pub dimensions: Option<u32>,
    pub encoding_format: Encoding,
    /// Cohere's and Gemini's task hint (`search_document`, `search_query`, `classification`,
    /// `clustering`); each adapter maps it, or applies its default when absent.
    pub input_type: Option<String>,
    pub user: Option<String>,
}

/// Fields of an embedding request besides the call options.
pub const FIELDS: &[&str] = &["model", "input", "dimensions", "encoding_format", "input_type", "user"];

impl EmbeddingParams {
    /// Reads the embedding fields of `body` (call options already taken out).
    pub fn from_body(body: &Map<String, Value>) -> Result<EmbeddingParams> {
        let model = match body.get("model") {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            Some(Value::String(_)) => return Err(Error::invalid_request("`model` must not be empty")),
            None => return Err(Error::invalid_request("the request needs `model`")),
            Some(other) => {
                return Err(Error::invalid_request(format!("`model` must be a string, got {}", json_type(other))))
            }
        };
        let input = match body.get("input") {
            None | Some(Value::Null) => {
                return Err(Error::invalid_request("an embedding request needs `input`: a string or a list of strings"))
            }
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => {
                        Err(Error::invalid_request(format!("`input[{i}]` must be a string, got {}", json_type(other))))
                    }
                })
                .collect::<Result<Vec<_>>>()?,
            Some(other) => {
                return Err(Error::invalid_request(format!(
                    "`input` must be a string or a list of strings, got {}",
                    json_type(other)
                )))
            }
        };
        if input.is_empty() {
            return Err(Error::invalid_request("`input` must not be empty"));
        }
        if input.len() > MAX_INPUTS {
            return Err(Error::invalid_request(format!(
                "`input` has {} items; the limit is {MAX_INPUTS} per call",
                input.len()
            )));
        }
        let dimensions = match body.get("dimensions") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|d| (1..=65_536).contains(&d)) => {
                n.as_u64().map(|d| d as u32)
            }
            Some(other) => {
                return Err(Error::invalid_request(format!(
                    "`dimensions` must be a whole number from 1 to 65536, got {other}"
                )))
            }
        };
        let encoding_format = match body.get("encoding_format") {
            None | Some(Value::Null) => Encoding::Float,
            Some(Value::String(s)) if s == "float" => Encoding::Float,
            Some(Value::String(s)) if s == "base64" => Encoding::Base64,
            Some(other) => {
                return Err(Error::invalid_request(format!(
                    "`encoding_format` must be \"float\" or \"base64\", got {other}"
                )))
            }
        };
        let text = |name: &str| -> Result<Option<String>> {
            match body.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => {
                    Err(Error::invalid_request(format!("`{name}` must be a string, got {}", json_type(other))))
                }
            }
        };
        Ok(EmbeddingParams {
            model,
            input,
            dimensions,
            encoding_format,
            input_type: text("input_type")?,
            user: text("user")?,
        })
    }

    /// Characters of input, for token estimates.
    pub fn input_chars(&self) -> usize {
        self.input.iter().map(|s| s.chars().count()).sum()
    }
}

/// One vector as the provider sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum Vector {
    Floats(Vec<f64>),
    /// Little-endian `f32`s in standard base64.
    Base64(String),
}

/// What an adapter read from the provider's answer, in input order.
#[derive(Debug, Default)]
pub struct Embeddings {
    pub vectors: Vec<Vector>,
    /// The model the provider names, if it does.
    pub model: Option<String>,
    pub prompt_tokens: Option<u64>,
}

fn decode_base64(provider: &str, text: &str) -> Result<Vec<f64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|e| {
        Error::bad_response(format!("{provider}: an embedding is not valid base64: {e}")).with_provider(provider)
    })?;
    if bytes.len() % 4 != 0 {
        return Err(Error::bad_response(format!(
            "{provider}: a base64 embedding has {} bytes, not a whole number of float32 values",
            bytes.len()
        ))
        .with_provider(provider));
    }
    Ok(bytes.chunks_exact(4).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect())
}

fn encode_base64(values: &[f64]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// OpenAI's `{"object": "list", "data": [...], "model", "usage"}` for `embeddings`, each vector
/// in the encoding the caller asked for.
pub fn to_response(provider: &str, model: &str, embeddings: Embeddings, wanted: Encoding) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(embeddings.vectors.len());
    for (index, vector) in embeddings.vectors.into_iter().enumerate() {
        let embedding = match (vector, wanted) {
            (Vector::Floats(v), Encoding::Float) => json!(v),
            (Vector::Base64(s), Encoding::Base64) => Value::String(s),
            (Vector::Base64(s), Encoding::Float) => json!(decode_base64(provider, &s)?),
            (Vector::Floats(v), Encoding::Base64) => Value::String(encode_base64(&v)),
        };
        data.push(json!({"object": "embedding", "embedding": embedding, "index": index}));
    }
    let prompt = embeddings.prompt_tokens.unwrap_or(0);
    let body = json!({
        "object": "list",
        "data": data,
        "model": embeddings.model.unwrap_or_else(|| model.to_owned()),
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    });
    serde_json::to_vec(&body).map_err(|e| Error::internal(format!("could not serialise the embeddings: {e}")))
}

/// Reads an array of numbers as a vector, or fails naming the provider.
pub fn floats(provider: &'static str, value: &Value) -> Result<Vector> {
    let bad =
        || Error::bad_response(format!("{provider}: an embedding is not an array of numbers")).with_provider(provider);
    let items = value.as_array().ok_or_else(bad)?;
    items.iter().map(|v| v.as_f64().ok_or_else(bad)).collect::<Result<Vec<_>>>().map(Vector::Floats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: Value) -> Result<EmbeddingParams> {
        EmbeddingParams::from_body(json.as_object().unwrap())
    }

    #[test]
    fn input_is_a_string_or_a_list_of_strings() {
        let p = params(json!({"model": "m", "input": "hi"})).unwrap();
        assert_eq!((p.input, p.encoding_format), (vec!["hi".to_owned()], Encoding::Float));
        let p =
            params(json!({"model": "m", "input": ["a", "b"], "dimensions": 8, "encoding_format": "base64"})).unwrap();
        assert_eq!((p.input.len(), p.dimensions, p.encoding_format), (2, Some(8), Encoding::Base64));
        for (bad, needle) in [
            (json!({"model": "m"}), "needs `input`"),
            (json!({"model": "m", "input": []}), "must not be empty"),
            (json!({"model": "m", "input": [1]}), "`input[0]`"),
            (json!({"model": "m", "input": 3}), "`input` must be"),
            (json!({"model": "m", "input": "x", "dimensions": 0}), "`dimensions`"),
            (json!({"model": "m", "input": "x", "encoding_format": "int8"}), "`encoding_format`"),
            (json!({"input": "x"}), "needs `model`"),
            (json!({"model": "m", "input": "x", "input_type": 1}), "`input_type`"),
        ] {
            let e = params(bad.clone()).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::InvalidRequest, "{bad}");
            assert!(e.message.contains(needle), "{bad}: {}", e.message);
        }
        let many = vec![Value::from("x"); MAX_INPUTS + 1];
        assert!(params(json!({"model": "m", "input": many})).unwrap_err().message.contains("limit"));
    }

    #[test]
    fn vectors_are_converted_to_the_encoding_asked_for() {
        let values = vec![0.5, -1.0, 0.25];
        let b64 = encode_base64(&values);
        assert_eq!(b64, "AAAAPwAAgL8AAIA+");
        assert_eq!(decode_base64("p", &b64).unwrap(), values);
        let response = |vector: Vector, wanted| -> Value {
            let e = Embeddings { vectors: vec![vector], model: None, prompt_tokens: Some(3) };
            serde_json::from_slice(&to_response("p", "m", e, wanted).unwrap()).unwrap()
        };
        let floats = response(Vector::Base64(b64.clone()), Encoding::Float);
        assert_eq!(
            floats,
            json!({"object": "list", "data": [{"object": "embedding", "embedding": [0.5, -1.0, 0.25], "index": 0}],
                   "model": "m", "usage": {"prompt_tokens": 3, "total_tokens": 3}})
        );
        assert_eq!(response(Vector::Base64(b64.clone()), Encoding::Base64)["data"][0]["embedding"], b64);
        assert_eq!(response(Vector::Floats(values.clone()), Encoding::Base64)["data"][0]["embedding"], b64);
        assert_eq!(response(Vector::Floats(values), Encoding::Float)["data"][0]["embedding"], json!([0.5, -1.0, 0.25]));
        for bad in ["not base64!", "AAA="] {
            let e = Embeddings { vectors: vec![Vector::Base64(bad.into())], ..Default::default() };
            let err = to_response("p", "m", e, Encoding::Float).unwrap_err();
            assert_eq!(err.kind, crate::ErrorKind::BadResponse, "{bad}");
        }
    }
}
