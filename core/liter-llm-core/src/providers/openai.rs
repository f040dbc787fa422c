//! OpenAI chat completions: the request passes through, the response is checked and returned as is.

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde::de::IgnoredAny;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, ProviderError, Result};
use crate::provider::{provider_error_from, EnvSettings, Provider};
use crate::request::ChatRequest;
use crate::secret::Secret;

pub struct OpenAi;

static ENV: EnvSettings = EnvSettings {
    key_vars: &["OPENAI_API_KEY"],
    base_url_vars: &["OPENAI_BASE_URL"],
    default_base_url: "https://api.openai.com/v1",
};

/// Builds `Authorization: Bearer <key>`, marked sensitive so it is never logged.
pub fn bearer(key: &Secret) -> Result<HeaderValue> {
    let mut value = HeaderValue::try_from(format!("Bearer {}", key.expose())).map_err(|_| {
        Error::new(
            crate::ErrorKind::Authentication,
            "the API key contains characters that cannot be sent in an HTTP header",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

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
        "openai"
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

    fn request_body(&self, request: &ChatRequest, model: &str) -> Result<Vec<u8>> {
        serde_json::to_vec(&WithModel { body: &request.body, model })
            .map_err(|e| Error::internal(format!("could not serialise the request: {e}")))
    }

    fn parse_response(&self, _model: &str, body: &[u8]) -> Result<Vec<u8>> {
        let starts_with_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !starts_with_object {
            return Err(Error::bad_response("openai: the response body is not a JSON object"));
        }
        serde_json::from_slice::<Shape>(body)
            .map_err(|e| Error::bad_response(format!("openai: the response is not a chat completion: {e}")))?;
        Ok(body.to_vec())
    }

    fn parse_error_body(&self, body: &Value) -> ProviderError {
        provider_error_from(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_unknown_fields_and_rewrites_the_model() {
        let r = ChatRequest::parse(
            br#"{"model": "openai/gpt-4o", "prompt": "hi", "logit_bias": {"1": 2}, "api_key": "sk-x"}"#,
        )
        .unwrap();
        let body: Value = serde_json::from_slice(&OpenAi.request_body(&r, "gpt-4o").unwrap()).unwrap();
        assert_eq!(body["model"], "gpt-4o");
        assert_eq!(body["logit_bias"]["1"], 2);
        assert!(body.get("api_key").is_none());
    }

    #[test]
    fn checks_the_response_shape() {
        let ok = br#"{"id": "x", "choices": [{"index": 0}], "extra": 1}"#;
        assert_eq!(OpenAi.parse_response("m", ok).unwrap(), ok.to_vec());
        for bad in [&b"<html>"[..], b"[]", b"{\"id\": 1}", b"{\"choices\": 3}", b"{\"choices\": ["] {
            let e = OpenAi.parse_response("m", bad).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::BadResponse);
        }
    }

    #[test]
    fn bearer_header_is_sensitive() {
        let v = bearer(&Secret::new("sk-test".into())).unwrap();
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("sk-test"));
        assert!(bearer(&Secret::new("bad\nkey".into())).is_err());
    }
}
