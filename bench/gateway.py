"""The gateway's overhead, measured with wrk on loopback (part of make bench; writes
bench/GATEWAY.md): added latency p50/p99 at concurrency 1 and throughput at 64 and 256, for the
mock upstream called directly, through `liter-llm serve`, and through the LiteLLM proxy
(bench/.venv's `litellm[proxy]`, when installed) on the same mock in the same run; the
gateway's RSS idle and after the load, and its CPU time per request (user + system, from
/proc/PID/stat), which a loaded machine disturbs less than wall latency.

Every process shares the machine with wrk: the figures are for comparing within one run.
`--baseline GATEWAY` measures another build of the gateway in the same run (before/after), and
`--output FILE` writes the report elsewhere than bench/GATEWAY.md.

usage: gateway.py MOCK_UPSTREAM GATEWAY [--seconds N] [--rounds N] [--baseline GATEWAY] [--output FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import re
import shutil
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
        skipped = ""
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
                skipped = "LiteLLM proxy: it did not answer /health/liveliness within 240 s"
        else:
            skipped = f"LiteLLM proxy: {LITELLM} is missing (pip install 'litellm[proxy]' into bench/.venv)"
        for url in targets.values():
            wrk(url, 8, 1, request_file)  # warm-up
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
    finally:
        for p in reversed(processes):
            p.kill()
            p.wait(timeout=10)
    direct, gw = results["direct"], results["liter-llm serve"]
    lines = [
        "# The gateway's overhead (bench/gateway.py)",
        "",
        f"One run, {args.seconds} s per point, medians of {args.rounds} interleaved rounds (the LiteLLM proxy: "
        "one), wrk on the same 2 loaded cores as the servers; "
        "the mock upstream answers "
        "at once. Added latency is the gateway's (or the proxy's) percentile minus the direct one at concurrency 1.",
        "",
        "| target | p50 c=1 (µs) | p99 c=1 (µs) | req/s c=64 | req/s c=256 | CPU/req c=1 (µs) "
        "| CPU/req c=64 (µs) | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def cpu(name: str, point: dict[str, Any]) -> str:
        return "" if name == "direct" else f"{point['cpu_us']:.0f}"

    for name, r in results.items():
        errors = sum(x["errors"] for x in r.values())
        lines.append(
            f"| {name} | {r[1]['p50_us']:.0f} | {r[1]['p99_us']:.0f} | {r[64]['rps']:.0f} | {r[256]['rps']:.0f} | "
            f"{cpu(name, r[1])} | {cpu(name, r[64])} | {errors} |"
        )
    lines += [
        "",
        f"- liter-llm serve adds {gw[1]['p50_us'] - direct[1]['p50_us']:.0f} µs at p50 and "
        f"{gw[1]['p99_us'] - direct[1]['p99_us']:.0f} µs at p99 (concurrency 1).",
        f"- Throughput through the gateway is {gw[64]['rps'] / direct[64]['rps']:.2f}× direct at c=64 and "
        f"{gw[256]['rps'] / direct[256]['rps']:.2f}× at c=256.",
        f"- Gateway RSS: {idle_rss / 1024:.1f} MiB idle, {loaded_rss / 1024:.1f} MiB after the load.",
    ]
    if "liter-llm serve (baseline)" in results:
        base = results["liter-llm serve (baseline)"]
        lines.append(
            "- The baseline (the build given with --baseline) adds "
            f"{base[1]['p50_us'] - direct[1]['p50_us']:.0f} µs at p50 and "
            f"{base[1]['p99_us'] - direct[1]['p99_us']:.0f} µs at p99, and gives "
            f"{base[64]['rps'] / direct[64]['rps']:.2f}× direct at c=64 and "
            f"{base[256]['rps'] / direct[256]['rps']:.2f}× at c=256."
        )
        lines.append(
            f"- CPU per request, this build against the baseline: {gw[1]['cpu_us']:.0f} / {base[1]['cpu_us']:.0f} µs "
            f"at c=1, {gw[64]['cpu_us']:.0f} / {base[64]['cpu_us']:.0f} µs at c=64."
        )
    if "LiteLLM proxy" in results:
        lite = results["LiteLLM proxy"]
        lines.append(
            f"- Against the LiteLLM proxy (1 worker): {gw[64]['rps'] / lite[64]['rps']:.1f}× its throughput at c=64, "
            f"{gw[256]['rps'] / lite[256]['rps']:.1f}× at c=256; "
            f"it adds {lite[1]['p50_us'] - direct[1]['p50_us']:.0f} µs at p50."
        )
    if skipped:
        lines.append(f"- Not measured: {skipped}.")
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
