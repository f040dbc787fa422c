package literllm_test

import (
	"context"
	"errors"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
	"github.com/liter-llm/liter-llm/bindings/go/mockupstream"
)

var sentinels = map[literllm.Kind]error{
	literllm.KindInvalidRequest:      literllm.ErrInvalidRequest,
	literllm.KindAuthentication:      literllm.ErrAuthentication,
	literllm.KindPermissionDenied:    literllm.ErrPermissionDenied,
	literllm.KindNotFound:            literllm.ErrNotFound,
	literllm.KindRateLimited:         literllm.ErrRateLimited,
	literllm.KindTimeout:             literllm.ErrTimeout,
	literllm.KindConnection:          literllm.ErrConnection,
	literllm.KindProviderUnavailable: literllm.ErrProviderUnavailable,
	literllm.KindBadResponse:         literllm.ErrBadResponse,
	literllm.KindUnsupported:         literllm.ErrUnsupported,
	literllm.KindCancelled:           literllm.ErrCancelled,
	literllm.KindInternal:            literllm.ErrInternal,
}

func openAIError(message, errorType string) map[string]any {
	return map[string]any{"error": map[string]any{"message": message, "type": errorType, "code": nil}}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close()
	return "http://" + address
}

func TestErrorKindsThroughTheUpstream(t *testing.T) {
	body := func(text string) *string { return &text }
	cases := []struct {
		name         string
		provider     string
		script       *mockupstream.Script // nil: the call must not reach the upstream
		request      map[string]any
		kind         literllm.Kind
		status       int
		retryAfter   time.Duration
		providerType string
		message      string
	}{
		{name: "HTTP 400", script: &mockupstream.Script{Responses: []mockupstream.Response{{Status: 400, JSON: openAIError("Invalid 'messages'", "invalid_request_error")}}},
			kind: literllm.KindInvalidRequest, status: 400, providerType: "invalid_request_error", message: "Invalid 'messages'"},
		{name: "caught locally", request: map[string]any{"max_tokens": 0},
			kind: literllm.KindInvalidRequest, message: "`max_tokens` must be at least 1"},
		{name: "HTTP 401", script: &mockupstream.Script{Responses: []mockupstream.Response{{Status: 401, JSON: openAIError("Incorrect API key provided: "+testKey, "invalid_request_error")}}},
			kind: literllm.KindAuthentication, status: 401, message: "Incorrect API key"},
		{name: "no key", request: map[string]any{"api_key": nil},
			kind: literllm.KindAuthentication, message: "OPENAI_API_KEY is not set"},
		{name: "HTTP 403", script: &mockupstream.Script{Responses: []mockupstream.Response{{Status: 403, JSON: openAIError("Not allowed", "permission_error")}}},
			kind: literllm.KindPermissionDenied, status: 403},
		{name: "HTTP 404", script: &mockupstream.Script{Responses: []mockupstream.Response{{Status: 404, JSON: openAIError("The model does not exist", "invalid_request_error")}}},
			kind: literllm.KindNotFound, status: 404},
		{name: "HTTP 429", script: &mockupstream.Script{Responses: []mockupstream.Response{{Status: 429, Headers: map[string]string{"retry-after": "20"}, JSON: openAIError("Rate limit reached", "rate_limit_error")}}},
			kind: literllm.KindRateLimited, status: 429, retryAfter: 20 * time.Second, providerType: "rate_limit_error"},
		{name: "HTTP 429 in ms", script: &mockupstream.Script{Responses: []mockupstream.Response{{Status: 429, Headers: map[string]string{"retry-after-ms": "1500"}, JSON: openAIError("Slow down", "rate_limit_error")}}},
			kind: literllm.KindRateLimited, status: 429, retryAfter: 1500 * time.Millisecond},
		{name: "HTTP 408", script: &mockupstream.Script{Responses: []mockupstream.Response{{Status: 408, Body: body("request timeout")}}},
			kind: literllm.KindTimeout, status: 408},
		{name: "the call's timeout", script: &mockupstream.Script{Responses: []mockupstream.Response{{JSON: openAICompletion("late"), DelayMS: 3000}}},
			request: map[string]any{"timeout": 0.2}, kind: literllm.KindTimeout},
		{name: "refused", request: map[string]any{},
			kind: literllm.KindConnection, message: "could not connect"},
		{name: "HTTP 503", script: &mockupstream.Script{Responses: []mockupstream.Response{{Status: 503, Body: body("<html>upstream down</html>")}}},
			kind: literllm.KindProviderUnavailable, status: 503, message: "upstream down"},
		{name: "Anthropic 529", provider: "anthropic", script: &mockupstream.Script{Responses: []mockupstream.Response{{Status: 529,
			JSON: map[string]any{"type": "error", "error": map[string]any{"type": "overloaded_error", "message": "Overloaded"}}}}},
			request: map[string]any{"model": "claude-sonnet-4-5"},
			kind:    literllm.KindProviderUnavailable, status: 529, providerType: "overloaded_error"},
		{name: "not JSON", script: &mockupstream.Script{Responses: []mockupstream.Response{{Status: 200, Body: body("this is not JSON")}}},
			kind: literllm.KindBadResponse, status: 200},
		{name: "unknown provider", provider: "nope", request: map[string]any{"model": "m"},
			kind: literllm.KindUnsupported, message: "mock"},
		{name: "stream", request: map[string]any{"stream": true},
			kind: literllm.KindUnsupported, message: "stream"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			provider := c.provider
			if provider == "" {
				provider = "openai"
			}
			// Without a script the base URL is a closed loopback port: a test never reaches a real
			// provider. Retrying is off: each case checks the mapping of one answer.
			request := map[string]any{"model": "gpt-4o-mini", "prompt": "hello", "api_key": testKey, "base_url": closedPort(t), "max_retries": 0}
			var journal func() []mockupstream.Request
			if c.script != nil {
				var baseURL string
				baseURL, journal = session(t, *c.script)
				request["base_url"] = baseURL
			}
			for key, value := range c.request {
				request[key] = value
			}

			_, err := literllm.Invoke(context.Background(), provider, request)
			var e *literllm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want a *literllm.Error", err, err)
			}
			if e.Kind != c.kind || e.Status != c.status || e.RetryAfter != c.retryAfter {
				t.Errorf("kind %q status %d retry after %v, want %q %d %v (%s)", e.Kind, e.Status, e.RetryAfter, c.kind, c.status, c.retryAfter, e.Raw)
			}
			if wantProvider := map[bool]string{true: "", false: provider}[c.kind == literllm.KindUnsupported && provider == "nope"]; e.Provider != wantProvider {
				t.Errorf("provider %q, want %q", e.Provider, wantProvider)
			}
			if c.providerType != "" && (e.ProviderError == nil || e.ProviderError.Type != c.providerType) {
				t.Errorf("provider error %+v, want type %q", e.ProviderError, c.providerType)
			}
			if !strings.Contains(e.Message, c.message) || e.Error() != "literllm: "+string(c.kind)+": "+e.Message {
				t.Errorf("message %q, want it to contain %q; Error() = %q", e.Message, c.message, e.Error())
			}
			if strings.Contains(e.Message, testKey) || strings.Contains(string(e.Raw), testKey) {
				t.Errorf("the API key leaked: %s", e.Raw)
			}
			for kind, sentinel := range sentinels {
				want := kind == c.kind || (kind == literllm.KindConnection && c.kind == literllm.KindTimeout)
				if errors.Is(err, sentinel) != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", sentinel, !want, want)
				}
			}
			if journal != nil && (len(journal()) != 1 || e.Attempts != 1) {
				t.Errorf("%d upstream requests, Attempts %d; want 1 and 1", len(journal()), e.Attempts)
			}
		})
	}
}

// The library retries (the binding never does): a 503 then a 200 is one successful call, and the
// response says how many attempts it took.
func TestTheLibraryRetries(t *testing.T) {
	baseURL, journal := session(t, mockupstream.Script{Responses: []mockupstream.Response{
		{Status: 503, Headers: map[string]string{"retry-after-ms": "10"}, JSON: openAIError("busy", "server_error")},
		{JSON: openAICompletion("second time lucky")},
	}})
	resp, err := literllm.Completion(context.Background(), literllm.Request{
		Model: "openai/gpt-4o-mini", Prompt: "hi", APIKey: testKey, BaseURL: baseURL, MaxRetries: literllm.Ptr(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "second time lucky" || len(journal()) != 2 {
		t.Errorf("content %q after %d requests", resp.Choices[0].Message.Content, len(journal()))
	}
	// 3 prompt tokens at $0.15 and 2 completion tokens at $0.60 per million.
	if c := resp.ServedBy.CostUSD; c == nil || math.Abs(*c-1.65e-6) > 1e-15 {
		t.Errorf("CostUSD = %v, want 1.65e-6", c)
	}
	servedBy := resp.ServedBy
	servedBy.CostUSD = nil
	if want := (literllm.ServedBy{Provider: "openai", Model: "openai/gpt-4o-mini", Attempts: 2, Cache: "off"}); servedBy != want {
		t.Errorf("ServedBy = %+v, want %+v", servedBy, want)
	}
}

func TestFallbacksListWhatWasTried(t *testing.T) {
	baseURL, _ := session(t, mockupstream.Script{
		Responses:  []mockupstream.Response{{Status: 503, JSON: openAIError("down", "server_error")}},
		RepeatLast: true,
	})
	// The fallback goes to Anthropic, whose base URL (from the environment) is a closed port.
	t.Setenv("ANTHROPIC_API_KEY", "sk-test-fallback")
	t.Setenv("ANTHROPIC_BASE_URL", closedPort(t))
	_, err := literllm.Completion(context.Background(), literllm.Request{
		Model: "openai/gpt-4o-mini", Prompt: "hi", APIKey: testKey, BaseURL: baseURL,
		MaxRetries: literllm.Ptr(0), Fallbacks: []string{"anthropic/claude-sonnet-4-5"},
	})
	var e *literllm.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	want := []literllm.TriedModel{
		{Provider: "openai", Model: "openai/gpt-4o-mini", Kind: literllm.KindProviderUnavailable, Status: 503, Attempts: 1},
		{Provider: "anthropic", Model: "anthropic/claude-sonnet-4-5", Kind: literllm.KindConnection, Status: 0, Attempts: 1},
	}
	if len(e.Tried) != len(want) || e.Tried[0] != want[0] || e.Tried[1] != want[1] {
		t.Errorf("Tried = %+v, want %+v (%s)", e.Tried, want, e.Raw)
	}
}
