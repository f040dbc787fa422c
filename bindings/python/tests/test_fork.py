"""A process that used liter-llm and then forks: the child's calls work, the parent's calls in
flight stay the parent's, and nothing hangs (every wait here is bounded)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
import traceback
from typing import Any, Callable

import pytest
from conftest import Session, Upstream
from test_completion import OPENAI_OK

import liter_llm
from liter_llm import _native

pytestmark = [
    # Python 3.12 warns that forking a threaded process may deadlock: that is what is tested.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

CHILD_DEADLINE_S = 30.0


def call(base_url: str) -> str:
    r = liter_llm.completion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=base_url)
    content: str = r["choices"][0]["message"]["content"]
    return content


def in_child(body: Callable[[], None]) -> int:
    """Runs `body` in a forked child; its exit status (0 when `body` returned). A child that
    does not end within the deadline is killed and fails the test."""
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            body()
        except BaseException:
            traceback.print_exc()
            status = 1
        finally:
            os._exit(status)
    deadline = time.monotonic() + CHILD_DEADLINE_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not end within {CHILD_DEADLINE_S} s (it hangs)")


def test_a_child_forked_after_calls_makes_its_own(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    assert call(s.base_url) == "Hello!"
    client = liter_llm.Client()
    assert client.completion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url)

    def child() -> None:
        assert call(s.base_url) == "Hello!"
        r = client.completion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url)
        assert r["choices"][0]["message"]["content"] == "Hello!"
        chunks = list(liter_llm.completion(model="mock/m", prompt="hi", stream=True))
        assert chunks
        r = asyncio.run(liter_llm.acompletion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url))
        assert r["choices"][0]["message"]["content"] == "Hello!"
        # A grandchild works too.
        assert in_child(lambda: None if call(s.base_url) == "Hello!" else os._exit(3)) == 0

    assert in_child(child) == 0
    assert call(s.base_url) == "Hello!"
    assert len(s.requests()) == 2 + 4 + 1
    client.close()


def test_a_child_forked_after_async_calls_gets_its_callbacks(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)

    async def two() -> list[Any]:
        return list(
            await asyncio.gather(
                *(
                    liter_llm.acompletion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url)
                    for _ in range(2)
                )
            )
        )

    assert len(asyncio.run(two())) == 2

    def child() -> None:
        assert [r["choices"][0]["message"]["content"] for r in asyncio.run(two())] == ["Hello!", "Hello!"]

    assert in_child(child) == 0
    assert len(asyncio.run(two())) == 2


def pooled_call(base_url: str) -> tuple[int, str]:
    return os.getpid(), call(base_url)


def test_a_fork_pool_maps_calls(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    assert call(s.base_url) == "Hello!"
    with multiprocessing.get_context("fork").Pool(3) as pool:
        answers = pool.map_async(pooled_call, [s.base_url] * 12).get(timeout=CHILD_DEADLINE_S)
    assert [content for _, content in answers] == ["Hello!"] * 12
    assert os.getpid() not in {pid for pid, _ in answers}
    assert len(s.requests()) == 13


def delayed_session(upstream: Upstream, delay_ms: int) -> Session:
    return upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": delay_ms}, repeat_last=True)


def test_calls_in_flight_at_a_fork_stay_the_parents(upstream: Upstream) -> None:
    slow = delayed_session(upstream, 600)
    fast = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    delivered: list[bool] = []
    all_delivered = threading.Event()
    n = 8

    def deliver(result: _native.Result) -> None:
        delivered.append(result[0])
        if len(delivered) == n:
            all_delivered.set()

    request = (b'{"model": "openai/gpt", "prompt": "x", "api_key": "sk-test-1", "base_url": "%s"}') % (
        slow.base_url.encode()
    )
    for _ in range(n):
        _native._start_call(None, None, request, deliver)
    # Blocking calls in flight on other threads, too.
    blocking = [threading.Thread(target=call, args=(slow.base_url,)) for _ in range(3)]
    for t in blocking:
        t.start()
    deadline = time.monotonic() + 10
    while len(slow.requests()) < n + 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(slow.requests()) == n + 3, "every call reached the upstream before the fork"

    def child() -> None:
        assert call(fast.base_url) == "Hello!"
        time.sleep(1.0)  # longer than the parent's calls take
        assert delivered == [], "a call of the parent was delivered in the child"
        assert call(fast.base_url) == "Hello!"

    assert in_child(child) == 0
    assert all_delivered.wait(10), "the parent's calls completed in the parent"
    assert delivered == [False] * n
    for t in blocking:
        t.join(10)
    # Nothing was sent twice: the parent's calls once each, the child's own two.
    assert len(slow.settled_requests()) == n + 3
    assert len(fast.requests()) == 2


def test_a_fork_while_an_asyncio_loop_awaits_calls(upstream: Upstream) -> None:
    slow = delayed_session(upstream, 500)
    fast = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    started = threading.Event()
    results: list[Any] = []

    async def many() -> None:
        calls = [
            liter_llm.acompletion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=slow.base_url)
            for _ in range(6)
        ]
        started.set()
        results.extend(await asyncio.gather(*calls))

    loop_thread = threading.Thread(target=lambda: asyncio.run(many()))
    loop_thread.start()
    assert started.wait(10)
    time.sleep(0.1)

    def child() -> None:
        r = asyncio.run(
            liter_llm.acompletion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=fast.base_url)
        )
        assert r["choices"][0]["message"]["content"] == "Hello!"
        time.sleep(0.8)
        assert results == []

    assert in_child(child) == 0
    loop_thread.join(10)
    assert len(results) == 6
    assert len(fast.requests()) == 1
