"""asyncio on the completion queue: one queue per event loop, drained on the loop's thread.

Every wait here is bounded; the upstream is the workspace's mock on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import time
import weakref
from typing import Any

import pytest
from conftest import Session, Upstream
from test_completion import OPENAI_OK
from test_fork import in_child
from test_streaming import EVENTS

import liter_llm
from liter_llm import _native

pytestmark = [
    # Python 3.12 warns that forking a threaded process may deadlock: the fork test does that.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def _call(base_url: str) -> Any:
    return liter_llm.acompletion(model="openai/gpt", prompt="x", api_key="sk-test-queue", base_url=base_url)


def _queue_exists(handle: int) -> bool:
    return bool(_native.lib.liter_llm_queue_drain(handle, _native.NULL, _native.NULL, _native.NULL, 0) == 0)


def _pipe_fds() -> dict[str, int]:
    """How many of this process's descriptors refer to each pipe ("pipe:[inode]")."""
    counts: dict[str, int] = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the descriptor listdir itself used
            continue
        if target.startswith("pipe:"):
            counts[target] = counts.get(target, 0) + 1
    return counts


def _wait_requests(session: Session, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(session.requests()) < n:
        assert time.monotonic() < deadline, f"{len(session.requests())} of {n} requests reached the upstream"
        time.sleep(0.02)


def test_acompletion_runs_on_the_loops_queue(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)

    async def main() -> tuple[str, int]:
        r = await _call(s.base_url)
        queue = _native._loop_queues[asyncio.get_running_loop()]
        assert queue is not None and queue.waiting == {} and _queue_exists(queue.handle)
        return r.choices[0].message.content, queue.handle

    content, handle = asyncio.run(main())
    assert content == "Hello!"
    gc.collect()
    assert not _queue_exists(handle), "the loop is gone, and so is its queue"


def test_many_loops_one_after_another_free_their_queues(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)

    async def one() -> tuple[int, str]:
        assert (await _call(s.base_url)).choices[0].message.content == "Hello!"
        queue = _native._loop_queues[asyncio.get_running_loop()]
        assert queue is not None
        pipe = os.readlink(f"/proc/self/fd/{queue.fd}")
        assert _pipe_fds().get(pipe) == 2, "a live queue holds both ends of its pipe"
        return queue.handle, pipe

    queues = [asyncio.run(one()) for _ in range(40)]
    assert len({handle for handle, _ in queues}) == 40, "each loop has its own queue"
    gc.collect()
    # A queue is freed when its loop is collected, or when the next loop makes its queue.
    live = [pipe for handle, pipe in queues if _queue_exists(handle)]
    assert len(live) <= 1
    pipes = _pipe_fds()
    for handle, pipe in queues:
        held = 2 if pipe in live else 0
        assert pipes.get(pipe, 0) == held, f"queue {handle} holds {pipes.get(pipe, 0)} descriptors, not {held}"


def test_256_calls_in_flight_on_one_queue(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": 20}, repeat_last=True)

    async def main() -> list[str]:
        answers = await asyncio.gather(*(_call(s.base_url) for _ in range(256)))
        queue = _native._loop_queues[asyncio.get_running_loop()]
        assert queue is not None and queue.waiting == {} and queue.streams == {}
        return [a.choices[0].message.content for a in answers]

    assert asyncio.run(main()) == ["Hello!"] * 256
    assert len(s.requests()) == 256


def test_a_stream_through_the_queue(upstream: Upstream) -> None:
    s = upstream.session(
        {"status": 200, "headers": {"content-type": "text/event-stream"}, "chunks": [{"data": e} for e in EVENTS]}
    )

    async def main() -> str:
        stream = await liter_llm.acompletion(
            model="openai/gpt-4o-mini", prompt="hi", api_key="sk-test-queue", base_url=s.base_url, stream=True
        )
        queue = _native._loop_queues[asyncio.get_running_loop()]
        assert queue is not None and len(queue.streams) == 1
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert queue.streams == {} and stream.closed
        return text

    assert asyncio.run(main()) == "Hello"


def test_cancelling_the_task_cancels_the_queued_call(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": 30_000})

    async def main() -> None:
        task = asyncio.ensure_future(_call(s.base_url))
        while not s.requests():
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        queue = _native._loop_queues[asyncio.get_running_loop()]
        assert queue is not None and queue.waiting == {}

    asyncio.run(asyncio.wait_for(main(), 20))
    [request] = s.settled_requests()
    assert request["outcome"] == "client_closed", "the upstream connection was closed"


def test_a_loop_closed_with_calls_in_flight_frees_its_queue(upstream: Upstream) -> None:
    slow = upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": 30_000}, repeat_last=True)
    fast = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    loop = asyncio.new_event_loop()
    streams: list[liter_llm.AsyncStream] = []

    async def start() -> list[asyncio.Task[Any]]:
        tasks = [asyncio.ensure_future(_call(slow.base_url)) for _ in range(8)]
        # A stream started and never read.
        streams.append(
            liter_llm.ainvoke_stream(
                "openai", {"model": "gpt", "prompt": "x", "api_key": "sk-test-queue", "base_url": slow.base_url}
            )
        )
        return tasks

    tasks = loop.run_until_complete(start())
    _wait_requests(slow, 9)
    queue = _native._loop_queues[loop]
    assert queue is not None and len(queue.waiting) == 8 and len(queue.streams) == 1
    handle = queue.handle
    closed = weakref.ref(loop)
    loop.close()
    streams.clear()
    del loop, tasks, queue
    # The next loop's queue frees the closed loop's: its calls are cancelled, nothing leaks.
    assert asyncio.run(_call(fast.base_url)).choices[0].message.content == "Hello!"
    assert not _queue_exists(handle)
    gc.collect()
    assert closed() is None, "the closed loop is still referenced"
    deadline = time.monotonic() + 10
    while len(slow.settled_requests()) < 9:
        assert time.monotonic() < deadline, "the closed loop's calls were not cancelled"
        time.sleep(0.05)
    assert {r["outcome"] for r in slow.settled_requests()} == {"client_closed"}


def test_a_collected_loop_frees_its_queue(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(_call(s.base_url)).choices[0].message.content == "Hello!"
    queue = _native._loop_queues[loop]
    assert queue is not None
    handle = queue.handle
    loop.close()
    del loop, queue
    gc.collect()
    assert not _queue_exists(handle)


def _no_reader(*args: Any) -> None:
    raise NotImplementedError  # as Windows' proactor loop: no readiness callbacks


def test_a_loop_without_add_reader_keeps_the_callback_path(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    streamed = upstream.session(
        {"status": 200, "headers": {"content-type": "text/event-stream"}, "chunks": [{"data": e} for e in EVENTS]}
    )

    async def main() -> tuple[str, str]:
        answer = (await _call(s.base_url)).choices[0].message.content
        stream = await liter_llm.acompletion(
            model="openai/gpt-4o-mini", prompt="hi", api_key="sk-test-queue", base_url=streamed.base_url, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return answer, text

    loop = asyncio.SelectorEventLoop()
    loop.add_reader = _no_reader  # type: ignore[method-assign, assignment]
    try:
        assert loop.run_until_complete(main()) == ("Hello!", "Hello")
        assert _native._loop_queues[loop] is None
    finally:
        loop.close()


def test_a_forked_child_gets_a_fresh_queue(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)

    async def handle() -> int:
        assert (await _call(s.base_url)).choices[0].message.content == "Hello!"
        queue = _native._loop_queues[asyncio.get_running_loop()]
        assert queue is not None and _queue_exists(queue.handle)
        return queue.handle

    loop = asyncio.new_event_loop()
    parents = loop.run_until_complete(handle())

    def child() -> None:
        assert not _queue_exists(parents), "the parent's queue exists in the child"
        assert _native._loop_queues.get(loop) is None
        assert asyncio.run(handle()) != parents

    try:
        assert in_child(child) == 0
        assert _queue_exists(parents)
        assert loop.run_until_complete(handle()) == parents, "the parent keeps its queue"
    finally:
        loop.close()


# In a fresh process: asyncio calls and a stream start no delivery thread, and Ctrl-C while an
# asyncio call waits raises KeyboardInterrupt at once.
SCRIPT = """
import asyncio, os, signal, sys
import liter_llm

signal.signal(signal.SIGINT, signal.default_int_handler)
form, base_url = sys.argv[1], sys.argv[2]

def threads():
    return sorted(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))

async def calls():
    r = await liter_llm.acompletion(model="mock/demo", prompt="x", mock_response="pong")
    assert r.choices[0].message.content == "pong"
    stream = await liter_llm.acompletion(model="mock/demo", prompt="x", mock_response="a b c", stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "a b c"

if form == "threads":
    asyncio.run(calls())
    print(" ".join(threads()))
    sys.exit(0)
try:
    asyncio.run(liter_llm.acompletion(model="openai/gpt", prompt="x", api_key="sk-test-queue", base_url=base_url))
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(0)
sys.exit(1)
"""


def test_the_queue_path_starts_no_delivery_thread() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT, "threads", ""], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "liter-llm-callb" not in out.stdout.split(), out.stdout


def test_ctrl_c_interrupts_an_asyncio_call_and_cancels_it(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": 30_000})
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "interrupt", s.base_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not s.requests():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the request never reached the upstream"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (out.strip(), proc.returncode) == ("KeyboardInterrupt", 0), err
    [request] = s.settled_requests()
    assert request["outcome"] == "client_closed", "the upstream connection was closed"
