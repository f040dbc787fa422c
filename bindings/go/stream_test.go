package literllm_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
	"github.com/liter-llm/liter-llm/bindings/go/mockupstream"
)

// sse is one server-sent event carrying value as JSON.
func sse(t *testing.T, value any) string {
	t.Helper()
	data, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	return "data: " + string(data) + "\n\n"
}

// openAIChunk is an OpenAI chat.completion.chunk with this delta.
func openAIChunk(delta map[string]any, finish any, usage any) map[string]any {
	chunk := map[string]any{
		"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini",
		"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
	}
	if usage != nil {
		chunk["usage"] = usage
		chunk["choices"] = []any{}
	}
	return chunk
}

// collect ranges over the stream and returns its chunks and the error yielded, if any.
func collect(t *testing.T, stream *literllm.ChunkStream) ([]literllm.Chunk, error) {
	t.Helper()
	var chunks []literllm.Chunk
	for chunk, err := range stream.All() {
		if err != nil {
			if chunk.ID != "" || chunk.Raw != nil {
				t.Errorf("an error came with a chunk: %+v", chunk)
			}
			return chunks, err
		}
		chunks = append(chunks, chunk)
	}
	return chunks, nil
}

func contentOf(chunks []literllm.Chunk) string {
	var text strings.Builder
	for _, chunk := range chunks {
		for _, choice := range chunk.Choices {
			text.WriteString(choice.Delta.Content)
		}
	}
	return text.String()
}

func TestStreamMockProvider(t *testing.T) {
	stream, err := literllm.Stream(context.Background(), literllm.Request{
		Model: "mock/echo", Messages: []literllm.Message{literllm.UserMessage("Hi")}, MockResponse: "a b c",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	chunks, err := collect(t, stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 2 {
		t.Fatalf("%d chunks, want several", len(chunks))
	}
	if got := contentOf(chunks); got != "a b c" {
		t.Errorf("content = %q", got)
	}
	for _, chunk := range chunks {
		if chunk.Object != "chat.completion.chunk" || len(chunk.Raw) == 0 {
			t.Errorf("chunk = %+v", chunk)
		}
	}
	// The stream has ended: ranging again yields nothing, and Close stays harmless.
	for range stream.All() {
		t.Error("a second range yielded something")
	}
	if err := stream.Close(); err != nil {
		t.Error(err)
	}
	resp, err := literllm.AssembleChunks(chunks)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "a b c" || resp.Object != "chat.completion" {
		t.Errorf("assembled = %+v", resp)
	}
	waitForNativeCalls(t)
}

func TestStreamOpenAIThroughTheUpstream(t *testing.T) {
	usage := map[string]any{"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
	baseURL, journal := session(t, mockupstream.Script{Responses: []mockupstream.Response{{
		Headers: map[string]string{"content-type": "text/event-stream"},
		Chunks: []mockupstream.Chunk{
			{Data: sse(t, openAIChunk(map[string]any{"role": "assistant", "content": ""}, nil, nil))},
			{Data: sse(t, openAIChunk(map[string]any{"content": "Hello"}, nil, nil)), DelayMS: 20},
			{Data: sse(t, openAIChunk(map[string]any{"content": ", world"}, nil, nil))},
			{Data: sse(t, openAIChunk(map[string]any{}, "stop", nil))},
			{Data: sse(t, openAIChunk(nil, nil, usage))},
			{Data: "data: [DONE]\n\n"},
		},
	}}})
	stream, err := literllm.StreamInvoke(context.Background(), "openai", map[string]any{
		"model": "gpt-4o-mini", "messages": []any{map[string]any{"role": "user", "content": "Hi"}},
		"api_key": testKey, "base_url": baseURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	chunks, err := collect(t, stream)
	if err != nil {
		t.Fatal(err)
	}
	if got := contentOf(chunks); got != "Hello, world" {
		t.Errorf("content = %q", got)
	}
	last := chunks[len(chunks)-1]
	if last.Usage == nil || last.Usage.TotalTokens != 7 {
		t.Errorf("last chunk's usage = %+v", last.Usage)
	}
	resp, err := literllm.AssembleChunks(chunks)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Hello, world" || resp.Choices[0].FinishReason != "stop" || resp.Choices[0].Message.Role != "assistant" {
		t.Errorf("assembled choice = %+v", resp.Choices[0])
	}
	if resp.Usage.PromptTokens != 3 || resp.Usage.CompletionTokens != 4 || resp.Usage.TotalTokens != 7 {
		t.Errorf("assembled usage = %+v", resp.Usage)
	}
	if requests := journal(); len(requests) != 1 {
		t.Errorf("%d upstream requests, want 1", len(requests))
	}
	waitForNativeCalls(t)
}

func TestStreamDisconnectIsAnErrorAfterTheChunks(t *testing.T) {
	two := 2
	baseURL, _ := session(t, mockupstream.Script{Responses: []mockupstream.Response{{
		Headers: map[string]string{"content-type": "text/event-stream"},
		Chunks: []mockupstream.Chunk{
			{Data: sse(t, openAIChunk(map[string]any{"role": "assistant", "content": "one "}, nil, nil))},
			{Data: sse(t, openAIChunk(map[string]any{"content": "two"}, nil, nil))},
			{Data: sse(t, openAIChunk(map[string]any{"content": " three"}, nil, nil)), DelayMS: 50},
		},
		DisconnectAfterChunks: &two,
	}}})
	stream, err := literllm.StreamInvoke(context.Background(), "openai", map[string]any{
		"model": "gpt-4o-mini", "messages": []any{map[string]any{"role": "user", "content": "Hi"}},
		"api_key": testKey, "base_url": baseURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	chunks, err := collect(t, stream)
	if got := contentOf(chunks); got != "one two" {
		t.Errorf("content before the error = %q", got)
	}
	var e *literllm.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want a *literllm.Error", err, err)
	}
	if !errors.Is(err, literllm.ErrConnection) && !errors.Is(err, literllm.ErrBadResponse) {
		t.Errorf("err kind = %q (%v)", e.Kind, err)
	}
	waitForNativeCalls(t)
}

// slowStream scripts an upstream that sends one chunk, then waits 5 s before the next.
func slowStream(t *testing.T) (string, func() []mockupstream.Request) {
	return session(t, mockupstream.Script{Responses: []mockupstream.Response{{
		Headers: map[string]string{"content-type": "text/event-stream"},
		Chunks: []mockupstream.Chunk{
			{Data: sse(t, openAIChunk(map[string]any{"role": "assistant", "content": "first"}, nil, nil))},
			{Data: sse(t, openAIChunk(map[string]any{"content": "late"}, nil, nil)), DelayMS: 5000},
			{Data: "data: [DONE]\n\n"},
		},
	}}})
}

func TestStreamBreakCancels(t *testing.T) {
	baseURL, journal := slowStream(t)
	stream, err := literllm.StreamInvoke(context.Background(), "openai", map[string]any{
		"model": "gpt-4o-mini", "prompt": "x", "api_key": testKey, "base_url": baseURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	n := 0
	for chunk, err := range stream.All() {
		if err != nil {
			t.Fatal(err)
		}
		if chunk.Choices[0].Delta.Content != "first" {
			t.Errorf("chunk = %+v", chunk)
		}
		n++
		break
	}
	if n != 1 {
		t.Fatalf("%d chunks", n)
	}
	if elapsed := time.Since(started); elapsed > time.Second {
		t.Errorf("the loop took %v", elapsed)
	}
	waitForNativeCalls(t) // the native stream ended (cancelled) well before the 5 s chunk
	for range stream.All() {
		t.Error("a closed stream yielded")
	}
	if err := stream.Close(); err != nil {
		t.Error(err)
	}
	assertConnectionClosed(t, journal)
}

// waitForOutcomes waits until no request of the journal is pending any more and returns them.
func waitForOutcomes(t *testing.T, journal func() []mockupstream.Request) []mockupstream.Request {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		requests := journal()
		pending := 0
		for _, r := range requests {
			if r.Outcome == "pending" {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			return requests
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertConnectionClosed checks from the mock's journal that the one upstream request's
// connection was closed by the client, well before the slow stream's 5 s chunk.
func assertConnectionClosed(t *testing.T, journal func() []mockupstream.Request) {
	t.Helper()
	requests := waitForOutcomes(t, journal)
	if len(requests) != 1 {
		t.Fatalf("%d upstream requests, want 1", len(requests))
	}
	request := requests[0]
	if request.Outcome != "client_closed" || request.EndedAtMS == nil {
		t.Fatalf("the upstream answer ended %q, want client_closed", request.Outcome)
	}
	if open := *request.EndedAtMS - request.ReceivedAtMS; open > 2000 {
		t.Errorf("the connection stayed open %.0f ms", open)
	}
}

func TestStreamCloseFromAnotherGoroutine(t *testing.T) {
	baseURL, journal := slowStream(t)
	stream, err := literllm.StreamInvoke(context.Background(), "openai", map[string]any{
		"model": "gpt-4o-mini", "prompt": "x", "api_key": testKey, "base_url": baseURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(200*time.Millisecond, func() { stream.Close() })
	started := time.Now()
	chunks, err := collect(t, stream)
	if err != nil || contentOf(chunks) != "first" {
		t.Errorf("chunks %q, err %v", contentOf(chunks), err)
	}
	if elapsed := time.Since(started); elapsed > time.Second {
		t.Errorf("the loop took %v", elapsed)
	}
	waitForNativeCalls(t)
	assertConnectionClosed(t, journal)
}

func TestStreamContextCancel(t *testing.T) {
	t.Run("while waiting", func(t *testing.T) {
		baseURL, journal := slowStream(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stream, err := literllm.StreamInvoke(ctx, "openai", map[string]any{
			"model": "gpt-4o-mini", "prompt": "x", "api_key": testKey, "base_url": baseURL,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		time.AfterFunc(200*time.Millisecond, cancel)
		started := time.Now()
		chunks, err := collect(t, stream)
		if err != context.Canceled {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if contentOf(chunks) != "first" {
			t.Errorf("chunks before the cancel: %q", contentOf(chunks))
		}
		if elapsed := time.Since(started); elapsed > time.Second {
			t.Errorf("the loop took %v", elapsed)
		}
		waitForNativeCalls(t)
		assertConnectionClosed(t, journal)
	})

	t.Run("while nobody ranges", func(t *testing.T) {
		baseURL, _ := slowStream(t)
		ctx, cancel := context.WithCancel(context.Background())
		stream, err := literllm.StreamInvoke(ctx, "openai", map[string]any{
			"model": "gpt-4o-mini", "prompt": "x", "api_key": testKey, "base_url": baseURL,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		time.Sleep(100 * time.Millisecond)
		cancel()
		waitForNativeCalls(t) // cancelled without anyone ranging
		_, err = collect(t, stream)
		if err != context.Canceled {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		baseURL, _ := slowStream(t)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		stream, err := literllm.StreamInvoke(ctx, "openai", map[string]any{
			"model": "gpt-4o-mini", "prompt": "x", "api_key": testKey, "base_url": baseURL,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		started := time.Now()
		_, err = collect(t, stream)
		if err != context.DeadlineExceeded {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(started); elapsed > time.Second {
			t.Errorf("the loop took %v", elapsed)
		}
		waitForNativeCalls(t)
	})

	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := literllm.Stream(ctx, literllm.Request{Model: "mock/echo", Messages: []literllm.Message{literllm.UserMessage("x")}})
		if err != context.Canceled {
			t.Errorf("err = %v", err)
		}
	})
}

func TestStreamErrorBeforeTheFirstChunk(t *testing.T) {
	baseURL, _ := session(t, reply(401, map[string]any{"error": map[string]any{"message": "bad key", "type": "invalid_request_error"}}))
	stream, err := literllm.StreamInvoke(context.Background(), "openai", map[string]any{
		"model": "gpt-4o-mini", "prompt": "x", "api_key": testKey, "base_url": baseURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	chunks, err := collect(t, stream)
	if len(chunks) != 0 || !errors.Is(err, literllm.ErrAuthentication) {
		t.Errorf("%d chunks, err %v", len(chunks), err)
	}
	waitForNativeCalls(t)
}

func TestAssembleTypedChunks(t *testing.T) {
	// Chunks built in Go (no Raw) are encoded from their fields.
	resp, err := literllm.AssembleChunks([]literllm.Chunk{
		{ID: "c", Object: "chat.completion.chunk", Model: "m", Choices: []literllm.ChunkChoice{{Delta: literllm.Delta{Role: "assistant", Content: "x"}}}},
		{ID: "c", Object: "chat.completion.chunk", Model: "m", Choices: []literllm.ChunkChoice{{Delta: literllm.Delta{Content: "y"}, FinishReason: "stop"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "xy" || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("assembled = %+v", resp.Choices[0])
	}
}

func TestAbandonedStreamIsCancelled(t *testing.T) {
	baseURL, _ := slowStream(t)
	func() {
		_, err := literllm.StreamInvoke(context.Background(), "openai", map[string]any{
			"model": "gpt-4o-mini", "prompt": "x", "api_key": testKey, "base_url": baseURL,
		})
		if err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	for literllm.LiveCalls() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("an abandoned stream was not cancelled when collected")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
