'use strict';

// Makes the calls a telemetry test asks for, each inside an active span of the real OpenTelemetry
// SDK (@opentelemetry/sdk-trace-base, AsyncLocalStorage context), and prints one JSON line per
// call: the caller span's trace and span ids and how the call ended. Telemetry and the audit trail
// are configured by the environment (OTEL_*, LITER_LLM_AUDIT_PATH); the spans leave at exit.
//
//   node test/support/otel-caller.js '{"calls": [{"request": {...}, "stream": false, "cancel_after_ms": 0}]}'

const api = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');

api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
api.trace.setGlobalTracerProvider(new BasicTracerProvider());
const tracer = api.trace.getTracer('otel-caller');
const liter = require('../..');

async function run(call) {
  const controller = new AbortController();
  const timer = call.cancel_after_ms > 0 ? setTimeout(() => controller.abort(), call.cancel_after_ms) : null;
  try {
    if (call.stream) {
      const stream = await liter.invokeStream(null, call.request, { signal: controller.signal });
      for await (const chunk of stream) void chunk;
    } else {
      await liter.invoke(null, call.request, { signal: controller.signal });
    }
    return 'ok';
  } catch (e) {
    if (typeof e.kind === 'string') return e.kind;
    return e.name === 'AbortError' ? 'cancelled' : 'unexpected';
  } finally {
    if (timer) clearTimeout(timer);
  }
}

async function main() {
  const plan = JSON.parse(process.argv[2]);
  for (const call of plan.calls) {
    await tracer.startActiveSpan('caller', async (span) => {
      const outcome = await run(call);
      span.end();
      const { traceId, spanId } = span.spanContext();
      process.stdout.write(`${JSON.stringify({ trace_id: traceId, span_id: spanId, outcome })}\n`);
    });
  }
}

main().catch((e) => {
  process.stderr.write(`otel-caller: ${e.name}\n`);
  process.exit(1);
});
