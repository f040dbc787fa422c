"""The caller's OpenTelemetry context, as the request's ``trace_context``.

OpenTelemetry is optional: this module never imports it. A program that traces has imported
``opentelemetry.trace`` already (the SDK and every instrumentation do), so the current span is
read only when that module is loaded; otherwise a call costs one dictionary look-up.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Optional


def current_trace_context() -> Optional[dict[str, str]]:
    """``{"traceparent", "tracestate"}`` of the current span, or None without a valid one."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    flags = int(context.trace_flags) & 0xFF
    headers = {"traceparent": f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"}
    state = context.trace_state.to_header() if context.trace_state else ""
    if state:
        headers["tracestate"] = state
    return headers


def with_trace_context(request: Mapping[str, Any]) -> Mapping[str, Any]:
    """The request with the ambient ``trace_context`` added; an explicit one wins."""
    if "trace_context" in request:
        return request
    headers = current_trace_context()
    if headers is None:
        return request
    return {**request, "trace_context": headers}
