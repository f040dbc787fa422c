"""Benchmarks liter-llm against the clients users would pick instead; writes bench/RESULTS.md.

    python3 bench/run.py            # the full run (`make bench`), about 7 minutes on 2 cores
    python3 bench/run.py --quick    # a smoke run of the whole harness, about 2 minutes,
                                    # written to build/bench/quick/

Also measures what telemetry and the audit trail cost per call (bench/telemetry.py, written to
bench/telemetry-cost.md). Steps: install what is missing (bench/.venv from bench/requirements.txt, liter_llm from
./bindings/python, bench/node_modules, the Go worker, the C floor program, wrk), then measure,
when run as root inside a private network namespace that has only a loopback interface, so no
client can reach anything but the mock upstream on 127.0.0.1. Every client runs in fresh worker processes
(bench/workers/) that print JSON; rounds interleave the clients. bench/report.py turns
bench/results.json into bench/RESULTS.md and bench/throughput.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = ROOT / "build" / "bench"
RELEASE = ROOT / "core" / "target" / "release"
MOCK_UPSTREAM = RELEASE / "liter-llm-mock-upstream"
VENV = BENCH / ".venv"
VENV_PY = VENV / "bin" / "python"
GO_WORKER = BUILD / "go_worker"
FLOOR = BUILD / "floor"
REQUEST_FILE = BENCH / "fixtures" / "request.json"
RESPONSE_FILE = BENCH / "fixtures" / "chat_completion.json"
QUICK_DIR = BUILD / "quick"  # a --quick run writes here, leaving the checked-in results alone

CONCURRENCY = (1, 16, 64, 256)
DELAY_MS = 50
MEMORY_CALLS = 10_000
MEMORY_CONCURRENCY = 16


@dataclass(frozen=True)
class Client:
    id: str
    language: str  # python, node, go
    client: str  # the worker's client name
    mode: str  # sync or async
    label: str
    is_liter_llm: bool = False


CLIENTS = (
    Client("py-liter_llm-sync", "python", "liter_llm", "sync", "liter_llm.completion (threads)", True),
    Client("py-liter_llm-async", "python", "liter_llm", "async", "liter_llm.acompletion (asyncio)", True),
    Client("py-openai-sync", "python", "openai", "sync", "openai.OpenAI (threads)"),
    Client("py-openai-async", "python", "openai", "async", "openai.AsyncOpenAI (asyncio)"),
    Client("py-litellm-sync", "python", "litellm", "sync", "litellm.completion (threads)"),
    Client("py-litellm-async", "python", "litellm", "async", "litellm.acompletion (asyncio)"),
    Client("py-httpx-sync", "python", "httpx", "sync", "httpx.Client (threads)"),
    Client("py-httpx-async", "python", "httpx", "async", "httpx.AsyncClient (asyncio)"),
    Client("node-liter_llm", "node", "liter_llm", "async", "liter-llm completion()", True),
    Client("node-openai", "node", "openai", "async", "openai (npm) chat.completions.create()"),
    Client("go-liter_llm", "go", "liter_llm", "async", "literllm.Completion (goroutines)", True),
    Client("go-net_http", "go", "net_http", "async", "net/http + encoding/json (goroutines)"),
)

# One fresh process per client for the memory figure; Python's sync API is the common case.
MEMORY_CLIENTS = (
    "py-liter_llm-sync",
    "py-openai-sync",
    "py-litellm-sync",
    "py-httpx-sync",
    "node-liter_llm",
    "node-openai",
    "go-liter_llm",
    "go-net_http",
)

PYTHON_IMPORTS = ("liter_llm", "openai", "litellm", "httpx")


@dataclass(frozen=True)
class Settings:
    rounds: int
    warmup_s: float
    duration_s: float
    memory_calls: int
    import_runs: int
    floor_s: float
    wrk_s: int


FULL = Settings(rounds=3, warmup_s=0.3, duration_s=0.8, memory_calls=MEMORY_CALLS, import_runs=7, floor_s=2.0, wrk_s=1)
QUICK = Settings(rounds=1, warmup_s=0.1, duration_s=0.3, memory_calls=500, import_runs=3, floor_s=0.5, wrk_s=1)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kwargs)


def worker_env(language: str = "") -> dict[str, str]:
    """The environment of every measured process: no proxies, no provider keys, nothing fetched."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "GOCACHE", "GOPATH")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        NO_PROXY="*",
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # LiteLLM would otherwise download its price list at import
        LITELLM_TELEMETRY="False",
        HF_HUB_OFFLINE="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    if language == "node":
        # The library this run built, not a copy bundled into bindings/node earlier. (Python
        # loads the copy pip installed this run; Go links this one through its rpath.)
        env["LITER_LLM_LIBRARY"] = str(RELEASE / "libliter_llm.so")
    return env


# ---------------------------------------------------------------------------------------------
# Setup: runs outside the network namespace (it needs the package registries).


def setup(skipped: dict[str, str], build: bool) -> None:
    """Builds and installs what the run needs; with `build` False only what is missing."""
    BUILD.mkdir(parents=True, exist_ok=True)
    if build:
        setup_python_and_c()
    setup_node(skipped)
    setup_go(skipped)
    setup_wrk(skipped)


def setup_python_and_c() -> None:
    log("building the core and the mock upstream (cargo, release)")
    # Two invocations, as `make build` does: the library built alone has the same features as
    # the one pip and npm bundle.
    run(["cargo", "build", "--release", "--locked", "-q", "-p", "liter-llm-ffi"], cwd=ROOT / "core")
    run(["cargo", "build", "--release", "--locked", "-q", "-p", "liter-llm-mock-upstream"], cwd=ROOT / "core")
    # bench/floor-rs is its own workspace (the core's ships in packages); built into core/target.
    run(
        ["cargo", "build", "--release", "--locked", "-q"],
        cwd=BENCH / "floor-rs",
        env={**os.environ, "CARGO_TARGET_DIR": str(ROOT / "core" / "target")},
    )

    requirements = BENCH / "requirements.txt"
    marker = VENV / ".requirements-installed"
    if not marker.exists() or marker.read_text() != requirements.read_text():
        log("installing bench/.venv from bench/requirements.txt")
        run([sys.executable, "-m", "venv", str(VENV)])
        run([str(VENV_PY), "-m", "pip", "install", "-q", "--upgrade", "pip"])
        run([str(VENV_PY), "-m", "pip", "install", "-q", "-r", str(requirements)])
        marker.write_text(requirements.read_text())
    log("installing liter_llm from ./bindings/python into bench/.venv")
    run(
        [
            str(VENV_PY),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-build-isolation",
            "--no-deps",
            "--force-reinstall",
            str(ROOT / "bindings" / "python"),
        ]
    )

    log("compiling the C floor program")
    run(
        [
            "cc",
            "-std=c11",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{ROOT / 'include'}",
            str(BENCH / "floor.c"),
            f"-L{RELEASE}",
            "-lliter_llm",
            f"-Wl,-rpath,{RELEASE}",
            "-o",
            str(FLOOR),
        ]
    )


def setup_node(skipped: dict[str, str]) -> None:
    if shutil.which("node") is None:
        skipped["node"] = "node is not installed"
        return
    if not (BENCH / "node_modules" / "openai").exists():
        log("installing bench/node_modules (npm ci)")
        run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=BENCH)
    binding = ROOT / "bindings" / "node"
    if not (binding / "package.json").exists():
        skipped["node-liter_llm"] = "bindings/node does not exist yet"
        return
    if not (binding / "node_modules").exists() and (binding / "package-lock.json").exists():
        log("installing the Node binding's dependencies (npm ci --omit=dev in bindings/node)")
        run(["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--silent"], cwd=binding)
    check = (
        f"if (typeof require({json.dumps(str(binding))}).completion !== 'function') "
        "throw new Error('it exports no completion()')"
    )
    probe = subprocess.run(["node", "-e", check], capture_output=True, text=True, env=worker_env("node"))
    if probe.returncode != 0:
        skipped["node-liter_llm"] = "bindings/node does not load: " + error_line(probe.stderr)


def setup_go(skipped: dict[str, str]) -> None:
    if shutil.which("go") is None:
        skipped["go"] = "go is not installed"
        return
    if not (ROOT / "bindings" / "go" / "go.mod").exists():
        skipped["go-liter_llm"] = "bindings/go does not exist yet"
        return
    log("building the Go worker")
    build = subprocess.run(
        ["go", "build", "-o", str(GO_WORKER), "."], cwd=BENCH / "workers" / "go", capture_output=True, text=True
    )
    if build.returncode != 0:
        skipped["go"] = "the Go worker does not build against bindings/go: " + last_lines(build.stderr)


def setup_wrk(skipped: dict[str, str]) -> None:
    if shutil.which("wrk") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing wrk (apt-get)")
        if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True)
    if shutil.which("wrk") is None:
        skipped["wrk"] = "wrk is not installed (apt-get install wrk); the upstream's ceiling was not measured"


def last_lines(text: str, n: int = 4) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-n:])


def error_line(text: str) -> str:
    """The line of a stack trace that says what went wrong."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return next((line for line in lines if "Error" in line or "error" in line), lines[-1] if lines else "(no output)")


def isolation_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0


# ---------------------------------------------------------------------------------------------
# Measurement: runs inside the network namespace when one could be made.


class Upstream:
    """The workspace's mock upstream, one scripted session per measurement."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(MOCK_UPSTREAM), "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the mock upstream did not start: {line!r}")
        self.url = line.removeprefix("listening on ")
        self.response = json.loads(RESPONSE_FILE.read_text())
        self.sessions = 0

    def _send(self, method: str, path: str, body: bytes | None = None) -> None:
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def session(self, delay_ms: int) -> tuple[str, str]:
        """A fresh session answering every request with the fixture after `delay_ms`: (id, base URL)."""
        self.sessions += 1
        sid = f"bench-{self.sessions}"
        script = {"responses": [{"status": 200, "json": self.response, "delay_ms": delay_ms}], "repeat_last": True}
        self._send("PUT", f"/__mock/sessions/{sid}", json.dumps(script).encode())
        return sid, f"{self.url}/s/{sid}"

    def delete(self, sid: str) -> None:
        self._send("DELETE", f"/__mock/sessions/{sid}")

    def peak_rss_kb(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return None

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def worker_command(client: Client, job: dict[str, Any]) -> list[str]:
    text = json.dumps(job)
    if client.language == "python":
        return [str(VENV_PY), str(BENCH / "workers" / "python_worker.py"), text]
    if client.language == "node":
        return ["node", str(BENCH / "workers" / "node_worker.js"), text]
    return [str(GO_WORKER), text]


def run_worker(client: Client, job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Runs one worker process; its JSON result, with `error` / `crash` notes when it misbehaved."""
    try:
        proc = subprocess.run(
            worker_command(client, job),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=worker_env(client.language),
            cwd=BENCH,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    try:
        result: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"error": f"exit status {proc.returncode}, no result: {last_lines(proc.stderr)}"}
    if proc.returncode != 0:
        # It printed a full result, then failed: while exiting, or with something on stderr.
        result["crash"] = f"exit status {proc.returncode} after printing its result: {last_lines(proc.stderr)}"
    return result


def base_job(client: Client, upstream: Upstream) -> dict[str, Any]:
    return {
        "client": client.client,
        "mode": client.mode,
        "request": json.loads(REQUEST_FILE.read_text()),
        "expect": upstream.response["choices"][0]["message"]["content"],
    }


def measure_round(client: Client, upstream: Upstream, settings: Settings) -> dict[str, Any]:
    """One worker process: delay 0 at concurrency 1, then delay 50 ms at each concurrency."""
    plan = [("d0-c1", 0, 1)] + [(f"d{DELAY_MS}-c{c}", DELAY_MS, c) for c in CONCURRENCY]
    sessions, cells = [], []
    for cell_id, delay, concurrency in plan:
        sid, base_url = upstream.session(delay)
        sessions.append(sid)
        cells.append(
            {
                "id": cell_id,
                "base_url": base_url,
                "concurrency": concurrency,
                "warmup_s": settings.warmup_s,
                "duration_s": settings.duration_s,
            }
        )
    job = base_job(client, upstream) | {"cells": cells}
    timeout = 60 + len(cells) * (settings.warmup_s + settings.duration_s) * 3
    result = run_worker(client, job, timeout)
    for sid in sessions:
        upstream.delete(sid)
    if "cells" in result:
        result["cells"] = {cell["id"]: cell for cell in result["cells"]}
    return result


def measure_memory(client: Client, upstream: Upstream, settings: Settings) -> dict[str, Any]:
    sid, base_url = upstream.session(0)
    job = base_job(client, upstream) | {
        "base_url": base_url,
        "memory_calls": settings.memory_calls,
        "concurrency": MEMORY_CONCURRENCY,
    }
    result = run_worker(client, job, timeout=240)
    upstream.delete(sid)
    return result


def measure_floor(upstream: Upstream, settings: Settings) -> dict[str, Any]:
    """The C ABI from C: with the `mock` provider (the floor), and over HTTP to the mock upstream
    (the core's own cost of a real call, with no language binding in the way)."""
    results = {}
    sid, base_url = upstream.session(0)
    for name, args in (("mock", ["1000"]), ("http", ["50", base_url])):
        proc = subprocess.run(
            [str(FLOOR), str(settings.floor_s), *args], capture_output=True, text=True, timeout=60, env=worker_env()
        )
        results[name] = json.loads(proc.stdout) if proc.returncode == 0 else {"error": last_lines(proc.stderr)}
    upstream.delete(sid)
    return results


def measure_ceiling(upstream: Upstream, settings: Settings) -> dict[str, Any]:
    """wrk against the mock itself: its own latency (delay 0, concurrency 1), its ceiling, and
    the best any client could do with the 50 ms delay."""
    plan = [(0, 1), (0, 64)] + [(DELAY_MS, c) for c in CONCURRENCY]
    results = {}
    for delay, concurrency in plan:
        sid, base_url = upstream.session(delay)
        cmd = [
            "wrk",
            f"-t{min(2, concurrency)}",
            f"-c{concurrency}",
            f"-d{settings.wrk_s}s",
            "-s",
            str(BENCH / "wrk_post.lua"),
            base_url + "/chat/completions",
        ]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=60,
            env=worker_env() | {"BENCH_REQUEST_FILE": str(REQUEST_FILE)},
        )
        upstream.delete(sid)
        line = next((line for line in proc.stdout.splitlines() if line.startswith("BENCH_JSON ")), None)
        key = f"d{delay}-c{concurrency}"
        if line is None:
            results[key] = {"error": last_lines(proc.stdout + proc.stderr)}
            continue
        raw = json.loads(line.removeprefix("BENCH_JSON "))
        results[key] = {
            "requests": raw["requests"],
            "errors": raw["errors"],
            "throughput": raw["requests"] / (raw["duration_us"] / 1e6),
            "p50_ms": raw["p50_us"] / 1e3,
            "p99_ms": raw["p99_us"] / 1e3,
        }
    return results


def measure_imports(settings: Settings, skipped: dict[str, str]) -> dict[str, dict[str, list[float]]]:
    """Wall time of fresh processes that only import, interleaved; the first pass is discarded."""
    commands: dict[str, dict[str, list[str]]] = {
        "python": {"(bare interpreter)": [str(VENV_PY), "-c", "pass"]}
        | {name: [str(VENV_PY), "-c", f"import {name}"] for name in PYTHON_IMPORTS},
    }
    if "node" not in skipped:
        node = {"(bare node)": ["node", "-e", ""], "openai": ["node", "-e", "require('openai')"]}
        if "node-liter_llm" not in skipped:
            node["liter-llm"] = ["node", "-e", f"require({json.dumps(str(ROOT / 'bindings' / 'node'))})"]
        commands["node"] = node
    times: dict[str, dict[str, list[float]]] = {lang: {name: [] for name in cmds} for lang, cmds in commands.items()}
    for attempt in range(settings.import_runs + 1):
        for lang, cmds in commands.items():
            for name, cmd in cmds.items():
                began = time.perf_counter()
                subprocess.run(cmd, check=True, env=worker_env(lang), cwd=BENCH, stdout=subprocess.DEVNULL)
                if attempt > 0:
                    times[lang][name].append((time.perf_counter() - began) * 1e3)
    return times


def versions() -> dict[str, str]:
    probe = (
        "import json, importlib.metadata as m, platform; import liter_llm;"
        "print(json.dumps({'python': platform.python_version(), 'liter_llm (Python)': liter_llm.__version__,"
        + ",".join(f"'{p}': m.version('{p}')" for p in ("openai", "litellm", "httpx", "httpx2", "pydantic", "cffi"))
        + "}))"
    )
    found: dict[str, str] = json.loads(run([str(VENV_PY), "-c", probe], capture_output=True, env=worker_env()).stdout)

    def first_line(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except OSError:
            return "not installed"
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"

    npm_openai = BENCH / "node_modules" / "openai" / "package.json"
    found |= {
        "node": first_line(["node", "--version"]),
        "openai (npm)": json.loads(npm_openai.read_text())["version"] if npm_openai.exists() else "not installed",
        "go": first_line(["go", "version"]),
        "rustc": first_line(["rustc", "--version"]),
        "wrk": first_line(["wrk", "--version"]),
        "liter-llm commit": first_line(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
    }
    return found


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")
    )
    os_name = next(
        (
            line.split("=", 1)[1].strip('"')
            for line in Path("/etc/os-release").read_text().splitlines()
            if line.startswith("PRETTY_NAME=")
        ),
        "?",
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": f"{os_name}, Linux {platform.release()}",
        "load average at start": " ".join(f"{load:.2f}" for load in os.getloadavg()),
    }


def measure(settings: Settings, skipped: dict[str, str], isolated: bool) -> dict[str, Any]:
    started = time.time()
    results: dict[str, Any] = {
        "settings": settings.__dict__
        | {"concurrency": CONCURRENCY, "delay_ms": DELAY_MS, "memory_concurrency": MEMORY_CONCURRENCY},
        "machine": machine()
        | {"network": "private namespace, loopback only" if isolated else "NOT isolated (needs root and unshare)"},
        "versions": versions(),
        "skipped": skipped,
        "clients": {c.id: c.__dict__ for c in CLIENTS},
    }
    clients = [c for c in CLIENTS if c.language not in skipped and c.id not in skipped]
    upstream = Upstream()
    try:
        log("the floor: the C ABI with the mock provider, and over HTTP")
        results["floor"] = measure_floor(upstream, settings)
        if "wrk" not in skipped:
            log("the upstream's own latency and ceiling (wrk)")
            results["ceiling"] = measure_ceiling(upstream, settings)
        log("the floor under a call: the core against bare reqwest and bare hyper clients (bench/floor.py)")
        out = QUICK_DIR if settings is QUICK else BENCH
        floor_rounds, floor_s = (1, 0.3) if settings is QUICK else (5, 1.0)
        run([sys.executable, str(BENCH / "floor.py"), "--rounds", str(floor_rounds), "--seconds", str(floor_s),
             "--out", str(out / "floor.json")], stdout=subprocess.DEVNULL)  # fmt: skip
        results["floor_baselines"] = json.loads((out / "floor.json").read_text())
        results["rounds"] = {c.id: [] for c in clients}
        for round_number in range(1, settings.rounds + 1):
            for client in clients:
                log(f"round {round_number}/{settings.rounds}: {client.id}")
                results["rounds"][client.id].append(measure_round(client, upstream, settings))
        results["memory"] = {}
        for client in (c for c in clients if c.id in MEMORY_CLIENTS):
            log(f"peak memory after {settings.memory_calls} calls: {client.id}")
            results["memory"][client.id] = measure_memory(client, upstream, settings)
        log("import / cold-start times")
        results["imports"] = measure_imports(settings, skipped)
        log("telemetry and audit: CPU per call off, on (unsampled), exporting, audit on (bench/telemetry.py)")
        out = QUICK_DIR if settings is QUICK else BENCH
        calls, rounds = (300, 1) if settings is QUICK else (2000, 5)
        run([str(VENV_PY), str(BENCH / "telemetry.py"), "--calls", str(calls), "--rounds", str(rounds),
             "--floor", str(FLOOR), "--floor-seconds", str(settings.floor_s), "--instructions",
             "--out", str(out / "telemetry-cost.json")])  # fmt: skip
        results["telemetry"] = json.loads((out / "telemetry-cost.json").read_text())
        results["mock_upstream_peak_rss_kb"] = upstream.peak_rss_kb()
    finally:
        upstream.close()
    results["measure_seconds"] = time.time() - started
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round: checks the harness, numbers mean little")
    parser.add_argument(
        "--skip-setup", action="store_true", help="no cargo build, venv install or C compile: use them as they are"
    )
    # The re-run inside the network namespace:
    parser.add_argument("--measure-only", metavar="SKIPPED_JSON", help=argparse.SUPPRESS)
    parser.add_argument("--isolated", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    out_dir = QUICK_DIR if args.quick else BENCH

    if args.measure_only is None:
        began = time.time()
        skipped: dict[str, str] = {}
        setup(skipped, build=not args.skip_setup)
        rerun = [sys.executable, __file__, "--measure-only", json.dumps(skipped)] + (["--quick"] if args.quick else [])
        if isolation_works():
            cmd = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *rerun, "--isolated"]
        else:
            log("no private network namespace (needs root and unshare): measuring without isolation")
            cmd = rerun
        code = subprocess.run(cmd).returncode
        if code == 0:
            run(
                [
                    str(VENV_PY),
                    str(BENCH / "report.py"),
                    "--dir",
                    str(out_dir),
                    "--total-seconds",
                    f"{time.time() - began:.0f}",
                ]
            )
            log(f"done in {time.time() - began:.0f} s: {out_dir / 'RESULTS.md'}, {out_dir / 'throughput.png'}")
        sys.exit(code)

    results = measure(settings, json.loads(args.measure_only), args.isolated)
    results["quick"] = args.quick
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
