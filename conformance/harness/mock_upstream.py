"""Starts (or connects to) `liter-llm-mock-upstream` and drives its control API."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / "core" / "target" / "release" / "liter-llm-mock-upstream"
SETTLE_TIMEOUT_SECONDS = 5.0
SETTLE_POLL_SECONDS = 0.02
STARTUP_TIMEOUT_SECONDS = 10
_LISTENING = re.compile(r"^listening on (http://127\.0\.0\.1:\d+)$")

# The mock is always on 127.0.0.1: never send these calls through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MockUpstreamError(RuntimeError):
    pass


class MockUpstream:
    """A running mock upstream. Use as a context manager; `close()` stops a server it started."""

    def __init__(self, url: str, process: subprocess.Popen[bytes] | None = None) -> None:
        self.url = url.rstrip("/")
        self._process = process

    @classmethod
    def from_environment(cls) -> MockUpstream:
        """`LITER_LLM_MOCK_URL` when set, else a server started from `LITER_LLM_MOCK_UPSTREAM` or the
        release build."""
        url = os.environ.get("LITER_LLM_MOCK_URL")
        if url:
            upstream = cls(url)
        else:
            upstream = cls.start(Path(os.environ.get("LITER_LLM_MOCK_UPSTREAM") or DEFAULT_BINARY))
        health = upstream._call("GET", "/__mock/health")
        if health != {"ok": True}:
            upstream.close()
            raise MockUpstreamError(f"{upstream.url}/__mock/health answered {health!r}")
        return upstream

    @classmethod
    def start(cls, binary: Path) -> MockUpstream:
        if not binary.is_file():
            raise MockUpstreamError(
                f"{binary} does not exist; build it with `cargo build --release -p liter-llm-mock-upstream` "
                "in core/, or set LITER_LLM_MOCK_URL to a running server"
            )
        # With --exit-on-stdin-eof the server ends when this process does, even on a crash.
        process = subprocess.Popen([str(binary), "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT_SECONDS)
        line = process.stdout.readline().decode("utf-8", "replace").strip() if ready else ""
        match = _LISTENING.match(line)
        if not match:
            process.kill()
            process.wait()
            raise MockUpstreamError(
                f"{binary} did not announce its address within {STARTUP_TIMEOUT_SECONDS}s (got {line!r})"
            )
        return cls(match.group(1), process)

    def close(self) -> None:
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self) -> MockUpstream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def authority(self) -> str:
        """`127.0.0.1:PORT`, as it appears in URLs and error messages."""
        return self.url.removeprefix("http://")

    def session_url(self, session: str) -> str:
        return f"{self.url}/s/{session}"

    def put_session(self, session: str, script: dict[str, Any]) -> None:
        self._call("PUT", f"/__mock/sessions/{session}", script)

    def requests(self, session: str) -> list[dict[str, Any]]:
        journal: list[dict[str, Any]] = self._call("GET", f"/__mock/sessions/{session}/requests")["requests"]
        return journal

    def wait_for_request(self, session: str, timeout: float = SETTLE_TIMEOUT_SECONDS) -> None:
        """Returns once the session's journal has a request, or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.requests(session) and time.monotonic() < deadline:
            time.sleep(SETTLE_POLL_SECONDS)

    def settled_requests(self, session: str, timeout: float = SETTLE_TIMEOUT_SECONDS) -> list[dict[str, Any]]:
        """The journal once no answer is `pending` any more, or as it is after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            journal = self.requests(session)
            if all(request["outcome"] != "pending" for request in journal) or time.monotonic() >= deadline:
                return journal
            time.sleep(SETTLE_POLL_SECONDS)

    def delete_session(self, session: str) -> None:
        self._call("DELETE", f"/__mock/sessions/{session}")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(request, timeout=30) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            raise MockUpstreamError(f"{method} {path} answered {error.code}: {detail}") from None
        except OSError as error:
            raise MockUpstreamError(f"{method} {self.url}{path} failed: {error}") from None
        return json.loads(payload) if payload else None
