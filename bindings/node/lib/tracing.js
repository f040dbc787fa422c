'use strict';

// The caller's OpenTelemetry context, as the request's `trace_context`. `@opentelemetry/api` is an
// optional peer dependency: it is loaded only once the application has registered it (the API
// keeps its global state under this symbol), so a program without OpenTelemetry loads nothing.

const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');
let api = null;

function loadApi() {
  if (api !== null) return api;
  if (globalThis[API_GLOBAL] === undefined) return null;
  try {
    api = require('@opentelemetry/api');
  } catch {
    api = false;
  }
  return api;
}

/** `{ traceparent, tracestate }` of the active span, or null without a valid one. */
function currentTraceContext() {
  const otel = loadApi();
  if (!otel) return null;
  const span = otel.trace.getSpanContext(otel.context.active());
  if (!span || !otel.isSpanContextValid(span)) return null;
  const flags = (span.traceFlags & 0xff).toString(16).padStart(2, '0');
  const headers = { traceparent: `00-${span.traceId}-${span.spanId}-${flags}` };
  const state = span.traceState ? span.traceState.serialize() : '';
  if (state) headers.tracestate = state;
  return headers;
}

/** The request with the ambient `trace_context` added; an explicit one wins. */
function withTraceContext(request) {
  if (request === null || typeof request !== 'object' || Array.isArray(request) || 'trace_context' in request) {
    return request;
  }
  const headers = currentTraceContext();
  return headers === null ? request : { ...request, trace_context: headers };
}

module.exports = { withTraceContext };
