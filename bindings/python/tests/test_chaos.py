"""Chaos under load: 256 asyncio calls in flight while the mock upstream (its `/chaos/{seed}/`
mode) resets connections, stalls, truncates bodies and streams, sends malformed JSON and 429/5xx
with and without Retry-After. Every call ends within its deadline with a result or a typed error,
the counts add up, and once the client is closed the process holds no more descriptors or
threads than before."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from typing import Any

from conftest import Upstream

import liter_llm
from liter_llm import _native

IN_FLIGHT = 256
# Only catches a hang: a call's deadline bounds each wait, a stream's wait per chunk included.
MARGIN = 5.0


def descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def threads() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


async def one_call(client: liter_llm.Client, base_url: str, i: int, rng: random.Random) -> tuple[str, float, float]:
    """One call (a stream for a third of them); returns its outcome, its deadline and its time."""
    deadline = rng.choice([0.5, 1.0, 1.5])
    kwargs: dict[str, Any] = {
        "model": "openai/gpt-chaos",
        "messages": [{"role": "user", "content": f"call {i}"}],
        "api_key": "sk-test-chaos",
        "base_url": base_url,
        "timeout": deadline,
    }
    started = time.monotonic()
    try:
        if i % 3 == 0:
            stream = await client.acompletion(stream=True, **kwargs)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert text == "chaos ok", text
        else:
            response = await client.acompletion(**kwargs)
            assert response.choices[0].message.content == "chaos ok"
        outcome = "result"
    except liter_llm.LiterLLMError as error:
        assert type(error) is not liter_llm.LiterLLMError and error.kind != "internal", repr(error)
        outcome = error.kind
    return outcome, deadline, time.monotonic() - started


async def wave(base_url: str, seed: int) -> Counter[str]:
    """IN_FLIGHT calls at once, an eighth of them cancelled at a random moment."""
    rng = random.Random(seed)
    client = liter_llm.Client({})
    try:
        tasks = [asyncio.create_task(one_call(client, base_url, i, rng)) for i in range(IN_FLIGHT)]
        for i, task in enumerate(tasks):
            if i % 8 == 5:
                asyncio.get_running_loop().call_later(rng.uniform(0, 0.4), task.cancel)
        outcomes: Counter[str] = Counter()
        for task in tasks:
            try:
                outcome, deadline, took = await task
            except asyncio.CancelledError:
                outcomes["cancelled"] += 1
                continue
            assert took < deadline + MARGIN, f"a call with a {deadline}s deadline took {took:.1f}s"
            outcomes[outcome] += 1
    finally:
        client.close()
    assert sum(outcomes.values()) == IN_FLIGHT, outcomes
    return outcomes


def settled(limit: int, measure: Any) -> int:
    """`measure()` once it is at most `limit`, or after 5 s (connections close asynchronously)."""
    deadline = time.monotonic() + 5
    value = measure()
    while value > limit and time.monotonic() < deadline:
        time.sleep(0.05)
        value = measure()
    return int(value)


def test_256_calls_in_flight_under_chaos(upstream: Upstream) -> None:
    base_url = f"{upstream.url}/chaos/1801"
    warm = asyncio.run(wave(base_url, 1))
    fds, thread_count = descriptors(), threads()
    pending = (dict(_native._pending), dict(_native._streams))
    outcomes = asyncio.run(wave(base_url, 2))
    assert (_native._pending, _native._streams) == pending, "a call's callback did not fire"
    # A good share of each: results, errors of several kinds, cancellations.
    assert outcomes["result"] > 0 and outcomes["cancelled"] > 0, outcomes
    assert len(set(outcomes) - {"result", "cancelled"}) >= 3, outcomes
    assert settled(fds, descriptors) <= fds, f"descriptors grew from {fds}"
    assert settled(thread_count, threads) <= thread_count, f"threads grew from {thread_count}"
    print(f"chaos python: warm-up {dict(warm)}; measured {dict(outcomes)}")
