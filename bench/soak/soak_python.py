"""The soak driver for Python: MOCK_CALLS calls through the `mock` provider and HTTP_CALLS calls to
the mock upstream's chaos mode, interleaved (one HTTP call in six), 64 asyncio workers, in 50
rounds; after each round (every call of it ended) samples resident memory, open descriptors and
threads (after a collection). Prints one JSON object (see bench/soak/run.py)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import liter_llm

ROUNDS = 50
WORKERS = 64


def sample() -> dict[str, int]:
    gc.collect()  # retained memory, not garbage waiting for the cycle collector
    with open("/proc/self/statm") as statm:
        rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/status") as status:
        threads = next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
    links = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass  # the descriptor listdir itself used, closed since
    sockets = sum(link.startswith("socket:") for link in links)
    return {"rss": rss, "fds": len(links), "sockets": sockets, "threads": threads}


async def one(client: liter_llm.Client, i: int, chaos_url: str, counts: Counter[str]) -> None:
    messages = [{"role": "user", "content": f"soak {i % 97}"}]
    http = i % 6 == 5
    kind = (i // 6) % 10 if http else i % 10
    kwargs: dict[str, Any] = (
        {"model": "openai/gpt-chaos", "api_key": "sk-test-soak", "base_url": chaos_url, "timeout": 0.25}
        if http
        else {"model": "mock/soak"}
    )
    if not http and kind == 7:
        kwargs["temperature"] = "warm"  # an invalid request: a typed error
    try:
        if kind in (5, 6, 9):
            stream = await client.acompletion(messages=messages, stream=True, **kwargs)
            async for _ in stream:
                if kind == 9:  # abandoned after the first chunk: cancels the rest
                    break
            await stream.aclose()
        elif kind == 8:
            task = asyncio.ensure_future(client.acompletion(messages=messages, **kwargs))
            await asyncio.sleep(0)
            task.cancel()
            await task
        else:
            await client.acompletion(messages=messages, **kwargs)
        counts["result"] += 1
    except asyncio.CancelledError:
        counts["cancelled"] += 1
    except liter_llm.LiterLLMError as error:
        counts[error.kind] += 1


async def worker(client: liter_llm.Client, calls: Iterator[int], chaos_url: str, counts: Counter[str]) -> None:
    """Takes the next call of the round until there is none."""
    for i in calls:
        await one(client, i, chaos_url, counts)


async def main(mock_calls: int, http_calls: int, chaos_url: str) -> dict[str, Any]:
    total = mock_calls + http_calls
    counts: Counter[str] = Counter()
    samples = []
    started = time.monotonic()
    # The runtime (its threads and descriptors) is the process's, started by the first HTTP call.
    with liter_llm.Client({}) as first:
        await one(first, 5, chaos_url, Counter())
    await asyncio.sleep(0.2)
    before = sample()
    client = liter_llm.Client({})
    for r in range(ROUNDS):
        end = total * (r + 1) // ROUNDS
        calls = iter(range(total * r // ROUNDS, end))
        await asyncio.gather(*(worker(client, calls, chaos_url, counts) for _ in range(WORKERS)))
        samples.append({"calls": end, "seconds": round(time.monotonic() - started, 3), **sample()})
    client.close()
    # The closed pool's connections close on the runtime's threads, soon after.
    after_close = sample()
    for _ in range(100):
        if after_close["fds"] <= before["fds"]:
            break
        await asyncio.sleep(0.05)
        after_close = sample()
    return {"binding": "python", "before": before, "after_close": after_close, "samples": samples, "counts": counts}


if __name__ == "__main__":
    mock, http, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    print(json.dumps(asyncio.run(main(mock, http, url))))
