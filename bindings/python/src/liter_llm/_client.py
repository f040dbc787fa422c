"""The calls, written once: on the default client (the module-level functions) and on a Client."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Literal, Optional, Union, overload

from . import _native
from ._errors import BadRequestError, error_from_json
from ._managed import Managed
from ._stream import AsyncStream, Stream
from ._tracing import with_trace_context
from ._types import ChatCompletion, EmbeddingResponse, as_completion, as_embedding_response

# Built once: json.dumps / json.loads with options build a new encoder or decoder per call.
_encoder = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def _encode_json_c(value: Any) -> str:
    """`_encoder.encode(value)`, calling json's C encoder directly, as `JSONEncoder.iterencode`
    does, without its Python steps; a fresh `markers` dict per call keeps the circular-reference
    check (and makes it safe from any thread)."""
    return "".join(_make_c_encoder({}, _encoder.default, _escape, None, ":", ",", False, False, False)(value, 0))


_make_c_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_escape = json.encoder.encode_basestring_ascii
encode_json: Callable[[Any], str] = _encoder.encode
if _make_c_encoder is not None:
    try:
        # Used only where it writes exactly what the encoder writes (an interpreter whose C
        # encoder takes other arguments keeps the encoder).
        _probe = {"a": [1, 2.5, None, True, "\u00e9\n"], "b": {"c": -0.0}}
        if _encode_json_c(_probe) == _encoder.encode(_probe):
            encode_json = _encode_json_c
    except Exception:  # noqa: BLE001 - any failure of the probe keeps the encoder
        pass
_decoder = json.JSONDecoder()
# The decoder's C scanner, called directly: the library's JSON has no surrounding whitespace, so
# the decoder's own Python steps (two whitespace matches, a frame) are skipped. Anything else
# (whitespace, trailing text, no C scanner) goes through the full decoder and its errors.
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]


def _decode_json(text: str) -> Any:
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        return _decoder.decode(text)
    return value


def _encode_provider(provider: Optional[str]) -> Optional[bytes]:
    if provider is None:
        return None
    if not isinstance(provider, str):
        raise TypeError(f"provider must be a str or None, not {type(provider).__name__}")
    if "\x00" in provider:
        raise ValueError("provider must not contain NUL characters")
    return provider.encode("utf-8")


def _encode(provider: Optional[str], request: Mapping[str, Any]) -> tuple[Optional[bytes], bytes]:
    if type(request) is not dict and not isinstance(request, Mapping):
        raise TypeError(f"request must be a mapping (a dict), not {type(request).__name__}")
    return _encode_provider(provider), encode_json(with_trace_context(request)).encode("utf-8")


def encode_config(config: Mapping[str, Any]) -> bytes:
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping (a dict), not {type(config).__name__}")
    return encode_json(config).encode("utf-8")


def decode(is_error: bool, data: bytes) -> dict[str, Any]:
    """A result of the library as a dict, or raised as the exception of its error kind."""
    parsed = _decode_json(data.decode())
    if is_error:
        raise error_from_json(parsed)
    return parsed  # type: ignore[no-any-return]


def _decode_chunk(data: bytes) -> Any:
    return _decode_json(data.decode())


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


class Calls:
    """Every call form. The module-level functions are the methods of the default client's
    instance; :class:`Client` runs the same methods on its own configuration."""

    __slots__ = ()

    def _client_id(self) -> Optional[int]:
        """The library's handle for the calls: None for the default client."""
        return None

    def invoke(self, provider: Optional[str], request: Mapping[str, Any]) -> dict[str, Any]:
        """Sends one OpenAI-shaped chat request and returns the OpenAI-shaped response as a dict.

        ``provider`` names the adapter (``"openai"``, ``"anthropic"``, ``"cohere"``, ``"mock"``), or
        is None to route by the ``provider/`` prefix of ``request["model"]``. Raises a
        :class:`LiterLLMError` subclass when the call fails; ``TypeError`` / ``ValueError`` when
        the arguments cannot be sent at all. The GIL is released while waiting; on the main
        thread, Ctrl-C raises ``KeyboardInterrupt`` at once and cancels the upstream request.
        """
        return decode(*_native.invoke_raw(self._client_id(), *_encode(provider, request)))

    async def ainvoke(self, provider: Optional[str], request: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`invoke` for asyncio; see :meth:`acompletion`."""
        return decode(*await _native.invoke_async_raw(self._client_id(), *_encode(provider, request)))

    def invoke_stream(self, provider: Optional[str], request: Mapping[str, Any]) -> Stream:
        """:meth:`invoke`, streamed: a :class:`Stream` of the ``chat.completion.chunk`` objects of
        the raw request (the library sends ``"stream": true`` upstream whatever the request says).
        Leaving the loop early or ``close()`` cancels the upstream request; a failure raises the
        matching :class:`LiterLLMError` after the chunks received before it."""
        return Stream(self._client_id(), *_encode(provider, request), _decode_chunk, self)

    def ainvoke_stream(self, provider: Optional[str], request: Mapping[str, Any]) -> AsyncStream:
        """:meth:`invoke_stream` for asyncio: an :class:`AsyncStream`. Call it inside a running
        event loop (the chunks are delivered into that loop)."""
        return AsyncStream(self._client_id(), *_encode(provider, request), _decode_chunk, self)

    @overload
    def completion(
        self,
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
        self,
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
        self,
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

        Any other keyword (``max_tokens``, ``temperature``, ``tools``, ``prompt``,
        ``mock_response``...) becomes a field of the request. ``api_key``, ``base_url`` (alias
        ``api_base``) and ``timeout`` (seconds) override the configuration for this call only.
        The GIL is released while waiting; on the main thread, Ctrl-C raises
        ``KeyboardInterrupt`` at once and cancels the upstream request. With ``stream=True`` the
        result is a :class:`Stream` of :class:`ChatCompletionChunk`.
        """
        request = _request(model, messages, api_key, base_url, api_base, timeout, params)
        if stream:
            request["stream"] = True
            return self.invoke_stream(provider, request)
        # `invoke`, inlined: one Python frame less on the hot path.
        return as_completion(decode(*_native.invoke_raw(self._client_id(), *_encode(provider, request))))

    @overload
    async def acompletion(
        self,
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
        self,
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
        self,
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
        """:meth:`completion` for asyncio.

        No thread waits for the call: the core delivers the result into the event loop.
        Cancelling the task cancels the upstream request. With ``stream=True`` the result is an
        :class:`AsyncStream` (``async for chunk in await acompletion(..., stream=True)``).
        """
        request = _request(model, messages, api_key, base_url, api_base, timeout, params)
        if stream:
            request["stream"] = True
            return self.ainvoke_stream(provider, request)
        return as_completion(decode(*await _native.invoke_async_raw(self._client_id(), *_encode(provider, request))))

    def _embedding_request(
        self,
        model: str,
        input: Union[str, Sequence[str]],
        dimensions: Optional[int],
        encoding_format: Optional[str],
        api_key: Optional[str],
        base_url: Optional[str],
        api_base: Optional[str],
        timeout: Optional[float],
        params: Mapping[str, Any],
    ) -> dict[str, Any]:
        request = _request(model, None, api_key, base_url, api_base, timeout, params)
        request["operation"] = "embedding"
        request["input"] = input if isinstance(input, str) else list(input)
        if dimensions is not None:
            request["dimensions"] = dimensions
        if encoding_format is not None:
            request["encoding_format"] = encoding_format
        return request

    def embedding(
        self,
        model: str,
        input: Union[str, Sequence[str]],
        *,
        dimensions: Optional[int] = None,
        encoding_format: Optional[Literal["float", "base64"]] = None,
        provider: Optional[str] = None,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        api_base: Optional[str] = None,
        timeout: Optional[float] = None,
        **params: Any,
    ) -> EmbeddingResponse:
        """Embeddings, LiteLLM-style: ``embedding(model="openai/text-embedding-3-small", input=["a", "b"])``.

        The answer is OpenAI's list shape whatever the provider (docs/embeddings.md): vectors as
        lists of floats, or base64 text with ``encoding_format="base64"``. Any other keyword
        (``input_type``, ``user``, ``fallbacks``...) becomes a field of the request.
        """
        request = self._embedding_request(
            model, input, dimensions, encoding_format, api_key, base_url, api_base, timeout, params
        )
        return as_embedding_response(self.invoke(provider, request))

    async def aembedding(
        self,
        model: str,
        input: Union[str, Sequence[str]],
        *,
        dimensions: Optional[int] = None,
        encoding_format: Optional[Literal["float", "base64"]] = None,
        provider: Optional[str] = None,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        api_base: Optional[str] = None,
        timeout: Optional[float] = None,
        **params: Any,
    ) -> EmbeddingResponse:
        """:meth:`embedding` for asyncio."""
        request = self._embedding_request(
            model, input, dimensions, encoding_format, api_key, base_url, api_base, timeout, params
        )
        return as_embedding_response(await self.ainvoke(provider, request))


class Client(Calls, Managed[int]):
    """A client with its own configuration, connection pool, rate limits and route state.

    ``config`` is the JSON form of ``liter-llm.toml`` (what :func:`configure` takes);
    ``config_file`` names a ``liter-llm.toml`` instead (``${VAR}`` is read from the environment).
    With neither, the client reads the configuration the default client would (the file named
    by ``LITER_LLM_CONFIG``, else ``./liter-llm.toml`` when it exists). Raises
    :class:`BadRequestError` naming the offending key or line.

    It has the module-level calls as methods (``completion``, ``acompletion``, ``invoke``,
    ``ainvoke``, ``invoke_stream``, ``ainvoke_stream``), safe from any thread and event loop at
    once. ``close()`` (or leaving ``with`` / ``async with``) frees it: calls still in flight on
    it raise :class:`CancelledError`, later calls :class:`BadRequestError`. A stream keeps its
    client open while it runs.
    """

    def __init__(
        self,
        config: Optional[Mapping[str, Any]] = None,
        *,
        config_file: Optional[Union[str, os.PathLike[str]]] = None,
    ) -> None:
        config_json = None if config is None else encode_config(config)
        path = None
        if config_file is not None:
            path = os.fsencode(config_file)
            if b"\x00" in path:
                raise ValueError("config_file must not contain NUL characters")
        handle, result = _native.client_new(config_json, path)
        decode(*result)
        self._set_handle(handle)

    def _client_id(self) -> int:
        return self._live_handle()

    def _delete(self, handle: int) -> None:
        _native.client_free(handle)

    def _closed_error(self) -> Exception:
        return BadRequestError("this liter_llm.Client is closed (close() was called); create a new Client")

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        handle = self._handle
        return f"<liter_llm.Client {'closed' if handle is None else handle}>"


DEFAULT = Calls()
