package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The same cases as runners/python/test_matcher.py.

// j is a JSON value from its text.
func j(t *testing.T, text string) any {
	t.Helper()
	value, err := decodeJSON([]byte(text))
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return value
}

func match(t *testing.T, expected, actual string) []string {
	t.Helper()
	found, err := mismatches(j(t, expected), j(t, actual), "$")
	if err != nil {
		t.Fatalf("match(%s, %s): %v", expected, actual, err)
	}
	return found
}

func expectMismatches(t *testing.T, expected, actual string, want ...string) {
	t.Helper()
	if got := match(t, expected, actual); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("match(%s, %s) = %q, want %q", expected, actual, got, want)
	}
}

func expectSomeMismatch(t *testing.T, expected, actual string) {
	t.Helper()
	if got := match(t, expected, actual); len(got) == 0 {
		t.Errorf("match(%s, %s) found nothing", expected, actual)
	}
}

func expectCaseError(t *testing.T, expected, actual string) {
	t.Helper()
	_, err := mismatches(j(t, expected), j(t, actual), "$")
	var malformed *caseError
	if !errors.As(err, &malformed) {
		t.Errorf("match(%s, %s): err = %v, want a case error", expected, actual, err)
	}
}

func TestObjectsAreSubsets(t *testing.T) {
	expectMismatches(t, `{"a": 1}`, `{"a": 1, "b": 2}`)
	expectMismatches(t, `{"a": {"b": "x"}}`, `{"a": {"b": "x", "c": null}}`)
	expectMismatches(t, `{"a": 1, "z": 2}`, `{"a": 1}`, "$.z: missing, expected 2")
	expectMismatches(t, `{"a": 1}`, `[1]`, "$: expected an object, got [1]")
}

func TestArraysNeedEqualLengthAndMatchElementWise(t *testing.T) {
	expectMismatches(t, `[{"a": 1}, 2]`, `[{"a": 1, "b": 0}, 2]`)
	expectMismatches(t, `[1]`, `[1, 2]`, "$: expected an array of 1 items, got 2: [1, 2]")
	expectMismatches(t, `[1, 2]`, `[1, 3]`, "$[1]: expected 2, got 3")
}

func TestScalars(t *testing.T) {
	expectMismatches(t, `1`, `1.0`)
	expectMismatches(t, `0.5`, `0.5`)
	expectMismatches(t, `100000000000000000000`, `100000000000000000000`)
	expectSomeMismatch(t, `100000000000000000001`, `100000000000000000000`)
	expectMismatches(t, `"a"`, `"a"`)
	expectMismatches(t, `null`, `null`)
	expectMismatches(t, `true`, `1`, "$: expected true, got 1")
	expectMismatches(t, `1`, `true`, "$: expected 1, got true")
	expectSomeMismatch(t, `0`, `false`)
	expectSomeMismatch(t, `null`, `"null"`)
	expectSomeMismatch(t, `"1"`, `1`)
}

func TestAbsent(t *testing.T) {
	expectMismatches(t, `{"x": {"$absent": true}}`, `{"y": 1}`)
	expectMismatches(t, `{"x": {"$absent": true}}`, `{"x": null}`, "$.x: expected no such member, got null")
	expectCaseError(t, `{"$absent": true}`, `1`)
	expectCaseError(t, `[{"$absent": true}]`, `[1]`)
}

func TestType(t *testing.T) {
	for _, c := range []struct{ name, good, bad string }{
		{"string", `"s"`, `1`},
		{"integer", `3`, `3.5`},
		{"integer", `3.0`, `true`},
		{"number", `3.5`, `"3.5"`},
		{"number", `0`, `false`},
		{"object", `{}`, `[]`},
		{"array", `[]`, `{}`},
		{"null", `null`, `0`},
		{"boolean", `false`, `0`},
	} {
		expected := `{"$type": "` + c.name + `"}`
		expectMismatches(t, expected, c.good)
		expectSomeMismatch(t, expected, c.bad)
	}
}

func TestContains(t *testing.T) {
	expectMismatches(t, `{"$contains": "KEY"}`, `"set OPENAI_API_KEY"`)
	expectSomeMismatch(t, `{"$contains": "KEY"}`, `"nothing"`)
	expectSomeMismatch(t, `{"$contains": "1"}`, `1`)
}

func TestJSONOperator(t *testing.T) {
	expected := `{"arguments": {"$json": {"city": "Paris"}}}`
	expectMismatches(t, expected, `{"arguments": "{\"city\": \"Paris\", \"unit\": \"c\"}"}`)
	expectMismatches(t, expected, `{"arguments": "{\"city\": \"Rome\"}"}`, `$.arguments<json>.city: expected "Paris", got "Rome"`)
	if got := match(t, expected, `{"arguments": "{not json"}`); len(got) != 1 || !strings.HasPrefix(got[0], "$.arguments: expected JSON text") {
		t.Errorf("not JSON: %q", got)
	}
	if got := match(t, expected, `{"arguments": {"city": "Paris"}}`); len(got) != 1 || !strings.HasPrefix(got[0], "$.arguments: expected a string") {
		t.Errorf("not a string: %q", got)
	}
}

func TestOperatorsNest(t *testing.T) {
	expectMismatches(t,
		`{"choices": [{"message": {"tool_calls": [{"id": {"$type": "string"}, "function": {"arguments": {"$json": {"n": {"$type": "integer"}}}}}]}}]}`,
		`{"choices": [{"message": {"tool_calls": [{"id": "call_1", "function": {"arguments": "{\"n\": 2}"}}]}}]}`)
}

func TestUnknownOperatorsAreCaseErrors(t *testing.T) {
	expectCaseError(t, `{"$tpye": "string"}`, `"x"`)
	expectCaseError(t, `{"$type": "str"}`, `"x"`)
}

func TestKeysThatAreNotIdentifiersAreQuotedInPaths(t *testing.T) {
	expectMismatches(t, `{"content-type": "a"}`, `{"content-type": "b"}`, `$["content-type"]: expected "a", got "b"`)
}

func TestErrorMatcher(t *testing.T) {
	actual := j(t, `{"kind": "authentication", "message": "OPENAI_API_KEY is not set; pass api_key", "status": null}`)
	check := func(expected string, want int) {
		t.Helper()
		found, err := errorMismatches(j(t, expected).(map[string]any), actual)
		if err != nil || len(found) != want {
			t.Errorf("errorMismatches(%s) = %q, %v; want %d", expected, found, err, want)
		}
	}
	check(`{"kind": "authentication", "status": null, "message_contains": ["OPENAI_API_KEY"]}`, 0)
	check(`{"kind": "authentication", "message_excludes": ["sk-test-"]}`, 0)
	check(`{"kind": "timeout"}`, 1)
	check(`{"kind": "authentication", "message_contains": ["x"], "message_excludes": ["pass"]}`, 2)
	found, _ := errorMismatches(j(t, `{"kind": "timeout"}`).(map[string]any), actual)
	if want := `$error.kind: expected "timeout", got "authentication"`; len(found) != 1 || found[0] != want {
		t.Errorf("got %q, want %q", found, want)
	}
}
