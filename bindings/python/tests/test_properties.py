"""Properties over the public API, on inputs nobody chose: any JSON-like value as a request or a
configuration gives a result or a typed exception, never a crash or a hang. Nothing here can
reach a network: every provider's base URL points at a closed port on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import liter_llm
from liter_llm import _errors, _native

CLOSED = "http://127.0.0.1:9"
# The binding's class table, itself checked against the header by test_error_kinds.py.
KINDS = set(_errors._BY_KIND)
# Names the library knows, so that generated objects reach past the first check.
KEYS = st.sampled_from(
    [
        "model",
        "messages",
        "prompt",
        "role",
        "content",
        "stream",
        "temperature",
        "max_tokens",
        "tools",
        "tool_choice",
        "timeout",
        "max_retries",
        "fallbacks",
        "defaults",
        "pool",
        "providers",
        "routes",
        "prices",
        "openai",
        "mock",
        "strategy",
        "models",
        "type",
        "function",
        "name",
        "arguments",
    ]
) | st.text(max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["mock/m", "openai/gpt", "mock", "user", "round_robin", "", "x" * 300])
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys that could point a call elsewhere are pinned to the closed port.
PINNED = {"base_url": CLOSED, "api_key": "sk-test-1", "timeout": 2, "max_retries": 0}


@pytest.fixture(autouse=True)
def closed_upstreams(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "CO_API_URL", "COHERE_BASE_URL"):
        monkeypatch.setenv(var, CLOSED)


def check_answer(is_error: bool, data: bytes) -> None:
    value = json.loads(data)
    if is_error:
        assert value["error"]["kind"] in KINDS, value
    else:
        assert isinstance(value, dict), value


@given(JSON)
@SETTINGS
def test_any_json_value_as_a_request_gets_a_json_answer(value: Any) -> None:
    if isinstance(value, dict):
        value = {**value, **PINNED}
    check_answer(*_native.invoke_raw(None, None, json.dumps(value).encode()))


@given(st.dictionaries(KEYS, JSON, max_size=6))
@SETTINGS
def test_any_completion_arguments_give_a_result_or_a_typed_error(params: dict[str, Any]) -> None:
    params = {**params, **PINNED}
    model = params.pop("model", "mock/m")
    try:
        r = liter_llm.completion(model=model, **params)
        if not isinstance(r, dict):  # a stream: every chunk is a dict
            with r:
                assert all(isinstance(chunk, dict) for chunk in r)
            return
    except (liter_llm.LiterLLMError, TypeError, ValueError):
        return
    assert r["object"] == "chat.completion"


def pin_providers(config: Any) -> Any:
    if isinstance(config, dict) and isinstance(config.get("providers"), dict):
        config["providers"] = {
            name: {**p, "base_url": CLOSED} if isinstance(p, dict) else p for name, p in config["providers"].items()
        }
    return config


@given(JSON)
@SETTINGS
def test_any_configuration_gives_a_client_or_a_typed_error(config: Any) -> None:
    config = pin_providers(config)
    try:
        client = liter_llm.Client(config)
    except (liter_llm.LiterLLMError, TypeError, ValueError):
        return
    with client:
        try:
            r = client.completion(model="mock/m", prompt="x")
        except liter_llm.LiterLLMError:
            return
        assert r["object"] == "chat.completion"


@given(st.lists(JSON, max_size=5) | JSON)
@SETTINGS
def test_any_chunks_assemble_or_fail_typed(chunks: Any) -> None:
    check_answer(*_native.assemble_raw(json.dumps(chunks).encode()))
