//! The few fields of a client's request the gateway decides on (`model`, `stream`,
//! `stream_options.include_usage`, the refused call options), read in one pass that builds no
//! tree of the request: the core parses the body itself, so the gateway hands it the client's
//! bytes as they came, or with the one edit an endpoint needs.

use std::borrow::Cow;
use std::fmt;

use liter_llm_core::request::CALL_OPTION_FIELDS;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;
use serde_json::Value;

/// What the gateway reads of a request body.
#[derive(Debug, Default)]
pub struct Scan<'a> {
    /// `model`: `None` when absent, `Some(None)` when it is not a string.
    pub model: Option<Option<Cow<'a, str>>>,
    /// `stream` is `true`.
    pub stream: bool,
    /// `stream_options` is present (any value).
    pub stream_options: bool,
    /// `stream_options.include_usage` is `true`.
    pub include_usage: bool,
    /// Bit `i` set: `CALL_OPTION_FIELDS[i]` is present.
    call_options: u64,
}

impl<'a> Scan<'a> {
    /// Reads `body`: a JSON object, else the message of a 400.
    pub fn of(body: &'a [u8]) -> Result<Scan<'a>, String> {
        serde_json::from_slice::<Scan<'a>>(body).map_err(|e| match e.classify() {
            // Only the top level is typed: everything below it is read as any value.
            Category::Data => "the request body must be a JSON object".to_owned(),
            _ => format!("the request body is not valid JSON: {e}"),
        })
    }

    /// The first of the core's call options (in `CALL_OPTION_FIELDS` order) the body holds.
    pub fn call_option(&self) -> Option<&'static str> {
        (self.call_options != 0).then(|| CALL_OPTION_FIELDS[self.call_options.trailing_zeros() as usize])
    }
}

impl<'de> Deserialize<'de> for Scan<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scan<'de>, D::Error> {
        struct ScanVisitor;
        impl<'de> Visitor<'de> for ScanVisitor {
            type Value = Scan<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Scan<'de>, M::Error> {
                let mut scan = Scan::default();
                // A repeated key: the last one counts, as in the core's parse.
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    match key.as_ref() {
                        "model" => {
                            scan.model = Some(match map.next_value::<Any<'de>>()? {
                                Any::Str(model) => Some(model),
                                _ => None,
                            });
                        }
                        "stream" => scan.stream = matches!(map.next_value::<Any<'de>>()?, Any::True),
                        "stream_options" => {
                            let options: Value = map.next_value()?;
                            scan.stream_options = true;
                            scan.include_usage = options.get("include_usage") == Some(&Value::Bool(true));
                        }
                        other => {
                            if let Some(i) = CALL_OPTION_FIELDS.iter().position(|f| *f == other) {
                                scan.call_options |= 1 << i;
                            }
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(scan)
            }
        }
        deserializer.deserialize_map(ScanVisitor)
    }
}

/// A string, borrowed from the body when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text<'de>, D::Error> {
        match Any::deserialize(deserializer)? {
            Any::Str(s) => Ok(Text(s)),
            _ => Err(de::Error::custom("expected a string")),
        }
    }
}

/// Any JSON value, as far as the scan tells them apart.
enum Any<'a> {
    Str(Cow<'a, str>),
    True,
    Other,
}

impl<'de> Deserialize<'de> for Any<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Any<'de>, D::Error> {
        deserializer.deserialize_any(AnyVisitor)
    }
}

struct AnyVisitor;

impl<'de> Visitor<'de> for AnyVisitor {
    type Value = Any<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Any<'de>, E> {
        Ok(Any::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Any<'de>, E> {
        Ok(Any::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Any<'de>, E> {
        Ok(Any::Str(Cow::Owned(v)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Any<'de>, E> {
        Ok(if v { Any::True } else { Any::Other })
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Any<'de>, E> {
        Ok(Any::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Any<'de>, E> {
        Ok(Any::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Any<'de>, E> {
        Ok(Any::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Any<'de>, E> {
        Ok(Any::Other)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Any<'de>, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Any::Other)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Any<'de>, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Any::Other)
    }
}

/// `body` (a JSON object with at least one member) with `"operation": "embedding"` as its first
/// member.
pub fn with_embedding_operation(body: &[u8]) -> Vec<u8> {
    const MEMBER: &[u8] = br#""operation":"embedding","#;
    let open = body.iter().position(|&b| b == b'{').map_or(0, |i| i + 1);
    let mut out = Vec::with_capacity(body.len() + MEMBER.len());
    out.extend_from_slice(&body[..open]);
    out.extend_from_slice(MEMBER);
    out.extend_from_slice(&body[open..]);
    out
}

/// `body` (a JSON object) without `stream_options`.
pub fn without_stream_options(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Map<String, Value>>(body) {
        Ok(mut map) => {
            map.remove("stream_options");
            serde_json::to_vec(&map).unwrap_or_default()
        }
        Err(_) => body.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_the_gateway_decides_on() {
        let s = Scan::of(
            br#" {"messages": [{"role": "user", "content": "x"}], "model": "openai/gpt-4o", "stream": true,
                "stream_options": {"include_usage": true}, "n": {"deep": [1, 2.5, null, false]}} "#,
        )
        .unwrap();
        assert_eq!(s.model, Some(Some(Cow::Borrowed("openai/gpt-4o"))));
        assert!(s.stream && s.stream_options && s.include_usage);
        assert_eq!(s.call_option(), None);

        let s = Scan::of(br#"{"model": 4, "stream": "true", "stream_options": {"include_usage": 1}}"#).unwrap();
        assert_eq!(s.model, Some(None));
        assert!(!s.stream && s.stream_options && !s.include_usage);

        // Escapes are decoded; the last of repeated keys counts.
        let s = Scan::of(br#"{"model": "a", "model": "open\u0061i/x", "stream": true, "stream": false}"#).unwrap();
        assert_eq!(s.model.unwrap().unwrap(), "openai/x");
        assert!(!s.stream);
        assert!(Scan::of(b"{}").unwrap().model.is_none());
    }

    #[test]
    fn names_the_first_call_option_and_refuses_bad_json() {
        let s = Scan::of(br#"{"model": "m", "trace_context": {}, "api_key": "k", "cache": false}"#).unwrap();
        assert_eq!(s.call_option(), Some("api_key"));
        for (body, message) in [
            (&b"{\"model\": "[..], "not valid JSON: EOF"),
            (b"[1]", "must be a JSON object"),
            (b"\"x\"", "must be a JSON object"),
            (br#"{"model": "m"} x"#, "not valid JSON: trailing characters"),
            (br#"{"model": "m", "x": [1,}"#, "not valid JSON"),
            (b"", "not valid JSON"),
        ] {
            let e = Scan::of(body).unwrap_err();
            assert!(e.contains(message), "{e}");
        }
    }

    #[test]
    fn edits_keep_the_rest_of_the_body() {
        let body = br#"  {"model": "openai/e", "input": "x"}"#;
        let edited: Value = serde_json::from_slice(&with_embedding_operation(body)).unwrap();
        assert_eq!(edited, serde_json::json!({"operation": "embedding", "model": "openai/e", "input": "x"}));
        let body = br#"{"model": "m", "stream": true, "stream_options": {"include_usage": false}}"#;
        let edited: Value = serde_json::from_slice(&without_stream_options(body)).unwrap();
        assert_eq!(edited, serde_json::json!({"model": "m", "stream": true}));
    }
}
