package literllm

import (
	"context"
	"encoding/json"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// withTraceContext puts the span of ctx (go.opentelemetry.io/otel/trace) into the request's
// `trace_context` when the request sets none, so that the call's span is a child of the caller's
// and keeps its sampling decision. A ctx without a valid span leaves the request unchanged.
func withTraceContext(ctx context.Context, body []byte) []byte {
	span := trace.SpanContextFromContext(ctx)
	if !span.IsValid() {
		return body
	}
	value := make([]byte, 0, 128)
	value = append(value, `{"traceparent":"00-`...)
	value = append(value, span.TraceID().String()...)
	value = append(value, '-')
	value = append(value, span.SpanID().String()...)
	value = append(value, '-')
	value = append(value, span.TraceFlags().String()...)
	value = append(value, '"')
	if state := span.TraceState().String(); state != "" {
		value = append(value, `,"tracestate":`...)
		quoted, _ := json.Marshal(state) // a string always encodes
		value = append(value, quoted...)
	}
	value = append(value, '}')
	return defaultMember(body, "trace_context", value)
}

// FlushTelemetry sends the spans and metrics that telemetry holds now (docs/telemetry.md),
// waiting at most timeout, and reports whether everything was sent. A Go program has no exit
// hook that could do it: call it before main returns (defer literllm.FlushTelemetry(5 *
// time.Second)) so that the last calls' spans are delivered. Calls keep working during and after
// it. With telemetry off it returns true at once.
func FlushTelemetry(timeout time.Duration) bool {
	ms := timeout.Milliseconds()
	if ms < 0 {
		ms = 0
	}
	if ms > 1<<31 {
		ms = 1 << 31
	}
	return telemetryFlushNative(uint32(ms))
}
