"""The response cache's benchmark (part of `make bench`): what a cache hit costs through each
binding against the `mock` provider's round trip and against a miss, and what a replayed request
log saves. Writes bench/cache/results.json and bench/cache/RESULTS.md.

    python3 bench/cache/run.py [--quick]

Everything runs on 127.0.0.1: the mock upstream (core/mock-upstream, answering at once) and a
redis-server started here with no persistence. Each figure is the median over interleaved rounds
of CPU microseconds per call of the whole worker process (one fresh process per measurement),
calls made one after another.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RELEASE = ROOT / "core" / "target" / "release"
BUILD = ROOT / "build" / "bench" / "cache"
FIXTURE = json.loads((ROOT / "bench" / "fixtures" / "chat_completion.json").read_text())
PYTHON = os.environ.get("PYTHON", str(ROOT / ".venv" / "bin" / "python"))
KEY = "sk-bench-cache"
LANGUAGES = ("c", "python", "node", "go")
L1 = {"mode": "deterministic", "l1": {"max_entries": 100_000}}


def redis_only(url: str) -> dict[str, Any]:
    return {"mode": "deterministic", "redis": {"url": url, "key_prefix": f"bench-{time.time_ns()}:"}}


def both(url: str) -> dict[str, Any]:
    return {**redis_only(url), "l1": {"max_entries": 100_000}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream:
    def __init__(self) -> None:
        binary = os.environ.get("LITER_LLM_MOCK_UPSTREAM", str(RELEASE / "liter-llm-mock-upstream"))
        self.proc = subprocess.Popen(
            [binary, "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip().removeprefix("listening on ")
        self.n = 0

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        with urllib.request.urlopen(urllib.request.Request(self.url + path, data=data, method=method)) as r:
            text = r.read()
        return json.loads(text) if text else None

    def session(self) -> str:
        self.n += 1
        sid = f"cache-{self.n}"
        self._send("PUT", f"/__mock/sessions/{sid}", {"responses": [{"json": FIXTURE}], "repeat_last": True})
        return sid

    def requests(self, sid: str) -> int:
        return len(self._send("GET", f"/__mock/sessions/{sid}/requests")["requests"])

    def delete(self, sid: str) -> None:
        self._send("DELETE", f"/__mock/sessions/{sid}")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


class Redis:
    def __init__(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            sys.exit("redis-server is not installed (Debian package redis-server)")
        port = free_port()
        self.proc = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit("redis-server did not start")
            time.sleep(0.02)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def build_workers() -> None:
    BUILD.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            os.environ.get("CC", "cc"),
            "-O2",
            "-I",
            str(ROOT / "include"),
            str(HERE / "c_worker.c"),
            "-L",
            str(RELEASE),
            "-lliter_llm",
            f"-Wl,-rpath,{RELEASE}",
            "-o",
            str(BUILD / "c_worker"),
        ],
        check=True,
    )
    subprocess.run(["go", "build", "-o", str(BUILD / "go_worker"), "."], cwd=HERE / "go", check=True)


def worker(language: str, job: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "LITER_LLM_LIBRARY": str(RELEASE / "libliter_llm.so"), "NO_PROXY": "*"}
    if language == "c":
        request = json.dumps({**job["request"], "prompt": "\x00"})
        before, after = request.split('"\\u0000"')
        cmd = [
            str(BUILD / "c_worker"),
            json.dumps(job["config"]),
            before + '"',
            '"' + after,
            job["request"]["prompt"],
            str(int(job["vary"])),
            str(job["calls"]),
            str(job["warmup"]),
        ]
    else:
        program = {
            "python": [PYTHON, str(HERE / "py_worker.py")],
            "node": ["node", str(HERE / "node_worker.js")],
            "go": [str(BUILD / "go_worker")],
        }[language]
        cmd = [*program, json.dumps(job)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"the {language} worker failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def scenarios(upstream: Upstream, redis: Redis, quick: bool) -> dict[str, dict[str, Any]]:
    local, remote = (2000, 300) if quick else (20_000, 3000)
    http = {"model": "openai/gpt-4o-mini", "temperature": 0, "api_key": KEY}
    return {
        "mock": {"config": {}, "request": {"model": "mock/m", "temperature": 0}, "vary": True, "calls": local},
        "hit-l1": {"config": {"cache": L1}, "request": http, "vary": False, "calls": local},
        "hit-l2": {"config": {"cache": redis_only(redis.url)}, "request": http, "vary": False, "calls": remote},
        "off": {"config": {}, "request": http, "vary": True, "calls": remote},
        "miss": {"config": {"cache": L1}, "request": http, "vary": True, "calls": remote},
        "miss-l2": {"config": {"cache": redis_only(redis.url)}, "request": http, "vary": True, "calls": remote},
    }


EXPECTED_STATUS = {
    "mock": "off",
    "hit-l1": "hit-l1",
    "hit-l2": "hit-l2",
    "off": "off",
    "miss": "miss",
    "miss-l2": "miss",
}


def measure_costs(upstream: Upstream, redis: Redis, rounds: int, quick: bool) -> dict[str, dict[str, float]]:
    samples: dict[str, dict[str, list[float]]] = {lang: {} for lang in LANGUAGES}
    for r in range(rounds):
        for name, spec in scenarios(upstream, redis, quick).items():
            for language in LANGUAGES:
                sid = upstream.session()
                request = {**spec["request"], "prompt": f"cache bench r{r}"}
                if request["model"].startswith("openai/"):
                    request["base_url"] = f"{upstream.url}/s/{sid}/v1"
                config = json.loads(json.dumps(spec["config"]).replace("bench-", f"bench-{language}-{r}-"))
                job = {**spec, "config": config, "request": request, "warmup": 50 if spec["vary"] else 1}
                result = worker(language, job)
                expected = EXPECTED_STATUS[name]
                if result["statuses"] != [expected]:
                    sys.exit(f"{language} {name}: the calls said {result['statuses']}, not [{expected!r}]")
                upstream.delete(sid)
                samples[language].setdefault(name, []).append(result["cpu_us"])
                print(f"round {r + 1}/{rounds} {language:6} {name:7} {result['cpu_us']:8.2f} us CPU/call", flush=True)
    return {lang: {name: statistics.median(v) for name, v in by.items()} for lang, by in samples.items()}


def replay(upstream: Upstream, redis: Redis, quick: bool) -> dict[str, Any]:
    """A request log with repeated prompts (Zipf-distributed over distinct prompts) replayed by
    two processes in turn, sharing Redis: what reaches the upstream, and the tokens saved."""
    rng = random.Random(8785)
    distinct, total = (100, 600) if quick else (500, 4000)
    weights = [1 / (rank + 1) for rank in range(distinct)]
    log = [f"question {rng.choices(range(distinct), weights)[0]}" for _ in range(total)]
    sid = upstream.session()
    config = {"cache": both(redis.url)}
    script = f"""
import json, sys
import liter_llm
log, config, base_url = json.loads(sys.argv[1])
statuses, saved = {{}}, 0
with liter_llm.Client(config) as client:
    for prompt in log:
        r = client.completion(
            model="openai/gpt-4o-mini", prompt=prompt, temperature=0, api_key="{KEY}", base_url=base_url
        )
        status = r["liter_llm"]["cache"]
        statuses[status] = statuses.get(status, 0) + 1
        if status.startswith("hit"):
            saved += r["usage"]["total_tokens"]
print(json.dumps({{"statuses": statuses, "tokens_saved": saved}}))
"""
    half = total // 2
    processes = []
    for part in (log[:half], log[half:]):
        arg = json.dumps([part, config, f"{upstream.url}/s/{sid}/v1"])
        done = subprocess.run([PYTHON, "-c", script, arg], capture_output=True, text=True, timeout=600, check=True)
        processes.append(json.loads(done.stdout))
    upstream_calls = upstream.requests(sid)
    upstream.delete(sid)
    per_call = FIXTURE["usage"]["total_tokens"]
    saved = sum(p["tokens_saved"] for p in processes)
    return {
        "requests": total,
        "distinct_prompts": len(set(log)),
        "upstream_calls": upstream_calls,
        "processes": processes,
        "tokens_without_cache": total * per_call,
        "tokens_saved": saved,
        "saved_fraction": saved / (total * per_call),
    }


FAILURE_SCRIPT = """
import json, os, signal, sys, time
import liter_llm
config, base_url, redis_pid, action = json.loads(sys.argv[1])
def call(prompt):
    started = time.perf_counter()
    r = client.completion(model="openai/gpt-4o-mini", prompt=prompt, temperature=0, api_key="KEY", base_url=base_url)
    return (time.perf_counter() - started) * 1e3, r["liter_llm"]["cache"]
with liter_llm.Client(config) as client:
    healthy = [call(f"healthy {i}")[0] for i in range(20)]
    os.kill(redis_pid, signal.SIGSTOP if action == "pause" else signal.SIGKILL)
    try:
        first, status = call("failing 0")
        after = [call(f"failing {i}")[0] for i in range(1, 21)]
    finally:
        if action == "pause":
            os.kill(redis_pid, signal.SIGCONT)
healthy.sort(); after.sort()
print(json.dumps({"healthy_ms": healthy[10], "first_ms": first, "first_status": status, "after_ms": after[10],
                  "after_max_ms": after[-1]}))
"""


def failure_modes(upstream: Upstream) -> dict[str, Any]:
    """A Redis that is paused (SIGSTOP) or killed under a client with `l1` + `redis` (timeouts of
    0.25 s, the defaults): what the first call after the failure costs, and the ones after it."""
    results = {}
    for action in ("pause", "kill"):
        redis = Redis()
        sid = upstream.session()
        config = {"cache": both(redis.url)}
        arg = json.dumps([config, f"{upstream.url}/s/{sid}/v1", redis.proc.pid, action])
        script = FAILURE_SCRIPT.replace('"KEY"', repr(KEY))
        done = subprocess.run([PYTHON, "-c", script, arg], capture_output=True, text=True, timeout=120)
        redis.close()
        upstream.delete(sid)
        if done.returncode != 0:
            sys.exit(f"the failure-mode run ({action}) failed: {done.stderr[-2000:]}")
        results[action] = json.loads(done.stdout)
    return results


def report(results: dict[str, Any]) -> str:
    costs = results["cpu_us_per_call"]
    lines = [
        "# Response cache benchmark",
        "",
        f"Measured {results['date']} on {results['machine']} by `bench/cache/run.py` (part of `make bench`).",
        "CPU microseconds per call of the whole process (median of "
        f"{results['rounds']} interleaved rounds, one fresh process each), calls one after another; the mock",
        "upstream and redis-server on 127.0.0.1, answering at once. `mock` is the `mock` provider (no network),",
        "`off` the same HTTP call with no cache, `miss` a cache on and a new prompt each call.",
        "",
        "| binding | mock | hit-l1 | hit-l1 − mock | hit-l2 | off | miss | miss − off | miss, Redis only |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for language in LANGUAGES:
        c = costs[language]
        lines.append(
            f"| {language} | {c['mock']:.1f} | {c['hit-l1']:.1f} | {c['hit-l1'] - c['mock']:+.1f} | {c['hit-l2']:.1f} "
            f"| {c['off']:.1f} | {c['miss']:.1f} | {c['miss'] - c['off']:+.1f} | {c['miss-l2']:.1f} |"
        )
    r = results["replay"]
    lines += [
        "",
        f"Goal: an `l1` hit costs at most the `mock` round trip + 10 µs through the C ABI: "
        f"{costs['c']['hit-l1'] - costs['c']['mock']:+.1f} µs here.",
        "",
        "## Replaying a request log",
        "",
        f"{r['requests']} requests over {r['distinct_prompts']} distinct prompts (Zipf-distributed), "
        "replayed by two processes in turn sharing Redis (`l1` + `redis`, mode `deterministic`):",
        "",
        f"- upstream calls: {r['upstream_calls']} of {r['requests']}",
        f"- cache statuses: first process {r['processes'][0]['statuses']}, second {r['processes'][1]['statuses']}",
        f"- tokens saved: {r['tokens_saved']} of {r['tokens_without_cache']} ({r['saved_fraction']:.0%})",
        "",
        "## Redis failing under a client",
        "",
        "Wall milliseconds per call (misses that go upstream), `l1` + `redis` with the default 0.25 s timeouts:",
        "",
        "| Redis | healthy, median | first call after the failure | the 20 after it: median, max |",
        "| --- | --- | --- | --- |",
    ]
    for action, label in (("pause", "paused (SIGSTOP)"), ("kill", "killed")):
        f = results["failure_modes"][action]
        lines.append(
            f"| {label} | {f['healthy_ms']:.2f} | {f['first_ms']:.1f} ({f['first_status']}) "
            f"| {f['after_ms']:.2f}, {f['after_max_ms']:.2f} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few calls, one round: checks the harness only")
    args = parser.parse_args()
    rounds = 1 if args.quick else 3
    build_workers()
    upstream, redis = Upstream(), Redis()
    try:
        costs = measure_costs(upstream, redis, rounds, args.quick)
        replayed = replay(upstream, redis, args.quick)
        failures = failure_modes(upstream)
    finally:
        upstream.close()
        redis.close()
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs",
        "rounds": rounds,
        "cpu_us_per_call": costs,
        "replay": replayed,
        "failure_modes": failures,
    }
    out = BUILD if args.quick else HERE
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "RESULTS.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
