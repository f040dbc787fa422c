"""liter_llm: one LLM client for OpenAI, Anthropic, Cohere and a built-in mock.

A Rust core does the network work behind a C ABI; this package is a thin typed layer over it.

    import liter_llm
    r = liter_llm.completion(model="mock/demo", messages=[{"role": "user", "content": "Hi"}])
    print(r.choices[0].message.content)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Optional, Union, overload

from . import _native
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BadResponseError,
    InternalError,
    LiterLLMError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnsupportedProviderError,
    error_from_json,
)
from ._stream import AsyncStream, Stream
from ._types import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    Function,
    Message,
    Record,
    ToolCall,
    Usage,
    as_completion,
)

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AsyncStream",
    "ChatCompletionChunk",
    "ChunkChoice",
    "Delta",
    "Stream",
    "stream_chunk_builder",
    "AuthenticationError",
    "BadRequestError",
    "BadResponseError",
    "ChatCompletion",
    "Choice",
    "Function",
    "InternalError",
    "LiterLLMError",
    "Message",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Record",
    "ServiceUnavailableError",
    "Timeout",
    "ToolCall",
    "UnsupportedProviderError",
    "Usage",
    "__version__",
    "acompletion",
    "ainvoke",
    "ainvoke_stream",
    "completion",
    "configure",
    "invoke",
    "invoke_stream",
]

__version__: str = _native.version()


def _encode_provider(provider: Optional[str]) -> Optional[bytes]:
    if provider is None:
        return None
    if not isinstance(provider, str):
        raise TypeError(f"provider must be a str or None, not {type(provider).__name__}")
    if "\x00" in provider:
        raise ValueError("provider must not contain NUL characters")
    return provider.encode("utf-8")


# Built once: json.dumps / json.loads with options build a new encoder or decoder per call.
_encode_json = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
_decode_json = json.JSONDecoder().decode


def _encode(provider: Optional[str], request: Mapping[str, Any]) -> tuple[Optional[bytes], bytes]:
    if type(request) is not dict and not isinstance(request, Mapping):
        raise TypeError(f"request must be a mapping (a dict), not {type(request).__name__}")
    return _encode_provider(provider), _encode_json(request).encode("utf-8")


def _decode(is_error: bool, data: bytes) -> dict[str, Any]:
    parsed = _decode_json(data.decode("utf-8"))
    if is_error:
        raise error_from_json(parsed)
    return parsed  # type: ignore[no-any-return]


def _decode_chunk(data: bytes) -> Any:
    return _decode_json(data.decode("utf-8"))


def _call(provider: Optional[str], request: Mapping[str, Any]) -> dict[str, Any]:
    return _decode(*_native.invoke_raw(*_encode(provider, request)))


async def _acall(provider: Optional[str], request: Mapping[str, Any]) -> dict[str, Any]:
    return _decode(*await _native.invoke_async_raw(*_encode(provider, request)))


def configure(config: Mapping[str, Any]) -> None:
    """Replaces the process-wide configuration (the JSON form of ``liter-llm.toml``).

    ``defaults`` (timeout, max_retries, max_retry_wait, on_limit), ``pool`` (max_idle_per_host,
    idle_timeout), ``providers`` (api_key, base_url, timeout, max_retries, rpm, tpm, on_limit,
    models), ``routes`` and ``prices``; see docs/configuration.md. It applies to every later
    call in the process, from every thread and every binding. Raises :class:`BadRequestError`
    naming the offending key, leaving the configuration unchanged.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping (a dict), not {type(config).__name__}")
    is_error, data = _native.configure_raw(_encode_json(config).encode("utf-8"))
    if is_error:
        raise error_from_json(_decode_json(data.decode("utf-8")))


def invoke(provider: Optional[str], request: Mapping[str, Any]) -> dict[str, Any]:
    """Sends one OpenAI-shaped chat request and returns the OpenAI-shaped response as a dict.

    ``provider`` names the adapter (``"openai"``, ``"anthropic"``, ``"cohere"``, ``"mock"``), or is
    None to route by the ``provider/`` prefix of ``request["model"]``. Raises a
    :class:`LiterLLMError` subclass when the call fails; ``TypeError`` / ``ValueError`` when the
    arguments cannot be sent at all.
    """
    return _call(provider, request)


def _request(
    model: str,
    messages: Optional[Sequence[Mapping[str, Any]]],
    api_key: Optional[str],
    base_url: Optional[str],
    api_base: Optional[str],
    timeout: Optional[float],
    params: Mapping[str, Any],
) -> dict[str, Any]:
    if not isinstance(model, str):
        raise TypeError(f"model must be a str, not {type(model).__name__}")
    request: dict[str, Any] = {"model": model}
    if messages is not None:
        request["messages"] = list(messages)
    request.update(params)
    if api_key is not None:
        request["api_key"] = api_key
    if base_url is not None or api_base is not None:
        request["base_url"] = base_url if base_url is not None else api_base
    if timeout is not None:
        request["timeout"] = timeout
    return request


@overload
def completion(
    model: str,
    messages: Optional[Sequence[Mapping[str, Any]]] = ...,
    *,
    stream: Literal[False] = ...,
    provider: Optional[str] = ...,
    api_key: Optional[str] = ...,
    base_url: Optional[str] = ...,
    api_base: Optional[str] = ...,
    timeout: Optional[float] = ...,
    **params: Any,
) -> ChatCompletion: ...


@overload
def completion(
    model: str,
    messages: Optional[Sequence[Mapping[str, Any]]] = ...,
    *,
    stream: Literal[True],
    provider: Optional[str] = ...,
    api_key: Optional[str] = ...,
    base_url: Optional[str] = ...,
    api_base: Optional[str] = ...,
    timeout: Optional[float] = ...,
    **params: Any,
) -> Stream: ...


def completion(
    model: str,
    messages: Optional[Sequence[Mapping[str, Any]]] = None,
    *,
    stream: bool = False,
    provider: Optional[str] = None,
    api_key: Optional[str] = None,
    base_url: Optional[str] = None,
    api_base: Optional[str] = None,
    timeout: Optional[float] = None,
    **params: Any,
) -> Union[ChatCompletion, Stream]:
    """A chat completion, LiteLLM-style: ``completion(model="anthropic/claude-sonnet-4-5", messages=[...])``.

    Any other keyword (``max_tokens``, ``temperature``, ``tools``, ``prompt``, ``mock_response``...)
    becomes a field of the request. ``api_key``, ``base_url`` (alias ``api_base``) and ``timeout``
    (seconds) override the environment for this call only. The GIL is released while waiting.
    With ``stream=True`` the result is a :class:`Stream` of :class:`ChatCompletionChunk`.
    """
    request = _request(model, messages, api_key, base_url, api_base, timeout, params)
    if stream:
        request["stream"] = True
        return Stream(*_encode(provider, request), _decode_chunk)
    return as_completion(_call(provider, request))


@overload
async def acompletion(
    model: str,
    messages: Optional[Sequence[Mapping[str, Any]]] = ...,
    *,
    stream: Literal[False] = ...,
    provider: Optional[str] = ...,
    api_key: Optional[str] = ...,
    base_url: Optional[str] = ...,
    api_base: Optional[str] = ...,
    timeout: Optional[float] = ...,
    **params: Any,
) -> ChatCompletion: ...


@overload
async def acompletion(
    model: str,
    messages: Optional[Sequence[Mapping[str, Any]]] = ...,
    *,
    stream: Literal[True],
    provider: Optional[str] = ...,
    api_key: Optional[str] = ...,
    base_url: Optional[str] = ...,
    api_base: Optional[str] = ...,
    timeout: Optional[float] = ...,
    **params: Any,
) -> AsyncStream: ...


async def acompletion(
    model: str,
    messages: Optional[Sequence[Mapping[str, Any]]] = None,
    *,
    stream: bool = False,
    provider: Optional[str] = None,
    api_key: Optional[str] = None,
    base_url: Optional[str] = None,
    api_base: Optional[str] = None,
    timeout: Optional[float] = None,
    **params: Any,
) -> Union[ChatCompletion, AsyncStream]:
    """:func:`completion` for asyncio.

    No thread waits for the call: the core's runtime delivers the result into the event loop.
    Cancelling the task cancels the upstream request. With ``stream=True`` the result is an
    :class:`AsyncStream` (``async for chunk in await acompletion(..., stream=True)``).
    """
    request = _request(model, messages, api_key, base_url, api_base, timeout, params)
    if stream:
        request["stream"] = True
        return AsyncStream(*_encode(provider, request), _decode_chunk)
    return as_completion(await _acall(provider, request))


def stream_chunk_builder(chunks: Iterable[Mapping[str, Any]]) -> ChatCompletion:
    """Assembles a stream's chunks into the whole :class:`ChatCompletion` (content and tool-call
    arguments joined, the finish reason, the usage), as LiteLLM's ``stream_chunk_builder`` does."""
    is_error, data = _native.assemble_raw(_encode_json(list(chunks)).encode("utf-8"))
    return as_completion(_decode(is_error, data))


async def ainvoke(provider: Optional[str], request: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`invoke` for asyncio; see :func:`acompletion`."""
    return await _acall(provider, request)


def invoke_stream(provider: Optional[str], request: Mapping[str, Any]) -> Stream:
    """:func:`invoke`, streamed: a :class:`Stream` of the ``chat.completion.chunk`` objects of the
    raw request (the library sends ``"stream": true`` upstream whatever the request says).
    Leaving the loop early or ``close()`` cancels the upstream request; a failure raises the
    matching :class:`LiterLLMError` after the chunks received before it."""
    return Stream(*_encode(provider, request), _decode_chunk)


def ainvoke_stream(provider: Optional[str], request: Mapping[str, Any]) -> AsyncStream:
    """:func:`invoke_stream` for asyncio: an :class:`AsyncStream`. Call it inside a running event
    loop (the chunks are delivered into that loop)."""
    return AsyncStream(*_encode(provider, request), _decode_chunk)
