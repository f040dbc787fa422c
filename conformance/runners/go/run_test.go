package main

import (
	"bytes"
	"encoding/json"
	literllm "github.com/liter-llm/liter-llm/bindings/go"
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

// runExpecting runs the runner over the cases in dir, writing results, and checks its exit
// status and that its output has each of lines.
func runExpecting(t *testing.T, dir, results string, wantStatus int, lines ...string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status := run([]string{"--cases", dir, "--results", results}, &stdout, &stderr)
	output := stdout.String()
	if status != wantStatus {
		t.Errorf("exit status %d, want %d\n%s%s", status, wantStatus, output, stderr.String())
	}
	for _, line := range lines {
		if !strings.Contains(output, line) {
			t.Errorf("the output lacks %q:\n%s", line, output)
		}
	}
}

// A case's configuration applies to its own calls only (the next case finds the built-in one,
// with full budgets), and a configuration the binding refuses fails the case.
func TestCaseConfiguration(t *testing.T) {
	dir := t.TempDir()
	// 3 + 197 = 200 estimated tokens: more than a budget of 100 holds, well within the default.
	const common = `"description": "d", "provider": "openai",
		"env": {"OPENAI_API_KEY": "sk-test-go-config", "OPENAI_BASE_URL": "{{base_url}}/v1"},
		"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello."}], "max_completion_tokens": 197}`
	writeCase(t, dir, "openai/a_budget", `{"name": "openai/a_budget", `+common+`,
		"config": {"providers": {"openai": {"tpm": 100, "on_limit": "fail"}}},
		"expect": {"error": {"kind": "rate_limited", "retry_after": 60}}}`)
	writeCase(t, dir, "openai/b_after_the_budget", `{"name": "openai/b_after_the_budget", `+common+`,
		"upstream": {"responses": [{"json": {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini", "choices": []}}]},
		"expect": {"request_count": 1, "response": {"id": "chatcmpl-1"}}}`)
	writeCase(t, dir, "openai/c_refused", `{"name": "openai/c_refused", `+common+`,
		"config": {"providers": {"openai": {"tmp": 1}}}, "expect": {"error": {"kind": "rate_limited"}}}`)
	results := filepath.Join(dir, "results.jsonl")

	runExpecting(t, dir, results, 1,
		"PASS openai/a_budget\n",
		"PASS openai/b_after_the_budget\n",
		`FAIL openai/c_refused: configure refused the case's config: {"attempts":0,"kind":"invalid_request",`,
		"\n2 passed, 1 failed\n",
	)
	data, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"case":"openai/c_refused","ok":false,"result":null}` + "\n"; !strings.HasSuffix(string(data), want) {
		t.Errorf("the results end with %q, want %q", data, want)
	}
}

func TestNormaliseStreams(t *testing.T) {
	result := j(t, `{"stream": {"chunks": [{"id": "c", "created": 1741570283, "choices": [{"delta": {"content": "abc"}}]},
		{"id": "c", "created": 1741570283}, {"note": "no created"}], "assembled": {"created": 7, "id": "abc"}}}`).(map[string]any)
	got := canonicalOrEmpty(normalise(result, "abc", "127.0.0.1:4321"))
	want := `{"stream":{"assembled":{"created":0,"id":"{{session}}"},` +
		`"chunks":[{"choices":[{"delta":{"content":"{{session}}"}}],"created":0,"id":"c"},{"created":0,"id":"c"},{"note":"no created"}]}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// A stream's error keeps its fields (normalised strings aside); a cancelled stream has no completion.
	failed := j(t, `{"stream": {"chunks": [], "error": {"kind": "timeout", "message": "at 127.0.0.1:4321", "created": 5}}}`).(map[string]any)
	got = canonicalOrEmpty(normalise(failed, "abc", "127.0.0.1:4321"))
	if want := `{"stream":{"chunks":[],"error":{"created":5,"kind":"timeout","message":"at {{mock_host}}"}}}`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	cancelled := j(t, `{"stream": {"chunks": [], "cancelled": true}}`).(map[string]any)
	got = canonicalOrEmpty(normalise(cancelled, "abc", "127.0.0.1:4321"))
	if want := `{"stream":{"cancelled":true,"chunks":[]}}`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestResultError(t *testing.T) {
	for text, want := range map[string]string{
		`{"error": {"kind": "timeout"}}`:                                        `{"kind":"timeout"}`,
		`{"stream": {"chunks": [], "error": {"kind": "timeout"}}}`:              `{"kind":"timeout"}`,
		`{"response": {}}`:                                                      "",
		`{"stream": {"chunks": [], "assembled": {}}}`:                           "",
		`{"stream": {"chunks": [{"error": {"kind": "x"}}], "cancelled": true}}`: "",
	} {
		errorObject, isError := resultError(j(t, text).(map[string]any))
		if got := canonicalOrEmpty(errorObject); isError != (want != "") || isError && got != want {
			t.Errorf("%s: %s %v", text, got, isError)
		}
	}
}

func TestStreamOutcomes(t *testing.T) {
	chunks := `[{"choices": [{"delta": {"content": "Hel"}}]}, {"choices": [{"delta": {"content": "lo"}}]}]`
	shownChunks := `[{"choices": [{"delta": {"content": "Hel"}}]}, {"choices": [{"delta": {"content": "lo"}}]}]` // as Python's json.dumps
	ended := `{"stream": {"chunks": ` + chunks + `, "assembled": {"choices": [{"message": {"content": "Hello"}}]}}}`
	failed := `{"stream": {"chunks": ` + chunks + `, "error": {"kind": "timeout", "message": "slow", "status": null}}}`
	cancelled := `{"stream": {"chunks": ` + chunks + `, "cancelled": true}}`
	check := func(expect, result string, want ...string) {
		t.Helper()
		got, err := outcomeProblems(j(t, expect).(map[string]any), j(t, result).(map[string]any))
		if err != nil || (len(got) != 0 || len(want) != 0) && !reflect.DeepEqual(got, want) {
			t.Errorf("%s\n%s\ngot  %q (%v)\nwant %q", expect, result, got, err, want)
		}
	}
	check(`{"chunks": `+chunks+`, "assembled": {"choices": [{"message": {"content": "Hello"}}]}}`, ended)
	check(`{"chunks": `+chunks+`, "error": {"kind": "timeout"}}`, failed)
	check(`{"chunks": `+chunks+`, "cancelled": true}`, cancelled)
	// The chunks are matched item by item, with equal counts, whatever the end.
	check(`{"chunks": [{}], "cancelled": true}`, cancelled, "$chunks: expected an array of 1 items, got 2: "+shownChunks)
	check(`{"chunks": [{}, {"choices": [{"delta": {"content": "LO"}}]}], "assembled": {}}`, ended,
		`$chunks[1].choices[0].delta.content: expected "LO", got "lo"`)
	check(`{"chunks": `+chunks+`, "assembled": {"choices": [{"message": {"content": "Hi"}}]}}`, ended,
		`$assembled.choices[0].message.content: expected "Hi", got "Hello"`)
	check(`{"chunks": `+chunks+`, "error": {"kind": "timeout", "status": 504}}`, failed, "$error.status: expected 504, got null")
	// The wrong end, each way round.
	check(`{"chunks": `+chunks+`, "assembled": {}}`, failed,
		`expected the stream to end normally, it ended with error {"kind":"timeout","message":"slow","status":null}`)
	check(`{"chunks": `+chunks+`, "assembled": {}}`, cancelled, "expected the stream to end normally, it ended with cancelled")
	check(`{"chunks": `+chunks+`, "error": {"kind": "timeout"}}`, ended,
		"expected the stream to end with a timeout error, it ended with a normal end")
	check(`{"chunks": [], "cancelled": true}`, failed,
		"$chunks: expected an array of 0 items, got 2: "+shownChunks,
		`expected the runner to abandon the stream, it ended with error {"kind":"timeout","message":"slow","status":null}`)
	// A stream where a call was expected, and the other way round.
	check(`{"response": {}}`, cancelled,
		`expected a call, got a stream {"stream":{"cancelled":true,"chunks":[{"choices":[{"delta":{"content":"Hel"}}]},{"choices":[{"delta":{"content":"lo"}}]}]}}`)
	check(`{"chunks": [], "cancelled": true}`, `{"response": {"id": "x"}}`, `expected a stream, got {"response":{"id":"x"}}`)
}

func TestAnswerEnds(t *testing.T) {
	recorded := []map[string]any{
		j(t, `{"method": "POST", "path": "/p", "received_at_ms": 100.0, "outcome": "client_closed", "ended_at_ms": 410.25}`).(map[string]any),
		j(t, `{"method": "POST", "path": "/p", "received_at_ms": 500.0, "outcome": "pending", "ended_at_ms": null}`).(map[string]any),
	}
	check := func(first, second string, want ...string) {
		t.Helper()
		expect := j(t, `{"requests": [`+first+`, `+second+`]}`).(map[string]any)
		got, err := requestProblems(expect, recorded)
		if err != nil || (len(got) != 0 || len(want) != 0) && !reflect.DeepEqual(got, want) {
			t.Errorf("%s, %s: got %q (%v), want %q", first, second, got, err, want)
		}
	}
	check(`{"outcome": "client_closed", "open_ms": {"min": 300, "max": 400}}`, `{}`)
	check(`{"outcome": "client_closed", "open_ms": {"min": 0, "max": 300}}`, `{}`, "$requests[0].open_ms: 310.2 ms is outside [0, 300]")
	check(`{"open_ms": {"min": 310.25, "max": 310.25}}`, `{}`) // inclusive
	check(`{"open_ms": {"min": 310.5, "max": 1e3}}`, `{}`, "$requests[0].open_ms: 310.2 ms is outside [310.5, 1000.0]")
	check(`{"outcome": "completed"}`, `{}`, "$requests[0].outcome: expected 'completed', got 'client_closed'")
	// A request still pending has no open time, and is not completed.
	check(`{}`, `{"outcome": "completed", "open_ms": {"min": 0, "max": 1e9}}`,
		"$requests[1].outcome: expected 'completed', got 'pending'",
		"$requests[1].open_ms: the answer had not ended")
	// Without outcome and open_ms, how the answer ended is not looked at.
	check(`{}`, `{}`)
	// A malformed bound is a case error.
	if _, err := requestProblems(j(t, `{"requests": [{"open_ms": {"min": 0}}]}`).(map[string]any), recorded); err == nil {
		t.Error("a bound without max was accepted")
	}
}

func TestPythonRepr(t *testing.T) {
	for value, want := range map[any]string{nil: "None", "completed": "'completed'", "it's": `"it's"`, `a\b`: `"a\\b"`} {
		if got := pythonRepr(value); got != want {
			t.Errorf("pythonRepr(%v) = %s, want %s", value, got, want)
		}
	}
}

func TestTypedChunkProblems(t *testing.T) {
	raw := `{"id": "c1", "object": "chat.completion.chunk", "created": 17, "model": "m",
		"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi", "tool_calls": [{"index": 0, "id": "t", "type": "function",
			"function": {"name": "f", "arguments": "{\"a\""}}]}, "finish_reason": null}], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}`
	good := literllm.Chunk{ID: "c1", Object: "chat.completion.chunk", Created: 17, Model: "m",
		Choices: []literllm.ChunkChoice{{Delta: literllm.Delta{Role: "assistant", Content: "Hi", ToolCalls: []literllm.ToolCallDelta{
			{ID: "t", Type: "function", Function: literllm.FunctionCall{Name: "f", Arguments: `{"a"`}}}}}},
		Usage: &literllm.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}}
	if problems := typedChunkProblems("Chunk[0].", good, j(t, raw)); len(problems) != 0 {
		t.Errorf("good chunk: %q", problems)
	}
	bad := good
	bad.Choices = []literllm.ChunkChoice{{Delta: literllm.Delta{Role: "assistant", Content: "Ho", ToolCalls: good.Choices[0].Delta.ToolCalls}}}
	bad.Usage = nil
	want := []string{
		"Chunk[0].Choices[0].Delta.Content is Ho but the JSON has Hi",
		`Chunk[0].Usage is <nil> but the JSON has {"completion_tokens": 2, "prompt_tokens": 1, "total_tokens": 3}`,
	}
	if got := typedChunkProblems("Chunk[0].", bad, j(t, raw)); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Stream cases through the whole runner, some of which must fail: the chunks, how the stream
// ended, and how the upstream's answer ended.
func TestRunnerStreams(t *testing.T) {
	dir := t.TempDir()
	words := `"provider": null, "stream": {},
		"request": {"model": "mock/demo", "messages": [{"role": "user", "content": "Hi"}], "mock_response": "one two", "stream": true}`
	writeCase(t, dir, "mock/words", `{"name": "mock/words", "description": "d", `+words+`,
		"expect": {"chunks": [{}, {}, {}, {}], "assembled": {"choices": [{"message": {"content": "one two"}}]}}}`)
	writeCase(t, dir, "mock/words_wrong_end", `{"name": "mock/words_wrong_end", "description": "d", `+words+`,
		"expect": {"chunks": [{}, {}, {}, {}], "error": {"kind": "timeout"}}}`)
	openai := `"provider": "openai", "env": {"OPENAI_API_KEY": "sk-test-go-stream", "OPENAI_BASE_URL": "{{base_url}}/v1"},
		"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "stream": true},
		"upstream": {"responses": [{"headers": {"content-type": "text/event-stream"}, "chunks": [
			{"data": "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1741570283,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"},
			{"data": "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1741570283,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n", "delay_ms": 3000},
			{"data": "data: [DONE]\n\n"}]}]}`
	writeCase(t, dir, "mock/abandoned", `{"name": "mock/abandoned", "description": "d", `+openai+`, "stream": {"cancel_after_chunks": 1},
		"expect": {"requests": [{"outcome": "client_closed", "open_ms": {"min": 0, "max": 2500}}],
			"chunks": [{"choices": [{"delta": {"role": "assistant"}}]}], "cancelled": true}}`)
	writeCase(t, dir, "mock/abandoned_said_completed", `{"name": "mock/abandoned_said_completed", "description": "d", `+openai+`,
		"stream": {"cancel_after_chunks": 0}, "expect": {"requests": [{"outcome": "completed"}], "chunks": [], "cancelled": true}}`)
	results := filepath.Join(dir, "results.jsonl")

	runExpecting(t, dir, results, 1,
		"PASS mock/abandoned\n",
		"FAIL mock/abandoned_said_completed: $requests[0].outcome: expected 'completed', got 'client_closed'\n",
		"PASS mock/words\n",
		"FAIL mock/words_wrong_end: expected the stream to end with a timeout error, it ended with a normal end\n",
		"\n2 passed, 2 failed\n",
	)
	data, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d result lines:\n%s", len(lines), data)
	}
	want := `{"case":"mock/abandoned","ok":true,"result":{"stream":{"cancelled":true,"chunks":[{"choices":[{"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"created":0,"id":"chatcmpl-1","model":"gpt-4o-mini","object":"chat.completion.chunk"}]}}}`
	if lines[0] != want {
		t.Errorf("line 1 is  %s\nwant        %s", lines[0], want)
	}
	if want := `{"case":"mock/abandoned_said_completed","ok":false,"result":{"stream":{"cancelled":true,"chunks":[]}}}`; lines[1] != want {
		t.Errorf("line 2 is %s", lines[1])
	}
	line3, _ := decodeJSON([]byte(lines[2]))
	stream := line3.(map[string]any)["result"].(map[string]any)["stream"].(map[string]any)
	for i, chunk := range stream["chunks"].([]any) {
		if created := chunk.(map[string]any)["created"]; created != json.Number("0") {
			t.Errorf("chunk %d has created %v", i, created)
		}
	}
	if assembled := stream["assembled"].(map[string]any); assembled["created"] != json.Number("0") {
		t.Errorf("the assembled completion has created %v", assembled["created"])
	}
}
