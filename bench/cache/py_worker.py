"""Cache benchmark worker (Python): `python py_worker.py '<job JSON>'`; prints CPU and wall
microseconds per call. The job: {"config", "request", "vary": bool, "calls", "warmup"}; with
`vary`, call i asks a prompt of its own (every call a miss)."""

from __future__ import annotations

import json
import resource
import sys
import time

import liter_llm


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    job = json.loads(sys.argv[1])
    request = job["request"]
    prompt = request.pop("prompt")
    with liter_llm.Client(job["config"]) as client:
        for i in range(job["warmup"]):
            client.completion(**request, prompt=f"{prompt} w{i}" if job["vary"] else prompt)
        prompts = [f"{prompt} {i}" if job["vary"] else prompt for i in range(job["calls"])]
        statuses = set()
        cpu, wall = cpu_s(), time.perf_counter()
        for p in prompts:
            statuses.add(client.completion(**request, prompt=p)["liter_llm"]["cache"])
        cpu, wall = cpu_s() - cpu, time.perf_counter() - wall
    n = job["calls"]
    print(json.dumps({"cpu_us": cpu * 1e6 / n, "wall_us": wall * 1e6 / n, "statuses": sorted(statuses)}))


if __name__ == "__main__":
    main()
