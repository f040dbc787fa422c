"""Tests of the explicit adjustments upstream_specs.py makes to the official documents, and of
the validation itself on known-good and known-bad bodies."""

from __future__ import annotations

import yaml

from upstream_specs import OPERATIONS, UpstreamSpecs, _adjust_openapi_keywords, _Yaml12Loader

SPECS = UpstreamSpecs()
OPENAI, ANTHROPIC, COHERE, OPENAI_EMBEDDINGS, COHERE_EMBED, GEMINI_GENERATE, *_ = OPERATIONS


def test_yaml_12_scalars():
    loaded = yaml.load("a: OFF\nb: yes\nc: true\nd: 2024-01-01\ne: 1.5\nf: null\ng: False\n", Loader=_Yaml12Loader)
    assert loaded == {"a": "OFF", "b": "yes", "c": True, "d": "2024-01-01", "e": 1.5, "f": None, "g": False}


def test_nullable_becomes_any_of_null():
    assert _adjust_openapi_keywords({"type": "string", "nullable": True}) == {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }
    assert _adjust_openapi_keywords({"type": "string", "nullable": False}) == {"type": "string"}


def test_boolean_exclusive_bounds_become_numeric():
    assert _adjust_openapi_keywords({"minimum": 0, "exclusiveMinimum": True}) == {"exclusiveMinimum": 0}
    assert _adjust_openapi_keywords({"maximum": 2, "exclusiveMaximum": False}) == {"maximum": 2}
    assert _adjust_openapi_keywords({"exclusiveMinimum": 0}) == {"exclusiveMinimum": 0}


def test_discriminator_selects_the_branch():
    schema = {
        "oneOf": [{"$ref": "#/a"}, {"$ref": "#/b"}],
        "discriminator": {"propertyName": "type", "mapping": {"x": "#/a", "y": "#/b"}},
    }
    adjusted = _adjust_openapi_keywords(schema)
    assert adjusted["allOf"][1] == {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": ["x", "y"]}},
    }
    assert adjusted["allOf"][2] == {"if": {"properties": {"type": {"const": "x"}}}, "then": {"$ref": "#/a"}}
    # A mapping that misses a branch is left alone rather than silently dropping that branch.
    partial = {
        "oneOf": [{"$ref": "#/a"}, {"$ref": "#/b"}],
        "discriminator": {"propertyName": "type", "mapping": {"x": "#/a"}},
    }
    assert _adjust_openapi_keywords(partial) == partial


def test_operation_lookup():
    assert SPECS.operation_for("POST", "/v1/chat/completions") == OPENAI
    assert SPECS.operation_for("post", "/v1/messages") == ANTHROPIC
    assert SPECS.operation_for("POST", "/v2/chat") == COHERE
    assert SPECS.operation_for("GET", "/v2/chat") is None
    assert SPECS.operation_for("POST", "/v1/embeddings") == OPENAI_EMBEDDINGS
    assert SPECS.operation_for("POST", "/openai/deployments/d/chat/completions") == OPENAI
    assert SPECS.operation_for("POST", "/v1/models") is None


def test_request_validation():
    hello = [{"role": "user", "content": "Hi"}]
    assert SPECS.request_errors(OPENAI, {"model": "gpt-4o-mini", "messages": hello}) == []
    assert SPECS.request_errors(OPENAI, {"model": "gpt-4o-mini"}) == ["/: 'messages' is a required property"]
    assert SPECS.request_errors(ANTHROPIC, {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": hello}) == []
    assert SPECS.request_errors(ANTHROPIC, {"model": "claude-sonnet-4-5", "messages": hello}) == [
        "/: 'max_tokens' is a required property"
    ]
    assert SPECS.request_errors(
        ANTHROPIC, {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": hello, "seed": 1}
    ) == ["/: Additional properties are not allowed ('seed' was unexpected)"]
    assert SPECS.request_errors(COHERE, {"model": "command-a-03-2025", "messages": hello, "safety_mode": "OFF"}) == []
    assert (
        SPECS.request_errors(
            COHERE, {"model": "command-a-03-2025", "messages": hello, "response_format": {"type": "json_object"}}
        )
        == []
    )
    assert (
        SPECS.request_errors(
            COHERE, {"model": "command-a-03-2025", "messages": hello, "response_format": {"type": "xml"}}
        )
        != []
    )
    assert (
        SPECS.request_errors(
            COHERE, {"model": "command-a-03-2025", "messages": [{"role": "assistant", "content": None}]}
        )
        != []
    )


def test_gemini_is_validated_against_its_discovery_document():
    assert SPECS.operation_for("POST", "/v1beta/models/gemini-2.5-flash:generateContent") == GEMINI_GENERATE
    good = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], "generationConfig": {"maxOutputTokens": 5}}
    assert SPECS.request_errors(GEMINI_GENERATE, good) == []
    # Unknown members and wrong types are what the API rejects.
    assert SPECS.request_errors(GEMINI_GENERATE, {"contents": [{"role": "user", "parts": [{"txt": "Hi"}]}]})
    assert SPECS.request_errors(GEMINI_GENERATE, {"contents": [], "generationConfig": {"maxOutputTokens": "x"}})
    assert SPECS.response_errors(GEMINI_GENERATE, {"candidates": [{"finishReason": "STOP"}]}) == []
    assert SPECS.response_errors(GEMINI_GENERATE, {"candidates": [{"finishReason": "DONE"}]})


def test_bedrock_is_validated_against_the_aws_api_model():
    converse = SPECS.operation_for("POST", "/s/x/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse")
    assert converse is not None and converse.provider == "bedrock"
    assert SPECS.operation_for("POST", "/model/amazon.titan-embed-text-v2%3A0/invoke") is None
    good = {
        "messages": [
            {"role": "user", "content": [{"text": "Hi"}, {"image": {"format": "png", "source": {"bytes": "iVBO"}}}]}
        ],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 5, "topP": 0.5},
        "toolConfig": {
            "tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}],
            "toolChoice": {"any": {}},
        },
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
    }
    assert SPECS.request_errors(converse, good) == []
    # The model id is in the URI, not the body; unions take one member; enums and types hold.
    assert SPECS.request_errors(converse, {**good, "modelId": "m"}) == ["/: unknown member 'modelId'"]
    bad = {
        "messages": [{"role": "bot", "content": [{"text": "Hi", "image": {}}]}],
        "inferenceConfig": {"maxTokens": "5"},
    }
    errors = SPECS.request_errors(converse, bad)
    assert "/messages/0/role: 'bot' is not one of ['user', 'assistant', 'system']" in errors
    assert any("a union needs exactly one member" in e for e in errors)
    assert "/inferenceConfig/maxTokens: expected an integer" in errors
    assert "/messages/0/content/0/image: missing required member 'format'" in errors
    answer = {
        "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        "metrics": {"latencyMs": 1},
    }
    assert SPECS.response_errors(converse, answer) == []
    assert SPECS.response_errors(converse, {**answer, "stopReason": "done"})
