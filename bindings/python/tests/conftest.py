"""Fixtures: the workspace's mock upstream, started once per test session on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_BINARY = ROOT / "core" / "target" / "release" / "liter-llm-mock-upstream"

PROVIDER_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "CO_API_KEY",
    "COHERE_API_KEY",
    "CO_API_URL",
    "COHERE_BASE_URL",
)


class Upstream:
    """A scripted session on the mock upstream."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def session(self, *responses: dict[str, Any], repeat_last: bool = False) -> Session:
        sid = uuid.uuid4().hex
        self._send("PUT", f"/__mock/sessions/{sid}", {"responses": list(responses), "repeat_last": repeat_last})
        return Session(self, sid)


class Session:
    def __init__(self, upstream: Upstream, sid: str) -> None:
        self.upstream = upstream
        self.sid = sid
        self.base_url = f"{upstream.url}/s/{sid}"

    def requests(self) -> list[dict[str, Any]]:
        return self.upstream._send("GET", f"/__mock/sessions/{self.sid}/requests")["requests"]  # type: ignore[no-any-return]

    def settled_requests(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The journal once every answer has ended (its `outcome` is no longer `pending`)."""
        deadline = time.monotonic() + timeout
        while True:
            requests = self.requests()
            if all(r["outcome"] != "pending" for r in requests) or time.monotonic() > deadline:
                return requests
            time.sleep(0.02)


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    binary = Path(os.environ.get("LITER_LLM_MOCK_UPSTREAM", DEFAULT_BINARY))
    if not binary.exists():
        pytest.fail(f"the mock upstream is not built at {binary}; run `make build`")
    proc = subprocess.Popen(
        [str(binary), "--addr", "127.0.0.1:0", "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on "), line
    try:
        yield Upstream(line.removeprefix("listening on "))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
