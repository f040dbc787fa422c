"""CPU per call of Node packages of liter-llm, interleaved: `completion()` against the mock upstream
at concurrency 1 and at 256 in flight (delay 0), and with the `mock` provider (no HTTP) at
concurrency 1.

    python3 bench/node_cost.py --rounds 5 /tmp/before/node=/tmp/before/libliter_llm.so bindings/node

Each argument is a package directory (a copy of bindings/node), optionally `=` the library it
loads (LITER_LLM_LIBRARY; without it, this checkout's release build). Rounds are interleaved
(every package once per cell, in turn, each in a fresh process: bench/workers/node_worker.js)
and the medians printed, so the load of a shared machine falls on every package alike. Needs the
release mock upstream (make build). Prints one JSON object: {package: {cell: median CPU µs per
call of the whole process, voluntary context switches per call, calls/s}}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402

# (id, worker client, upstream delay in ms, concurrency)
CELLS = (("d0-c1", "liter_llm", 0, 1), ("d0-c256", "liter_llm", 0, 256), ("mock-c1", "liter_llm_mock", 0, 1))


def one(package: str, library: str, cell: tuple[str, str, int, int], upstream: bench.Upstream, args: Any) -> dict:
    cell_id, client, delay, concurrency = cell
    _, base_url = upstream.session(delay)
    job = {
        "client": client,
        "mode": "async",
        "request": json.loads(bench.REQUEST_FILE.read_text()),
        "expect": upstream.response["choices"][0]["message"]["content"],
        "cells": [
            {
                "id": cell_id,
                "base_url": base_url,
                "concurrency": concurrency,
                "warmup_s": args.warmup,
                "duration_s": args.duration,
            }
        ],
    }
    env = bench.worker_env("node") | {"LITER_LLM_LIBRARY": library, "LITER_LLM_NODE_PACKAGE": package}
    worker = str(bench.BENCH / "workers" / "node_worker.js")
    proc = subprocess.run(["node", worker, json.dumps(job)], capture_output=True, text=True, timeout=120, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{package} {cell_id}: exit {proc.returncode}: {bench.last_lines(proc.stderr)}")
    [result] = json.loads(proc.stdout)["cells"]
    if result["errors"]:
        raise RuntimeError(f"{package} {cell_id}: {result['errors']} errors: {result['first_error']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("packages", nargs="+", help="package directories, each optionally =LIBRARY")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=1.5)
    parser.add_argument("--cell", action="append", default=[], choices=[c[0] for c in CELLS], help="only this cell")
    args = parser.parse_args()
    builds = []
    for spec in args.packages:
        package, _, library = spec.partition("=")
        builds.append((str(Path(package).resolve()), library or str(bench.RELEASE / "libliter_llm.so")))
    cells = [c for c in CELLS if not args.cell or c[0] in args.cell]
    samples: dict[str, dict[str, list[dict]]] = {package: {} for package, _ in builds}
    upstream = bench.Upstream()
    try:
        for round_no in range(args.rounds):
            for cell in cells:
                for package, library in builds:
                    samples[package].setdefault(cell[0], []).append(one(package, library, cell, upstream, args))
            print(f"round {round_no + 1} done", file=sys.stderr, flush=True)
    finally:
        upstream.close()
    report = {
        package: {
            cell: {
                "cpu_us_per_call": round(statistics.median(r["cpu_us_per_req"] for r in results), 1),
                "voluntary_switches_per_call": round(
                    statistics.median(r["voluntary_switches_per_req"] for r in results), 2
                ),
                "calls_per_s": round(statistics.median(r["throughput"] for r in results)),
                "cpu_us_samples": [round(r["cpu_us_per_req"]) for r in results],
            }
            for cell, results in per_cell.items()
        }
        for package, per_cell in samples.items()
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
