//! When to retry, and how long to wait first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// Retries after the first attempt when neither the call nor the configuration says otherwise
/// (the official SDKs' default).
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// A provider's requested wait above this is not waited: the error is returned with its
/// `retry_after` so the caller can decide.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
const BACKOFF_INITIAL: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(8);

/// Statuses worth another attempt: timeouts, conflicts, rate limits and server-side failures.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429 | 500 | 502 | 503 | 504 | 529)
}

/// Whether an attempt that failed with `error` may be retried at all.
pub fn retryable(error: &Error) -> bool {
    match error.status {
        Some(status) => retryable_status(status),
        // No response: a refused or broken connection is retried; a spent deadline is not.
        None => error.kind == ErrorKind::Connection,
    }
}

/// Errors after which the next model of a fallback chain is tried.
pub fn falls_back(error: &Error) -> bool {
    matches!(
        error.kind,
        ErrorKind::RateLimited | ErrorKind::ProviderUnavailable | ErrorKind::Timeout | ErrorKind::Connection
    )
}

/// Exponential backoff with jitter for attempt `n` (1 = the first retry): 0.5 s doubling up to
/// 8 s, each reduced by up to a quarter at random so that clients do not retry in lockstep.
pub fn backoff(n: u32) -> Duration {
    let exp = BACKOFF_INITIAL.saturating_mul(1u32 << n.saturating_sub(1).min(16));
    let base = exp.min(BACKOFF_MAX);
    base.mul_f64(1.0 - 0.25 * jitter())
}

/// A number in [0, 1): xorshift over a process-wide counter seeded from the clock.
fn jitter() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    if x == 0 {
        x = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
        STATE.store(x, Ordering::Relaxed);
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq)]
pub enum Decision {
    RetryAfter(Duration),
    /// Stop; the string says why when a retry was possible but not taken.
    Stop(Option<String>),
}

/// Decides whether attempt `attempt` (1-based) that failed with `error` is followed by another.
pub fn decide(error: &Error, attempt: u32, max_retries: u32, max_wait: Duration, remaining: Duration) -> Decision {
    if !retryable(error) || attempt > max_retries {
        return Decision::Stop(None);
    }
    let wait = match error.retry_after {
        Some(secs) => {
            let asked = Duration::from_secs_f64(secs.max(0.0));
            if asked > max_wait {
                return Decision::Stop(Some(format!(
                    "not retried: the provider asked to wait {secs:.3}s, more than the {:.0}s cap",
                    max_wait.as_secs_f64()
                )));
            }
            asked
        }
        None => backoff(attempt),
    };
    if wait >= remaining {
        return Decision::Stop(Some(format!(
            "not retried: waiting {:.3}s would pass the call's deadline",
            wait.as_secs_f64()
        )));
    }
    Decision::RetryAfter(wait)
}

/// Adds to the final error why it was not retried (when a retry was possible) and how many
/// attempts were made.
pub fn explain_stop(error: &mut Error, attempt: u32, why: Option<String>) {
    if let Some(why) = why {
        error.message = format!("{} ({why})", error.message);
    }
    if attempt > 1 {
        error.message = format!("{} after {attempt} attempts", error.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_error(status: u16, retry_after: Option<f64>) -> Error {
        let mut e = Error::new(ErrorKind::from_status(status), "x").with_status(status);
        e.retry_after = retry_after;
        e
    }

    const LONG: Duration = Duration::from_secs(600);

    #[test]
    fn retries_only_the_documented_statuses() {
        for status in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert!(retryable(&status_error(status, None)), "{status}");
        }
        for status in [400, 401, 403, 404, 413, 422, 501, 505] {
            assert!(!retryable(&status_error(status, None)), "{status}");
        }
        assert!(retryable(&Error::new(ErrorKind::Connection, "refused")));
        assert!(!retryable(&Error::new(ErrorKind::Timeout, "deadline")));
        assert!(!retryable(&Error::invalid_request("bad")));
    }

    #[test]
    fn honours_the_providers_wait() {
        let e = status_error(429, Some(1.5));
        assert_eq!(decide(&e, 1, 2, DEFAULT_MAX_RETRY_WAIT, LONG), Decision::RetryAfter(Duration::from_millis(1500)));
        assert_eq!(
            decide(&status_error(429, Some(0.0)), 1, 2, DEFAULT_MAX_RETRY_WAIT, LONG),
            Decision::RetryAfter(Duration::ZERO)
        );
    }

    #[test]
    fn stops_when_out_of_retries_or_time() {
        let e = status_error(503, Some(1.0));
        assert_eq!(decide(&e, 3, 2, DEFAULT_MAX_RETRY_WAIT, LONG), Decision::Stop(None));
        assert_eq!(decide(&e, 1, 0, DEFAULT_MAX_RETRY_WAIT, LONG), Decision::Stop(None));
        match decide(&e, 1, 2, DEFAULT_MAX_RETRY_WAIT, Duration::from_millis(500)) {
            Decision::Stop(Some(why)) => assert!(why.contains("deadline"), "{why}"),
            other => panic!("{other:?}"),
        }
        match decide(&status_error(429, Some(120.0)), 1, 2, DEFAULT_MAX_RETRY_WAIT, LONG) {
            Decision::Stop(Some(why)) => assert!(why.contains("cap"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for n in 1..=10 {
            let d = backoff(n);
            let full = BACKOFF_INITIAL.saturating_mul(1 << (n - 1)).min(BACKOFF_MAX);
            assert!(d <= full && d >= full.mul_f64(0.75), "attempt {n}: {d:?} vs {full:?}");
        }
        let draws: std::collections::HashSet<_> = (0..20).map(|_| backoff(1)).collect();
        assert!(draws.len() > 1, "jitter varies");
    }
}
