//! What the call loop reports about a call: to its telemetry span and metrics, and to its audit
//! record. With both off an `Observation` is empty and every method returns at once.

use std::sync::Arc;
use std::time::Instant;

use crate::audit::{self, Audit, Record};
use crate::error::Error;
use crate::plan::Plan;
use crate::response::{Observing, Reply};
use crate::telemetry::context::Parent;
use crate::telemetry::{server_of, CallSpan, CallStart, ResponseFacts, Telemetry};

/// A client's telemetry and audit trail, either of which may be off.
#[derive(Clone, Default)]
pub(crate) struct Observers {
    pub(crate) telemetry: Option<Arc<Telemetry>>,
    pub(crate) audit: Option<Arc<Audit>>,
}

impl Observers {
    pub(crate) fn is_off(&self) -> bool {
        self.telemetry.is_none() && self.audit.is_none()
    }
}

/// One logical call being observed.
pub(crate) struct Observation(Option<Box<Observed>>);

struct Observed {
    span: Option<CallSpan>,
    audit: Option<Arc<Audit>>,
    started: Instant,
    facts: ResponseFacts,
    capture: bool,
    operation: &'static str,
    /// The provider and `provider/model` last tried.
    provider: &'static str,
    model: String,
    /// HTTP attempts across the chain.
    attempts: u32,
    status: Option<u16>,
    key_id: Option<String>,
    prompt_hash: String,
    /// Whether the server attributes were set (from the first model's URL).
    located: bool,
    finished: bool,
}

impl Observation {
    pub(crate) fn start(plan: &Plan, observers: &Observers, streaming: bool) -> Observation {
        if observers.is_off() {
            return Observation(None);
        }
        let first = &plan.targets[0];
        let parent = plan
            .request
            .options
            .trace_context
            .as_ref()
            .and_then(|t| Parent::parse(&t.traceparent, t.tracestate.as_deref()));
        let span = observers.telemetry.as_ref().map(|t| {
            CallSpan::start(
                t,
                CallStart {
                    provider: first.provider.name(),
                    request_model: &first.model,
                    server: None,
                    streaming,
                    parent,
                    request: &plan.request,
                },
            )
        });
        let capture = observers.telemetry.as_ref().is_some_and(|t| t.settings.capture_content);
        let prompt_hash =
            observers.audit.as_ref().map(|a| a.prompt_hash(plan.request.body().get("messages"))).unwrap_or_default();
        Observation(Some(Box::new(Observed {
            span,
            audit: observers.audit.clone(),
            started: Instant::now(),
            facts: ResponseFacts::default(),
            capture,
            operation: plan.request.operation_name(),
            provider: first.provider.name(),
            // Only the audit record names the model.
            model: if observers.audit.is_some() {
                format!("{}/{}", first.provider.name(), first.model)
            } else {
                String::new()
            },
            attempts: 0,
            status: None,
            key_id: None,
            prompt_hash,
            located: false,
            finished: false,
        })))
    }

    /// The call is about to try `provider/model` at `url` with `key`.
    pub(crate) fn target(&mut self, provider: &'static str, model: &str, url: &reqwest::Url, key: &str) {
        let Some(o) = self.0.as_mut() else { return };
        o.provider = provider;
        if o.audit.is_some() {
            o.model = format!("{provider}/{model}");
            o.key_id = Some(audit::key_id(key));
        }
        if !o.located {
            o.located = true;
            if let (Some(span), Some(server)) = (o.span.as_mut(), server_of(url)) {
                span.set_server(server);
            }
        }
    }

    /// An HTTP attempt (numbered from 1 per model) starts; returns the `traceparent` to send
    /// upstream when forwarding is on.
    pub(crate) fn attempt_started(&mut self, number: u32, url: &reqwest::Url) -> Option<String> {
        let o = self.0.as_mut()?;
        o.attempts += 1;
        let span = o.span.as_mut()?;
        span.attempt_started(number, url);
        span.attempt_traceparent()
    }

    pub(crate) fn attempt_ended(&mut self, outcome: std::result::Result<u16, &Error>) {
        let Some(o) = self.0.as_mut() else { return };
        o.status = match outcome {
            Ok(status) => Some(status),
            Err(e) => e.status,
        };
        if let Some(span) = o.span.as_mut() {
            span.attempt_ended(outcome);
        }
    }

    pub(crate) fn fell_back(&mut self) {
        if let Some(span) = self.0.as_mut().and_then(|o| o.span.as_mut()) {
            span.fell_back();
        }
    }

    pub(crate) fn waited_for_limit(&mut self) {
        if let Some(span) = self.0.as_mut().and_then(|o| o.span.as_mut()) {
            span.waited_for_limit();
        }
    }

    /// Whether anything observes the call (so that callers can skip work made only for it).
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// A stream chunk, as delivered to the caller (read whenever the call is observed).
    pub(crate) fn chunk(&mut self, chunk: Option<&Reply<'_>>) {
        let Some(o) = self.0.as_mut() else { return };
        if let Some(span) = o.span.as_mut() {
            span.first_chunk();
        }
        if let Some(chunk) = chunk {
            o.facts.read_reply(chunk, o.capture);
        }
    }

    /// What the provider's check should read of the answer for the observers.
    pub(crate) fn observing(&self) -> Observing {
        match &self.0 {
            None => Observing::No,
            Some(o) => Observing::Yes { capture: o.capture },
        }
    }

    /// The whole response's facts, read by the provider's check (`Observing::facts`).
    pub(crate) fn response_facts(&mut self, facts: ResponseFacts) {
        let Some(o) = self.0.as_mut() else { return };
        o.facts.absorb(facts);
    }

    /// The whole response, as returned to the caller.
    pub(crate) fn response(&mut self, reply: &Reply<'_>) {
        let Some(o) = self.0.as_mut() else { return };
        o.facts.read_reply(reply, o.capture);
    }

    /// The call ended (`error` when it failed).
    pub(crate) fn finish(mut self, error: Option<&Error>) {
        if let Some(mut o) = self.0.take() {
            o.end(error);
        }
    }
}

impl Observed {
    fn end(&mut self, error: Option<&Error>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let (input_tokens, output_tokens) = (self.facts.input_tokens, self.facts.output_tokens);
        if let Some(span) = self.span.take() {
            span.finish(std::mem::take(&mut self.facts), error);
        }
        if let Some(audit) = &self.audit {
            let pid = std::process::id();
            let status = error.and_then(|e| e.status).or(self.status);
            audit.write(
                Record {
                    request_id: Audit::request_id(pid),
                    operation: self.operation,
                    provider: self.provider.to_owned(),
                    model: self.model.clone(),
                    outcome: error.map(|e| e.kind.as_str().to_owned()).unwrap_or_else(|| "ok".to_owned()),
                    status: if error.is_none() && self.attempts == 0 { None } else { status },
                    attempts: self.attempts,
                    input_tokens,
                    output_tokens,
                    duration_ms: self.started.elapsed().as_millis() as u64,
                    key_id: self.key_id.take(),
                    prompt_hash: std::mem::take(&mut self.prompt_hash),
                },
                pid,
            );
        }
    }
}

impl Drop for Observed {
    /// A call dropped before it ended (cancelled, or its client closed) is recorded as
    /// cancelled.
    fn drop(&mut self) {
        if !self.finished {
            let cancelled = Error::new(crate::error::ErrorKind::Cancelled, "the call was cancelled");
            self.end(Some(&cancelled));
        }
    }
}
