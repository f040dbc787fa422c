package literllm_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/liter-llm/liter-llm/bindings/go/mockupstream"
)

// The variables each test controls through its request; unset so the environment of whoever
// runs the tests cannot change them. Proxies are unset because the mock is on 127.0.0.1.
var unsetVariables = []string{
	"OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
	"CO_API_KEY", "COHERE_API_KEY", "CO_API_URL", "COHERE_BASE_URL",
	"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
}

var mock struct {
	once   sync.Once
	server *mockupstream.Server
	err    error
}

func TestMain(m *testing.M) {
	for _, name := range unsetVariables {
		os.Unsetenv(name)
	}
	code := m.Run()
	if mock.server != nil {
		if err := mock.server.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the mock upstream:", err)
		}
	}
	os.Exit(code)
}

// upstream is the mock upstream shared by the tests, started on first use from
// LITER_LLM_MOCK_UPSTREAM (or LITER_LLM_MOCK_URL) or the release build. A test that needs it
// fails when it is missing: a skipped test proves nothing.
func upstream(t testing.TB) *mockupstream.Server {
	t.Helper()
	mock.once.Do(func() {
		binary, err := filepath.Abs(filepath.Join("..", "..", "core", "target", "release", "liter-llm-mock-upstream"))
		if err != nil {
			mock.err = err
			return
		}
		mock.server, mock.err = mockupstream.FromEnvironment(binary)
	})
	if mock.err != nil {
		t.Fatalf("the mock upstream is needed: %v", mock.err)
	}
	return mock.server
}

// session scripts a fresh session and returns its base URL and a function reading its journal.
func session(t testing.TB, script mockupstream.Script) (string, func() []mockupstream.Request) {
	t.Helper()
	server := upstream(t)
	id, err := server.NewSession(script)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.DeleteSession(id) })
	return server.SessionURL(id), func() []mockupstream.Request {
		t.Helper()
		journal, err := server.Requests(id)
		if err != nil {
			t.Fatal(err)
		}
		return journal
	}
}

// reply is a one-response script.
func reply(status int, body any) mockupstream.Script {
	return mockupstream.Script{Responses: []mockupstream.Response{{Status: status, JSON: body}}}
}

// openAICompletion is a minimal OpenAI chat.completion with this text.
func openAICompletion(text string) map[string]any {
	return map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
		"choices": []any{map[string]any{
			"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": text},
		}},
		"usage": map[string]any{"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
	}
}
