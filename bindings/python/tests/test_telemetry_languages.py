"""Telemetry and the audit trail from Python, Node and Go alike: each language's caller
(tests/otel_caller.py, bindings/node/test/support/otel-caller.js, bindings/go/internal/otelcaller)
makes the same calls (success, error, retry, fallback, stream, cancellation) inside a span of its
own OpenTelemetry SDK, in a process that exits right after. One real OTLP receiver and one audit
file take what all three send; a canary key and prompt must reach neither, nor any output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Upstream
from otlp_receiver import Receiver, attributes
from test_completion import OPENAI_OK
from test_telemetry import STATUS_ERROR, in_trace

import liter_llm

CANARY_KEY = f"sk-canary-{uuid.uuid4().hex}"
CANARY_PROMPT = f"canary prompt {uuid.uuid4().hex}"
AUDIT_KEY = "audit-key-for-tests"
GO_CALLER = ROOT / "build" / "otelcaller"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def go_caller() -> Path:
    go = shutil.which("go")
    if go is None or not (ROOT / "bindings" / "go" / "lib").is_dir():
        pytest.fail("the Go caller needs go and the Go package's library: run `make go-lib`")
    # Go's build cache does not see a changed C library (golang/go#24355); as the Makefile does,
    # a define naming the archives' size and time makes a new library a new build.
    stamp = "_".join(f"{a.stat().st_size}.{int(a.stat().st_mtime)}" for a in sorted(ROOT.glob("bindings/go/lib/*/*.a")))
    subprocess.run(
        [go, "build", "-o", str(GO_CALLER), "./internal/otelcaller"],
        cwd=ROOT / "bindings" / "go",
        env={**os.environ, "CGO_CFLAGS": f"-O2 -g -DLITER_LLM_LIBRARIES={stamp}"},
        check=True,
        timeout=600,
    )
    return GO_CALLER


def chunk(content: str | None, finish: str | None = None, usage: Any = None) -> str:
    body: dict[str, Any] = {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [],
    }
    if content is not None or finish is not None:
        body["choices"] = [{"index": 0, "delta": {"content": content or ""}, "finish_reason": finish}]
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


def plan(upstream: Upstream) -> tuple[list[dict[str, Any]], list[str]]:
    """The calls every language makes (each on fresh upstream sessions) and their outcomes."""

    def request(session: Any, **extra: Any) -> dict[str, Any]:
        return {"model": "openai/gpt-4o-mini", "prompt": CANARY_PROMPT, "api_key": CANARY_KEY,
                "base_url": session.base_url, **extra}  # fmt: skip

    fail = {"status": 503, "headers": {"retry-after": "0"}, "json": {"error": {"message": "down"}}}
    sse = {
        "status": 200,
        "headers": {"content-type": "text/event-stream"},
        "chunks": [{"data": chunk("Hi")}, {"data": chunk(None, "stop")},
                   {"data": chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4})},
                   {"data": "data: [DONE]\n\n"}],
    }  # fmt: skip
    calls: list[dict[str, Any]] = [
        {"request": request(upstream.session({"status": 200, "json": OPENAI_OK}))},
        {"request": request(upstream.session({"status": 401, "json": {"error": {"message": "bad key"}}}))},
        {"request": request(upstream.session(fail, {"status": 200, "json": OPENAI_OK}))},
        {
            "request": request(
                upstream.session(fail, {"status": 200, "json": OPENAI_OK}),
                max_retries=0,
                fallbacks=["openai/gpt-4o-mini-fallback"],
            )
        },  # fmt: skip
        {"request": request(upstream.session(sse)), "stream": True},
        {
            "request": request(upstream.session({"status": 200, "delay_ms": 3000, "json": OPENAI_OK})),
            "cancel_after_ms": 300,
        },  # fmt: skip
    ]
    return calls, ["ok", "authentication", "ok", "ok", "ok", "cancelled"]


def caller(language: str, go_caller: Path) -> list[str]:
    if language == "python":
        return [sys.executable, str(Path(__file__).with_name("otel_caller.py"))]
    if language == "node":
        return ["node", str(ROOT / "bindings" / "node" / "test" / "support" / "otel-caller.js")]
    return [str(go_caller)]


def test_every_language_joins_the_callers_trace_and_leaks_no_canary(
    upstream: Upstream, receiver: Receiver, go_caller: Path, tmp_path: Path
) -> None:
    audit_path = tmp_path / "audit.jsonl"
    seen: dict[str, dict[str, Any]] = {}
    for language in ("python", "node", "go"):
        calls, outcomes = plan(upstream)
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": f"canary-{language}",
            "LITER_LLM_AUDIT_PATH": str(audit_path),
            "LITER_LLM_AUDIT_HMAC_KEY": AUDIT_KEY,
        }
        out = subprocess.run(
            [*caller(language, go_caller), json.dumps({"calls": calls})],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, f"{language}: {out.stderr}"
        for stream in (out.stdout, out.stderr):
            assert CANARY_KEY not in stream and CANARY_PROMPT not in stream, language
        results = [json.loads(line) for line in out.stdout.splitlines()]
        assert [r["outcome"] for r in results] == outcomes, language
        # The spans arrive without any flush from here: each process sent them as it exited.
        for i, result in enumerate(results):
            trace_id = bytes.fromhex(result["trace_id"])
            expected = {2: 3, 3: 3}.get(i, 2)  # the call's span and one per HTTP attempt
            spans = receiver.wait_spans(in_trace(trace_id), count=expected, timeout=30)
            calls_seen = [sp for sp in spans if sp.name == "chat gpt-4o-mini"]
            assert len(calls_seen) == 1, f"{language} call {i}: {[sp.name for sp in spans]} of {len(receiver.spans)}"
            call = calls_seen[0]
            attempts = [sp for sp in spans if sp.name == "POST"]
            assert call.parent_span_id.hex() == result["span_id"], f"{language} call {i}: a child of the caller"
            assert len(attempts) == expected - 1 and all(a.parent_span_id == call.span_id for a in attempts)
            a = attributes(call)
            assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.request.model"] == "gpt-4o-mini"
            if outcomes[i] == "ok":
                assert "error.type" not in a
            else:
                assert a["error.type"] == outcomes[i] and call.status.code == STATUS_ERROR
            if i == 4:
                assert a["gen_ai.usage.output_tokens"] == 1 and "gen_ai.response.time_to_first_chunk" in a
            if i == 0:
                seen[language] = {
                    "name": call.name,
                    "trace_id": call.trace_id.hex(),
                    "span_id": call.span_id.hex(),
                    "parent_span_id": call.parent_span_id.hex(),
                    "attributes": a,
                }
    # Nothing the receiver got holds the canaries (content capture is off).
    everything = b"".join(sp.SerializeToString() for sp in receiver.spans) + b"".join(
        m.SerializeToString() for m in receiver.metrics
    )
    assert CANARY_KEY.encode() not in everything and CANARY_PROMPT.encode() not in everything
    assert b"canary" not in everything.replace(b"canary-python", b"").replace(b"canary-node", b"").replace(
        b"canary-go", b""
    )
    fallbacks = receiver.wait_metrics(lambda m: m.name == "liter_llm.client.fallbacks")
    assert fallbacks and all(p.as_int >= 1 for p in fallbacks[-1].sum.data_points)
    durations = receiver.wait_metrics(lambda m: m.name == "gen_ai.client.operation.duration")
    assert durations and all(p.count >= 1 for p in durations[-1].histogram.data_points)
    # The audit file: three processes, three chains, one record per call; no canary; it
    # verifies, and one altered byte fails at its line.
    raw = audit_path.read_bytes()
    assert CANARY_KEY.encode() not in raw and CANARY_PROMPT.encode() not in raw
    records = [json.loads(line) for line in raw.splitlines()]
    assert len(records) == 18 and len({r["chain"] for r in records}) == 3
    assert [r["outcome"] for r in records] == ["ok", "authentication", "ok", "ok", "ok", "cancelled"] * 3
    assert len({r["prompt_hash"] for r in records}) == 1, "the same messages hash alike in every language"
    assert liter_llm.verify_audit_log(audit_path, hmac_key=AUDIT_KEY) == 18
    lines = raw.splitlines(keepends=True)
    target = 7  # 1-based: the second language's first record
    line = lines[target - 1]
    at = line.index(b'"outcome":"') + len(b'"outcome":"')
    lines[target - 1] = line[:at] + b"O" + line[at + 1 :]
    audit_path.write_bytes(b"".join(lines))
    with pytest.raises(liter_llm.AuditLogError) as info:
        liter_llm.verify_audit_log(audit_path, hmac_key=AUDIT_KEY)
    assert info.value.line == target
    report = ROOT / "build" / "telemetry-spans.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(seen, indent=2, default=str))
