//! OTLP/HTTP protobuf bodies for traces and metrics (opentelemetry-proto v1: `trace.proto`,
//! `metrics.proto`, `common.proto`, `resource.proto`), written by hand: the few messages the core
//! sends take a hundred lines of wire encoding, where generated types would bring `prost` and its
//! build-time code generation into every binding's library.
//!
//! Protocol Buffers encoding: each field is a varint key `(number << 3) | wire type`, then a
//! varint (type 0), eight little-endian bytes (type 1), a length-prefixed payload (type 2) or four
//! bytes (type 5). Empty strings, zero numbers and absent messages are left out, as proto3 does.

/// An attribute value; a string known when the core is built (a provider's name, an
/// operation, an error kind) is not copied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(Cow<'static, str>),
    Int(i64),
    Double(f64),
    Bool(bool),
    StrArray(Vec<String>),
}

use std::borrow::Cow;

pub(crate) type Attributes = Vec<(&'static str, Value)>;

/// A protobuf message being written.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    fn uint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v);
        }
    }

    fn fixed64(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, 1);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn double(&mut self, field: u32, v: f64) {
        self.key(field, 1);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn fixed32(&mut self, field: u32, v: u32) {
        if v != 0 {
            self.key(field, 5);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn bytes(&mut self, field: u32, v: &[u8]) {
        if !v.is_empty() {
            self.key(field, 2);
            self.varint(v.len() as u64);
            self.buf.extend_from_slice(v);
        }
    }

    fn string(&mut self, field: u32, v: &str) {
        self.bytes(field, v.as_bytes());
    }

    /// A nested message, written even when empty (a oneof member or a repeated element). It is
    /// written in place behind a one-byte length, widened afterwards for a message of 128 bytes
    /// or more: most messages (attributes, values) are short, so nothing is copied for them.
    fn message(&mut self, field: u32, write: impl FnOnce(&mut Writer)) {
        self.key(field, 2);
        let at = self.buf.len();
        self.buf.push(0);
        write(self);
        let len = self.buf.len() - at - 1;
        if len < 0x80 {
            self.buf[at] = len as u8;
        } else {
            let mut prefix = [0u8; 10];
            let mut n = 0;
            let mut v = len as u64;
            while v >= 0x80 {
                prefix[n] = (v as u8) | 0x80;
                v >>= 7;
                n += 1;
            }
            prefix[n] = v as u8;
            self.buf.splice(at..=at, prefix[..=n].iter().copied());
        }
    }

    /// `common.proto` AnyValue.
    fn any_value(&mut self, v: &Value) {
        match v {
            Value::Str(s) => {
                // string_value = 1, written even when empty (it selects the oneof member).
                self.key(1, 2);
                self.varint(s.len() as u64);
                self.buf.extend_from_slice(s.as_bytes());
            }
            Value::Bool(b) => {
                self.key(2, 0);
                self.varint(u64::from(*b));
            }
            Value::Int(i) => {
                self.key(3, 0);
                self.varint(*i as u64);
            }
            Value::Double(d) => self.double(4, *d),
            Value::StrArray(items) => self.message(5, |array| {
                for item in items {
                    array.message(1, |w| {
                        w.key(1, 2);
                        w.varint(item.len() as u64);
                        w.buf.extend_from_slice(item.as_bytes());
                    });
                }
            }),
        }
    }

    /// Repeated `KeyValue` at `field`.
    fn attributes<K: AsRef<str>>(&mut self, field: u32, attributes: &[(K, Value)]) {
        for (key, value) in attributes {
            self.message(field, |kv| {
                kv.string(1, key.as_ref());
                kv.message(2, |w| w.any_value(value));
            });
        }
    }
}

/// What identifies the process to the receiver (`resource.proto` Resource).
#[derive(Debug, Clone, Default)]
pub(crate) struct Resource {
    pub(crate) attributes: Vec<(String, Value)>,
}

impl Resource {
    fn write(&self, w: &mut Writer) {
        w.attributes(1, &self.attributes);
    }
}

/// The instrumentation scope every span and metric carries.
fn scope(w: &mut Writer) {
    w.string(1, "liter-llm");
    w.string(2, crate::VERSION);
}

/// The semantic conventions version the telemetry follows, as the scope's schema URL.
pub(crate) const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.41.0";

pub(crate) const SPAN_KIND_CLIENT: u64 = 3;
pub(crate) const STATUS_ERROR: u64 = 2;

/// One finished span.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) parent_span_id: Option<[u8; 8]>,
    pub(crate) trace_state: String,
    pub(crate) name: String,
    pub(crate) start_unix_nano: u64,
    pub(crate) end_unix_nano: u64,
    pub(crate) attributes: Attributes,
    /// `Some(description)` for an error status.
    pub(crate) error: Option<String>,
    /// W3C trace flags (bit 0: sampled) and, bit 8 set, whether the parent is remote.
    pub(crate) flags: u32,
}

/// `ExportTraceServiceRequest` with one resource and one scope.
pub(crate) fn traces_request(resource: &Resource, spans: &[Span]) -> Vec<u8> {
    // About what a span takes, so that the buffer seldom grows.
    let mut w = Writer { buf: Vec::with_capacity(256 + spans.len() * 640) };
    w.message(1, |rs| {
        rs.message(1, |r| resource.write(r));
        rs.message(2, |ss| {
            ss.message(1, scope);
            for span in spans {
                ss.message(2, |s| write_span(s, span));
            }
            ss.string(3, SCHEMA_URL);
        });
    });
    w.buf
}

fn write_span(w: &mut Writer, span: &Span) {
    w.bytes(1, &span.trace_id);
    w.bytes(2, &span.span_id);
    w.string(3, &span.trace_state);
    if let Some(parent) = &span.parent_span_id {
        w.bytes(4, parent);
    }
    w.string(5, &span.name);
    w.uint(6, SPAN_KIND_CLIENT);
    w.fixed64(7, span.start_unix_nano);
    w.fixed64(8, span.end_unix_nano);
    w.attributes(9, &span.attributes);
    if let Some(message) = &span.error {
        w.message(15, |status| {
            status.string(2, message);
            status.uint(3, STATUS_ERROR);
        });
    }
    w.fixed32(16, span.flags);
}

/// One histogram data point (cumulative).
#[derive(Debug, Clone)]
pub(crate) struct HistogramPoint {
    pub(crate) attributes: Attributes,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    /// One more than `bounds`.
    pub(crate) bucket_counts: Vec<u64>,
}

/// One counter data point (cumulative, monotonic).
#[derive(Debug, Clone)]
pub(crate) struct CounterPoint {
    pub(crate) attributes: Attributes,
    pub(crate) value: i64,
}

/// One instrument and its points.
#[derive(Debug, Clone)]
pub(crate) enum Metric {
    Histogram {
        name: &'static str,
        description: &'static str,
        unit: &'static str,
        bounds: &'static [f64],
        points: Vec<HistogramPoint>,
    },
    Counter {
        name: &'static str,
        description: &'static str,
        unit: &'static str,
        points: Vec<CounterPoint>,
    },
}

const CUMULATIVE: u64 = 2;

/// `ExportMetricsServiceRequest` with one resource and one scope; `start` and `now` in Unix
/// nanoseconds.
pub(crate) fn metrics_request(resource: &Resource, metrics: &[Metric], start: u64, now: u64) -> Vec<u8> {
    let mut w = Writer::default();
    w.message(1, |rm| {
        rm.message(1, |r| resource.write(r));
        rm.message(2, |sm| {
            sm.message(1, scope);
            for metric in metrics {
                sm.message(2, |m| match metric {
                    Metric::Histogram { name, description, unit, bounds, points } => {
                        m.string(1, name);
                        m.string(2, description);
                        m.string(3, unit);
                        m.message(9, |h| {
                            for p in points {
                                h.message(1, |dp| {
                                    dp.fixed64(2, start);
                                    dp.fixed64(3, now);
                                    dp.key(4, 1);
                                    dp.buf.extend_from_slice(&p.count.to_le_bytes());
                                    dp.double(5, p.sum);
                                    packed_fixed64(dp, 6, p.bucket_counts.iter().copied());
                                    packed_fixed64(dp, 7, bounds.iter().map(|b| b.to_bits()));
                                    dp.attributes(9, &p.attributes);
                                    dp.double(11, p.min);
                                    dp.double(12, p.max);
                                });
                            }
                            h.uint(2, CUMULATIVE);
                        });
                    }
                    Metric::Counter { name, description, unit, points } => {
                        m.string(1, name);
                        m.string(2, description);
                        m.string(3, unit);
                        m.message(7, |s| {
                            for p in points {
                                s.message(1, |dp| {
                                    dp.fixed64(2, start);
                                    dp.fixed64(3, now);
                                    // as_int = 6 (sfixed64), written even when zero.
                                    dp.key(6, 1);
                                    dp.buf.extend_from_slice(&p.value.to_le_bytes());
                                    dp.attributes(7, &p.attributes);
                                });
                            }
                            s.uint(2, CUMULATIVE);
                            s.uint(3, 1);
                        });
                    }
                });
            }
            sm.string(3, SCHEMA_URL);
        });
    });
    w.buf
}

fn packed_fixed64(w: &mut Writer, field: u32, values: impl ExactSizeIterator<Item = u64>) {
    let len = values.len();
    if len == 0 {
        return;
    }
    w.key(field, 2);
    w.varint(8 * len as u64);
    for v in values {
        w.buf.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_keys_follow_the_wire_format() {
        let mut w = Writer::default();
        w.uint(1, 300);
        assert_eq!(w.buf, [0x08, 0xac, 0x02]);
        let mut w = Writer::default();
        w.string(5, "hi");
        assert_eq!(w.buf, [0x2a, 2, b'h', b'i']);
        let mut w = Writer::default();
        w.uint(3, 0);
        w.string(4, "");
        assert!(w.buf.is_empty(), "proto3 leaves defaults out");
        let mut w = Writer::default();
        w.any_value(&Value::Int(-1));
        assert_eq!(w.buf.len(), 1 + 10, "negative int64 takes ten varint bytes");
    }

    #[test]
    fn nested_messages_take_the_shortest_length_prefix() {
        // Inner payload: key 0x0a, a one- or two-byte length, then the bytes.
        for (text_len, prefix) in
            [(0usize, vec![2u8]), (125, vec![127]), (126, vec![0x80, 1]), (16_400, vec![0x94, 0x80, 1])]
        {
            let text = "x".repeat(text_len);
            let mut w = Writer::default();
            w.message(3, |inner| {
                inner.key(1, 2);
                inner.varint(text.len() as u64);
                inner.buf.extend_from_slice(text.as_bytes());
            });
            let mut expected = vec![0x1a];
            expected.extend_from_slice(&prefix);
            assert_eq!(&w.buf[..expected.len()], &expected[..], "{text_len} bytes of text");
            let mut inner = Writer::default();
            inner.varint(text.len() as u64);
            assert_eq!(w.buf.len(), expected.len() + 1 + inner.buf.len() + text_len);
        }
        // Nested twice, each level widened on its own.
        let mut w = Writer::default();
        w.message(1, |outer| outer.message(2, |inner| inner.bytes(1, &[7; 200])));
        assert_eq!(&w.buf[..6], &[0x0a, 0xce, 0x01, 0x12, 0xcb, 0x01]);
    }

    #[test]
    fn a_span_carries_its_ids_and_attributes() {
        let span = Span {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: Some([3; 8]),
            trace_state: String::new(),
            name: "chat m".into(),
            start_unix_nano: 1,
            end_unix_nano: 2,
            attributes: vec![("gen_ai.request.model", Value::Str("m".into()))],
            error: None,
            flags: 1,
        };
        let body = traces_request(&Resource::default(), &[span]);
        let find = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
        assert!(find(&[0x0a, 16, 1, 1, 1]), "trace_id field 1, 16 bytes");
        assert!(find(&[0x22, 8, 3, 3, 3]), "parent_span_id field 4");
        assert!(find(b"gen_ai.request.model"));
        assert!(find(SCHEMA_URL.as_bytes()));
    }
}
