"""A panic inside the library becomes an InternalError, in every call form; the process lives on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

PANIC_LIBRARY = ROOT / "build" / "test-panic" / "libliter_llm.so"

# Runs every call form with the provider the test-panic build panics on, and prints each
# outcome as one JSON object; the last line shows the library still works after the panics.
SCRIPT = """
import asyncio, json, threading
import liter_llm

PANIC = "__liter_llm_test_panic__"
request = {"model": "x", "prompt": "x"}


def outcome(call):
    try:
        call()
    except liter_llm.InternalError as e:
        return "InternalError: " + e.message
    except BaseException as e:
        return f"{type(e).__name__}: {e}"
    return "returned"


def in_thread(call):
    box = []
    t = threading.Thread(target=lambda: box.append(outcome(call)))
    t.start()
    t.join()
    return box[0]


async def drain(calls):
    return [c async for c in calls.ainvoke_stream(PANIC, request)]


def forms(calls):
    return {
        "invoke": lambda: outcome(lambda: calls.invoke(PANIC, request)),
        "invoke off the main thread": lambda: in_thread(lambda: calls.invoke(PANIC, request)),
        "ainvoke": lambda: outcome(lambda: asyncio.run(calls.ainvoke(PANIC, request))),
        "invoke_stream": lambda: outcome(lambda: list(calls.invoke_stream(PANIC, request))),
        "ainvoke_stream": lambda: outcome(lambda: asyncio.run(drain(calls))),
    }


results = {name: run() for name, run in forms(liter_llm).items()}
with liter_llm.Client({}) as client:
    results.update({"Client." + name: run() for name, run in forms(client).items()})
    results["after the panics"] = client.invoke("mock", request)["choices"][0]["message"]["content"]
print(json.dumps(results))
"""


def test_a_panic_in_the_library_is_an_internal_error_in_every_call_form() -> None:
    if not PANIC_LIBRARY.exists():
        pytest.fail(f"{PANIC_LIBRARY} is missing: build it with `make test-panic-lib`")
    env = {**os.environ, "LITER_LLM_LIBRARY": str(PANIC_LIBRARY)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results.pop("after the panics") == "This is a mock response from liter-llm."
    assert len(results) == 10
    for name, result in results.items():
        assert result.startswith("InternalError: liter-llm panicked"), (name, result)
