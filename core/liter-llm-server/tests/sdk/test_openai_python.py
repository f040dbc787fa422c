"""The official openai Python SDK against the gateway: completions, streams, embeddings (the
SDK's default base64 and floats), and its own exception classes for the gateway's 401, 429 and
400."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import openai
import pytest
from gateway_fixture import KEY, Stack

OK = {
    "status": 200,
    "json": {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hello from the mock"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    },
}

VECTORS = [[0.5, -1.0, 0.25], [1.0, 2.0, 3.0]]
EMBEDDINGS = {
    "status": 200,
    "json": {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(VECTORS)],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 6, "total_tokens": 6},
    },
}


def sse(parts: list[str]) -> dict[str, object]:
    def chunk(delta: dict[str, str], finish: str | None) -> dict[str, object]:
        return {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    events = [chunk({"role": "assistant", "content": ""}, None)]
    events += [chunk({"content": p}, None) for p in parts]
    events.append(chunk({}, "stop"))
    events.append(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )
    data = [{"data": f"data: {json.dumps(e)}\n\n"} for e in events] + [{"data": "data: [DONE]\n\n"}]
    return {"status": 200, "headers": {"content-type": "text/event-stream"}, "chunks": data}


@pytest.fixture
def plain() -> Iterator[Stack]:
    stack = Stack([OK], key_rpm=2)
    yield stack
    stack.close()


@pytest.fixture
def streamed() -> Iterator[Stack]:
    stack = Stack([sse(["Hel", "lo"])])
    yield stack
    stack.close()


@pytest.fixture
def embedded() -> Iterator[Stack]:
    stack = Stack([EMBEDDINGS], key_rpm=3)
    yield stack
    stack.close()


def client(stack: Stack, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"{stack.url}/v1", max_retries=0, timeout=20)


def test_completion_and_errors(plain: Stack) -> None:
    c = client(plain)
    answer = c.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "hello from the mock"
    assert answer.usage is not None and answer.usage.total_tokens == 7
    with pytest.raises(openai.AuthenticationError) as unauthorized:
        client(plain, "sk-gw-wrong-0000000000").chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert unauthorized.value.status_code == 401
    assert "sk-gw" not in str(unauthorized.value)
    with pytest.raises(openai.BadRequestError) as bad:
        c.chat.completions.create(model="openai/gpt-4o-mini", messages=[])
    assert "messages" in str(bad.value)
    # The key's rpm of 2: the first call and the bad request took it (a request is counted
    # once it is admitted and planned; the bad one failed planning, so not counted).
    c.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "again"}])
    with pytest.raises(openai.RateLimitError) as limited:
        c.chat.completions.create(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "more"}])
    assert limited.value.status_code == 429
    assert int(limited.value.response.headers["retry-after"]) >= 1


def test_stream_and_usage(streamed: Stack) -> None:
    c = client(streamed)
    stream = c.chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "Hello"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5
    models = c.models.list()
    assert [m.id for m in models.data] == []


def test_embeddings_as_base64_and_floats(embedded: Stack) -> None:
    c = client(embedded)
    # The SDK asks for base64 unless told otherwise, and decodes it into floats.
    default = c.embeddings.create(model="openai/text-embedding-3-small", input=["a", "b"])
    assert [d.embedding for d in default.data] == VECTORS
    assert default.usage.prompt_tokens == 6
    with urllib.request.urlopen(f"{embedded.mock}/__mock/sessions/sdk/requests", timeout=10) as response:
        sent = json.load(response)["requests"]
    assert sent[0]["json"]["encoding_format"] == "base64", "the SDK's default reached the provider"
    floats = c.embeddings.create(model="openai/text-embedding-3-small", input=["a", "b"], encoding_format="float")
    assert [d.embedding for d in floats.data] == VECTORS
    with pytest.raises(openai.BadRequestError) as bad:
        c.embeddings.create(model="openai/text-embedding-3-small", input=[])
    assert "input" in str(bad.value)
    c.embeddings.create(model="openai/text-embedding-3-small", input=["a", "b"])
    with pytest.raises(openai.RateLimitError):
        c.embeddings.create(model="openai/text-embedding-3-small", input=["a", "b"])
