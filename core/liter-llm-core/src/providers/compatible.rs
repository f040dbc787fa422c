//! The OpenAI-compatible family: providers that speak OpenAI's chat-completions (and, for some,
//! embeddings) wire format at their own base URL, with their own key variable and a few
//! documented quirks. One table, `FAMILY`; the wire code is `openai`'s.
//!
//! Quirks are what each vendor's documentation says its API rejects with a 400: such a field is
//! an `invalid_request` naming it (or dropped with `drop_params`), before any network call.

use reqwest::header::{HeaderMap, AUTHORIZATION};
use serde_json::{Map, Value};

use crate::embedding::{EmbeddingParams, Embeddings};
use crate::error::{Error, ProviderError, Result};
use crate::provider::{bearer, provider_error_from, Endpoint, EnvSettings, Provider, StreamDecoder};
use crate::providers::openai;
use crate::request::ChatRequest;
use crate::response::{Answer, Observing};
use crate::secret::Secret;

/// One OpenAI-compatible provider.
pub struct Compatible {
    pub name: &'static str,
    pub env: EnvSettings,
    /// Chat fields the provider's API rejects.
    pub rejects: &'static [&'static str],
    /// Chat fields the provider names differently: (OpenAI's name, the provider's).
    pub renames: &'static [(&'static str, &'static str)],
    /// Only `n` = 1 is accepted.
    pub single_choice: bool,
    /// Whether its streams take `stream_options.include_usage` (the others report usage in the
    /// last chunk unasked, or reject the field).
    pub stream_options: bool,
    /// Whether it serves `/embeddings`, and the embedding fields it names differently.
    pub embeddings: Option<&'static [(&'static str, &'static str)]>,
    /// Chat fields some of its models reject: the first rule whose pattern matches the model.
    pub model_rejects: &'static [ModelRejects],
}

/// Fields the models a pattern matches reject (a pattern ending in `*` is a prefix).
pub struct ModelRejects {
    pub models: &'static [&'static str],
    /// Models the patterns match that take the fields after all: names containing one of these.
    pub except: &'static [&'static str],
    pub fields: &'static [&'static str],
    /// What the models are, for the error: "xai's reasoning models".
    pub what: &'static str,
}

fn matches(pattern: &str, model: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => model.starts_with(prefix),
        None => model == pattern,
    }
}

impl ModelRejects {
    fn applies(&self, model: &str) -> bool {
        self.models.iter().any(|p| matches(p, model)) && !self.except.iter().any(|part| model.contains(part))
    }
}

/// docs.x.ai/docs/guides/reasoning: "presencePenalty, frequencyPenalty and stop parameters are
/// not supported by reasoning models"; `reasoning_effort` is taken only by grok-3-mini and
/// grok-4.3 (the others reason without a dial and answer it with a 400).
static XAI_MODEL_REJECTS: &[ModelRejects] = &[
    ModelRejects {
        models: &["grok-3-mini*", "grok-4.3*"],
        except: &[],
        fields: &["presence_penalty", "frequency_penalty", "stop"],
        what: "xai's reasoning models",
    },
    ModelRejects {
        models: &["grok-4*", "grok-code-fast*"],
        except: &["-non-reasoning"],
        fields: &["presence_penalty", "frequency_penalty", "stop", "reasoning_effort"],
        what: "xai's reasoning models without a reasoning_effort dial",
    },
];

const fn env(
    key_vars: &'static [&'static str],
    base_url_vars: &'static [&'static str],
    default_base_url: &'static str,
) -> EnvSettings {
    EnvSettings { key_vars, base_url_vars, default_base_url }
}

const PLAIN: Compatible = Compatible {
    name: "",
    env: env(&[], &[], ""),
    rejects: &[],
    renames: &[],
    single_choice: false,
    stream_options: true,
    embeddings: None,
    model_rejects: &[],
};

/// The family. Base URLs include the version path, as each vendor's OpenAI-SDK instructions
/// give them. Local servers (`ollama`, `vllm`, `lmstudio`) and `openai_compatible` need no key;
/// one given (`api_key`, configuration) is sent as a bearer token.
pub static FAMILY: &[Compatible] = &[
    // console.groq.com/docs/openai: logprobs, logit_bias, top_logprobs are a 400; n must be 1.
    Compatible {
        name: "groq",
        env: env(&["GROQ_API_KEY"], &["GROQ_BASE_URL"], "https://api.groq.com/openai/v1"),
        rejects: &["logprobs", "logit_bias", "top_logprobs"],
        single_choice: true,
        ..PLAIN
    },
    // docs.mistral.ai: `random_seed` is the seed; extra fields are a 422; usage comes unasked.
    Compatible {
        name: "mistral",
        env: env(&["MISTRAL_API_KEY"], &["MISTRAL_BASE_URL"], "https://api.mistral.ai/v1"),
        rejects: &["logit_bias", "logprobs", "top_logprobs", "service_tier", "store"],
        renames: &[("seed", "random_seed")],
        stream_options: false,
        embeddings: Some(&[("dimensions", "output_dimension")]),
        ..PLAIN
    },
    Compatible {
        name: "deepseek",
        env: env(&["DEEPSEEK_API_KEY"], &["DEEPSEEK_BASE_URL"], "https://api.deepseek.com/v1"),
        ..PLAIN
    },
    Compatible {
        name: "together",
        env: env(&["TOGETHER_API_KEY", "TOGETHERAI_API_KEY"], &["TOGETHER_BASE_URL"], "https://api.together.xyz/v1"),
        embeddings: Some(&[]),
        ..PLAIN
    },
    Compatible {
        name: "fireworks",
        env: env(&["FIREWORKS_API_KEY"], &["FIREWORKS_BASE_URL"], "https://api.fireworks.ai/inference/v1"),
        embeddings: Some(&[]),
        ..PLAIN
    },
    Compatible {
        name: "openrouter",
        env: env(&["OPENROUTER_API_KEY"], &["OPENROUTER_BASE_URL"], "https://openrouter.ai/api/v1"),
        ..PLAIN
    },
    Compatible {
        name: "xai",
        env: env(&["XAI_API_KEY"], &["XAI_BASE_URL"], "https://api.x.ai/v1"),
        model_rejects: XAI_MODEL_REJECTS,
        ..PLAIN
    },
    // docs.perplexity.ai: no function calling; usage comes unasked.
    Compatible {
        name: "perplexity",
        env: env(
            &["PERPLEXITY_API_KEY", "PERPLEXITYAI_API_KEY"],
            &["PERPLEXITY_BASE_URL"],
            "https://api.perplexity.ai",
        ),
        rejects: &["tools", "tool_choice", "parallel_tool_calls", "logit_bias", "logprobs", "top_logprobs"],
        stream_options: false,
        ..PLAIN
    },
    // inference-docs.cerebras.ai/resources/openai: these fields are a 400.
    Compatible {
        name: "cerebras",
        env: env(&["CEREBRAS_API_KEY"], &["CEREBRAS_BASE_URL"], "https://api.cerebras.ai/v1"),
        rejects: &["frequency_penalty", "presence_penalty", "logit_bias", "parallel_tool_calls", "service_tier"],
        ..PLAIN
    },
    Compatible {
        name: "ollama",
        env: env(&[], &["OLLAMA_API_BASE"], "http://localhost:11434/v1"),
        embeddings: Some(&[]),
        ..PLAIN
    },
    Compatible {
        name: "vllm",
        env: env(&[], &["VLLM_API_BASE"], "http://localhost:8000/v1"),
        embeddings: Some(&[]),
        ..PLAIN
    },
    Compatible {
        name: "lmstudio",
        env: env(&[], &["LM_STUDIO_API_BASE"], "http://localhost:1234/v1"),
        embeddings: Some(&[]),
        ..PLAIN
    },
    // Any OpenAI-compatible server: the base URL is required.
    Compatible { name: "openai_compatible", embeddings: Some(&[]), ..PLAIN },
];

impl Compatible {
    /// The caller's body with this provider's quirks applied: rejected fields are an error (or
    /// dropped with `drop_params`), renamed fields renamed.
    fn adapted(&self, request: &ChatRequest, model: &str) -> Result<Map<String, Value>> {
        let mut body = request.body().clone();
        for field in self.rejects {
            if body.get(*field).is_some_and(|v| !v.is_null()) && !request.options.drop_params {
                return Err(self.rejected(field));
            }
            body.remove(*field);
        }
        if let Some(rule) = self.model_rejects.iter().find(|r| r.applies(model)) {
            for field in rule.fields {
                if body.get(*field).is_some_and(|v| !v.is_null()) && !request.options.drop_params {
                    return Err(Error::invalid_request(format!(
                        "{model} is one of {}, which do not accept the field `{field}`; remove it, or pass \"drop_params\": true to drop such fields",
                        rule.what
                    ))
                    .with_provider(self.name));
                }
                body.remove(*field);
            }
        }
        if self.single_choice {
            match body.get("n") {
                Some(n) if !n.is_null() && n.as_u64() != Some(1) => {
                    if !request.options.drop_params {
                        return Err(Error::invalid_request(format!(
                            "{} accepts only `n`: 1; remove it, or pass \"drop_params\": true to drop it",
                            self.name
                        ))
                        .with_provider(self.name));
                    }
                    body.remove("n");
                }
                _ => {}
            }
        }
        rename(&mut body, self.renames);
        Ok(body)
    }

    fn rejected(&self, field: &str) -> Error {
        Error::invalid_request(format!(
            "{} does not accept the field `{field}`; remove it, or pass \"drop_params\": true to drop such fields",
            self.name
        ))
        .with_provider(self.name)
    }
}

fn rename(body: &mut Map<String, Value>, renames: &[(&str, &str)]) {
    for (from, to) in renames {
        if let Some(v) = body.remove(*from) {
            body.insert((*to).to_owned(), v);
        }
    }
}

impl Provider for Compatible {
    fn name(&self) -> &'static str {
        self.name
    }

    fn env(&self) -> Option<&EnvSettings> {
        Some(&self.env)
    }

    fn path(&self) -> &'static str {
        "/chat/completions"
    }

    fn auth_headers(&self, key: &Secret, headers: &mut HeaderMap) -> Result<()> {
        if !key.expose().is_empty() {
            headers.insert(AUTHORIZATION, bearer(key)?);
        }
        Ok(())
    }

    fn request_body(&self, request: &ChatRequest, model: &str, streaming: bool) -> Result<Vec<u8>> {
        let body = self.adapted(request, model)?;
        openai::chat_body(&body, model, streaming, self.stream_options)
    }

    fn parse_response(&self, _model: &str, body: &[u8]) -> Result<Vec<u8>> {
        openai::check_completion(self.name, body)
    }

    fn parse_answer(&self, _model: &str, body: Vec<u8>, observing: Observing) -> Result<Answer> {
        openai::read_completion(self.name, body, observing)
    }

    fn stream_decoder(&self, _model: &str) -> Box<dyn StreamDecoder> {
        openai::chat_stream(self.name)
    }

    fn parse_error_body(&self, body: &Value) -> ProviderError {
        provider_error_from(body)
    }

    fn endpoint_path(&self, endpoint: &Endpoint<'_>) -> Result<String> {
        match (endpoint.embedding, self.embeddings) {
            (false, _) => Ok(self.path().to_owned()),
            (true, Some(_)) => Ok("/embeddings".to_owned()),
            (true, None) => Err(crate::provider::no_embeddings(self.name)),
        }
    }

    fn embedding_body(&self, request: &ChatRequest, _params: &EmbeddingParams, model: &str) -> Result<Vec<u8>> {
        let renames = self.embeddings.ok_or_else(|| crate::provider::no_embeddings(self.name))?;
        let mut body = request.body().clone();
        rename(&mut body, renames);
        openai::embedding_body(body, model)
    }

    fn parse_embedding(&self, _model: &str, body: &[u8]) -> Result<Embeddings> {
        openai::parse_embedding(self.name, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::lookup;
    use serde_json::json;

    fn family(name: &str) -> &'static Compatible {
        FAMILY.iter().find(|p| p.name == name).unwrap()
    }

    fn body(provider: &str, request: Value, streaming: bool) -> Result<Value> {
        let r = ChatRequest::parse_for(request.to_string().as_bytes(), streaming)?;
        let raw = family(provider).request_body(&r, "m", streaming)?;
        Ok(serde_json::from_slice(&raw).unwrap())
    }

    #[test]
    fn xai_reasoning_models_reject_penalties_stop_and_an_effort_they_lack() {
        let xai = |model: &str, request: Value| {
            let r = ChatRequest::parse(request.to_string().as_bytes()).unwrap();
            family("xai").request_body(&r, model, false).map(|raw| serde_json::from_slice::<Value>(&raw).unwrap())
        };
        let stop = json!({"model": "m", "prompt": "x", "stop": ["END"]});
        for model in ["grok-3-mini", "grok-4.3", "grok-4-0709", "grok-4-1-fast-reasoning", "grok-code-fast-1"] {
            let e = xai(model, stop.clone()).unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::InvalidRequest, "{model}");
            assert!(e.message.contains("`stop`") && e.message.contains(model), "{}", e.message);
        }
        for model in ["grok-3", "grok-4-fast-non-reasoning", "grok-2-vision-1212"] {
            assert_eq!(xai(model, stop.clone()).unwrap()["stop"], json!(["END"]), "{model}");
        }
        let effort = json!({"model": "m", "prompt": "x", "reasoning_effort": "high"});
        assert_eq!(xai("grok-3-mini", effort.clone()).unwrap()["reasoning_effort"], "high");
        assert!(xai("grok-4", effort.clone()).unwrap_err().message.contains("`reasoning_effort`"));
        let dropped = xai(
            "grok-4",
            json!({"model": "m", "prompt": "x", "reasoning_effort": "high",
            "presence_penalty": 0.5, "drop_params": true}),
        )
        .unwrap();
        assert!(dropped.get("reasoning_effort").is_none() && dropped.get("presence_penalty").is_none());
    }

    #[test]
    fn every_member_is_registered_with_an_openai_style_base_url() {
        for p in FAMILY {
            assert!(lookup(p.name).is_some(), "{}", p.name);
            let base = p.env.default_base_url;
            assert!(base.is_empty() == (p.name == "openai_compatible"), "{}", p.name);
            assert!(!base.ends_with('/'), "{}", p.name);
        }
    }

    #[test]
    fn rejected_fields_are_errors_naming_them_unless_dropped() {
        let e = body("groq", json!({"model": "m", "prompt": "x", "logit_bias": {"1": 1}}), false).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::InvalidRequest);
        assert_eq!(e.provider.as_deref(), Some("groq"));
        assert!(e.message.contains("`logit_bias`"), "{}", e.message);
        let e = body("groq", json!({"model": "m", "prompt": "x", "n": 2}), false).unwrap_err();
        assert!(e.message.contains("`n`: 1"), "{}", e.message);
        let ok = body("groq", json!({"model": "m", "prompt": "x", "n": 1, "logprobs": null}), false).unwrap();
        assert_eq!(ok["n"], 1);
        let dropped =
            body("cerebras", json!({"model": "m", "prompt": "x", "presence_penalty": 1, "drop_params": true}), false)
                .unwrap();
        assert!(dropped.get("presence_penalty").is_none());
        // Fields a member accepts pass through, as to OpenAI.
        let together =
            body("together", json!({"model": "m", "prompt": "x", "logit_bias": {"1": 1}, "top_k": 5}), false).unwrap();
        assert_eq!((together["logit_bias"]["1"].clone(), together["top_k"].clone()), (json!(1), json!(5)));
    }

    #[test]
    fn renames_and_stream_options_follow_the_table() {
        let b = body("mistral", json!({"model": "m", "prompt": "x", "seed": 7}), true).unwrap();
        assert_eq!((b["random_seed"].clone(), b.get("seed")), (json!(7), None));
        assert!(b.get("stream_options").is_none());
        assert_eq!(b["stream"], true);
        let b = body("groq", json!({"model": "m", "prompt": "x"}), true).unwrap();
        assert_eq!(b["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn members_without_embeddings_say_so() {
        let e = family("groq")
            .endpoint_path(&Endpoint { model: "m", streaming: false, embedding: true, api_version: None })
            .unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Unsupported);
        assert!(e.message.starts_with("groq has no embeddings API"), "{}", e.message);
        let mistral = family("mistral");
        let r =
            ChatRequest::parse(br#"{"operation": "embedding", "model": "m", "input": "x", "dimensions": 4}"#).unwrap();
        let b: Value = serde_json::from_slice(
            &mistral.embedding_body(&r, r.embedding.as_ref().unwrap(), "mistral-embed").unwrap(),
        )
        .unwrap();
        assert_eq!(b, json!({"model": "mistral-embed", "input": "x", "output_dimension": 4}));
    }

    #[test]
    fn a_local_server_gets_no_authorization_without_a_key() {
        let mut h = HeaderMap::new();
        family("ollama").auth_headers(&Secret::new(String::new()), &mut h).unwrap();
        assert!(h.is_empty());
        family("ollama").auth_headers(&Secret::new("k".into()), &mut h).unwrap();
        assert_eq!(h[AUTHORIZATION], "Bearer k");
    }
}
