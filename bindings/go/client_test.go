package literllm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
	"github.com/liter-llm/liter-llm/bindings/go/mockupstream"
)

// openAIConfig is a configuration (liter-llm.toml's JSON form) whose OpenAI provider is this
// key at this base URL.
func openAIConfig(key, baseURL string) map[string]any {
	return map[string]any{"providers": map[string]any{"openai": map[string]any{"api_key": key, "base_url": baseURL, "max_retries": 0}}}
}

// newClient is a client closed at the end of the test.
func newClient(t *testing.T, config any) *literllm.Client {
	t.Helper()
	c, err := literllm.NewClient(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// answering scripts a session that answers every request with this text.
func answering(t *testing.T, text string) (string, func() []mockupstream.Request) {
	return session(t, mockupstream.Script{Responses: []mockupstream.Response{{JSON: openAICompletion(text)}}, RepeatLast: true})
}

// waitForRequests waits until the session's journal holds n requests.
func waitForRequests(t *testing.T, journal func() []mockupstream.Request, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(journal()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d upstream requests after 5 s, want %d", len(journal()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertKind checks that err is a *literllm.Error of this kind whose message contains text.
func assertKind(t *testing.T, err error, kind literllm.Kind, text string) {
	t.Helper()
	var e *literllm.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want a *literllm.Error of kind %s", err, err, kind)
	}
	if e.Kind != kind || !strings.Contains(e.Message, text) {
		t.Errorf("err = %v, want kind %s with %q in the message", err, kind, text)
	}
}

// Three configurations in one process, used at once: two clients (one from a map, one from a
// file) and the default client (Configure). Each upstream sees only its own key and requests.
func TestClientsKeepTheirOwnConfiguration(t *testing.T) {
	const perTenant = 24
	type tenant struct {
		name, key string
		call      func(ctx context.Context, request literllm.Request) (*literllm.Response, error)
		journal   func() []mockupstream.Request
	}
	var tenants []tenant

	baseA, journalA := answering(t, "from a")
	a := newClient(t, openAIConfig("sk-test-tenant-a", baseA))
	tenants = append(tenants, tenant{"a", "sk-test-tenant-a", a.Completion, journalA})

	baseB, journalB := answering(t, "from b")
	file := filepath.Join(t.TempDir(), "liter-llm.toml")
	toml := fmt.Sprintf("[providers.openai]\napi_key = \"${LITER_LLM_TEST_KEY_B}\"\nbase_url = %q\nmax_retries = 0\n", baseB)
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LITER_LLM_TEST_KEY_B", "sk-test-tenant-b")
	b, err := literllm.NewClientFromFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tenants = append(tenants, tenant{"b", "sk-test-tenant-b", b.Completion, journalB})

	baseDefault, journalDefault := answering(t, "from default")
	if err := literllm.Configure(openAIConfig("sk-test-default", baseDefault)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := literllm.Configure(map[string]any{}); err != nil {
			t.Errorf("restoring the configuration: %v", err)
		}
	})
	tenants = append(tenants, tenant{"default", "sk-test-default", literllm.Completion, journalDefault})

	var wg sync.WaitGroup
	for i := range perTenant {
		for _, tn := range tenants {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Both ways a call is made: blocking (a ctx that is never done) and asynchronous.
				ctx := context.Background()
				if i%2 == 1 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
				}
				resp, err := tn.call(ctx, literllm.Request{Model: "openai/gpt-4o-mini", Prompt: fmt.Sprintf("%s-%d", tn.name, i)})
				if err != nil {
					t.Errorf("%s-%d: %v", tn.name, i, err)
				} else if got := resp.Choices[0].Message.Content; got != "from "+tn.name {
					t.Errorf("%s-%d was answered %q", tn.name, i, got)
				}
			}()
		}
	}
	wg.Wait()

	for _, tn := range tenants {
		requests := tn.journal()
		prompts := map[string]bool{}
		for _, r := range requests {
			if got := r.Headers["authorization"]; got != "Bearer "+tn.key {
				t.Errorf("the upstream of %s received authorization %q", tn.name, got)
			}
			var body struct {
				Messages []struct {
					Content string `json:"content"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(r.JSON, &body); err != nil || len(body.Messages) != 1 {
				t.Fatalf("the upstream of %s received %s", tn.name, r.Body)
			}
			prompts[body.Messages[0].Content] = true
		}
		for i := range perTenant {
			delete(prompts, fmt.Sprintf("%s-%d", tn.name, i))
		}
		if len(requests) != perTenant || len(prompts) != 0 {
			t.Errorf("the upstream of %s received %d requests, want %d; requests of others: %v", tn.name, len(requests), perTenant, prompts)
		}
	}
	waitForNativeCalls(t)
}

func TestNewClient(t *testing.T) {
	t.Run("nil discovers the configuration", func(t *testing.T) {
		baseURL, journal := answering(t, "from the file")
		file := filepath.Join(t.TempDir(), "custom.toml")
		if err := os.WriteFile(file, []byte(fmt.Sprintf("[providers.openai]\napi_key = \"sk-test-discovered\"\nbase_url = %q\n", baseURL)), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("LITER_LLM_CONFIG", file)
		c := newClient(t, nil)
		resp, err := c.Completion(context.Background(), literllm.Request{Model: "openai/gpt-4o-mini", Prompt: "x"})
		if err != nil || resp.Choices[0].Message.Content != "from the file" {
			t.Fatalf("%v, %+v", err, resp)
		}
		if got := journal()[0].Headers["authorization"]; got != "Bearer sk-test-discovered" {
			t.Errorf("authorization %q", got)
		}
	})

	t.Run("an invalid configuration", func(t *testing.T) {
		c, err := literllm.NewClient(json.RawMessage(`{"defaults": {"timeout": "soon"}}`))
		assertKind(t, err, literllm.KindInvalidRequest, "timeout")
		if c != nil {
			t.Errorf("a client came with the error")
		}
		missing := filepath.Join(t.TempDir(), "missing.toml")
		_, err = literllm.NewClientFromFile(missing)
		assertKind(t, err, literllm.KindInvalidRequest, missing)
	})

	t.Run("misuse is a Go error", func(t *testing.T) {
		misuses := map[string]func() error{
			"a nil map":     func() error { _, err := literllm.NewClient(map[string]any(nil)); return err },
			"not an object": func() error { _, err := literllm.NewClient([]int{1}); return err },
			"a channel":     func() error { _, err := literllm.NewClient(map[string]any{"x": make(chan int)}); return err },
			"NUL in a path": func() error { _, err := literllm.NewClientFromFile("liter\x00llm.toml"); return err },
		}
		for name, misuse := range misuses {
			var e *literllm.Error
			if err := misuse(); err == nil || errors.As(err, &e) || !strings.HasPrefix(err.Error(), "literllm: ") {
				t.Errorf("%s: %v, want a Go error from this package", name, err)
			}
		}
	})
}

// Closing a client ends what runs on it: a blocking call, an asynchronous call and a stream all
// end with kind cancelled, and their upstream connections are closed.
func TestClosingAClientCancelsWhatRunsOnIt(t *testing.T) {
	baseURL, journal := session(t, mockupstream.Script{
		Responses:  []mockupstream.Response{{JSON: openAICompletion("late"), DelayMS: 5000}},
		RepeatLast: true,
	})
	streamURL, streamJournal := slowStream(t)
	c := newClient(t, openAIConfig(testKey, baseURL))

	errs := make(chan error, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ctx := range []context.Context{context.Background(), ctx} {
		go func() {
			_, err := c.Completion(ctx, literllm.Request{Model: "openai/gpt-4o-mini", Prompt: "x"})
			errs <- err
		}()
	}
	stream, err := c.StreamInvoke(context.Background(), "openai", map[string]any{"model": "gpt-4o-mini", "prompt": "x", "base_url": streamURL})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	next, stop := iter.Pull2(stream.All())
	defer stop()
	if chunk, err, ok := next(); !ok || err != nil || chunk.Choices[0].Delta.Content != "first" {
		t.Fatalf("first chunk: %+v, %v, %v", chunk, err, ok)
	}
	waitForRequests(t, journal, 2)

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-errs:
			assertKind(t, err, literllm.KindCancelled, "")
			if !errors.Is(err, literllm.ErrCancelled) || !errors.Is(err, context.Canceled) {
				t.Errorf("errors.Is does not see the cancellation of %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a call still runs 5 s after its client was closed")
		}
	}
	_, err, ok := next()
	if !ok {
		t.Fatal("the stream ended without an error")
	}
	assertKind(t, err, literllm.KindCancelled, "")
	if _, _, ok := next(); ok {
		t.Error("the stream yielded after its error")
	}
	waitForNativeCalls(t)
	assertConnectionClosed(t, streamJournal)
	for _, r := range waitForOutcomes(t, journal) {
		if r.Outcome != "client_closed" {
			t.Errorf("an upstream answer ended %q, want client_closed", r.Outcome)
		}
	}
}

func TestAClosedClient(t *testing.T) {
	c, err := literllm.NewClient(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	request := literllm.Request{Model: "mock/m", Prompt: "x"}
	if _, err := c.Completion(context.Background(), request); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	_, err = c.Completion(context.Background(), request)
	assertKind(t, err, literllm.KindInvalidRequest, "Client was closed")
	if !errors.Is(err, literllm.ErrInvalidRequest) {
		t.Errorf("errors.Is(%v, ErrInvalidRequest) is false", err)
	}
	_, err = c.Stream(context.Background(), request)
	assertKind(t, err, literllm.KindInvalidRequest, "Client was closed")

	// The library's own answer for the freed handle, with and without a callback.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ctx := range []context.Context{context.Background(), ctx} {
		_, err = literllm.InvokeOnHandle(ctx, literllm.ClientID(c), "", request)
		assertKind(t, err, literllm.KindInvalidRequest, "does not exist or was freed")
	}
}

// freed reports whether the library no longer knows the client handle id.
func freed(t *testing.T, id uint64) bool {
	t.Helper()
	_, err := literllm.InvokeOnHandle(context.Background(), id, "mock", map[string]any{"model": "m", "prompt": "x"})
	var e *literllm.Error
	if errors.As(err, &e) && e.Kind == literllm.KindInvalidRequest && strings.Contains(e.Message, "does not exist or was freed") {
		return true
	}
	if err != nil {
		t.Fatalf("a call on client %d: %v", id, err)
	}
	return false
}

// waitUntilFreed collects garbage until the client handle id is freed.
func waitUntilFreed(t *testing.T, id uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !freed(t, id) {
		if time.Now().After(deadline) {
			t.Fatalf("client %d was not freed 5 s after it was dropped", id)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestADroppedClientIsFreedByItsFinalizer(t *testing.T) {
	id := func() uint64 {
		c, err := literllm.NewClient(map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Completion(context.Background(), literllm.Request{Model: "mock/m", Prompt: "x"}); err != nil {
			t.Fatal(err)
		}
		return literllm.ClientID(c)
	}()
	waitUntilFreed(t, id)
}

// A stream holds its client: dropping the client while the stream runs does not cancel it; once
// the stream has ended, the client can be collected.
func TestAStreamKeepsItsClientAlive(t *testing.T) {
	baseURL, _ := session(t, mockupstream.Script{Responses: []mockupstream.Response{{
		Headers: map[string]string{"content-type": "text/event-stream"},
		Chunks: []mockupstream.Chunk{
			{Data: sse(t, openAIChunk(map[string]any{"role": "assistant", "content": "first"}, nil, nil))},
			{Data: sse(t, openAIChunk(map[string]any{"content": " late"}, nil, nil)), DelayMS: 300},
			{Data: "data: [DONE]\n\n"},
		},
	}}})
	var id uint64
	stream := func() *literllm.ChunkStream {
		c, err := literllm.NewClient(openAIConfig(testKey, baseURL))
		if err != nil {
			t.Fatal(err)
		}
		id = literllm.ClientID(c)
		stream, err := c.StreamInvoke(context.Background(), "openai", map[string]any{"model": "gpt-4o-mini", "prompt": "x"})
		if err != nil {
			t.Fatal(err)
		}
		return stream
	}()
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if freed(t, id) {
		t.Fatal("the client was freed while its stream ran")
	}
	chunks, err := collect(t, stream)
	if err != nil || contentOf(chunks) != "first late" {
		t.Fatalf("chunks %q, err %v", contentOf(chunks), err)
	}
	waitUntilFreed(t, id)
}
