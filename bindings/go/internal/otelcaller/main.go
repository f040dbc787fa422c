// Command otelcaller makes the calls a telemetry test asks for, each inside a span of the real
// OpenTelemetry SDK, and prints one JSON line per call: the caller span's trace and span ids and
// how the call ended. Telemetry and the audit trail are configured by the environment (OTEL_*,
// LITER_LLM_AUDIT_PATH); the spans leave through literllm.FlushTelemetry before main returns.
//
//	otelcaller '{"calls": [{"request": {...}, "stream": false, "cancel_after_ms": 0}]}'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

type call struct {
	Request       json.RawMessage `json:"request"`
	Stream        bool            `json:"stream"`
	CancelAfterMs int             `json:"cancel_after_ms"`
}

func main() {
	var plan struct {
		Calls []call `json:"calls"`
	}
	if len(os.Args) != 2 || json.Unmarshal([]byte(os.Args[1]), &plan) != nil {
		fmt.Fprintln(os.Stderr, "usage: otelcaller '{\"calls\": [...]}'")
		os.Exit(2)
	}
	defer literllm.FlushTelemetry(10 * time.Second)
	tracer := sdktrace.NewTracerProvider().Tracer("otelcaller")
	for _, c := range plan.Calls {
		ctx, span := tracer.Start(context.Background(), "caller")
		ctx, cancel := context.WithCancel(ctx)
		if c.CancelAfterMs > 0 {
			time.AfterFunc(time.Duration(c.CancelAfterMs)*time.Millisecond, cancel)
		}
		err := run(ctx, c)
		cancel()
		span.End()
		outcome := "ok"
		var e *literllm.Error
		switch {
		case errors.As(err, &e):
			outcome = string(e.Kind)
		case errors.Is(err, context.Canceled):
			outcome = "cancelled"
		case err != nil:
			outcome = "unexpected"
		}
		line, _ := json.Marshal(map[string]string{
			"trace_id": span.SpanContext().TraceID().String(),
			"span_id":  span.SpanContext().SpanID().String(),
			"outcome":  outcome,
		})
		fmt.Println(string(line))
	}
}

func run(ctx context.Context, c call) error {
	if !c.Stream {
		_, err := literllm.Invoke(ctx, "", c.Request)
		return err
	}
	stream, err := literllm.StreamInvoke(ctx, "", c.Request)
	if err != nil {
		return err
	}
	defer stream.Close()
	for _, err := range stream.All() {
		if err != nil {
			return err
		}
	}
	return nil
}
