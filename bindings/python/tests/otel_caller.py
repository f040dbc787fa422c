"""Makes the calls a telemetry test asks for, each inside a span of the real OpenTelemetry SDK,
and prints one JSON line per call: the caller span's trace and span ids and how the call ended.
The Python counterpart of bindings/node/test/support/otel-caller.js and
bindings/go/internal/otelcaller; telemetry and the audit trail are configured by the environment.

    python otel_caller.py '{"calls": [{"request": {...}, "stream": false, "cancel_after_ms": 0}]}'
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

import liter_llm


async def run(call: dict[str, Any]) -> str:
    async def send() -> None:
        if call.get("stream"):
            async for _ in liter_llm.ainvoke_stream(None, call["request"]):
                pass
        else:
            await liter_llm.ainvoke(None, call["request"])

    try:
        cancel_after = call.get("cancel_after_ms", 0)
        if cancel_after:
            await asyncio.wait_for(send(), cancel_after / 1000)
        else:
            await send()
        return "ok"
    except liter_llm.LiterLLMError as e:
        return e.kind
    except asyncio.TimeoutError:
        return "cancelled"


async def main() -> None:
    plan = json.loads(sys.argv[1])
    tracer = TracerProvider().get_tracer("otel-caller")
    for call in plan["calls"]:
        with tracer.start_as_current_span("caller") as span:
            outcome = await run(call)
        ctx = span.get_span_context()
        print(json.dumps({"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}", "outcome": outcome}))


if __name__ == "__main__":
    asyncio.run(main())
