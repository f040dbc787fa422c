package literllm_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
	"github.com/liter-llm/liter-llm/bindings/go/mockupstream"
)

const testKey = "sk-test-go-binding"

func TestVersion(t *testing.T) {
	if v := literllm.Version(); !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(v) {
		t.Fatalf("Version() = %q, want a semantic version", v)
	}
}

func TestMockProviderRoundTrip(t *testing.T) {
	resp, err := literllm.Completion(context.Background(), literllm.Request{
		Model:        "mock/echo",
		Messages:     []literllm.Message{literllm.SystemMessage("Be brief."), literllm.UserMessage("Hello")},
		MockResponse: "Hi there",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "Hi there" {
		t.Errorf("content = %q", got)
	}
	if resp.Model != "echo" || resp.Object != "chat.completion" || !strings.HasPrefix(resp.ID, "chatcmpl-mock-") {
		t.Errorf("model %q, object %q, id %q", resp.Model, resp.Object, resp.ID)
	}
	if resp.Choices[0].FinishReason != "stop" || resp.Choices[0].Message.Role != "assistant" {
		t.Errorf("choice = %+v", resp.Choices[0])
	}
	// docs/providers.md: one token per four characters, rounded up ("Be brief." + "Hello", "Hi there").
	if u := resp.Usage; u.PromptTokens != 4 || u.CompletionTokens != 2 || u.TotalTokens != 6 {
		t.Errorf("usage = %+v", u)
	}
	var raw map[string]any
	if err := json.Unmarshal(resp.Raw, &raw); err != nil || raw["id"] != resp.ID {
		t.Errorf("Raw = %s (%v)", resp.Raw, err)
	}
}

func TestOpenAIRoundTripThroughTheUpstream(t *testing.T) {
	completion := openAICompletion("")
	message := completion["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	message["content"] = nil
	message["tool_calls"] = []any{map[string]any{
		"id": "call_1", "type": "function",
		"function": map[string]any{"name": "get_weather", "arguments": `{"city":"Paris"}`},
	}}
	completion["choices"].([]any)[0].(map[string]any)["finish_reason"] = "tool_calls"
	completion["service_tier"] = "default"
	baseURL, journal := session(t, reply(200, completion))

	resp, err := literllm.Completion(context.Background(), literllm.Request{
		Model:       "openai/gpt-4o-mini",
		Messages:    []literllm.Message{literllm.UserMessage("Weather in Paris?")},
		Temperature: literllm.Ptr(0.0),
		MaxTokens:   50,
		Tools: []literllm.Tool{literllm.FunctionTool("get_weather", "Current weather",
			map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}})},
		ToolChoice: "auto",
		APIKey:     testKey,
		BaseURL:    baseURL,
		Timeout:    30 * time.Second,
		Extra:      map[string]any{"logit_bias": map[string]any{"50256": -100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	choice := resp.Choices[0]
	if choice.FinishReason != "tool_calls" || choice.Message.Content != "" || len(choice.Message.ToolCalls) != 1 {
		t.Fatalf("choice = %+v", choice)
	}
	call := choice.Message.ToolCalls[0]
	if call.ID != "call_1" || call.Type != "function" || call.Function.Name != "get_weather" || call.Function.Arguments != `{"city":"Paris"}` {
		t.Errorf("tool call = %+v", call)
	}
	if !strings.Contains(string(resp.Raw), `"service_tier":"default"`) {
		t.Errorf("Raw lost a field: %s", resp.Raw)
	}

	requests := journal()
	if len(requests) != 1 {
		t.Fatalf("%d upstream requests, want 1", len(requests))
	}
	got := requests[0]
	if got.Method != "POST" || got.Path != "/chat/completions" || got.Headers["authorization"] != "Bearer "+testKey {
		t.Errorf("request %s %s, authorization %q", got.Method, got.Path, got.Headers["authorization"])
	}
	var body map[string]any
	if err := json.Unmarshal(got.JSON, &body); err != nil {
		t.Fatal(err)
	}
	if body["model"] != "gpt-4o-mini" || body["temperature"] != 0.0 || body["max_tokens"] != 50.0 || body["tool_choice"] != "auto" {
		t.Errorf("body = %v", body)
	}
	if _, ok := body["logit_bias"]; !ok {
		t.Errorf("Extra was not sent: %v", body)
	}
	for _, option := range []string{"api_key", "base_url", "timeout"} {
		if _, ok := body[option]; ok {
			t.Errorf("the call option %q reached the upstream: %v", option, body)
		}
	}

	// A response message goes back into the conversation as it is.
	history := []literllm.Message{literllm.UserMessage("Weather in Paris?"), choice.Message, literllm.ToolMessage("call_1", "18C")}
	encoded, err := json.Marshal(history)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"role":"user","content":"Weather in Paris?"},` +
		`{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}],"content":null},` +
		`{"role":"tool","tool_call_id":"call_1","content":"18C"}]`
	if string(encoded) != want {
		t.Errorf("history encodes as\n%s\nwant\n%s", encoded, want)
	}
}

func TestEveryRequestFormGivesTheSameAnswer(t *testing.T) {
	type tagged struct {
		Model        string `json:"model"`
		Prompt       string `json:"prompt"`
		MockResponse string `json:"mock_response"`
	}
	typed := literllm.Request{Model: "mock/m", Prompt: "hello", MockResponse: "same"}
	forms := map[string]any{
		"Request":         typed,
		"*Request":        &typed,
		"map":             map[string]any{"model": "mock/m", "prompt": "hello", "mock_response": "same"},
		"tagged struct":   tagged{"mock/m", "hello", "same"},
		"json.RawMessage": json.RawMessage(`{"model": "mock/m", "prompt": "hello", "mock_response": "same"}`),
		"[]byte":          []byte(`{"model": "mock/m", "prompt": "hello", "mock_response": "same"}`),
	}
	var ids []string
	for name, request := range forms {
		resp, err := literllm.Invoke(context.Background(), "", request)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if resp.Choices[0].Message.Content != "same" {
			t.Errorf("%s: content %q", name, resp.Choices[0].Message.Content)
		}
		ids = append(ids, resp.ID)
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Errorf("ids differ, so the requests did: %v", ids)
		}
	}

	// The provider argument, or Request.Provider, routes a model that has no prefix.
	for _, call := range []func() (*literllm.Response, error){
		func() (*literllm.Response, error) {
			return literllm.Invoke(context.Background(), "mock", map[string]any{"model": "plain", "prompt": "x"})
		},
		func() (*literllm.Response, error) {
			return literllm.Completion(context.Background(), literllm.Request{Provider: "mock", Model: "plain", Prompt: "x"})
		},
	} {
		resp, err := call()
		if err != nil || resp.Model != "plain" {
			t.Errorf("explicit provider: %v, %+v", err, resp)
		}
	}
}

func TestMisuseIsAGoError(t *testing.T) {
	ctx := context.Background()
	misuses := map[string]func() error{
		"nil request":    func() error { _, err := literllm.Invoke(ctx, "", nil); return err },
		"nil *Request":   func() error { _, err := literllm.Invoke(ctx, "", (*literllm.Request)(nil)); return err },
		"nil map":        func() error { _, err := literllm.Invoke(ctx, "", map[string]any(nil)); return err },
		"empty raw JSON": func() error { _, err := literllm.Invoke(ctx, "", json.RawMessage(nil)); return err },
		"a channel": func() error {
			_, err := literllm.Invoke(ctx, "", map[string]any{"model": "mock/m", "c": make(chan int)})
			return err
		},
		"a func": func() error {
			_, err := literllm.Invoke(ctx, "", map[string]any{"model": "mock/m", "f": func() {}})
			return err
		},
		"NaN": func() error {
			_, err := literllm.Invoke(ctx, "", map[string]any{"model": "mock/m", "temperature": math.NaN()})
			return err
		},
		"infinite temperature": func() error {
			_, err := literllm.Completion(ctx, literllm.Request{Model: "mock/m", Temperature: literllm.Ptr(math.Inf(1))})
			return err
		},
		"not an object":   func() error { _, err := literllm.Invoke(ctx, "", []string{"mock/m"}); return err },
		"a JSON string":   func() error { _, err := literllm.Invoke(ctx, "", `{"model": "mock/m"}`); return err },
		"NUL in provider": func() error { _, err := literllm.Invoke(ctx, "mo\x00ck", map[string]any{"model": "m"}); return err },
		"NUL in Provider": func() error {
			_, err := literllm.Completion(ctx, literllm.Request{Provider: "mo\x00ck", Model: "m"})
			return err
		},
		"NUL in raw JSON": func() error { _, err := literllm.Invoke(ctx, "", []byte("{\"model\": \"mock/m\"}\x00")); return err },
		"two providers": func() error {
			_, err := literllm.Invoke(ctx, "openai", literllm.Request{Provider: "mock", Model: "m"})
			return err
		},
		"Extra repeats": func() error {
			_, err := literllm.Completion(ctx, literllm.Request{Model: "mock/m", Extra: map[string]any{"model": "x"}})
			return err
		},
		"Content and Parts": func() error {
			_, err := literllm.Completion(ctx, literllm.Request{Model: "mock/m", Messages: []literllm.Message{{Role: "user", Content: "a", Parts: []literllm.ContentPart{literllm.TextPart("b")}}}})
			return err
		},
		"unencodable in Extra": func() error {
			_, err := literllm.Completion(ctx, literllm.Request{Model: "mock/m", Extra: map[string]any{"x": make(chan int)}})
			return err
		},
		"nil Context": func() error { _, err := literllm.Invoke(nil, "", map[string]any{"model": "mock/m"}); return err },
	}
	for name, misuse := range misuses {
		err := misuse()
		var libraryError *literllm.Error
		switch {
		case err == nil:
			t.Errorf("%s: no error", name)
		case errors.As(err, &libraryError):
			t.Errorf("%s: a *literllm.Error (%v), want a Go error: the call must not reach the library", name, err)
		case !strings.HasPrefix(err.Error(), "literllm: "):
			t.Errorf("%s: %q does not say where it came from", name, err)
		}
	}
}

// waitForNativeCalls fails unless every native call has delivered its result within a second:
// a cancelled call must end in the library too, not run on until the upstream answers.
func waitForNativeCalls(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for literllm.LiveCalls() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d native calls still running a second after their context ended", literllm.LiveCalls())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestContextCancellationReturnsPromptly(t *testing.T) {
	slow := mockupstream.Script{Responses: []mockupstream.Response{{JSON: openAICompletion("late"), DelayMS: 5000}}}

	t.Run("cancel", func(t *testing.T) {
		baseURL, journal := session(t, slow)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		started := time.Now()
		_, err := literllm.Invoke(ctx, "openai", map[string]any{"model": "gpt", "prompt": "x", "api_key": testKey, "base_url": baseURL})
		if elapsed := time.Since(started); elapsed > time.Second {
			t.Errorf("returned after %v, the upstream answers after 5s", elapsed)
		}
		if err != context.Canceled {
			t.Errorf("err = %v, want context.Canceled itself", err)
		}
		if n := len(journal()); n != 1 {
			t.Errorf("%d upstream requests, want 1 (the call had started)", n)
		}
		waitForNativeCalls(t)
	})

	t.Run("deadline", func(t *testing.T) {
		baseURL, _ := session(t, slow)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		started := time.Now()
		_, err := literllm.Invoke(ctx, "openai", map[string]any{"model": "gpt", "prompt": "x", "api_key": testKey, "base_url": baseURL})
		if elapsed := time.Since(started); elapsed > time.Second {
			t.Errorf("returned after %v", elapsed)
		}
		if err != context.DeadlineExceeded {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		waitForNativeCalls(t)
	})

	t.Run("already cancelled", func(t *testing.T) {
		baseURL, journal := session(t, slow)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := literllm.Invoke(ctx, "openai", map[string]any{"model": "gpt", "prompt": "x", "api_key": testKey, "base_url": baseURL})
		if err != context.Canceled {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if n := len(journal()); n != 0 {
			t.Errorf("%d upstream requests, want none", n)
		}
	})
}

// An overlap proof, not a benchmark: 64 calls to an upstream that answers each after 200 ms take
// 12.8 s one after another; together they must take far less. Only MaxBlockingCalls of them are
// blocking calls, each holding an OS thread in cgo; the others wait on a channel and hold none,
// so the 64 calls leave far fewer than 64 new threads behind.
func TestConcurrentCallsOverlap(t *testing.T) {
	const calls, delay = 64, 200 * time.Millisecond
	baseURL, journal := session(t, mockupstream.Script{
		Responses:  []mockupstream.Response{{JSON: openAICompletion("ok"), DelayMS: int(delay / time.Millisecond)}},
		RepeatLast: true,
	})
	threads := pprof.Lookup("threadcreate")
	threadsBefore := threads.Count()
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	started := time.Now()
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := literllm.Completion(context.Background(), literllm.Request{
				Model: "openai/gpt-4o-mini", Prompt: "call " + string(rune('A'+i%26)), APIKey: testKey, BaseURL: baseURL,
			})
			if err == nil && resp.Choices[0].Message.Content != "ok" {
				err = errors.New("wrong content " + resp.Choices[0].Message.Content)
			}
			errs <- err
		}()
	}
	wg.Wait()
	elapsed := time.Since(started)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(journal()); n != calls {
		t.Errorf("%d upstream requests, want %d", n, calls)
	}
	if n := literllm.LiveCalls(); n != 0 {
		t.Errorf("%d native calls have not delivered their result", n)
	}
	if n := literllm.BlockingCalls(); n != 0 {
		t.Errorf("%d blocking calls still counted after every call returned", n)
	}
	if created := threads.Count() - threadsBefore; created >= calls/2 {
		t.Errorf("%d concurrent calls created %d OS threads; at most %d calls should hold one",
			calls, created, literllm.MaxBlockingCalls)
	}
	if limit := 3 * time.Second; elapsed >= limit {
		t.Errorf("%d calls of %v took %v; calls that overlap take well under %v", calls, delay, elapsed, limit)
	}
}

func TestConfigure(t *testing.T) {
	t.Cleanup(func() {
		if err := literllm.Configure(map[string]any{}); err != nil {
			t.Errorf("restoring the configuration: %v", err)
		}
	})
	baseURL, _ := session(t, mockupstream.Script{Responses: []mockupstream.Response{{JSON: openAICompletion("late"), DelayMS: 3000}}})
	if err := literllm.Configure(map[string]any{"defaults": map[string]any{"timeout": 0.3, "max_retries": 0}}); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	_, err := literllm.Completion(context.Background(), literllm.Request{Model: "openai/gpt-4o-mini", Prompt: "x", APIKey: testKey, BaseURL: baseURL})
	if !errors.Is(err, literllm.ErrTimeout) || time.Since(started) > 2*time.Second {
		t.Errorf("with a 0.3 s default timeout: %v after %v", err, time.Since(started))
	}

	err = literllm.Configure(json.RawMessage(`{"defaults": {"timeout": "soon"}}`))
	var e *literllm.Error
	if !errors.As(err, &e) || e.Kind != literllm.KindInvalidRequest || !strings.Contains(e.Message, "timeout") {
		t.Errorf("an invalid configuration gave %v", err)
	}
	for _, misuse := range []any{nil, []int{1}, map[string]any{"x": make(chan int)}, []byte("{\x00}")} {
		if err := literllm.Configure(misuse); err == nil || errors.As(err, &e) {
			t.Errorf("Configure(%#v) = %v, want a Go error", misuse, err)
		}
	}
}

// Cancellation racing completion: every call ends with its answer or ctx's error, each native
// call delivers exactly once (a second delivery would panic on a deleted handle), none leaks.
func TestCancellationRacingCompletion(t *testing.T) {
	baseURL, _ := session(t, mockupstream.Script{
		Responses:  []mockupstream.Response{{JSON: openAICompletion("ok"), DelayMS: 2}},
		RepeatLast: true,
	})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%8)*time.Millisecond)
			defer cancel()
			request := literllm.Request{Model: "mock/m", Prompt: "hi"}
			if i%2 == 1 {
				request = literllm.Request{Model: "openai/gpt-4o-mini", Prompt: "hi", APIKey: testKey, BaseURL: baseURL, Timeout: 5 * time.Second}
			}
			resp, err := literllm.Completion(ctx, request)
			switch {
			case err == context.DeadlineExceeded:
			case err != nil:
				t.Errorf("call %d: %v", i, err)
			case len(resp.Choices) != 1:
				t.Errorf("call %d: %s", i, resp.Raw)
			}
		}()
	}
	wg.Wait()
	waitForNativeCalls(t)
}

// ctx's deadline becomes the call's timeout, which the library plans retries against: a retry
// whose wait (here the provider's Retry-After of 1 s) would outlast a 500 ms context is not
// started, and the provider's error comes back at once instead of ctx's after 500 ms.
func TestTheDeadlineReachesTheLibrary(t *testing.T) {
	baseURL, journal := session(t, mockupstream.Script{
		Responses:  []mockupstream.Response{{Status: 503, Headers: map[string]string{"retry-after": "1"}, JSON: openAIError("busy", "server_error")}},
		RepeatLast: true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	started := time.Now()
	_, err := literllm.Completion(ctx, literllm.Request{
		Model: "openai/gpt-4o-mini", Prompt: "hi", APIKey: testKey, BaseURL: baseURL, MaxRetries: literllm.Ptr(2),
	})
	if !errors.Is(err, literllm.ErrProviderUnavailable) || time.Since(started) > 400*time.Millisecond {
		t.Errorf("err = %v after %v, want the 503 at once", err, time.Since(started))
	}
	if n := len(journal()); n != 1 {
		t.Errorf("%d upstream requests, want 1", n)
	}
}
