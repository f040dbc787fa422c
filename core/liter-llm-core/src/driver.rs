//! The one call loop: calls and streams alike go through `drive`, which owns the fallback
//! chain, the `tried` list and the error summary, the attempts, the deadline and the rate-limit
//! permits. One HTTP exchange is `transport`'s; whether to try again is `retry`'s.

use std::time::Instant;

use std::sync::Arc;

use crate::cache::{Cache, Entry, Flight, Identity, Recording, Status};
use crate::error::{Error, Result, Tried};
use crate::limiter::{Limiter, Permit};
use crate::observe::{Observation, Observers};
use crate::plan::{self, Facts, Plan, Target};
use crate::price::Price;
use crate::response::{Answer, Reply};
use crate::retry;
use crate::transport::{HttpCall, Transport};

/// Where a call's answer goes.
pub(crate) enum Sink<'a> {
    /// The whole response, returned by `drive`; its facts written to the `Facts` given.
    Response(Option<&'a mut Facts>),
    /// Each `chat.completion.chunk`, as it arrives.
    Chunks(&'a mut (dyn FnMut(Vec<u8>) + Send)),
}

/// How one model of the chain failed.
struct Failure {
    error: Error,
    /// HTTP attempts made on this model.
    attempts: u32,
    /// Whether chunks already reached the caller: then no other model may be tried.
    delivered: bool,
}

impl Failure {
    fn before_sending(error: Error) -> Failure {
        Failure { error, attempts: 0, delivered: false }
    }
}

/// What a client lends a call: its limiter, its connection pool and its cache.
pub(crate) struct Resources<'a> {
    pub(crate) limiter: &'a Limiter,
    pub(crate) transport: &'a Transport,
    pub(crate) cache: Option<Arc<Cache>>,
    pub(crate) observers: Observers,
}

/// Tries each model of the plan in turn, each with its retries, within one deadline. Returns the
/// response for `Sink::Response`, `None` once a stream has ended for `Sink::Chunks`. Until a
/// stream's first chunk, failures are retried and fall back as a call's do; after it, an error
/// ends the stream.
pub(crate) async fn drive(plan: &Plan, resources: &Resources<'_>, sink: Sink<'_>) -> Result<Option<Vec<u8>>> {
    let mut obs = Observation::start(plan, &resources.observers, matches!(sink, Sink::Chunks(_)));
    let result = drive_chain(plan, resources, sink, &mut obs).await;
    match &result {
        Ok(_) => obs.finish(None),
        Err(e) => obs.finish(Some(e)),
    }
    result
}

async fn drive_chain(
    plan: &Plan,
    resources: &Resources<'_>,
    mut sink: Sink<'_>,
    obs: &mut Observation,
) -> Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + plan.timeout;
    let mut tried: Vec<Tried> = Vec::new();
    let mut total_attempts = 0;
    let last = plan.targets.len() - 1;
    for (index, target) in plan.targets.iter().enumerate() {
        let name = target.provider.name();
        let failure = match serve(plan, resources, target, deadline, &mut sink, obs).await {
            Ok(answer) => return Ok(answer),
            Err(failure) => failure,
        };
        let mut e = failure.error.with_provider(name);
        total_attempts += failure.attempts;
        tried.push(Tried {
            provider: name.to_owned(),
            model: format!("{name}/{}", target.model),
            kind: e.kind,
            status: e.status,
            attempts: failure.attempts,
        });
        if !failure.delivered && index < last && retry::falls_back(&e) && Instant::now() < deadline {
            obs.fell_back();
            continue;
        }
        e.attempts = total_attempts;
        if tried.len() > 1 {
            let summary: Vec<String> = tried
                .iter()
                .map(|t| {
                    let status = t.status.map(|s| format!(", HTTP {s}")).unwrap_or_default();
                    format!("{} ({}{status}, {} attempts)", t.model, t.kind, t.attempts)
                })
                .collect();
            e.message = format!("{}; every model failed: {}", e.message, summary.join("; "));
            e.tried = Some(tried);
        }
        return Err(e);
    }
    Err(Error::internal("a call had no model to try"))
}

/// One model of the chain: a local answer, an answer from the cache, or an HTTP exchange with
/// its retries (recorded in the cache when it completes).
async fn serve(
    plan: &Plan,
    resources: &Resources<'_>,
    target: &Target,
    deadline: Instant,
    sink: &mut Sink<'_>,
    obs: &mut Observation,
) -> std::result::Result<Option<Vec<u8>>, Failure> {
    let name = target.provider.name();
    let local_status = plan.local_status();
    match sink {
        Sink::Response(facts) => {
            if let Some(answer) = plan.respond_locally(target) {
                let body = answer.map_err(Failure::before_sending)?;
                return Ok(Some(deliver(plan, target, body, 0, local_status, obs, facts.as_deref_mut())));
            }
        }
        Sink::Chunks(on_chunk) => {
            if let Some(chunks) = plan.stream_locally(target) {
                for chunk in chunks.map_err(Failure::before_sending)? {
                    on_chunk(deliver_chunk(plan, target, chunk, local_status, obs));
                }
                return Ok(None);
            }
        }
    }
    let streaming = matches!(sink, Sink::Chunks(_));
    let mut call = HttpCall::build(&plan.request, target, &plan.cfg, streaming, resources.transport)
        .map_err(Failure::before_sending)?;
    if obs.is_on() {
        obs.target(name, &target.model, call.url(), call.key().expose());
    }
    let ticket = match resources.cache.as_deref() {
        None => Err(Status::Off),
        Some(cache) => {
            let (url, body, key) = call.cache_inputs();
            let identity = Identity { provider: name, model: &target.model, url: &url, body, api_key: key.expose() };
            cache.ticket(&plan.request, identity)
        }
    };
    let status = match &ticket {
        Ok(ticket) if ticket.reads() => Status::Miss,
        Ok(_) => Status::Bypass,
        Err(status) => *status,
    };
    if let Ok(ticket) = &ticket {
        if let Some((entry, hit)) = ticket.lookup().await {
            match (entry, &mut *sink) {
                (Entry::Response(body), Sink::Response(facts)) => {
                    return Ok(Some(deliver(plan, target, body.to_vec(), 0, hit, obs, facts.as_deref_mut())));
                }
                (Entry::Chunks(chunks), Sink::Chunks(on_chunk)) => {
                    for chunk in chunks.iter() {
                        on_chunk(deliver_chunk(plan, target, chunk.clone(), hit, obs));
                    }
                    return Ok(None);
                }
                // Streams and whole calls have different upstream bodies, so different keys.
                _ => {}
            }
        }
    }
    match sink {
        Sink::Response(facts) => {
            // Identical calls in flight wait for the first one's answer (single-flight).
            let leader = match &ticket {
                Ok(ticket) if ticket.reads() => match ticket.fly().await {
                    Flight::Leader(leader) => Some(leader),
                    Flight::Followed(Ok(Entry::Response(body))) => {
                        return Ok(Some(deliver(
                            plan,
                            target,
                            body.to_vec(),
                            0,
                            Status::HitL1,
                            obs,
                            facts.as_deref_mut(),
                        )));
                    }
                    Flight::Followed(Err(error)) => return Err(Failure::before_sending(error)),
                    Flight::Followed(Ok(Entry::Chunks(_))) => None,
                },
                _ => None,
            };
            let observing = obs.observing();
            let sent = with_retries(&mut call, plan, resources.limiter, deadline, obs, async move |call: &HttpCall| {
                call.execute(observing).await
            })
            .await;
            let (Answer { body, usage: read, facts: observed }, permit, attempts) = match sent {
                Ok(sent) => sent,
                Err((error, attempts)) => {
                    if let Some(leader) = leader {
                        leader.finish(Err(error.clone()));
                    }
                    return Err(Failure { error, attempts, delivered: false });
                }
            };
            // The body is read once, when anything reads it: by the provider's check (`read`, an
            // OpenAI-shaped answer, with the observers' facts when the call is observed), else
            // here.
            let price = plan.price(target);
            let wanted = price.is_some() || obs.is_on() || !permit.is_empty() || facts.is_some();
            let unread = read.is_none() || (obs.is_on() && observed.is_none());
            let reply = (wanted && unread).then(|| Reply::parse(&body));
            let usage = |reply: Option<&Reply<'_>>| match read {
                Some(usage) => usage,
                None => reply?.usage(),
            };
            settle(resources.limiter, &permit, plan, || match read {
                Some(usage) => usage?.total_tokens,
                None => reply.as_ref()?.total_tokens(),
            });
            if let Ok(ticket) = &ticket {
                let entry = Entry::Response(body.as_slice().into());
                ticket.store(&entry).await;
                if let Some(leader) = leader {
                    leader.finish(Ok(entry));
                }
            }
            match (&reply, observed) {
                (Some(reply), _) => obs.response(reply),
                (None, Some(observed)) => obs.response_facts(observed),
                (None, None) => {}
            }
            let cost = plan::cost_usd(price, status, || usage(reply.as_ref()));
            if let Some(facts) = facts {
                **facts = Facts { usage: usage(reply.as_ref()), cache: status };
            }
            drop(reply);
            Ok(Some(plan.with_meta(body, target, attempts, status, cost)))
        }
        Sink::Chunks(on_chunk) => {
            let (response, permit, attempts) =
                with_retries(&mut call, plan, resources.limiter, deadline, obs, async |call: &HttpCall| {
                    call.open_stream().await
                })
                .await
                .map_err(|(error, attempts)| Failure { error, attempts, delivered: false })?;
            let mut delivered = false;
            let mut reported = None;
            let mut recording = Recording::default();
            let read = call
                .read_stream(response, &mut reported, &mut |chunk| {
                    delivered = true;
                    if ticket.is_ok() {
                        recording.push(&chunk);
                    }
                    on_chunk(deliver_chunk(plan, target, chunk, status, obs));
                })
                .await;
            // A stream settles against the usage it reported; one that reported none (it failed
            // early, say) keeps the estimate charged.
            settle(resources.limiter, &permit, plan, || reported);
            read.map_err(|error| Failure { error, attempts, delivered })?;
            // Only a stream that reached its terminal event is stored.
            if let (Ok(ticket), Some(entry)) = (&ticket, recording.finish()) {
                ticket.store(&entry).await;
            }
            Ok(None)
        }
    }
}

/// An answer without the network (a local one, a cache hit) as the caller gets it: with its
/// `liter_llm` member, its body read once when its price or the call's observers need it.
fn deliver(
    plan: &Plan,
    target: &Target,
    body: Vec<u8>,
    attempts: u32,
    cache: Status,
    obs: &mut Observation,
    facts: Option<&mut Facts>,
) -> Vec<u8> {
    let price = plan.price(target);
    let reply = (price.is_some() || obs.is_on() || facts.is_some()).then(|| Reply::parse(&body));
    if let Some(facts) = facts {
        *facts = Facts { usage: reply.as_ref().and_then(Reply::usage), cache };
    }
    let cost = read_reply(reply.as_ref(), price, cache, obs);
    drop(reply);
    plan.with_meta(body, target, attempts, cache, cost)
}

/// Gives the observers what the answer says, and returns its cost.
fn read_reply(reply: Option<&Reply<'_>>, price: Option<Price>, cache: Status, obs: &mut Observation) -> Option<f64> {
    if let Some(reply) = reply {
        obs.response(reply);
    }
    plan::cost_usd(price, cache, || reply?.usage())
}

/// A stream chunk as the caller gets it (`Plan::chunk_meta`), read once for its usage and the
/// call's observers.
fn deliver_chunk(plan: &Plan, target: &Target, chunk: Vec<u8>, cache: Status, obs: &mut Observation) -> Vec<u8> {
    let names_usage = plan::names_usage(&chunk);
    let usage = {
        let reply = (names_usage || obs.is_on()).then(|| Reply::parse(&chunk));
        obs.chunk(reply.as_ref());
        reply.filter(|_| names_usage).and_then(|r| r.usage())
    };
    plan.chunk_meta(chunk, target, cache, usage)
}

/// Corrects a permit's estimate with the tokens the provider reported, when any limit applies.
fn settle(limiter: &Limiter, permit: &Permit, plan: &Plan, reported: impl FnOnce() -> Option<u64>) {
    if !permit.is_empty() {
        limiter.settle(permit, reported().unwrap_or(plan.estimated_tokens));
    }
}

/// Attempts `send` (one HTTP attempt of the call) until it succeeds, fails for good, or the
/// deadline leaves no room. Each attempt first takes its place under the configured rate
/// limits. Returns what the successful attempt gave, with its rate-limit permit and the number
/// of attempts made; or the last error, with the attempts made.
async fn with_retries<T>(
    call: &mut HttpCall,
    plan: &Plan,
    limiter: &Limiter,
    deadline: Instant,
    obs: &mut Observation,
    mut send: impl AsyncFnMut(&HttpCall) -> Result<T>,
) -> std::result::Result<(T, Permit, u32), (Error, u32)> {
    let name = call.provider.name();
    call.call_timeout = plan.timeout;
    let limits = plan.cfg.limits(name, &call.model);
    let on_limit = plan.cfg.on_limit(name);
    let max_wait = plan.cfg.defaults.max_retry_wait.unwrap_or(retry::DEFAULT_MAX_RETRY_WAIT);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let asked = (obs.is_on() && !limits.is_empty()).then(Instant::now);
        let permit = limiter
            .acquire(&limits, plan.estimated_tokens, on_limit, deadline)
            .await
            .map_err(|e| (e.with_provider(name), attempt - 1))?;
        if asked.is_some_and(|asked| asked.elapsed() >= LIMIT_WAIT) {
            obs.waited_for_limit();
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err((call.deadline_error(), attempt - 1));
        }
        call.timeout = remaining;
        if let Some(traceparent) = obs.attempt_started(attempt, call.url()) {
            call.set_traceparent(&traceparent);
        }
        let sent = send(call).await;
        if obs.is_on() {
            obs.attempt_ended(sent.as_ref().map(|_| call.status()));
        }
        let mut error = match sent {
            Ok(value) => return Ok((value, permit, attempt)),
            Err(e) => e,
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        match retry::decide(&error, attempt, plan.max_retries, max_wait, remaining) {
            retry::Decision::RetryAfter(wait) => tokio::time::sleep(wait).await,
            retry::Decision::Stop(why) => {
                retry::explain_stop(&mut error, attempt, why);
                return Err((error, attempt));
            }
        }
    }
}

/// A rate-limit permit that took at least this long counts as a wait.
const LIMIT_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;

    fn reported_tokens(body: &[u8]) -> Option<u64> {
        Reply::parse(body).total_tokens()
    }

    #[test]
    fn reported_tokens_reads_the_usage_total() {
        assert_eq!(reported_tokens(br#"{"usage": {"total_tokens": 12, "prompt_tokens": 2}}"#), Some(12));
        assert_eq!(reported_tokens(br#"{"usage": null}"#), None);
        assert_eq!(reported_tokens(br#"{"choices": []}"#), None);
        assert_eq!(reported_tokens(b"not json"), None);
    }
}
