package main

// The Go driver speaks the protocol of conformance/RUNNER_CONTRACT.md ("Drivers") and reports
// the Go binding's native checks. Calls go to the built-in mock provider and to a provider with
// no key (an authentication error before any request), so no upstream is needed.

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

// session runs the driver over the given input lines and returns its output lines, decoded.
func session(t *testing.T, lines ...string) []map[string]any {
	t.Helper()
	in, out := strings.NewReader(strings.Join(lines, "\n")+"\n"), &strings.Builder{}
	d := &driver{input: bufio.NewReader(in), output: out, clients: map[int]*literllm.Client{}}
	if err := d.serve(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	var replies []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var reply map[string]any
		if err := json.Unmarshal([]byte(line), &reply); err != nil {
			t.Fatalf("a reply is not JSON: %q", line)
		}
		replies = append(replies, reply)
	}
	return replies
}

const request = `"request":{"model":"demo","messages":[{"role":"user","content":"Hi"}]}`

func TestHelloAndUnknownOperations(t *testing.T) {
	replies := session(t, `{"id":1,"op":"hello","protocol":1}`, `{"id":2,"op":"teleport"}`)
	if replies[0]["protocol"] != float64(protocolVersion) || replies[0]["language"] != "go" || replies[0]["binding"] != literllm.Version() {
		t.Errorf("hello: %v", replies[0])
	}
	if replies[1]["problem"] != `unknown operation "teleport"` || replies[1]["id"] != float64(2) {
		t.Errorf("unknown operation: %v", replies[1])
	}
}

func TestInvokeReportsResponsesAndErrors(t *testing.T) {
	os.Unsetenv("OPENAI_API_KEY")
	replies := session(t,
		`{"id":1,"op":"invoke","provider":"mock",`+request+`}`,
		`{"id":2,"op":"env","name":"OPENAI_API_KEY","value":null}`,
		`{"id":3,"op":"invoke","provider":"openai",`+strings.Replace(request, "demo", "gpt-4o", 1)+`}`,
	)
	response, _ := replies[0]["response"].(map[string]any)
	if response["object"] != "chat.completion" || len(replies[0]["native"].([]any)) != 0 {
		t.Errorf("invoke: %v", replies[0])
	}
	failure, _ := replies[2]["error"].(map[string]any)
	if failure["kind"] != "authentication" || replies[2]["class"] != "*literllm.Error" || len(replies[2]["native"].([]any)) != 0 {
		t.Errorf("failed invoke: %v", replies[2])
	}
}

func TestStreamsEndAssembledOrCancelled(t *testing.T) {
	replies := session(t,
		`{"id":1,"op":"stream","provider":"mock","cancel_after_chunks":null,`+request+`}`,
		`{"id":2,"op":"stream","provider":"mock","cancel_after_chunks":1,`+request+`}`,
		`{"id":3,"op":"stream","provider":"mock","cancel_after_chunks":0,`+request+`}`,
		`{"id":3,"op":"cancel"}`,
	)
	whole, _ := replies[0]["stream"].(map[string]any)
	if assembled, _ := whole["assembled"].(map[string]any); assembled["object"] != "chat.completion" || len(whole["chunks"].([]any)) < 2 {
		t.Errorf("whole stream: %v", replies[0])
	}
	if one, _ := replies[1]["stream"].(map[string]any); one["cancelled"] != true || len(one["chunks"].([]any)) != 1 {
		t.Errorf("stream cancelled after one chunk: %v", replies[1])
	}
	if replies[2]["event"] != "started" || replies[2]["id"] != float64(3) {
		t.Errorf("a stream cancelled in flight first says so: %v", replies[2])
	}
	if none, _ := replies[3]["stream"].(map[string]any); none["cancelled"] != true || len(none["chunks"].([]any)) != 0 {
		t.Errorf("stream cancelled in flight: %v", replies[3])
	}
}

func TestConfigureAndClients(t *testing.T) {
	replies := session(t,
		`{"id":1,"op":"configure","config":{"defaults":{"no_such_key":1}}}`,
		`{"id":2,"op":"configure","config":{}}`,
		`{"id":3,"op":"client_create","config":{}}`,
		`{"id":4,"op":"invoke","client":1,"provider":"mock",`+request+`}`,
		`{"id":5,"op":"client_close","client":1}`,
		`{"id":6,"op":"invoke","client":1,"provider":"mock",`+request+`}`,
	)
	if refused, _ := replies[0]["error"].(map[string]any); refused["kind"] != "invalid_request" {
		t.Errorf("refused configuration: %v", replies[0])
	}
	if len(replies[1]) != 1 || replies[3]["response"] == nil || replies[2]["client"] != float64(1) || len(replies[4]) != 1 {
		t.Errorf("configure, client_create, invoke, client_close: %v", replies[1:5])
	}
	if closed, _ := replies[5]["error"].(map[string]any); closed["kind"] != "invalid_request" {
		t.Errorf("a call on a closed client: %v", replies[5])
	}
}

func TestNativeChecksFindDisagreements(t *testing.T) {
	body := map[string]any{"kind": "rate_limited", "message": "slow down", "status": json.Number("429"), "attempts": json.Number("1")}
	e := &literllm.Error{Kind: literllm.KindRateLimited, Message: "slow down", Status: 500, Attempts: 1}
	problems := goErrorProblems(e, e, body)
	if len(problems) != 1 || !strings.Contains(problems[0], "Error.Status is 500") {
		t.Errorf("goErrorProblems = %q", problems)
	}
	if problems := goErrorProblems(errors.New("plain"), e, body); len(problems) == 0 {
		t.Error("an error that is no sentinel's went unnoticed")
	}
	if err := (&driver{input: bufio.NewReader(strings.NewReader("")), output: io.Discard}).serve(); err != nil {
		t.Errorf("an empty input: %v", err)
	}
}
