"""LiteLLM's helper functions, so a LiteLLM script runs with ``import liter_llm as litellm``.

Both answer from the core through the ordinary calls: a price is the core's price table (with the
configuration's ``[prices]``), and a token count the core's estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from ._client import Calls


def _messages(messages: Optional[Sequence[Mapping[str, Any]]], text: Optional[str]) -> list[Mapping[str, Any]]:
    if messages is not None and text is not None:
        raise ValueError("pass either messages or text, not both")
    if messages is not None:
        return list(messages)
    return [{"role": "user", "content": text or ""}]


def completion_cost(
    calls: Calls,
    completion_response: Optional[Mapping[str, Any]] = None,
    *,
    model: Optional[str] = None,
    prompt: str = "",
    messages: Optional[Sequence[Mapping[str, Any]]] = None,
    completion: str = "",
) -> float:
    """What a response cost, in US dollars (LiteLLM's ``completion_cost``).

    Given a response (a :class:`ChatCompletion`, or one assembled by ``stream_chunk_builder``),
    its ``liter_llm.cost_usd``: the usage at the model's price from ``[prices]`` or the built-in
    table (docs/cost.md); 0.0 for an answer from the response cache. Given ``model`` and
    ``prompt`` (or ``messages``) and ``completion`` instead, the price of that text, its tokens
    estimated as :func:`token_counter` does; no request is sent. Raises ``ValueError`` when the
    model has no price, naming it, as LiteLLM raises for a model it has not mapped.
    """
    if completion_response is None:
        if model is None:
            raise ValueError("pass a response, or model= with prompt= (or messages=) and completion=")
        completion_response = calls.completion(
            model=model, messages=_messages(messages, prompt if messages is None else None), mock_response=completion
        )
    meta = completion_response.get("liter_llm")
    if not isinstance(meta, Mapping) or "cost_usd" not in meta:
        raise ValueError("the response has no liter_llm.cost_usd; pass a response a liter_llm call returned")
    cost = meta["cost_usd"]
    if cost is None:
        served_by = meta.get("model") or model
        raise ValueError(
            f"no price for model {served_by!r}: add it to [prices] in liter-llm.toml, or to "
            '"prices" in configure() (USD per million tokens, docs/cost.md)'
        )
    return float(cost)


def token_counter(
    calls: Calls,
    model: str = "",
    messages: Optional[Sequence[Mapping[str, Any]]] = None,
    text: Optional[str] = None,
) -> int:
    """The prompt tokens of ``messages`` (or of ``text``) for ``model`` (LiteLLM's ``token_counter``).

    An estimate, not a tokenizer's count: liter-llm ships no tokenizer, and counts one token per
    four characters of the messages' text, rounded up, as its ``mock`` provider and its rate
    limiter do. Real counts differ by model (English prose is close; code, other scripts and
    per-message overhead are not counted exactly); a provider's ``usage`` is the count it bills.
    ``model`` is accepted for LiteLLM's signature and does not change the estimate. No request
    is sent.
    """
    del model
    answer = calls.invoke(
        "mock", {"model": "token-counter", "messages": _messages(messages, text), "mock_response": ""}
    )
    return int(answer["usage"]["prompt_tokens"])
