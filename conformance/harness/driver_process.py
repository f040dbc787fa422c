"""The harness's side of the driver protocol (RUNNER_CONTRACT.md, "Drivers"): one driver process per
run, JSON lines both ways, one reply per operation (a stream cancelled in flight first announces
itself with an event and waits for the harness's `cancel`)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Callable, Mapping
from typing import Any

PROTOCOL_VERSION = 1
# Only catches a hang: the slowest case (retries, stalled streams) takes a few seconds.
REPLY_TIMEOUT_SECONDS = 120.0
START_TIMEOUT_SECONDS = 60.0


class DriverError(RuntimeError):
    """The driver died, hung or broke the protocol; the process is not usable any more."""


class Driver:
    """A running driver. `request()` sends one operation and returns its reply (without `id`)."""

    def __init__(self, argv: list[str], env: Mapping[str, str]) -> None:
        self.argv = argv
        self._env = dict(env)
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._next_id = 0
        self.hello: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        """Starts the process and checks its `hello`: the protocol version it speaks."""
        try:
            self._process = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self._env)
        except OSError as error:
            raise DriverError(f"cannot start {self.argv[0]}: {error}") from None
        self._buffer = b""
        self.hello = self.request({"op": "hello", "protocol": PROTOCOL_VERSION}, timeout=START_TIMEOUT_SECONDS)
        if "problem" in self.hello:
            self.close()
            raise DriverError(str(self.hello["problem"]))
        if self.hello.get("protocol") != PROTOCOL_VERSION:
            version = self.hello.get("protocol")
            self.close()
            raise DriverError(f"the driver speaks protocol {version!r}, the harness {PROTOCOL_VERSION}")
        return self.hello

    def restart(self) -> None:
        self.close()
        self.start()

    def close(self) -> None:
        if self._process is None:
            return
        process, self._process = self._process, None
        try:
            assert process.stdin is not None
            process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(
        self,
        message: dict[str, Any],
        on_started: Callable[[], None] | None = None,
        timeout: float = REPLY_TIMEOUT_SECONDS,
    ) -> dict[str, Any]:
        """Sends `message` with a fresh id and returns the driver's reply to it. When the driver
        announces `{"event": "started"}` (a stream with `cancel_after_chunks` 0), `on_started`
        runs, then the harness sends `{"op": "cancel"}` with the same id."""
        self._next_id += 1
        ident = self._next_id
        self._send({"id": ident, **message})
        while True:
            reply = self._receive(timeout)
            if reply.get("id") != ident:
                raise DriverError(f"expected the reply to operation {ident}, got {self._shown(reply)}")
            if "event" not in reply:
                del reply["id"]
                return reply
            if reply["event"] != "started" or on_started is None:
                raise DriverError(f"unexpected event {self._shown(reply)} for {message['op']}")
            on_started()
            self._send({"id": ident, "op": "cancel"})

    def _send(self, message: dict[str, Any]) -> None:
        process = self._running()
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
            process.stdin.flush()
        except OSError as error:
            raise DriverError(f"cannot write to the driver: {error}; {self._exit_status()}") from None

    def _receive(self, timeout: float) -> dict[str, Any]:
        process = self._running()
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([process.stdout], [], [], max(remaining, 0))
            if not ready:
                raise DriverError(f"the driver did not answer within {timeout:.0f} s")
            data = os.read(process.stdout.fileno(), 1 << 16)
            if not data:
                raise DriverError(f"the driver closed its output; {self._exit_status()}")
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            reply = json.loads(line)
        except ValueError:
            raise DriverError(f"the driver wrote a line that is not JSON: {line[:200]!r}") from None
        if not isinstance(reply, dict):
            raise DriverError(f"the driver wrote {line[:200]!r}, not a JSON object")
        return reply

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise DriverError("the driver is not running")
        return self._process

    def _exit_status(self) -> str:
        process = self._running()
        try:
            return f"it exited with status {process.wait(timeout=5)}"
        except subprocess.TimeoutExpired:
            return "it is still running"

    @staticmethod
    def _shown(reply: dict[str, Any]) -> str:
        text = json.dumps(reply)
        return text if len(text) <= 200 else text[:197] + "..."
