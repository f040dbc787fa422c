"""Loads the one shared library and checks that it speaks the ABI this package was built for."""

from __future__ import annotations

import atexit
import itertools
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

from ._ffi import ffi

#: The ABI version this package's declarations were generated from.
ABI_VERSION: int = 1


def _library_path() -> str:
    override = os.environ.get("LITER_LLM_LIBRARY")
    if override:
        return override
    if sys.platform == "darwin":
        name = "libliter_llm.dylib"
    elif sys.platform == "win32":
        name = "liter_llm.dll"
    else:
        name = "libliter_llm.so"
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)


def _load() -> Any:
    path = _library_path()
    try:
        lib = ffi.dlopen(path)
    except OSError as e:
        raise ImportError(f"liter_llm could not load its native library {path}: {e}") from e
    found = lib.liter_llm_abi_version()
    if found != ABI_VERSION or lib.LITER_LLM_ABI_VERSION != ABI_VERSION:
        raise ImportError(
            f"liter_llm: the native library at {path} speaks ABI version {found}, but this package "
            f"needs version {ABI_VERSION}; rebuild and reinstall the package (pip install ./bindings/python)"
        )
    return lib


lib: Any = _load()
NULL: Any = ffi.NULL


def _stop_callbacks() -> None:
    # At exit, before the interpreter finalizes: a callback entering a finalizing interpreter
    # would have its (liter-llm runtime) thread killed mid-call. cffi releases the GIL during
    # this call, so a callback waiting for the GIL can finish first.
    lib.liter_llm_shutdown(5000)


atexit.register(_stop_callbacks)


def invoke_raw(provider: bytes | None, request: bytes) -> tuple[bool, bytes]:
    """One call through the C ABI. Returns (is_error, JSON bytes). Releases the GIL while waiting."""
    out_len = ffi.new("int32_t *")
    return _take(lib.liter_llm_invoke(NULL if provider is None else provider, request, out_len), out_len)


def _take(ptr: Any, out_len: Any) -> tuple[bool, bytes]:
    """Copies a result buffer of the library and frees it: (is_error, JSON bytes)."""
    if ptr == NULL:
        raise MemoryError("liter_llm could not allocate the result")
    try:
        n = out_len[0]
        data: bytes = ffi.unpack(ptr, -n if n < 0 else n)
    finally:
        lib.liter_llm_free(ptr)
    return n < 0, data


def configure_raw(config: bytes) -> tuple[bool, bytes]:
    out_len = ffi.new("int32_t *")
    return _take(lib.liter_llm_configure(config, out_len), out_len)


def version() -> str:
    raw: bytes = ffi.string(lib.liter_llm_version())
    return raw.decode("utf-8")


# Asynchronous calls: the core delivers each result once, from one of its runtime threads, to
# `_on_done`; the result is handed to the waiting event loop thread-safely. `user_data` carries a
# plain integer key (never a pointer into Python memory), so a late or unexpected callback can
# only miss the table, not touch freed objects.
_pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[tuple[bool, bytes]]]] = {}
_keys = itertools.count(1)


def _settle(future: asyncio.Future[tuple[bool, bytes]], is_error: bool, data: bytes) -> None:
    if not future.done():
        future.set_result((is_error, data))


@ffi.callback("LiterLlmCallback")  # type: ignore[untyped-decorator]
def _on_done(user_data: Any, result: Any, n: int) -> None:
    data: bytes = ffi.unpack(result, -n if n < 0 else n)
    lib.liter_llm_free(result)
    entry = _pending.pop(int(ffi.cast("uintptr_t", user_data)), None)
    if entry is None:
        return
    loop, future = entry
    try:
        loop.call_soon_threadsafe(_settle, future, n < 0, data)
    except RuntimeError:
        pass  # the loop was closed while the call was in flight; nobody is waiting


async def invoke_async_raw(provider: bytes | None, request: bytes) -> tuple[bool, bytes]:
    """One call through the asynchronous C ABI; no thread is used while it is in flight.

    Cancelling the awaiting task cancels the native call, which drops the upstream request.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[bool, bytes]] = loop.create_future()
    key = next(_keys)
    _pending[key] = (loop, future)
    call_id = lib.liter_llm_invoke_async(
        NULL if provider is None else provider, request, _on_done, ffi.cast("void *", key)
    )
    if call_id == 0:
        _pending.pop(key, None)
        raise RuntimeError("liter_llm could not start the call")
    try:
        return await future
    except asyncio.CancelledError:
        _pending.pop(key, None)
        lib.liter_llm_cancel(call_id)
        raise


# Streams: each event goes to the stream's sink, called on a liter-llm runtime thread (with the
# GIL). Chunks keep the sink registered; the end or an error removes it. Sinks hold only a
# queue, never the stream object, so an abandoned stream can be collected (and so cancelled).
STREAM_CHUNK, STREAM_END, STREAM_ERROR = 0, 1, 2
_streams: dict[int, Any] = {}


@ffi.callback("LiterLlmCallback")  # type: ignore[untyped-decorator]
def _on_stream_event(user_data: Any, result: Any, n: int) -> None:
    key = int(ffi.cast("uintptr_t", user_data))
    if result == NULL:
        kind, data = STREAM_END, b""
    else:
        data = ffi.unpack(result, -n if n < 0 else n)
        lib.liter_llm_free(result)
        kind = STREAM_ERROR if n < 0 else STREAM_CHUNK
    sink = _streams.get(key) if kind == STREAM_CHUNK else _streams.pop(key, None)
    if sink is not None:
        sink(kind, data)


def start_stream(provider: bytes | None, request: bytes, sink: Any) -> tuple[int, int]:
    """Starts a stream whose events go to `sink(kind, data)`; returns (key, call id)."""
    key = next(_keys)
    _streams[key] = sink
    call_id = lib.liter_llm_stream(
        NULL if provider is None else provider, request, _on_stream_event, ffi.cast("void *", key)
    )
    if call_id == 0:
        _streams.pop(key, None)
        raise RuntimeError("liter_llm could not start the stream")
    return key, call_id


def cancel_stream(key: int, call_id: int) -> None:
    """Stops a stream: no more events reach its sink, and the upstream request is dropped."""
    _streams.pop(key, None)
    lib.liter_llm_cancel(call_id)


def assemble_raw(chunks: bytes) -> tuple[bool, bytes]:
    out_len = ffi.new("int32_t *")
    return _take(lib.liter_llm_stream_assemble(chunks, out_len), out_len)
