"""Retries, fallbacks and configuration through the Python binding."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Upstream
from test_completion import OPENAI_OK

import liter_llm


@pytest.fixture(autouse=True)
def fresh_configuration() -> Iterator[None]:
    liter_llm.configure({})
    yield
    liter_llm.configure({})


def test_retries_honour_retry_after_ms(upstream: Upstream) -> None:
    s = upstream.session(
        {"status": 429, "headers": {"retry-after-ms": "250"}, "json": {"error": {"message": "slow"}}},
        {"status": 200, "json": OPENAI_OK},
    )
    r = liter_llm.completion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url)
    assert r["liter_llm"] == {
        "provider": "openai",
        "model": "openai/gpt",
        "attempts": 2,
        "cache": "off",
        "cost_usd": None,
    }
    first, second = (req["received_at_ms"] for req in s.requests())
    assert second - first >= 250


def test_final_error_reports_attempts_and_every_fallback(upstream: Upstream) -> None:
    s = upstream.session({"status": 503, "headers": {"retry-after": "0"}, "json": {}}, repeat_last=True)
    with pytest.raises(liter_llm.ServiceUnavailableError) as info:
        liter_llm.completion(
            model="openai/a",
            prompt="x",
            api_key="sk-test-1",
            base_url=s.base_url,
            max_retries=1,
            fallbacks=["openai/b"],
        )
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


def _run_with_config(tmp_path: Any, toml: str, code: str) -> subprocess.CompletedProcess[str]:
    import os
    import subprocess
    import sys

    path = tmp_path / "liter-llm.toml"
    path.write_text(toml, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL", "_API_URL"))}
    env["LITER_LLM_CONFIG"] = str(path)
    env["LITER_TEST_KEY"] = "sk-test-from-file"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_configuration_file_named_by_liter_llm_config(upstream: Upstream, tmp_path: Any) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK}, repeat_last=True)
    toml = f"""
[providers.openai]
api_key = "${{LITER_TEST_KEY}}"
base_url = "{s.base_url}"

[routes.chat]
models = ["openai/gpt-4o-mini"]
"""
    done = _run_with_config(
        tmp_path, toml, "import liter_llm; print(liter_llm.completion(model='chat', prompt='x')['liter_llm']['model'])"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "openai/gpt-4o-mini"
    assert s.requests()[0]["headers"]["authorization"] == "Bearer sk-test-from-file"


def test_an_invalid_configuration_file_fails_every_call_with_its_line(tmp_path: Any) -> None:
    code = (
        "import liter_llm\n"
        "try:\n"
        "    liter_llm.completion(model='mock/x', prompt='x')\n"
        "except liter_llm.BadRequestError as e:\n"
        "    print(e.message)\n"
    )
    done = _run_with_config(tmp_path, "[defaults]\ntimeout = 5\nretries = 3\n", code)
    assert done.returncode == 0, done.stderr
    assert "liter-llm.toml line 3" in done.stdout and "retries" in done.stdout, done.stdout
