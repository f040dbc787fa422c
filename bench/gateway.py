"""The gateway's overhead on loopback (part of make bench; writes bench/GATEWAY.md): added
latency p50/p99 at concurrency 1 and throughput at 64 and 256, for the mock upstream called
directly, through `liter-llm serve`, and through the LiteLLM proxy (bench/.venv's
`litellm[proxy]`, when installed) on the same mock in the same run; the gateway's RSS idle and
after the load, and its CPU time per request (user + system, from /proc/PID/stat), which a
loaded machine disturbs less than wall latency.

HAProxy (Debian's, when installed) forwarding the same path to the mock is the floor for any
HTTP proxy here: an L7 proxy in C that parses the request head and relays the body without reading
it, with keep-alive and connection reuse to the mock, two threads like the gateway's two workers.
What a proxy can reach at concurrency 64 on these 2 cores, next to direct, is what HAProxy reaches.

Latency at concurrency 1 comes from a probe that alternates the targets request by request on
one keep-alive connection each (thousands of requests per round), so that the machine's noise
falls on the direct and the gateway figures alike and the difference of their p99 resolves;
throughput and CPU time come from wrk.

Every process shares the machine with wrk: the figures are for comparing within one run.
`--baseline GATEWAY` measures another build of the gateway in the same run (before/after), and
`--output FILE` writes the report elsewhere than bench/GATEWAY.md.

usage: gateway.py MOCK_UPSTREAM GATEWAY [--seconds N] [--rounds N] [--samples N] [--baseline GATEWAY]
                  [--output FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from typing import Any

BENCH = pathlib.Path(__file__).resolve().parent
LITELLM = BENCH / ".venv" / "bin" / "litellm"
REQUEST = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_post(url: str, body: bytes, limit: float) -> bool:
    """True once a POST of `body` to `url` answers 200 (within `limit` seconds)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def wait_http(url: str, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def rss_kib(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (0 without one)."""
    if pid is None:
        return 0.0
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, connections: int, seconds: int, request_file: pathlib.Path, pid: int | None = None) -> dict[str, Any]:
    cpu_before = cpu_seconds(pid)
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "wrk_post.lua"),
            url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_REQUEST_FILE": str(request_file)},
        check=True,
    ).stdout
    match = re.search(r"BENCH_JSON (\{.*\})", out)
    if match is None:
        raise SystemExit(f"wrk printed no summary:\n{out}")
    result: dict[str, Any] = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["cpu_us"] = (cpu_seconds(pid) - cpu_before) * 1e6 / max(result["requests"], 1)
    return result


class KeepAlive:
    """One keep-alive HTTP/1.1 connection that POSTs the benchmark request and reads each answer
    whole (by its Content-Length), timing the exchange."""

    def __init__(self, url: str, body: bytes) -> None:
        host_port, _, path = url.removeprefix("http://").partition("/")
        host, _, port = host_port.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = (
            f"POST /{path} HTTP/1.1\r\nHost: {host_port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer sk-bench\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.buffer = b""

    def exchange(self) -> int:
        """Nanoseconds from sending the request to the answer's last byte."""
        started = time.perf_counter_ns()
        self.sock.sendall(self.request)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self.buffer += self.recv()
        head = self.buffer[:end].decode("latin-1")
        if not head.startswith("HTTP/1.1 200"):
            raise SystemExit(f"{head.splitlines()[0]!r} from the latency probe")
        match = re.search(r"(?im)^content-length:\s*(\d+)", head)
        if match is None:
            raise SystemExit(f"an answer without Content-Length:\n{head}")
        total = end + 4 + int(match.group(1))
        while len(self.buffer) < total:
            self.buffer += self.recv()
        elapsed = time.perf_counter_ns() - started
        self.buffer = self.buffer[total:]
        return elapsed

    def recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise SystemExit("the connection closed during the latency probe")
        return data

    def close(self) -> None:
        self.sock.close()


def percentile(sorted_ns: list[int], q: int) -> float:
    """The q-th percentile (µs) of sorted nanosecond samples."""
    return sorted_ns[min(len(sorted_ns) - 1, len(sorted_ns) * q // 100)] / 1e3


def latency_rounds(targets: dict[str, str], body: bytes, samples: int, rounds: int) -> dict[str, dict[str, float]]:
    """p50 and p99 (µs) of each target at concurrency 1 and, for each target after the first
    (direct), what it adds to the first's: medians over `rounds` rounds. Within a round the
    targets take turns request by request, each on its keep-alive connection, so that a burst of
    load elsewhere on the machine falls on all of them alike."""
    connections = {name: KeepAlive(url, body) for name, url in targets.items()}
    first = next(iter(targets))
    try:
        for c in connections.values():
            for _ in range(500):  # warm-up
                c.exchange()
        per_round: dict[str, dict[str, list[float]]] = {
            name: {"p50_us": [], "p99_us": [], "added_p50_us": [], "added_p99_us": []} for name in targets
        }
        for _ in range(rounds):
            times: dict[str, list[int]] = {name: [] for name in targets}
            for _ in range(samples):
                for name, c in connections.items():
                    times[name].append(c.exchange())
            for t in times.values():
                t.sort()
            for name, t in times.items():
                figures = per_round[name]
                figures["p50_us"].append(percentile(t, 50))
                figures["p99_us"].append(percentile(t, 99))
                figures["added_p50_us"].append(percentile(t, 50) - percentile(times[first], 50))
                figures["added_p99_us"].append(percentile(t, 99) - percentile(times[first], 99))
        return {name: {key: statistics.median(v) for key, v in r.items()} for name, r in per_round.items()}
    finally:
        for c in connections.values():
            c.close()


# What the gateway's instructions per request are split into: inclusive counts of these functions.
PARTS = {
    "the handler (App::call, everything below included)": "liter_llm::app::App::call::{{closure}}",
    "the core: the call (driver::serve)": "liter_llm_core::driver::serve::{{closure}}",
    "the core: the plan (Client::plan)": "liter_llm_core::client::Client::plan",
    "authentication (App::authenticate)": "liter_llm::app::App::authenticate",
    "the request's fields (Scan::of)": "liter_llm::scan::Scan::of",
}


def instructions(binary: str, config: pathlib.Path, body: bytes, work: pathlib.Path) -> dict[str, float]:
    """Instructions per request (valgrind's callgrind, deterministic where wall and CPU time are
    not) of the whole gateway process and of PARTS, at concurrency 1: two bounded loads, the
    difference of their counts over the difference of their requests, so that start-up and
    shutdown cancel out."""
    counts: list[dict[str, int]] = []
    loads = (200, 1200)
    for n in loads:
        out = work / f"callgrind.{n}.out"
        port = free_port()
        process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
            + [binary, "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            process.stdout.readline()
            connection = KeepAlive(f"http://127.0.0.1:{port}/v1/chat/completions", body)
            for _ in range(n):
                connection.exchange()
            connection.close()
            process.send_signal(signal.SIGINT)
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        text = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", str(out)], capture_output=True, text=True, check=True
        ).stdout
        found: dict[str, int] = {}
        for line in text.splitlines():
            match = re.match(r"\s*([\d,]+) (?:\([^)]*\))?\s*(?:\?\?\?:)?(.*?)(?: \[.*\])?$", line)
            if match is None:
                continue
            name = match.group(2).strip()
            if name == "PROGRAM TOTALS" or name in PARTS.values():
                found.setdefault(name, int(match.group(1).replace(",", "")))
        counts.append(found)
    per_request = {
        name: (counts[1].get(name, 0) - counts[0].get(name, 0)) / (loads[1] - loads[0])
        for name in ["PROGRAM TOTALS", *PARTS.values()]
    }
    return {"the whole process": per_request["PROGRAM TOTALS"]} | {
        part: per_request[function] for part, function in PARTS.items()
    }


NOTES = "## What the figures are made of, and what was tried"


def haproxy_config(port: int, mock_url: str) -> str:
    """An HTTP proxy in front of the mock: /v1/chat/completions relayed to the bench session's path,
    keep-alive on both sides and the upstream connections reused, two threads."""
    host_port = mock_url.removeprefix("http://")
    return f"""global
    nbthread 2
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always
frontend bench
    bind 127.0.0.1:{port}
    default_backend mock
backend mock
    http-request set-path /s/bench/chat/completions
    server mock {host_port} maxconn 4096
"""


def median_points(points: list[dict[int, dict[str, Any]]]) -> dict[int, dict[str, Any]]:
    """Each figure of each concurrency's point: the median over the rounds (errors: the sum)."""
    out: dict[int, dict[str, Any]] = {}
    for c in points[0]:
        runs = [p[c] for p in points]
        out[c] = {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50_us", "p99_us", "cpu_us")}
        out[c]["errors"] = sum(r["errors"] for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mock")
    parser.add_argument("gateway")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per target; the report gives medians")
    parser.add_argument("--samples", type=int, default=5000, help="requests per target and round of the latency probe")
    parser.add_argument("--baseline", help="another build of the gateway, measured in the same run")
    parser.add_argument("--output", type=pathlib.Path, default=BENCH / "GATEWAY.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    work = pathlib.Path(tempfile.mkdtemp(prefix="liter-llm-gw-bench-"))
    processes: list[subprocess.Popen[str]] = []
    try:
        mock = subprocess.Popen(
            [args.mock, "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        processes.append(mock)
        assert mock.stdout is not None
        mock_url = mock.stdout.readline().strip().removeprefix("listening on ")
        script = json.dumps({"responses": [{"status": 200, "json": ANSWER}], "repeat_last": True}).encode()
        urllib.request.urlopen(
            urllib.request.Request(
                f"{mock_url}/__mock/sessions/bench",
                data=script,
                method="PUT",
                headers={"content-type": "application/json"},
            )
        ).close()
        request_file = work / "request.json"
        request_file.write_text(json.dumps(REQUEST))
        # wrk_post.lua sends `Bearer sk-bench`: the gateway holds its SHA-256.
        config = work / "liter-llm.toml"
        config.write_text(
            f'[providers.openai]\napi_key = "sk-upstream-bench"\nbase_url = "{mock_url}/s/bench"\nmax_retries = 0\n\n'
            f'[server]\nmax_concurrency = 4096\nshutdown_grace = 0\n\n[[server.keys]]\nname = "bench"\n'
            f'key_sha256 = "{hashlib.sha256(b"sk-bench").hexdigest()}"\n'
        )
        gateways: dict[str, tuple[subprocess.Popen[str], int]] = {}
        builds = {"liter-llm serve": args.gateway}
        if args.baseline:
            builds["liter-llm serve (baseline)"] = args.baseline
        for name, binary in builds.items():
            port = free_port()
            gateway = subprocess.Popen(
                [binary, "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
                stdout=subprocess.PIPE,
                text=True,
            )
            processes.append(gateway)
            assert gateway.stdout is not None
            gateway.stdout.readline()
            gateways[name] = (gateway, port)
        time.sleep(0.5)
        idle_rss = rss_kib(gateways["liter-llm serve"][0].pid)
        targets = {"direct": f"{mock_url}/s/bench/chat/completions"}
        pids: dict[str, int | None] = {"direct": None}
        for name, (process, port) in gateways.items():
            targets[name] = f"http://127.0.0.1:{port}/v1/chat/completions"
            pids[name] = process.pid
        skipped = []
        if shutil.which("haproxy"):
            haproxy_port = free_port()
            (work / "haproxy.cfg").write_text(haproxy_config(haproxy_port, mock_url))
            haproxy = subprocess.Popen(
                ["haproxy", "-f", str(work / "haproxy.cfg"), "-db"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            processes.append(haproxy)
            haproxy_url = f"http://127.0.0.1:{haproxy_port}/v1/chat/completions"
            if wait_post(haproxy_url, request_file.read_bytes(), 10):
                targets["HAProxy"] = haproxy_url
                pids["HAProxy"] = haproxy.pid
            else:
                skipped.append("HAProxy: it did not relay a request within 10 s")
        else:
            skipped.append("HAProxy: not installed (apt-get install haproxy)")
        if LITELLM.exists():
            litellm_port = free_port()
            (work / "litellm.yaml").write_text(
                json.dumps(
                    {
                        "model_list": [
                            {
                                "model_name": "openai/gpt-4o-mini",
                                "litellm_params": {
                                    "model": "openai/gpt-4o-mini",
                                    "api_base": f"{mock_url}/s/bench",
                                    "api_key": "sk-upstream-bench",
                                },
                            }
                        ]
                    }
                )
            )
            litellm = subprocess.Popen(
                [
                    str(LITELLM),
                    "--config",
                    str(work / "litellm.yaml"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(litellm_port),
                    "--num_workers",
                    "1",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
                # The bundled price table (no fetch from the network); the key wrk_post.lua sends as the
                # master key, as the gateway checks its key.
                env={
                    **os.environ,
                    "LITELLM_LOG": "ERROR",
                    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                    "LITELLM_MASTER_KEY": "sk-bench",
                    "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
                },
            )
            processes.append(litellm)
            if wait_http(f"http://127.0.0.1:{litellm_port}/health/liveliness", 240):
                targets["LiteLLM proxy"] = f"http://127.0.0.1:{litellm_port}/v1/chat/completions"
                pids["LiteLLM proxy"] = litellm.pid
            else:
                skipped.append("LiteLLM proxy: it did not answer /health/liveliness within 240 s")
        else:
            skipped.append(f"LiteLLM proxy: {LITELLM} is missing (pip install 'litellm[proxy]' into bench/.venv)")
        for url in targets.values():
            wrk(url, 8, 1, request_file)  # warm-up
        # Latency at concurrency 1: the probe, every target but the LiteLLM proxy (tens of ms a
        # request; wrk's figures serve for it).
        probed = {name: url for name, url in targets.items() if name != "LiteLLM proxy"}
        latency = latency_rounds(probed, request_file.read_bytes(), args.samples, args.rounds)
        for name, figures in latency.items():
            print(
                f"latency {name}: p50 {figures['p50_us']:.0f} us p99 {figures['p99_us']:.0f} us, "
                f"added {figures['added_p50_us']:.0f} / {figures['added_p99_us']:.0f} us",
                flush=True,
            )
        # Rounds interleave the targets, so that a burst of load elsewhere on the machine falls on
        # all of them; each figure is the median of its rounds.
        rounds: dict[str, list[dict[int, dict[str, Any]]]] = {name: [] for name in targets}
        for i in range(args.rounds):
            for name, url in targets.items():
                if name == "LiteLLM proxy" and i > 0:
                    continue  # one round: its figures are orders of magnitude apart anyway
                point = {c: wrk(url, c, args.seconds, request_file, pids[name]) for c in (1, 64, 256)}
                rounds[name].append(point)
                print(
                    f"round {i + 1} {name}: "
                    + ", ".join(
                        f"c{c} {r['rps']:.0f}/s p50 {r['p50_us']} us p99 {r['p99_us']} us errors {r['errors']}"
                        for c, r in point.items()
                    ),
                    flush=True,
                )
        results = {name: median_points(points) for name, points in rounds.items()}
        loaded_rss = rss_kib(gateways["liter-llm serve"][0].pid)
        counted: dict[str, dict[str, float]] = {}
        if shutil.which("valgrind") and shutil.which("callgrind_annotate"):
            for name, binary in builds.items():
                counted[name] = instructions(binary, config, request_file.read_bytes(), work)
    finally:
        for p in reversed(processes):
            p.kill()
            p.wait(timeout=10)
    direct, gw = results["direct"], results["liter-llm serve"]
    lines = [
        "# The gateway's overhead (bench/gateway.py)",
        "",
        f"One run on the same 2 loaded cores as the servers; the mock upstream is scripted to answer with no delay. "
        "Latency at "
        f"concurrency 1: the probe in gateway.py, one keep-alive connection per target taking turns request "
        f"by request ({args.samples} requests per target and round, medians of {args.rounds} rounds); added "
        "latency is a target's percentile minus the direct one's in the same round. Throughput and CPU per "
        f"request: wrk, {args.seconds} s per point, medians of {args.rounds} interleaved rounds. The LiteLLM "
        "proxy: one wrk round (its latency too).",
        "",
        "| target | p50 c=1 (µs) | p99 c=1 (µs) | added p50 (µs) | added p99 (µs) | req/s c=64 | req/s c=256 "
        "| CPU/req c=1 (µs) | CPU/req c=64 (µs) | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def cpu(name: str, point: dict[str, Any]) -> str:
        return "" if name == "direct" else f"{point['cpu_us']:.0f}"

    for name, r in results.items():
        errors = sum(x["errors"] for x in r.values())
        if name in latency:
            p50, p99, added_p50, added_p99 = (
                latency[name][key] for key in ("p50_us", "p99_us", "added_p50_us", "added_p99_us")
            )
        else:
            p50, p99 = r[1]["p50_us"], r[1]["p99_us"]
            added_p50, added_p99 = p50 - direct[1]["p50_us"], p99 - direct[1]["p99_us"]
        added = "" if name == "direct" else f"{added_p50:.0f} | {added_p99:.0f}"
        lines.append(
            f"| {name} | {p50:.0f} | {p99:.0f} | {added or ' | '} | {r[64]['rps']:.0f} | {r[256]['rps']:.0f} | "
            f"{cpu(name, r[1])} | {cpu(name, r[64])} | {errors} |"
        )
    lines += [
        "",
        f"- liter-llm serve adds {latency['liter-llm serve']['added_p50_us']:.0f} µs at p50 and "
        f"{latency['liter-llm serve']['added_p99_us']:.0f} µs at p99 (concurrency 1).",
        f"- Throughput through the gateway is {gw[64]['rps'] / direct[64]['rps']:.2f}× direct at c=64 and "
        f"{gw[256]['rps'] / direct[256]['rps']:.2f}× at c=256.",
        f"- Gateway RSS: {idle_rss / 1024:.1f} MiB idle, {loaded_rss / 1024:.1f} MiB after the load.",
    ]
    if "liter-llm serve (baseline)" in results:
        base = results["liter-llm serve (baseline)"]
        lines.append(
            "- The baseline (the build given with --baseline) adds "
            f"{latency['liter-llm serve (baseline)']['added_p50_us']:.0f} µs at p50 and "
            f"{latency['liter-llm serve (baseline)']['added_p99_us']:.0f} µs at p99, and gives "
            f"{base[64]['rps'] / direct[64]['rps']:.2f}× direct at c=64 and "
            f"{base[256]['rps'] / direct[256]['rps']:.2f}× at c=256."
        )
        lines.append(
            f"- CPU per request, this build against the baseline: {gw[1]['cpu_us']:.0f} / {base[1]['cpu_us']:.0f} µs "
            f"at c=1, {gw[64]['cpu_us']:.0f} / {base[64]['cpu_us']:.0f} µs at c=64."
        )
    if "HAProxy" in results:
        hap = results["HAProxy"]
        lines.append(
            f"- HAProxy (the proxy floor) adds {latency['HAProxy']['added_p50_us']:.0f} µs at p50 and "
            f"{latency['HAProxy']['added_p99_us']:.0f} µs at p99, and gives {hap[64]['rps'] / direct[64]['rps']:.2f}× "
            f"direct at c=64 and {hap[256]['rps'] / direct[256]['rps']:.2f}× at c=256; the gateway's throughput is "
            f"{gw[64]['rps'] / hap[64]['rps']:.2f}× HAProxy's at c=64 and {gw[256]['rps'] / hap[256]['rps']:.2f}× at "
            f"c=256, its CPU per request {gw[64]['cpu_us'] / hap[64]['cpu_us']:.2f}× HAProxy's at c=64."
        )
    if "LiteLLM proxy" in results:
        lite = results["LiteLLM proxy"]
        lines.append(
            f"- Against the LiteLLM proxy (1 worker): {gw[64]['rps'] / lite[64]['rps']:.1f}× its throughput at c=64, "
            f"{gw[256]['rps'] / lite[256]['rps']:.1f}× at c=256; "
            f"it adds {lite[1]['p50_us'] - direct[1]['p50_us']:.0f} µs at p50."
        )
    for reason in skipped:
        lines.append(f"- Not measured: {reason}.")
    if counted:
        names = list(counted)
        lines += [
            "",
            "Instructions per request at concurrency 1 (callgrind; inclusive: a part counts what it calls):",
            "",
            "| part | " + " | ".join(names) + " |",
            "| --- |" + " ---: |" * len(names),
        ]
        for part in counted[names[0]]:
            lines.append(f"| {part} | " + " | ".join(f"{counted[n][part]:.0f}" for n in names) + " |")
        lines += [
            "",
            "Under valgrind sha2 takes its software path (valgrind does not run the SHA extensions): "
            "authentication costs less than its count on a CPU with them.",
        ]
    # The written part of the report (what was tried, and why the figures are what they are)
    # follows the measured one, and is kept when the figures are written again.
    kept = ""
    if args.output.exists():
        previous = args.output.read_text()
        if NOTES in previous:
            kept = "\n" + previous[previous.index(NOTES) :]
    args.output.write_text("\n".join(lines) + "\n" + kept)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
