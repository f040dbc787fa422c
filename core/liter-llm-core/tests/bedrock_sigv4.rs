//! The Bedrock SigV4 signer against an independent implementation: botocore's `SigV4Auth`
//! (`tests/bedrock/sigv4_botocore.py`, run with the project venv's Python, or
//! `LITER_LLM_PYTHON`) must add the same headers for the same request, credentials and time.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use liter_llm_core::providers::bedrock::sigv4::{sign_request, AwsCredentials};
use liter_llm_core::secret::Secret;
use serde_json::{json, Map, Value};

fn python() -> PathBuf {
    match std::env::var_os("LITER_LLM_PYTHON") {
        Some(p) => p.into(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"),
    }
}

struct Case {
    url: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
    session_token: Option<&'static str>,
    region: &'static str,
    time: u64,
}

#[test]
fn the_signature_equals_botocores() {
    let cases = [
        Case {
            url: "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse",
            headers: vec![("content-type", "application/json"), ("accept", "application/json")],
            body: r#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":100}}"#,
            session_token: None,
            region: "us-east-1",
            time: 1_764_590_400,
        },
        Case {
            url: "https://bedrock-runtime.eu-west-3.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aeu-west-3%3A123456789012%3Ainference-profile%2Feu.amazon.nova-pro-v1%3A0/converse-stream",
            headers: vec![("content-type", "application/json")],
            body: r#"{"messages":[{"role":"user","content":[{"text":"Ünïcödé ✓"}]}]}"#,
            session_token: Some("IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ=="),
            region: "eu-west-3",
            time: 1_440_938_160,
        },
        Case {
            url: "http://127.0.0.1:8123/model/amazon.titan-embed-text-v2%3A0/invoke",
            headers: vec![("content-type", "application/json"), ("x-amzn-bedrock-trace", "ENABLED")],
            body: r#"{"inputText":"hello","dimensions":256,"normalize":true}"#,
            session_token: Some("token-2"),
            region: "ap-northeast-1",
            time: 1_700_000_000,
        },
    ];
    let credentials = |c: &Case| AwsCredentials {
        access_key_id: Secret::new("AKIDEXAMPLE".into()),
        secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
        session_token: c.session_token.map(|t| Secret::new(t.into())),
    };
    let input: Vec<Value> = cases
        .iter()
        .map(|c| {
            let headers: Map<String, Value> =
                c.headers.iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect();
            json!({"method": "POST", "url": c.url, "headers": headers, "body": c.body,
                   "access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                   "session_token": c.session_token, "region": c.region, "time": c.time})
        })
        .collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bedrock/sigv4_botocore.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("could not run {} (run `make venv`, or set LITER_LLM_PYTHON): {e}", python().display())
        });
    child.stdin.take().unwrap().write_all(Value::from(input).to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "botocore failed: {}", String::from_utf8_lossy(&out.stderr));
    let expected: Vec<Map<String, Value>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(expected.len(), cases.len());
    for (case, want) in cases.iter().zip(&expected) {
        let signed = sign_request(
            "POST",
            case.url,
            &case.headers,
            case.body.as_bytes(),
            &credentials(case),
            case.region,
            UNIX_EPOCH + Duration::from_secs(case.time),
        )
        .unwrap();
        let got: Map<String, Value> =
            signed.iter().map(|h| (h.name.to_owned(), Value::from(h.value.clone()))).collect();
        assert_eq!(&got, want, "{}", case.url);
        assert!(want["authorization"].as_str().unwrap().starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
        assert_eq!(want.contains_key("x-amz-security-token"), case.session_token.is_some());
    }
}
