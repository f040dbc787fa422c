# Type stub for the cffi module generated at build time (see build_ffi.py).
from typing import Any

ffi: Any
