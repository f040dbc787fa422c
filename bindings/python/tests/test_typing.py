"""Checked by `mypy --strict` (make test-python): the public API is typed end to end."""

from __future__ import annotations

from typing import Optional

import liter_llm


def typed_usage() -> Optional[str]:
    r: liter_llm.ChatCompletion = liter_llm.completion(model="mock/demo", prompt="hi", max_tokens=10)
    choice: liter_llm.Choice = r.choices[0]
    content: Optional[str] = choice.message.content
    calls: Optional[list[liter_llm.ToolCall]] = choice.message.tool_calls
    if calls:
        name: str = calls[0].function.name
        assert name
    total: int = r.usage.total_tokens if r.usage else 0
    assert total >= 0
    try:
        liter_llm.invoke("mock", {"model": "x", "prompt": "y"})
    except liter_llm.RateLimitError as e:
        wait: Optional[float] = e.retry_after
        assert wait is None or wait >= 0
    return content


def test_typed_usage() -> None:
    assert typed_usage() == "This is a mock response from liter-llm."


def typed_embedding() -> list[float]:
    r: liter_llm.EmbeddingResponse = liter_llm.embedding(model="mock/e", input=["a"], dimensions=2)
    item: liter_llm.Embedding = r.data[0]
    vector = item.embedding
    assert not isinstance(vector, str)
    return vector


def test_typed_embedding() -> None:
    assert len(typed_embedding()) == 2
