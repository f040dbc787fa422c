//! The adapters, one module each, and the registry: the one list of them. Adding a provider is
//! a new module here and a line in `PROVIDERS`.

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod cohere;
pub mod compatible;
pub mod gemini;
pub mod mock;
pub mod openai;

#[cfg(test)]
pub(crate) mod testing;

use crate::error::{Error, Result};
use crate::provider::Provider;

/// Every provider, in the order messages list them.
static PROVIDERS: &[&dyn Provider] = &[
    &openai::OpenAi,
    &anthropic::Anthropic,
    &cohere::Cohere,
    &mock::Mock,
    &azure::Azure,
    &gemini::Gemini,
    &bedrock::Bedrock,
];

/// Every provider: those with a file of their own, then the OpenAI-compatible family.
fn all() -> impl Iterator<Item = &'static dyn Provider> {
    PROVIDERS.iter().copied().chain(compatible::FAMILY.iter().map(|p| p as &'static dyn Provider))
}

/// The provider called `name`.
pub fn lookup(name: &str) -> Option<&'static dyn Provider> {
    all().find(|p| p.name() == name)
}

/// The providers' names, for messages: "openai, anthropic, ...".
/// Whether two adapters are the same provider.
pub fn same_provider(a: &dyn Provider, b: &dyn Provider) -> bool {
    a.name() == b.name()
}

pub fn known_names() -> String {
    all().map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

fn unknown_provider(name: &str) -> Error {
    Error::unsupported(format!("unknown provider '{name}'; known providers: {}", known_names()))
}

/// Which provider serves a model named without a `provider/` prefix, as LiteLLM infers it from
/// well-known names: `(pattern, provider)`, a pattern ending in `*` matching by prefix, any other
/// exactly. A provider not in `PROVIDERS` is skipped. docs/providers.md lists the table.
static INFERRED: &[(&str, &str)] = &[
    ("gpt-*", "openai"),
    ("chatgpt-*", "openai"),
    ("o1*", "openai"),
    ("o3*", "openai"),
    ("o4*", "openai"),
    ("text-embedding-*", "openai"),
    ("claude-*", "anthropic"),
    ("command*", "cohere"),
    ("embed-*", "cohere"),
    ("gemini-*", "gemini"),
    ("grok-*", "xai"),
    ("deepseek-*", "deepseek"),
    ("mistral-*", "mistral"),
    ("codestral-*", "mistral"),
    ("ministral-*", "mistral"),
    ("open-mistral-*", "mistral"),
    ("sonar*", "perplexity"),
];

fn matches(pattern: &str, model: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => model.starts_with(prefix),
        None => model == pattern,
    }
}

/// The provider `table` infers for `model`; an error naming the candidates when patterns of two
/// providers match.
fn infer(model: &str, table: &[(&str, &str)]) -> Result<Option<&'static dyn Provider>> {
    let mut found: Vec<&'static dyn Provider> = Vec::new();
    for (_, name) in table.iter().filter(|(pattern, _)| matches(pattern, model)) {
        if let Some(p) = lookup(name).filter(|p| !found.iter().any(|f| same_provider(*f, *p))) {
            found.push(p);
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => {
            let names: Vec<&str> = many.iter().map(|p| p.name()).collect();
            Err(Error::unsupported(format!(
                "model '{model}' could be served by {}: prefix it with one of them (for example '{}/{model}')",
                names.join(" or "),
                names[0]
            )))
        }
    }
}

/// The inference patterns, for messages: "gpt-* (openai), ...".
fn inferred_names() -> String {
    INFERRED
        .iter()
        .filter(|(_, name)| lookup(name).is_some())
        .map(|(pattern, name)| format!("{pattern} ({name})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Picks the adapter and the model name to send upstream: the `provider` argument, else the
/// model's `provider/` prefix, else the provider `INFERRED` gives the model's name.
pub fn route<'a>(provider: Option<&str>, model: &'a str) -> Result<(&'static dyn Provider, &'a str)> {
    match provider.filter(|p| !p.is_empty()) {
        Some(name) => {
            let adapter = lookup(name).ok_or_else(|| unknown_provider(name))?;
            let upstream_model = model.strip_prefix(name).and_then(|rest| rest.strip_prefix('/')).unwrap_or(model);
            Ok((adapter, upstream_model))
        }
        None => {
            let Some((prefix, rest)) = model.split_once('/') else {
                if let Some(adapter) = infer(model, INFERRED)? {
                    return Ok((adapter, model));
                }
                return Err(Error::unsupported(format!(
                    "no provider for model '{model}': pass a provider or prefix the model with one of {} (for example 'openai/{model}'); names known without a prefix: {}",
                    known_names(),
                    inferred_names()
                )));
            };
            let adapter = lookup(prefix).ok_or_else(|| unknown_provider(prefix))?;
            if rest.is_empty() {
                return Err(Error::invalid_request(format!("model '{model}' names no model after the provider")));
            }
            Ok((adapter, rest))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn routes_by_argument_or_prefix() {
        let (p, m) = route(Some("anthropic"), "claude-x").unwrap();
        assert_eq!((p.name(), m), ("anthropic", "claude-x"));
        let (p, m) = route(Some("openai"), "openai/gpt-4o").unwrap();
        assert_eq!((p.name(), m), ("openai", "gpt-4o"));
        let (p, m) = route(Some("openai"), "meta-llama/Llama-3").unwrap();
        assert_eq!((p.name(), m), ("openai", "meta-llama/Llama-3"));
        let (p, m) = route(None, "cohere/command-r-plus").unwrap();
        assert_eq!((p.name(), m), ("cohere", "command-r-plus"));
        let (p, _) = route(Some(""), "mock/x").unwrap();
        assert_eq!(p.name(), "mock");
    }

    #[test]
    fn unknown_providers_list_the_known_ones() {
        for (provider, model) in [(Some("bogus"), "gpt"), (None, "bogus/gpt"), (None, "llama-3.3-70b")] {
            let e = route(provider, model).err().unwrap();
            assert_eq!(e.kind, ErrorKind::Unsupported);
            assert!(
                e.message.contains("openai, anthropic, cohere, mock, azure, gemini, bedrock, groq, mistral"),
                "{}",
                e.message
            );
            assert!(e.message.ends_with("lmstudio, openai_compatible") || model == "llama-3.3-70b", "{}", e.message);
        }
    }

    #[test]
    fn names_without_a_prefix_are_inferred_from_the_table() {
        for (model, provider) in [
            ("gpt-4o-mini", "openai"),
            ("chatgpt-4o-latest", "openai"),
            ("o1", "openai"),
            ("o3-mini", "openai"),
            ("o4-mini", "openai"),
            ("text-embedding-3-small", "openai"),
            ("claude-3-5-haiku-20241022", "anthropic"),
            ("command-r-plus", "cohere"),
            ("command", "cohere"),
            ("embed-english-v3.0", "cohere"),
        ] {
            let (p, m) = route(None, model).unwrap();
            assert_eq!((p.name(), m), (provider, model));
        }
        // An explicit provider or prefix wins over inference.
        let (p, m) = route(Some("anthropic"), "gpt-4o").unwrap();
        assert_eq!((p.name(), m), ("anthropic", "gpt-4o"));
        let e = route(None, "llama-3.3-70b").err().unwrap();
        assert!(e.message.contains("gpt-* (openai)") && e.message.contains("claude-* (anthropic)"), "{}", e.message);
        // Near misses are not inferred.
        for model in ["gpt", "claud-3", "xgpt-4", "GPT-4o"] {
            assert_eq!(route(None, model).err().unwrap().kind, ErrorKind::Unsupported, "{model}");
        }
    }

    #[test]
    fn a_name_two_providers_claim_is_an_error_naming_both() {
        let table = [("x-*", "openai"), ("x-1*", "anthropic"), ("x-*", "openai")];
        let e = infer("x-1", &table).err().unwrap();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("openai or anthropic") && e.message.contains("'openai/x-1'"), "{}", e.message);
        assert_eq!(infer("x-2", &table).unwrap().unwrap().name(), "openai", "one provider listed twice is one");
        assert!(infer("y", &table).unwrap().is_none());
        // Providers not registered are skipped.
        assert!(infer("x", &[("x", "no-such-provider")]).unwrap().is_none());
    }

    #[test]
    fn every_provider_is_found_by_its_own_name_once() {
        for p in all() {
            assert!(std::ptr::addr_eq(lookup(p.name()).unwrap(), p), "{}", p.name());
            assert_eq!(all().filter(|q| q.name() == p.name()).count(), 1, "{}", p.name());
        }
        assert!(lookup("OpenAI").is_none());
    }
}
