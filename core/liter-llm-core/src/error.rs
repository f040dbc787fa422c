//! The one error type of liter-llm, its stable `kind`, and the mapping from HTTP statuses.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;

/// The stable category of an error. Bindings map each kind to one native error class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    RateLimited,
    Timeout,
    Connection,
    ProviderUnavailable,
    BadResponse,
    Unsupported,
    Cancelled,
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order `docs/errors.md` lists them. Bindings and the C header are
    /// checked against this list.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::RateLimited,
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::ProviderUnavailable,
        ErrorKind::BadResponse,
        ErrorKind::Unsupported,
        ErrorKind::Cancelled,
        ErrorKind::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Authentication => "authentication",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::ProviderUnavailable => "provider_unavailable",
            ErrorKind::BadResponse => "bad_response",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind an upstream HTTP error status maps to (see `docs/errors.md`).
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Authentication,
            402 | 403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::ProviderUnavailable,
            _ => ErrorKind::InvalidRequest,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One model of a call that failed, for the final error's `tried` list.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tried {
    pub provider: String,
    pub model: String,
    pub kind: ErrorKind,
    pub status: Option<u16>,
    pub attempts: u32,
}

/// The provider's own description of an error, kept as it came.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProviderError {
    #[serde(rename = "type")]
    pub error_type: Option<String>,
    pub message: Option<String>,
    pub code: Option<Value>,
}

/// An error from any layer. Its message never contains an API key: keys are only ever held in
/// [`crate::Secret`] and no code path formats one into text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub status: Option<u16>,
    pub provider: Option<String>,
    pub retry_after: Option<f64>,
    /// Boxed: errors travel by value through every layer, and this part is rarely present.
    pub provider_error: Option<Box<ProviderError>>,
    /// HTTP attempts the call made before failing (0 when it failed before sending).
    pub attempts: u32,
    /// Every model a call with fallbacks tried, in order; absent without fallbacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tried: Option<Vec<Tried>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            status: None,
            provider: None,
            retry_after: None,
            provider_error: None,
            attempts: 0,
            tried: None,
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidRequest, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unsupported, message)
    }

    pub fn bad_response(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::BadResponse, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn with_provider(mut self, provider: &str) -> Self {
        if self.provider.is_none() {
            self.provider = Some(provider.to_owned());
        }
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// `{"error": {...}}`, the shape returned across the C ABI.
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: &'a Error,
        }
        // Serialising plain strings, numbers and options cannot fail.
        serde_json::to_vec(&Envelope { error: self }).unwrap_or_else(|_| {
            br#"{"error":{"kind":"internal","message":"failed to serialise an error","status":null,"provider":null,"retry_after":null,"provider_error":null,"attempts":0}}"#.to_vec()
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Longest wait honoured from a provider's retry hint; a larger value is clamped to it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// "a string", "an array", ... for messages about a JSON value of the wrong type.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads the wait a provider asks for: `retry-after-ms` (milliseconds), else `retry-after` as
/// seconds or as an HTTP date. Returns seconds.
pub fn parse_retry_after(headers: &reqwest::header::HeaderMap, now: SystemTime) -> Option<f64> {
    // Looked up by `HeaderName` constants: a `&str` name is parsed on every lookup, through a
    // scratch buffer that valgrind reports as uninitialised.
    static RETRY_AFTER_MS: reqwest::header::HeaderName = reqwest::header::HeaderName::from_static("retry-after-ms");
    let text = |name: &reqwest::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let cap = MAX_RETRY_AFTER.as_secs_f64();
    if let Some(ms) = text(&RETRY_AFTER_MS).and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some((ms / 1000.0).min(cap));
        }
    }
    let value = text(&reqwest::header::RETRY_AFTER)?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| secs.min(cap));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    let wait = when.duration_since(now).unwrap_or(Duration::ZERO);
    Some(wait.as_secs_f64().min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn status_mapping_follows_the_documented_table() {
        let table = [
            (400, ErrorKind::InvalidRequest),
            (401, ErrorKind::Authentication),
            (402, ErrorKind::PermissionDenied),
            (403, ErrorKind::PermissionDenied),
            (404, ErrorKind::NotFound),
            (408, ErrorKind::Timeout),
            (409, ErrorKind::InvalidRequest),
            (413, ErrorKind::InvalidRequest),
            (422, ErrorKind::InvalidRequest),
            (429, ErrorKind::RateLimited),
            (498, ErrorKind::InvalidRequest),
            (500, ErrorKind::ProviderUnavailable),
            (503, ErrorKind::ProviderUnavailable),
            (529, ErrorKind::ProviderUnavailable),
        ];
        for (status, kind) in table {
            assert_eq!(ErrorKind::from_status(status), kind, "status {status}");
        }
    }

    #[test]
    fn retry_after_prefers_milliseconds() {
        let h = headers(&[("retry-after-ms", "1500"), ("retry-after", "20")]);
        assert_eq!(parse_retry_after(&h, SystemTime::now()), Some(1.5));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(&headers(&[("retry-after", "7")]), now), Some(7.0));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&headers(&[("retry-after", &later)]), now), Some(30.0));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&headers(&[("retry-after", &earlier)]), now), Some(0.0));
        assert_eq!(parse_retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(parse_retry_after(&headers(&[("retry-after", "-3")]), now), None);
        assert_eq!(parse_retry_after(&HeaderMap::new(), now), None);
        let huge = parse_retry_after(&headers(&[("retry-after", "1e300")]), now).unwrap();
        assert_eq!(huge, MAX_RETRY_AFTER.as_secs_f64());
    }

    /// docs/errors.md lists exactly the kinds, in order.
    #[test]
    fn the_documented_kinds_are_the_kinds() {
        let doc = include_str!("../../../docs/errors.md");
        let table = &doc[doc.find("| kind | when |").expect("the kinds table")..];
        let documented: Vec<&str> = table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with("| `"))
            .map(|l| l.trim_start_matches("| `").split('`').next().unwrap())
            .collect();
        let kinds: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(documented, kinds);
    }

    #[test]
    fn error_json_has_every_documented_field() {
        let e = Error::new(ErrorKind::RateLimited, "slow down").with_provider("openai").with_status(429);
        let v: Value = serde_json::from_slice(&e.to_json()).unwrap();
        let obj = v["error"].as_object().unwrap();
        for key in ["kind", "message", "status", "provider", "retry_after", "provider_error", "attempts"] {
            assert!(obj.contains_key(key), "missing {key}");
        }
        assert_eq!(v["error"]["kind"], "rate_limited");
        assert_eq!(v["error"]["status"], 429);
    }
}
