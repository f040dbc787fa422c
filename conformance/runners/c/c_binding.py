"""The C ABI as a runner binding: each call runs `invoke` (invoke.c), a plain C program linked to
the shared library, in a child process that inherits the case's environment. The Python runner
does the rest of the contract, so the C column checks exactly what a C caller gets back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from typing import Any, Callable, Optional



class LiterLLMError(Exception):
    """An error result of liter_llm_invoke: the error object, with its fields as attributes."""

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

    def stream(
        self, provider: Optional[str], request: Any, cancel_after: Optional[int], in_flight: Callable[[], None]
    ) -> tuple[dict[str, Any], Optional[Exception]]:
        """A stream through liter_llm_stream() (`invoke --stream`): the runner's stream result, and
        the error class instance when the stream ended with an error. With `cancel_after` 0 the
        program cancels on SIGUSR1, sent once `in_flight()` returns."""
        argv = [self.program, "--stream", str(-1 if cancel_after is None else cancel_after)]
        if provider is not None:
            argv.append(provider)
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
        if process.returncode not in (0, 4):
            raise RuntimeError(f"{self.program} exited {process.returncode}: {stderr.decode(errors='replace')}")
        chunks: list[Any] = []
        for line in stdout.decode("utf-8").splitlines():
            tag, _, text = line.partition(" ")
            if tag == "chunk":
                chunks.append(json.loads(text))
            elif tag == "assembled":
                return {"chunks": chunks, "assembled": json.loads(text)}, None
            elif tag == "cancelled":
                return {"chunks": chunks, "cancelled": True}, None
            elif tag == "error":
                body = json.loads(text)["error"]
                return {"chunks": chunks, "error": body}, self._classes.get(body.get("kind"), LiterLLMError)(body)
            elif tag == "assemble_error":
                raise RuntimeError(f"liter_llm_stream_assemble refused the chunks: {text}")
        raise RuntimeError(f"{self.program} printed no end of the stream: {stdout.decode(errors='replace')!r}")

    def invoke(self, provider: Optional[str], request: Any) -> Any:
        argv = [self.program] if provider is None else [self.program, provider]
        done = subprocess.run(argv, input=json.dumps(request).encode(), capture_output=True, env=dict(os.environ), timeout=120)
        if done.returncode == 0:
            return json.loads(done.stdout)
        if done.returncode == 3:
            body = json.loads(done.stdout)["error"]
            raise self._classes.get(body.get("kind"), LiterLLMError)(body)
        raise RuntimeError(f"{self.program} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
