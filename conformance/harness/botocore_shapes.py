"""Validates Bedrock request and response bodies against AWS's official API model of Bedrock
Runtime: botocore's service model (``botocore/data/bedrock-runtime/*/service-2.json``).

The model is not JSON Schema: it names shapes (``structure``, ``list``, ``map``, ``string``,
numbers, ``boolean``, ``blob``, ``timestamp``, ``document``), and for the REST-JSON protocol the
body of an operation is its input (or output) structure less the members bound to the URI, the
query or headers (``location``). A structure accepts only its members and needs its ``required``
ones; a ``union`` structure has exactly one member set; a string ``enum`` lists its values; a
``blob`` is base64 text in JSON; a shape marked ``document`` is any JSON value. Length and range limits
(``min``, ``max``) are not checked.
"""

from __future__ import annotations

import base64
import binascii
from functools import cache
from typing import Any

from botocore.loaders import Loader

SERVICE = "bedrock-runtime"


@cache
def _model() -> dict[str, Any]:
    model: dict[str, Any] = Loader().load_service_model(SERVICE, "service-2")
    return model


def operation_errors(operation: str, which: str, body: Any) -> list[str]:
    """Every way `body` breaks the body of `operation`'s `which` ("input" or "output") shape."""
    model = _model()
    shape_name = model["operations"][operation][which]["shape"]
    shape = model["shapes"][shape_name]
    members = {name: member for name, member in shape["members"].items() if "location" not in member}
    body_shape = {**shape, "members": members, "required": [r for r in shape.get("required", []) if r in members]}
    return _errors(model["shapes"], body_shape, body, "")


def _errors(shapes: dict[str, Any], shape: dict[str, Any], value: Any, where: str) -> list[str]:
    kind = shape["type"]
    at = where or "/"
    if shape.get("document"):
        return []
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{at}: expected an object ({kind})"]
        found = []
        members = shape.get("members", {})
        for name in value:
            if name not in members:
                found.append(f"{at}: unknown member {name!r}")
        for name in shape.get("required", []):
            if name not in value:
                found.append(f"{at}: missing required member {name!r}")
        if shape.get("union") and len(value) != 1:
            found.append(f"{at}: a union needs exactly one member, got {sorted(value)}")
        for name, item in value.items():
            if name in members:
                found.extend(_errors(shapes, shapes[members[name]["shape"]], item, f"{where}/{name}"))
        return found
    if kind == "list":
        if not isinstance(value, list):
            return [f"{at}: expected an array"]
        member = shapes[shape["member"]["shape"]]
        return [e for i, item in enumerate(value) for e in _errors(shapes, member, item, f"{where}/{i}")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{at}: expected an object (map)"]
        member = shapes[shape["value"]["shape"]]
        return [e for key, item in value.items() for e in _errors(shapes, member, item, f"{where}/{key}")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{at}: expected a string"]
        if "enum" in shape and value not in shape["enum"]:
            return [f"{at}: {value!r} is not one of {shape['enum']}"]
        return []
    if kind in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{at}: expected an integer"]
    if kind in ("float", "double"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{at}: expected a number"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{at}: expected a boolean"]
    if kind == "blob":
        if not isinstance(value, str):
            return [f"{at}: expected base64 text (blob)"]
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            return [f"{at}: not base64 (blob)"]
        return []
    if kind == "timestamp":
        return [] if isinstance(value, (int, float, str)) else [f"{at}: expected a timestamp"]
    if kind == "document":
        return []
    return [f"{at}: the model's shape type {kind!r} is not known to this validator"]


def stream_event_errors(operation: str, event_type: str, payload: Any) -> list[str]:
    """Every way one event-stream frame's JSON `payload` breaks the member named `event_type`
    (`:event-type` of an event, `:exception-type` of an exception) of `operation`'s output
    event stream (ConverseStream's `ConverseStreamOutput`)."""
    model = _model()
    shapes = model["shapes"]
    output = shapes[model["operations"][operation]["output"]["shape"]]
    stream = shapes[output["members"][output["payload"]]["shape"]]
    if not stream.get("eventstream"):
        return [f"{operation}'s output is not an event stream"]
    member = stream["members"].get(event_type)
    if member is None:
        return [f"{event_type!r} is not an event of {operation} (its events: {', '.join(stream['members'])})"]
    return _errors(shapes, shapes[member["shape"]], payload, event_type)
