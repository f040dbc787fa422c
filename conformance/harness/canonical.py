"""Canonical JSON (RFC 8785, JCS) for the results file, so every runner writes the same bytes.

Python's `json.dumps(sort_keys=True)` is close but not it: it writes `20.0` where JavaScript and
Go write `20`, writes `1e-07` instead of `1e-7`, and sorts keys by code point instead of UTF-16
code unit.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _utf16_key(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def _number(value: float) -> str:
    """ECMAScript Number::toString, which RFC 8785 uses for numbers."""
    if not math.isfinite(value):
        raise ValueError(f"{value} cannot be written as JSON")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + _number(-value)
    mantissa, _, exponent_text = repr(float(value)).partition("e")
    exponent = int(exponent_text) if exponent_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0").rstrip("0")
    if whole.strip("0"):
        point = len(whole.lstrip("0")) + exponent
    else:
        point = exponent - (len(fraction) - len(fraction.lstrip("0")))
    # Now value = 0.<digits> * 10**point, with `digits` free of leading and trailing zeros.
    count = len(digits)
    if count <= point <= 21:
        return digits + "0" * (point - count)
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    shown = digits[0] + ("." + digits[1:] if count > 1 else "")
    return f"{shown}e{'+' if point - 1 >= 0 else '-'}{abs(point - 1)}"


def canonical_json(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return _number(float(value)) if abs(value) >= 2**53 else str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        # Python escapes exactly what RFC 8785 escapes when ensure_ascii is off.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(item) for item in value) + "]"
    if isinstance(value, dict):
        members = sorted(value.items(), key=lambda member: _utf16_key(member[0]))
        return "{" + ",".join(f"{canonical_json(key)}:{canonical_json(item)}" for key, item in members) + "}"
    raise TypeError(f"{type(value).__name__} is not a JSON value")
