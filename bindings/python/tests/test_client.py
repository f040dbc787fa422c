"""liter_llm.Client: clients with their own configuration, side by side in one process."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import Session, Upstream
from test_completion import OPENAI_OK
from test_streaming import EVENTS

import liter_llm
from liter_llm import _native

SSE = {"content-type": "text/event-stream"}


def _answer(text: str, delay_ms: int = 0) -> dict[str, Any]:
    body = {**OPENAI_OK, "choices": [{**OPENAI_OK["choices"][0], "message": {"role": "assistant", "content": text}}]}
    return {"status": 200, "json": body, "delay_ms": delay_ms}


def _own(session: Session, key: str) -> dict[str, Any]:
    return {"providers": {"openai": {"api_key": key, "base_url": session.base_url}}}


def _prompts(session: Session) -> list[str]:
    return sorted(r["json"]["messages"][-1]["content"] for r in session.requests())


def _wait_for_requests(*expected: tuple[Session, int]) -> None:
    deadline = time.monotonic() + 10
    while any(len(s.requests()) < n for s, n in expected):
        assert time.monotonic() < deadline, "the calls never reached the upstream"
        time.sleep(0.02)


def test_two_clients_keep_their_keys_and_upstreams_apart(upstream: Upstream) -> None:
    delay_ms = 300
    sessions = {
        "a": upstream.session(_answer("from a", delay_ms), repeat_last=True),
        "b": upstream.session(_answer("from b", delay_ms), repeat_last=True),
    }
    clients = {name: liter_llm.Client(_own(s, f"sk-test-tenant-{name}")) for name, s in sessions.items()}
    try:
        answers: list[tuple[str, str]] = []

        def call(name: str, i: int) -> None:
            r = clients[name].completion(model="openai/gpt-4o-mini", prompt=f"{name} thread {i}")
            answers.append((name, r.choices[0].message.content or ""))

        threads = [threading.Thread(target=call, args=(name, i)) for i in range(8) for name in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        async def main() -> list[tuple[str, str]]:
            async def acall(name: str, i: int) -> tuple[str, str]:
                r = await clients[name].acompletion(model="openai/gpt-4o-mini", prompt=f"{name} task {i}")
                return name, r.choices[0].message.content or ""

            return await asyncio.gather(*(acall(name, i) for i in range(8) for name in clients))

        answers += asyncio.run(main())
    finally:
        for client in clients.values():
            client.close()

    assert sorted(answers) == sorted([("a", "from a")] * 16 + [("b", "from b")] * 16)
    for name, session in sessions.items():
        requests = session.requests()
        assert {r["headers"]["authorization"] for r in requests} == {f"Bearer sk-test-tenant-{name}"}
        assert _prompts(session) == sorted(
            [f"{name} thread {i}" for i in range(8)] + [f"{name} task {i}" for i in range(8)]
        )
    # The calls overlapped: every thread's request reached its upstream before any answer was due.
    arrivals = sorted(r["received_at_ms"] for s in sessions.values() for r in s.requests()[:8])
    assert arrivals[-1] - arrivals[0] < delay_ms, arrivals


def test_a_client_reads_its_configuration_file(
    upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = upstream.session(_answer("from the file"), repeat_last=True)
    path = tmp_path / "tenant.toml"
    path.write_text(
        f'[providers.openai]\napi_key = "${{TENANT_KEY}}"\nbase_url = "{s.base_url}"\n\n'
        '[routes.chat]\nmodels = ["openai/gpt-4o-mini"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("TENANT_KEY", "sk-test-from-file")
    for config_file in (path, str(path)):
        with liter_llm.Client(config_file=config_file) as client:
            r = client.completion(model="chat", prompt="x")
        assert r.choices[0].message.content == "from the file"
        assert r["liter_llm"]["model"] == "openai/gpt-4o-mini"
    assert [r["headers"]["authorization"] for r in s.requests()] == ["Bearer sk-test-from-file"] * 2
    with pytest.raises(liter_llm.LiterLLMError):
        liter_llm.completion(model="chat", prompt="x")  # the default client has no such route


def test_a_client_refuses_a_bad_configuration(tmp_path: Path) -> None:
    with pytest.raises(liter_llm.BadRequestError, match=r"providers\.openai\.rpm"):
        liter_llm.Client({"providers": {"openai": {"rpm": "sixty"}}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[defaults]\ntimeout = 5\nretries = 3\n", encoding="utf-8")
    with pytest.raises(liter_llm.BadRequestError, match="line 3") as info:
        liter_llm.Client(config_file=bad)
    assert "retries" in info.value.message
    with pytest.raises(liter_llm.BadRequestError, match="missing.toml"):
        liter_llm.Client(config_file=tmp_path / "missing.toml")
    with pytest.raises(liter_llm.BadRequestError, match="not both"):
        liter_llm.Client({}, config_file=bad)
    with pytest.raises(TypeError):
        liter_llm.Client([])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        liter_llm.Client(config_file="liter\x00llm.toml")


def test_closing_a_client_cancels_its_calls_in_flight(upstream: Upstream) -> None:
    slow = upstream.session(_answer("too late", 30_000), repeat_last=True)
    stalled = upstream.session(
        {"status": 200, "headers": SSE, "chunks": [{"data": EVENTS[0]}, {"data": EVENTS[1], "delay_ms": 30_000}]},
        repeat_last=True,
    )
    client = liter_llm.Client(_own(slow, "sk-test-close"))
    stream_request = {"model": "gpt-4o-mini", "prompt": "x", "base_url": stalled.base_url}
    ended: dict[str, BaseException] = {}

    def record(name: str, call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as e:
            ended[name] = e

    threads = [
        threading.Thread(
            target=record, args=("blocking call", lambda: client.completion(model="openai/x", prompt="x"))
        ),
        threading.Thread(target=record, args=("stream", lambda: list(client.invoke_stream("openai", stream_request)))),
    ]
    for t in threads:
        t.start()

    async def main() -> None:
        async def consume() -> None:
            async for _ in client.ainvoke_stream("openai", stream_request):
                pass

        tasks = {
            "async call": asyncio.ensure_future(client.acompletion(model="openai/x", prompt="x")),
            "async stream": asyncio.ensure_future(consume()),
        }
        await asyncio.get_running_loop().run_in_executor(None, _wait_for_requests, (slow, 2), (stalled, 2))
        client.close()
        for name, task in tasks.items():
            await asyncio.gather(task, return_exceptions=True)
            exc = task.exception()
            assert exc is not None, name
            ended[name] = exc

    asyncio.run(main())
    for t in threads:
        t.join(timeout=10)
        assert not t.is_alive(), "a call still waits after close()"
    assert sorted(ended) == ["async call", "async stream", "blocking call", "stream"]
    for name, e in ended.items():
        assert isinstance(e, liter_llm.CancelledError), (name, e)
        assert e.kind == "cancelled" and "its client was closed" in e.message, (name, e.message)
    for request in slow.settled_requests() + stalled.settled_requests():
        assert request["outcome"] == "client_closed"


def test_closing_a_client_ends_a_blocking_call_on_the_main_thread(upstream: Upstream) -> None:
    slow = upstream.session(_answer("too late", 30_000))
    client = liter_llm.Client(_own(slow, "sk-test-close"))

    def close_once_sent() -> None:
        _wait_for_requests((slow, 1))
        client.close()

    closer = threading.Thread(target=close_once_sent)
    closer.start()
    with pytest.raises(liter_llm.CancelledError):
        client.completion(model="openai/x", prompt="x")
    closer.join()
    [request] = slow.settled_requests()
    assert request["outcome"] == "client_closed"


def test_calls_on_a_closed_client_raise_and_close_is_idempotent() -> None:
    client = liter_llm.Client({})
    assert not client.closed
    client.close()
    client.close()
    assert client.closed and "closed" in repr(client)
    request = {"model": "mock/x", "prompt": "x"}
    calls: list[Callable[[], object]] = [
        lambda: client.completion(model="mock/x", prompt="x"),
        lambda: client.completion(model="mock/x", prompt="x", stream=True),
        lambda: client.invoke(None, request),
        lambda: client.invoke_stream(None, request),
        lambda: asyncio.run(client.acompletion(model="mock/x", prompt="x")),
        lambda: asyncio.run(client.ainvoke(None, request)),
    ]
    for call in calls:
        with pytest.raises(liter_llm.BadRequestError, match="Client is closed"):
            call()

    async def stream_on_closed() -> None:
        client.ainvoke_stream(None, request)

    with pytest.raises(liter_llm.BadRequestError, match="Client is closed"):
        asyncio.run(stream_on_closed())


def test_with_and_async_with_close_the_client() -> None:
    with liter_llm.Client({}) as client:
        assert (
            client.invoke("mock", {"model": "x", "prompt": "x", "mock_response": "sync"})["choices"][0]["message"][
                "content"
            ]
            == "sync"
        )
    assert client.closed

    async def main() -> liter_llm.Client:
        async with liter_llm.Client({}) as client:
            r = await client.acompletion(model="mock/x", prompt="x", mock_response="async")
            assert r.choices[0].message.content == "async"
            chunks = [c async for c in await client.acompletion(model="mock/x", prompt="x", stream=True)]
            assert liter_llm.stream_chunk_builder(chunks).choices[0].message.content
        return client

    assert asyncio.run(main()).closed


def test_a_client_collected_without_close_is_freed() -> None:
    client = liter_llm.Client({})
    handle = client._client_id()
    assert client.invoke("mock", {"model": "x", "prompt": "x"})["choices"]
    del client
    gc.collect()
    is_error, data = _native.invoke_raw(handle, b"mock", b'{"model": "x", "prompt": "x"}')
    assert is_error and b"does not exist or was freed" in data


def test_a_stream_keeps_its_client_open_while_it_runs(upstream: Upstream) -> None:
    chunks = [{"data": e, "delay_ms": 300 if i == 2 else 0} for i, e in enumerate(EVENTS)]
    s = upstream.session({"status": 200, "headers": SSE, "chunks": chunks})
    client = liter_llm.Client(_own(s, "sk-test-stream"))
    stream = client.completion(model="openai/gpt-4o-mini", prompt="x", stream=True)
    alive = weakref.ref(client)
    del client
    gc.collect()
    assert alive() is not None, "the stream holds its client"
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello"
    del stream
    gc.collect()
    assert alive() is None, "a finished stream lets its client go"
    [request] = s.settled_requests()
    assert request["outcome"] == "completed"
