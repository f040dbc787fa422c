//! liter-llm core: one OpenAI-shaped chat API over OpenAI, Anthropic, Cohere and a built-in
//! mock. Plain Rust; the C ABI lives in the `liter-llm-ffi` crate.
//!
//! Layers, each depending only on those below it: `error`, `secret`, `response`, `sse` at the
//! bottom, with `price` (the price table); `request`, `retry`, `limiter`, `chunk` and `stream` (provider-neutral chunk building
//! and assembly); `provider` (the trait) and `providers` (one file each, and the registry);
//! `config`; `plan` (routing) and `transport` (one HTTP exchange); `driver` (the one call
//! loop, reporting to `observe`: `telemetry` spans and metrics, the `audit` trail); `client`
//! (the state a caller holds) and `runtime`.

#![deny(unsafe_code)]

pub mod audit;
pub mod cache;
pub mod chunk;
pub mod client;
pub mod config;
mod driver;
pub mod embedding;
pub mod error;
mod http;
mod json;
pub mod limiter;
mod observe;
pub mod plan;
pub mod price;
pub mod provider;
pub mod providers;
pub mod request;
pub mod response;
pub mod retry;
pub mod runtime;
pub mod secret;
pub mod sse;
pub mod stream;
pub mod telemetry;
pub mod transport;

pub use client::{configure, invoke, invoke_blocking, stream_call, Client};
pub use error::{Error, ErrorKind, ProviderError, Result, Tried};
pub use plan::{Facts, Plan};
pub use runtime::runtime;
pub use secret::Secret;

/// The crate version, as reported by `liter_llm_version()`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod layering {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The top-level module each non-test source file of `src/` belongs to, with the modules its
    /// code names through `crate::`.
    fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut files = vec![src.clone()];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let module = relative.iter().next().unwrap().to_str().unwrap().trim_end_matches(".rs").to_owned();
            if module == "lib" || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let code = code.as_str();
            let uses = graph.entry(module.clone()).or_default();
            for (i, _) in code.match_indices("crate::") {
                let name: String =
                    code[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if name != module && !name.is_empty() && name.chars().next().unwrap().is_ascii_lowercase() {
                    uses.insert(name);
                }
            }
            // `use crate::{a, b::c}` groups.
            for (i, _) in code.match_indices("use crate::{") {
                let group = &code[i + 12..i + 12 + code[i + 12..].find('}').unwrap_or(0)];
                for item in group.split(',') {
                    let name = item.trim().split("::").next().unwrap().trim();
                    if name != module && !name.is_empty() && name.chars().next().unwrap().is_ascii_lowercase() {
                        uses.insert(name.to_owned());
                    }
                }
            }
        }
        graph
    }

    /// The modules of the crate form a layered graph: no module depends, directly or through
    /// others, on itself.
    #[test]
    fn the_module_graph_has_no_cycle() {
        let graph = module_graph();
        fn visit<'a>(
            m: &'a str,
            graph: &'a BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) {
            if let Some(start) = path.iter().position(|p| *p == m) {
                panic!("import cycle: {} -> {m}", path[start..].join(" -> "));
            }
            if !done.insert(m) {
                return;
            }
            path.push(m);
            for next in graph.get(m).into_iter().flatten() {
                visit(next, graph, path, done);
            }
            path.pop();
        }
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            visit(m, &graph, &mut Vec::new(), &mut done);
        }
        assert!(graph["error"].is_empty(), "error is at the bottom: {:?}", graph["error"]);
        assert!(graph.contains_key("driver") && graph.contains_key("client"));
    }
}
