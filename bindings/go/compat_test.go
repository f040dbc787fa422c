package literllm_test

import (
	"context"
	"math"
	"testing"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

// A model named without a provider prefix is inferred by the core, MockResponse answers for a
// real provider without a key or the network, and the answer carries its cost.
func TestMockResponseForAnInferredProviderCarriesItsCost(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "")
	resp, err := literllm.Completion(context.Background(), literllm.Request{
		Model:        "gpt-4o-mini",
		Messages:     []literllm.Message{literllm.UserMessage("Hello")},
		MockResponse: "hi",
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ServedBy.Provider != "openai" || resp.ServedBy.Model != "openai/gpt-4o-mini" || resp.ServedBy.Attempts != 0 {
		t.Fatalf("served by %+v", resp.ServedBy)
	}
	// 2 prompt tokens at $0.15 and 1 completion token at $0.60 per million.
	if c := resp.ServedBy.CostUSD; c == nil || math.Abs(*c-0.9e-6) > 1e-15 {
		t.Fatalf("cost %v", c)
	}
	if resp.Choices[0].Message.Content != "hi" || resp.Choices[0].Message.ReasoningContent != "" {
		t.Fatalf("message %+v", resp.Choices[0].Message)
	}

	unpriced, err := literllm.Completion(context.Background(), literllm.Request{Model: "mock/m", Prompt: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if unpriced.ServedBy.CostUSD != nil {
		t.Fatalf("an unpriced model has cost %v", *unpriced.ServedBy.CostUSD)
	}
}

// The usage chunk of a stream carries the cost; the others carry no meta without a cache.
func TestTheUsageChunkCarriesTheCost(t *testing.T) {
	stream, err := literllm.Stream(context.Background(), literllm.Request{
		Model: "claude-haiku-4-5", Prompt: "Hello", MockResponse: "a b",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var chunks []literllm.Chunk
	for chunk, err := range stream.All() {
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, chunk)
	}
	last := chunks[len(chunks)-1]
	if last.Usage == nil || last.Meta == nil || last.Meta.CostUSD == nil || math.Abs(*last.Meta.CostUSD-7e-6) > 1e-15 {
		t.Fatalf("last chunk %s", last.Raw)
	}
	for _, c := range chunks[:len(chunks)-1] {
		if c.Meta != nil {
			t.Fatalf("a chunk without usage has meta: %s", c.Raw)
		}
	}
}
