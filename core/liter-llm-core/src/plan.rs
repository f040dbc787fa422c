//! Routing: a validated request and the models it may be sent to, in order, with the call's
//! deadline and retry budget. Runs on the caller's thread; no I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cache::Status;
use crate::config::{self, CacheMode, Config, Strategy};
use crate::error::Result;
use crate::limiter;
use crate::price::{Price, UsageCounts};
use crate::provider::Provider;
use crate::providers::mock::Mock;
use crate::providers::{route, same_provider};
use crate::request::ChatRequest;
use crate::response::Reply;
use crate::retry;

/// Used when the request names no `timeout` (the official SDKs' default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// A validated call: the request, the models to try in order, and the limits that bound it.
pub struct Plan {
    pub(crate) request: ChatRequest,
    pub(crate) targets: Vec<Target>,
    pub(crate) timeout: Duration,
    pub(crate) max_retries: u32,
    pub(crate) estimated_tokens: u64,
    pub(crate) cfg: Arc<Config>,
}

/// What the core read of a whole answer while making it, for a caller that would otherwise
/// parse the body again (the gateway's metrics and key budgets): its `usage` (`None` without
/// one, or with `usage: null`) and what `liter_llm.cache` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub usage: Option<UsageCounts>,
    pub cache: Status,
}

impl Default for Facts {
    fn default() -> Facts {
        Facts { usage: None, cache: Status::Off }
    }
}

/// One model of a call's chain.
pub(crate) struct Target {
    pub(crate) provider: &'static dyn Provider,
    /// The model as sent upstream (routing prefix removed).
    pub(crate) model: String,
    /// Whether the call's own `api_key` and `base_url` apply: they belong to the primary
    /// model's provider; a fallback to another provider takes that provider's settings.
    pub(crate) overrides: bool,
}

/// Where each round-robin route starts next; one per client.
#[derive(Debug, Default)]
pub struct RouteTurns(Mutex<HashMap<String, usize>>);

impl RouteTurns {
    /// The index this call starts at, advancing the route for the next call.
    fn next(&self, route: &str, len: usize) -> usize {
        let mut turns = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let turn = turns.entry(route.to_owned()).or_insert(0);
        let start = *turn % len;
        *turn = turn.wrapping_add(1);
        start
    }

    pub fn reset(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Plan {
    /// Validates the request and resolves every model it may be sent to; `streaming` for a
    /// streamed call.
    pub fn new(
        cfg: Arc<Config>,
        turns: &RouteTurns,
        provider: Option<&str>,
        request: &[u8],
        streaming: bool,
    ) -> Result<Plan> {
        let request = ChatRequest::parse_for(request, streaming).map_err(|e| match provider {
            Some(p) if crate::providers::lookup(p).is_some() => e.with_provider(p),
            _ => e,
        })?;
        let prompt_chars = request.prompt_chars();
        let model = request.params.model.as_str();
        let mut targets: Vec<Target> = Vec::with_capacity(1 + request.options.fallbacks.len());
        let mut chain = |provider: &'static dyn Provider, model: &str| {
            // Whether the call's overrides apply is known once the whole chain is.
            targets.push(Target { provider, model: model.to_owned(), overrides: false });
        };
        match cfg.routes.get(model).filter(|_| provider.is_none_or(str::is_empty)) {
            Some(named) => {
                for m in ordered_route(&cfg, turns, model, named, prompt_chars, request.max_tokens()) {
                    let (adapter, upstream_model) = route(None, &m)?;
                    chain(adapter, upstream_model);
                }
            }
            None => {
                let (adapter, upstream_model) = route(provider, model)?;
                chain(adapter, upstream_model);
            }
        }
        for fallback in &request.options.fallbacks {
            let (adapter, model) = route(None, fallback)?;
            chain(adapter, model);
        }
        let primary_provider = targets[0].provider;
        for target in &mut targets {
            target.overrides = same_provider(target.provider, primary_provider);
        }
        let primary = cfg.providers.get(primary_provider.name());
        Ok(Plan {
            timeout: request
                .options
                .timeout
                .or(primary.and_then(|p| p.timeout))
                .or(cfg.defaults.timeout)
                .unwrap_or(DEFAULT_TIMEOUT),
            max_retries: request
                .options
                .max_retries
                .or(primary.and_then(|p| p.max_retries))
                .or(cfg.defaults.max_retries)
                .unwrap_or(retry::DEFAULT_MAX_RETRIES),
            estimated_tokens: limiter::estimate_tokens(prompt_chars, request.max_tokens()),
            request,
            targets,
            cfg,
        })
    }

    /// Tokens the call is expected to use before its usage is known (what rate limits reserve).
    pub fn estimated_tokens(&self) -> u64 {
        self.estimated_tokens
    }

    /// What `liter_llm.cache` says of an answer made without the network: never cached.
    pub(crate) fn local_status(&self) -> Status {
        if self.cfg.cache.mode == CacheMode::Off {
            Status::Off
        } else {
            Status::Bypass
        }
    }

    /// The answer, when the first model answers without the network (the `mock` provider, or
    /// any provider given `mock_response`).
    pub fn answer_locally(&self) -> Option<Result<Vec<u8>>> {
        let first = &self.targets[0];
        let answer = self.respond_locally(first)?;
        Some(
            answer
                .map(|body| {
                    let status = self.local_status();
                    let cost = cost_usd(self.price(first), status, || Reply::parse(&body).usage());
                    self.with_meta(body, first, 0, status, cost)
                })
                .map_err(|e| e.with_provider(first.provider.name())),
        )
    }

    /// `answer_locally`, with the answer's `Facts`.
    pub fn answer_locally_with_facts(&self) -> Option<Result<(Vec<u8>, Facts)>> {
        let first = &self.targets[0];
        let answer = self.respond_locally(first)?;
        Some(
            answer
                .map(|body| {
                    let facts = Facts { usage: Reply::parse(&body).usage(), cache: self.local_status() };
                    let cost = cost_usd(self.price(first), facts.cache, || facts.usage);
                    (self.with_meta(body, first, 0, facts.cache, cost), facts)
                })
                .map_err(|e| e.with_provider(first.provider.name())),
        )
    }

    /// A target's answer without the network: the provider's own (the mock's), else, when the
    /// call gives `mock_response`, the canned answer LiteLLM's users write tests with, for any
    /// provider, without a key.
    pub(crate) fn respond_locally(&self, target: &Target) -> Option<Result<Vec<u8>>> {
        target.provider.respond_locally(&self.request, &target.model).or_else(|| {
            self.request.options.mock_response.as_ref()?;
            Mock.respond_locally(&self.request, &target.model)
        })
    }

    /// `respond_locally` for a stream: the chunks, in order.
    pub(crate) fn stream_locally(&self, target: &Target) -> Option<Result<Vec<Vec<u8>>>> {
        target.provider.stream_locally(&self.request, &target.model).or_else(|| {
            self.request.options.mock_response.as_ref()?;
            Mock.stream_locally(&self.request, &target.model)
        })
    }

    /// The price of a target's model by the call's configuration; `None` when it has none.
    pub(crate) fn price(&self, target: &Target) -> Option<Price> {
        let (provider, model) = (target.provider.name().as_bytes(), target.model.as_bytes());
        // `provider/model`, written on the stack when it fits (model names are short).
        let mut name = [0u8; 128];
        let len = provider.len() + 1 + model.len();
        if len > name.len() {
            return self.cfg.price(&format!("{}/{}", target.provider.name(), target.model));
        }
        name[..provider.len()].copy_from_slice(provider);
        name[provider.len()] = b'/';
        name[provider.len() + 1..len].copy_from_slice(model);
        // Two strings joined by an ASCII byte are UTF-8.
        std::str::from_utf8(&name[..len]).ok().and_then(|name| self.cfg.price(name))
    }

    /// `with_meta` for a target of this call.
    pub(crate) fn with_meta(
        &self,
        body: Vec<u8>,
        target: &Target,
        attempts: u32,
        cache: Status,
        cost: Option<f64>,
    ) -> Vec<u8> {
        with_meta(body, target.provider.name(), &target.model, attempts, cache, cost)
    }

    /// A stream chunk as the caller gets it: the usage chunk (`usage`: the chunk's non-null
    /// `usage`, read only from a chunk whose text names it) carries `liter_llm.cost_usd`; with a
    /// cache, every chunk carries `liter_llm.cache`.
    pub(crate) fn chunk_meta(
        &self,
        chunk: Vec<u8>,
        target: &Target,
        cache: Status,
        usage: Option<UsageCounts>,
    ) -> Vec<u8> {
        let mut meta = serde_json::Map::new();
        if cache != Status::Off {
            meta.insert("cache".into(), cache.as_str().into());
        }
        if let Some(usage) = usage {
            let cost = cost_usd(self.price(target), cache, || Some(usage));
            meta.insert("cost_usd".into(), cost.into());
        }
        if meta.is_empty() {
            return chunk;
        }
        crate::response::insert_member(chunk, "liter_llm", &serde_json::Value::Object(meta))
    }
}

/// Whether a stream chunk's text names `usage` (only such a chunk is read for its cost).
pub(crate) fn names_usage(chunk: &[u8]) -> bool {
    chunk.windows(7).any(|w| w == b"\"usage\"")
}

/// `liter_llm.cost_usd`: what the answer's `usage` costs at the model's `price`; 0 for an answer
/// from the response cache (nothing was paid for it); `None` when the model has no price or the
/// answer no usage.
pub(crate) fn cost_usd(
    price: Option<Price>,
    cache: Status,
    usage: impl FnOnce() -> Option<UsageCounts>,
) -> Option<f64> {
    let price = price?;
    if matches!(cache, Status::HitL1 | Status::HitL2) {
        return Some(0.0);
    }
    crate::price::cost(&price, &usage()?)
}

/// A named route's models in the order its strategy picks for this request.
fn ordered_route(
    cfg: &Config,
    turns: &RouteTurns,
    name: &str,
    named: &config::Route,
    prompt_chars: usize,
    max_tokens: Option<u32>,
) -> Vec<String> {
    let mut models = named.models.clone();
    match named.strategy {
        Strategy::Fallback => {}
        Strategy::RoundRobin => {
            let start = turns.next(name, models.len());
            models.rotate_left(start);
        }
        Strategy::LowestPrice => {
            // Expected cost: the prompt estimate at the input price plus the completion budget
            // (max_tokens, else 1024) at the output price. Unpriced models go last, in order.
            let prompt = prompt_chars.div_ceil(4) as f64;
            let completion = f64::from(max_tokens.unwrap_or(1024));
            let cost = |m: &String| cfg.price(m).map(|p| prompt * p.input + completion * p.output);
            models.sort_by(|a, b| match (cost(a), cost(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
        }
    }
    models
}

/// Adds `"liter_llm": {"provider", "model", "attempts", "cache", "cost_usd"}` to a response
/// object: which provider and model served it, after how many HTTP attempts (0 for a local
/// answer or a cache hit), what the cache did, and what it cost (`null`: no price). The members
/// are written in `serde_json`'s order (sorted), as a `Value` object would be.
pub(crate) fn with_meta(
    body: Vec<u8>,
    provider: &str,
    model: &str,
    attempts: u32,
    cache: Status,
    cost_usd: Option<f64>,
) -> Vec<u8> {
    let reserve = 96 + 2 * provider.len() + model.len();
    crate::response::insert_member_with(body, "liter_llm", reserve, |meta| {
        meta.extend_from_slice(b"{\"attempts\":");
        meta.extend_from_slice(itoa::Buffer::new().format(attempts).as_bytes());
        meta.extend_from_slice(b",\"cache\":\"");
        meta.extend_from_slice(cache.as_str().as_bytes());
        meta.extend_from_slice(b"\",\"cost_usd\":");
        // Infallible: writing to a Vec; a non-finite cost is written as null, as a Value holds it.
        let _ = serde_json::to_writer(&mut *meta, &cost_usd);
        // `"provider/model"`: JSON escapes each character alone, so the two strings are written
        // escaped, the first without its closing quote, the second without its opening one.
        meta.extend_from_slice(b",\"model\":");
        let _ = serde_json::to_writer(&mut *meta, provider);
        meta.pop();
        meta.push(b'/');
        let opening = meta.len();
        let _ = serde_json::to_writer(&mut *meta, model);
        meta.remove(opening);
        meta.extend_from_slice(b",\"provider\":");
        let _ = serde_json::to_writer(&mut *meta, provider);
        meta.push(b'}');
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_turns_are_per_route_and_per_client() {
        let a = RouteTurns::default();
        let b = RouteTurns::default();
        assert_eq!([a.next("r", 3), a.next("r", 3), a.next("r", 3), a.next("r", 3)], [0, 1, 2, 0]);
        assert_eq!(a.next("other", 2), 0);
        assert_eq!(b.next("r", 3), 0, "another client starts its own turns");
        a.reset();
        assert_eq!(a.next("r", 3), 0);
    }

    #[test]
    fn fallbacks_to_another_provider_do_not_take_the_call_overrides() {
        let req =
            br#"{"model": "openai/gpt-4o", "prompt": "x", "fallbacks": ["openai/gpt-4o-mini", "anthropic/claude-x"]}"#;
        let plan = Plan::new(Arc::new(Config::default()), &RouteTurns::default(), None, req, false).unwrap();
        let overrides: Vec<bool> = plan.targets.iter().map(|t| t.overrides).collect();
        assert_eq!(overrides, [true, true, false]);
    }

    fn plan(cfg: Config, request: &str, streaming: bool) -> Plan {
        Plan::new(Arc::new(cfg), &RouteTurns::default(), None, request.as_bytes(), streaming).unwrap()
    }

    #[test]
    fn mock_response_answers_for_any_provider_with_its_cost() {
        for (model, provider, upstream) in [
            ("gpt-4o-mini", "openai", "gpt-4o-mini"),
            ("anthropic/claude-3-5-haiku-20241022", "anthropic", "claude-3-5-haiku-20241022"),
            ("command-r", "cohere", "command-r"),
        ] {
            let request = format!(r#"{{"model": "{model}", "prompt": "Hello there", "mock_response": "hi"}}"#);
            let answer = plan(Config::default(), &request, false).answer_locally().unwrap().unwrap();
            let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
            assert_eq!(v["choices"][0]["message"]["content"], "hi");
            assert_eq!(v["liter_llm"]["provider"], provider);
            assert_eq!(v["liter_llm"]["model"], format!("{provider}/{upstream}"));
            assert_eq!(v["liter_llm"]["attempts"], 0);
            // 3 prompt and 1 completion tokens at the model's price.
            let price = Config::default().price(&format!("{provider}/{upstream}")).unwrap();
            let want = (3.0 * price.input + 1.0 * price.output) / 1e6;
            let got = v["liter_llm"]["cost_usd"].as_f64().unwrap();
            assert!((got - want).abs() < 1e-12, "{model}: {got} vs {want}");
        }
        // Without mock_response a real provider has no local answer.
        assert!(plan(Config::default(), r#"{"model": "gpt-4o", "prompt": "x"}"#, false).answer_locally().is_none());
    }

    #[test]
    fn cost_is_null_without_a_price_and_follows_the_configured_prices() {
        let request = r#"{"model": "openai/my-finetune", "prompt": "Hello there", "mock_response": "hi"}"#;
        let answer = plan(Config::default(), request, false).answer_locally().unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert!(v["liter_llm"].as_object().unwrap().contains_key("cost_usd"));
        assert_eq!(v["liter_llm"]["cost_usd"], serde_json::Value::Null);
        let cfg = Config::from_json(br#"{"prices": {"openai/my-finetune": {"input": 1000000, "output": 2000000}}}"#);
        let answer = plan(cfg.unwrap(), request, false).answer_locally().unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(v["liter_llm"]["cost_usd"], 5.0, "3 prompt tokens at $1 and 1 completion token at $2");
    }

    /// `chunk_meta` as the call loop gives it a chunk's usage.
    fn chunk_meta(p: &Plan, chunk: Vec<u8>, target: &Target, cache: Status) -> Vec<u8> {
        let usage = if names_usage(&chunk) { Reply::parse(&chunk).usage() } else { None };
        p.chunk_meta(chunk, target, cache, usage)
    }

    #[test]
    fn the_usage_chunk_carries_the_cost_and_cache_hits_cost_nothing() {
        let p =
            plan(Config::default(), r#"{"model": "gpt-4o", "prompt": "Hello there", "mock_response": "a b"}"#, true);
        let target = &p.targets[0];
        let chunks: Vec<serde_json::Value> = p
            .stream_locally(target)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|c| serde_json::from_slice(&chunk_meta(&p, c, target, Status::Off)).unwrap())
            .collect();
        let (last, rest) = chunks.split_last().unwrap();
        assert!(rest.iter().all(|c| c.get("liter_llm").is_none()), "{rest:?}");
        // 3 prompt tokens at $2.50, 1 completion token at $10 per million.
        assert_eq!(last["liter_llm"], serde_json::json!({"cost_usd": 0.0000175}));
        let usage = br#"{"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}"#.to_vec();
        let hit: serde_json::Value = serde_json::from_slice(&chunk_meta(&p, usage, target, Status::HitL2)).unwrap();
        assert_eq!(hit["liter_llm"], serde_json::json!({"cache": "hit-l2", "cost_usd": 0.0}));
        let text = br#"{"choices": [{"delta": {"content": ""usage""}}]}"#.to_vec();
        assert_eq!(chunk_meta(&p, text.clone(), target, Status::Off), text, "text naming usage is not usage");
    }

    #[test]
    fn meta_is_written_as_its_value_object_was() {
        for (provider, model, attempts, cache, cost) in [
            ("openai", "gpt-4o-mini", 1, Status::Off, Some(0.0000175)),
            ("anthropic", "claude \"quoted\" \u{e9}\n", 0, Status::HitL2, Some(0.0)),
            ("mock", "m/x", u32::MAX, Status::Miss, None),
            ("openai", "big", 3, Status::Bypass, Some(1e300)),
            ("openai", "tiny", 3, Status::HitL1, Some(1e-12)),
            ("openai", "nan", 2, Status::Off, Some(f64::NAN)),
        ] {
            let before = crate::response::insert_member(
                br#"{"id": "x", "choices": []}"#.to_vec(),
                "liter_llm",
                &serde_json::json!({
                    "provider": provider,
                    "model": format!("{provider}/{model}"),
                    "attempts": attempts,
                    "cache": cache.as_str(),
                    "cost_usd": cost,
                }),
            );
            let now = with_meta(br#"{"id": "x", "choices": []}"#.to_vec(), provider, model, attempts, cache, cost);
            assert_eq!(String::from_utf8(now).unwrap(), String::from_utf8(before).unwrap());
        }
    }

    #[test]
    fn the_price_is_that_of_provider_slash_model() {
        let long = "x".repeat(200);
        let mut cfg = Config::default();
        cfg.prices
            .insert(format!("openai/{long}"), Price { input: 1.0, output: 2.0, cached_input: None, cache_write: None });
        let cfg = Arc::new(cfg);
        for model in ["gpt-4o-mini", "gpt-4o", "not-a-priced-model", long.as_str()] {
            let req = format!(r#"{{"model": "openai/{model}", "prompt": "x"}}"#);
            let plan = Plan::new(cfg.clone(), &RouteTurns::default(), None, req.as_bytes(), false).unwrap();
            let price = plan.price(&plan.targets[0]).map(|p| (p.input, p.output));
            assert_eq!(price, cfg.price(&format!("openai/{model}")).map(|p| (p.input, p.output)), "{model}");
            assert_eq!(price.is_some(), model != "not-a-priced-model", "{model}");
        }
    }

    #[test]
    fn meta_is_added_to_any_object() {
        let out = with_meta(b"{\"id\": 1}".to_vec(), "openai", "gpt", 2, Status::Miss, Some(0.5));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["liter_llm"],
            serde_json::json!({"provider": "openai", "model": "openai/gpt", "attempts": 2, "cache": "miss", "cost_usd": 0.5})
        );
        let out = with_meta(b"{ }".to_vec(), "mock", "m", 0, Status::Off, None);
        assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
    }
}
