//! Azure OpenAI: OpenAI's wire format at a resource's deployments URL,
//! `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version={version}`, as the
//! `openai` SDK's `AzureOpenAI` client builds it. `azure/<deployment>` names the deployment; the
//! key goes in the `api-key` header, a Microsoft Entra ID token (`azure_ad_token`) in
//! `Authorization: Bearer`.

use reqwest::header::{HeaderMap, HeaderName, AUTHORIZATION};
use serde_json::Value;

use crate::embedding::{EmbeddingParams, Embeddings};
use crate::error::{Error, ProviderError, Result};
use crate::provider::{
    bearer, key_header, provider_error_from, Credential, Endpoint, EnvSettings, Provider, StreamDecoder,
};
use crate::providers::openai;
use crate::request::ChatRequest;
use crate::response::{Answer, Observing};
use crate::secret::Secret;

pub struct Azure;

const NAME: &str = "azure";

/// The latest generally available data-plane version (learn.microsoft.com, "Azure OpenAI in
/// Azure AI Foundry Models API lifecycle").
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// Variables holding the API version, after the call's `api_version` and the configuration.
const API_VERSION_VARS: &[&str] = &["OPENAI_API_VERSION", "AZURE_API_VERSION"];

static ENV: EnvSettings = EnvSettings {
    key_vars: &["AZURE_OPENAI_API_KEY", "AZURE_API_KEY"],
    base_url_vars: &["AZURE_OPENAI_ENDPOINT", "AZURE_API_BASE"],
    // Each resource has its own endpoint: there is no default.
    default_base_url: "",
};

fn api_version(endpoint: &Endpoint<'_>) -> String {
    endpoint
        .api_version
        .map(str::to_owned)
        .or_else(|| API_VERSION_VARS.iter().find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty())))
        .unwrap_or_else(|| DEFAULT_API_VERSION.to_owned())
}

/// A deployment name is a path segment: letters, digits, `-`, `_` and `.` only.
fn check_deployment(deployment: &str) -> Result<()> {
    let ok = !deployment.is_empty()
        && deployment.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && deployment != "."
        && deployment != "..";
    if ok {
        return Ok(());
    }
    Err(Error::invalid_request(format!(
        "azure: `{deployment}` is not a deployment name (letters, digits, '-', '_' and '.'); use azure/<deployment>"
    ))
    .with_provider(NAME))
}

fn check_version(version: &str) -> Result<()> {
    if !version.is_empty() && version.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Ok(());
    }
    Err(Error::invalid_request(format!("azure: `{version}` is not an API version such as {DEFAULT_API_VERSION}"))
        .with_provider(NAME))
}

impl Provider for Azure {
    fn name(&self) -> &'static str {
        NAME
    }

    fn env(&self) -> Option<&EnvSettings> {
        Some(&ENV)
    }

    fn path(&self) -> &'static str {
        "/chat/completions"
    }

    fn endpoint_path(&self, endpoint: &Endpoint<'_>) -> Result<String> {
        check_deployment(endpoint.model)?;
        let version = api_version(endpoint);
        check_version(&version)?;
        let operation = if endpoint.embedding { "embeddings" } else { "chat/completions" };
        Ok(format!("/openai/deployments/{}/{operation}?api-version={version}", endpoint.model))
    }

    fn auth_headers(&self, key: &Secret, headers: &mut HeaderMap) -> Result<()> {
        headers.insert(HeaderName::from_static("api-key"), key_header(key.expose().to_owned())?);
        Ok(())
    }

    fn authenticate(&self, credential: Credential<'_>, headers: &mut HeaderMap) -> Result<()> {
        match credential {
            Credential::Key(key) => self.auth_headers(key, headers),
            Credential::Token(token) => {
                headers.insert(AUTHORIZATION, bearer(token)?);
                Ok(())
            }
        }
    }

    fn request_body(&self, request: &ChatRequest, model: &str, streaming: bool) -> Result<Vec<u8>> {
        openai::request_chat_body(request, model, streaming)
    }

    fn parse_response(&self, _model: &str, body: &[u8]) -> Result<Vec<u8>> {
        openai::check_completion(NAME, body)
    }

    fn parse_answer(&self, _model: &str, body: Vec<u8>, observing: Observing) -> Result<Answer> {
        openai::read_completion(NAME, body, observing)
    }

    fn stream_decoder(&self, _model: &str) -> Box<dyn StreamDecoder> {
        openai::chat_stream(NAME)
    }

    fn parse_error_body(&self, body: &Value) -> ProviderError {
        provider_error_from(body)
    }

    fn embedding_body(&self, request: &ChatRequest, _params: &EmbeddingParams, model: &str) -> Result<Vec<u8>> {
        openai::embedding_body(request.body().clone(), model)
    }

    fn parse_embedding(&self, _model: &str, body: &[u8]) -> Result<Embeddings> {
        openai::parse_embedding(NAME, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint<'a>(model: &'a str, embedding: bool, api_version: Option<&'a str>) -> Endpoint<'a> {
        Endpoint { model, streaming: false, embedding, api_version }
    }

    #[test]
    fn builds_the_deployments_url() {
        assert_eq!(
            Azure.endpoint_path(&endpoint("gpt-4o-eu", false, Some("2024-06-01"))).unwrap(),
            "/openai/deployments/gpt-4o-eu/chat/completions?api-version=2024-06-01"
        );
        assert_eq!(
            Azure.endpoint_path(&endpoint("emb.3", true, Some("2024-10-21"))).unwrap(),
            "/openai/deployments/emb.3/embeddings?api-version=2024-10-21"
        );
        for bad in ["a/b", "..", "x?y", "", "a b"] {
            assert!(Azure.endpoint_path(&endpoint(bad, false, Some("2024-10-21"))).is_err(), "{bad}");
        }
        assert!(Azure.endpoint_path(&endpoint("d", false, Some("2024&x=1"))).is_err());
    }

    #[test]
    fn keys_go_in_api_key_and_tokens_in_authorization() {
        let secret = Secret::new("k-123".into());
        let mut h = HeaderMap::new();
        Azure.authenticate(Credential::Key(&secret), &mut h).unwrap();
        assert_eq!(h["api-key"], "k-123");
        assert!(h["api-key"].is_sensitive());
        assert!(h.get(AUTHORIZATION).is_none());
        let mut h = HeaderMap::new();
        Azure.authenticate(Credential::Token(&secret), &mut h).unwrap();
        assert_eq!(h[AUTHORIZATION], "Bearer k-123");
        assert!(h.get("api-key").is_none());
    }
}
