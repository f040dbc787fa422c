package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSubstituteReplacesBaseURLInNestedStringsOnly(t *testing.T) {
	request := j(t, `{"base_url": "{{base_url}}/v1", "messages": [{"content": "at {{base_url}}"}], "n": 1, "{{base_url}}": 2}`)
	want := j(t, `{"base_url": "http://127.0.0.1:1/s/x/v1", "messages": [{"content": "at http://127.0.0.1:1/s/x"}], "n": 1, "{{base_url}}": 2}`)
	if got := substitute(request, "http://127.0.0.1:1/s/x"); !reflect.DeepEqual(got, want) {
		t.Errorf("got %s", canonicalOrEmpty(got))
	}
}

func TestNormalise(t *testing.T) {
	result := j(t, `{"response": {"created": 1741570283, "id": "x", "note": "http://127.0.0.1:4321/s/abc"}}`).(map[string]any)
	got := canonicalOrEmpty(normalise(result, "abc", "127.0.0.1:4321"))
	if want := `{"response":{"created":0,"id":"x","note":"http://{{mock_host}}/s/{{session}}"}}`; got != want {
		t.Errorf("got %s", got)
	}
}

func TestErrorShape(t *testing.T) {
	good := `{"kind": "timeout", "message": "m", "status": null, "provider": "openai", "retry_after": null, "provider_error": null, "attempts": 1}`
	if problems := errorShapeProblems(j(t, good)); len(problems) != 0 {
		t.Errorf("good shape: %q", problems)
	}
	for _, bad := range []string{
		strings.Replace(good, `"timeout"`, `"slow"`, 1),
		strings.Replace(good, `"status": null`, `"status": "500"`, 1),
		strings.Replace(good, `"status": null`, `"status": 500.5`, 1),
		strings.Replace(good, `"message": "m"`, `"message": ""`, 1),
		strings.Replace(good, `"attempts": 1`, `"attempts": -1`, 1),
		strings.Replace(good, `"attempts": 1`, `"attempts": 1.0`, 1),
		strings.Replace(good, `"attempts": 1`, `"attempts": null`, 1),
		strings.Replace(good, `"attempts": 1`, `"attempts": true`, 1),
	} {
		if problems := errorShapeProblems(j(t, bad)); len(problems) == 0 {
			t.Errorf("%s passed", bad)
		}
	}
	want := []string{
		"$error.status: missing (docs/errors.md lists it)",
		"$error.provider: missing (docs/errors.md lists it)",
		"$error.retry_after: missing (docs/errors.md lists it)",
		"$error.provider_error: missing (docs/errors.md lists it)",
		"$error.attempts: missing (docs/errors.md lists it)",
	}
	if got := errorShapeProblems(j(t, `{"kind": "timeout", "message": "m"}`)); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestRequestProblems(t *testing.T) {
	recorded := []map[string]any{j(t, `{"method": "POST", "path": "/v1/messages", "query": null, "headers": {"x-api-key": "k"}, "json": {"a": 1}}`).(map[string]any)}
	check := func(expect string, want ...string) {
		t.Helper()
		got, err := requestProblems(j(t, expect).(map[string]any), recorded)
		if err != nil || (len(got) != 0 || len(want) != 0) && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %q (%v), want %q", expect, got, err, want)
		}
	}
	check(`{"requests": [{"method": "POST", "headers": {"authorization": {"$absent": true}}, "body": {"a": 1}}]}`)
	check(`{}`, "expected 0 upstream request(s), got 1 (POST /v1/messages)")
	check(`{"request_count": 1}`)
	check(`{"requests": [{"body": {"a": 2}}]}`, "$requests[0].body.a: expected 2, got 1")
}

func TestGaps(t *testing.T) {
	journal := func(times ...string) []map[string]any {
		recorded := make([]map[string]any, len(times))
		for i, at := range times {
			recorded[i] = j(t, `{"method": "POST", "path": "/v1/chat/completions", "received_at_ms": `+at+`}`).(map[string]any)
		}
		return recorded
	}
	check := func(recorded []map[string]any, expect string, want ...string) {
		t.Helper()
		got, err := requestProblems(j(t, expect).(map[string]any), recorded)
		if err != nil || (len(got) != 0 || len(want) != 0) && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %q (%v), want %q", expect, got, err, want)
		}
	}
	three := journal("1000.0", "1310.0", "1410.5")
	check(three, `{"request_count": 3, "gaps_ms": [{"min": 300, "max": 3000}, {"min": 0, "max": 100.5}]}`)
	check(three, `{"request_count": 3, "gaps_ms": [{"min": 310, "max": 310}, {"min": 100.5, "max": 100.5}]}`) // inclusive
	check(three, `{"request_count": 3, "gaps_ms": [{"min": 0, "max": 100}, {"min": 0, "max": 100}]}`,
		"$gaps_ms[0]: 310.0 ms is outside [0, 100]",
		"$gaps_ms[1]: 100.5 ms is outside [0, 100]")
	check(three, `{"request_count": 3, "gaps_ms": [{"min": 310.5, "max": 1e3}, {"min": 0.0, "max": 1e16}]}`,
		"$gaps_ms[0]: 310.0 ms is outside [310.5, 1000.0]")
	check(three, `{"request_count": 3, "gaps_ms": [{"min": 0, "max": 0.00001}, {"min": 0, "max": 100.5}]}`,
		"$gaps_ms[0]: 310.0 ms is outside [0, 1e-05]")
	// One bound per gap: too few or too many is a failure; the gaps that have bounds are still checked.
	check(three, `{"request_count": 3, "gaps_ms": [{"min": 0, "max": 100}]}`,
		"$gaps_ms: 1 bounds for 2 gaps between 3 requests",
		"$gaps_ms[0]: 310.0 ms is outside [0, 100]")
	check(journal("5.25", "5.3"), `{"request_count": 2, "gaps_ms": [{"min": 0, "max": 1}, {"min": 0, "max": 1}]}`,
		"$gaps_ms: 2 bounds for 1 gaps between 2 requests")
	check(journal("5.0"), `{"request_count": 1, "gaps_ms": []}`)
	check(journal(), `{"gaps_ms": []}`)
	check(journal(), `{"gaps_ms": [{"min": 0, "max": 1}]}`, "$gaps_ms: 1 bounds for 0 gaps between 0 requests")
	check(journal("5.0"), `{"request_count": 1, "gaps_ms": [{"min": 0, "max": 1}]}`, "$gaps_ms: 1 bounds for 0 gaps between 1 requests")
	check(three, `{"request_count": 3}`) // no gaps_ms: spacing is not checked
}

func TestPythonNumber(t *testing.T) {
	for text, want := range map[string]string{
		"0": "0", "100": "100", "-0": "0", "12345678901234567890": "12345678901234567890",
		"0.0": "0.0", "-0.0": "-0.0", "100.0": "100.0", "1e2": "100.0", "0.10": "0.1", "2.5": "2.5",
		"0.0001": "0.0001", "0.00001": "1e-05", "1e15": "1000000000000000.0", "1e16": "1e+16", "1.5e16": "1.5e+16",
		"123456789.125": "123456789.125",
	} {
		if got := pythonNumber(json.Number(text)); got != want {
			t.Errorf("pythonNumber(%s) = %s, want %s", text, got, want)
		}
	}
}

func TestUnsafeBaseURLs(t *testing.T) {
	for text, wantProblems := range map[string]int{
		`{"env": {"OPENAI_API_KEY": "sk-test-a", "OPENAI_BASE_URL": "{{base_url}}/v1"}, "request": {}}`:         0,
		`{"env": {"OPENAI_API_KEY": "sk-test-a"}, "request": {}}`:                                               1,
		`{"env": {"CO_API_KEY": "sk-test-a", "COHERE_BASE_URL": "http://127.0.0.1:9"}, "request": {}}`:          0,
		`{"env": {"ANTHROPIC_BASE_URL": "https://api.anthropic.com"}, "request": {}}`:                           1,
		`{"request": {"api_key": "sk-test-a"}}`:                                                                 1,
		`{"request": {"api_key": "sk-test-a", "base_url": "{{base_url}}"}}`:                                     0,
		`{"env": {"OPENAI_API_KEY": "sk-test-a"}, "request": {"api_base": "http://localhost:1"}}`:               1,
		`{"env": {"OPENAI_API_KEY": "sk-test-a"}, "request": {"base_url": "http://127.0.0.1:9", "model": "x"}}`: 0,
	} {
		if got := unsafeBaseURLs(j(t, text).(map[string]any)); len(got) != wantProblems {
			t.Errorf("%s: %q", text, got)
		}
	}
}

func writeCase(t *testing.T, dir, name, text string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name)+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The whole runner over a few cases of its own, some of which must fail: a runner that cannot
// fail proves nothing.
func TestRunnerReportsPassesAndFailures(t *testing.T) {
	dir := t.TempDir()
	writeCase(t, dir, "mock/passes", `{"name": "mock/passes", "description": "d", "provider": "mock",
		"request": {"model": "m", "prompt": "Hi", "mock_response": "yes"}, "calls": 2,
		"expect": {"response": {"choices": [{"message": {"content": "yes"}}]}}}`)
	writeCase(t, dir, "mock/wrong_content", `{"name": "mock/wrong_content", "description": "d", "provider": "mock",
		"request": {"model": "m", "prompt": "Hi", "mock_response": "yes"},
		"expect": {"response": {"choices": [{"message": {"content": "no"}}]}}}`)
	writeCase(t, dir, "mock/breaks_the_schema", `{"name": "mock/breaks_the_schema", "provider": "mock", "request": {}}`)
	writeCase(t, dir, "mock/unsafe", `{"name": "mock/unsafe", "description": "d", "provider": "openai",
		"request": {"model": "m", "prompt": "Hi", "api_key": "sk-test-x"}, "expect": {"error": {"kind": "authentication"}}}`)
	writeCase(t, dir, "openai/timeout", `{"name": "openai/timeout", "description": "d", "provider": "openai",
		"env": {"OPENAI_API_KEY": "sk-test-go-runner", "OPENAI_BASE_URL": "{{base_url}}/v1"},
		"request": {"model": "gpt-4o-mini", "prompt": "Hi", "timeout": 0.2, "max_retries": 0},
		"upstream": {"responses": [{"delay_ms": 2000, "json": {}}]},
		"expect": {"requests": [{"method": "POST", "path": "/v1/chat/completions", "body": {"model": "gpt-4o-mini"}}],
			"error": {"kind": "timeout", "status": null, "message_excludes": ["sk-test-go-runner"]}}}`)
	results := filepath.Join(dir, "out", "results.jsonl")

	var stdout, stderr bytes.Buffer
	status := run([]string{"--cases", dir, "--results", results}, &stdout, &stderr)
	output := stdout.String()
	if status != 1 {
		t.Errorf("exit status %d, want 1\n%s%s", status, output, stderr.String())
	}
	for _, line := range []string{
		"FAIL mock/breaks_the_schema: case file breaks case.schema.json at ",
		"PASS mock/passes\n",
		"FAIL mock/unsafe: a case with request.api_key must also set request.base_url",
		`FAIL mock/wrong_content: $response.choices[0].message.content: expected "no", got "yes"`,
		"PASS openai/timeout\n",
		"\n2 passed, 3 failed\n",
	} {
		if !strings.Contains(output, line) {
			t.Errorf("the output lacks %q:\n%s", line, output)
		}
	}
	data, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d result lines:\n%s", len(lines), data)
	}
	if want := `{"case":"mock/breaks_the_schema","ok":false,"result":null}`; lines[0] != want {
		t.Errorf("line 1 is %s, want %s", lines[0], want)
	}
	if !strings.HasPrefix(lines[1], `{"case":"mock/passes","ok":true,"result":{"response":{"choices":[{"finish_reason":"stop",`) ||
		!strings.Contains(lines[1], `"created":0,`) {
		t.Errorf("line 2 is %s", lines[1])
	}
	if want := `"message":"openai: no complete response from http://{{mock_host}}/s/{{session}}/v1/chat/completions within the call's timeout of 0.2s`; !strings.Contains(lines[4], want) {
		t.Errorf("line 5 is not normalised: %s", lines[4])
	}
	for _, line := range lines {
		value, err := decodeJSON([]byte(line))
		if canonical := canonicalOrEmpty(value); err != nil || canonical != line {
			t.Errorf("not canonical JSON: %s", line)
		}
	}

	stdout.Reset()
	if status := run([]string{"--cases", dir, "-k", "no-such-case"}, &stdout, &stderr); status != 1 {
		t.Errorf("-k matching nothing: exit status %d, want 1", status)
	}
	if status := run([]string{"--no-such-flag"}, &stdout, &stderr); status != 2 {
		t.Errorf("an unknown flag: exit status %d, want 2", status)
	}
}
