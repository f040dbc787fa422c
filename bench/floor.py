"""The floor under a call: the core against a bare reqwest client, a bare hyper client, and bare
hyper doing the JSON work of any JSON-in, JSON-out client (hyper-json).

    python3 bench/floor.py [--rounds 5] [--seconds 1.0] [--out bench/floor.json]

Every client makes the same POST of the same JSON to the same mock upstream, answering after
1 ms (long enough for idle threads to park) and after no delay: blocking at concurrency 1 (one
thread, one call at a time) and asynchronous at 64 and 256 calls in flight. The clients are
`bench-floor` (bench/floor-rs: bare reqwest with the core's version and features, bare hyper 1.x
connections, the same with a client's JSON work, and `liter_llm_core::Client` itself) and
`bench/floor.c` (the C ABI, blocking). Each measurement is a fresh process; rounds interleave
the clients, and figures are medians over rounds, with ratios to the baselines of the same run.
Per call: the whole process's CPU time (user + system, every thread; getrusage), its voluntary
and involuntary context switches, and, in a separate run under `strace -c -f` (not timed), its
system calls.

Needs `core/target/release/{bench-floor,liter-llm-mock-upstream,libliter_llm.so}` (built by
`make bench`) and `build/bench/floor` (compiled by bench/run.py); strace is optional.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from run import Upstream  # bench/run.py: the mock upstream, one scripted session per delay

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RELEASE = ROOT / "core" / "target" / "release"
BENCH_FLOOR = RELEASE / "bench-floor"
C_FLOOR = ROOT / "build" / "bench" / "floor"
REQUEST_FILE = BENCH / "fixtures" / "request.json"

DELAYS_MS = (1, 0)
# (client, shape, concurrency): "c-abi" is bench/floor.c, the others bench-floor.
CELLS = (
    ("reqwest", "blocking", 1),
    ("hyper", "blocking", 1),
    ("hyper-json", "blocking", 1),
    ("core", "blocking", 1),
    ("c-abi", "blocking", 1),
    ("reqwest", "async", 64),
    ("hyper", "async", 64),
    ("hyper-json", "async", 64),
    ("core", "async", 64),
    ("reqwest", "async", 256),
    ("hyper", "async", 256),
    ("hyper-json", "async", 256),
    ("core", "async", 256),
)
METRICS = ("cpu_ns_per_call", "voluntary_cs_per_call", "involuntary_cs_per_call", "throughput")


def key(client: str, shape: str, concurrency: int, delay: int) -> str:
    return f"{client}-{shape}-c{concurrency}-d{delay}"


def command(client: str, shape: str, concurrency: int, base_url: str, seconds: float) -> list[str]:
    if client == "c-abi":
        return [str(C_FLOOR), str(seconds), "50", base_url]
    return [str(BENCH_FLOOR), client, shape, str(concurrency), str(seconds), base_url, str(REQUEST_FILE)]


def run_one(cmd: list[str], timeout: float) -> dict[str, Any]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": " | ".join(proc.stderr.strip().splitlines()[-3:])}
    result: dict[str, Any] = json.loads(proc.stdout)
    if "throughput" not in result and "median_ns" in result:
        result["throughput"] = 1e9 / result["median_ns"]
    return result


def syscalls(cmd: list[str], timeout: float) -> dict[str, Any]:
    """One untimed run under `strace -c -f`: system calls per call, in total and the top ones."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        try:
            proc = subprocess.run(
                ["strace", "-c", "-f", "-o", out.name, *cmd], capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if proc.returncode != 0:
            return {"error": " | ".join(proc.stderr.strip().splitlines()[-3:])}
        calls = json.loads(proc.stdout)["calls_total"]
        counts: dict[str, int] = {}
        for line in Path(out.name).read_text().splitlines():
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                counts[parts[-1]] = int(parts[3])
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:6]
    return {
        "calls": calls,
        "per_call": sum(counts.values()) / calls,
        "top": {name: round(n / calls, 2) for name, n in top},
    }


def measure(rounds: int, seconds: float, strace_seconds: float) -> dict[str, Any]:
    upstream = Upstream()
    runs: dict[str, list[dict[str, Any]]] = {}
    strace: dict[str, Any] = {}
    cells = [c for c in CELLS if c[0] != "c-abi" or C_FLOOR.exists()]
    try:
        for round_number in range(rounds):
            for delay in DELAYS_MS:
                for client, shape, concurrency in cells:
                    # A session per run, deleted after it: the mock journals every request, and
                    # with no delay a run sends tens of thousands.
                    sid, base = upstream.session(delay)
                    cmd = command(client, shape, concurrency, base, seconds)
                    runs.setdefault(key(client, shape, concurrency, delay), []).append(run_one(cmd, 60 + seconds * 4))
                    upstream.delete(sid)
            print(f"[floor {time.strftime('%H:%M:%S')}] round {round_number + 1}/{rounds} done", flush=True)
        if shutil.which("strace"):
            for client, shape, concurrency in cells:
                sid, base = upstream.session(1)
                cmd = command(client, shape, concurrency, base, strace_seconds)
                strace[key(client, shape, concurrency, 1)] = syscalls(cmd, 120)
                upstream.delete(sid)
    finally:
        upstream.close()
    medians: dict[str, dict[str, float]] = {}
    for name, results in runs.items():
        ok = [r for r in results if "error" not in r]
        medians[name] = {m: statistics.median(r[m] for r in ok) for m in METRICS if ok and all(m in r for r in ok)}
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            medians[name]["errors"] = len(errors)  # type: ignore[assignment]
            medians[name]["error"] = errors[0]  # type: ignore[assignment]
    return {
        "rounds": rounds,
        "seconds": seconds,
        "delays_ms": DELAYS_MS,
        "cells": CELLS,
        "medians": medians,
        "runs": runs,
        "syscalls": strace,
    }


def cpu_us(data: dict[str, Any], name: str) -> float | None:
    value = data["medians"].get(name, {}).get("cpu_ns_per_call")
    return value / 1e3 if value is not None else None


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a is not None and b else "–"


def render(data: dict[str, Any]) -> str:
    """The markdown section for bench/RESULTS.md."""
    lines = [
        "## The floor: bare reqwest, bare hyper, and hyper with a client's JSON work",
        "",
        f"`bench/floor.py`: the same POST of the same JSON to the same mock upstream; medians of {data['rounds']} "
        f"interleaved rounds of {data['seconds']} s per client, one fresh process each. CPU is the whole "
        "process's (user + system, every thread) per call; cs are its context switches per call (voluntary / "
        "involuntary). *reqwest*: reqwest with the core's version and features (blocking: a current_thread runtime, "
        "`block_on` per call; async: a multi-thread runtime with the core's worker count). *hyper*: bare hyper 1.x "
        "HTTP/1 connections, one per call in flight. *hyper-json*: the same bare hyper with the JSON work any "
        "JSON-in, JSON-out LLM client does: the caller's request parsed into types (borrowing its bytes), the "
        "upstream body and the authorization header written from them once, the answer parsed into types and "
        "checked (id, model, choices, usage); the floor for what the core does, without its validation, routing, "
        "retries, limits or errors. *core*: `liter_llm_core::Client` (`invoke_blocking` / `invoke`). "
        "*C ABI*: `liter_llm_invoke` from `bench/floor.c`.",
        "",
        "| client | shape | in flight | delay | CPU µs/call | ÷ reqwest | ÷ hyper | ÷ hyper-json | cs/call | calls/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for delay in data["delays_ms"]:
        for client, shape, concurrency in data["cells"]:
            name = key(client, shape, concurrency, delay)
            m = data["medians"].get(name)
            if m is None:
                continue
            if "cpu_ns_per_call" not in m:
                failed = f"failed: {m.get('error')}"
                lines.append(f"| {client} | {shape} | {concurrency} | {delay} ms | {failed} | | | | | |")
                continue
            base_shape = "blocking" if shape == "blocking" else "async"
            reqwest = cpu_us(data, key("reqwest", base_shape, concurrency, delay))
            hyper = cpu_us(data, key("hyper", base_shape, concurrency, delay))
            hyper_json = cpu_us(data, key("hyper-json", base_shape, concurrency, delay))
            cpu = m["cpu_ns_per_call"] / 1e3
            cs = f"{m['voluntary_cs_per_call']:.2f} / {m['involuntary_cs_per_call']:.2f}"
            lines.append(
                f"| {client} | {shape} | {concurrency} | {delay} ms | {cpu:.1f} | {ratio(cpu, reqwest)} | "
                f"{ratio(cpu, hyper)} | {ratio(cpu, hyper_json)} | {cs} | {m['throughput']:,.0f} |"
            )
    lines += ["", "Goals, in this run (upstream delay 1 ms):", ""]
    goals = []
    for client in ("core", "c-abi"):
        c1 = cpu_us(data, key(client, "blocking", 1, 1))
        goals.append(
            f"- {client} blocking at 1: {ratio(c1, cpu_us(data, key('reqwest', 'blocking', 1, 1)))} bare reqwest "
            f"(goal ≤ 1.3×), {ratio(c1, cpu_us(data, key('hyper', 'blocking', 1, 1)))} bare hyper (goal ≤ 2×), "
            f"{ratio(c1, cpu_us(data, key('hyper-json', 'blocking', 1, 1)))} hyper-json"
        )
    for concurrency in (64, 256):
        core = cpu_us(data, key("core", "async", concurrency, 1))
        goals.append(
            f"- core async at {concurrency}: {ratio(core, cpu_us(data, key('hyper', 'async', concurrency, 1)))} "
            f"bare hyper (goal ≤ 1.5×), {ratio(core, cpu_us(data, key('hyper-json', 'async', concurrency, 1)))} "
            "hyper-json"
        )
    lines += goals
    if data.get("syscalls"):
        lines += [
            "",
            "System calls per call (`strace -c -f`, a separate untimed run, delay 1 ms, warm-up included):",
            "",
            "| client | shape | in flight | syscalls/call | most frequent (per call) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for client, shape, concurrency in data["cells"]:
            s = data["syscalls"].get(key(client, shape, concurrency, 1))
            if not s:
                continue
            if "error" in s:
                lines.append(f"| {client} | {shape} | {concurrency} | failed: {s['error']} | |")
                continue
            top = ", ".join(f"{name} {n}" for name, n in s["top"].items())
            lines.append(f"| {client} | {shape} | {concurrency} | {s['per_call']:.1f} | {top} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--strace-seconds", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=BENCH / "floor.json")
    args = parser.parse_args()
    data = measure(args.rounds, args.seconds, args.strace_seconds)
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(render(data))


if __name__ == "__main__":
    main()
