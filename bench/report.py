"""Turns bench/results.json (written by bench/run.py) into bench/RESULTS.md and bench/throughput.png.

bench/.venv/bin/python bench/report.py [--dir DIR] [--total-seconds N]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent

LANGUAGES = {"python": "Python", "node": "Node", "go": "Go"}


class Results:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.clients: dict[str, dict[str, Any]] = data["clients"]
        self.concurrency: list[int] = data["settings"]["concurrency"]
        self.delay: int = data["settings"]["delay_ms"]

    def measured(self, language: str) -> list[dict[str, Any]]:
        return [
            c for c in self.clients.values() if c["language"] == language and c["id"] in self.data.get("rounds", {})
        ]

    def cells(self, client_id: str, cell_id: str) -> list[dict[str, Any]]:
        return [
            r["cells"][cell_id] for r in self.data.get("rounds", {}).get(client_id, []) if cell_id in r.get("cells", {})
        ]

    def median(self, client_id: str, cell_id: str, metric: str) -> float | None:
        values = [
            cell[metric]
            for cell in self.cells(client_id, cell_id)
            if cell.get(metric) is not None and cell["requests"] > 0
        ]
        return statistics.median(values) if values else None

    def upstream_own_ms(self, delay: int, concurrency: int) -> float:
        """The mock's own median latency as wrk saw it; the scripted delay when wrk did not run."""
        cell = self.data.get("ceiling", {}).get(f"d{delay}-c{concurrency}", {})
        return cell.get("p50_ms", float(delay))

    def added_ms(self, client_id: str, delay: int, concurrency: int, metric: str) -> float | None:
        value = self.median(client_id, f"d{delay}-c{concurrency}", metric)
        return None if value is None else value - self.upstream_own_ms(delay, concurrency)

    def import_ms(self, language: str, name: str, net: bool) -> float | None:
        runs = self.data.get("imports", {}).get(language, {})
        if name not in runs:
            return None
        value = statistics.median(runs[name])
        if net:
            bare = "(bare interpreter)" if language == "python" else "(bare node)"
            value -= statistics.median(runs[bare])
        return value

    def memory_mib(self, client_id: str) -> float | None:
        entry = self.data.get("memory", {}).get(client_id, {})
        return entry["peak_rss_kb"] / 1024 if "peak_rss_kb" in entry else None


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if digits == 0 and abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{max(digits, 1) if abs(value) < 100 else 0}f}"


def times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def better(liter: float | None, peer: float | None, lower_is_better: bool) -> float | None:
    """How many times liter-llm is better than the peer (> 1: better)."""
    if liter is None or peer is None or liter <= 0 or peer <= 0:
        return None
    return peer / liter if lower_is_better else liter / peer


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def targets(r: Results) -> str:
    rows: list[list[str]] = []

    def target(
        name: str, liter: float | None, peer: float | None, goal: float, lower_is_better: bool, unit: str
    ) -> None:
        factor = better(liter, peer, lower_is_better)
        met = "–" if factor is None else ("**met**" if factor >= goal else "**not met**")
        rows.append([name, f"{fmt(liter, 1)} {unit}", f"{fmt(peer, 1)} {unit}", times(factor), f"≥ {goal:g}×", met])

    cpu = lambda cid: r.median(cid, "d0-c1", "cpu_us_per_req")  # noqa: E731
    target(
        "client CPU per request ≤ 1/5 of the openai SDK's (sync, vs `OpenAI`)",
        cpu("py-liter_llm-sync"),
        cpu("py-openai-sync"),
        5,
        True,
        "µs",
    )
    target(
        "client CPU per request ≤ 1/5 of the openai SDK's (asyncio, vs `AsyncOpenAI`)",
        cpu("py-liter_llm-async"),
        cpu("py-openai-async"),
        5,
        True,
        "µs",
    )
    target(
        "client CPU per request ≤ 1/20 of LiteLLM's (sync, vs `litellm.completion`)",
        cpu("py-liter_llm-sync"),
        cpu("py-litellm-sync"),
        20,
        True,
        "µs",
    )
    target(
        "client CPU per request ≤ 1/20 of LiteLLM's (asyncio, vs `litellm.acompletion`)",
        cpu("py-liter_llm-async"),
        cpu("py-litellm-async"),
        20,
        True,
        "µs",
    )
    target(
        "`import liter_llm` ≤ 1/20 of `import litellm` (import cost above the bare interpreter)",
        r.import_ms("python", "liter_llm", True),
        r.import_ms("python", "litellm", True),
        20,
        True,
        "ms",
    )
    target(
        "`import liter_llm` faster than `import openai` (same measure)",
        r.import_ms("python", "liter_llm", True),
        r.import_ms("python", "openai", True),
        1,
        True,
        "ms",
    )
    top = max(r.concurrency)
    thr = lambda cid: r.median(cid, f"d{r.delay}-c{top}", "throughput")  # noqa: E731
    target(
        f"asyncio throughput at concurrency {top} ≥ 3× `AsyncOpenAI` (req/s, upstream delay {r.delay} ms)",
        thr("py-liter_llm-async"),
        thr("py-openai-async"),
        3,
        False,
        "req/s",
    )
    floor = r.data.get("floor", {}).get("mock", {})
    floor_us = floor["median_ns"] / 1e3 if "median_ns" in floor else None
    target(
        "C ABI round trip with the `mock` provider ≤ 20 µs (median; peer column: the target)",
        floor_us,
        20.0,
        1,
        True,
        "µs",
    )
    target(
        f"peak memory after {r.data['settings']['memory_calls']:,} calls ≤ 1/4 of LiteLLM's (sync)",
        r.memory_mib("py-liter_llm-sync"),
        r.memory_mib("py-litellm-sync"),
        4,
        True,
        "MiB",
    )
    return table(["target", "liter-llm", "peer", "liter-llm better by", "needed", "result"], rows)


def per_call_table(r: Results, language: str) -> str:
    rows = []
    for c in r.measured(language):
        cid = c["id"]
        rows.append(
            [
                ("**" + c["label"] + "**") if c["is_liter_llm"] else c["label"],
                fmt(r.median(cid, "d0-c1", "cpu_us_per_req")),
                fmt(r.median(cid, "d0-c1", "throughput")),
                fmt(r.median(cid, "d0-c1", "p50_ms"), 2),
                fmt(r.added_ms(cid, 0, 1, "p50_ms"), 2),
                fmt(r.added_ms(cid, 0, 1, "p99_ms"), 2),
            ]
        )
    return table(["client", "CPU µs / request", "req/s", "p50 ms", "added p50 ms", "added p99 ms"], rows)


def concurrency_table(r: Results, language: str) -> str:
    header = ["client"] + [f"req/s @{c}" for c in r.concurrency] + [f"CPU µs/req @{c}" for c in r.concurrency[-1:]]
    header += [f"added p50 / p99 ms @{c}" for c in r.concurrency[1:]]
    rows = []
    for c in r.measured(language):
        cid = c["id"]
        row = [("**" + c["label"] + "**") if c["is_liter_llm"] else c["label"]]
        row += [fmt(r.median(cid, f"d{r.delay}-c{n}", "throughput")) for n in r.concurrency]
        row += [fmt(r.median(cid, f"d{r.delay}-c{n}", "cpu_us_per_req")) for n in r.concurrency[-1:]]
        row += [
            f"{fmt(r.added_ms(cid, r.delay, n, 'p50_ms'), 1)} / {fmt(r.added_ms(cid, r.delay, n, 'p99_ms'), 1)}"
            for n in r.concurrency[1:]
        ]
        rows.append(row)
    return table(header, rows)


def ratio_table(r: Results, language: str) -> str:
    """liter-llm against each peer of the same language, mode against mode."""
    clients = r.measured(language)
    pairs = [
        (ours, p)
        for ours in clients
        if ours["is_liter_llm"]
        for p in clients
        if not p["is_liter_llm"] and p["mode"] == ours["mode"]
    ]
    if not pairs:
        return '(no liter-llm client of this language was measured; see "Problems seen during the run")'
    top = max(r.concurrency)
    metrics: list[tuple[str, Callable[[str], float | None], bool]] = [
        ("CPU per request (delay 0, concurrency 1)", lambda cid: r.median(cid, "d0-c1", "cpu_us_per_req"), True),
        ("added p50 latency (delay 0, concurrency 1)", lambda cid: r.added_ms(cid, 0, 1, "p50_ms"), True),
        (
            f"throughput at concurrency {top} (delay {r.delay} ms)",
            lambda cid: r.median(cid, f"d{r.delay}-c{top}", "throughput"),
            False,
        ),
        (
            f"CPU per request at concurrency {top}",
            lambda cid: r.median(cid, f"d{r.delay}-c{top}", "cpu_us_per_req"),
            True,
        ),
        (f"added p99 latency at concurrency {top}", lambda cid: r.added_ms(cid, r.delay, top, "p99_ms"), True),
        ("peak memory after the memory run", r.memory_mib, True),
    ]
    rows = []
    for liter, peer in pairs:
        row = [f"{liter['label']} vs {peer['label']}"]
        row += [times(better(metric(liter["id"]), metric(peer["id"]), lower)) for _, metric, lower in metrics]
        rows.append(row)
    return table(["pair"] + [name for name, _, _ in metrics], rows)


def memory_table(r: Results) -> str:
    rows = []
    for cid, entry in r.data.get("memory", {}).items():
        label = r.clients[cid]["label"]
        if "peak_rss_kb" not in entry:
            rows.append([label, "–", "–", "failed: " + entry.get("error", "?")])
            continue
        note = f"{entry['errors']} errors" if entry["errors"] else ""
        rows.append(
            [
                label,
                fmt(entry["peak_rss_kb"] / 1024, 1),
                fmt(entry["wall_s"], 1),
                (note + " " + entry.get("crash", "")).strip(),
            ]
        )
    return table(["client (fresh process)", "peak RSS MiB", "wall s", "notes"], rows)


def import_table(r: Results) -> str:
    rows = []
    for language, runs in r.data.get("imports", {}).items():
        for name in runs:
            net = r.import_ms(language, name, True) if not name.startswith("(") else None
            rows.append(
                [
                    LANGUAGES[language],
                    f"`{name}`" if not name.startswith("(") else name,
                    fmt(r.import_ms(language, name, False), 1),
                    fmt(net, 1),
                    str(len(runs[name])),
                ]
            )
    return table(["language", "module", "process wall ms (median)", "above bare ms", "runs"], rows)


def telemetry_section(d: dict[str, Any]) -> list[str]:
    """What telemetry and the audit trail cost (bench/telemetry.py), when the run measured it."""
    if "telemetry" not in d:
        return []
    from telemetry import table as telemetry_table  # bench/telemetry.py, beside this file

    return [
        "## Telemetry and the audit trail",
        "",
        "Off: nothing set. On, unsampled: an OTLP endpoint with `OTEL_TRACES_SAMPLER=always_off` (metrics "
        "only). Exporting: every span sent to an OTLP/HTTP sink in another process. Audit on: "
        '`LITER_LLM_AUDIT_PATH`, no telemetry. Rounds interleave the modes; "added" is the mode\'s CPU per '
        "call minus off's.",
        "",
        telemetry_table(d["telemetry"]),
    ]


def problems(r: Results) -> list[str]:
    notes = [f"- skipped **{what}**: {why}" for what, why in r.data.get("skipped", {}).items()]
    for cid, rounds in r.data.get("rounds", {}).items():
        for i, result in enumerate(rounds, 1):
            if "error" in result:
                notes.append(f"- {cid}, round {i}: worker failed: {result['error']}")
            if "crash" in result:
                notes.append(f"- {cid}, round {i}: {result['crash']}")
            for cell in result.get("cells", {}).values():
                if cell["errors"]:
                    notes.append(
                        f"- {cid}, round {i}, {cell['id']}: {cell['errors']} of {cell['requests']} calls "
                        f"failed: {cell['first_error']}"
                    )
    for cid, entry in r.data.get("memory", {}).items():
        if "crash" in entry:
            notes.append(f"- memory run {cid}: {entry['crash']}")
    return notes


def chart(r: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    languages = [lang for lang in LANGUAGES if r.measured(lang)]
    fig, axes = plt.subplots(1, len(languages), figsize=(5.2 * len(languages), 4.6), squeeze=False)
    ideal = [c / (r.delay / 1000) for c in r.concurrency]
    ceiling = [r.data.get("ceiling", {}).get(f"d{r.delay}-c{c}", {}).get("throughput") for c in r.concurrency]
    for ax, language in zip(axes[0], languages, strict=True):
        ax.plot(r.concurrency, ideal, ":", color="grey", label=f"ideal: concurrency / {r.delay} ms")
        if all(v is not None for v in ceiling):
            ax.plot(r.concurrency, ceiling, "--", color="black", label="wrk against the mock")
        for c in r.measured(language):
            values = [r.median(c["id"], f"d{r.delay}-c{n}", "throughput") for n in r.concurrency]
            ax.plot(
                r.concurrency,
                [math.nan if v is None else v for v in values],
                "o-" if c["is_liter_llm"] else "s--",
                linewidth=2.4 if c["is_liter_llm"] else 1.3,
                label=c["label"],
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(r.concurrency, [str(c) for c in r.concurrency])
        ax.set_xlabel("concurrent calls")
        ax.set_ylabel("requests / s (median over rounds)")
        ax.set_title(f"{LANGUAGES[language]}: throughput, upstream delay {r.delay} ms")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def render(r: Results, generated: float, total_seconds: float | None) -> str:
    d, s, m = r.data, r.data["settings"], r.data["machine"]
    upstream_own = r.upstream_own_ms(0, 1)
    ceiling = d.get("ceiling", {}).get("d0-c64", {})
    floor = d.get("floor", {}).get("mock", {})
    http = d.get("floor", {}).get("http", {})
    out = [
        "# liter-llm benchmarks",
        "",
        "Generated by `make bench` (`bench/run.py`, then `bench/report.py`) on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(generated))}"
        + (f" in {total_seconds / 60:.1f} minutes" if total_seconds else "")
        + ".",
        "Every figure is the median over rounds unless it says otherwise; the raw numbers are in `bench/results.json`.",
    ]
    if d.get("quick"):
        out += [
            "",
            "> **Quick run (`--quick`)**: one short round per client. These numbers check the harness; do not "
            "quote them.",
        ]
    load = float(str(m.get("load average at start", "0")).split()[0])
    if load > 0.5 * (m.get("cores") or 1):
        out += [
            "",
            f"> **Busy machine**: the 1-minute load average was {load:.2f} on {m.get('cores')} cores when the "
            "run started, "
            "so other work competed with every measurement. Treat the figures as noisy; run `make bench` again "
            "on a quiet machine.",
        ]
    out += [
        "",
        "## Targets",
        "",
        targets(r),
        "",
        "\"liter-llm better by\" is the peer's cost divided by liter-llm's (or liter-llm's throughput divided "
        "by the peer's): above 1, liter-llm is ahead.",
        "",
        "## Machine and versions",
        "",
        table(["", ""], [[k, str(v)] for k, v in m.items()] + [[k, f"`{v}`"] for k, v in d["versions"].items()]),
        "",
        "![throughput vs concurrency](throughput.png)",
        "",
    ]
    for language, name in LANGUAGES.items():
        if not r.measured(language):
            continue
        out += [
            f"## {name}",
            "",
            "Per call: upstream delay 0, one call at a time. The mock's own median at concurrency 1 "
            f'({upstream_own:.2f} ms, measured with wrk) is subtracted for "added".'
            + (
                " For reference, the core alone (C calling the C ABI over HTTP) costs "
                f"{http['cpu_ns_per_call'] / 1e3:.0f} µs CPU per call."
                if "cpu_ns_per_call" in http
                else ""
            ),
            "",
            per_call_table(r, language),
            "",
            f'Concurrency: upstream delay {r.delay} ms. "Added" subtracts the mock\'s own median at the same '
            f"concurrency (wrk), about {r.delay} ms.",
            "",
            concurrency_table(r, language),
            "",
            "liter-llm against each peer in the same mode (> 1: liter-llm better):",
            "",
            ratio_table(r, language),
            "",
        ]
    out += [
        "## Import / cold start",
        "",
        'Wall time of fresh processes that only import the module (`python -c "import X"`, `node -e '
        '"require(X)"`), interleaved, after one discarded pass.',
        "",
        import_table(r),
        "",
        f"## Peak memory after {s['memory_calls']:,} calls",
        "",
        f"Peak resident set size (`VmHWM`) of a fresh process that made the calls, {s['memory_concurrency']} "
        "at a time (threads for Python), upstream delay 0. "
        "`VmHWM` rather than `ru_maxrss`: on Linux, exec carries the parent's high-water mark into "
        "`ru_maxrss`, so every worker would report at least the driver's own size.",
        "",
        memory_table(r),
        "",
        "## The floor and the ceiling",
        "",
        '- **C ABI floor**: `liter_llm_invoke("mock", ...)` + `liter_llm_free` from C (`bench/floor.c`), '
        f"batches of 1,000 calls for {s['floor_s']} s: "
        + (
            f"median **{floor['median_ns'] / 1e3:.2f} µs** per call (p10 {floor['p10_ns'] / 1e3:.2f}, p90 "
            f"{floor['p90_ns'] / 1e3:.2f} over {floor['batches']} batches), CPU "
            f"{floor['cpu_ns_per_call'] / 1e3:.2f} µs per call."
            if "median_ns" in floor
            else f"failed: {floor.get('error', 'not run')}"
        ),
        '- **The core alone over HTTP**: the same program calling `liter_llm_invoke("openai", ...)` against '
        "the mock upstream (delay 0, one call at a time, batches of 50): "
        + (
            f"**{http['cpu_ns_per_call'] / 1e3:.0f} µs CPU** per call, median {http['median_ns'] / 1e3:.0f} µs wall. "
            "Compare with each binding's CPU per request above: the difference is the binding's own cost."
            if "median_ns" in http
            else f"failed: {http.get('error', 'not run')}"
        ),
        f"- **Mock upstream's own latency** (wrk, delay 0, one connection): p50 {upstream_own:.2f} ms, p99 "
        f"{d.get('ceiling', {}).get('d0-c1', {}).get('p99_ms', float('nan')):.2f} ms.",
        "- **Mock upstream's ceiling** (wrk, delay 0, 64 connections, 2 threads, sharing the 2 cores with "
        f"wrk): {fmt(ceiling.get('throughput'))} req/s."
        if ceiling
        else "- Mock upstream's ceiling: not measured (wrk missing).",
        f"- With delay {r.delay} ms, wrk reaches "
        + ", ".join(
            f"{fmt(d.get('ceiling', {}).get(f'd{r.delay}-c{c}', {}).get('throughput'))} req/s at {c}"
            for c in r.concurrency
        )
        + " (the dashed line in the chart).",
        "- The mock journals every request; each measurement has its own session, deleted afterwards. Its "
        f"peak RSS over the whole run: {fmt((d.get('mock_upstream_peak_rss_kb') or 0) / 1024, 1)} MiB.",
        "",
        *telemetry_section(d),
        "## Method",
        "",
        "- **Same request, same upstream, same run.** Every client sends `bench/fixtures/request.json` (2 "
        "messages, `max_tokens`, `temperature`) to the workspace's mock upstream "
        "(`liter-llm-mock-upstream`) on 127.0.0.1 and gets `bench/fixtures/chat_completion.json`, a realistic "
        "`chat.completion`; each worker checks that every answer's text is the expected one "
        '(a wrong answer counts as an error). liter_llm and LiteLLM get `model="openai/gpt-4o-mini"` with '
        "`base_url` / `api_base`; the SDKs and the baselines are pointed at the same URL.",
        f"- **Interleaved rounds.** {s['rounds']} round(s); each round runs every client once, in a fresh "
        "process per client (A B C ... A B C ...), so drift in the machine hits all alike. "
        "Each process measures, in order: delay 0 at concurrency 1, then delay "
        f"{r.delay} ms at concurrency {', '.join(map(str, r.concurrency))}; each measurement has its own mock "
        f"session, {s['warmup_s']} s of unmeasured warm-up, then {s['duration_s']} s measured.",
        "- **Concurrency** means that many calls in flight: threads for the Python sync APIs, asyncio tasks "
        "for the async ones, promise chains in Node, goroutines in Go. "
        "Each loop sends its next call as soon as the last returns.",
        "- **Client CPU** is the worker process's own CPU time (`getrusage(RUSAGE_SELF)`, "
        "`process.cpuUsage()`, `syscall.Getrusage`: every thread, including liter-llm's runtime threads) "
        "over the measured window, divided by the calls completed. The mock runs in its own process and is not "
        "counted.",
        "- **Latency added** is the client's p50 / p99 minus the mock's own median at the same delay and "
        f"concurrency, measured with wrk (with delay {r.delay} ms that is about {r.delay} ms). "
        "wrk's median includes wrk's own queueing, so a client that adds almost nothing can come out slightly "
        "negative.",
        "- **Throughput** is calls completed over the measured window. On 2 cores the client, the mock and "
        "wrk share the CPU: at delay 0 every figure is partly the mock's cost; "
        f"with the {r.delay} ms delay the ideal is concurrency / {r.delay} ms, and a client falls below it "
        "when its own CPU per call runs out of cores.",
        "- **Clients as users configure them**: the SDKs and LiteLLM with their defaults (retries off: "
        "`max_retries=0`). "
        "The baselines (`httpx`, Go `net/http`) keep as many idle connections as the concurrency, so they "
        "never reconnect. "
        "LiteLLM runs with `LITELLM_LOCAL_MODEL_COST_MAP=True`, telemetry off.",
        '- **Import / cold start**: median wall time of fresh processes; "above bare" subtracts the bare '
        "interpreter's start-up (`python -c pass`, `node -e ''`).",
        "- **Isolation**: the measurements run in a private network namespace with only a loopback interface "
        "(when run as root), so no client can send anything off the machine.",
        "- Timings are not asserted anywhere; the test suite never depends on them.",
    ]
    if "floor_baselines" in d:
        import floor  # bench/floor.py, beside this file

        out += ["", floor.render(d["floor_baselines"]).rstrip()]
    for notes in ("CALL_PATH.md", "TELEMETRY.md"):
        path = Path(__file__).resolve().parent / notes
        if path.exists():
            out += ["", path.read_text().rstrip()]
    out += [
        "",
        "## Where a peer is ahead, and why",
        "",
        "- **Go: `net/http` + `encoding/json` beats the liter-llm binding** on CPU per call and on latency, and "
        "roughly matches it on throughput. The baseline is one in-process HTTP client with no FFI, speaking "
        "OpenAI's format only. The binding pays for what that baseline does not do: the request is JSON-encoded "
        "in Go, crosses cgo, is parsed, validated and re-encoded by the core, goes out on a second runtime "
        "(Tokio) beside Go's, and the response is parsed twice (core, then Go). The core's own share is listed "
        'under "The floor and the ceiling" (C calling the C ABI over HTTP). Calls with a context that can never be '
        "cancelled use the blocking C call, which avoids a C thread entering Go per result; cancellable "
        "contexts keep the asynchronous call so that cancelling really stops the upstream request. In return "
        "the binding gives Go services the same retries, fallbacks, limits and provider mappings as every "
        "other language.",
        "- **Python: `httpx` comes close at delay 0** (it is the baseline: raw HTTP, no validation, no "
        "provider mapping); liter_llm stays ahead of it on CPU per call and at every concurrency.",
    ]
    notes = problems(r)
    out += ["", "## Problems seen during the run", ""] + (
        notes if notes else ["None: every call of every client returned the expected answer."]
    )
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dir", type=Path, default=BENCH, help="where results.json is and the report goes (default: bench/)"
    )
    parser.add_argument("--total-seconds", type=float, help="the whole run's wall time, for the report")
    args = parser.parse_args()
    results_json = args.dir / "results.json"
    r = Results(json.loads(results_json.read_text()))
    chart(r, args.dir / "throughput.png")
    report = args.dir / "RESULTS.md"
    # The Soak section is bench/soak/run.py's (`make soak`): kept as it is.
    previous = report.read_text() if report.exists() else ""
    start = previous.find("\n## Soak\n")
    end = previous.find("\n## ", start + 1) if start >= 0 else -1
    soak = "" if start < 0 else previous[start + 1 : end + 1 if end >= 0 else None]
    text = render(r, results_json.stat().st_mtime, args.total_seconds)
    report.write_text(text.rstrip("\n") + "\n\n" + soak if soak else text)


if __name__ == "__main__":
    main()
