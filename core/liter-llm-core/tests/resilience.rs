//! Retries, deadlines and fallbacks against a real local HTTP server.

mod common;

use common::{call, openai_ok, upstream};
use serde_json::json;

fn req(base_url: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut r = json!({"model": "openai/gpt-4o-mini", "prompt": "hi", "api_key": "sk-test-r", "base_url": base_url});
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    r
}

fn err(status: u16, headers: serde_json::Value) -> serde_json::Value {
    json!({"status": status, "headers": headers, "json": {"error": {"message": format!("status {status}"), "type": "x"}}})
}

#[test]
fn retries_a_429_after_the_advertised_wait() {
    let s = upstream()
        .session(json!([err(429, json!({"retry-after-ms": "300"})), {"status": 200, "json": openai_ok("ok")}]), false);
    let (is_err, v) = call(None, req(&s.base_url, json!({})));
    assert!(!is_err, "{v}");
    assert_eq!(
        v["liter_llm"],
        json!({"provider": "openai", "model": "openai/gpt-4o-mini", "attempts": 2, "cache": "off", "cost_usd": 7.5e-7})
    );
    let gaps = s.gaps_ms();
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0] >= 300.0 && gaps[0] < 1300.0, "{gaps:?}");
}

#[test]
fn gives_up_after_max_retries_and_reports_attempts() {
    let s = upstream().session(json!([err(529, json!({"retry-after": "0"}))]), true);
    let (is_err, v) = call(None, req(&s.base_url, json!({})));
    assert!(is_err);
    assert_eq!(v["kind"], "provider_unavailable");
    assert_eq!(v["attempts"], 3);
    assert_eq!(v["status"], 529);
    assert!(v["message"].as_str().unwrap().contains("after 3 attempts"), "{v}");
    assert_eq!(s.requests().len(), 3);
}

#[test]
fn max_retries_zero_turns_retrying_off() {
    let s = upstream().session(json!([err(503, json!({}))]), true);
    let (_, v) = call(None, req(&s.base_url, json!({"max_retries": 0})));
    assert_eq!((v["kind"].as_str(), v["attempts"].as_u64()), (Some("provider_unavailable"), Some(1)));
    assert_eq!(s.requests().len(), 1);
}

#[test]
fn never_retries_other_client_errors() {
    let s = upstream().session(json!([err(400, json!({}))]), true);
    let (_, v) = call(None, req(&s.base_url, json!({})));
    assert_eq!(v["kind"], "invalid_request");
    assert_eq!(s.requests().len(), 1);
}

#[test]
fn backs_off_without_a_hint() {
    let s = upstream().session(json!([err(500, json!({})), {"status": 200, "json": openai_ok("ok")}]), false);
    let (is_err, _) = call(None, req(&s.base_url, json!({})));
    assert!(!is_err);
    let gap = s.gaps_ms()[0];
    assert!((375.0..1500.0).contains(&gap), "the first backoff is 0.375-0.5 s: {gap}");
}

#[test]
fn a_wait_past_the_deadline_is_not_started() {
    let s = upstream().session(json!([err(429, json!({"retry-after": "5"}))]), true);
    let started = std::time::Instant::now();
    let (_, v) = call(None, req(&s.base_url, json!({"timeout": 1})));
    assert!(started.elapsed() < std::time::Duration::from_secs(4), "did not sleep past the deadline");
    assert_eq!(v["kind"], "rate_limited");
    assert_eq!(v["retry_after"], 5.0);
    assert!(v["message"].as_str().unwrap().contains("deadline"), "{v}");
    assert_eq!(s.requests().len(), 1);
}

#[test]
fn retry_after_as_an_http_date() {
    let when = httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(2));
    let s = upstream()
        .session(json!([err(503, json!({"retry-after": when})), {"status": 200, "json": openai_ok("ok")}]), false);
    let (is_err, _) = call(None, req(&s.base_url, json!({})));
    assert!(!is_err);
    let gap = s.gaps_ms()[0];
    // HTTP dates have one-second resolution: the wait is between 1 and 2 seconds.
    assert!((900.0..3000.0).contains(&gap), "{gap}");
}

#[test]
fn falls_back_across_providers() {
    let up = upstream();
    let openai = up.session(json!([err(429, json!({"retry-after": "0"}))]), true);
    let anthropic = up.session(json!([{"status": 529, "json": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}}]), true);
    let cohere = up.session(
        json!([{"status": 200, "json": {"id": "c1", "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "from cohere"}]},
        "usage": {"tokens": {"input_tokens": 3, "output_tokens": 2}}}}]),
        false,
    );
    std::env::set_var("ANTHROPIC_API_KEY", "sk-test-a");
    std::env::set_var("ANTHROPIC_BASE_URL", &anthropic.base_url);
    std::env::set_var("CO_API_KEY", "sk-test-c");
    std::env::set_var("CO_API_URL", &cohere.base_url);
    let (is_err, v) = call(
        None,
        json!({"model": "openai/gpt-4o-mini", "prompt": "hi", "api_key": "sk-test-o",
        "base_url": openai.base_url, "max_retries": 1,
        "fallbacks": ["anthropic/claude-sonnet-4-5", "cohere/command-r-plus"]}),
    );
    assert!(!is_err, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "from cohere");
    assert_eq!(v["liter_llm"]["model"], "cohere/command-r-plus");
    assert_eq!(openai.requests().len(), 2);
    assert_eq!(anthropic.requests().len(), 2);
    assert_eq!(cohere.requests().len(), 1);
}

#[test]
fn an_error_after_the_last_fallback_lists_every_model() {
    let up = upstream();
    let a = up.session(json!([err(503, json!({}))]), true);
    let (is_err, v) = call(
        None,
        json!({"model": "openai/gpt-a", "prompt": "hi", "api_key": "sk-test-o", "base_url": a.base_url,
        "max_retries": 0, "fallbacks": ["openai/gpt-b"]}),
    );
    assert!(is_err);
    assert_eq!(
        v["tried"],
        json!([
        {"provider": "openai", "model": "openai/gpt-a", "kind": "provider_unavailable", "status": 503, "attempts": 1},
        {"provider": "openai", "model": "openai/gpt-b", "kind": "provider_unavailable", "status": 503, "attempts": 1}])
    );
    assert_eq!(v["attempts"], 2);
    assert!(v["message"].as_str().unwrap().contains("every model failed"), "{v}");
}

#[test]
fn a_bad_request_stops_the_chain() {
    let a = upstream().session(json!([err(400, json!({}))]), true);
    let (_, v) = call(
        None,
        json!({"model": "openai/gpt-a", "prompt": "hi", "api_key": "sk-test-o", "base_url": a.base_url,
        "fallbacks": ["openai/gpt-b"]}),
    );
    assert_eq!(v["kind"], "invalid_request");
    assert!(v.get("tried").is_none());
    assert_eq!(a.requests().len(), 1);
}
