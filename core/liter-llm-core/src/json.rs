//! JSON reading shared by the call path.

use serde::Deserialize;

/// `serde_json::from_slice`, reading valid UTF-8 as a `str`: serde_json then checks the text's
/// encoding once, in one pass over the whole input, instead of once per string it reads (which
/// is about a twentieth of a call's instructions for an answer of 1 KB). Input that is not UTF-8
/// goes through `from_slice` itself, so results and errors are exactly those of `from_slice`.
pub(crate) fn from_bytes<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn reads_what_from_slice_reads_and_fails_as_it_fails() {
        let inputs: [&[u8]; 9] = [
            br#"{"a": "b\u00e9", "c": [1, 2.5, null, true]}"#,
            "{\"é\": \"ü\"}".as_bytes(),
            b"{\"a\": \"\xff\xfe\"}",
            b"{\"a\": 1,}",
            b"[1, 2",
            b"",
            b"\xff",
            b"  {\"a\": 1}  ",
            b"{\"a\": \"x\"} trailing",
        ];
        for input in inputs {
            let ours = from_bytes::<Value>(input).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<Value>(input).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "for {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn borrows_from_the_input() {
        #[derive(Deserialize)]
        struct Borrowed<'a> {
            text: &'a str,
        }
        let input = br#"{"text": "plain"}"#;
        let parsed: Borrowed = from_bytes(input).unwrap();
        assert_eq!(parsed.text, "plain");
        assert!(input.as_ptr_range().contains(&parsed.text.as_ptr()));
    }
}
