//! The adapters, one module each, and the registry: the one list of them. Adding a provider is
//! a new module here and a line in `PROVIDERS`.

pub mod anthropic;
pub mod azure;
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
static PROVIDERS: &[&dyn Provider] =
    &[&openai::OpenAi, &anthropic::Anthropic, &cohere::Cohere, &mock::Mock, &azure::Azure, &gemini::Gemini];

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

/// Picks the adapter and the model name to send upstream.
pub fn route<'a>(provider: Option<&str>, model: &'a str) -> Result<(&'static dyn Provider, &'a str)> {
    match provider.filter(|p| !p.is_empty()) {
        Some(name) => {
            let adapter = lookup(name).ok_or_else(|| unknown_provider(name))?;
            let upstream_model = model.strip_prefix(name).and_then(|rest| rest.strip_prefix('/')).unwrap_or(model);
            Ok((adapter, upstream_model))
        }
        None => {
            let Some((prefix, rest)) = model.split_once('/') else {
                return Err(Error::unsupported(format!(
                    "no provider for model '{model}': pass a provider or prefix the model with one of {} (for example 'openai/{model}')",
                    known_names()
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
        for (provider, model) in [(Some("bogus"), "gpt"), (None, "bogus/gpt"), (None, "gpt-4o")] {
            let e = route(provider, model).err().unwrap();
            assert_eq!(e.kind, ErrorKind::Unsupported);
            assert!(
                e.message.contains("openai, anthropic, cohere, mock, azure, gemini, groq, mistral"),
                "{}",
                e.message
            );
            assert!(e.message.ends_with("lmstudio, openai_compatible") || model == "gpt-4o", "{}", e.message);
        }
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
