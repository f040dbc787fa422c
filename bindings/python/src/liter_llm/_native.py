"""Loads the one shared library, checks that it speaks the ABI this package was built for, and
makes every C call of the package.

``client`` is None for the default client (the ABI-1 functions, configured by
``liter_llm_configure``), else a handle from ``liter_llm_client_new``. Results travel as
``(is_error, JSON bytes)``.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    import asyncio

from ._ffi import ffi

#: The ABI version this package's declarations were generated from.
ABI_VERSION: int = 2


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

Result = tuple[bool, bytes]


def _stop_callbacks() -> None:
    # At exit, before the interpreter finalizes: a callback entering a finalizing interpreter
    # would have its (liter-llm delivery) thread killed mid-call. cffi releases the GIL during
    # this call, so a callback waiting for the GIL can finish first. Blocking calls made after
    # it (by a later atexit handler) still work: they need no callback.
    lib.liter_llm_shutdown(5000)


atexit.register(_stop_callbacks)


def _take(ptr: Any, out_len: Any) -> Result:
    """Copies a result buffer of the library and frees it."""
    if ptr == NULL:
        raise MemoryError("liter_llm could not allocate the result")
    try:
        n = out_len[0]
        data: bytes = ffi.unpack(ptr, -n if n < 0 else n)
    finally:
        lib.liter_llm_free(ptr)
    return n < 0, data


def version() -> str:
    raw: bytes = ffi.string(lib.liter_llm_version())
    return raw.decode("utf-8")


def configure_raw(config: bytes) -> Result:
    out_len = ffi.new("int32_t *")
    return _take(lib.liter_llm_configure(config, out_len), out_len)


def assemble_raw(chunks: bytes) -> Result:
    out_len = ffi.new("int32_t *")
    return _take(lib.liter_llm_stream_assemble(chunks, out_len), out_len)


def telemetry_flush(timeout_ms: int) -> bool:
    """Sends the telemetry held now; cffi releases the GIL while it waits."""
    return bool(lib.liter_llm_telemetry_flush(timeout_ms))


def audit_verify_raw(path: bytes, hmac_key: Optional[bytes]) -> Result:
    out_len = ffi.new("int32_t *")
    return _take(lib.liter_llm_audit_verify(path, NULL if hmac_key is None else hmac_key, out_len), out_len)


def client_new(config: Optional[bytes], config_file: Optional[bytes]) -> tuple[int, Result]:
    """A new client (0 when it could not be made) and the library's answer."""
    out_client = ffi.new("uint64_t *")
    out_len = ffi.new("int32_t *")
    ptr = lib.liter_llm_client_new(
        NULL if config is None else config, NULL if config_file is None else config_file, out_client, out_len
    )
    result = _take(ptr, out_len)
    return int(out_client[0]), result


def client_free(client: int) -> None:
    """Frees a client; its calls in flight end as cancelled. An already freed handle is fine."""
    lib.liter_llm_client_free(client)


_get_ident = threading.get_ident
_main_thread = threading.main_thread  # called each time: after a fork it is the forking thread
_per_thread = threading.local()


def _out_len() -> Any:
    """This thread's length out-parameter, made once. A call nested in a call on the same thread
    (a signal handler run by the interrupt check) reuses it safely: the library writes it just
    before returning, and the outer call reads it after that."""
    try:
        return _per_thread.out_len
    except AttributeError:
        out_len = _per_thread.out_len = ffi.new("int32_t *")
        return out_len


def invoke_raw(client: Optional[int], provider: Optional[bytes], request: bytes) -> Result:
    """One call, waited for with the GIL released.

    On the main thread the wait can be interrupted: Python runs signal handlers only there, and
    a plain blocking C call would hold Ctrl-C back until the upstream answered (up to the call's
    timeout). There the library asks `_check_interrupt` about every 50 ms while the call waits;
    running it lets Python run a pending signal handler, and the handler's exception
    (KeyboardInterrupt) cancels the call and is raised here. The call is still driven on this
    thread, so this costs what the plain call costs.
    """
    out_len = _out_len()
    p = NULL if provider is None else provider
    if _get_ident() != _main_thread().ident:
        if client is None:
            return _take(lib.liter_llm_invoke(p, request, out_len), out_len)
        return _take(lib.liter_llm_client_invoke(client, p, request, out_len), out_len)
    if client is None:
        ptr = lib.liter_llm_invoke_interruptible(p, request, _check_interrupt, NULL, out_len)
    else:
        ptr = lib.liter_llm_client_invoke_interruptible(client, p, request, _check_interrupt, NULL, out_len)
    result = _take(ptr, out_len)
    if _raised_in_check:
        raise _raised_in_check.pop()
    return result


# What a signal handler raised while `_check_interrupt` ran (main thread only).
_raised_in_check: list[BaseException] = []


def _on_check_error(exc_type: Any, exc_value: BaseException, tb: Any) -> int:
    # A signal handler raised while the check ran: remember it and cancel the call.
    _raised_in_check.append(exc_value.with_traceback(tb))
    return 1


@ffi.callback("LiterLlmInterrupt", onerror=_on_check_error)  # type: ignore[untyped-decorator]
def _check_interrupt(user_data: Any) -> int:
    # Running any Python code on the main thread runs the pending signal handlers first.
    return 0


# Asynchronous calls and streams: the library calls `_on_done` once per call, or
# `_on_stream_event` once per stream event, from its delivery thread (with the GIL). `user_data`
# carries a plain integer key into `_pending` / `_streams` (never a pointer into Python memory),
# so a late or unexpected callback can only miss the table, not touch freed objects. Whoever
# removes a key's entry owns the call's end: the callback delivers, or the waiter cancels.
Deliver = Callable[[Result], None]
Sink = Callable[[int, bytes], None]
STREAM_CHUNK, STREAM_END, STREAM_ERROR = 0, 1, 2
_pending: dict[int, Deliver] = {}
_streams: dict[int, Sink] = {}
_keys = itertools.count(1)


@ffi.callback("LiterLlmCallback")  # type: ignore[untyped-decorator]
def _on_done(user_data: Any, result: Any, n: int) -> None:
    data: bytes = ffi.unpack(result, -n if n < 0 else n)
    lib.liter_llm_free(result)
    deliver = _pending.pop(int(ffi.cast("uintptr_t", user_data)), None)
    if deliver is not None:
        deliver((n < 0, data))


def _stream_event(result: Any, n: int) -> tuple[int, bytes]:
    """A stream event's kind and bytes; frees the library's buffer."""
    if result == NULL:
        return STREAM_END, b""
    data: bytes = ffi.unpack(result, -n if n < 0 else n)
    lib.liter_llm_free(result)
    return (STREAM_ERROR if n < 0 else STREAM_CHUNK), data


@ffi.callback("LiterLlmCallback")  # type: ignore[untyped-decorator]
def _on_stream_event(user_data: Any, result: Any, n: int) -> None:
    key = int(ffi.cast("uintptr_t", user_data))
    kind, data = _stream_event(result, n)
    sink = _streams.get(key) if kind == STREAM_CHUNK else _streams.pop(key, None)
    if sink is not None:
        sink(kind, data)


def _start(
    table: dict[int, Any], entry: Any, callback: Any, start: Any, provider: Optional[bytes], request: bytes
) -> tuple[int, int]:
    key = next(_keys)
    table[key] = entry
    call_id = start(NULL if provider is None else provider, request, callback, ffi.cast("void *", key))
    if call_id == 0:
        table.pop(key, None)
        raise RuntimeError("liter_llm could not start the call")
    return key, int(call_id)


def _start_call(client: Optional[int], provider: Optional[bytes], request: bytes, deliver: Deliver) -> tuple[int, int]:
    """Starts an asynchronous call whose result goes to `deliver`; returns (key, call id)."""
    if client is None:
        start = lib.liter_llm_invoke_async
    else:
        start = functools.partial(lib.liter_llm_client_invoke_async, client)
    return _start(_pending, deliver, _on_done, start, provider, request)


def _abandon(key: int, call_id: int) -> None:
    """Stops waiting for a call and cancels it, unless its result is already being delivered."""
    if _pending.pop(key, None) is not None:
        lib.liter_llm_cancel(call_id)


def _deliver_to_loop(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Result], result: Result) -> None:
    try:
        loop.call_soon_threadsafe(_settle, future, result)
    except RuntimeError:
        pass  # the loop was closed while the call was in flight; nobody is waiting


def _settle(future: asyncio.Future[Result], result: Result) -> None:
    if not future.done():
        future.set_result(result)


# asyncio on a completion queue: one queue per event loop, its fd (a pipe's read end) watched
# with `loop.add_reader`, so the runtime worker that ends a call wakes the loop itself and the
# loop's thread drains the results, settling futures and feeding streams directly: no liter-llm
# thread enters Python, no `call_soon_threadsafe`. Tags are keys of the queue's own tables, as for
# the callback path; whoever pops a tag's entry owns the call's end. Loops without `add_reader`
# (Windows' proactor) keep the callback path above.
_DRAIN_CAPACITY = 64


class _LoopQueue:
    """The completion queue of one event loop, drained on that loop's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, handle: int, fd: int) -> None:
        self.handle = handle
        self.fd = fd
        self.loop = weakref.ref(loop)
        self.waiting: dict[int, asyncio.Future[Result]] = {}
        self.streams: dict[int, Sink] = {}
        self._tags = ffi.new("uint64_t[]", _DRAIN_CAPACITY)
        self._data = ffi.new("char *[]", _DRAIN_CAPACITY)
        self._lens = ffi.new("int32_t[]", _DRAIN_CAPACITY)
        # Frees the queue when the loop is collected; holds no reference to the loop or to self.
        self.release = weakref.finalize(loop, lib.liter_llm_queue_free, handle)

    def drain(self) -> None:
        tags, buffers, lens = self._tags, self._data, self._lens
        handle, waiting, streams = self.handle, self.waiting, self.streams
        while True:
            n = lib.liter_llm_queue_drain(handle, tags, buffers, lens, _DRAIN_CAPACITY)
            for i in range(n):
                tag, length = tags[i], lens[i]
                kind, data = _stream_event(buffers[i], length)
                future = waiting.pop(tag, None)
                try:
                    if future is not None:
                        if not future.done():
                            future.set_result((length < 0, data))
                        continue
                    sink = streams.get(tag) if kind == STREAM_CHUNK else streams.pop(tag, None)
                    if sink is not None:
                        sink(kind, data)
                except Exception as e:  # a sink's bug must not lose the other events drained
                    loop = self.loop()
                    if loop is not None:
                        loop.call_exception_handler(
                            {"message": "liter_llm: delivering a result failed", "exception": e}
                        )
            if n < _DRAIN_CAPACITY:
                return

    def close(self) -> None:
        """Stops watching the fd and frees the queue (its calls in flight are cancelled)."""
        loop = self.loop()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self.fd)
        self.release()
        self.waiting.clear()
        self.streams.clear()


#: Each event loop's queue, or None for a loop that cannot watch a file descriptor.
_loop_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Optional[_LoopQueue]] = weakref.WeakKeyDictionary()
_loop_queues_lock = threading.Lock()


def _loop_queue(loop: asyncio.AbstractEventLoop) -> Optional[_LoopQueue]:
    try:
        return _loop_queues[loop]
    except KeyError:
        return _new_loop_queue(loop)
    except TypeError:  # a loop that takes no weak reference: the callback path
        return None


def _new_loop_queue(loop: asyncio.AbstractEventLoop) -> Optional[_LoopQueue]:
    with _loop_queues_lock:
        # The queues of loops closed since: a closed loop drains nothing, and its queue's tables
        # would keep it (and its calls' results) alive until it is collected.
        for other, queue in list(_loop_queues.items()):
            if queue is not None and other.is_closed():
                queue.close()
                del _loop_queues[other]
        out_fd = ffi.new("int32_t *")
        handle = int(lib.liter_llm_queue_new(out_fd))
        queue = None
        if handle != 0:
            queue = _LoopQueue(loop, handle, int(out_fd[0]))
            try:
                loop.add_reader(queue.fd, queue.drain)
            except NotImplementedError:  # the proactor loop: no readiness callbacks
                queue.release()
                queue = None
        _loop_queues[loop] = queue
        return queue


def _forget_loop_queues() -> None:
    # In a child made by fork(): the library has dropped the parent's queues (and closed the
    # child's copies of their fds); each loop gets a new queue on its next call. The loops' old
    # readers are left alone: their epoll instance is shared with the parent.
    global _loop_queues_lock
    _loop_queues_lock = threading.Lock()  # another thread may have held it at the fork
    for queue in list(_loop_queues.values()):
        if queue is not None:
            queue.release.detach()
    _loop_queues.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_loop_queues)


def _start_queued(
    queue: _LoopQueue,
    table: dict[int, Any],
    entry: Any,
    stream: bool,
    client: Optional[int],
    provider: Optional[bytes],
    request: bytes,
) -> tuple[int, int]:
    """Starts a call (or a stream) on `queue` whose events go to `table[tag]`; returns (tag, call id)."""
    tag = next(_keys)
    table[tag] = entry
    p = NULL if provider is None else provider
    if stream:
        if client is None:
            call_id = lib.liter_llm_stream_queued(p, request, queue.handle, tag)
        else:
            call_id = lib.liter_llm_client_stream_queued(client, p, request, queue.handle, tag)
    elif client is None:
        call_id = lib.liter_llm_invoke_queued(p, request, queue.handle, tag)
    else:
        call_id = lib.liter_llm_client_invoke_queued(client, p, request, queue.handle, tag)
    if call_id == 0:
        table.pop(tag, None)
        raise RuntimeError("liter_llm could not start the call")
    return tag, int(call_id)


async def invoke_async_raw(client: Optional[int], provider: Optional[bytes], request: bytes) -> Result:
    """One call through the asynchronous C ABI; no thread is used while it is in flight.

    Cancelling the awaiting task cancels the native call, which drops the upstream request.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    queue = _loop_queue(loop)
    future: asyncio.Future[Result] = loop.create_future()
    if queue is None:
        key, call_id = _start_call(client, provider, request, functools.partial(_deliver_to_loop, loop, future))
        try:
            return await future
        except BaseException:
            _abandon(key, call_id)
            raise
    waiting = queue.waiting
    tag, call_id = _start_queued(queue, waiting, future, False, client, provider, request)
    try:
        return await future
    except BaseException:
        if waiting.pop(tag, None) is not None:
            lib.liter_llm_cancel(call_id)
        raise


StreamHandle = tuple[dict[int, Sink], int, int]


def start_stream(client: Optional[int], provider: Optional[bytes], request: bytes, sink: Sink) -> StreamHandle:
    """Starts a stream whose events go to `sink(kind, data)` from the library's delivery thread
    (chunks keep it registered, the end or an error removes it); returns its handle for
    `cancel_stream`."""
    if client is None:
        start = lib.liter_llm_stream
    else:
        start = functools.partial(lib.liter_llm_client_stream, client)
    key, call_id = _start(_streams, sink, _on_stream_event, start, provider, request)
    return _streams, key, call_id


def start_loop_stream(
    loop: asyncio.AbstractEventLoop, client: Optional[int], provider: Optional[bytes], request: bytes, sink: Sink
) -> StreamHandle:
    """`start_stream` whose `sink` is called on `loop`'s thread."""
    queue = _loop_queue(loop)
    if queue is None:

        def threadsafe_sink(kind: int, data: bytes) -> None:
            try:
                loop.call_soon_threadsafe(sink, kind, data)
            except RuntimeError:
                pass  # the loop is closed; nobody is reading any more

        return start_stream(client, provider, request, threadsafe_sink)
    tag, call_id = _start_queued(queue, queue.streams, sink, True, client, provider, request)
    return queue.streams, tag, call_id


def cancel_stream(table: dict[int, Sink], key: int, call_id: int) -> None:
    """Stops a stream: no more events reach its sink, and the upstream request is dropped."""
    table.pop(key, None)
    lib.liter_llm_cancel(call_id)
