"""Checks of the shipped case files that need no binding, so a broken case fails here and not
only in a full run. Run: python -m pytest conformance/harness"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import botocore_shapes
import run
from matcher import mismatches
from upstream_specs import UpstreamSpecs

CASES_DIR = run.CONFORMANCE_DIR / "cases"
CASE_PATHS = sorted(CASES_DIR.rglob("*.json"))
VALIDATOR = jsonschema.Draft202012Validator(json.loads(run.CASE_SCHEMA.read_text(encoding="utf-8")))
SPECS = UpstreamSpecs()

COHERE_EMBED_API_VERSION = (
    "Cohere's EmbedByTypeResponse requires a top-level api_version; the API sends it as meta.api_version"
)
OPENAI_BASE64_EMBEDDING = (
    "OpenAI's schema types `embedding` as an array, but with encoding_format base64 the API sends a string"
)

# Cases whose upstream answer deliberately leaves the official schema, and why.
UNOFFICIAL_FIXTURES = {
    "cohere/finish_error_toxic": "ERROR_TOXIC is a Chat v1 finish reason that docs/providers.md still maps",
    "cohere/null_optional_fields": "null in optional fields, which Cohere-compatible servers send and the schema omits",
    "cohere/tool_calls_with_null_content": "content null beside tool calls, as Cohere-compatible servers send",
    "openai/null_optional_fields": "null in optional fields, which OpenAI-compatible servers send and the schema omits",
    "embeddings/cohere_default_input_type": COHERE_EMBED_API_VERSION,
    "embeddings/cohere_input_type_and_base64": COHERE_EMBED_API_VERSION,
    "embeddings/openai_base64_decoded": OPENAI_BASE64_EMBEDDING,
    "embeddings/openai_base64_passthrough": OPENAI_BASE64_EMBEDDING,
}


def load(path: Path) -> dict[str, Any]:
    case, problems = run.load_case(path, run.case_name(CASES_DIR, path), VALIDATOR)
    assert problems == []
    return case


def without_absent(matcher: Any) -> Any | None:
    """The matcher as a plain JSON value with `$absent` members removed, or None when it uses
    another operator (and so is not a literal body)."""
    if isinstance(matcher, dict):
        if len(matcher) == 1 and next(iter(matcher)).startswith("$"):
            return None
        plain = {}
        for key, value in matcher.items():
            if value == {"$absent": True}:
                continue
            plain[key] = without_absent(value)
            if plain[key] is None and value is not None:
                return None
        return plain
    if isinstance(matcher, list):
        items = [without_absent(item) for item in matcher]
        dropped = any(item is None and original is not None for item, original in zip(items, matcher, strict=True))
        return None if dropped else items
    return matcher


def test_enough_cases():
    assert len(CASE_PATHS) >= 48


def test_case_schema_is_a_valid_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(run.CASE_SCHEMA.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", CASE_PATHS, ids=lambda path: run.case_name(CASES_DIR, path))
def test_case_file(path: Path):
    case = load(path)
    expect = case["expect"]
    earlier = expect.get("earlier_calls", [])
    if earlier:
        assert len(earlier) == case.get("calls", 1) - 1, "expect.earlier_calls needs one item per call but the last"
    for matcher in [
        expect.get("response"),
        *(call.get("response") for call in earlier),
        *(request.get("body") for request in expect.get("requests", [])),
    ]:
        if matcher is not None:
            mismatches(matcher, None)  # raises CaseError on a malformed operator


@pytest.mark.parametrize("path", CASE_PATHS, ids=lambda path: run.case_name(CASES_DIR, path))
def test_expected_bodies_obey_the_official_schema(path: Path):
    """A complete expected request body (model and messages, literal values) must itself be
    valid for the provider: otherwise the case would demand a request the real API rejects."""
    case = load(path)
    if not case.get("validate_schema", True):
        return  # the case opts out of schema validation
    for expected in case["expect"].get("requests", []):
        operation = SPECS.operation_for(expected.get("method", "POST"), expected.get("path", ""))
        body = without_absent(expected.get("body"))
        if operation is None or not isinstance(body, dict) or not {"model", "messages"} <= body.keys():
            continue
        assert SPECS.request_errors(operation, body) == []


@pytest.mark.parametrize("path", CASE_PATHS, ids=lambda path: run.case_name(CASES_DIR, path))
def test_successful_fixtures_obey_the_official_schema(path: Path):
    """When a case expects a response, the 2xx JSON its upstream sends must be a real answer of
    that provider, so mappings are tested on realistic payloads."""
    case = load(path)
    # A fixture listed as unofficial (with its reason) must really fall outside the schema.
    official = case["name"] not in UNOFFICIAL_FIXTURES
    if "response" not in case["expect"] or "upstream" not in case:
        return
    requests = case["expect"].get("requests", [])
    if not requests:
        return
    # The i-th scripted response answers the i-th request (a fallback chain crosses providers).
    for index, response in enumerate(case["upstream"]["responses"]):
        request = requests[min(index, len(requests) - 1)]
        operation = SPECS.operation_for(request.get("method", "POST"), request.get("path", ""))
        if operation and 200 <= response.get("status", 200) < 300 and "json" in response:
            errors = SPECS.response_errors(operation, response["json"])
            if official:
                assert errors == []
            else:
                assert errors, f"listed as unofficial ({UNOFFICIAL_FIXTURES[case['name']]}) but valid"


# Stream cases whose upstream events deliberately leave the official event schema, and why.
UNOFFICIAL_EVENTS = {
    "streaming/malformed_event_json": "an event whose data is not JSON",
    "streaming/multiline_data_cr_and_unknown_events": "an event type no schema knows, which adapters must ignore",
    "streaming/truncated_event": "the body ends inside an event",
    "cohere/stream_null_optional_fields": "null in optional fields, which Cohere-compatible servers send",
    "openai/stream_null_optional_fields": "null in optional fields, which OpenAI-compatible servers send",
}


def sse_events(body: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) of each event of a server-sent-event body: enough of the format for
    the fixtures (CRLF, CR or LF line ends, comments, multi-line data); a trailing event without
    its blank line counts too, so a truncated fixture is seen as such."""
    text = body.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    events = []
    for block in text.split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            field_name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field_name == "event":
                name = value
            elif field_name == "data":
                data.append(value)
        if data:
            events.append((name, "\n".join(data)))
    return events


@pytest.mark.parametrize(
    "path",
    [p for p in CASE_PATHS if "stream" in json.loads(p.read_text(encoding="utf-8"))],
    ids=lambda path: run.case_name(CASES_DIR, path),
)
def test_stream_fixtures_obey_the_official_event_schemas(path: Path):
    """The events a stream case's upstream sends must be real events of that provider, each
    `data` valid under the provider's official stream-event schema."""
    case = load(path)
    official = case["name"] not in UNOFFICIAL_EVENTS
    requests = case["expect"].get("requests", [])
    problems = []
    for index, response in enumerate(case.get("upstream", {}).get("responses", [])):
        if "chunks" not in response or not requests:
            continue
        operation = SPECS.operation_for("POST", requests[min(index, len(requests) - 1)].get("path", ""))
        assert operation is not None
        if operation.provider == "bedrock":
            for chunk in response["chunks"]:
                frame = chunk["event_frame"]
                headers = frame["headers"]
                event_type = headers.get(":event-type") or headers.get(":exception-type", "")
                problems.extend(botocore_shapes.stream_event_errors("ConverseStream", event_type, frame["json"]))
            continue
        body = b"".join(
            chunk["data"].encode("utf-8") if "data" in chunk else base64.b64decode(chunk["data_base64"])
            for chunk in response["chunks"]
        )
        for name, data in sse_events(body):
            if data == "[DONE]" or (operation.provider == "anthropic" and name in ("ping", "error")):
                continue
            try:
                event = json.loads(data)
            except ValueError:
                problems.append(f"not JSON: {data[:60]!r}")
                continue
            problems.extend(SPECS.stream_event_errors(operation.provider, event))
    if official:
        assert problems == []
    else:
        assert problems, f"listed as unofficial ({UNOFFICIAL_EVENTS[case['name']]}) but valid"


def test_malformed_case_is_reported(tmp_path: Path):
    path = tmp_path / "x" / "y.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"name": "x/z", "description": "d", "provider": None, "request": {}, "expect": {}}))
    case, problems = run.load_case(path, "x/y", VALIDATOR)
    assert case is None and problems and "case.schema.json" in problems[0]
    path.write_text(
        json.dumps(
            {
                "name": "x/z",
                "description": "d",
                "provider": None,
                "request": {},
                "expect": {"error": {"kind": "timeout"}},
            }
        )
    )
    case, problems = run.load_case(path, "x/y", VALIDATOR)
    assert problems == ["the case's name is 'x/z' but its file makes it 'x/y'"]


@pytest.mark.parametrize(
    ("env", "request_", "problem"),
    [
        (
            {"OPENAI_API_KEY": "sk-test-a", "OPENAI_BASE_URL": "https://api.openai.com/v1"},
            {},
            "OPENAI_BASE_URL must start with",
        ),
        ({"OPENAI_API_KEY": "sk-test-a"}, {}, "must set OPENAI_BASE_URL"),
        ({"CO_API_KEY": "sk-test-a", "COHERE_BASE_URL": "{{base_url}}"}, {}, None),
        ({}, {"api_key": "sk-test-a"}, "must also set request.base_url"),
        ({}, {"api_key": "sk-test-a", "base_url": "http://example.com"}, "request.base_url must start with"),
        ({"ANTHROPIC_API_KEY": "sk-test-a"}, {"api_base": "http://127.0.0.1:9"}, None),
    ],
)
def test_cases_cannot_reach_real_providers(env, request_, problem):
    problems = run.unsafe_base_urls({"env": env, "request": request_})
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(
    ("config", "valid"),
    [
        ({"providers": {"openai": {"tpm": 1000, "on_limit": "fail"}}, "defaults": {"max_retries": 0}}, True),
        ({"providers": {"openai": {"base_url": "https://api.openai.com/v1"}}}, False),
        ({"providers": {"cohere": {"api_key": "sk-test-a"}}}, False),
        ([], False),
    ],
)
def test_a_case_configuration_cannot_name_keys_or_base_urls(config, valid):
    """Keys and base URLs come from `env` and `request`, where unsafe_base_urls sees them."""
    case = {
        "name": "x/y",
        "description": "d",
        "provider": None,
        "config": config,
        "request": {},
        "expect": {"error": {"kind": "timeout"}},
    }
    assert VALIDATOR.is_valid(case) == valid


def test_only_a_stream_that_is_read_to_its_end_may_be_called_more_than_once():
    case = {
        "name": "x/y",
        "description": "d",
        "provider": None,
        "request": {},
        "stream": {},
        "calls": 2,
        "expect": {"chunks": [], "error": {"kind": "timeout"}},
    }
    assert VALIDATOR.is_valid(case)
    case.update(stream={"cancel_after_chunks": 1}, expect={"chunks": [], "cancelled": True})
    assert not VALIDATOR.is_valid(case)
