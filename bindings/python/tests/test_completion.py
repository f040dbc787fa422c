from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from typing import Any

import pytest
from conftest import Upstream

import liter_llm

OPENAI_OK: dict[str, Any] = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    "system_fingerprint": "fp_1",
}


def test_mock_provider_reads_as_attributes_and_keys() -> None:
    r = liter_llm.completion(model="mock/demo", messages=[{"role": "user", "content": "Hi"}])
    assert isinstance(r, liter_llm.ChatCompletion)
    assert isinstance(r.choices[0], liter_llm.Choice)
    assert isinstance(r.choices[0].message, liter_llm.Message)
    assert r.choices[0].message.content == "This is a mock response from liter-llm."
    assert r["choices"][0]["message"]["content"] == r.choices[0].message.content
    assert r.usage is not None and r.usage.total_tokens == r["usage"]["total_tokens"] == 11
    assert r.object == "chat.completion" and r.model == "demo"
    with pytest.raises(AttributeError, match="no field 'nope'"):
        _ = r.nope


def test_mock_response_and_invoke_dict() -> None:
    r = liter_llm.invoke("mock", {"model": "x", "prompt": "ping", "mock_response": "pong"})
    assert r["choices"][0]["message"]["content"] == "pong"
    assert r["choices"][0]["finish_reason"] == "stop"


def test_openai_call_reaches_the_upstream(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK})
    r = liter_llm.completion(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "Hi"}],
        api_key="sk-test-py",
        api_base=s.base_url,
        temperature=0.2,
        logit_bias={"50256": -100},
    )
    assert r.choices[0].message.content == "Hello!"
    assert r["system_fingerprint"] == "fp_1"
    (req,) = s.requests()
    assert req["method"] == "POST" and req["path"] == "/chat/completions"
    assert req["headers"]["authorization"] == "Bearer sk-test-py"
    assert req["json"] == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hi"}],
        "temperature": 0.2,
        "logit_bias": {"50256": -100},
    }


def test_environment_configuration(upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK})
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-env")
    monkeypatch.setenv("OPENAI_BASE_URL", s.base_url + "/")
    liter_llm.completion(model="openai/gpt-4o-mini", prompt="Hi")
    (req,) = s.requests()
    assert req["headers"]["authorization"] == "Bearer sk-test-env"


@pytest.mark.parametrize(
    ("status", "cls", "kind"),
    [
        (400, liter_llm.BadRequestError, "invalid_request"),
        (401, liter_llm.AuthenticationError, "authentication"),
        (403, liter_llm.PermissionDeniedError, "permission_denied"),
        (404, liter_llm.NotFoundError, "not_found"),
        (408, liter_llm.Timeout, "timeout"),
        (429, liter_llm.RateLimitError, "rate_limited"),
        (500, liter_llm.ServiceUnavailableError, "provider_unavailable"),
        (529, liter_llm.ServiceUnavailableError, "provider_unavailable"),
    ],
)
def test_http_errors_raise_their_class(
    upstream: Upstream, status: int, cls: type[liter_llm.LiterLLMError], kind: str
) -> None:
    body = {"error": {"message": f"upstream said {status}", "type": "some_error", "code": None}}
    s = upstream.session({"status": status, "json": body, "headers": {"retry-after": "3"}})
    with pytest.raises(cls) as info:
        liter_llm.completion(
            model="gpt", provider="openai", prompt="x", api_key="sk-test-err", base_url=s.base_url, max_retries=0
        )
    e = info.value
    assert e.attempts == 1
    assert isinstance(e, liter_llm.LiterLLMError)
    assert (e.kind, e.status, e.provider, e.retry_after) == (kind, status, "openai", 3.0)
    assert f"upstream said {status}" in e.message
    assert e.provider_error == {"type": "some_error", "message": f"upstream said {status}", "code": None}
    assert e.body["kind"] == kind


def test_local_errors_raise_their_class(upstream: Upstream) -> None:
    with pytest.raises(liter_llm.AuthenticationError, match="ANTHROPIC_API_KEY is not set"):
        liter_llm.completion(model="anthropic/claude-sonnet-4-5", prompt="x")
    with pytest.raises(liter_llm.UnsupportedProviderError, match="openai, anthropic, cohere, mock"):
        liter_llm.completion(model="bogus/gpt", prompt="x")
    with pytest.raises(liter_llm.BadRequestError, match=r"messages\[0\]"):
        liter_llm.completion(model="mock/x", messages=[{"role": "robot", "content": "x"}])
    with pytest.raises(liter_llm.APIConnectionError) as info:
        liter_llm.completion(
            model="openai/gpt", prompt="x", api_key="sk-test-1", base_url="http://127.0.0.1:9", timeout=5
        )
    assert info.value.kind == "connection"
    s = upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": 3000})
    with pytest.raises(liter_llm.Timeout) as t:
        liter_llm.completion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url, timeout=0.2)
    assert isinstance(t.value, liter_llm.APIConnectionError) and t.value.kind == "timeout"
    s = upstream.session({"status": 200, "body": "<html>not json</html>"})
    with pytest.raises(liter_llm.BadResponseError):
        liter_llm.completion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url)


def test_keys_never_appear_in_errors(upstream: Upstream) -> None:
    key = "sk-test-supersecret-0123456789"
    echo = {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}}
    s = upstream.session({"status": 401, "json": echo}, {"status": 500, "body": f"proxy saw {key}"})
    for _ in range(2):
        with pytest.raises(liter_llm.LiterLLMError) as info:
            liter_llm.completion(model="openai/gpt", prompt="x", api_key=key, base_url=s.base_url, max_retries=0)
        e = info.value
        assert key not in str(e) and key not in repr(e) and key not in repr(e.body)
        assert "[redacted]" in e.message


def test_misuse_raises_native_errors() -> None:
    with pytest.raises(TypeError):
        liter_llm.invoke("mock", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        liter_llm.invoke(3, {"model": "x", "prompt": "y"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        liter_llm.completion(model="mock/x", prompt=object())
    with pytest.raises(ValueError):
        liter_llm.completion(model="mock/x", prompt="x", temperature=float("nan"))
    with pytest.raises(ValueError):
        liter_llm.invoke("mo\x00ck", {"model": "x", "prompt": "y"})
    with pytest.raises(liter_llm.BadRequestError):
        liter_llm.completion(model="mock/x", prompt="\ud800")


def test_requests_are_encoded_and_answers_decoded_as_the_json_module_does() -> None:
    from liter_llm import _client

    values: list[Any] = [
        {"model": "mock/x", "messages": [{"role": "user", "content": 'caf\u00e9 \U0001f600 "q" \\ \n'}]},
        {"n": [1, -2, 2.5, 1e300, -0.0, True, False, None], "nested": {"a": {"b": []}}},
        "text",
        [],
    ]
    for value in values:
        text = _client.encode_json(value)
        assert text == json.dumps(value, separators=(",", ":"), allow_nan=False)
        assert _client._decode_json(text) == value
    assert _client._decode_json(' {"a": 1} ') == {"a": 1}
    with pytest.raises(json.JSONDecodeError):
        _client._decode_json('{"a": 1} trailing')
    with pytest.raises(json.JSONDecodeError):
        _client._decode_json("")
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular"):
        liter_llm.completion(model="mock/x", messages=circular)
    # A failed encode leaves nothing behind, and requests sharing objects encode from many
    # threads at once (the circular-reference check is per call).
    shared = [{"role": "user", "content": "Hi"}]
    errors: list[BaseException] = []

    def encode_many() -> None:
        try:
            for _ in range(2000):
                _client.encode_json({"model": "mock/x", "messages": shared})
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=encode_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert liter_llm.completion(model="mock/x", messages=shared).choices[0].message.content


def test_threads_overlap_because_the_gil_is_released(upstream: Upstream) -> None:
    delay_ms = 200
    s = upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": delay_ms}, repeat_last=True)
    results: list[str] = []

    def call() -> None:
        r = liter_llm.completion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url)
        results.append(r.id)

    threads = [threading.Thread(target=call) for _ in range(64)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert len(results) == 64
    arrivals = sorted(r["received_at_ms"] for r in s.requests())
    # Every request reached the upstream before the first reply could have been sent: they overlapped.
    assert arrivals[-1] - arrivals[0] < delay_ms, arrivals
    assert elapsed < 64 * delay_ms / 1000 / 4


def test_acompletion_runs_concurrently(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": 200}, repeat_last=True)

    async def main() -> list[liter_llm.ChatCompletion]:
        return await asyncio.gather(
            *(
                liter_llm.acompletion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url)
                for _ in range(20)
            )
        )

    results = asyncio.run(main())
    assert [r.choices[0].message.content for r in results] == ["Hello!"] * 20
    arrivals = sorted(r["received_at_ms"] for r in s.requests())
    assert arrivals[-1] - arrivals[0] < 200


def test_acompletion_raises_typed_errors() -> None:
    async def main() -> None:
        await liter_llm.acompletion(model="nope/x", prompt="y")

    with pytest.raises(liter_llm.UnsupportedProviderError):
        asyncio.run(main())


def test_version_and_exports() -> None:
    assert liter_llm.__version__ == "0.1.0"
    for name in liter_llm.__all__:
        assert hasattr(liter_llm, name), name


def test_thousand_acompletions_in_flight_with_few_threads(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": 500}, repeat_last=True)
    peak_threads = 0

    async def main() -> list[liter_llm.ChatCompletion]:
        nonlocal peak_threads
        tasks = [
            asyncio.ensure_future(
                liter_llm.acompletion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url)
            )
            for _ in range(1000)
        ]
        while not all(t.done() for t in tasks):
            peak_threads = max(peak_threads, len(os.listdir("/proc/self/task")))
            await asyncio.sleep(0.05)
        return [t.result() for t in tasks]

    results = asyncio.run(main())
    assert len(results) == 1000 and all(r.choices[0].message.content == "Hello!" for r in results)
    assert len(s.requests()) == 1000
    assert peak_threads < 32, peak_threads


def test_cancelling_the_task_cancels_the_upstream_call(upstream: Upstream) -> None:
    s = upstream.session({"status": 200, "json": OPENAI_OK, "delay_ms": 5000})

    async def main() -> None:
        task = asyncio.ensure_future(
            liter_llm.acompletion(model="openai/gpt", prompt="x", api_key="sk-test-1", base_url=s.base_url)
        )
        while not s.requests():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    start = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - start < 5, "cancellation did not wait for the slow upstream"
    [request] = s.settled_requests()
    assert request["outcome"] == "client_closed", "the upstream connection was closed"


def test_interpreter_exit_right_after_async_calls_is_clean() -> None:
    """Callbacks from the core's threads must never enter a finalizing interpreter (which kills
    the entering thread); the binding stops them at exit. Without that, about one exit in
    twenty aborted with "FATAL: exception not rethrown"."""
    import subprocess
    import sys

    script = (
        "import asyncio, liter_llm\n"
        "async def main():\n"
        "    await asyncio.gather(*(liter_llm.acompletion(model='mock/x', prompt=str(i)) for i in range(200)))\n"
        "asyncio.run(main())\n"
    )
    for _ in range(30):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
