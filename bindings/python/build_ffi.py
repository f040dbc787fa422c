"""Builds the cffi declarations of liter_llm from the checked-in C header.

The module is generated in cffi's out-of-line ABI mode: a plain Python file that needs no C
compiler and parses no C at import time, which keeps `import liter_llm` fast.
"""

from __future__ import annotations

import re
from pathlib import Path

import cffi


def cdef_from_header(text: str) -> str:
    """The C declarations of the header, without preprocessor lines or C++ guards.

    Integer `#define` constants are kept: cffi's cdef understands them.
    """
    lines: list[str] = []
    skip_depth = 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#ifdef __cplusplus"):
            skip_depth += 1
            continue
        if skip_depth:
            if stripped.startswith("#endif"):
                skip_depth -= 1
            continue
        if re.match(r"#define\s+LITER_LLM_[A-Z0-9_]+\s+\d+\s*$", stripped):
            lines.append(stripped)
            continue
        if stripped.startswith("#"):
            continue
        lines.append(line)
    return "\n".join(lines)


def make_ffi(header: Path) -> cffi.FFI:
    ffi = cffi.FFI()
    ffi.cdef(cdef_from_header(header.read_text(encoding="utf-8")))
    ffi.set_source("liter_llm._ffi", None)
    return ffi
