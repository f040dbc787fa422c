"""Embeddings from Python: the typed response, base64 decoded or passed through, async and on a Client."""

from __future__ import annotations

import asyncio

import pytest
from conftest import Upstream

import liter_llm

B64 = "AAAAPwAAgL8AAIA+"  # [0.5, -1.0, 0.25] as little-endian float32


def _list(embedding: object) -> dict[str, object]:
    return {
        "json": {
            "object": "list",
            "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": 0, "embedding": embedding}],
            "usage": {"prompt_tokens": 2, "total_tokens": 2},
        }
    }


def test_embedding_decodes_base64_for_floats(upstream: Upstream) -> None:
    s = upstream.session(_list(B64), repeat_last=True)
    r = liter_llm.embedding(
        model="openai/text-embedding-3-small", input="hello", dimensions=3, api_key="sk-test-py", base_url=s.base_url
    )
    assert isinstance(r, liter_llm.EmbeddingResponse)
    assert r.object == "list"
    assert r.model == "text-embedding-3-small"
    assert isinstance(r.data[0], liter_llm.Embedding)
    assert r.data[0].embedding == [0.5, -1.0, 0.25]
    assert r.data[0].index == 0
    assert r.usage is not None and r.usage.prompt_tokens == 2
    sent = s.requests()[0]
    assert sent["path"] == "/embeddings"
    assert sent["json"] == {"model": "text-embedding-3-small", "input": "hello", "dimensions": 3}


def test_embedding_passes_base64_through_when_asked(upstream: Upstream) -> None:
    s = upstream.session(_list(B64), repeat_last=True)
    r = liter_llm.embedding(
        model="openai/text-embedding-3-small",
        input=["hello"],
        encoding_format="base64",
        api_key="sk-test-py",
        base_url=s.base_url,
    )
    assert r.data[0].embedding == B64
    assert s.requests()[0]["json"]["encoding_format"] == "base64"


def test_aembedding_and_client_embedding() -> None:
    with liter_llm.Client({}) as client:
        r = client.embedding(model="mock/e", input=["a", "b"], dimensions=4)
        assert [len(item.embedding) for item in r.data] == [4, 4]
        again = asyncio.run(client.aembedding(model="mock/e", input=["a", "b"], dimensions=4))
        assert again.data == r.data
    r = asyncio.run(liter_llm.aembedding(model="mock/e", input="a"))
    assert len(r.data[0].embedding) == 8


def test_embedding_errors_are_typed() -> None:
    with pytest.raises(liter_llm.UnsupportedProviderError, match="anthropic has no embeddings API"):
        liter_llm.embedding(model="anthropic/claude-x", input="x", api_key="sk-test-py")
    with pytest.raises(liter_llm.BadRequestError, match="`input`"):
        liter_llm.embedding(model="mock/e", input=[])
