"""Streams of `chat.completion.chunk`s: a blocking iterator and an asyncio async iterator."""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import _native
from ._errors import error_from_json
from ._types import ChatCompletionChunk, as_chunk

if TYPE_CHECKING:
    import asyncio

Decode = Callable[[bytes], Any]


class Stream:
    """The chunks of a streamed completion, as they arrive: ``for chunk in stream``.

    Leaving the loop early, ``close()``, or dropping the stream cancels the upstream request.
    A failure mid-stream raises the matching :class:`LiterLLMError` after the chunks already
    received.
    """

    def __init__(self, provider: Optional[bytes], payload: bytes, decode: Decode) -> None:
        self._decode = decode
        self._events: queue.SimpleQueue[tuple[int, bytes]] = queue.SimpleQueue()
        self._done = False
        events = self._events
        self._key, self._call_id = _native.start_stream(provider, payload, lambda kind, data: events.put((kind, data)))

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        if self._done:
            raise StopIteration
        kind, data = self._events.get()
        if kind == _native.STREAM_CHUNK:
            return as_chunk(self._decode(data))
        self._done = True
        if kind == _native.STREAM_END:
            raise StopIteration
        raise error_from_json(self._decode(data))

    def close(self) -> None:
        """Stops the stream and its upstream request; idempotent."""
        if not self._done:
            self._done = True
            _native.cancel_stream(self._key, self._call_id)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_done", True):
            self.close()


class AsyncStream:
    """:class:`Stream` for asyncio: ``async for chunk in stream``. No thread waits for it;
    cancelling the consuming task cancels the upstream request."""

    def __init__(self, provider: Optional[bytes], payload: bytes, decode: Decode) -> None:
        import asyncio

        self._decode = decode
        self._events: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self._done = False
        loop = asyncio.get_running_loop()
        put = self._events.put_nowait

        def sink(kind: int, data: bytes) -> None:
            try:
                loop.call_soon_threadsafe(put, (kind, data))
            except RuntimeError:
                pass  # the loop is closed; nobody is reading any more

        self._key, self._call_id = _native.start_stream(provider, payload, sink)

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        import asyncio

        if self._done:
            raise StopAsyncIteration
        try:
            kind, data = await self._events.get()
        except asyncio.CancelledError:
            self.close()
            raise
        if kind == _native.STREAM_CHUNK:
            return as_chunk(self._decode(data))
        self._done = True
        if kind == _native.STREAM_END:
            raise StopAsyncIteration
        raise error_from_json(self._decode(data))

    def close(self) -> None:
        """Stops the stream and its upstream request; idempotent."""
        if not self._done:
            self._done = True
            _native.cancel_stream(self._key, self._call_id)

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_done", True):
            self.close()
