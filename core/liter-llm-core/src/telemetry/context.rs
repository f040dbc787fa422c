//! W3C Trace Context (https://www.w3.org/TR/trace-context/): parsing `traceparent`, new ids,
//! and the sampling decision (the OpenTelemetry SDK's built-in samplers, by their
//! `OTEL_TRACES_SAMPLER` names).

/// A parsed `traceparent` (version 00) with its `tracestate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parent {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) sampled: bool,
    pub(crate) trace_state: String,
}

/// The longest `tracestate` kept (the W3C limit is 32 members of at most 256 bytes each).
const MAX_TRACE_STATE: usize = 512;

impl Parent {
    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`. A header that does not parse, or carries the
    /// all-zero ids the specification forbids, is ignored (the span becomes a root), as the
    /// specification asks of a receiver. Versions above 00 are read by their first four fields.
    pub(crate) fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Parent> {
        let t = traceparent.trim();
        let mut fields = t.split('-');
        let version = fields.next()?;
        let trace = fields.next()?;
        let span = fields.next()?;
        let flags = fields.next()?;
        if version.len() != 2 || version == "ff" || !is_lower_hex(version) {
            return None;
        }
        if version == "00" && fields.next().is_some() {
            return None;
        }
        let trace_id: [u8; 16] = decode_hex(trace)?;
        let span_id: [u8; 8] = decode_hex(span)?;
        let [flags]: [u8; 1] = decode_hex(flags)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        let trace_state = tracestate.map(str::trim).filter(|s| s.len() <= MAX_TRACE_STATE && s.is_ascii());
        Some(Parent { trace_id, span_id, sampled: flags & 1 == 1, trace_state: trace_state.unwrap_or("").to_owned() })
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !is_lower_hex(s) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `00-<trace>-<span>-<flags>`, for forwarding upstream.
pub(crate) fn traceparent(trace_id: &[u8; 16], span_id: &[u8; 8], sampled: bool) -> String {
    let mut s = String::with_capacity(55);
    s.push_str("00-");
    for b in trace_id.iter().chain(span_id.iter()) {
        if s.len() == 35 {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s.push_str(if sampled { "-01" } else { "-00" });
    s
}

/// Random, non-zero ids from the operating system's generator: for ids made once (an audit
/// chain's), where a system call does not matter.
pub(crate) fn os_random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    loop {
        if getrandom::getrandom(&mut out).is_err() {
            // No OS generator: the clock's nanoseconds still give distinct ids.
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(1)
                    ^ u128::from(std::process::id()) << 64;
            for (i, b) in out.iter_mut().enumerate() {
                *b = (nanos >> ((i % 16) * 8)) as u8 ^ i as u8;
            }
        }
        if out.iter().any(|b| *b != 0) {
            return out;
        }
    }
}

/// A thread's id generator: xoshiro256++ (Blackman and Vigna), seeded from the operating system
/// once per thread and process. Trace, span and request ids need to be unique and unpredictable
/// enough to not collide, not secret; the OpenTelemetry SDKs use such a generator too, where a
/// `getrandom` call per id cost a system call each.
struct FastRng {
    /// The process that seeded it: a forked child has its parent's thread-local state, and
    /// must not repeat its parent's ids.
    pid: u32,
    s: [u64; 4],
}

impl FastRng {
    fn seeded() -> FastRng {
        let seed: [u8; 32] = os_random_bytes();
        let mut s = [0u64; 4];
        for (word, bytes) in s.iter_mut().zip(seed.chunks_exact(8)) {
            *word = u64::from_le_bytes(bytes.try_into().unwrap_or([1; 8]));
        }
        FastRng { pid: std::process::id(), s }
    }

    fn next(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

thread_local! {
    static RNG: std::cell::RefCell<Option<FastRng>> = const { std::cell::RefCell::new(None) };
}

/// Random, non-zero ids for spans, traces and requests, from the thread's generator (re-seeded
/// in a forked child, so a child never repeats its parent's ids). `pid` is the current process's
/// id, which the caller asks for once for all the ids of a call.
pub(crate) fn random_bytes<const N: usize>(pid: u32) -> [u8; N] {
    let fill = |rng: &mut FastRng| {
        let mut out = [0u8; N];
        loop {
            for chunk in out.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next().to_le_bytes()[..chunk.len()]);
            }
            if out.iter().any(|b| *b != 0) {
                return out;
            }
        }
    };
    RNG.try_with(|cell| {
        let mut slot = cell.borrow_mut();
        let rng = match slot.as_mut() {
            Some(rng) if rng.pid == pid => rng,
            _ => slot.insert(FastRng::seeded()),
        };
        fill(rng)
    })
    // A thread being torn down has no thread-locals left.
    .unwrap_or_else(|_| os_random_bytes())
}

/// `OTEL_TRACES_SAMPLER`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Sampler {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

impl Sampler {
    /// From the sampler's name and `OTEL_TRACES_SAMPLER_ARG`; `None` for a name the SDKs do not
    /// define.
    pub(crate) fn parse(name: &str, arg: Option<f64>) -> Option<Sampler> {
        let ratio = arg.filter(|r| (0.0..=1.0).contains(r)).unwrap_or(1.0);
        Some(match name.trim() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio),
            "parentbased_always_on" => Sampler::ParentBasedAlwaysOn,
            "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => Sampler::ParentBasedTraceIdRatio(ratio),
            _ => return None,
        })
    }

    /// Whether a span with this trace id (and parent, when there is one) is recorded.
    pub(crate) fn samples(self, trace_id: &[u8; 16], parent: Option<&Parent>) -> bool {
        let by_ratio = |ratio: f64| {
            // As the SDKs do: the trace id's last 8 bytes against the ratio of u64's range.
            let low = u64::from_be_bytes(trace_id[8..].try_into().unwrap_or([0; 8])) >> 1;
            (low as f64) < ratio * (1u64 << 63) as f64
        };
        match (self, parent) {
            (Sampler::AlwaysOn, _) => true,
            (Sampler::AlwaysOff, _) => false,
            (Sampler::TraceIdRatio(r), _) => by_ratio(r),
            (
                Sampler::ParentBasedAlwaysOn | Sampler::ParentBasedAlwaysOff | Sampler::ParentBasedTraceIdRatio(_),
                Some(p),
            ) => p.sampled,
            (Sampler::ParentBasedAlwaysOn, None) => true,
            (Sampler::ParentBasedAlwaysOff, None) => false,
            (Sampler::ParentBasedTraceIdRatio(r), None) => by_ratio(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parses_and_round_trips() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let p = Parent::parse(header, Some("congo=t61rcWkgMzE")).unwrap();
        assert!(p.sampled);
        assert_eq!(p.trace_state, "congo=t61rcWkgMzE");
        assert_eq!(traceparent(&p.trace_id, &p.span_id, true), header);
        assert!(!Parent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", None).unwrap().sampled);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(Parent::parse(bad, None), None, "{bad}");
        }
        assert!(Parent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", None).is_some());
    }

    #[test]
    fn samplers_follow_the_parent_or_the_ratio() {
        let parent = |sampled| Parent { trace_id: [1; 16], span_id: [1; 8], sampled, trace_state: String::new() };
        let id = [0xff; 16];
        assert!(!Sampler::ParentBasedAlwaysOn.samples(&id, Some(&parent(false))));
        assert!(Sampler::ParentBasedAlwaysOff.samples(&id, Some(&parent(true))));
        assert!(Sampler::ParentBasedAlwaysOn.samples(&id, None));
        assert!(!Sampler::TraceIdRatio(0.5).samples(&id, None));
        assert!(Sampler::TraceIdRatio(0.5).samples(&[0; 16], None));
        assert!(Sampler::AlwaysOn.samples(&id, Some(&parent(false))));
        assert_eq!(Sampler::parse("traceidratio", Some(0.25)), Some(Sampler::TraceIdRatio(0.25)));
        assert_eq!(Sampler::parse("jaeger_remote", None), None);
        assert_ne!(random_bytes::<16>(std::process::id()), random_bytes::<16>(std::process::id()));
    }

    #[test]
    fn ids_differ_across_threads_and_calls() {
        let mut seen = std::collections::HashSet::new();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| (0..1000).map(|_| random_bytes::<8>(std::process::id())).collect::<Vec<_>>())
            })
            .collect();
        for t in threads {
            for id in t.join().unwrap() {
                assert_ne!(id, [0; 8]);
                assert!(seen.insert(id), "a repeated span id");
            }
        }
        let odd: [u8; 3] = random_bytes(std::process::id());
        assert_ne!(odd, [0; 3]);
    }
}
