//! Configuration changes behaviour: one test, because the configuration is process-wide.

mod common;

use common::{call, openai_ok, upstream};
use serde_json::json;

fn configure(v: serde_json::Value) {
    liter_llm_core::configure(v.to_string().as_bytes()).unwrap();
}

#[test]
fn every_setting_changes_behaviour() {
    let up = upstream();
    let ok = up.session(json!([{"status": 200, "json": openai_ok("configured")}]), true);

    // providers.openai.api_key / base_url stand in for the environment.
    configure(json!({"providers": {"openai": {"api_key": "sk-test-cfg", "base_url": ok.base_url}}}));
    let (is_err, v) = call(None, json!({"model": "openai/gpt-4o-mini", "prompt": "hi"}));
    assert!(!is_err, "{v}");
    assert_eq!(ok.requests()[0]["headers"]["authorization"], "Bearer sk-test-cfg");

    // providers.openai.max_retries and defaults.max_retries.
    let flaky = up.session(json!([{"status": 503, "headers": {"retry-after": "0"}, "json": {}}]), true);
    configure(
        json!({"defaults": {"max_retries": 4}, "providers": {"openai": {"api_key": "sk-test-cfg", "base_url": flaky.base_url, "max_retries": 1}}}),
    );
    let (_, v) = call(None, json!({"model": "openai/gpt", "prompt": "hi"}));
    assert_eq!(v["attempts"], 2);
    configure(
        json!({"defaults": {"max_retries": 4}, "providers": {"openai": {"api_key": "sk-test-cfg", "base_url": flaky.base_url}}}),
    );
    let (_, v) = call(None, json!({"model": "openai/gpt", "prompt": "hi"}));
    assert_eq!(v["attempts"], 5);

    // defaults.max_retry_wait: a longer advertised wait is not waited.
    let slow = up.session(json!([{"status": 429, "headers": {"retry-after": "2"}, "json": {}}]), true);
    configure(
        json!({"defaults": {"max_retry_wait": 1}, "providers": {"openai": {"api_key": "sk-test-cfg", "base_url": slow.base_url}}}),
    );
    let (_, v) = call(None, json!({"model": "openai/gpt", "prompt": "hi"}));
    assert_eq!(v["attempts"], 1);
    assert!(v["message"].as_str().unwrap().contains("cap"), "{v}");

    // providers.openai.timeout and defaults.timeout bound the call.
    let stall = up.session(json!([{"status": 200, "json": openai_ok("late"), "delay_ms": 3000}]), true);
    configure(json!({"providers": {"openai": {"api_key": "sk-test-cfg", "base_url": stall.base_url, "timeout": 0.3}}}));
    let (_, v) = call(None, json!({"model": "openai/gpt", "prompt": "hi"}));
    assert_eq!(v["kind"], "timeout");
    configure(
        json!({"defaults": {"timeout": 0.3}, "providers": {"openai": {"api_key": "sk-test-cfg", "base_url": stall.base_url}}}),
    );
    let (_, v) = call(None, json!({"model": "openai/gpt", "prompt": "hi"}));
    assert_eq!(v["kind"], "timeout");

    // rpm with on_limit = fail: a burst across threads admits the bucket and refuses the rest.
    let burst = up.session(json!([{"status": 200, "json": openai_ok("ok")}]), true);
    configure(
        json!({"providers": {"openai": {"api_key": "sk-test-cfg", "base_url": burst.base_url, "rpm": 60, "on_limit": "fail"}}}),
    );
    let handles: Vec<_> =
        (0..80).map(|_| std::thread::spawn(|| call(None, json!({"model": "openai/gpt", "prompt": "hi"})))).collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let refused: Vec<_> = results.iter().filter(|(e, _)| *e).collect();
    assert_eq!(results.len() - refused.len(), 60);
    assert_eq!(burst.requests().len(), 60);
    for (_, v) in &refused {
        assert_eq!(v["kind"], "rate_limited");
        assert!(v["retry_after"].as_f64().unwrap() > 0.0);
        assert_eq!(v["status"], serde_json::Value::Null, "refused locally, never sent");
    }

    // on_limit = wait: the 61st call waits for the bucket instead of failing. The bucket (60, one
    // more each second) starts full at the first call, so 61 calls take at least a second
    // however fast the first 60 go.
    let waited = up.session(json!([{"status": 200, "json": openai_ok("ok")}]), true);
    configure(
        json!({"providers": {"openai": {"api_key": "sk-test-cfg", "base_url": waited.base_url, "rpm": 60, "on_limit": "wait",
        "models": {"gpt-limited": {"rpm": 1000}}}}}),
    );
    let started = std::time::Instant::now();
    for _ in 0..61 {
        assert!(!call(None, json!({"model": "openai/gpt", "prompt": "hi"})).0);
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(990), "{:?}", started.elapsed());
    let (_, v) = call(None, json!({"model": "openai/gpt", "prompt": "hi", "timeout": 0.2}));
    assert_eq!(v["kind"], "rate_limited", "a wait past the deadline is refused: {v}");

    // tpm: token estimates are charged before sending, then settled against reported usage.
    let tokens = up.session(json!([{"status": 200, "json": openai_ok("ok")}]), true);
    configure(
        json!({"providers": {"openai": {"api_key": "sk-test-cfg", "base_url": tokens.base_url, "on_limit": "fail",
        "models": {"gpt-t": {"tpm": 500}}}}}),
    );
    let (_, v) = call(None, json!({"model": "openai/gpt-t", "prompt": "hi", "max_tokens": 600}));
    assert_eq!(v["kind"], "rate_limited", "an estimate of 601 tokens does not fit 500: {v}");
    for _ in 0..3 {
        // Each estimate is 401; without settling to the reported 2, the second would not fit.
        let (is_err, v) = call(None, json!({"model": "openai/gpt-t", "prompt": "hi", "max_tokens": 400}));
        assert!(!is_err, "{v}");
    }
    assert_eq!(tokens.requests().len(), 3);

    // routes: round robin alternates, lowest_price picks the cheapest, fallback falls back.
    let a = up.session(json!([{"status": 200, "json": openai_ok("a")}]), true);
    configure(json!({
        "providers": {"openai": {"api_key": "sk-test-cfg", "base_url": a.base_url}},
        "routes": {
            "rr": {"strategy": "round_robin", "models": ["openai/model-1", "openai/model-2"]},
            "cheap": {"strategy": "lowest_price", "models": ["openai/gpt-4o", "openai/gpt-4o-mini", "openai/unpriced"]},
            "custom": {"strategy": "lowest_price", "models": ["openai/gpt-4o-mini", "openai/gpt-4o"]}
        },
        "prices": {"openai/gpt-4o": {"input": 0.01, "output": 0.01}}
    }));
    let served: Vec<String> = (0..4)
        .map(|_| {
            call(None, json!({"model": "rr", "prompt": "hi"})).1["liter_llm"]["model"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(served, ["openai/model-1", "openai/model-2", "openai/model-1", "openai/model-2"]);
    let (_, v) = call(None, json!({"model": "cheap", "prompt": "hi"}));
    assert_eq!(v["liter_llm"]["model"], "openai/gpt-4o", "the configured price overrides the built-in one");
    configure(json!({"providers": {"openai": {"api_key": "sk-test-cfg", "base_url": a.base_url}},
        "routes": {"cheap": {"strategy": "lowest_price", "models": ["openai/gpt-4o", "openai/gpt-4o-mini"]}}}));
    let (_, v) = call(None, json!({"model": "cheap", "prompt": "hi"}));
    assert_eq!(v["liter_llm"]["model"], "openai/gpt-4o-mini");

    // pool settings are accepted and calls keep working on the new client.
    configure(
        json!({"pool": {"max_idle_per_host": 2, "idle_timeout": 5}, "providers": {"openai": {"api_key": "sk-test-cfg", "base_url": a.base_url}}}),
    );
    assert!(!call(None, json!({"model": "openai/gpt", "prompt": "hi"})).0);

    // Invalid configuration is an error naming the key, and changes nothing.
    let e = liter_llm_core::configure(br#"{"providers": {"openai": {"rpm": "sixty"}}}"#).unwrap_err();
    assert!(e.message.contains("providers.openai.rpm"), "{}", e.message);
    assert!(!call(None, json!({"model": "openai/gpt", "prompt": "hi"})).0, "the previous configuration still applies");
}
