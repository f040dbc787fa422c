"""CPU per call of Node packages of liter-llm, interleaved: `completion()` against the mock upstream
at concurrency 1 and at 256 in flight (delay 0), and with the `mock` provider (no HTTP) at
concurrency 1. In the same rounds, the core's own cost from C (bench/floor.c, built here against
this checkout's release library): `c-queued`, the path Node takes (liter_llm_invoke_queued with
as many calls in flight as the cell, poll(2) on the queue's fd, liter_llm_queue_drain), and
`c-blocking`, liter_llm_invoke in a loop (concurrency 1 only).

    python3 bench/node_cost.py --rounds 5 /tmp/before/node=/tmp/before/libliter_llm.so bindings/node

Each argument is a package directory (a copy of bindings/node), optionally `=` the library it
loads (LITER_LLM_LIBRARY; without it, this checkout's release build). Rounds are interleaved
(every package once per cell, in turn, each in a fresh process: bench/workers/node_worker.js)
and the medians printed, so the load of a shared machine falls on every package alike. Needs the
release mock upstream (make build) and a C compiler. Prints one JSON object: {package or C
program: {cell: median CPU µs per call of the whole process, voluntary context switches per call,
calls/s}}, and under "node_minus_c_queued" {package: {cell: its CPU µs per call minus c-queued's}}.
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
FLOOR = bench.BUILD / "floor-node-cost"
# The C programs: name, whether it takes the cell's concurrency (--queued N), else c=1 cells only.
C_PROGRAMS = (("c-queued", True), ("c-blocking", False))


def build_floor() -> None:
    FLOOR.parent.mkdir(parents=True, exist_ok=True)
    include = bench.ROOT / "include"
    subprocess.run(
        ["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{include}", str(bench.BENCH / "floor.c"),
         f"-L{bench.RELEASE}", "-lliter_llm", f"-Wl,-rpath,{bench.RELEASE}", "-o", str(FLOOR)],
        check=True,
    )  # fmt: skip


def one_c(program: str, cell: tuple[str, str, int, int], upstream: bench.Upstream, args: Any) -> dict:
    """bench/floor.c at a cell, as a result shaped like the Node worker's."""
    cell_id, client, delay, concurrency = cell
    queued = program == "c-queued"
    # Results per timed batch: about 20 ms of calls, at least one round of the calls in flight.
    batch = 1000 if client == "liter_llm_mock" else max(50, 4 * concurrency)
    command = [str(FLOOR), *(["--queued", str(concurrency)] if queued else []), str(args.duration), str(batch)]
    if client == "liter_llm":
        _, base_url = upstream.session(delay)
        command.append(base_url)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, env=bench.worker_env())
    if proc.returncode != 0:
        raise RuntimeError(f"{program} {cell_id}: exit {proc.returncode}: {bench.last_lines(proc.stderr)}")
    result = json.loads(proc.stdout)
    if result.get("errors"):
        raise RuntimeError(f"{program} {cell_id}: {result['errors']} errors: {result['first_error']}")
    return {
        "cpu_us_per_req": result["cpu_ns_per_call"] / 1e3,
        "voluntary_switches_per_req": result["voluntary_cs_per_call"],
        "throughput": 1e9 / result["median_ns"],
    }


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
    parser.add_argument("--no-c", action="store_true", help="without the C programs")
    args = parser.parse_args()
    builds = []
    for spec in args.packages:
        package, _, library = spec.partition("=")
        builds.append((str(Path(package).resolve()), library or str(bench.RELEASE / "libliter_llm.so")))
    cells = [c for c in CELLS if not args.cell or c[0] in args.cell]
    programs = [] if args.no_c else C_PROGRAMS
    if programs:
        build_floor()
    samples: dict[str, dict[str, list[dict]]] = {package: {} for package, _ in builds}
    samples |= {program: {} for program, _ in programs}
    upstream = bench.Upstream()
    try:
        for round_no in range(args.rounds):
            for cell in cells:
                for package, library in builds:
                    samples[package].setdefault(cell[0], []).append(one(package, library, cell, upstream, args))
                for program, any_concurrency in programs:
                    if any_concurrency or cell[3] == 1:
                        samples[program].setdefault(cell[0], []).append(one_c(program, cell, upstream, args))
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
    if programs:
        floor = report["c-queued"]
        report["node_minus_c_queued"] = {
            package: {
                cell: round(report[package][cell]["cpu_us_per_call"] - floor[cell]["cpu_us_per_call"], 1)
                for cell in report[package]
            }
            for package, _ in builds
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
