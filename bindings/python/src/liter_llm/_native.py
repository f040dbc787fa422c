"""Loads the one shared library and checks that it speaks the ABI this package was built for."""

from __future__ import annotations

import os
import sys
from typing import Any

from ._ffi import ffi

#: The ABI version this package's declarations were generated from.
ABI_VERSION: int = 1


def _library_path() -> str:
    override = os.environ.get("LITER_LLM_LIBRARY")
    if override:
        return override
    if sys.platform == "darwin":
        name = "libliter_llm.dylib"
    elif sys.platform == "win32":
        name = "liter_llm.dll"
    else:
        name = "libliter_llm.so"
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)


def _load() -> Any:
    path = _library_path()
    try:
        lib = ffi.dlopen(path)
    except OSError as e:
        raise ImportError(f"liter_llm could not load its native library {path}: {e}") from e
    found = lib.liter_llm_abi_version()
    if found != ABI_VERSION or lib.LITER_LLM_ABI_VERSION != ABI_VERSION:
        raise ImportError(
            f"liter_llm: the native library at {path} speaks ABI version {found}, but this package "
            f"needs version {ABI_VERSION}; rebuild and reinstall the package (pip install ./bindings/python)"
        )
    return lib


lib: Any = _load()
NULL: Any = ffi.NULL


def invoke_raw(provider: bytes | None, request: bytes) -> tuple[bool, bytes]:
    """One call through the C ABI. Returns (is_error, JSON bytes). Releases the GIL while waiting."""
    out_len = ffi.new("int32_t *")
    ptr = lib.liter_llm_invoke(NULL if provider is None else provider, request, out_len)
    if ptr == NULL:
        raise MemoryError("liter_llm could not allocate the result")
    try:
        n = out_len[0]
        data: bytes = ffi.unpack(ptr, -n if n < 0 else n)
    finally:
        lib.liter_llm_free(ptr)
    return n < 0, data


def version() -> str:
    raw: bytes = ffi.string(lib.liter_llm_version())
    return raw.decode("utf-8")
