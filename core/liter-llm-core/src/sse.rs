//! An incremental parser for `text/event-stream` bodies (server-sent events), following the
//! parsing rules of the WHATWG HTML standard's EventSource section ("Parsing an event stream" and
//! "Interpreting an event stream").
//!
//! Bytes are fed as they arrive, split anywhere: inside a multi-byte UTF-8 character, inside the
//! leading byte-order mark, or between the CR and LF of a CRLF line end. Only complete lines are
//! decoded, each exactly once, and the scan for line ends only looks at new bytes, so parsing is
//! linear in the size of the stream. Lines and events are limited to [`MAX_EVENT_BYTES`] so a
//! hostile or broken upstream cannot make the parser buffer without bound.
//!
//! Differences from a browser's `EventSource`, chosen for an API client:
//! - Invalid UTF-8 is an error rather than being replaced with U+FFFD, since a corrupted JSON
//!   payload is better reported than silently altered. Every line is checked, comments included.
//! - `id` and `retry` are parsed as fields but ignored: there is no reconnection here.

// Every fallible function here returns the crate's one `Error`, which is large by design (as
// elsewhere in the crate); errors are rare and end the stream, so boxing would gain nothing.
#![allow(clippy::result_large_err)]

use crate::error::Error;

/// The largest line, and the largest event (data plus event type), the parser accepts: 16 MiB.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Above this capacity the line buffer is given back after a line, so one huge line does not
/// keep its memory for the rest of the stream.
const RETAINED_LINE_CAPACITY: usize = 1024 * 1024;

/// The UTF-8 byte-order mark, stripped once at the start of the stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// One dispatched event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` field; `None` when absent or empty (the spec's default type, `message`).
    pub event: Option<String>,
    /// The `data:` lines of the event joined with `\n` (no trailing newline).
    pub data: String,
}

/// Incremental server-sent-events parser. See the module documentation.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of the current line that arrived without its line end (never contains CR or LF).
    line_buf: Vec<u8>,
    /// The last chunk ended with a CR: an LF at the start of the next chunk belongs to it.
    pending_lf: bool,
    /// Bytes of the leading BOM matched so far (only meaningful until `bom_done`).
    bom_len: usize,
    /// The start of the stream is past: no BOM is stripped any more.
    bom_done: bool,
    /// The data buffer of the event being built: its data lines joined with `\n`.
    data: String,
    /// At least one `data` line has been seen (distinguishes `data:` from no data at all).
    has_data: bool,
    /// The event type buffer; `None` when empty.
    event: Option<String>,
    /// A field line has been seen since the last blank line (an event is under way).
    in_event: bool,
    /// The error that ended the stream; every later `feed` returns it again.
    failed: Option<Error>,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new()
    }
}

impl SseParser {
    pub fn new() -> Self {
        SseParser {
            line_buf: Vec::new(),
            pending_lf: false,
            bom_len: 0,
            bom_done: false,
            data: String::new(),
            has_data: false,
            event: None,
            in_event: false,
            failed: None,
        }
    }

    /// Feeds bytes as they arrive (split at any byte, including inside a multi-byte UTF-8
    /// character or between `\r` and `\n`); appends the events completed by them to `events`,
    /// in order.
    ///
    /// Fails with a `bad_response` error when a line is not valid UTF-8 or a line or event is
    /// larger than [`MAX_EVENT_BYTES`]. Events completed before the bad line are still appended,
    /// so a caller delivers them before reporting the error, and the events seen never depend on
    /// how the stream was split. The error is final: the parser drops what it buffered, and
    /// every later call returns the same error (until [`SseParser::finish`] resets the parser).
    pub fn feed(&mut self, bytes: &[u8], events: &mut Vec<SseEvent>) -> Result<(), Error> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        self.feed_inner(bytes, events).inspect_err(|error| {
            *self = SseParser::new();
            self.failed = Some(error.clone());
        })
    }

    /// Ends the stream and resets the parser for reuse. Per the spec an event not terminated by
    /// a blank line is discarded; returns `true` when such an unfinished event was pending, so
    /// callers can report a truncated stream.
    ///
    /// Pending means: a field line (`data`, `event`, `id`, `retry` or an unknown field) was seen
    /// since the last blank line, or the stream ends inside a line that is not a comment. A
    /// stream ending after a comment, or with nothing since the last blank line, is complete.
    /// Returns `false` after a `feed` error (that error already reported the stream as bad).
    pub fn finish(&mut self) -> bool {
        let partial_bom = !self.bom_done && self.bom_len > 0;
        let partial_line = self.line_buf.first().is_some_and(|&b| b != b':');
        let truncated = self.failed.is_none() && (self.in_event || partial_line || partial_bom);
        *self = SseParser::new();
        truncated
    }

    fn feed_inner(&mut self, bytes: &[u8], events: &mut Vec<SseEvent>) -> Result<(), Error> {
        let mut input = bytes;

        if !self.bom_done {
            while let Some((&byte, rest)) = input.split_first() {
                if byte != BOM[self.bom_len] {
                    // Not a BOM after all: the bytes matched so far start the first line.
                    self.line_buf.extend_from_slice(&BOM[..self.bom_len]);
                    self.bom_done = true;
                    break;
                }
                input = rest;
                self.bom_len += 1;
                if self.bom_len == BOM.len() {
                    self.bom_done = true;
                    break;
                }
            }
        }

        if self.pending_lf {
            if let Some((&first, rest)) = input.split_first() {
                self.pending_lf = false;
                if first == b'\n' {
                    input = rest;
                }
            }
        }

        // Only the new bytes are scanned; a partial line's bytes are in `line_buf` and never
        // contain a line end, so nothing is rescanned.
        while let Some(end) = input.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line = &input[..end];
            if self.line_buf.is_empty() {
                self.process_line(line, events)?;
            } else {
                check_line_len(self.line_buf.len() + line.len())?;
                self.line_buf.extend_from_slice(line);
                let buf = std::mem::take(&mut self.line_buf);
                let result = self.process_line(&buf, events);
                self.line_buf = buf;
                self.line_buf.clear();
                if self.line_buf.capacity() > RETAINED_LINE_CAPACITY {
                    self.line_buf = Vec::new();
                }
                result?;
            }
            let was_cr = input[end] == b'\r';
            input = &input[end + 1..];
            if was_cr {
                match input.first() {
                    Some(b'\n') => input = &input[1..],
                    Some(_) => {}
                    None => self.pending_lf = true,
                }
            }
        }

        if !input.is_empty() {
            check_line_len(self.line_buf.len() + input.len())?;
            self.line_buf.extend_from_slice(input);
        }
        Ok(())
    }

    /// Interprets one complete line (without its line end).
    fn process_line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) -> Result<(), Error> {
        check_line_len(line.len())?;
        if line.is_empty() {
            self.dispatch(events);
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|e| {
            Error::bad_response(format!(
                "the event stream is not valid UTF-8 (invalid byte at offset {} of a line)",
                e.valid_up_to()
            ))
        })?;
        if line.starts_with(':') {
            return Ok(()); // A comment, typically a keep-alive.
        }
        self.in_event = true;
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                let separator = usize::from(self.has_data);
                let event_len = self.event.as_ref().map_or(0, String::len);
                check_event_len(event_len + self.data.len() + separator + value.len())?;
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => {
                check_event_len(self.data.len() + value.len())?;
                self.event = (!value.is_empty()).then(|| value.to_owned());
            }
            // `id` and `retry` only matter for reconnection, which is not done here; other
            // fields are ignored per the spec.
            _ => {}
        }
        Ok(())
    }

    /// A blank line: dispatches the event if it has data, and starts a new one either way.
    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        self.in_event = false;
        let event = self.event.take();
        if self.has_data {
            self.has_data = false;
            events.push(SseEvent { event, data: std::mem::take(&mut self.data) });
        }
    }
}

fn check_line_len(len: usize) -> Result<(), Error> {
    if len > MAX_EVENT_BYTES {
        return Err(Error::bad_response("the event stream has a line larger than 16 MiB"));
    }
    Ok(())
}

fn check_event_len(len: usize) -> Result<(), Error> {
    if len > MAX_EVENT_BYTES {
        return Err(Error::bad_response("the event stream has an event larger than 16 MiB"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    trait FeedVec {
        /// `feed` into a new vector: the events, or the error alone.
        fn feed_vec(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, Error>;
    }

    impl FeedVec for SseParser {
        fn feed_vec(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, Error> {
            let mut events = Vec::new();
            self.feed(bytes, &mut events).map(|()| events)
        }
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: event.map(str::to_owned), data: data.to_owned() }
    }

    /// Feeds the chunks in order, then finishes; returns the events and the truncation flag.
    fn parse_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<SseEvent>, bool) {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(parser.feed_vec(chunk).expect("valid stream"));
        }
        (events, parser.finish())
    }

    fn parse(stream: &[u8]) -> (Vec<SseEvent>, bool) {
        parse_chunks([stream])
    }

    fn feed_err(stream: &[u8]) -> Error {
        SseParser::new().feed_vec(stream).expect_err("the stream should be rejected")
    }

    #[test]
    fn openai_style_stream() {
        let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n\
                       data: {\"choices\":[{\"delta\":{}}]}\n\n\
                       data: [DONE]\n\n";
        let (events, truncated) = parse(stream);
        assert_eq!(
            events,
            vec![
                ev(None, r#"{"choices":[{"delta":{"content":"Hi"}}]}"#),
                ev(None, r#"{"choices":[{"delta":{}}]}"#),
                ev(None, "[DONE]"),
            ]
        );
        assert!(!truncated);
    }

    #[test]
    fn anthropic_style_stream() {
        let stream = b"event: message_start\n\
                       data: {\"type\":\"message_start\"}\n\n\
                       event: ping\n\
                       data: {\"type\": \"ping\"}\n\n\
                       event: content_block_delta\n\
                       data: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hi\"}}\n\n\
                       event: message_stop\n\
                       data: {\"type\":\"message_stop\"}\n\n";
        let (events, truncated) = parse(stream);
        assert_eq!(
            events,
            vec![
                ev(Some("message_start"), r#"{"type":"message_start"}"#),
                ev(Some("ping"), r#"{"type": "ping"}"#),
                ev(Some("content_block_delta"), r#"{"type":"content_block_delta","delta":{"text":"Hi"}}"#),
                ev(Some("message_stop"), r#"{"type":"message_stop"}"#),
            ]
        );
        assert!(!truncated);
    }

    #[test]
    fn crlf_and_cr_line_ends() {
        let expected = vec![ev(Some("a"), "1\n2"), ev(None, "3")];
        for stream in [
            &b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\ndata: 3\r\n\r\n"[..],
            b"event: a\rdata: 1\rdata: 2\r\rdata: 3\r\r",
            b"event: a\r\ndata: 1\rdata: 2\n\r\ndata: 3\n\r",
        ] {
            assert_eq!(parse(stream), (expected.clone(), false), "{stream:?}");
        }
        // LF CR is two line ends, so it is a blank line.
        assert_eq!(parse(b"data: x\n\r"), (vec![ev(None, "x")], false));
    }

    #[test]
    fn comments_and_keep_alives_are_ignored() {
        let stream = b": keep-alive\n\n:\n\ndata: x\n: in the middle\ndata: y\n\n: ping\n";
        assert_eq!(parse(stream), (vec![ev(None, "x\ny")], false));
        // A stream cut inside a trailing comment lost no event.
        assert_eq!(parse(b"data: x\n\n: pi"), (vec![ev(None, "x")], false));
    }

    #[test]
    fn multi_line_and_empty_data() {
        let (events, _) = parse(b"data: a\ndata:\ndata:  b\ndata:c\ndata\n\n");
        assert_eq!(events, vec![ev(None, "a\n\n b\nc\n")]);
        // Only one space after the colon is removed; the value keeps other colons.
        assert_eq!(parse(b"data:  {\"a\": 1}\n\n").0, vec![ev(None, " {\"a\": 1}")]);
        // `data:` alone dispatches an event with empty data.
        assert_eq!(parse(b"data:\n\ndata\n\n").0, vec![ev(None, ""), ev(None, "")]);
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        // The event type of an undispatched event does not leak into the next one.
        let (events, truncated) = parse(b"event: a\n\nevent: b\nid: 1\n\ndata: x\n\n");
        assert_eq!(events, vec![ev(None, "x")]);
        assert!(!truncated);
        // The last `event` wins; an empty one resets it to the default.
        assert_eq!(parse(b"event: a\nevent: b\ndata: x\n\n").0, vec![ev(Some("b"), "x")]);
        assert_eq!(parse(b"event: a\nevent:\ndata: x\n\n").0, vec![ev(None, "x")]);
    }

    #[test]
    fn unknown_id_and_retry_fields_are_ignored() {
        let stream = b"id: 7\nretry: 1000\nfoo: bar\nbaz\nDATA: no\ndata : no\n data: no\ndata: yes\n\n";
        assert_eq!(parse(stream), (vec![ev(None, "yes")], false));
    }

    #[test]
    fn leading_bom_is_stripped_once() {
        assert_eq!(parse("\u{FEFF}data: x\n\n".as_bytes()).0, vec![ev(None, "x")]);
        // A BOM split across chunks.
        let (events, _) = parse_chunks([&b"\xEF"[..], b"\xBB", b"\xBFdata: x\n\n"]);
        assert_eq!(events, vec![ev(None, "x")]);
        // A second BOM is part of the field name, so the line is an unknown field.
        assert_eq!(parse("\u{FEFF}\u{FEFF}data: x\n\n".as_bytes()).0, vec![]);
        // A BOM later in the stream is ordinary text.
        let (events, _) = parse("data: x\n\n\u{FEFF}data: y\n\ndata: \u{FEFF}z\n\n".as_bytes());
        assert_eq!(events, vec![ev(None, "x"), ev(None, "\u{FEFF}z")]);
        // A stream starting with the first bytes of a BOM that turn out to be a character.
        let (events, _) = parse_chunks([&b"\xEF\xBB"[..], b"\x80: comment\ndata: x\n\n"]);
        assert_eq!(events, vec![ev(None, "x")]); // U+FEC0 then ": comment" is an unknown field.
    }

    /// A stream with every feature, multi-byte characters, and all three line ends.
    const MIXED: &str = "\u{FEFF}: hello\r\n\
        event: message_start\r\n\
        data: {\"text\":\"héllo ✓ 😀\"}\r\n\r\n\
        data: line one\r\
        data: line two ✓\r\r\
        id: 7\nretry: 10\nfoo\n\
        data: 😀😀\n\n\
        : ping\n\n\
        event:\ndata\n\n\
        event: é✓\rdata: ü\r\n\r\
        data: [DONE]\n\n";

    fn mixed_expected() -> Vec<SseEvent> {
        vec![
            ev(Some("message_start"), "{\"text\":\"héllo ✓ 😀\"}"),
            ev(None, "line one\nline two ✓"),
            ev(None, "😀😀"),
            ev(None, ""),
            ev(Some("é✓"), "ü"),
            ev(None, "[DONE]"),
        ]
    }

    #[test]
    fn split_at_every_offset_gives_identical_events() {
        let stream = MIXED.as_bytes();
        let expected = (mixed_expected(), false);
        assert_eq!(parse(stream), expected);
        for i in 0..=stream.len() {
            let (a, b) = stream.split_at(i);
            assert_eq!(parse_chunks([a, b]), expected, "split at {i}");
            for j in i..=stream.len() {
                let chunks = [&stream[..i], &stream[i..j], &stream[j..]];
                assert_eq!(parse_chunks(chunks), expected, "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn byte_by_byte_gives_identical_events() {
        let stream = MIXED.as_bytes();
        assert_eq!(parse_chunks(stream.chunks(1)), (mixed_expected(), false));
        // Empty chunks in between change nothing.
        let with_empty = stream.chunks(1).flat_map(|c| [c, &[][..]]);
        assert_eq!(parse_chunks(with_empty), (mixed_expected(), false));
    }

    #[test]
    fn events_are_returned_by_the_feed_that_completes_them() {
        let mut parser = SseParser::new();
        assert_eq!(parser.feed_vec(b"data: h\xC3").unwrap(), vec![]);
        assert_eq!(parser.feed_vec(b"\xA9llo\n").unwrap(), vec![]);
        assert_eq!(parser.feed_vec(b"\n").unwrap(), vec![ev(None, "héllo")]);
        assert_eq!(parser.feed_vec(b"data: a\n\ndata: b\n\ndata: c").unwrap(), vec![ev(None, "a"), ev(None, "b")]);
        assert_eq!(parser.feed_vec(b"\n\n").unwrap(), vec![ev(None, "c")]);
        assert!(!parser.finish());
    }

    #[test]
    fn cr_and_lf_split_across_feeds_are_one_line_end() {
        // Were the LF a second line end, "a" would be dispatched on its own.
        let (events, _) = parse_chunks([&b"data: a\r"[..], b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(events, vec![ev(None, "a\nb")]);
        // The pending CR survives empty feeds.
        let (events, _) = parse_chunks([&b"data: a\r"[..], b"", b"", b"\ndata: b\r\n\r\n"]);
        assert_eq!(events, vec![ev(None, "a\nb")]);
        // A CR followed by a CR in the next chunk is two line ends.
        let mut parser = SseParser::new();
        assert_eq!(parser.feed_vec(b"data: a\r").unwrap(), vec![]);
        assert_eq!(parser.feed_vec(b"\r").unwrap(), vec![ev(None, "a")]);
        // Only one LF is absorbed by a CR.
        assert_eq!(parser.feed_vec(b"data: b\r").unwrap(), vec![]);
        assert_eq!(parser.feed_vec(b"\n\n").unwrap(), vec![ev(None, "b")]);
    }

    #[test]
    fn finish_reports_truncated_events() {
        let truncated = |s: &[u8]| parse(s).1;
        assert!(!truncated(b""));
        assert!(!truncated(b"data: x\n\n"));
        assert!(!truncated(b"data: x\r\n\r\n"));
        assert!(!truncated(b"data: x\n\n: keep-alive\n"));
        assert!(!truncated(b"data: x\n\n:"));
        assert!(!truncated("\u{FEFF}".as_bytes()));
        // A final line without a line end is not processed, so `[DONE]` is lost here.
        let (events, cut) = parse(b"data: x\n\ndata: [DONE]");
        assert_eq!((events, cut), (vec![ev(None, "x")], true));
        assert!(truncated(b"data: x\n"));
        assert!(truncated(b"data: x\r"));
        assert!(truncated(b"event: a\n"));
        assert!(truncated(b"id: 1\n"));
        assert!(truncated(b"dat"));
        assert!(truncated(b"\xEF\xBB"));

        // finish resets the parser: a fresh stream (with its own BOM) can follow.
        let mut parser = SseParser::new();
        assert_eq!(parser.feed_vec(b"data: lost\n").unwrap(), vec![]);
        assert!(parser.finish());
        assert!(!parser.finish());
        let events = parser.feed_vec("\u{FEFF}data: y\n\n".as_bytes()).unwrap();
        assert_eq!(events, vec![ev(None, "y")]);
        assert!(!parser.finish());
    }

    #[test]
    fn invalid_utf8_is_a_bad_response() {
        for stream in [
            &b"data: \xFF\n\n"[..],
            b"event: \xC3(\ndata: x\n\n",
            b"data: \xE2\x9C\n\n", // a character cut short by the line end
            b": \xFF\n",
            b"\xEF\xBB\n", // the start of a BOM that is not one
        ] {
            let error = feed_err(stream);
            assert_eq!(error.kind, ErrorKind::BadResponse, "{stream:?}");
            assert!(error.message.starts_with("the event stream is not valid UTF-8"), "{}", error.message);
        }
        // Surrogates and overlong encodings are invalid too.
        assert_eq!(feed_err(b"data: \xED\xA0\x80\n").kind, ErrorKind::BadResponse);
        assert_eq!(feed_err(b"data: \xC0\xAF\n").kind, ErrorKind::BadResponse);
    }

    #[test]
    fn events_before_an_error_are_kept() {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        let error = parser.feed(b"data: a\n\nevent: e\ndata: b\n\ndata: \xFF\n\ndata: c\n\n", &mut events).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadResponse);
        assert_eq!(events, vec![ev(None, "a"), ev(Some("e"), "b")]);
        // The same stream split anywhere yields the same events before the same error.
        let stream = b"data: a\n\nevent: e\ndata: b\n\ndata: \xFF\n\ndata: c\n\n";
        for cut in 0..=stream.len() {
            let mut parser = SseParser::new();
            let mut split = Vec::new();
            let first = parser.feed(&stream[..cut], &mut split);
            let second = parser.feed(&stream[cut..], &mut split);
            assert_eq!(first.and(second).unwrap_err(), error, "split at {cut}");
            assert_eq!(split, events, "split at {cut}");
        }
        // An event too large after a complete one.
        let mut long = b"data: ok\n\ndata: ".to_vec();
        long.resize(MAX_EVENT_BYTES + 32, b'x');
        let mut events = Vec::new();
        let error = SseParser::new().feed(&long, &mut events).unwrap_err();
        assert!(error.message.contains("larger than 16 MiB"), "{}", error.message);
        assert_eq!(events, vec![ev(None, "ok")]);
    }

    #[test]
    fn an_error_is_final() {
        let mut parser = SseParser::new();
        let error = parser.feed_vec(b"data: \xFF\n").unwrap_err();
        assert_eq!(parser.feed_vec(b"data: x\n\n").unwrap_err(), error);
        assert!(!parser.finish());
        assert_eq!(parser.feed_vec(b"data: x\n\n").unwrap(), vec![ev(None, "x")]);
    }

    #[test]
    fn size_limits() {
        let mib = 1024 * 1024;

        // A line of exactly the limit is accepted, fed in pieces.
        let mut line = b"data: ".to_vec();
        line.resize(MAX_EVENT_BYTES, b'x');
        let mut parser = SseParser::new();
        for chunk in line.chunks(64 * 1024 + 1) {
            assert_eq!(parser.feed_vec(chunk).unwrap(), vec![]);
        }
        let events = parser.feed_vec(b"\n\n").unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data.len(), MAX_EVENT_BYTES - 6);
        assert!(parser.line_buf.capacity() <= RETAINED_LINE_CAPACITY);

        // One byte more, with no line end yet: rejected as soon as it arrives, not buffered.
        let mut parser = SseParser::new();
        for chunk in line.chunks(mib) {
            parser.feed_vec(chunk).unwrap();
        }
        let error = parser.feed_vec(b"x").unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadResponse);
        assert!(error.message.contains("line larger than 16 MiB"), "{}", error.message);
        assert_eq!(parser.line_buf.capacity(), 0);

        // The same long line arriving in a single chunk.
        let mut long = line.clone();
        long.extend_from_slice(b"x\n\n");
        assert!(feed_err(&long).message.contains("line larger than 16 MiB"));
        // ... and as a trailing partial line.
        long.truncate(long.len() - 2);
        assert!(feed_err(&long).message.contains("line larger than 16 MiB"));

        // An event of many small lines that adds up to more than the limit.
        let mut piece = b"data: ".to_vec();
        piece.resize(mib, b'y');
        piece.push(b'\n');
        let mut parser = SseParser::new();
        let mut error = None;
        for _ in 0..17 {
            if let Err(e) = parser.feed_vec(&piece) {
                error = Some(e);
                break;
            }
        }
        let error = error.expect("the event should exceed the limit");
        assert_eq!(error.kind, ErrorKind::BadResponse);
        assert!(error.message.contains("event larger than 16 MiB"), "{}", error.message);

        // The same lines split into events of their own are fine.
        let mut parser = SseParser::new();
        for _ in 0..17 {
            parser.feed_vec(&piece).unwrap();
            assert_eq!(parser.feed_vec(b"\n").unwrap().len(), 1);
        }
    }

    #[test]
    fn large_line_in_tiny_chunks_is_linear() {
        // 4 MiB in 16-byte chunks: quadratic rescanning or copying would take minutes.
        let mut stream = b"data: ".to_vec();
        stream.resize(4 * 1024 * 1024, b'z');
        stream.extend_from_slice(b"\n\n");
        let (events, truncated) = parse_chunks(stream.chunks(16));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data.len(), 4 * 1024 * 1024 - 6);
        assert!(!truncated);
    }
}
