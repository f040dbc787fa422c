#!/usr/bin/env python3
"""The Python driver of the conformance harness (conformance/RUNNER_CONTRACT.md, "Drivers"): reads
operations as JSON lines on stdin, makes each call through `liter_llm` as a Python program does,
and writes one JSON line per operation with the result and what only Python can see (the
exception's class and attributes)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import liter_llm

PROTOCOL_VERSION = 1
# docs/errors.md: the exception class of each kind.
EXCEPTION_CLASSES = {
    "invalid_request": "BadRequestError",
    "authentication": "AuthenticationError",
    "permission_denied": "PermissionDeniedError",
    "not_found": "NotFoundError",
    "rate_limited": "RateLimitError",
    "timeout": "Timeout",
    "connection": "APIConnectionError",
    "provider_unavailable": "ServiceUnavailableError",
    "bad_response": "BadResponseError",
    "unsupported": "UnsupportedProviderError",
    "cancelled": "CancelledError",
    "internal": "InternalError",
}
OPERATIONS = ("hello", "env", "configure", "client_create", "client_close", "invoke", "stream")
Reply = dict[str, Any]


def exception_problems(exception: liter_llm.LiterLLMError) -> list[str]:
    """The binding's own contract: attributes mirror the body, the class matches the kind."""
    body = exception.body
    if not isinstance(body, dict):
        return []
    problems = []
    for attribute in ("kind", "status", "provider", "retry_after", "message"):
        native, expected = getattr(exception, attribute, None), body.get(attribute)
        if native != expected:
            problems.append(f"exception.{attribute} is {native!r} but the error body has {expected!r}")
    class_name = EXCEPTION_CLASSES.get(body.get("kind", ""))
    expected_class = getattr(liter_llm, class_name, None) if class_name else None
    if class_name and not (isinstance(expected_class, type) and isinstance(exception, expected_class)):
        problems.append(f"a {body.get('kind')} error raised {type(exception).__name__}, not liter_llm.{class_name}")
    return problems


def failed(exception: liter_llm.LiterLLMError, chunks: list[Any] | None = None) -> Reply:
    native = {"native": exception_problems(exception), "class": type(exception).__name__}
    if chunks is None:
        return {"error": exception.body, **native}
    return {"stream": {"chunks": chunks, "error": exception.body}, **native}


class Driver:
    def __init__(self) -> None:
        self.clients: dict[int, liter_llm.Client] = {}

    def calls(self, message: dict[str, Any]) -> Any:
        """What the call goes through: a client the harness created, or the module's functions."""
        return liter_llm if message.get("client") is None else self.clients[message["client"]]

    def hello(self, message: dict[str, Any], started: Callable[[], None]) -> Reply:
        return {"protocol": PROTOCOL_VERSION, "language": "python", "binding": liter_llm.__version__}

    def env(self, message: dict[str, Any], started: Callable[[], None]) -> Reply:
        if message["value"] is None:
            os.environ.pop(message["name"], None)
        else:
            os.environ[message["name"]] = message["value"]
        return {}

    def configure(self, message: dict[str, Any], started: Callable[[], None]) -> Reply:
        try:
            liter_llm.configure(message["config"])
        except liter_llm.LiterLLMError as error:
            return failed(error)
        return {}

    def client_create(self, message: dict[str, Any], started: Callable[[], None]) -> Reply:
        try:
            client = liter_llm.Client(message.get("config"))
        except liter_llm.LiterLLMError as error:
            return failed(error)
        handle = len(self.clients) + 1
        self.clients[handle] = client
        return {"client": handle}

    def client_close(self, message: dict[str, Any], started: Callable[[], None]) -> Reply:
        # Kept: a later call on it gets the binding's closed-client error, as a user's would.
        self.clients[message["client"]].close()
        return {}

    def invoke(self, message: dict[str, Any], started: Callable[[], None]) -> Reply:
        calls, provider, request = self.calls(message), message["provider"], message["request"]
        try:
            if message.get("async"):
                return {"response": asyncio.run(calls.ainvoke(provider, request))}
            return {"response": calls.invoke(provider, request)}
        except liter_llm.LiterLLMError as error:
            return failed(error)
        except Exception as error:  # noqa: BLE001 - any other exception is a binding bug to report
            return {"problem": f"invoke raised {type(error).__name__} instead of liter_llm.LiterLLMError: {error}"}

    def stream(self, message: dict[str, Any], started: Callable[[], None]) -> Reply:
        """`invoke_stream`, iterated; `close()` after `cancel_after_chunks` chunks (with 0, once the
        harness says the request is in flight); a complete stream through `stream_chunk_builder`."""
        cancel_after = message.get("cancel_after_chunks")
        chunks: list[Any] = []
        try:
            try:
                stream = self.calls(message).invoke_stream(message["provider"], message["request"])
                if cancel_after == 0:
                    started()
                    stream.close()
                    return {"stream": {"chunks": chunks, "cancelled": True}}
                for chunk in stream:
                    chunks.append(chunk)
                    if len(chunks) == cancel_after:
                        stream.close()
                        return {"stream": {"chunks": chunks, "cancelled": True}}
            except liter_llm.LiterLLMError as error:
                return failed(error, chunks)
            try:
                assembled = liter_llm.stream_chunk_builder(chunks)
            except liter_llm.LiterLLMError as error:
                return {"assembler_error": error.body}
        except Exception as error:  # noqa: BLE001 - any other exception is a binding bug to report
            return {"problem": f"the stream raised {type(error).__name__}: {error}"}
        return {"stream": {"chunks": chunks, "assembled": assembled}}


def main() -> int:
    driver = Driver()
    lines: Iterator[str] = iter(sys.stdin.readline, "")

    def write(reply: Reply) -> None:
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()

    for line in lines:
        message = json.loads(line)
        ident = message["id"]

        def started(ident: Any = ident) -> None:
            """Tells the harness the stream is in flight; returns once it answers `cancel`."""
            write({"id": ident, "event": "started"})
            cancel = json.loads(next(lines))
            if cancel != {"id": ident, "op": "cancel"}:
                raise RuntimeError(f"expected cancel for operation {ident}, got {cancel}")

        handler = getattr(driver, message["op"]) if message["op"] in OPERATIONS else None
        reply = {"problem": f"unknown operation {message['op']!r}"} if handler is None else handler(message, started)
        write({"id": ident, **reply})
    return 0


if __name__ == "__main__":
    sys.exit(main())
