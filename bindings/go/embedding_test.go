package literllm_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

// b64 is [0.5, -1.0, 0.25] as little-endian float32s, in base64.
const b64 = "AAAAPwAAgL8AAIA+"

func embeddingList(embedding any) map[string]any {
	return map[string]any{
		"object": "list", "model": "text-embedding-3-small",
		"data":  []any{map[string]any{"object": "embedding", "index": 0, "embedding": embedding}},
		"usage": map[string]any{"prompt_tokens": 2, "total_tokens": 2},
	}
}

func TestEmbeddingDecodesBase64ForFloatsAndPassesItThrough(t *testing.T) {
	baseURL, journal := session(t, reply(200, embeddingList(b64)))
	ctx := context.Background()
	resp, err := literllm.Embedding(ctx, literllm.EmbeddingRequest{
		Model: "openai/text-embedding-3-small", Input: []string{"hello"}, Dimensions: 3, APIKey: testKey, BaseURL: baseURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Object != "list" || resp.Model != "text-embedding-3-small" || resp.Usage.PromptTokens != 2 || resp.ServedBy.Provider != "openai" {
		t.Errorf("response = %+v", resp)
	}
	if len(resp.Data) != 1 || !reflect.DeepEqual(resp.Data[0].Vector, []float64{0.5, -1, 0.25}) || resp.Data[0].Base64 != "" {
		t.Errorf("data = %+v", resp.Data)
	}
	baseURL, journal2 := session(t, reply(200, embeddingList(b64)))
	resp, err = literllm.Embedding(ctx, literllm.EmbeddingRequest{
		Model: "openai/text-embedding-3-small", Input: "hello", EncodingFormat: "base64", APIKey: testKey, BaseURL: baseURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Data[0].Base64 != b64 || resp.Data[0].Vector != nil {
		t.Errorf("data = %+v", resp.Data)
	}
	var sent map[string]any
	if err := json.Unmarshal(journal()[0].JSON, &sent); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"model": "text-embedding-3-small", "input": []any{"hello"}, "dimensions": float64(3)}
	if got := journal()[0].Path; got != "/embeddings" || !reflect.DeepEqual(sent, want) {
		t.Errorf("sent %s %v", got, sent)
	}
	if !strings.Contains(string(journal2()[0].JSON), `"encoding_format":"base64"`) {
		t.Errorf("sent %s", journal2()[0].JSON)
	}
}

func TestEmbeddingOnAClientAndItsErrors(t *testing.T) {
	client, err := literllm.NewClient(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	resp, err := client.Embedding(context.Background(), literllm.EmbeddingRequest{Model: "mock/e", Input: []string{"a", "b"}, Dimensions: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || len(resp.Data[1].Vector) != 4 || resp.Data[1].Index != 1 {
		t.Errorf("data = %+v", resp.Data)
	}
	_, err = literllm.Embedding(context.Background(), literllm.EmbeddingRequest{Model: "anthropic/claude-x", Input: "x", APIKey: testKey})
	var e *literllm.Error
	if !errors.As(err, &e) || e.Kind != literllm.KindUnsupported || !strings.Contains(e.Message, "anthropic has no embeddings API") {
		t.Errorf("err = %v", err)
	}
	_, err = literllm.Embedding(context.Background(), literllm.EmbeddingRequest{Model: "mock/e", Input: "x", Extra: map[string]any{"operation": "chat"}})
	if err == nil || !strings.Contains(err.Error(), "repeats a field") {
		t.Errorf("err = %v", err)
	}
}
