"""Ctrl-C during a blocking call raises KeyboardInterrupt at once and cancels the upstream request."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from conftest import Session, Upstream
from test_completion import OPENAI_OK
from test_streaming import EVENTS

DELAY_MS = 30_000

# Each form makes one blocking call on the main thread, against an upstream that answers after
# DELAY_MS; the test interrupts it once the upstream has the request.
SCRIPT = """
import signal, sys
import liter_llm

# Python maps SIGINT to KeyboardInterrupt unless its parent ignored SIGINT (a CI job may).
signal.signal(signal.SIGINT, signal.default_int_handler)
form, base_url = sys.argv[1], sys.argv[2]
request = {"model": "gpt-4o-mini", "prompt": "x", "api_key": "sk-test-interrupt", "base_url": base_url}
own = {"providers": {"openai": {"api_key": "sk-test-interrupt", "base_url": base_url}}}
try:
    if form == "completion":
        liter_llm.completion(model="openai/gpt-4o-mini", prompt="x", api_key="sk-test-interrupt", base_url=base_url)
    elif form == "invoke":
        liter_llm.invoke("openai", request)
    elif form == "stream":
        for _ in liter_llm.invoke_stream("openai", request):
            pass
    elif form == "Client.completion":
        with liter_llm.Client(own) as client:
            client.completion(model="openai/gpt-4o-mini", prompt="x")
    elif form == "Client.invoke":
        with liter_llm.Client(own) as client:
            client.invoke("openai", {"model": "gpt-4o-mini", "prompt": "x"})
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(0)
print("the call ended without KeyboardInterrupt", flush=True)
sys.exit(1)
"""


def _session(upstream: Upstream, form: str) -> Session:
    if form == "stream":
        chunks = [{"data": EVENTS[0]}, {"data": EVENTS[1], "delay_ms": DELAY_MS}]
        return upstream.session({"status": 200, "headers": {"content-type": "text/event-stream"}, "chunks": chunks})
    return upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": DELAY_MS})


@pytest.mark.parametrize("form", ["completion", "invoke", "stream", "Client.completion", "Client.invoke"])
def test_sigint_interrupts_a_blocking_call_and_cancels_it(upstream: Upstream, form: str) -> None:
    s = _session(upstream, form)
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, form, s.base_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not s.requests():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the request never reached the upstream"
            time.sleep(0.02)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=DELAY_MS / 1000 / 2)
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (out.strip(), proc.returncode) == ("KeyboardInterrupt", 0), err
    # A hang would wait for the upstream's answer; bound it generously, well below the delay.
    assert waited < DELAY_MS / 1000 / 3, waited
    [request] = s.settled_requests()
    assert request["outcome"] == "client_closed", "the upstream connection was closed"
    assert request["ended_at_ms"] - request["received_at_ms"] < DELAY_MS / 3
