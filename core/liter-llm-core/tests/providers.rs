//! The OpenAI-compatible family and Azure OpenAI against the in-process mock upstream: the URL,
//! headers and body each sends, and the answer it gives back.

mod common;

use common::{call, openai_ok, upstream};
use serde_json::{json, Value};

fn chat(model: &str, base_url: &str, extra: Value) -> Value {
    let mut r = json!({"model": model, "prompt": "Hi", "base_url": base_url, "max_retries": 0});
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    r
}

#[test]
fn family_members_speak_openai_at_their_base_url_with_their_name() {
    for name in ["groq", "mistral", "deepseek", "together", "fireworks", "openrouter", "xai", "perplexity", "cerebras"]
    {
        let s = upstream().session(json!([{"json": openai_ok("hello")}]), true);
        let (err, body) =
            call(None, chat(&format!("{name}/some-model"), &s.base_url, json!({"api_key": "sk-test-fam"})));
        assert!(!err, "{name}: {body}");
        assert_eq!(body["choices"][0]["message"]["content"], "hello");
        assert_eq!(body["liter_llm"]["provider"], name);
        let sent = &s.requests()[0];
        assert_eq!(sent["path"], "/chat/completions", "{name}");
        assert_eq!(sent["headers"]["authorization"], "Bearer sk-test-fam", "{name}");
        assert_eq!(sent["json"]["model"], "some-model", "{name}");
    }
}

#[test]
fn family_errors_name_the_member() {
    let s = upstream().session(json!([{"status": 401, "json": {"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}}}]), true);
    let (err, body) = call(None, chat("groq/llama-3.3-70b-versatile", &s.base_url, json!({"api_key": "sk-test-bad"})));
    assert!(err);
    assert_eq!((body["kind"].as_str(), body["provider"].as_str()), (Some("authentication"), Some("groq")));
    assert!(body["message"].as_str().unwrap().starts_with("groq: Invalid API Key"), "{body}");
}

#[test]
fn local_servers_need_no_key_and_openai_compatible_needs_a_base_url() {
    let s = upstream().session(json!([{"json": openai_ok("local")}]), true);
    let (err, body) = call(None, chat("ollama/llama3.2", &s.base_url, json!({})));
    assert!(!err, "{body}");
    assert!(s.requests()[0]["headers"].get("authorization").is_none());
    let (err, body) = call(None, json!({"model": "openai_compatible/m", "prompt": "Hi"}));
    assert!(err);
    assert_eq!(body["kind"], "invalid_request");
    assert!(body["message"].as_str().unwrap().contains("has no default base URL; pass base_url"), "{body}");
    let (err, body) = call(None, chat("openai_compatible/m", &s.base_url, json!({})));
    assert!(!err, "{body}");
}

#[test]
fn azure_uses_the_deployments_url_and_the_api_key_header() {
    let s = upstream().session(json!([{"json": openai_ok("from azure")}]), true);
    let (err, body) = call(
        None,
        chat("azure/gpt-4o-eu", &s.base_url, json!({"api_key": "az-test-key", "api_version": "2024-06-01"})),
    );
    assert!(!err, "{body}");
    assert_eq!(body["liter_llm"]["model"], "azure/gpt-4o-eu");
    let sent = &s.requests()[0];
    assert_eq!(sent["path"], "/openai/deployments/gpt-4o-eu/chat/completions");
    assert_eq!(sent["query"], "api-version=2024-06-01");
    assert_eq!(sent["headers"]["api-key"], "az-test-key");
    assert!(sent["headers"].get("authorization").is_none());
    assert!(sent["json"].get("api_version").is_none());

    // An Entra ID token replaces the key: Authorization: Bearer, no api-key.
    let (err, body) = call(None, chat("azure/gpt-4o-eu", &s.base_url, json!({"azure_ad_token": "entra-test-token"})));
    assert!(!err, "{body}");
    let sent = &s.requests()[1];
    assert_eq!(sent["headers"]["authorization"], "Bearer entra-test-token");
    assert!(sent["headers"].get("api-key").is_none());
    assert!(sent["query"].as_str().unwrap().starts_with("api-version="));

    // Embeddings go to the deployment's embeddings path.
    let list = json!({"object": "list", "model": "text-embedding-3-small",
                      "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                      "usage": {"prompt_tokens": 1, "total_tokens": 1}});
    let e = upstream().session(json!([{"json": list}]), true);
    let (err, body) = call(
        None,
        json!({"operation": "embedding", "model": "azure/emb", "input": "x", "api_key": "az-test-key", "base_url": e.base_url}),
    );
    assert!(!err, "{body}");
    assert_eq!(body["data"][0]["embedding"], json!([0.1, 0.2]));
    assert_eq!(e.requests()[0]["path"], "/openai/deployments/emb/embeddings");
}

#[test]
fn azure_without_an_endpoint_says_which_variable_to_set() {
    let (err, body) = call(None, json!({"model": "azure/d", "prompt": "Hi", "api_key": "az-test-key"}));
    assert!(err);
    assert_eq!(body["kind"], "invalid_request");
    assert!(body["message"].as_str().unwrap().contains("set AZURE_OPENAI_ENDPOINT"), "{body}");
}
