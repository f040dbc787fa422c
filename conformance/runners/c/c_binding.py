"""The C ABI as a runner binding: the calls of each case run in `invoke` (invoke.c), a plain C
program linked to the shared library, as one child process that inherits the case's environment,
so that a case's configuration and what one call leaves to the next (a rate-limit budget) are as
in the other languages. The Python runner does the rest of the contract, so the C column checks
exactly what a C caller gets back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from typing import Any

# One call's (result, exception, problem), as the runner's `Call` (runners/python/run.py).
Call = tuple[dict[str, Any] | None, Exception | None, str | None]


class LiterLLMError(Exception):
    """An error result of the C ABI: the error object, with its fields as attributes."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.body = body
        for field in ("kind", "status", "provider", "retry_after", "message"):
            setattr(self, field, body.get(field))


class CBinding:
    def __init__(self, program: str, class_names: dict[str, str]) -> None:
        """`class_names`: the error class each kind maps to (the runner's table)."""
        self.program = program
        self.LiterLLMError = LiterLLMError
        self._classes = {kind: type(name, (LiterLLMError,), {}) for kind, name in class_names.items()}
        for kind, name in class_names.items():
            setattr(self, name, self._classes[kind])

    def _error(self, body: dict[str, Any]) -> LiterLLMError:
        return self._classes.get(body.get("kind"), LiterLLMError)(body)

    def calls(self, case: dict[str, Any], request: Any, in_flight: Callable[[], None]) -> list[Call]:
        """Every call of the case: `invoke --calls N [--config JSON] [--stream CANCEL_AFTER]`. With
        `cancel_after_chunks` 0 the program cancels on SIGUSR1, sent once `in_flight()` returns."""
        argv = [self.program, "--calls", str(case.get("calls", 1))]
        if "config" in case:
            argv += ["--config", json.dumps(case["config"])]
        cancel_after = None
        if "stream" in case:
            cancel_after = case["stream"].get("cancel_after_chunks")
            argv += ["--stream", str(-1 if cancel_after is None else cancel_after)]
        if case["provider"] is not None:
            argv.append(case["provider"])
        with subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ)
        ) as process:
            assert process.stdin is not None
            process.stdin.write(json.dumps(request).encode())
            process.stdin.close()
            if cancel_after == 0:
                in_flight()
                process.send_signal(signal.SIGUSR1)
            assert process.stdout is not None and process.stderr is not None
            stdout = process.stdout.read()  # the program writes little to stderr, so this cannot block it
            stderr = process.stderr.read()
            process.wait(timeout=120)
        calls = self._parse("stream" in case, stdout.decode("utf-8"))
        if process.returncode not in (0, 4):
            calls.append((None, None, f"{self.program} exited {process.returncode}: {stderr.decode(errors='replace')}"))
        elif len(calls) < case.get("calls", 1) and not (calls and calls[-1][0] is None):
            calls.append((None, None, f"{self.program} ended after {len(calls)} of {case.get('calls', 1)} calls"))
        return calls

    def _parse(self, streaming: bool, output: str) -> list[Call]:
        calls: list[Call] = []
        chunks: list[Any] = []
        for line in output.splitlines():
            tag, _, text = line.partition(" ")
            if tag == "configure_error":
                body = json.loads(text)["error"]
                return [(None, None, f"configure refused the case's config: {json.dumps(body, sort_keys=True)}")]
            if tag == "chunk":
                chunks.append(json.loads(text))
                continue
            if tag == "response":
                calls.append(({"response": json.loads(text)}, None, None))
            elif tag == "error":
                body = json.loads(text)["error"]
                result = {"stream": {"chunks": chunks, "error": body}} if streaming else {"error": body}
                calls.append((result, self._error(body), None))
            elif tag == "assembled":
                calls.append(({"stream": {"chunks": chunks, "assembled": json.loads(text)}}, None, None))
            elif tag == "cancelled":
                calls.append(({"stream": {"chunks": chunks, "cancelled": True}}, None, None))
            elif tag == "assemble_error":
                calls.append((None, None, f"the assembler refused the chunks: {text}"))
            chunks = []
        return calls
