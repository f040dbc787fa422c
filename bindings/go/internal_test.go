package literllm

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestABIMismatchSaysRebuild(t *testing.T) {
	if err := abiError(ABIVersion, ABIVersion); err != nil {
		t.Fatal(err)
	}
	if err := checkABI(); err != nil {
		t.Fatalf("the library and header in this checkout disagree: %v", err)
	}
	err := abiError(ABIVersion, ABIVersion+1)
	if err == nil || !strings.Contains(err.Error(), "rebuild the library") || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("library mismatch: %v", err)
	}
	if err := abiError(ABIVersion+1, ABIVersion); err == nil || !strings.Contains(err.Error(), "liter_llm.h") {
		t.Errorf("header mismatch: %v", err)
	}
}

func TestDeadlineBecomesTheTimeout(t *testing.T) {
	timeoutOf := func(t *testing.T, body []byte) (float64, bool) {
		t.Helper()
		var members map[string]any
		if err := json.Unmarshal(body, &members); err != nil {
			t.Fatal(err)
		}
		v, ok := members["timeout"].(float64)
		return v, ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()

	body, err := withDeadline(ctx, []byte(`{"model": "m", "prompt": "x"}`))
	if secs, ok := timeoutOf(t, body); err != nil || !ok || secs <= 1.5 || secs > 2 {
		t.Errorf("timeout %v (%v), want the ~2 s that remain", secs, err)
	}
	body, _ = withDeadline(ctx, []byte(`{"model": "m", "timeout": null}`))
	if secs, ok := timeoutOf(t, body); !ok || secs > 2 {
		t.Errorf("a null timeout was not replaced: %s", body)
	}
	for _, unchanged := range []string{`{"model": "m", "timeout": 30}`, `[1, 2]`, `not json`, `null`} {
		if body, err := withDeadline(ctx, []byte(unchanged)); err != nil || string(body) != unchanged {
			t.Errorf("%s became %s (%v)", unchanged, body, err)
		}
	}
	if body, _ := withDeadline(context.Background(), []byte(`{"model": "m"}`)); string(body) != `{"model": "m"}` {
		t.Errorf("no deadline, yet the request changed: %s", body)
	}
	far, cancelFar := context.WithTimeout(context.Background(), 100*24*time.Hour)
	defer cancelFar()
	body, _ = withDeadline(far, []byte(`{"model": "m"}`))
	if secs, _ := timeoutOf(t, body); secs != 86400 {
		t.Errorf("a deadline beyond the library's one-day limit gave timeout %v", secs)
	}
	past, cancelPast := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelPast()
	if _, err := withDeadline(past, []byte(`{}`)); err != context.DeadlineExceeded {
		t.Errorf("a passed deadline gave %v", err)
	}
}

func TestErrorFromJSON(t *testing.T) {
	e := errorFromJSON([]byte(`{"error": {"kind": "rate_limited", "message": "openai: slow down (HTTP 429)", "status": 429,
		"provider": "openai", "retry_after": 0.25, "provider_error": {"type": "rate_limit_error", "message": "slow down", "code": 42}}}`))
	want := Error{Kind: KindRateLimited, Message: "openai: slow down (HTTP 429)", Status: 429, Provider: "openai", RetryAfter: 250 * time.Millisecond}
	if e.Kind != want.Kind || e.Message != want.Message || e.Status != want.Status || e.Provider != want.Provider || e.RetryAfter != want.RetryAfter {
		t.Errorf("got %+v", e)
	}
	if pe := e.ProviderError; pe == nil || pe.Type != "rate_limit_error" || pe.Message != "slow down" || pe.Code != 42.0 {
		t.Errorf("provider error %+v", pe)
	}
	if !strings.HasPrefix(string(e.Raw), `{"kind": "rate_limited"`) {
		t.Errorf("Raw is not the error object: %s", e.Raw)
	}

	e = errorFromJSON([]byte(`{"error": {"kind": "internal", "message": "panic", "status": null, "provider": null, "retry_after": null, "provider_error": null}}`))
	if e.Kind != KindInternal || e.Status != 0 || e.Provider != "" || e.RetryAfter != 0 || e.ProviderError != nil || !errors.Is(e, ErrInternal) {
		t.Errorf("nulls: %+v", e)
	}
	e = errorFromJSON([]byte(`{"error": {"kind": "cancelled", "message": "cancelled"}}`))
	if !errors.Is(e, context.Canceled) || errors.Is(e, ErrInternal) {
		t.Errorf("cancelled: %+v", e)
	}
	for _, malformed := range []string{``, `[]`, `{"error": "x"}`, `{"error": {"message": "no kind"}}`, `{"oops": 1}`} {
		e := errorFromJSON([]byte(malformed))
		if e.Kind != KindInternal || !strings.Contains(e.Message, "without an error object") || !errors.Is(e, ErrInternal) {
			t.Errorf("%q gave %+v", malformed, e)
		}
	}
}

func TestResponsesDecodeLeniently(t *testing.T) {
	// An OpenAI-compatible server's body is passed through: odd types must not lose the answer.
	data := []byte(`{"id": 7, "object": "chat.completion", "created": 1.7e9, "model": "m",
		"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "extra": true}, "finish_reason": "stop"}],
		"usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": "3"}}`)
	resp, err := responseFromJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "hi" || resp.Usage.CompletionTokens != 2 || resp.ID != "" || string(resp.Raw) != string(data) {
		t.Errorf("got %+v", resp)
	}
	if _, err := responseFromJSON([]byte(`{"choices": [`)); !errors.Is(err, ErrInternal) {
		t.Errorf("truncated JSON gave %v", err)
	}
}

// responseFromJSON decodes messages in the response's own pass, and Request.MarshalJSON encodes
// them in the request's: both must give what Message's own methods give, for every form of
// content.
func TestMessagesInResponsesAndRequestsMatchMessageJSON(t *testing.T) {
	messages := []string{
		`{"role": "assistant", "content": "plain text, with unicode é and 漢字"}`,
		`{"role": "assistant", "content": "escapes: \"q\" \\ \n \u00e9 \ud83d\ude00"}`,
		"{\"role\": \"assistant\", \"content\": \"invalid UTF-8: \xff\xfe\"}",
		`{"role": "assistant", "content": "<b>&amp;</b>"}`,
		`{"role": "assistant", "content": ""}`,
		`{"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}`,
		`{"role": "assistant", "content": [{"type": "text", "text": "part"}]}`,
		`{"role": "assistant", "content": 5, "reasoning_content": "thought"}`,
		`{"role": "assistant"}`,
		`null`,
	}
	for _, text := range messages {
		var want Message
		if err := json.Unmarshal([]byte(text), &want); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		resp, err := responseFromJSON([]byte(`{"choices": [{"index": 0, "message": ` + text + `, "finish_reason": "stop"}]}`))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if got := resp.Choices[0].Message; !reflect.DeepEqual(got, want) {
			t.Errorf("%s in a response decodes as %+v, alone as %+v", text, got, want)
		}
		if strings.HasPrefix(text, `{"role": "assistant", "content": [`) {
			continue // a response's parts are not a request's (a text part has no image_url)
		}
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		request, err := Request{Model: "m", Messages: []Message{want}}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if wantRequest := `{"model":"m","messages":[` + string(wantJSON) + `]}`; string(request) != wantRequest {
			t.Errorf("%s in a request encodes as %s, want %s", text, request, wantRequest)
		}
	}
	if _, err := (Request{Messages: []Message{{Role: "user", Content: "a", Parts: []ContentPart{TextPart("b")}}}}).MarshalJSON(); err == nil ||
		!strings.Contains(err.Error(), "sets both Content and Parts") {
		t.Errorf("a message with both Content and Parts gave %v", err)
	}
}

func TestPlainJSONString(t *testing.T) {
	for quoted, want := range map[string]bool{
		`"plain"`: true, `""`: true, `"é"`: true, `"a\nb"`: false, `"a\"b"`: false,
		"\"\xff\"": false, "\"tab\there\"": false, `"`: false, `"unterminated`: false,
	} {
		text, ok := plainJSONString([]byte(quoted))
		if ok != want || (ok && `"`+text+`"` != quoted) {
			t.Errorf("plainJSONString(%q) = %q, %v; want ok %v", quoted, text, ok, want)
		}
	}
}

func TestMessageJSON(t *testing.T) {
	cases := []struct {
		message Message
		want    string
	}{
		{UserMessage("hi"), `{"role":"user","content":"hi"}`},
		{Message{Role: "user", Parts: []ContentPart{TextPart("look"), ImagePart("data:image/png;base64,AAA")}},
			`{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAA"}}]}`},
		{Message{Role: "assistant", ToolCalls: []ToolCall{{ID: "c", Type: "function", Function: FunctionCall{Name: "f", Arguments: "{}"}}}},
			`{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}],"content":null}`},
		{ToolMessage("c", "42"), `{"role":"tool","tool_call_id":"c","content":"42"}`},
	}
	for _, c := range cases {
		got, err := json.Marshal(c.message)
		if err != nil || string(got) != c.want {
			t.Errorf("%+v encodes as %s (%v), want %s", c.message, got, err, c.want)
			continue
		}
		var back Message
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(back)
		if string(again) != c.want {
			t.Errorf("round trip changed %s into %s", c.want, again)
		}
	}
	var m Message
	if err := json.Unmarshal([]byte(`{"role": "assistant", "content": 5}`), &m); err != nil || m.Content != "" || m.Role != "assistant" {
		t.Errorf("content of the wrong type: %+v, %v", m, err)
	}
}

func TestRequestJSON(t *testing.T) {
	request := Request{
		Provider:    "openai",
		Model:       "gpt-4o",
		Prompt:      "hi",
		Temperature: Ptr(0.0),
		Seed:        Ptr[int64](0),
		Stop:        []string{"END"},
		Timeout:     1500 * time.Millisecond,
		APIKey:      "sk-test-1",
		Extra:       map[string]any{"logprobs": true},
	}
	got, err := json.Marshal(request)
	if err != nil {
		t.Fatal(err)
	}
	// The fields in their order, then Timeout, then Extra by key.
	want := `{"model":"gpt-4o","prompt":"hi","temperature":0,"stop":["END"],"seed":0,"api_key":"sk-test-1","timeout":1.5,"logprobs":true}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, _ := json.Marshal(Request{Model: "m"}); string(got) != `{"model":"m"}` {
		t.Errorf("zero fields were sent: %s", got)
	}
	_, err = json.Marshal(Request{Model: "m", Timeout: time.Second, Extra: map[string]any{"timeout": 2}})
	if err == nil || !strings.Contains(err.Error(), strconv.Quote("timeout")) {
		t.Errorf("Extra repeating Timeout: %v", err)
	}
}

// Every request form is encoded once, with what the binding adds written into that encoding:
// Request.Timeout and Extra, and ctx's deadline when the request sets no timeout (or a null one).
func TestPrepareCallEncodesOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const deadline = -1.0
	cases := []struct {
		name     string
		request  any
		provider string
		timeout  float64
	}{
		{"Request", Request{Provider: "mock", Model: "m"}, "mock", deadline},
		{"Request with Timeout", Request{Model: "m", Timeout: 2 * time.Second}, "", 2},
		{"Request with a null timeout in Extra", Request{Model: "m", Extra: map[string]any{"timeout": nil}}, "", deadline},
		{"Request with a timeout in Extra", Request{Model: "m", Extra: map[string]any{"timeout": 5}}, "", 5},
		{"*Request with Extra", &Request{Provider: "openai", Model: "m", Extra: map[string]any{"x": 1}}, "openai", deadline},
		{"map", map[string]any{"model": "m"}, "", deadline},
		{"map with a timeout", map[string]any{"model": "m", "timeout": 3}, "", 3},
		{"json.RawMessage with a null timeout", json.RawMessage(`{"model": "m", "timeout": null}`), "", deadline},
		{"[]byte with a timeout", []byte(`{"model": "m", "timeout": 4}`), "", 4},
	}
	for _, c := range cases {
		provider, body, err := prepareCall(ctx, "", c.request)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var members map[string]any
		if err := json.Unmarshal(body, &members); err != nil || members["model"] != "m" || provider != c.provider {
			t.Errorf("%s: provider %q, body %s (%v)", c.name, provider, body, err)
			continue
		}
		timeout, _ := members["timeout"].(float64)
		if c.timeout == deadline && (timeout <= 9 || timeout > 10) || c.timeout != deadline && timeout != c.timeout {
			t.Errorf("%s: timeout %v in %s", c.name, members["timeout"], body)
		}
	}
}
