"""Streams of `chat.completion.chunk`s: a blocking iterator and an asyncio async iterator."""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import _native
from ._errors import error_from_json
from ._managed import Managed
from ._types import ChatCompletionChunk, as_chunk

if TYPE_CHECKING:
    import asyncio

Decode = Callable[[bytes], Any]
StreamHandle = _native.StreamHandle


class _StreamBase(Managed[StreamHandle]):
    """What both streams share: the handle, the end of the stream, the client it runs on."""

    def __init__(self, decode: Decode, owner: object) -> None:
        self._decode = decode
        # The client the stream runs on, held while the stream runs: a Client collected (and so
        # closed) under its stream would cancel it.
        self._owner: Optional[object] = owner

    def _next(self, kind: int, data: bytes) -> Optional[ChatCompletionChunk]:
        """The chunk of an event, or None at the normal end; raises the error that ended the stream."""
        if kind == _native.STREAM_CHUNK:
            return as_chunk(self._decode(data))
        # The library has ended the stream and released its call: nothing is left to cancel.
        self._forget()
        self._owner = None
        if kind == _native.STREAM_END:
            return None
        raise error_from_json(self._decode(data))

    def _delete(self, handle: StreamHandle) -> None:
        self._owner = None
        _native.cancel_stream(*handle)


class Stream(_StreamBase):
    """The chunks of a streamed completion, as they arrive: ``for chunk in stream``.

    Leaving the loop early, ``close()``, ``with``, Ctrl-C while waiting, or dropping the stream
    cancels the upstream request. A failure mid-stream raises the matching
    :class:`LiterLLMError` after the chunks already received.
    """

    def __init__(
        self, client: Optional[int], provider: Optional[bytes], payload: bytes, decode: Decode, owner: object
    ) -> None:
        super().__init__(decode, owner)
        self._events: queue.SimpleQueue[tuple[int, bytes]] = queue.SimpleQueue()
        put = self._events.put
        self._set_handle(_native.start_stream(client, provider, payload, lambda kind, data: put((kind, data))))

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        if self._handle is None:
            raise StopIteration
        try:
            kind, data = self._events.get()
        except BaseException:  # KeyboardInterrupt while waiting for the next chunk
            self.close()
            raise
        chunk = self._next(kind, data)
        if chunk is None:
            raise StopIteration
        return chunk


class AsyncStream(_StreamBase):
    """:class:`Stream` for asyncio: ``async for chunk in stream``. No thread waits for it;
    cancelling the consuming task cancels the upstream request."""

    def __init__(
        self, client: Optional[int], provider: Optional[bytes], payload: bytes, decode: Decode, owner: object
    ) -> None:
        import asyncio

        super().__init__(decode, owner)
        self._events: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        put = self._events.put_nowait
        self._set_handle(
            _native.start_loop_stream(loop, client, provider, payload, lambda kind, data: put((kind, data)))
        )

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._handle is None:
            raise StopAsyncIteration
        try:
            kind, data = await self._events.get()
        except BaseException:  # the consuming task was cancelled
            self.close()
            raise
        chunk = self._next(kind, data)
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
