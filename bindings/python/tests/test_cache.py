"""The response cache through Python, with a real redis-server started and stopped here: Python
fills Redis, and a second client, then a Node process, hit it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ROOT, Upstream
from test_completion import OPENAI_OK
from test_streaming import EVENTS

import liter_llm

KEY = "sk-test-cache-py-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url() -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (Debian package redis-server)")
    port = _free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _config(redis_url: str) -> dict[str, Any]:
    return {
        "cache": {
            "mode": "deterministic",
            "l1": {"max_entries": 64},
            "redis": {"url": redis_url, "connect_timeout": 0.5, "response_timeout": 0.5, "key_prefix": "py-test:"},
        }
    }


def test_python_fills_redis_and_another_client_hits_it(upstream: Upstream, redis_url: str) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    call: dict[str, Any] = {
        "model": "openai/gpt-4o-mini",
        "prompt": "hi",
        "temperature": 0,
        "api_key": KEY,
        "base_url": s.base_url,
    }
    with liter_llm.Client(_config(redis_url)) as a:
        first = a.completion(**call)
        assert first["liter_llm"]["cache"] == "miss"
        assert a.completion(**call)["liter_llm"]["cache"] == "hit-l1"
    with liter_llm.Client(_config(redis_url)) as b:
        second = b.completion(**call)
    assert second["liter_llm"]["cache"] == "hit-l2"
    assert (second["id"], second["usage"]) == (first["id"], first["usage"])
    assert len(s.requests()) == 1


def test_a_stream_is_replayed_from_redis(upstream: Upstream, redis_url: str) -> None:
    s = upstream.session(
        {"status": 200, "headers": {"content-type": "text/event-stream"}, "chunks": [{"data": e} for e in EVENTS]},
        repeat_last=True,
    )
    call: dict[str, Any] = {
        "model": "openai/gpt-4o-mini",
        "prompt": "s",
        "seed": 3,
        "api_key": KEY,
        "base_url": s.base_url,
    }
    with liter_llm.Client(_config(redis_url)) as a:
        recorded = [dict(c) for c in a.completion(**call, stream=True)]
    with liter_llm.Client(_config(redis_url)) as b:
        replayed = [dict(c) for c in b.completion(**call, stream=True)]
    assert len(s.requests()) == 1
    assert [c["liter_llm"]["cache"] for c in recorded] == ["miss"] * len(recorded)
    assert [c["liter_llm"]["cache"] for c in replayed] == ["hit-l2"] * len(replayed)
    strip = [{k: v for k, v in c.items() if k != "liter_llm"} for c in recorded]
    assert strip == [{k: v for k, v in c.items() if k != "liter_llm"} for c in replayed]


NODE_HIT = """
const { Client } = require(process.argv[1]);
const [config, request] = [JSON.parse(process.argv[2]), JSON.parse(process.argv[3])];
(async () => {
  const client = new Client(config);
  try {
    const r = await client.completion(request);
    process.stdout.write(JSON.stringify({ cache: r.liter_llm.cache, id: r.id, usage: r.usage }));
  } finally {
    await client.close();
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
"""


def test_python_fills_redis_and_node_hits_it(upstream: Upstream, redis_url: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the cross-language cache check needs it")
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    call: dict[str, Any] = {
        "model": "openai/gpt-4o-mini",
        "prompt": "across",
        "temperature": 0,
        "api_key": KEY,
        "base_url": s.base_url,
    }
    with liter_llm.Client(_config(redis_url)) as a:
        filled = a.completion(**call)
    assert filled["liter_llm"]["cache"] == "miss"
    out = subprocess.run(
        [node, "-e", NODE_HIT, str(ROOT / "bindings" / "node"), json.dumps(_config(redis_url)), json.dumps(call)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    hit = json.loads(out.stdout)
    assert hit == {"cache": "hit-l2", "id": filled["id"], "usage": dict(filled["usage"])}
    assert len(s.requests()) == 1


def test_a_forked_child_uses_redis_and_leads_its_own_flights(upstream: Upstream, redis_url: str) -> None:
    # The parent's Redis connection and its calls in flight belong to the parent: the child
    # connects afresh (a hit, not a timeout) and never waits for a parent's call to end.
    from test_fork import in_child

    fast = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    slow = upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": 1500}, repeat_last=True)
    config = _config(redis_url)
    del config["cache"]["l1"]

    def call(client: liter_llm.Client, base_url: str) -> dict[str, Any]:
        return client.completion(
            model="openai/gpt-4o-mini", prompt="fork", temperature=0, api_key=KEY, base_url=base_url, timeout=20
        )

    with liter_llm.Client(config) as client:
        assert call(client, fast.base_url)["liter_llm"]["cache"] == "miss"
        parents = threading.Thread(target=call, args=(client, slow.base_url))
        parents.start()
        deadline = time.monotonic() + 10
        while not slow.requests() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(slow.requests()) == 1, "the parent's call is in flight at the fork"

        def child() -> None:
            assert call(client, fast.base_url)["liter_llm"]["cache"] == "hit-l2"
            started = time.monotonic()
            assert call(client, slow.base_url)["liter_llm"]["cache"] == "miss"
            assert time.monotonic() - started < 10, "the child led its own call"

        assert in_child(child) == 0
        parents.join(20)
    assert len(fast.requests()) == 1
    assert len(slow.requests()) == 2, "the parent's call and the child's own"
