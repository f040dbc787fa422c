"""Retries, fallbacks and configuration through the Python binding."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

import liter_llm
from conftest import Upstream
from test_completion import OPENAI_OK


@pytest.fixture(autouse=True)
def fresh_configuration() -> Iterator[None]:
    liter_llm.configure({})
    yield
    liter_llm.configure({})


def test_retries_honour_retry_after_ms(upstream: Upstream) -> None:
    s = upstream.session({"status": 429, "headers": {"retry-after-ms": "250"}, "json": {"error": {"message": "slow"}}}, {"status": 200, "json": OPENAI_OK})
    r = liter_llm.completion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url)
    assert r["liter_llm"] == {"provider": "openai", "model": "openai/gpt", "attempts": 2}
    first, second = (req["received_at_ms"] for req in s.requests())
    assert second - first >= 250


def test_final_error_reports_attempts_and_every_fallback(upstream: Upstream) -> None:
    s = upstream.session({"status": 503, "headers": {"retry-after": "0"}, "json": {}}, repeat_last=True)
    with pytest.raises(liter_llm.ServiceUnavailableError) as info:
        liter_llm.completion(model="openai/a", prompt="x", api_key="sk-test-1", base_url=s.base_url, max_retries=1, fallbacks=["openai/b"])
    e = info.value
    assert e.attempts == 4
    assert e.tried is not None and [t["model"] for t in e.tried] == ["openai/a", "openai/b"]


def test_configure_sets_providers_and_routes(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    config: dict[str, Any] = {
        "providers": {"openai": {"api_key": "sk-test-configured", "base_url": s.base_url}},
        "routes": {"chat": {"strategy": "round_robin", "models": ["openai/one", "openai/two"]}},
    }
    liter_llm.configure(config)
    served = [liter_llm.completion(model="chat", prompt="x")["liter_llm"]["model"] for _ in range(3)]
    assert served == ["openai/one", "openai/two", "openai/one"]
    assert {r["headers"]["authorization"] for r in s.requests()} == {"Bearer sk-test-configured"}


def test_invalid_configuration_names_the_key() -> None:
    with pytest.raises(liter_llm.BadRequestError, match=r"providers\.openai\.rpm"):
        liter_llm.configure({"providers": {"openai": {"rpm": "sixty"}}})
    with pytest.raises(TypeError):
        liter_llm.configure([])  # type: ignore[arg-type]
