//go:build testpanic

package literllm_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

// With the build tag testpanic the package links the library built with the cargo feature
// test-panic, in which every export (and the task of an asynchronous call or stream) panics on
// purpose for this provider. A panic must come back as an internal error, never abort the
// process.
const panicProvider = "__liter_llm_test_panic__"

func TestAPanicInTheLibraryIsAnInternalError(t *testing.T) {
	request := map[string]any{"model": "m", "prompt": "x"}
	c := newClient(t, map[string]any{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	type target struct {
		name   string
		invoke func(context.Context, string, any) (*literllm.Response, error)
		stream func(context.Context, string, any) (*literllm.ChunkStream, error)
	}
	for _, on := range []target{{"the default client", literllm.Invoke, literllm.StreamInvoke}, {"a client", c.Invoke, c.StreamInvoke}} {
		// The blocking call (a ctx that is never done) and the asynchronous one.
		for _, ctx := range []context.Context{context.Background(), ctx} {
			_, err := on.invoke(ctx, panicProvider, request)
			assertKind(t, err, literllm.KindInternal, "")
		}
		stream, err := on.stream(ctx, panicProvider, request)
		if err != nil {
			t.Fatalf("%s: %v", on.name, err)
		}
		chunks, err := collect(t, stream)
		if len(chunks) != 0 {
			t.Errorf("%s: %d chunks before the panic", on.name, len(chunks))
		}
		assertKind(t, err, literllm.KindInternal, "")
		stream.Close()

		// The library goes on working.
		resp, err := on.invoke(ctx, "mock", request)
		if err != nil || resp.Choices[0].Message.Content == "" {
			t.Errorf("%s after the panics: %v", on.name, err)
		}
	}

	// The exports without a provider panic for the same string as their configuration.
	_, err := literllm.NewClientFromFile(panicProvider)
	assertKind(t, err, literllm.KindInternal, "")
	assertKind(t, literllm.Configure(json.RawMessage(panicProvider)), literllm.KindInternal, "")
	waitForNativeCalls(t)
}
