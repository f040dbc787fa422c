"""The Python binding's own cost per call, against the C ABI called from C in the same run.

    python bench/python_cost.py --floor build/bench/floor [--rounds R] [--calls N] [--baseline DIR]

Every sample is a fresh process; the rounds interleave the clients (C, then each Python form, A B
C ... A B C ...), so drift in a shared machine hits all alike, and the medians are compared. All
of them send `bench/fixtures/request.json` over HTTP to the workspace's mock upstream (delay 0,
one call at a time) and get `bench/fixtures/chat_completion.json`. CPU is the whole process's
(user + system, every thread) per call.

- *C*: `liter_llm_invoke` + `liter_llm_free` from `bench/floor.c`: the core's own cost.
- *raw*: `_native.invoke_raw` with the request already encoded: the cffi call and the copy of the
  answer, nothing else.
- *completion*: `liter_llm.completion(...)` on the main thread (the interruptible path), reading
  the answer's text as an application does; *completion (thread)*: the same from a second thread;
  *acompletion*: `await liter_llm.acompletion(...)` in an asyncio loop, one at a time;
  *acompletion64*: the same, 64 in flight (`asyncio.gather` of 64, batch after batch);
  *astream*: CPU per chunk of `acompletion(..., stream=True)` over streams of 200 words from the
  `mock` provider (no network: the core's mock, the delivery and the binding's chunk objects).

Each Python process also times the steps of a call in-process, with the `mock` provider (no
network): encoding the request, the C call, decoding the answer, building the typed response.
With `--baseline DIR` (a directory holding another `liter_llm` package, e.g. an installed copy of
an earlier version), its forms are measured in the same rounds, for before/after figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MOCK_UPSTREAM = ROOT / "core" / "target" / "release" / "liter-llm-mock-upstream"
REQUEST = json.loads((BENCH / "fixtures" / "request.json").read_text())
RESPONSE = json.loads((BENCH / "fixtures" / "chat_completion.json").read_text())

WORKER = textwrap.dedent(
    """
    import asyncio, json, resource, sys, threading, time
    import liter_llm
    from liter_llm import _client, _native, _types

    form, base_url, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    request = json.loads(sys.argv[4])
    expect = sys.argv[5]
    params = dict(request, model="openai/" + request["model"], api_key="sk-bench", base_url=base_url)

    def cpu():
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_utime + u.ru_stime

    def timed(call, n):
        for _ in range(min(n, 200)):
            call()
        start_cpu, start = cpu(), time.perf_counter()
        for _ in range(n):
            call()
        return (cpu() - start_cpu) / n * 1e6, (time.perf_counter() - start) / n * 1e6

    def completion():
        assert liter_llm.completion(**params).choices[0].message.content == expect

    def raw():
        return _native.invoke_raw(None, provider, body)

    provider, body = _client._encode(None, params)
    if len(sys.argv) > 6:  # counted from outside (callgrind): the calls alone, untimed
        call = raw if form == "raw" else completion
        for _ in range(calls):
            call()
        raise SystemExit(0)
    if form == "raw":
        cpu_us, wall_us = timed(raw, calls)
    elif form == "completion":
        cpu_us, wall_us = timed(completion, calls)
    elif form == "thread":
        out = {}
        thread = threading.Thread(target=lambda: out.update(r=timed(completion, calls)))
        thread.start()
        thread.join()
        cpu_us, wall_us = out["r"]
    elif form == "acompletion":
        async def acompletion():
            assert (await liter_llm.acompletion(**params)).choices[0].message.content == expect

        async def both():
            for _ in range(200):
                await acompletion()
            start_cpu, start = cpu(), time.perf_counter()
            for _ in range(calls):
                await acompletion()
            return (cpu() - start_cpu) / calls * 1e6, (time.perf_counter() - start) / calls * 1e6

        cpu_us, wall_us = asyncio.run(both())
    elif form == "acompletion64":
        async def batch():
            answers = await asyncio.gather(*(liter_llm.acompletion(**params) for _ in range(64)))
            assert all(a.choices[0].message.content == expect for a in answers)

        async def both():
            for _ in range(4):
                await batch()
            batches = max(1, calls // 64)
            start_cpu, start = cpu(), time.perf_counter()
            for _ in range(batches):
                await batch()
            n = batches * 64
            return (cpu() - start_cpu) / n * 1e6, (time.perf_counter() - start) / n * 1e6

        cpu_us, wall_us = asyncio.run(both())
    elif form == "astream":  # per chunk: streams of 200 words from the mock provider
        streamed = dict(request, model="mock/demo", stream=True, mock_response=" ".join(["w"] * 200))

        async def one():
            n = 0
            async for _ in await liter_llm.acompletion(**streamed):
                n += 1
            return n

        async def both():
            for _ in range(5):
                await one()
            start_cpu, start, chunks = cpu(), time.perf_counter(), 0
            for _ in range(max(1, calls // 100)):
                chunks += await one()
            return (cpu() - start_cpu) / chunks * 1e6, (time.perf_counter() - start) / chunks * 1e6

        cpu_us, wall_us = asyncio.run(both())
    else:
        raise SystemExit(f"unknown form {form}")

    # The steps of one call, in-process, with the mock provider (no network).
    mock = dict(request, model="mock/demo")
    m_provider, m_body = _client._encode(None, mock)
    m_result = _native.invoke_raw(None, m_provider, m_body)
    m_parsed = _client.decode(*m_result)
    steps = {
        "encode": timed(lambda: _client._encode(None, mock), 5000)[0],
        "c_call": timed(lambda: _native.invoke_raw(None, m_provider, m_body), 5000)[0],
        "decode": timed(lambda: _client.decode(*m_result), 5000)[0],
        "typed": timed(lambda: _types.as_completion(dict(m_parsed)), 5000)[0],
        "completion": timed(lambda: liter_llm.completion(**mock).choices[0].message.content, 5000)[0],
    }
    print(json.dumps({"cpu_us": cpu_us, "wall_us": wall_us, "steps": steps}))
    """
)


def start_upstream() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(MOCK_UPSTREAM), "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"the mock upstream did not start: {line!r}")
    url = line.removeprefix("listening on ")
    script = {"responses": [{"status": 200, "json": RESPONSE, "delay_ms": 0}], "repeat_last": True}
    put = urllib.request.Request(
        f"{url}/__mock/sessions/pycost",
        data=json.dumps(script).encode(),
        method="PUT",
        headers={"content-type": "application/json"},
    )
    urllib.request.urlopen(put, timeout=10).read()
    return proc, f"{url}/s/pycost"


def python_sample(python: str, path: str | None, form: str, base_url: str, calls: int) -> dict[str, Any]:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = path
    expect = RESPONSE["choices"][0]["message"]["content"]
    args = [python, "-c", WORKER, form, base_url, str(calls), json.dumps(REQUEST), expect]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def c_sample(floor: str, base_url: str, seconds: float) -> dict[str, Any]:
    out = subprocess.run([floor, str(seconds), "50", base_url], capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(out.stdout)
    return {"cpu_us": result["cpu_ns_per_call"] / 1e3, "wall_us": result["median_ns"] / 1e3}


def _callgrind(args: list[str], env: dict[str, str] | None = None) -> int:
    """Instructions counted by callgrind (every thread) over one run of `args`."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no count: {out.stderr[-300:]}")
    return int(match.group(1))


def instructions(python: str, floor: str, baseline: str | None) -> dict[str, float]:
    """User-space instructions per call, from two runs of different lengths (so start-up cancels)."""
    proc, base_url = start_upstream()
    expect = RESPONSE["choices"][0]["message"]["content"]
    counts: dict[str, float] = {}
    try:
        for label, path in [("", None)] + ([("before ", baseline)] if baseline else []):
            env = dict(os.environ)
            if path is not None:
                env["PYTHONPATH"] = path
            for form in ("raw", "completion"):
                runs = [
                    _callgrind([python, "-c", WORKER, form, base_url, str(n), json.dumps(REQUEST), expect, "bare"], env)
                    for n in (50, 350)
                ]
                counts[label + form] = (runs[1] - runs[0]) / 300
        c_runs = []
        for seconds in (1, 3):
            out = subprocess.run(
                ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", floor, str(seconds), "50", base_url],
                capture_output=True,
                text=True,
                timeout=900,
                check=True,
            )
            calls = json.loads(out.stdout)["calls_total"]
            match = re.search(r"Collected : (\d+)", out.stderr)
            assert match is not None
            c_runs.append((calls, int(match.group(1))))
        counts["C"] = (c_runs[1][1] - c_runs[0][1]) / (c_runs[1][0] - c_runs[0][0])
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    return counts


FORMS = ["raw", "completion", "thread", "acompletion", "acompletion64", "astream"]


def measure(
    python: str, floor: str, rounds: int, calls: int, baseline: str | None, forms: list[str] = FORMS
) -> dict[str, Any]:
    proc, base_url = start_upstream()
    packages = [("", None)] + ([("before ", baseline)] if baseline else [])
    samples: dict[str, list[dict[str, Any]]] = {"C": []}
    try:
        for _ in range(rounds):
            samples["C"].append(c_sample(floor, base_url, 1.0))
            for form in forms:
                for label, path in packages:
                    samples.setdefault(label + form, []).append(python_sample(python, path, form, base_url, calls))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    c_cpu = statistics.median(s["cpu_us"] for s in samples["C"])
    result: dict[str, Any] = {"rounds": rounds, "calls": calls, "clients": {}}
    for name, runs in samples.items():
        cpu = statistics.median(s["cpu_us"] for s in runs)
        entry: dict[str, Any] = {
            "cpu_us": cpu,
            "wall_us": statistics.median(s["wall_us"] for s in runs),
            "vs_c": cpu / c_cpu,
            "above_c_us": cpu - c_cpu,
        }
        if name != "C":
            entry["steps"] = {k: statistics.median(s["steps"][k] for s in runs) for k in runs[0]["steps"]}
        result["clients"][name] = entry
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        f"Median of {result['rounds']} interleaved rounds, {result['calls']} calls per Python sample.",
        "",
        "| client | CPU µs / call | above C µs | ÷ C | wall µs / call |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, e in result["clients"].items():
        lines.append(f"| {name} | {e['cpu_us']:.1f} | {e['above_c_us']:.1f} | {e['vs_c']:.2f} | {e['wall_us']:.0f} |")
    lines += [
        "",
        "In-process steps with the `mock` provider (CPU µs per step, medians over the samples):",
        "",
        "| package | encode | C call (mock) | decode | typed response | whole `completion` |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    seen = set()
    for name, e in result["clients"].items():
        label = "before" if name.startswith("before ") else "this"
        if name == "C" or label in seen:
            continue
        seen.add(label)
        s = e["steps"]
        lines.append(
            f"| {label} | {s['encode']:.1f} | {s['c_call']:.1f} | {s['decode']:.1f} | {s['typed']:.1f} "
            f"| {s['completion']:.1f} |"
        )
    counts = result.get("instructions")
    if counts:
        lines += [
            "",
            "Instructions per call (callgrind, every thread, user space; deterministic where CPU time is not):",
            "",
            "| client | instructions / call | ÷ C |",
            "| --- | ---: | ---: |",
        ]
        for name, count in counts.items():
            lines.append(f"| {name} | {count:,.0f} | {count / counts['C']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable, help="the interpreter with liter_llm installed")
    parser.add_argument("--floor", default=str(ROOT / "build" / "bench" / "floor"), help="the compiled bench/floor.c")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000, help="calls per Python sample")
    parser.add_argument("--baseline", help="a directory holding another liter_llm package, measured alongside")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--forms", default=",".join(FORMS), help=f"the Python forms to measure (of {','.join(FORMS)})")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions per call under callgrind (slow)"
    )
    args = parser.parse_args()
    result = measure(args.python, args.floor, args.rounds, args.calls, args.baseline, args.forms.split(","))
    if args.instructions:
        result["instructions"] = instructions(args.python, args.floor, args.baseline)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
