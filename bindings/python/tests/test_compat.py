"""LiteLLM compatibility: a LiteLLM script runs with only the import changed; completion_cost,
token_counter, model_dump and model_dump_json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Upstream

import liter_llm

HELLO = [{"role": "user", "content": "Hello"}]

# Written as LiteLLM's documentation writes it; only the import differs.
LITELLM_SCRIPT = """
import json
import liter_llm as litellm

resp = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}], mock_response="hi")
print(json.dumps({
    "content": resp.choices[0].message.content,
    "cost": litellm.completion_cost(resp),
    "dump": json.loads(resp.model_dump_json()),
    "tokens": litellm.token_counter(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}]),
}))

chunks = list(litellm.completion(
    model="claude-3-5-haiku-20241022",
    messages=[{"role": "user", "content": "Hello"}],
    mock_response="a b c",
    stream=True,
))
full = litellm.stream_chunk_builder(chunks)
print(json.dumps({"content": full.choices[0].message.content, "cost": litellm.completion_cost(full)}))
"""


@pytest.fixture(autouse=True)
def default_config() -> Iterator[None]:
    liter_llm.configure({})
    yield
    liter_llm.configure({})


def test_a_litellm_script_runs_with_only_the_import_changed(upstream: Upstream, tmp_path: Path) -> None:
    # The providers' base URLs point at a session that would record any request; there is no key.
    s = upstream.session({"status": 500, "json": {"error": {"message": "no request was expected"}}})
    script = tmp_path / "litellm_script.py"
    script.write_text(LITELLM_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env |= {"OPENAI_BASE_URL": s.base_url, "ANTHROPIC_BASE_URL": s.base_url}
    run = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    whole, streamed = (json.loads(line) for line in run.stdout.splitlines())
    assert whole["content"] == "hi"
    # "Hello" is 2 estimated prompt tokens, "hi" 1 completion token: 2 × $0.15 + 1 × $0.60 per million.
    assert whole["cost"] == pytest.approx(0.9e-6, abs=1e-15)
    assert whole["tokens"] == 2
    assert whole["dump"]["object"] == "chat.completion"
    assert whole["dump"]["liter_llm"] == {
        "provider": "openai",
        "model": "openai/gpt-4o-mini",
        "attempts": 0,
        "cache": "off",
        "cost_usd": whole["cost"],
    }
    assert streamed["content"] == "a b c"
    # Claude 3.5 Haiku: 2 prompt tokens at $0.80 and 2 completion tokens ("a b c", 5 characters) at $4.00.
    assert streamed["cost"] == pytest.approx((2 * 0.80 + 2 * 4.00) / 1e6, abs=1e-15)
    assert s.requests() == [], "mock_response must not reach the network"


def test_completion_cost_reads_the_response_and_follows_prices() -> None:
    r = liter_llm.completion(model="gpt-4o", messages=HELLO, mock_response="hi")
    assert liter_llm.completion_cost(r) == r["liter_llm"]["cost_usd"] == pytest.approx((2 * 2.50 + 10.00) / 1e6)
    assert liter_llm.completion_cost(completion_response=dict(r)) == liter_llm.completion_cost(r)
    liter_llm.configure({"prices": {"openai/gpt-4o": {"input": 1_000_000, "output": 0}}})
    assert liter_llm.completion_cost(liter_llm.completion(model="gpt-4o", messages=HELLO, mock_response="hi")) == 2.0


def test_completion_cost_of_an_unpriced_model_names_it() -> None:
    r = liter_llm.completion(model="openai/my-finetune", messages=HELLO, mock_response="hi")
    assert r["liter_llm"]["cost_usd"] is None
    with pytest.raises(ValueError, match=r"'openai/my-finetune'.*\[prices\]"):
        liter_llm.completion_cost(r)
    with pytest.raises(ValueError, match="liter_llm.cost_usd"):
        liter_llm.completion_cost({"choices": []})
    with pytest.raises(ValueError, match="model="):
        liter_llm.completion_cost()


def test_completion_cost_of_text_prices_the_estimate_without_a_request() -> None:
    # 12 characters of prompt (3 tokens) and 8 of completion (2 tokens) at gpt-4o-mini's prices.
    cost = liter_llm.completion_cost(model="gpt-4o-mini", prompt="Hello there!", completion="General.")
    assert cost == pytest.approx((3 * 0.15 + 2 * 0.60) / 1e6, abs=1e-15)
    by_messages = liter_llm.completion_cost(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello there!"}], completion="General."
    )
    assert by_messages == cost


def test_token_counter_is_the_cores_estimate() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    usage = liter_llm.completion(model="mock/m", messages=messages).usage
    assert usage is not None
    assert liter_llm.token_counter(model="gpt-4o-mini", messages=messages) == usage.prompt_tokens == 10
    assert liter_llm.token_counter(model="claude-sonnet-4-5", text="abcd" * 10) == 10
    assert liter_llm.token_counter(text="") == 0
    assert "estimate" in (liter_llm.token_counter.__doc__ or "")
    with pytest.raises(ValueError, match="not both"):
        liter_llm.token_counter(messages=HELLO, text="x")
    with pytest.raises(liter_llm.BadRequestError):
        liter_llm.token_counter(messages=[{"role": "robot", "content": "x"}])


def test_model_dump_gives_plain_copies_and_keeps_responses_lazy() -> None:
    r = liter_llm.completion(model="gpt-4o-mini", messages=HELLO, mock_response="hi")
    dumped = r.model_dump()
    assert type(dumped) is dict
    assert type(dumped["choices"][0]) is dict and type(dumped["choices"][0]["message"]) is dict
    assert dumped == json.loads(json.dumps(r))
    dumped["choices"][0]["message"]["content"] = "changed"
    assert r.choices[0].message.content == "hi", "a dump is a copy"
    # Parts nobody read stay the plain dicts they were parsed into.
    assert type(dict.__getitem__(r, "liter_llm")) is dict
    text = r.model_dump_json()
    assert json.loads(text) == r.model_dump() and ": " not in text
    assert json.loads(r.model_dump_json(indent=2)) == r.model_dump()
    assert "logprobs" not in r.model_dump(exclude_none=True)["choices"][0]
    assert r.choices[0].message.model_dump() == {"role": "assistant", "content": "hi"}
    assert json.loads(r.usage.model_dump_json()) == r["usage"]  # type: ignore[union-attr]


def test_mock_response_streams_for_a_real_provider_without_a_key() -> None:
    chunks = list(
        liter_llm.completion(model="anthropic/claude-haiku-4-5", prompt="Hello", mock_response="a b", stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a b"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last["liter_llm"]["cost_usd"] == pytest.approx((2 * 1.00 + 1 * 5.00) / 1e6)
    assert all("liter_llm" not in c for c in chunks[:-1])
    full = liter_llm.stream_chunk_builder(chunks)
    assert full["liter_llm"] == {"cost_usd": last["liter_llm"]["cost_usd"]}


def test_reasoning_content_reads_from_messages_and_deltas(upstream: Upstream) -> None:
    s = upstream.session(
        {
            "json": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [
                    {"type": "thinking", "thinking": "2 + 2 is 4.", "signature": "sig"},
                    {"type": "text", "text": "4"},
                ],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 10, "output_tokens": 20},
            }
        }
    )
    r = liter_llm.completion(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "2 + 2?"}],
        reasoning_effort="low",
        api_key="sk-test-1",
        base_url=s.base_url,
    )
    assert r.choices[0].message.reasoning_content == "2 + 2 is 4."
    assert r.choices[0].message.content == "4"
    assert s.requests()[0]["json"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    plain = liter_llm.completion(model="mock/m", prompt="x")
    assert plain.choices[0].message.reasoning_content is None
    delta = liter_llm.Delta({"reasoning_content": "hmm"})
    assert delta.reasoning_content == "hmm"


def test_the_compat_functions_are_exported() -> None:
    for name in ("completion_cost", "token_counter"):
        assert name in liter_llm.__all__ and callable(getattr(liter_llm, name))
    assert textwrap.dedent(liter_llm.completion_cost.__doc__ or "").strip().startswith("What a response cost")
