"""Starts the mock upstream and a gateway in front of it, on loopback, for the SDK tests (and the
process helpers of tests/scale and tests/static).

The binaries come from LITER_LLM_MOCK_UPSTREAM and LITER_LLM_GATEWAY (the release builds).
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import tempfile
import urllib.request
from typing import Any

KEY = "sk-gw-sdk-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(argv: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError(f"{argv[0]} did not start: {line!r}")
    return process, line.removeprefix("listening on ")


def put_script(mock: str, session: str, responses: list[dict[str, Any]]) -> None:
    body = json.dumps({"responses": responses, "repeat_last": True}).encode()
    request = urllib.request.Request(
        f"{mock}/__mock/sessions/{session}", data=body, method="PUT", headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


class Stack:
    """The mock upstream answering `responses` (the last one repeated), and a gateway whose
    openai provider points at it, with one client key limited to `key_rpm`."""

    def __init__(self, responses: list[dict[str, Any]], key_rpm: int = 1000) -> None:
        self.processes: list[subprocess.Popen[str]] = []
        mock_process, self.mock = start([os.environ["LITER_LLM_MOCK_UPSTREAM"], "--exit-on-stdin-eof"])
        self.processes.append(mock_process)
        session = "sdk"
        put_script(self.mock, session, responses)
        self.config = pathlib.Path(tempfile.mkdtemp()) / "liter-llm.toml"
        self.config.write_text(
            f'[providers.openai]\napi_key = "sk-upstream-sdk"\nbase_url = "{self.mock}/s/{session}"\n'
            "max_retries = 0\n\n"
            f'[server]\nlisten = "127.0.0.1:0"\nshutdown_grace = 0\n\n'
            f'[[server.keys]]\nname = "sdk"\nkey = "{KEY}"\nrpm = {key_rpm}\n'
        )
        gateway, self.url = start([os.environ["LITER_LLM_GATEWAY"], "serve", "--config", str(self.config)])
        self.processes.append(gateway)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.kill()
            process.wait(timeout=10)
