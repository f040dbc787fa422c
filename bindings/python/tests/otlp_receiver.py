"""A real OTLP/HTTP protobuf receiver (PyPI ``oteltap``) on a free loopback port, run on its own
event loop in a background thread, keeping every span and metric it receives."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Optional, TypeVar

from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """Spans (``opentelemetry.proto`` ``Span``) and metrics (``Metric``) as they arrive."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.spans: list[Any] = []
        self.metrics: list[Any] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop: Optional[asyncio.Event] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="otlp-receiver", daemon=True)
        self._thread.start()
        if not self._ready.wait(20) or self._error is not None:
            raise RuntimeError(f"the OTLP receiver did not start: {self._error!r}")

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        settings = OtelTapHttpProtobufReceiverSettings(http_port=self.port, listen_on_all_interfaces=False)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with OtelTapHttpProtobufReceiver(settings) as receiver:

                async def keep(stream: Any, into: list[Any]) -> None:
                    async for item in stream:
                        with self._lock:
                            into.append(item)

                tasks = [
                    asyncio.create_task(keep(receiver.stream_traces(), self.spans)),
                    asyncio.create_task(keep(receiver.stream_metrics(), self.metrics)),
                ]
                await asyncio.sleep(0)
                self._ready.set()
                await self._stop.wait()
                for task in tasks:
                    task.cancel()
        except BaseException as e:  # noqa: BLE001 - reported to the starting thread
            self._error = e
            self._ready.set()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)

    def _wait(self, items: list[Any], predicate: Callable[[Any], bool], count: int, timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [item for item in items if predicate(item)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def wait_spans(self, predicate: Callable[[Any], bool], count: int = 1, timeout: float = 15.0) -> list[Any]:
        """The spans matching ``predicate`` once at least ``count`` arrived (or the timeout passed)."""
        return self._wait(self.spans, predicate, count, timeout)

    def wait_metrics(self, predicate: Callable[[Any], bool], count: int = 1, timeout: float = 15.0) -> list[Any]:
        return self._wait(self.metrics, predicate, count, timeout)


def attributes(item: Any) -> dict[str, Any]:
    """A span's or data point's attributes as plain Python values."""
    out: dict[str, Any] = {}
    for kv in item.attributes:
        out[kv.key] = any_value(kv.value)
    return out


def any_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None
