"""Streaming through the Python binding: an iterator, an async iterator, faults, cancellation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from conftest import Upstream

import liter_llm


def _chunk(delta: dict[str, Any], finish: Any = None) -> str:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


USAGE = (
    "data: "
    + json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )
    + "\n\n"
)
EVENTS = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Hel"}),
    _chunk({"content": "lo"}),
    _chunk({}, "stop"),
    USAGE,
    "data: [DONE]\n\n",
]


def _stream_session(upstream: Upstream, **extra: Any) -> Any:
    return upstream.session(
        {
            "status": 200,
            "headers": {"content-type": "text/event-stream"},
            "chunks": [{"data": e} for e in EVENTS],
            **extra,
        }
    )


def test_completion_stream_is_an_iterator_of_chunks(upstream: Upstream) -> None:
    s = _stream_session(upstream)
    stream = liter_llm.completion(
        model="openai/gpt-4o-mini", prompt="hi", api_key="sk-test-1", base_url=s.base_url, stream=True
    )
    chunks = list(stream)
    assert all(isinstance(c, liter_llm.ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5
    whole = liter_llm.stream_chunk_builder(chunks)
    assert whole.choices[0].message.content == "Hello"
    assert whole.choices[0].finish_reason == "stop"
    assert s.requests()[0]["json"]["stream"] is True


def test_acompletion_stream_is_an_async_iterator(upstream: Upstream) -> None:
    s = _stream_session(upstream)

    async def main() -> str:
        stream = await liter_llm.acompletion(
            model="openai/gpt-4o-mini", prompt="hi", api_key="sk-test-1", base_url=s.base_url, stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(main()) == "Hello"


def test_the_mock_provider_streams() -> None:
    text = "".join(
        c.choices[0].delta.content or ""
        for c in liter_llm.completion(model="mock/x", prompt="hi", mock_response="one two", stream=True)
        if c.choices
    )
    assert text == "one two"


def test_a_dropped_connection_raises_after_the_chunks(upstream: Upstream) -> None:
    s = _stream_session(upstream, disconnect_after_chunks=3)
    received = []
    with pytest.raises(liter_llm.APIConnectionError):
        for chunk in liter_llm.completion(
            model="openai/gpt", prompt="hi", api_key="sk-test-1", base_url=s.base_url, stream=True
        ):
            received.append(chunk)
    assert len(received) == 3


def test_a_stall_times_out(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "chunks": [{"data": EVENTS[1]}, {"data": EVENTS[2], "delay_ms": 3000}]})
    with pytest.raises(liter_llm.Timeout):
        list(
            liter_llm.completion(
                model="openai/gpt", prompt="hi", api_key="sk-test-1", base_url=s.base_url, stream=True, timeout=0.3
            )
        )


def test_breaking_out_early_cancels_the_upstream_request(upstream: Upstream) -> None:
    slow = [{"data": e, "delay_ms": 0 if i < 2 else 2000} for i, e in enumerate(EVENTS)]
    s = upstream.session({"status": 200, "chunks": slow})
    stream = liter_llm.completion(
        model="openai/gpt", prompt="hi", api_key="sk-test-1", base_url=s.base_url, stream=True
    )
    first = next(stream)
    assert first.choices[0].delta.role == "assistant"
    stream.close()
    stream.close()  # idempotent
    assert list(stream) == []
    [request] = s.settled_requests()
    assert request["outcome"] == "client_closed"
    assert request["ended_at_ms"] - request["received_at_ms"] < 1500, "closed before the slow chunk was due"


def test_cancelling_the_consuming_task_closes_the_stream(upstream: Upstream) -> None:
    slow = [{"data": e, "delay_ms": 0 if i < 1 else 5000} for i, e in enumerate(EVENTS)]
    s = upstream.session({"status": 200, "chunks": slow})

    async def consume() -> None:
        stream = await liter_llm.acompletion(
            model="openai/gpt", prompt="hi", api_key="sk-test-1", base_url=s.base_url, stream=True
        )
        async for _ in stream:
            pass

    async def main() -> None:
        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    [request] = s.settled_requests()
    assert request["outcome"] == "client_closed"


def test_errors_before_the_stream_raise_their_class(upstream: Upstream) -> None:
    s = upstream.session({"status": 401, "json": {"error": {"message": "bad key", "type": "invalid_request_error"}}})
    with pytest.raises(liter_llm.AuthenticationError):
        list(
            liter_llm.completion(model="openai/gpt", prompt="hi", api_key="sk-test-1", base_url=s.base_url, stream=True)
        )


def test_invoke_stream_streams_the_raw_request(upstream: Upstream) -> None:
    s = _stream_session(upstream)
    request = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "api_key": "sk-test-1",
        "base_url": s.base_url,
    }
    with liter_llm.invoke_stream("openai", request) as stream:
        chunks = list(stream)
    assert "stream" not in request, "the caller's request is not modified"
    assert [c["object"] for c in chunks] == ["chat.completion.chunk"] * 5
    assert liter_llm.stream_chunk_builder(chunks)["choices"][0]["message"]["content"] == "Hello"
    assert s.requests()[0]["json"]["stream"] is True


def test_ainvoke_stream_is_an_async_iterator(upstream: Upstream) -> None:
    s = _stream_session(upstream)

    async def main() -> list[Any]:
        stream = liter_llm.ainvoke_stream(
            None, {"model": "openai/gpt-4o-mini", "prompt": "hi", "api_key": "sk-test-1", "base_url": s.base_url}
        )
        return [c async for c in stream]

    chunks = asyncio.run(main())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
