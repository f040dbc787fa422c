#!/usr/bin/env python3
"""Long runs without growth (`make soak`): in each binding (Python, Node, Go), 1,000,000 calls
through the `mock` provider and 200,000 HTTP calls to the mock upstream's chaos mode, times
SOAK_SCALE (default 1), mixed: results, invalid requests, streams, streams abandoned after the
first chunk, cancellations, and under chaos timeouts, resets, cut bodies, malformed JSON, 429
and 5xx. Each driver samples resident memory, open descriptors and threads after each of its 50
rounds. After the warm-up (the first fifth of the rounds, or 40,000 calls if that is longer, at
most half the run) the run must be flat: memory (the mean of the last 5 samples) at most 5 MiB
above its level just after the warm-up (the mean of the first 5 samples after it), and
descriptors and threads never above their highest value during the warm-up (sockets: at most
one idle connection per worker); once the client is closed, no more descriptors than before it
was made. In Go, whose scheduler keeps every thread it ever made, the threads judged flat are the
library's (named liter-llm-*); Go's own are a high-water mark of goroutines blocked in cgo and
system calls at once, so they must stay within the bound the goroutines set (GOMAXPROCS, one per
goroutine that can block, and the runtime's sysmon and template threads), which a thread leaked
per call would pass within a few hundred calls. Writes bench/soak/results.json and the "Soak"
section of bench/RESULTS.md.

    SOAK_SCALE=0.02 python bench/soak/run.py [python node go]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MOCK = Path(os.environ.get("LITER_LLM_MOCK_UPSTREAM", ROOT / "core" / "target" / "release" / "liter-llm-mock-upstream"))
PYTHON = os.environ.get("SOAK_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
DRIVERS = {
    "python": [PYTHON, str(HERE / "soak_python.py")],
    "node": ["node", "--expose-gc", str(HERE / "soak_node.js")],
    "go": [str(ROOT / "build" / "soak-go")],
}
MIB = 1024 * 1024
MAX_RSS_GROWTH = 5 * MIB
WARM_UP = 0.2
WARM_UP_CALLS = 40_000
WINDOW = 5
WORKERS = 64
GO_RUNTIME_THREADS = 2  # sysmon and the template thread, which block in no goroutine's place


def start_mock() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(MOCK), "--addr", "127.0.0.1:0", "--exit-on-stdin-eof", "--max-lifetime-secs", "7200"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not match:
        proc.kill()
        sys.exit(f"soak: the mock upstream said {line!r}")
    return proc, match.group(1)


def judge(run: dict[str, Any]) -> dict[str, Any]:
    samples = run["samples"]
    # Reaching the steady state (the allocator's arenas, the pool) takes a number of calls, not a
    # share of the run: a short run warms up for WARM_UP_CALLS, at most half of it.
    per_round = samples[0]["calls"]
    warm = min(len(samples) // 2, max(int(len(samples) * WARM_UP), -(-WARM_UP_CALLS // per_round)))
    warm_up, after = samples[:warm], samples[warm:]
    # Growth is the trend, not one sample's noise (a collector's heap pages come and go): the
    # mean of the last WINDOW samples against the mean of the first WINDOW after the warm-up.
    first, last = after[:WINDOW], after[-WINDOW:]
    mean = lambda window: sum(s["rss"] for s in window) / len(window)  # noqa: E731
    figures = {
        "rss_at_warm_up_mib": round(mean(first) / MIB, 2),
        "rss_at_end_mib": round(mean(last) / MIB, 2),
        "rss_max_after_mib": round(max(s["rss"] for s in after) / MIB, 2),
        "rss_growth_mib": round((mean(last) - mean(first)) / MIB, 2),
        "files_max_warm_up": max(s["fds"] - s["sockets"] for s in warm_up),
        "files_max_after": max(s["fds"] - s["sockets"] for s in after),
        "sockets_max": max(s["sockets"] for s in samples),
        "threads_max_warm_up": max(s["threads"] - s.get("scheduler_threads", 0) for s in warm_up),
        "threads_max_after": max(s["threads"] - s.get("scheduler_threads", 0) for s in after),
        "fds_before": run["before"]["fds"],
        "fds_after_close": run["after_close"]["fds"],
    }
    problems = []
    if figures["rss_growth_mib"] * MIB >= MAX_RSS_GROWTH:
        problems.append(f"resident memory grew {figures['rss_growth_mib']} MiB after the warm-up")
    if figures["files_max_after"] > figures["files_max_warm_up"]:
        problems.append(
            f"descriptors other than sockets reached {figures['files_max_after']} after the warm-up "
            f"({figures['files_max_warm_up']} before)"
        )
    # Between rounds no call is in flight: the sockets open are the pool's idle connections, at
    # most one per worker (a worker holds one connection at a time).
    if figures["sockets_max"] > WORKERS + run["before"]["sockets"]:
        problems.append(f"{figures['sockets_max']} sockets open between rounds, more than the {WORKERS} workers")
    if figures["threads_max_after"] > figures["threads_max_warm_up"]:
        problems.append(
            f"threads reached {figures['threads_max_after']} after the warm-up ({figures['threads_max_warm_up']})"
        )
    if "gomaxprocs" in run:
        figures["scheduler_threads_max"] = max(s["scheduler_threads"] for s in samples)
        figures["scheduler_threads_bound"] = bound = run["gomaxprocs"] + run["goroutines"] + GO_RUNTIME_THREADS
        if figures["scheduler_threads_max"] > bound:
            problems.append(f"Go's threads reached {figures['scheduler_threads_max']}, above their bound of {bound}")
    if figures["fds_after_close"] > figures["fds_before"]:
        problems.append(
            f"{figures['fds_after_close']} descriptors after close, {figures['fds_before']} before the client"
        )
    calls = samples[-1]["calls"]
    if sum(run["counts"].values()) != calls:
        problems.append(f"{sum(run['counts'].values())} outcomes for {calls} calls")
    return {**figures, "problems": problems}


def go_threads(judged: dict[str, Any]) -> str:
    """Go's own scheduler threads against their bound, for a Go run."""
    if "scheduler_threads_max" not in judged:
        return ""
    return f" (+ Go's {judged['scheduler_threads_max']} ≤ {judged['scheduler_threads_bound']})"


def curve(samples: list[dict[str, Any]], key: str, scale: float = 1) -> str:
    """Ten points of the curve, evenly spaced over the run."""
    step = max(1, len(samples) // 10)
    points = samples[step - 1 :: step]
    return " → ".join(f"{s[key] / scale:.1f}" if scale != 1 else str(s[key]) for s in points)


def write_section(results: dict[str, Any]) -> None:
    lines = [
        "## Soak",
        "",
        f"Generated by `make soak` (`bench/soak/run.py`, SOAK_SCALE={results['scale']}) on "
        f"{results['date']} in {results['seconds']:.0f} s; the samples are in `bench/soak/results.json`. "
        f"Per binding: {results['mock_calls']:,} calls through the `mock` provider and {results['http_calls']:,} "
        "HTTP calls to the mock upstream's chaos mode, interleaved, 64 in flight, sampled after each of 50 rounds. "
        "Flat means: after the warm-up (the first 10 rounds, or 40,000 calls, at most half the run) "
        "memory (the mean of the last 5 samples) at most 5 MiB above its level just after it (the mean "
        "of the first 5 after it; the largest sample is shown too), descriptors other than sockets and "
        "the library's threads never above their warm-up maximum (Go's own scheduler threads, a high-water "
        "mark, within GOMAXPROCS + one per goroutine + 2), sockets "
        "between rounds (the pool's idle connections) at most one per worker, and after the client is closed "
        "no more descriptors than before it was made.",
        "",
        "| binding | calls/s | RSS after warm-up | RSS at the end | RSS max after | growth "
        "| other fds max (warm-up / after) | sockets max "
        "| threads max (warm-up / after) | fds before / after close | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["bindings"].items():
        j = r["judged"]
        rate = r["samples"][-1]["calls"] / r["samples"][-1]["seconds"]
        verdict = "flat" if not j["problems"] else "**" + "; ".join(j["problems"]) + "**"
        lines.append(
            f"| {name} | {rate:,.0f} | {j['rss_at_warm_up_mib']} MiB | {j['rss_at_end_mib']} MiB | "
            f"{j['rss_max_after_mib']} MiB | "
            f"{j['rss_growth_mib']} MiB | {j['files_max_warm_up']} / {j['files_max_after']} | {j['sockets_max']} | "
            f"{j['threads_max_warm_up']} / {j['threads_max_after']}{go_threads(j)} | "
            f"{j['fds_before']} / {j['fds_after_close']} | {verdict} |"
        )
    lines += [
        "",
        "Curves (ten points, evenly spaced over the run): resident memory in MiB, open descriptors, threads.",
        "",
    ]
    for name, r in results["bindings"].items():
        s = r["samples"]
        lines.append(f"- {name}: RSS {curve(s, 'rss', MIB)}; fds {curve(s, 'fds')}; threads {curve(s, 'threads')}")
    lines.append("")
    lines.append(
        "Outcomes per binding: "
        + "; ".join(f"{n} {dict(sorted(r['counts'].items()))}" for n, r in results["bindings"].items())
    )
    section = "\n".join(lines) + "\n"
    report = ROOT / "bench" / "RESULTS.md"
    text = report.read_text() if report.exists() else "# liter-llm benchmarks\n"
    start = text.find("\n## Soak\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[end:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    report.write_text(text)


def main() -> int:
    if sys.argv[1:] == ["--report"]:
        # Judges bench/soak/results.json again and rewrites the section, without running.
        results = json.loads((HERE / "results.json").read_text())
        for run in results["bindings"].values():
            run["judged"] = judge(run)
            print(f"soak: {run['binding']}: {run['judged']}")
        (HERE / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        write_section(results)
        return 1 if any(run["judged"]["problems"] for run in results["bindings"].values()) else 0
    scale = float(os.environ.get("SOAK_SCALE", "1"))
    mock_calls, http_calls = int(1_000_000 * scale), int(200_000 * scale)
    names = sys.argv[1:] or list(DRIVERS)
    began = time.monotonic()
    proc, url = start_mock()
    results: dict[str, Any] = {
        "scale": scale,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mock_calls": mock_calls,
        "http_calls": http_calls,
        "bindings": {},
    }
    failed = False
    try:
        for name in names:
            start = time.monotonic()
            out = subprocess.run(
                [*DRIVERS[name], str(mock_calls), str(http_calls), f"{url}/chaos/{1900 + len(results['bindings'])}"],
                capture_output=True,
                text=True,
                timeout=7200,
                check=False,
            )
            if out.returncode != 0:
                print(out.stdout[-2000:], out.stderr[-4000:], sep="\n")
                print(f"soak: {name}: the driver exited with {out.returncode}")
                failed = True
                continue
            run = json.loads(out.stdout.strip().splitlines()[-1])
            run["judged"] = judge(run)
            results["bindings"][name] = run
            j = run["judged"]
            print(
                f"soak: {name}: {run['samples'][-1]['calls']:,} calls in {time.monotonic() - start:.0f} s; "
                f"RSS {j['rss_at_warm_up_mib']} -> {j['rss_at_end_mib']} (max {j['rss_max_after_mib']}) MiB "
                f"(growth {j['rss_growth_mib']} MiB); non-socket fds max {j['files_max_warm_up']} / "
                f"{j['files_max_after']}, sockets max {j['sockets_max']}; threads max {j['threads_max_warm_up']} / "
                f"{j['threads_max_after']}"
                f"{go_threads(j)}; fds before {j['fds_before']}, after close {j['fds_after_close']}; "
                f"{dict(sorted(run['counts'].items()))}"
            )
            for problem in j["problems"]:
                print(f"soak: {name}: FAIL: {problem}")
                failed = True
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    results["seconds"] = time.monotonic() - began
    (HERE / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    write_section(results)
    print(
        f"soak: {'FAILED' if failed else 'flat'} in {results['seconds']:.0f} s; "
        "bench/RESULTS.md, bench/soak/results.json"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
