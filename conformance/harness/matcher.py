"""The subset matcher of the conformance cases (see RUNNER_CONTRACT.md, "Matching").

`mismatches(expected, actual)` returns one line per difference, each starting with the JSON path
where it was found; an empty list means the actual value matches.
"""

from __future__ import annotations

import json
from typing import Any

OPERATORS = ("$absent", "$type", "$contains", "$json")

_TYPE_CHECKS = {
    "string": lambda value: isinstance(value, str),
    "integer": lambda value: _is_number(value) and float(value).is_integer(),
    "number": lambda value: _is_number(value),
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "null": lambda value: value is None,
    "boolean": lambda value: isinstance(value, bool),
}


class CaseError(ValueError):
    """The expected value itself is malformed (a case bug, not a mismatch)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _operator(expected: Any) -> str | None:
    """The operator name when `expected` is an operator object, else None."""
    if isinstance(expected, dict) and len(expected) == 1:
        key: str = next(iter(expected))
        if key in OPERATORS:
            return key
        if key.startswith("$"):
            raise CaseError(f"unknown matcher operator {key!r}; known: {', '.join(OPERATORS)}")
    return None


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


def _scalar_equal(expected: Any, actual: Any) -> bool:
    if _is_number(expected) and _is_number(actual):
        if isinstance(expected, int) and isinstance(actual, int):
            return expected == actual
        return float(expected) == float(actual)
    if _is_number(expected) or _is_number(actual):
        return False  # keeps True from equalling 1, as JSON does
    return type(expected) is type(actual) and expected == actual


def mismatches(expected: Any, actual: Any, path: str = "$") -> list[str]:
    operator = _operator(expected)
    if operator == "$absent":
        raise CaseError(f"{path}: $absent only makes sense as the value of an object member")
    if operator == "$type":
        wanted = expected["$type"]
        if wanted not in _TYPE_CHECKS:
            raise CaseError(f"{path}: unknown $type {wanted!r}")
        return (
            [] if _TYPE_CHECKS[wanted](actual) else [f"{path}: expected a value of type {wanted}, got {_show(actual)}"]
        )
    if operator == "$contains":
        needle = expected["$contains"]
        if not isinstance(actual, str):
            return [f"{path}: expected a string containing {_show(needle)}, got {_show(actual)}"]
        return (
            [] if needle in actual else [f"{path}: expected a string containing {_show(needle)}, got {_show(actual)}"]
        )
    if operator == "$json":
        if not isinstance(actual, str):
            return [f"{path}: expected a string of JSON text, got {_show(actual)}"]
        try:
            parsed = json.loads(actual)
        except ValueError as error:
            return [f"{path}: expected JSON text, got {_show(actual)} ({error})"]
        return mismatches(expected["$json"], parsed, f"{path}<json>")

    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {_show(actual)}"]
        found = []
        for key, expected_value in expected.items():
            member_path = f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"
            if _operator(expected_value) == "$absent":
                if key in actual:
                    found.append(f"{member_path}: expected no such member, got {_show(actual[key])}")
            elif key not in actual:
                found.append(f"{member_path}: missing, expected {_show(expected_value)}")
            else:
                found.extend(mismatches(expected_value, actual[key], member_path))
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected an array, got {_show(actual)}"]
        if len(expected) != len(actual):
            return [f"{path}: expected an array of {len(expected)} items, got {len(actual)}: {_show(actual)}"]
        found = []
        for index, (expected_item, actual_item) in enumerate(zip(expected, actual, strict=True)):
            found.extend(mismatches(expected_item, actual_item, f"{path}[{index}]"))
        return found
    if not _scalar_equal(expected, actual):
        return [f"{path}: expected {_show(expected)}, got {_show(actual)}"]
    return []


def error_mismatches(expected: dict[str, Any], actual: Any) -> list[str]:
    """Matches an `expect.error` object: subset fields plus `message_contains`/`message_excludes`."""
    expected = dict(expected)
    contains = expected.pop("message_contains", [])
    excludes = expected.pop("message_excludes", [])
    found = mismatches(expected, actual, "$error")
    message = actual.get("message") if isinstance(actual, dict) else None
    if not isinstance(message, str):
        return (
            found
            if not (contains or excludes)
            else [*found, f"$error.message: expected a string, got {_show(message)}"]
        )
    for needle in contains:
        if needle not in message:
            found.append(f"$error.message: expected it to contain {_show(needle)}, got {_show(message)}")
    for needle in excludes:
        if needle in message:
            found.append(f"$error.message: must not contain {_show(needle)}, got {_show(message)}")
    return found
