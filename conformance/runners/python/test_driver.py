"""The Python driver speaks the protocol of conformance/RUNNER_CONTRACT.md ("Drivers") and
reports the binding's native exception checks. Calls go to the built-in mock provider and to a
provider with no key, so no upstream is needed. Run: python -m pytest conformance/runners/python"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import liter_llm
from driver import exception_problems

DRIVER = Path(__file__).resolve().parent / "driver.py"
REQUEST = {"model": "demo", "messages": [{"role": "user", "content": "Hi"}]}


def session(*messages: dict[str, Any]) -> list[dict[str, Any]]:
    lines = "".join(json.dumps(message) + "\n" for message in messages)
    done = subprocess.run([sys.executable, str(DRIVER)], input=lines, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_protocol():
    replies = session(
        {"id": 1, "op": "hello", "protocol": 1},
        {"id": 2, "op": "invoke", "provider": "mock", "request": REQUEST},
        {"id": 3, "op": "env", "name": "OPENAI_API_KEY", "value": None},
        {"id": 4, "op": "invoke", "provider": "openai", "request": {**REQUEST, "model": "gpt-4o"}},
        {"id": 5, "op": "stream", "provider": "mock", "request": REQUEST, "cancel_after_chunks": 1},
        {"id": 6, "op": "stream", "provider": "mock", "request": REQUEST, "cancel_after_chunks": 0},
        {"id": 6, "op": "cancel"},
        {"id": 7, "op": "client_create", "config": {}},
        {"id": 8, "op": "invoke", "client": 1, "provider": "mock", "request": REQUEST, "async": True},
        {"id": 9, "op": "configure", "config": {"defaults": {"no_such_key": 1}}},
        {"id": 10, "op": "__init__"},
    )
    assert replies[0] == {"id": 1, "protocol": 1, "language": "python", "binding": liter_llm.__version__}
    assert replies[1]["response"]["object"] == "chat.completion"
    assert replies[2] == {"id": 3}
    assert (replies[3]["error"]["kind"], replies[3]["class"], replies[3]["native"]) == (
        "authentication",
        "AuthenticationError",
        [],
    )
    assert len(replies[4]["stream"]["chunks"]) == 1 and replies[4]["stream"]["cancelled"] is True
    assert replies[5] == {"id": 6, "event": "started"}
    assert replies[6] == {"id": 6, "stream": {"chunks": [], "cancelled": True}}
    assert replies[7] == {"id": 7, "client": 1}
    assert replies[8]["response"]["liter_llm"]["provider"] == "mock"
    assert replies[9]["error"]["kind"] == "invalid_request"
    assert replies[10] == {"id": 10, "problem": "unknown operation '__init__'"}


def test_exception_checks_find_disagreements():
    error = liter_llm.BadRequestError.__new__(liter_llm.BadRequestError)
    error.body = {"kind": "rate_limited", "message": "m", "status": 429, "provider": None, "retry_after": None}
    error.kind, error.message, error.status, error.provider, error.retry_after = "rate_limited", "m", 500, None, None
    assert exception_problems(error) == [
        "exception.status is 500 but the error body has 429",
        "a rate_limited error raised BadRequestError, not liter_llm.RateLimitError",
    ]
