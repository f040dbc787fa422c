"""What telemetry and the audit trail cost: CPU per call of `liter_llm.completion` against the mock
upstream, in fresh worker processes, with telemetry off (nothing set), on with every span
unsampled (metrics only), on and exporting every span to an OTLP/HTTP sink, and with the audit
trail on; rounds interleave the modes, and each figure is the median of the rounds.

    python bench/telemetry.py [--calls N] [--rounds R] [--floor PATH [--instructions]] [--baseline-library SO]
                              [--out FILE.json]

With `--floor` (bench/floor.c, compiled), the same modes are also measured from C: the floor
program calling the C ABI over HTTP to the mock upstream, CPU per call from getrusage, so the
figures are the core's own cost with no binding in the way; `--instructions` also counts the
instructions per call under callgrind (valgrind), which a loaded machine does not disturb.
`--baseline-library` adds another
build of the library (one before a change, say) with nothing set, in both measurements.

Run by bench/run.py (`make bench`) inside its private network namespace; usable on its own. The
sink is a separate process (its CPU is not counted), answering every export with 200.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MOCK_UPSTREAM = ROOT / "core" / "target" / "release" / "liter-llm-mock-upstream"

SINK = textwrap.dedent(
    """
    import http.server, sys
    class Sink(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a collector does: no connection per export
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)

WORKER = textwrap.dedent(
    """
    import json, resource, sys, time
    import liter_llm
    base_url, calls = sys.argv[1], int(sys.argv[2])
    def call():
        r = liter_llm.completion(model="openai/gpt-4o-mini", prompt="Say hi", api_key="sk-bench",
                                 base_url=base_url, max_tokens=16)
        assert r.choices[0].message.content
    for _ in range(200):
        call()
    def cpu():
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime
    start_cpu, start = cpu(), time.perf_counter()
    for _ in range(calls):
        call()
    print(json.dumps({"cpu_us": (cpu() - start_cpu) / calls * 1e6,
                      "wall_us": (time.perf_counter() - start) / calls * 1e6}))
    """
)

RESPONSE = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
}


def start(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def session(upstream: str) -> str:
    import urllib.request

    sid = f"tel{time.monotonic_ns()}"
    body = json.dumps({"responses": [{"status": 200, "json": RESPONSE}], "repeat_last": True}).encode()
    req = urllib.request.Request(f"{upstream}/__mock/sessions/{sid}", data=body, method="PUT",
                                 headers={"content-type": "application/json"})  # fmt: skip
    urllib.request.urlopen(req, timeout=10).read()
    return f"{upstream}/s/{sid}"


def summarize(samples: dict[str, list[dict[str, float]]], reference: str) -> dict[str, Any]:
    """Medians per mode, and each against `reference` (the same calls with nothing set)."""
    off = statistics.median(s["cpu_us"] for s in samples[reference])
    modes: dict[str, Any] = {}
    for mode, rows in samples.items():
        cpu = statistics.median(s["cpu_us"] for s in rows)
        modes[mode] = {
            "cpu_us_per_call": round(cpu, 1),
            "wall_us_per_call": round(statistics.median(s["wall_us"] for s in rows), 1),
            "vs_off": round(cpu / off, 3),
            "added_cpu_us_per_call": round(cpu - off, 1),
            "samples_cpu_us": [round(s["cpu_us"], 1) for s in rows],
        }
    return modes


def floor_sample(floor: str, seconds: float, base_url: str, env: dict[str, str]) -> dict[str, float]:
    """One run of the C floor program over HTTP: CPU and wall µs per call."""
    out = subprocess.run([floor, str(seconds), "50", base_url], env=env, capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    row = json.loads(out.stdout)
    return {"cpu_us": row["cpu_ns_per_call"] / 1000, "wall_us": row["median_ns"] / 1000}


def instructions_sample(floor: str, base_url: str, env: dict[str, str]) -> float:
    """User-space instructions per call (every thread, the export task's included) of the C floor
    program under callgrind: two runs of different lengths, so that start-up and warm-up cancel.
    Deterministic where CPU time on a shared machine is not."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="liter-llm-bench-cg-") as tmp:
        for seconds in (1.0, 4.0):
            out_file = os.path.join(tmp, f"cg.{seconds}")
            cmd = [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out_file}",
                floor,
                str(seconds),
                "50",
                base_url,
            ]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=True)
            calls = json.loads(out.stdout)["calls"]
            with open(out_file) as f:
                total = next(int(line.split()[1]) for line in f if line.startswith(("summary:", "totals:")))
            runs.append((calls, total))
    (calls1, total1), (calls2, total2) = runs
    return (total2 - total1) / (calls2 - calls1)


def measure(
    python: str,
    calls: int,
    rounds: int,
    baseline: str | None = None,
    floor: str | None = None,
    floor_seconds: float = 2.0,
    instructions: bool = False,
) -> dict[str, Any]:
    upstream_proc, line = start([str(MOCK_UPSTREAM), "--addr", "127.0.0.1:0", "--exit-on-stdin-eof"])
    upstream = line.removeprefix("listening on ")
    sink_proc, port = start([python, "-c", SINK])
    sink = f"http://127.0.0.1:{port}"
    audit_dir = tempfile.mkdtemp(prefix="liter-llm-bench-audit-")
    modes: dict[str, dict[str, str]] = {
        "off": {},
        "on, unsampled": {"OTEL_EXPORTER_OTLP_ENDPOINT": sink, "OTEL_TRACES_SAMPLER": "always_off"},
        "on, exporting": {"OTEL_EXPORTER_OTLP_ENDPOINT": sink, "OTEL_METRIC_EXPORT_INTERVAL": "1000"},
        "audit on": {"LITER_LLM_AUDIT_PATH": os.path.join(audit_dir, "audit.jsonl")},
    }
    if baseline is not None:
        # Another build of the library (one without telemetry, say), with nothing set.
        modes = {"baseline library": {"LITER_LLM_LIBRARY": baseline}, **modes}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LITER_LLM_AUDIT"))}
    samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    c_samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    per_call_instructions: dict[str, float] = {}
    try:
        base_url = session(upstream)
        if instructions and floor is not None:
            for mode, extra in modes.items():
                env = {**base_env, **extra}
                if "LITER_LLM_LIBRARY" in extra:
                    env["LD_LIBRARY_PATH"] = os.path.dirname(os.path.abspath(extra["LITER_LLM_LIBRARY"]))
                per_call_instructions[mode] = instructions_sample(floor, base_url, env)
        for _ in range(rounds):
            for mode, extra in modes.items():
                env = {**base_env, **extra}
                if calls > 0:
                    out = subprocess.run([python, "-c", WORKER, base_url, str(calls)], env=env,
                                         capture_output=True, text=True, timeout=600, check=True)  # fmt: skip
                    samples[mode].append(json.loads(out.stdout))
                if floor is not None:
                    if "LITER_LLM_LIBRARY" in extra:
                        # The floor links the library dynamically: the baseline is found first.
                        env["LD_LIBRARY_PATH"] = os.path.dirname(os.path.abspath(extra["LITER_LLM_LIBRARY"]))
                    c_samples[mode].append(floor_sample(floor, floor_seconds, base_url, env))
    finally:
        for proc in (upstream_proc, sink_proc):
            proc.terminate()
            proc.wait(timeout=10)
    result: dict[str, Any] = {"calls_per_sample": calls, "rounds": rounds, "modes": {}}
    if calls > 0:
        result["modes"] = summarize(samples, "off")
    if floor is not None and rounds > 0:
        result["c_seconds_per_sample"] = floor_seconds
        result["c_modes"] = summarize(c_samples, "off")
    if per_call_instructions:
        off = per_call_instructions["off"]
        result["c_instructions"] = {
            mode: {"per_call": round(n), "added_per_call": round(n - off), "vs_off": round(n / off, 3)}
            for mode, n in per_call_instructions.items()
        }
    return result


def table(result: dict[str, Any]) -> str:
    lines = (
        [
            f"CPU per call, `liter_llm.completion` (sync, one thread) against the mock upstream; median of "
            f"{result['rounds']} rounds of {result['calls_per_sample']} calls, each in a fresh process.",
            "",
            "| mode | CPU µs / call | added µs / call | wall µs / call | vs off |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        if result["modes"]
        else []
    )
    for mode, m in result["modes"].items():
        lines.append(
            f"| {mode} | {m['cpu_us_per_call']} | {m['added_cpu_us_per_call']} | {m['wall_us_per_call']} "
            f"| {m['vs_off']:.3f} |"
        )
    if "c_modes" in result:
        lines += [
            "",
            f"The same modes from C (bench/floor.c calling the C ABI over HTTP, no binding), median of "
            f"{result['rounds']} runs of {result['c_seconds_per_sample']} s each:",
            "",
            "| mode | CPU µs / call | added µs / call | wall µs / call (median batch) | vs off |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for mode, m in result["c_modes"].items():
            lines.append(
                f"| {mode} | {m['cpu_us_per_call']} | {m['added_cpu_us_per_call']} | {m['wall_us_per_call']} "
                f"| {m['vs_off']:.3f} |"
            )
    if "c_instructions" in result:
        lines += [
            "",
            "User-space instructions per call from C (callgrind; every thread, the export task's included), "
            "deterministic where CPU time on a shared machine is not (valgrind's SHA-256 runs without the "
            "CPU's SHA instructions, which inflates the audit's figure):",
            "",
            "| mode | instructions / call | added / call | vs off |",
            "| --- | ---: | ---: | ---: |",
        ]
        for mode, m in result["c_instructions"].items():
            lines.append(f"| {mode} | {m['per_call']:,} | {m['added_per_call']:,} | {m['vs_off']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000, help="Python calls per sample (0: C only)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="a Python with liter_llm installed")
    parser.add_argument("--baseline-library", help="also measure this libliter_llm.so with nothing set")
    parser.add_argument("--floor", help="the compiled bench/floor.c: measure the same modes from C too")
    parser.add_argument("--floor-seconds", type=float, default=2.0, help="seconds per C sample")
    parser.add_argument(
        "--instructions", action="store_true", help="with --floor: instructions per call under callgrind too"
    )
    parser.add_argument("--out", type=Path, help="write the result JSON here, and a table beside it (.md)")
    args = parser.parse_args()
    result = measure(
        args.python, args.calls, args.rounds, args.baseline_library, args.floor, args.floor_seconds, args.instructions
    )
    print(table(result), end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(table(result))


if __name__ == "__main__":
    main()
