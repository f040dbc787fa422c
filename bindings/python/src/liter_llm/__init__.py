"""liter_llm: one LLM client for OpenAI, Anthropic, Cohere and a built-in mock.

A Rust core does the network work behind a C ABI; this package is a thin typed layer over it.

    import liter_llm
    r = liter_llm.completion(model="mock/demo", messages=[{"role": "user", "content": "Hi"}])
    print(r.choices[0].message.content)

The module-level functions run on the default client, configured by ``configure()`` (or the
``liter-llm.toml`` it finds); ``liter_llm.Client(config)`` is a client of its own, with the same
calls as methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from . import _compat, _native
from ._audit import AuditLogError, verify_audit_log
from ._client import DEFAULT, Client, decode, encode_config, encode_json
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BadResponseError,
    CancelledError,
    InternalError,
    LiterLLMError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnsupportedProviderError,
)
from ._stream import AsyncStream, Stream
from ._types import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    Embedding,
    EmbeddingResponse,
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
    "AuditLogError",
    "AuthenticationError",
    "BadRequestError",
    "BadResponseError",
    "CancelledError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "Client",
    "Delta",
    "Embedding",
    "EmbeddingResponse",
    "Function",
    "InternalError",
    "LiterLLMError",
    "Message",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Record",
    "ServiceUnavailableError",
    "Stream",
    "Timeout",
    "ToolCall",
    "UnsupportedProviderError",
    "Usage",
    "__version__",
    "acompletion",
    "aembedding",
    "ainvoke",
    "completion_cost",
    "ainvoke_stream",
    "completion",
    "configure",
    "embedding",
    "flush_telemetry",
    "invoke",
    "invoke_stream",
    "stream_chunk_builder",
    "token_counter",
    "verify_audit_log",
]

__version__: str = _native.version()

# The calls on the default client.
completion = DEFAULT.completion
acompletion = DEFAULT.acompletion
embedding = DEFAULT.embedding
aembedding = DEFAULT.aembedding
invoke = DEFAULT.invoke
ainvoke = DEFAULT.ainvoke
invoke_stream = DEFAULT.invoke_stream
ainvoke_stream = DEFAULT.ainvoke_stream


def flush_telemetry(timeout: float = 5.0) -> bool:
    """Sends the spans and metrics every client holds now (docs/telemetry.md), waiting at most
    ``timeout`` seconds; True when everything was sent. The interpreter's exit does this too."""
    if not isinstance(timeout, (int, float)) or not 0 <= timeout <= 3600:
        raise ValueError("timeout must be a number of seconds from 0 to 3600")
    return _native.telemetry_flush(int(timeout * 1000))


def configure(config: Mapping[str, Any]) -> None:
    """Replaces the default client's configuration (the JSON form of ``liter-llm.toml``).

    ``defaults`` (timeout, max_retries, max_retry_wait, on_limit), ``pool`` (max_idle_per_host,
    idle_timeout), ``providers`` (api_key, base_url, timeout, max_retries, rpm, tpm, on_limit,
    models), ``routes`` and ``prices``; see docs/configuration.md. It applies to every later
    call of the module-level functions in the process, from every thread and every binding;
    a :class:`Client` keeps its own. Raises :class:`BadRequestError` naming the offending key,
    leaving the configuration unchanged.
    """
    decode(*_native.configure_raw(encode_config(config)))


def completion_cost(
    completion_response: Optional[Mapping[str, Any]] = None,
    *,
    model: Optional[str] = None,
    prompt: str = "",
    messages: Optional[Sequence[Mapping[str, Any]]] = None,
    completion: str = "",
) -> float:
    return _compat.completion_cost(
        DEFAULT, completion_response, model=model, prompt=prompt, messages=messages, completion=completion
    )


def token_counter(
    model: str = "", messages: Optional[Sequence[Mapping[str, Any]]] = None, text: Optional[str] = None
) -> int:
    return _compat.token_counter(DEFAULT, model, messages, text)


completion_cost.__doc__ = _compat.completion_cost.__doc__
token_counter.__doc__ = _compat.token_counter.__doc__


def stream_chunk_builder(chunks: Iterable[Mapping[str, Any]]) -> ChatCompletion:
    """Assembles a stream's chunks into the whole :class:`ChatCompletion` (content and tool-call
    arguments joined, the finish reason, the usage), as LiteLLM's ``stream_chunk_builder`` does."""
    return as_completion(decode(*_native.assemble_raw(encode_json(list(chunks)).encode("utf-8"))))
