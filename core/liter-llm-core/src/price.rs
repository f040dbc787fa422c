//! The price table: USD per million tokens for the common models of every provider, the one
//! lookup (`lookup`) that `[prices]` overrides and `lowest_price` routes and `liter_llm.cost_usd`
//! share, and the cost of an answer's `usage`.
//!
//! The built-in prices are the vendors' published list prices (standard tier, prompts within
//! the base context tier) as their pricing pages gave them in December 2025; docs/cost.md names
//! the pages. A price that changed since is corrected in `[prices]` without a release.

use serde::Deserialize;

pub use crate::response::UsageCounts;

/// USD per million tokens. `cached_input` is what a prompt token read from the provider's cache
/// costs (OpenAI "cached input", Anthropic "cache hits", DeepSeek "cache hit", Gemini "context
/// caching"); `cache_write` what a token written to it costs (Anthropic's 5-minute cache
/// writes). Either, when absent, is the `input` price.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cached_input: Option<f64>,
    #[serde(default)]
    pub cache_write: Option<f64>,
}

const fn p(input: f64, output: f64) -> Price {
    Price { input, output, cached_input: None, cache_write: None }
}

/// With a cached-input price.
const fn c(input: f64, output: f64, cached_input: f64) -> Price {
    Price { input, output, cached_input: Some(cached_input), cache_write: None }
}

/// With cache read and cache write prices (Anthropic's scheme).
const fn rw(input: f64, output: f64, cached_input: f64, cache_write: f64) -> Price {
    Price { input, output, cached_input: Some(cached_input), cache_write: Some(cache_write) }
}

/// Providers whose models cost what another provider's models of the same name cost: an Azure
/// OpenAI deployment of `gpt-4o` is priced as OpenAI's `gpt-4o` (Azure's global deployments list
/// OpenAI's prices).
const SAME_PRICES: &[(&str, &str)] = &[("azure", "openai")];

/// Keys are `provider/model`, the model as the caller names it (an undated alias, or a dated
/// snapshot where that is the usual name). Dated snapshots of a listed alias are found by
/// `lookup` without rows of their own.
#[rustfmt::skip]
const PRICES: &[(&str, Price)] = &[
    // OpenAI, https://platform.openai.com/docs/pricing
    ("openai/gpt-5", c(1.25, 10.00, 0.125)),
    ("openai/gpt-5-mini", c(0.25, 2.00, 0.025)),
    ("openai/gpt-5-nano", c(0.05, 0.40, 0.005)),
    ("openai/gpt-4.1", c(2.00, 8.00, 0.50)),
    ("openai/gpt-4.1-mini", c(0.40, 1.60, 0.10)),
    ("openai/gpt-4.1-nano", c(0.10, 0.40, 0.025)),
    ("openai/gpt-4o", c(2.50, 10.00, 1.25)),
    ("openai/gpt-4o-mini", c(0.15, 0.60, 0.075)),
    ("openai/chatgpt-4o-latest", p(5.00, 15.00)),
    ("openai/gpt-4-turbo", p(10.00, 30.00)),
    ("openai/gpt-3.5-turbo", p(0.50, 1.50)),
    ("openai/o1", c(15.00, 60.00, 7.50)),
    ("openai/o1-mini", c(1.10, 4.40, 0.55)),
    ("openai/o3", c(2.00, 8.00, 0.50)),
    ("openai/o3-mini", c(1.10, 4.40, 0.55)),
    ("openai/o4-mini", c(1.10, 4.40, 0.275)),
    ("openai/text-embedding-3-small", p(0.02, 0.0)),
    ("openai/text-embedding-3-large", p(0.13, 0.0)),
    ("openai/text-embedding-ada-002", p(0.10, 0.0)),
    // Anthropic, https://docs.anthropic.com/en/docs/about-claude/pricing (5-minute cache writes)
    ("anthropic/claude-opus-4-5", rw(5.00, 25.00, 0.50, 6.25)),
    ("anthropic/claude-opus-4-1", rw(15.00, 75.00, 1.50, 18.75)),
    ("anthropic/claude-opus-4-0", rw(15.00, 75.00, 1.50, 18.75)),
    ("anthropic/claude-opus-4", rw(15.00, 75.00, 1.50, 18.75)),
    ("anthropic/claude-sonnet-4-5", rw(3.00, 15.00, 0.30, 3.75)),
    ("anthropic/claude-sonnet-4-0", rw(3.00, 15.00, 0.30, 3.75)),
    ("anthropic/claude-sonnet-4", rw(3.00, 15.00, 0.30, 3.75)),
    ("anthropic/claude-3-7-sonnet", rw(3.00, 15.00, 0.30, 3.75)),
    ("anthropic/claude-3-5-sonnet", rw(3.00, 15.00, 0.30, 3.75)),
    ("anthropic/claude-haiku-4-5", rw(1.00, 5.00, 0.10, 1.25)),
    ("anthropic/claude-3-5-haiku", rw(0.80, 4.00, 0.08, 1.00)),
    ("anthropic/claude-3-haiku", rw(0.25, 1.25, 0.03, 0.30)),
    ("anthropic/claude-3-opus", rw(15.00, 75.00, 1.50, 18.75)),
    // Cohere, https://cohere.com/pricing
    ("cohere/command-a-03-2025", p(2.50, 10.00)),
    ("cohere/command-r-plus", p(2.50, 10.00)),
    ("cohere/command-r-plus-08-2024", p(2.50, 10.00)),
    ("cohere/command-r", p(0.15, 0.60)),
    ("cohere/command-r-08-2024", p(0.15, 0.60)),
    ("cohere/command-r7b-12-2024", p(0.0375, 0.15)),
    ("cohere/embed-v4.0", p(0.12, 0.0)),
    ("cohere/embed-english-v3.0", p(0.10, 0.0)),
    ("cohere/embed-multilingual-v3.0", p(0.10, 0.0)),
    // Groq, https://groq.com/pricing
    ("groq/llama-3.1-8b-instant", p(0.05, 0.08)),
    ("groq/llama-3.3-70b-versatile", p(0.59, 0.79)),
    ("groq/openai/gpt-oss-120b", p(0.15, 0.75)),
    ("groq/openai/gpt-oss-20b", p(0.10, 0.50)),
    ("groq/meta-llama/llama-4-scout-17b-16e-instruct", p(0.11, 0.34)),
    ("groq/meta-llama/llama-4-maverick-17b-128e-instruct", p(0.20, 0.60)),
    ("groq/qwen/qwen3-32b", p(0.29, 0.59)),
    // Mistral, https://mistral.ai/pricing#api-pricing
    ("mistral/mistral-large-latest", p(2.00, 6.00)),
    ("mistral/mistral-medium-latest", p(0.40, 2.00)),
    ("mistral/mistral-small-latest", p(0.10, 0.30)),
    ("mistral/codestral-latest", p(0.30, 0.90)),
    ("mistral/open-mistral-nemo", p(0.15, 0.15)),
    ("mistral/ministral-8b-latest", p(0.10, 0.10)),
    ("mistral/mistral-embed", p(0.10, 0.0)),
    // DeepSeek, https://api-docs.deepseek.com/quick_start/pricing
    ("deepseek/deepseek-chat", c(0.27, 1.10, 0.07)),
    ("deepseek/deepseek-reasoner", c(0.55, 2.19, 0.14)),
    // Together AI, https://www.together.ai/pricing
    ("together/meta-llama/Llama-3.3-70B-Instruct-Turbo", p(0.88, 0.88)),
    ("together/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", p(0.18, 0.18)),
    ("together/meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo", p(3.50, 3.50)),
    ("together/deepseek-ai/DeepSeek-V3", p(1.25, 1.25)),
    ("together/deepseek-ai/DeepSeek-R1", p(3.00, 7.00)),
    ("together/Qwen/Qwen2.5-72B-Instruct-Turbo", p(1.20, 1.20)),
    ("together/mistralai/Mixtral-8x7B-Instruct-v0.1", p(0.60, 0.60)),
    // Fireworks AI, https://fireworks.ai/pricing
    ("fireworks/accounts/fireworks/models/llama-v3p1-8b-instruct", p(0.20, 0.20)),
    ("fireworks/accounts/fireworks/models/llama-v3p3-70b-instruct", p(0.90, 0.90)),
    ("fireworks/accounts/fireworks/models/llama-v3p1-405b-instruct", p(3.00, 3.00)),
    ("fireworks/accounts/fireworks/models/deepseek-v3", p(0.90, 0.90)),
    ("fireworks/accounts/fireworks/models/deepseek-r1", p(3.00, 8.00)),
    ("fireworks/accounts/fireworks/models/qwen2p5-72b-instruct", p(0.90, 0.90)),
    // OpenRouter passes the serving provider's price through, https://openrouter.ai/models
    ("openrouter/openai/gpt-4o", p(2.50, 10.00)),
    ("openrouter/openai/gpt-4o-mini", p(0.15, 0.60)),
    ("openrouter/anthropic/claude-sonnet-4.5", p(3.00, 15.00)),
    ("openrouter/anthropic/claude-3.5-haiku", p(0.80, 4.00)),
    ("openrouter/google/gemini-2.5-flash", p(0.30, 2.50)),
    ("openrouter/meta-llama/llama-3.3-70b-instruct", p(0.13, 0.40)),
    ("openrouter/deepseek/deepseek-chat", p(0.27, 1.10)),
    // xAI, https://docs.x.ai/docs/models
    ("xai/grok-4", c(3.00, 15.00, 0.75)),
    ("xai/grok-4-fast-reasoning", c(0.20, 0.50, 0.05)),
    ("xai/grok-4-fast-non-reasoning", c(0.20, 0.50, 0.05)),
    ("xai/grok-3", c(3.00, 15.00, 0.75)),
    ("xai/grok-3-mini", c(0.30, 0.50, 0.075)),
    ("xai/grok-code-fast-1", c(0.20, 1.50, 0.02)),
    // Perplexity, https://docs.perplexity.ai/getting-started/pricing (token prices; the
    // per-request search fees are not in `cost_usd`)
    ("perplexity/sonar", p(1.00, 1.00)),
    ("perplexity/sonar-pro", p(3.00, 15.00)),
    ("perplexity/sonar-reasoning", p(1.00, 5.00)),
    ("perplexity/sonar-reasoning-pro", p(2.00, 8.00)),
    ("perplexity/sonar-deep-research", p(2.00, 8.00)),
    // Cerebras, https://www.cerebras.ai/pricing
    ("cerebras/llama3.1-8b", p(0.10, 0.10)),
    ("cerebras/llama-3.3-70b", p(0.85, 1.20)),
    ("cerebras/gpt-oss-120b", p(0.25, 0.69)),
    ("cerebras/qwen-3-32b", p(0.40, 0.80)),
    // Gemini (Generative Language API, paid tier, prompts up to 200k tokens),
    // https://ai.google.dev/gemini-api/docs/pricing
    ("gemini/gemini-2.5-pro", c(1.25, 10.00, 0.125)),
    ("gemini/gemini-2.5-flash", c(0.30, 2.50, 0.03)),
    ("gemini/gemini-2.5-flash-lite", c(0.10, 0.40, 0.01)),
    ("gemini/gemini-2.0-flash", c(0.10, 0.40, 0.025)),
    ("gemini/gemini-2.0-flash-lite", p(0.075, 0.30)),
    ("gemini/gemini-embedding-001", p(0.15, 0.0)),
    ("gemini/text-embedding-004", p(0.0, 0.0)),
    // Amazon Bedrock on-demand (us-east-1), https://aws.amazon.com/bedrock/pricing/
    ("bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0", rw(3.00, 15.00, 0.30, 3.75)),
    ("bedrock/anthropic.claude-sonnet-4-20250514-v1:0", rw(3.00, 15.00, 0.30, 3.75)),
    ("bedrock/anthropic.claude-3-7-sonnet-20250219-v1:0", rw(3.00, 15.00, 0.30, 3.75)),
    ("bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0", p(3.00, 15.00)),
    ("bedrock/anthropic.claude-haiku-4-5-20251001-v1:0", rw(1.00, 5.00, 0.10, 1.25)),
    ("bedrock/anthropic.claude-3-5-haiku-20241022-v1:0", rw(0.80, 4.00, 0.08, 1.00)),
    ("bedrock/anthropic.claude-3-haiku-20240307-v1:0", p(0.25, 1.25)),
    ("bedrock/anthropic.claude-opus-4-1-20250805-v1:0", rw(15.00, 75.00, 1.50, 18.75)),
    ("bedrock/amazon.nova-pro-v1:0", c(0.80, 3.20, 0.20)),
    ("bedrock/amazon.nova-lite-v1:0", c(0.06, 0.24, 0.015)),
    ("bedrock/amazon.nova-micro-v1:0", c(0.035, 0.14, 0.00875)),
    ("bedrock/meta.llama3-3-70b-instruct-v1:0", p(0.72, 0.72)),
    ("bedrock/meta.llama3-1-70b-instruct-v1:0", p(0.72, 0.72)),
    ("bedrock/meta.llama3-1-8b-instruct-v1:0", p(0.22, 0.22)),
    ("bedrock/mistral.mistral-large-2407-v1:0", p(2.00, 6.00)),
    ("bedrock/cohere.command-r-plus-v1:0", p(3.00, 15.00)),
    ("bedrock/cohere.command-r-v1:0", p(0.50, 1.50)),
    ("bedrock/amazon.titan-embed-text-v2:0", p(0.02, 0.0)),
    ("bedrock/cohere.embed-english-v3", p(0.10, 0.0)),
    ("bedrock/cohere.embed-multilingual-v3", p(0.10, 0.0)),
];

/// Bedrock's cross-region inference profiles prefix the model id with a geography; they cost
/// what the model costs in the source region.
const BEDROCK_PROFILES: &[&str] = &["us.", "eu.", "apac.", "jp.", "au.", "global."];

/// The names a `provider/model` is looked up by, in order: itself; the same model of the
/// provider it is priced as (`SAME_PRICES`); without a Bedrock inference-profile prefix; and,
/// for a dated snapshot (`-20241022`, `-2024-08-06`), the undated alias.
fn candidates(model: &str) -> Vec<String> {
    let mut names = vec![model.to_owned()];
    if let Some((provider, rest)) = model.split_once('/') {
        if let Some((_, as_provider)) = SAME_PRICES.iter().find(|(p, _)| *p == provider) {
            names.push(format!("{as_provider}/{rest}"));
        }
        if let Some(id) = BEDROCK_PROFILES.iter().find_map(|p| rest.strip_prefix(p)) {
            names.push(format!("{provider}/{id}"));
        }
    }
    let undated: Vec<String> = names.iter().filter_map(|n| strip_date(n)).collect();
    names.extend(undated);
    names
}

/// `name` without a trailing `-YYYYMMDD` or `-YYYY-MM-DD`.
fn strip_date(name: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let bytes = name.len();
    if bytes > 9 && name.as_bytes()[bytes - 9] == b'-' && digits(&name[bytes - 8..]) {
        return Some(name[..bytes - 9].to_owned());
    }
    if bytes > 11 {
        let tail = &name[bytes - 11..];
        let parts: Vec<&str> = tail[1..].split('-').collect();
        if tail.starts_with('-')
            && parts.len() == 3
            && parts.iter().zip([4, 2, 2]).all(|(p, n)| p.len() == n && digits(p))
        {
            return Some(name[..bytes - 11].to_owned());
        }
    }
    None
}

/// The price of `provider/model`: the first of its lookup names found in `overrides` (the
/// configuration's `[prices]`), else in the built-in table; `None` when neither has one.
pub fn lookup(overrides: &std::collections::HashMap<String, Price>, model: &str) -> Option<Price> {
    let find = |name: &str| {
        overrides.get(name).copied().or_else(|| PRICES.iter().find(|(m, _)| *m == name).map(|(_, price)| *price))
    };
    // The model itself is the first candidate: found, the others need not be made.
    find(model).or_else(|| candidates(model).iter().skip(1).find_map(|name| find(name)))
}

/// What an OpenAI-shaped `usage` costs at `price`, in USD. `prompt_tokens` counts every prompt
/// token; those of `prompt_tokens_details.cached_tokens` are priced as cache reads and those of
/// `cache_creation_input_tokens` as cache writes. `None` when `usage` has no token counts.
pub fn cost(price: &Price, usage: &UsageCounts) -> Option<f64> {
    let prompt = usage.prompt_tokens?;
    // An embeddings answer's usage has no completion tokens: its total is its prompt (none at all
    // when the provider reports no usage, as Gemini's batchEmbedContents: the cost is unknown).
    let completion = usage.completion_tokens.or_else(|| (prompt > 0 && usage.total_tokens? == prompt).then_some(0))?;
    let cached = usage.cached_tokens.unwrap_or(0).min(prompt);
    let written = usage.cache_creation_input_tokens.unwrap_or(0).min(prompt - cached);
    let fresh = prompt - cached - written;
    let usd = (fresh as f64 * price.input
        + cached as f64 * price.cached_input.unwrap_or(price.input)
        + written as f64 * price.cache_write.unwrap_or(price.input)
        + completion as f64 * price.output)
        / 1_000_000.0;
    // Twelve decimals: below a millionth of a cent, and free of binary-fraction noise.
    Some((usd * 1e12).round() / 1e12)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::{json, Value};

    use super::*;

    fn cost_of(price: &Price, usage: &Value) -> Option<f64> {
        cost(price, &UsageCounts::of_value(usage))
    }

    #[test]
    fn every_key_is_provider_slash_model_once_with_sane_prices() {
        for (i, (key, price)) in PRICES.iter().enumerate() {
            let (provider, model) = key.split_once('/').unwrap();
            assert!(!provider.is_empty() && !model.is_empty(), "{key}");
            assert!(PRICES[..i].iter().all(|(k, _)| k != key), "{key} is listed twice");
            for v in [price.input, price.output].into_iter().chain(price.cached_input).chain(price.cache_write) {
                assert!(v.is_finite() && (0.0..=200.0).contains(&v), "{key}: {v}");
            }
            if let Some(cached) = price.cached_input {
                assert!(cached <= price.input, "{key}: a cache read costs more than an input token");
            }
        }
    }

    #[test]
    fn lookup_finds_aliases_snapshots_profiles_and_azure() {
        let none = HashMap::new();
        assert_eq!(lookup(&none, "openai/gpt-4o-mini").unwrap().input, 0.15);
        assert_eq!(lookup(&none, "openai/gpt-4o-2024-08-06").unwrap().input, 2.50);
        assert_eq!(lookup(&none, "anthropic/claude-3-5-haiku-20241022").unwrap().output, 4.00);
        assert_eq!(lookup(&none, "azure/gpt-4o").unwrap(), lookup(&none, "openai/gpt-4o").unwrap());
        assert_eq!(lookup(&none, "bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0").unwrap().input, 0.80);
        assert_eq!(lookup(&none, "openai/no-such-model"), None);
        assert_eq!(lookup(&none, "gpt-4o"), None, "the provider is part of the key");
        let overrides = HashMap::from([("openai/gpt-4o".to_owned(), p(1.0, 2.0))]);
        assert_eq!(lookup(&overrides, "openai/gpt-4o-2024-11-20"), Some(p(1.0, 2.0)));
        assert_eq!(lookup(&overrides, "azure/gpt-4o"), Some(p(1.0, 2.0)));
    }

    #[test]
    fn dates_are_stripped_only_when_they_are_dates() {
        assert_eq!(strip_date("a/claude-3-5-haiku-20241022").as_deref(), Some("a/claude-3-5-haiku"));
        assert_eq!(strip_date("a/gpt-4o-2024-08-06").as_deref(), Some("a/gpt-4o"));
        assert_eq!(strip_date("a/command-r-08-2024"), None);
        assert_eq!(strip_date("a/gpt-4o"), None);
        assert_eq!(strip_date("20241022"), None);
    }

    #[test]
    fn cost_prices_cache_reads_and_writes() {
        let openai = c(2.50, 10.00, 1.25);
        let usage =
            json!({"prompt_tokens": 2000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 1000}});
        // 1000 × 2.50 + 1000 × 1.25 + 100 × 10 = 4750 per million.
        assert_eq!(cost_of(&openai, &usage), Some(0.00475));
        let anthropic = rw(3.00, 15.00, 0.30, 3.75);
        let usage = json!({"prompt_tokens": 135, "completion_tokens": 15, "cache_creation_input_tokens": 10,
                           "prompt_tokens_details": {"cached_tokens": 100}});
        // 25 × 3 + 100 × 0.30 + 10 × 3.75 + 15 × 15 = 367.5 per million.
        assert_eq!(cost_of(&anthropic, &usage), Some(0.0003675));
        assert_eq!(cost_of(&p(1.0, 1.0), &json!({"prompt_tokens": 1})), None);
        assert_eq!(cost_of(&p(1.0, 1.0), &json!({"prompt_tokens": 2, "total_tokens": 3})), None);
        // Embeddings: 8000 input tokens at 0.02 per million.
        assert_eq!(cost_of(&p(0.02, 0.0), &json!({"prompt_tokens": 8000, "total_tokens": 8000})), Some(0.00016));
        assert_eq!(cost_of(&p(0.02, 0.0), &json!({"prompt_tokens": 0, "total_tokens": 0})), None);
        assert_eq!(cost_of(&p(1.0, 1.0), &json!(null)), None);
        // Counts that do not add up are clamped, never negative.
        let odd = json!({"prompt_tokens": 5, "completion_tokens": 0, "cache_creation_input_tokens": 9,
                         "prompt_tokens_details": {"cached_tokens": 3}});
        assert!(cost_of(&anthropic, &odd).unwrap() >= 0.0);
    }
}
