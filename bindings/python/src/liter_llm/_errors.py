"""One exception class per error kind, under one base, named as OpenAI and LiteLLM users expect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional


class LiterLLMError(Exception):
    """Base of every error liter_llm raises for a failed call.

    Attributes mirror the C ABI's error object: ``kind`` (stable string), ``message``,
    ``status`` (upstream HTTP status or None), ``provider``, ``retry_after`` (seconds or None),
    ``provider_error`` (the provider's own type/message/code, or None), ``attempts`` (HTTP
    attempts made), ``tried`` (every model of a fallback chain, or None) and ``body`` (the whole
    error object).
    """

    kind: str = "internal"

    def __init__(
        self,
        message: str,
        *,
        kind: Optional[str] = None,
        status: Optional[int] = None,
        provider: Optional[str] = None,
        retry_after: Optional[float] = None,
        provider_error: Optional[Mapping[str, Any]] = None,
        attempts: int = 0,
        tried: Optional[list[dict[str, Any]]] = None,
        body: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        self.status = status
        self.status_code = status
        self.provider = provider
        self.llm_provider = provider
        self.retry_after = retry_after
        self.provider_error = dict(provider_error) if provider_error is not None else None
        self.attempts = attempts
        self.tried = tried
        # An error made here (not by the library) gets the library's error-object shape too.
        self.body: dict[str, Any] = (
            dict(body)
            if body is not None
            else {
                "kind": self.kind,
                "message": message,
                "status": status,
                "provider": provider,
                "retry_after": retry_after,
                "provider_error": self.provider_error,
                "attempts": attempts,
            }
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, status={self.status!r}, message={self.message!r})"


class BadRequestError(LiterLLMError):
    """The request is malformed (caught locally, or HTTP 400/409/413/422)."""

    kind = "invalid_request"


class AuthenticationError(LiterLLMError):
    """No key is configured, or the provider rejected it (HTTP 401)."""

    kind = "authentication"


class PermissionDeniedError(LiterLLMError):
    """The key may not do this (HTTP 402/403)."""

    kind = "permission_denied"


class NotFoundError(LiterLLMError):
    """The model or endpoint does not exist (HTTP 404)."""

    kind = "not_found"


class RateLimitError(LiterLLMError):
    """The provider asked to slow down (HTTP 429); see ``retry_after``."""

    kind = "rate_limited"


class APIConnectionError(LiterLLMError):
    """The provider could not be reached or the connection broke."""

    kind = "connection"


class Timeout(APIConnectionError):
    """The call's ``timeout`` passed (or HTTP 408)."""

    kind = "timeout"


APITimeoutError = Timeout


class ServiceUnavailableError(LiterLLMError):
    """The provider failed or is overloaded (HTTP 5xx, Anthropic's 529)."""

    kind = "provider_unavailable"


class BadResponseError(LiterLLMError):
    """The provider answered with bytes that are not the documented JSON."""

    kind = "bad_response"


class UnsupportedProviderError(LiterLLMError):
    """An unknown provider, or a feature this version does not support."""

    kind = "unsupported"


class CancelledError(LiterLLMError):
    """The call was cancelled before it ended: its :class:`Client` was closed while it was in flight.

    A cancelled asyncio task raises :class:`asyncio.CancelledError`, as asyncio expects, and
    Ctrl-C raises :class:`KeyboardInterrupt`; this class is for a call that someone else stopped.
    """

    kind = "cancelled"


class InternalError(LiterLLMError):
    """A bug in liter_llm."""

    kind = "internal"


_BY_KIND: dict[str, type[LiterLLMError]] = {
    cls.kind: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        RateLimitError,
        Timeout,
        APIConnectionError,
        ServiceUnavailableError,
        BadResponseError,
        UnsupportedProviderError,
        CancelledError,
        InternalError,
    )
}


def error_from_json(payload: Any) -> LiterLLMError:
    """The exception for an error object returned by the C ABI."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return InternalError(f"liter_llm returned an error without an error object: {payload!r}")
    kind = error.get("kind")
    cls = _BY_KIND.get(kind, LiterLLMError) if isinstance(kind, str) else LiterLLMError
    return cls(
        str(error.get("message", "")),
        kind=kind if isinstance(kind, str) else None,
        status=error.get("status"),
        provider=error.get("provider"),
        retry_after=error.get("retry_after"),
        provider_error=error.get("provider_error"),
        attempts=error.get("attempts") or 0,
        tried=error.get("tried"),
        body=error,
    )
