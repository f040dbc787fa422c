"""The one base for objects that own a native handle: a :class:`Client`, a stream.

Modelled on wasmtime-py's ``Managed``: ``close()`` releases the handle and is idempotent, ``with``
closes on exit, and the finalizer is only a backstop for an object dropped without ``close()``.
liter-llm's handles are integers that the library never reuses and whose release functions
accept an unknown or already released handle, so two threads closing at once cannot double-free
anything: no lock is needed.
"""

from __future__ import annotations

from typing import Any, Generic, Optional, TypeVar

H = TypeVar("H")
Self = TypeVar("Self", bound="Managed[Any]")


class Managed(Generic[H]):
    """Owns one native handle of type ``H`` until :meth:`close`."""

    # A class attribute, so that an object whose __init__ failed before _set_handle closes cleanly.
    _handle: Optional[H] = None

    def _set_handle(self, handle: H) -> None:
        if self._handle is not None:
            raise ValueError("the handle is already set")
        self._handle = handle

    def _delete(self, handle: H) -> None:
        """Releases ``handle`` in the library; called at most once per handle by :meth:`close`."""
        raise NotImplementedError

    def _closed_error(self) -> Exception:
        """The exception raised when the object is used after :meth:`close`."""
        return ValueError(f"this {type(self).__name__} is closed")

    def _live_handle(self) -> H:
        """The handle, or the closed error once :meth:`close` has run."""
        handle = self._handle
        if handle is None:
            raise self._closed_error()
        return handle

    def _forget(self) -> None:
        """Drops the handle without releasing it, for one the library has already released."""
        self._handle = None

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        """Releases the native handle; a second call does nothing."""
        handle = self._handle
        if handle is not None:
            self._handle = None
            self._delete(handle)

    def __enter__(self: Self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # The backstop only: an object still open when it is collected.
        if self._handle is not None:
            self.close()
