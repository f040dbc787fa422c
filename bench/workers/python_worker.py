"""One benchmark worker: one Python client in one fresh process.

    python python_worker.py '<job JSON>'

The job names the client (liter_llm, openai, litellm, httpx), the mode (sync: one thread per
concurrent call; async: one asyncio task per concurrent call), the request, the answer every
response must carry, and either `cells` to measure or `memory_calls` for the peak-memory run.
Prints one JSON object on stdout. Nothing here talks to anything but the base URLs it is given.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import resource
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

API_KEY = "sk-bench"


def peak_rss_kb() -> int:
    """The peak resident set size of this process image (VmHWM). ru_maxrss is not used: exec
    carries the parent's high-water mark into it, so every worker would report at least the
    driver's size."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# Each factory takes (base_url, request) and returns (call, close): `call()` sends the request and
# returns the answer's text; `close()` releases the client. Sync factories return plain
# functions, async ones coroutine functions. Every client builds the request from the same dict
# and reads the text out of its own response type, as an application would.


def liter_llm_sync(base_url: str, request: dict[str, Any]) -> tuple[Callable[[], str | None], Callable[[], None]]:
    import liter_llm

    params = dict(request, model="openai/" + request["model"], api_key=API_KEY, base_url=base_url)

    def call() -> str | None:
        return liter_llm.completion(**params).choices[0].message.content

    return call, lambda: None


def liter_llm_async(
    base_url: str, request: dict[str, Any]
) -> tuple[Callable[[], Awaitable[str | None]], Callable[[], Awaitable[None]]]:
    import liter_llm

    params = dict(request, model="openai/" + request["model"], api_key=API_KEY, base_url=base_url)

    async def call() -> str | None:
        return (await liter_llm.acompletion(**params)).choices[0].message.content

    async def close() -> None:
        pass

    return call, close


def openai_sync(base_url: str, request: dict[str, Any]) -> tuple[Callable[[], str | None], Callable[[], None]]:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)

    def call() -> str | None:
        return client.chat.completions.create(**request).choices[0].message.content

    return call, client.close


def openai_async(
    base_url: str, request: dict[str, Any]
) -> tuple[Callable[[], Awaitable[str | None]], Callable[[], Awaitable[None]]]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)

    async def call() -> str | None:
        return (await client.chat.completions.create(**request)).choices[0].message.content

    return call, client.close


def _litellm_params(base_url: str, request: dict[str, Any]) -> dict[str, Any]:
    return dict(request, model="openai/" + request["model"], api_key=API_KEY, api_base=base_url)


def litellm_sync(base_url: str, request: dict[str, Any]) -> tuple[Callable[[], str | None], Callable[[], None]]:
    import litellm

    params = _litellm_params(base_url, request)

    def call() -> str | None:
        return litellm.completion(**params).choices[0].message.content

    return call, lambda: None


def litellm_async(
    base_url: str, request: dict[str, Any]
) -> tuple[Callable[[], Awaitable[str | None]], Callable[[], Awaitable[None]]]:
    import litellm

    params = _litellm_params(base_url, request)

    async def call() -> str | None:
        return (await litellm.acompletion(**params)).choices[0].message.content

    async def close() -> None:
        pass

    return call, close


def _httpx_limits(concurrency: int) -> Any:
    import httpx

    # The baseline gets a pool as large as the concurrency, so it never queues for a connection.
    return httpx.Limits(max_connections=None, max_keepalive_connections=max(concurrency, 20))


def httpx_sync(
    base_url: str, request: dict[str, Any], concurrency: int = 1
) -> tuple[Callable[[], str | None], Callable[[], None]]:
    import httpx

    client = httpx.Client(
        base_url=base_url, headers={"authorization": f"Bearer {API_KEY}"}, limits=_httpx_limits(concurrency)
    )

    def call() -> str | None:
        response = client.post("/chat/completions", json=request)
        response.raise_for_status()
        return response.json()["choices"][0]["message"]["content"]

    return call, client.close


def httpx_async(
    base_url: str, request: dict[str, Any], concurrency: int = 1
) -> tuple[Callable[[], Awaitable[str | None]], Callable[[], Awaitable[None]]]:
    import httpx

    client = httpx.AsyncClient(
        base_url=base_url, headers={"authorization": f"Bearer {API_KEY}"}, limits=_httpx_limits(concurrency)
    )

    async def call() -> str | None:
        response = await client.post("/chat/completions", json=request)
        response.raise_for_status()
        return response.json()["choices"][0]["message"]["content"]

    return call, client.aclose


FACTORIES: dict[tuple[str, str], Callable[..., Any]] = {
    ("liter_llm", "sync"): liter_llm_sync,
    ("liter_llm", "async"): liter_llm_async,
    ("openai", "sync"): openai_sync,
    ("openai", "async"): openai_async,
    ("litellm", "sync"): litellm_sync,
    ("litellm", "async"): litellm_async,
    ("httpx", "sync"): httpx_sync,
    ("httpx", "async"): httpx_async,
}


def make_client(job: dict[str, Any], base_url: str, concurrency: int) -> tuple[Any, Any]:
    factory = FACTORIES[(job["client"], job["mode"])]
    if job["client"] == "httpx":
        return factory(base_url, job["request"], concurrency)
    return factory(base_url, job["request"])


class Tally:
    """Latencies and failures of the calls of one measurement, from any number of threads."""

    def __init__(self, expect: str) -> None:
        self.expect = expect
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error: str | None = None

    def failed(self, what: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = what[:300]

    def check(self, text: Any) -> None:
        if text != self.expect:
            self.failed(f"unexpected answer {text!r:.80}")


def time_box(seconds: float) -> Callable[[], bool]:
    deadline = time.perf_counter() + seconds
    return lambda: time.perf_counter() < deadline


def call_budget(calls: int) -> Callable[[], bool]:
    tickets = itertools.count()  # next() on a count is atomic under the GIL
    return lambda: next(tickets) < calls


def run_sync(call: Callable[[], str | None], concurrency: int, more: Callable[[], bool], tally: Tally) -> float:
    """Runs `concurrency` threads calling in a loop while `more()`; returns the wall time."""
    start = threading.Event()

    def loop() -> None:
        start.wait()
        latencies = []
        while more():
            began = time.perf_counter()
            try:
                text = call()
            except Exception as e:  # noqa: BLE001 - every failure is counted, none stops the run
                tally.failed(f"{type(e).__name__}: {e}")
            else:
                tally.check(text)
            latencies.append(time.perf_counter() - began)
        tally.latencies.extend(latencies)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(concurrency - 1)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    start.set()
    loop()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


async def run_async(
    call: Callable[[], Awaitable[str | None]], concurrency: int, more: Callable[[], bool], tally: Tally
) -> float:
    """Runs `concurrency` tasks calling in a loop while `more()`; returns the wall time."""
    began = time.perf_counter()

    async def loop() -> None:
        while more():
            started = time.perf_counter()
            try:
                text = await call()
            except Exception as e:  # noqa: BLE001
                tally.failed(f"{type(e).__name__}: {e}")
            else:
                tally.check(text)
            tally.latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return time.perf_counter() - began


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def summary(cell: dict[str, Any], tally: Tally, wall: float, cpu: float) -> dict[str, Any]:
    latencies = sorted(tally.latencies)
    n = len(latencies)
    return {
        "id": cell["id"],
        "requests": n,
        "errors": tally.errors,
        "first_error": tally.first_error,
        "wall_s": wall,
        "cpu_s": cpu,
        "throughput": n / wall if wall > 0 else 0.0,
        "cpu_us_per_req": cpu / n * 1e6 if n else None,
        "p50_ms": percentile(latencies, 0.50) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
    }


def measure(
    job: dict[str, Any], base_url: str, concurrency: int, warmup_s: float, more: Callable[[], Callable[[], bool]]
) -> tuple[Tally, float, float]:
    """Warms up for `warmup_s`, then measures the calls made while `more()`: (tally, wall, CPU)."""
    call, close = make_client(job, base_url, concurrency)
    tally = Tally(job["expect"])
    if job["mode"] == "sync":
        run_sync(call, concurrency, time_box(warmup_s), Tally(job["expect"]))
        cpu0 = cpu_seconds()
        wall = run_sync(call, concurrency, more(), tally)
        cpu = cpu_seconds() - cpu0
        close()
        return tally, wall, cpu

    async def both() -> tuple[Tally, float, float]:
        await run_async(call, concurrency, time_box(warmup_s), Tally(job["expect"]))
        cpu0 = cpu_seconds()
        wall = await run_async(call, concurrency, more(), tally)
        cpu = cpu_seconds() - cpu0
        await close()
        return tally, wall, cpu

    return asyncio.run(both())


def measure_cell(job: dict[str, Any], cell: dict[str, Any]) -> dict[str, Any]:
    tally, wall, cpu = measure(
        job, cell["base_url"], cell["concurrency"], cell["warmup_s"], lambda: time_box(cell["duration_s"])
    )
    return summary(cell, tally, wall, cpu)


def measure_memory(job: dict[str, Any]) -> dict[str, Any]:
    """`memory_calls` calls, `concurrency` at a time, then this process's peak resident set size."""
    tally, wall, _ = measure(job, job["base_url"], job["concurrency"], 0.0, lambda: call_budget(job["memory_calls"]))
    return {
        "calls": len(tally.latencies),
        "errors": tally.errors,
        "first_error": tally.first_error,
        "wall_s": wall,
        "peak_rss_kb": peak_rss_kb(),
    }


def main() -> None:
    job = json.loads(sys.argv[1])
    if job["client"] == "litellm":
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
    if "memory_calls" in job:
        result = measure_memory(job)
    else:
        result = {"cells": [measure_cell(job, cell) for cell in job["cells"]]}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
