"""The C ABI as a runner binding: each call runs `invoke` (invoke.c), a plain C program linked to
the shared library, in a child process that inherits the case's environment. The Python runner
does the rest of the contract, so the C column checks exactly what a C caller gets back."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any, Optional



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

    def invoke(self, provider: Optional[str], request: Any) -> Any:
        argv = [self.program] if provider is None else [self.program, provider]
        done = subprocess.run(argv, input=json.dumps(request).encode(), capture_output=True, env=dict(os.environ), timeout=120)
        if done.returncode == 0:
            return json.loads(done.stdout)
        if done.returncode == 3:
            body = json.loads(done.stdout)["error"]
            raise self._classes.get(body.get("kind"), LiterLLMError)(body)
        raise RuntimeError(f"{self.program} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
