"""Unit tests of the Python runner's pieces that need no binding: the matcher, canonical JSON and
the runner's helpers. Run: python -m pytest conformance/harness"""

from __future__ import annotations

import pytest

import run
from canonical import canonical_json
from matcher import CaseError, error_mismatches, mismatches


class TestMatcher:
    def test_objects_are_subsets(self):
        assert mismatches({"a": 1}, {"a": 1, "b": 2}) == []
        assert mismatches({"a": {"b": "x"}}, {"a": {"b": "x", "c": None}}) == []
        assert mismatches({"a": 1, "z": 2}, {"a": 1}) == ["$.z: missing, expected 2"]
        assert mismatches({"a": 1}, [1]) == ["$: expected an object, got [1]"]

    def test_arrays_need_equal_length_and_match_element_wise(self):
        assert mismatches([{"a": 1}, 2], [{"a": 1, "b": 0}, 2]) == []
        assert mismatches([1], [1, 2]) == ["$: expected an array of 1 items, got 2: [1, 2]"]
        assert mismatches([1, 2], [1, 3]) == ["$[1]: expected 2, got 3"]

    def test_scalars(self):
        assert mismatches(1, 1.0) == []
        assert mismatches(0.5, 0.5) == []
        assert mismatches(10**20, 10**20) == []
        assert mismatches("a", "a") == []
        assert mismatches(None, None) == []
        assert mismatches(True, 1) == ["$: expected true, got 1"]
        assert mismatches(1, True) == ["$: expected 1, got true"]
        assert mismatches(0, False) != []
        assert mismatches(None, "null") != []
        assert mismatches("1", 1) != []

    def test_absent(self):
        assert mismatches({"x": {"$absent": True}}, {"y": 1}) == []
        assert mismatches({"x": {"$absent": True}}, {"x": None}) == ["$.x: expected no such member, got null"]
        with pytest.raises(CaseError):
            mismatches({"$absent": True}, 1)
        with pytest.raises(CaseError):
            mismatches([{"$absent": True}], [1])

    @pytest.mark.parametrize(
        ("type_name", "good", "bad"),
        [
            ("string", "s", 1),
            ("integer", 3, 3.5),
            ("integer", 3.0, True),
            ("number", 3.5, "3.5"),
            ("number", 0, False),
            ("object", {}, []),
            ("array", [], {}),
            ("null", None, 0),
            ("boolean", False, 0),
        ],
    )
    def test_type(self, type_name, good, bad):
        assert mismatches({"$type": type_name}, good) == []
        assert mismatches({"$type": type_name}, bad) != []

    def test_contains(self):
        assert mismatches({"$contains": "KEY"}, "set OPENAI_API_KEY") == []
        assert mismatches({"$contains": "KEY"}, "nothing") != []
        assert mismatches({"$contains": "1"}, 1) != []

    def test_json(self):
        expected = {"arguments": {"$json": {"city": "Paris"}}}
        assert mismatches(expected, {"arguments": '{"city": "Paris", "unit": "c"}'}) == []
        assert mismatches(expected, {"arguments": '{"city": "Rome"}'}) == [
            '$.arguments<json>.city: expected "Paris", got "Rome"'
        ]
        assert mismatches(expected, {"arguments": "{not json"})[0].startswith("$.arguments: expected JSON text")
        assert mismatches(expected, {"arguments": {"city": "Paris"}})[0].startswith("$.arguments: expected a string")

    def test_operators_nest(self):
        expected = {
            "choices": [
                {
                    "message": {
                        "tool_calls": [
                            {
                                "id": {"$type": "string"},
                                "function": {"arguments": {"$json": {"n": {"$type": "integer"}}}},
                            }
                        ]
                    }
                }
            ]
        }
        actual = {"choices": [{"message": {"tool_calls": [{"id": "call_1", "function": {"arguments": '{"n": 2}'}}]}}]}
        assert mismatches(expected, actual) == []

    def test_unknown_operators_are_case_errors(self):
        with pytest.raises(CaseError):
            mismatches({"$tpye": "string"}, "x")
        with pytest.raises(CaseError):
            mismatches({"$type": "str"}, "x")

    def test_keys_that_are_not_identifiers_are_quoted_in_paths(self):
        assert mismatches({"content-type": "a"}, {"content-type": "b"}) == ['$["content-type"]: expected "a", got "b"']

    def test_error_matcher(self):
        error = {"kind": "authentication", "message": "OPENAI_API_KEY is not set; pass api_key", "status": None}
        assert (
            error_mismatches({"kind": "authentication", "status": None, "message_contains": ["OPENAI_API_KEY"]}, error)
            == []
        )
        assert error_mismatches({"kind": "authentication", "message_excludes": ["sk-test-"]}, error) == []
        assert error_mismatches({"kind": "timeout"}, error) == ['$error.kind: expected "timeout", got "authentication"']
        assert (
            len(
                error_mismatches(
                    {"kind": "authentication", "message_contains": ["x"], "message_excludes": ["pass"]}, error
                )
            )
            == 2
        )


class TestCanonicalJson:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (20.0, "20"),
            (20, "20"),
            (-0.0, "0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (1e-7, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (123456789.125, "123456789.125"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (1e20, "100000000000000000000"),
            (2**53, "9007199254740992"),
            (-2.5, "-2.5"),
        ],
    )
    def test_numbers_follow_ecmascript(self, value, text):
        assert canonical_json(value) == text

    def test_structure(self):
        value = {"b": [1, 2.0, None, True], "a": {"é": "ü\n\u2028", "": False}, "\ue000": 1, "\U0001f600": 2}
        # Keys in UTF-16 order: the surrogate pair of U+1F600 (D83D) sorts before U+E000.
        assert (
            canonical_json(value) == '{"a":{"":false,"é":"ü\\n\u2028"},"b":[1,2,null,true],"\U0001f600":2,"\ue000":1}'
        )

    def test_rejects_non_finite(self):
        with pytest.raises(ValueError):
            canonical_json(float("nan"))


class TestRunnerHelpers:
    def test_substitute_replaces_base_url_in_nested_strings_only(self):
        request = {"base_url": "{{base_url}}/v1", "messages": [{"content": "at {{base_url}}"}], "n": 1}
        assert run.substitute(request, "http://127.0.0.1:1/s/x") == {
            "base_url": "http://127.0.0.1:1/s/x/v1",
            "messages": [{"content": "at http://127.0.0.1:1/s/x"}],
            "n": 1,
        }

    def test_normalised_result(self):
        result = {"response": {"created": 1741570283, "id": "x", "note": "http://127.0.0.1:4321/s/abc"}}
        replacements = {"abc": "{{session}}", "127.0.0.1:4321": "{{mock_host}}"}
        assert run.normalised_result(result, replacements) == {
            "response": {"created": 0, "id": "x", "note": "http://{{mock_host}}/s/{{session}}"}
        }

    def test_error_shape(self):
        good = {
            "kind": "timeout",
            "message": "m",
            "status": None,
            "provider": "openai",
            "retry_after": None,
            "provider_error": None,
            "attempts": 0,
        }
        assert run.error_shape_problems(good) == []
        assert run.error_shape_problems({**good, "attempts": -1}) != []
        assert run.error_shape_problems({**good, "kind": "slow"}) != []
        assert run.error_shape_problems({**good, "status": "500"}) != []
        assert run.error_shape_problems({"kind": "timeout", "message": "m"}) == [
            "$error.status: missing (docs/errors.md lists it)",
            "$error.provider: missing (docs/errors.md lists it)",
            "$error.retry_after: missing (docs/errors.md lists it)",
            "$error.provider_error: missing (docs/errors.md lists it)",
            "$error.attempts: missing (docs/errors.md lists it)",
        ]

    def test_gaps_between_requests(self):
        recorded = [
            {"method": "POST", "path": "/p", "received_at_ms": t, "headers": {}, "json": {}}
            for t in (0.0, 310.0, 320.0)
        ]
        assert (
            run.request_problems(
                {"request_count": 3, "gaps_ms": [{"min": 300, "max": 400}, {"min": 0, "max": 50}]}, recorded
            )
            == []
        )
        problems = run.request_problems(
            {"request_count": 3, "gaps_ms": [{"min": 0, "max": 100}, {"min": 0, "max": 50}]}, recorded
        )
        assert problems == ["$gaps_ms[0]: 310.0 ms is outside [0, 100]"]
        problems = run.request_problems({"request_count": 3, "gaps_ms": [{"min": 0, "max": 400}]}, recorded)
        assert problems == ["$gaps_ms: 1 bounds for 2 gaps between 3 requests"]

    def test_request_problems(self):
        recorded = [
            {
                "method": "POST",
                "path": "/v1/messages",
                "query": None,
                "headers": {"x-api-key": "k"},
                "body": "{}",
                "json": {"a": 1},
            }
        ]
        assert (
            run.request_problems(
                {"requests": [{"method": "POST", "headers": {"authorization": {"$absent": True}}, "body": {"a": 1}}]},
                recorded,
            )
            == []
        )
        assert run.request_problems({}, recorded) == ["expected 0 upstream request(s), got 1 (POST /v1/messages)"]
        assert run.request_problems({"request_count": 1}, recorded) == []
        assert run.request_problems({"requests": [{"body": {"a": 2}}]}, recorded) == [
            "$requests[0].body.a: expected 2, got 1"
        ]

    def test_a_case_configuration_is_applied_then_reset(self):
        class FakeDriver:
            def __init__(self):
                self.log = []

            def request(self, message, on_started=None):
                self.log.append((message["op"], message.get("config", message.get("provider"))))
                if message["op"] == "configure":
                    if "tmp" in message["config"].get("providers", {}).get("openai", {}):
                        return {"error": {"kind": "invalid_request", "message": "unknown field `tmp`"}}
                    return {}
                if len(self.log) == 3:
                    return {"problem": "invoke raised RuntimeError instead of liter_llm.LiterLLMError: broke"}
                return {"response": {"choices": []}, "native": ["exception.kind differs"]}

        driver = FakeDriver()
        case = {"provider": "openai", "calls": 3, "config": {"providers": {"openai": {"tpm": 10}}}}
        calls = run.driver_calls(driver, case, {}, lambda: None)
        assert [call.result for call in calls] == [{"response": {"choices": []}}, None, {"response": {"choices": []}}]
        assert calls[0].native == ("exception.kind differs",)
        assert calls[1].problem == "invoke raised RuntimeError instead of liter_llm.LiterLLMError: broke"
        assert driver.log == [
            ("configure", case["config"]),
            ("invoke", "openai"),
            ("invoke", "openai"),
            ("invoke", "openai"),
            ("configure", {}),
        ]

        driver = FakeDriver()
        refused = {"provider": "openai", "config": {"providers": {"openai": {"tmp": 10}}}}
        calls = run.driver_calls(driver, refused, {}, lambda: None)
        assert calls == [
            run.Call(
                None,
                problem="configure refused the case's config: "
                '{"kind":"invalid_request","message":"unknown field `tmp`"}',
            )
        ]
        assert driver.log == [("configure", refused["config"])]

        driver = FakeDriver()
        assert len(run.driver_calls(driver, {"provider": None}, {}, lambda: None)) == 1
        assert driver.log == [("invoke", None)]

    def test_replies_become_calls(self):
        assert run.call_from_reply({"assembler_error": {"kind": "bad_response"}}) == run.Call(
            None, problem='the assembler refused the chunks: {"kind":"bad_response"}'
        )
        stream = {"chunks": [], "cancelled": True}
        assert run.call_from_reply({"stream": stream, "native": None}) == run.Call({"stream": stream})
        assert run.call_from_reply({}).problem == "the driver's reply has no result: {}"
