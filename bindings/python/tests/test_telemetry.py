"""Telemetry as a real OTLP receiver sees it, with the caller's span made by the real
OpenTelemetry SDK; the audit trail and its verification."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Upstream
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from otlp_receiver import Receiver, attributes
from test_completion import OPENAI_OK

import liter_llm

DURATION_BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKEN_BOUNDS = [float(4**i) for i in range(14)]
STATUS_ERROR = 2


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()


def client(receiver: Receiver, **telemetry: Any) -> liter_llm.Client:
    return liter_llm.Client({"telemetry": {"endpoint": receiver.endpoint, "service_name": "py-test", **telemetry}})


def tracer() -> Any:
    return TracerProvider().get_tracer("liter-llm-tests")


def ids(span: Any) -> tuple[bytes, bytes]:
    ctx = span.get_span_context()
    return ctx.trace_id.to_bytes(16, "big"), ctx.span_id.to_bytes(8, "big")


def in_trace(trace_id: bytes) -> Any:
    return lambda s: s.trace_id == trace_id


def err(status: int) -> dict[str, Any]:
    return {"status": status, "headers": {"retry-after": "0"}, "json": {"error": {"message": f"status {status}"}}}


def test_a_retried_call_is_a_child_of_the_callers_span_with_a_child_per_attempt(
    upstream: Upstream, receiver: Receiver
) -> None:
    s = upstream.session(err(500), {"status": 200, "json": OPENAI_OK})
    c = client(receiver)
    with tracer().start_as_current_span("caller") as parent:
        r = c.completion(
            model="openai/gpt-4o-mini",
            prompt="hi",
            api_key="sk-test-1",
            base_url=s.base_url,
            temperature=0.2,
            top_p=0.9,
            max_tokens=50,
            seed=7,
            stop=["END"],
        )
    assert r["liter_llm"]["attempts"] == 2
    assert liter_llm.flush_telemetry()
    trace_id, parent_id = ids(parent)
    spans = receiver.wait_spans(in_trace(trace_id), count=3)
    (call,) = [sp for sp in spans if sp.name == "chat gpt-4o-mini"]
    attempts = sorted((sp for sp in spans if sp.name == "POST"), key=lambda sp: sp.start_time_unix_nano)
    assert call.parent_span_id == parent_id
    assert call.kind == 3  # SPAN_KIND_CLIENT
    a = attributes(call)
    host, port = s.base_url.removeprefix("http://").split("/")[0].split(":")
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert (a["server.address"], a["server.port"]) == (host, int(port))
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.seed"] == 7
    assert a["gen_ai.request.stop_sequences"] == ["END"]
    assert a["gen_ai.response.id"] == OPENAI_OK["id"]
    assert a["gen_ai.response.model"] == OPENAI_OK["model"]
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["gen_ai.usage.input_tokens"] == OPENAI_OK["usage"]["prompt_tokens"]
    assert a["gen_ai.usage.output_tokens"] == OPENAI_OK["usage"]["completion_tokens"]
    assert "error.type" not in a and call.status.code != STATUS_ERROR
    assert len(attempts) == 2
    first, second = (attributes(sp) for sp in attempts)
    assert all(sp.parent_span_id == call.span_id for sp in attempts)
    assert (first["liter_llm.attempt"], first["http.response.status_code"], first["error.type"]) == (1, 500, "500")
    assert (second["liter_llm.attempt"], second["http.response.status_code"]) == (2, 200)
    assert second["http.request.resend_count"] == 1 and "http.request.resend_count" not in first
    assert first["http.request.method"] == "POST" and first["url.full"].endswith("/chat/completions")
    assert attempts[0].status.code == STATUS_ERROR and attempts[1].status.code != STATUS_ERROR
    assert "gen_ai.usage.input_tokens" not in second, "tokens are counted once, on the call's span"


def test_a_streams_span_lasts_to_its_last_chunk_and_records_time_to_first_chunk(
    upstream: Upstream, receiver: Receiver
) -> None:
    chunks = [
        {"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": "gpt-4o-mini", "choices": [],
         "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    ]  # fmt: skip
    sse = [{"data": f"data: {json.dumps(c)}\n\n", "delay_ms": 100 if i == 2 else 0} for i, c in enumerate(chunks)]
    s = upstream.session({"status": 200, "headers": {"content-type": "text/event-stream"},
                          "chunks": [*sse, {"data": "data: [DONE]\n\n"}]})  # fmt: skip
    c = client(receiver)
    with tracer().start_as_current_span("caller") as parent:
        text = "".join(
            ch.choices[0].delta.content or ""
            for ch in c.completion(
                model="openai/gpt-4o-mini", prompt="hi", api_key="sk-test-1", base_url=s.base_url, stream=True
            )  # fmt: skip
            if ch.choices
        )
    assert text == "Hello"
    liter_llm.flush_telemetry()
    (call,) = receiver.wait_spans(lambda sp: in_trace(ids(parent)[0])(sp) and sp.name.startswith("chat"))
    a = attributes(call)
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (3, 2)
    ttfc = a["gen_ai.response.time_to_first_chunk"]
    duration = (call.end_time_unix_nano - call.start_time_unix_nano) / 1e9
    assert 0 < ttfc < duration and duration >= 0.1, "the span ends after the last (delayed) chunk"


def test_a_failed_call_records_its_error_type(upstream: Upstream, receiver: Receiver) -> None:
    s = upstream.session(err(401))
    c = client(receiver)
    with tracer().start_as_current_span("caller") as parent, pytest.raises(liter_llm.AuthenticationError):
        c.completion(model="openai/gpt-4o-mini", prompt="hi", api_key="sk-test-1", base_url=s.base_url)
    liter_llm.flush_telemetry()
    (call,) = receiver.wait_spans(lambda sp: in_trace(ids(parent)[0])(sp) and sp.name.startswith("chat"))
    assert attributes(call)["error.type"] == "authentication"
    assert call.status.code == STATUS_ERROR


def test_metrics_carry_the_advised_buckets_and_low_cardinality_attributes(
    upstream: Upstream, receiver: Receiver
) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK})
    c = client(receiver, service_name="py-metrics")
    c.completion(model="openai/gpt-4o-mini-metrics", prompt="hi", api_key="sk-test-1", base_url=s.base_url)
    liter_llm.flush_telemetry()

    def point_for(name: str) -> Any:
        found = receiver.wait_metrics(
            lambda m: (
                m.name == name
                and any(
                    attributes(p).get("gen_ai.request.model") == "gpt-4o-mini-metrics" for p in m.histogram.data_points
                )
            )
        )
        assert found, name
        return [
            p for p in found[-1].histogram.data_points if attributes(p)["gen_ai.request.model"] == "gpt-4o-mini-metrics"
        ]

    (duration,) = point_for("gen_ai.client.operation.duration")
    assert list(duration.explicit_bounds) == DURATION_BOUNDS
    assert duration.count == 1 and len(duration.bucket_counts) == len(DURATION_BOUNDS) + 1
    assert set(attributes(duration)) == {
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model",
        "server.address", "server.port",
    }  # fmt: skip
    tokens = point_for("gen_ai.client.token.usage")
    by_type = {attributes(p)["gen_ai.token.type"]: p for p in tokens}
    assert sorted(by_type) == ["input", "output"]
    assert by_type["input"].sum == OPENAI_OK["usage"]["prompt_tokens"]
    assert by_type["output"].sum == OPENAI_OK["usage"]["completion_tokens"]
    assert all(list(p.explicit_bounds) == TOKEN_BOUNDS for p in tokens)


def test_an_unsampled_parent_records_no_span(upstream: Upstream, receiver: Receiver) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    c = client(receiver)
    with TracerProvider(sampler=ALWAYS_OFF).get_tracer("t").start_as_current_span("caller") as parent:
        c.completion(model="openai/gpt-4o-mini", prompt="hi", api_key="sk-test-1", base_url=s.base_url)
    with tracer().start_as_current_span("later") as later:
        c.completion(model="openai/gpt-4o-mini", prompt="hi", api_key="sk-test-1", base_url=s.base_url)
    liter_llm.flush_telemetry()
    # Spans leave one client's queue in order: once the later call's span is here, the first
    # call's would be too.
    assert receiver.wait_spans(in_trace(ids(later)[0]), count=2)
    assert receiver.wait_spans(in_trace(ids(parent)[0]), timeout=0) == []


def test_an_explicit_trace_context_wins_and_content_is_captured_only_on_request(
    upstream: Upstream, receiver: Receiver
) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    explicit = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with tracer().start_as_current_span("ambient"):
        client(receiver).completion(model="openai/gpt-4o-mini", prompt="secret words", api_key="sk-test-1",
                                    base_url=s.base_url, trace_context={"traceparent": explicit})  # fmt: skip
    client(receiver, capture_message_content=True).completion(
        model="openai/gpt-4o-mini", prompt="words to keep", api_key="sk-test-1", base_url=s.base_url,
        trace_context={"traceparent": explicit.replace("b7ad", "c7ad")},
    )  # fmt: skip
    liter_llm.flush_telemetry()
    spans = receiver.wait_spans(lambda sp: sp.trace_id.hex() == explicit[3:35] and sp.name.startswith("chat"), 2)
    by_parent = {sp.parent_span_id.hex(): attributes(sp) for sp in spans}
    assert "gen_ai.input.messages" not in by_parent["b7ad6b7169203331"]
    kept = by_parent["c7ad6b7169203331"]
    assert json.loads(kept["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "words to keep"}]}
    ]
    assert (
        "Hello" in kept["gen_ai.output.messages"]
        or OPENAI_OK["choices"][0]["message"]["content"] in kept["gen_ai.output.messages"]
    )


def test_latest_experimental_conventions_switch_the_metric_names(
    upstream: Upstream, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    s = upstream.session({"status": 200, "json": OPENAI_OK})
    client(receiver).completion(
        model="openai/gpt-4o-mini-latest", prompt="hi", api_key="sk-test-1", base_url=s.base_url
    )
    liter_llm.flush_telemetry()
    names = {"gen_ai.client.inference.duration", "gen_ai.client.inference.usage.input_tokens"}
    found = receiver.wait_metrics(
        lambda m: (
            m.name in names
            and any(attributes(p).get("gen_ai.request.model") == "gpt-4o-mini-latest" for p in m.histogram.data_points)
        ),
        count=2,
    )
    assert {m.name for m in found} == names


CHILD = """
import sys
import liter_llm
from opentelemetry.sdk.trace import TracerProvider
with TracerProvider().get_tracer("child").start_as_current_span("script") as span:
    ctx = span.get_span_context()
    print(f"{ctx.trace_id:032x}", flush=True)
    liter_llm.completion(model="openai/gpt-4o-mini", prompt="hi", api_key="sk-test-1", base_url=sys.argv[1])
"""


def test_a_script_that_makes_one_call_and_exits_delivers_its_span(upstream: Upstream, receiver: Receiver) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK})
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "py-exit"}
    out = subprocess.run([sys.executable, "-c", CHILD, s.base_url], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    trace_id = bytes.fromhex(out.stdout.strip())
    # No flush here: the interpreter's exit sent it.
    assert [sp.name for sp in receiver.wait_spans(in_trace(trace_id), count=2) if sp.name.startswith("chat")] == [
        "chat gpt-4o-mini"
    ]


def test_importing_liter_llm_imports_no_opentelemetry() -> None:
    code = "import sys, liter_llm; print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_receiver_that_is_down_never_fails_a_call(upstream: Upstream) -> None:
    from otlp_receiver import free_port

    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    c = liter_llm.Client({"telemetry": {"endpoint": f"http://127.0.0.1:{free_port()}"}})
    for _ in range(5):
        assert c.completion(model="openai/gpt-4o-mini", prompt="hi", api_key="sk-test-1", base_url=s.base_url)
    assert liter_llm.flush_telemetry(10) is True


# ---------------------------------------------------------------------------------------------
# The audit trail.


def audited_calls(upstream: Upstream, path: Path, key: Any) -> None:
    audit: dict[str, Any] = {"path": str(path)}
    if key is not None:
        audit["hmac_key"] = key
    c = liter_llm.Client({"audit": audit})
    s = upstream.session(err(500), {"status": 200, "json": OPENAI_OK}, err(429), err(429), err(429))
    c.completion(model="openai/gpt-4o-mini", prompt="audit me", api_key="sk-test-audit", base_url=s.base_url)
    with pytest.raises(liter_llm.RateLimitError):
        c.completion(model="openai/gpt-4o-mini", prompt="audit me", api_key="sk-test-audit", base_url=s.base_url)
    c.completion(model="mock/m", prompt="audit me")
    c.close()


@pytest.mark.parametrize("key", [None, "audit-key"])
def test_the_audit_trail_verifies_and_names_the_first_altered_line(
    upstream: Upstream, tmp_path: Path, key: Any
) -> None:
    path = tmp_path / "audit.jsonl"
    audited_calls(upstream, path, key)
    text = path.read_text()
    assert "audit me" not in text and "sk-test-audit" not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["outcome"] for r in records] == ["ok", "rate_limited", "ok"]
    assert [r["attempts"] for r in records] == [2, 3, 0]
    assert records[0]["prompt_hash"].startswith("hmac-sha256:" if key else "sha256:")
    assert {r["chain"] for r in records} == {records[0]["chain"]} and [r["seq"] for r in records] == [1, 2, 3]
    expected_fields = {
        "ts", "request_id", "operation", "provider", "model", "outcome", "status", "attempts", "input_tokens",
        "output_tokens", "duration_ms", "key_id", "prompt_hash", "chain", "seq", "prev", "hash",
    }  # fmt: skip
    assert all(set(r) == expected_fields for r in records)
    assert liter_llm.verify_audit_log(path, hmac_key=key) == 3
    raw = path.read_bytes()
    second = raw.index(b"\n") + 1
    at = raw.index(b'"duration_ms":', second) + len(b'"duration_ms":')
    altered = raw[:at] + (b"9" if raw[at : at + 1] != b"9" else b"8") + raw[at + 1 :]
    path.write_bytes(altered)
    with pytest.raises(liter_llm.AuditLogError) as info:
        liter_llm.verify_audit_log(path, hmac_key=key)
    assert (info.value.line, info.value.verified) == (2, 1)
    assert "line 2" in str(info.value)
    lines = raw.splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])
    with pytest.raises(liter_llm.AuditLogError) as info:
        liter_llm.verify_audit_log(path, hmac_key=key)
    assert info.value.line == 2 and "missing or out of order" in info.value.reason
    with pytest.raises(liter_llm.BadRequestError):
        liter_llm.verify_audit_log(tmp_path / "absent.jsonl")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # forking a threaded process, on purpose
def test_a_forked_child_writes_its_own_chain_with_ids_of_its_own(tmp_path: Path) -> None:
    from test_fork import in_child

    path = tmp_path / "audit.jsonl"
    c = liter_llm.Client({"audit": {"path": str(path), "hmac_key": "k"}})
    # The parent's calls draw ids on this thread, whose id generator the child inherits.
    for _ in range(2):
        c.completion(model="mock/m", prompt="before the fork")

    def child() -> None:
        for _ in range(3):
            c.completion(model="mock/m", prompt="in the child")

    assert in_child(child) == 0
    for _ in range(3):
        c.completion(model="mock/m", prompt="in the parent")
    c.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 8
    assert len({r["request_id"] for r in records}) == 8, "a child never repeats its parent's ids"
    chains = {r["chain"] for r in records}
    assert len(chains) == 2
    assert liter_llm.verify_audit_log(path, hmac_key="k") == 8
