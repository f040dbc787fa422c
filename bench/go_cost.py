"""CPU per call of Go workers, interleaved: the Go binding (one or more builds of the Go worker)
against net/http + encoding/json, at concurrency 1 (delay 0) and 256 (delay 50 ms).

    python3 bench/go_cost.py --rounds 5 build/go_worker-before build/bench/go_worker

Each worker binary is run with the liter_llm client; the last one also with net_http, the
baseline. Rounds are interleaved (every binary once per round, in turn) and the medians printed,
so the load of a shared machine falls on every client alike. Needs the release mock upstream
(make build). Prints one JSON object: {client: {cell: median CPU µs per call}} and the calls/s.
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

CELLS = (("d0-c1", 0, 1), ("d50-c256", 50, 256))


def one(
    binary: str, client: str, upstream: bench.Upstream, warmup_s: float, duration_s: float, only: list[str]
) -> dict[str, Any]:
    cells = []
    for cell_id, delay, concurrency in CELLS:
        if only and cell_id not in only:
            continue
        _, base_url = upstream.session(delay)
        cells.append(
            {
                "id": cell_id,
                "base_url": base_url,
                "concurrency": concurrency,
                "warmup_s": warmup_s,
                "duration_s": duration_s,
            }
        )
    job = {
        "client": client,
        "mode": "async",
        "request": json.loads(bench.REQUEST_FILE.read_text()),
        "expect": upstream.response["choices"][0]["message"]["content"],
        "cells": cells,
    }
    proc = subprocess.run(
        [binary, json.dumps(job)], capture_output=True, text=True, timeout=120, env=bench.worker_env("go")
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{binary} {client}: exit {proc.returncode}: {bench.last_lines(proc.stderr)}")
    result = json.loads(proc.stdout)
    out = {}
    for cell in result["cells"]:
        if cell["errors"]:
            raise RuntimeError(f"{binary} {client} {cell['id']}: {cell['errors']} errors: {cell['first_error']}")
        out[cell["id"]] = (cell["cpu_us_per_req"], cell["throughput"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+", help="Go worker binaries (bench/workers/go) to compare")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--cell", action="append", default=[], choices=[c[0] for c in CELLS], help="only this cell")
    args = parser.parse_args()
    runs = [(b, "liter_llm") for b in args.binaries] + [(args.binaries[-1], "net_http")]
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {f"{c} {b}": {} for b, c in runs}
    upstream = bench.Upstream()
    try:
        for round_no in range(args.rounds):
            for binary, client in runs:
                for cell_id, value in one(binary, client, upstream, args.warmup, args.duration, args.cell).items():
                    samples[f"{client} {binary}"].setdefault(cell_id, []).append(value)
            print(f"round {round_no + 1} done", file=sys.stderr, flush=True)
    finally:
        upstream.close()
    report = {
        name: {
            cell: {
                "cpu_us_per_call": round(statistics.median(v[0] for v in values), 1),
                "calls_per_s": round(statistics.median(v[1] for v in values)),
                "cpu_us_samples": [round(v[0]) for v in values],
            }
            for cell, values in cells.items()
        }
        for name, cells in samples.items()
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
