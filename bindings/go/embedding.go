package literllm

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"time"
)

// EmbeddingRequest is an OpenAI-shaped embeddings request (docs/embeddings.md). It is sent as
// an "operation": "embedding" call through the same library entry points as chat, so retries,
// fallbacks, rate limits and the cache apply as they do to chat.
type EmbeddingRequest struct {
	// Provider names the adapter; "" routes by the prefix of Model ("openai/text-embedding-3-small").
	Provider string `json:"-"`

	Model string `json:"model,omitempty"`
	// Input is the text or texts to embed: a string or a []string.
	Input      any `json:"input,omitempty"`
	Dimensions int `json:"dimensions,omitempty"`
	// EncodingFormat is "float" (the default) or "base64": how each vector comes back.
	EncodingFormat string `json:"encoding_format,omitempty"`
	// InputType is Cohere's and Gemini's task hint ("search_document", "search_query",
	// "classification", "clustering").
	InputType string `json:"input_type,omitempty"`
	User      string `json:"user,omitempty"`

	APIKey     string        `json:"api_key,omitempty"`
	BaseURL    string        `json:"base_url,omitempty"`
	Timeout    time.Duration `json:"-"`
	MaxRetries *int          `json:"max_retries,omitempty"`
	Fallbacks  []string      `json:"fallbacks,omitempty"`

	// Extra holds any other request field, merged into the JSON as it is.
	Extra map[string]any `json:"-"`
}

type embeddingFields EmbeddingRequest

// MarshalJSON writes the request as the library reads it, with "operation": "embedding".
func (r EmbeddingRequest) MarshalJSON() ([]byte, error) {
	data, err := json.Marshal(embeddingFields(r))
	if err != nil {
		return nil, err
	}
	set, closing, _ := objectMembers(data) // json.Marshal wrote an object
	added := []rawMember{{"operation", []byte(`"embedding"`)}}
	if r.Timeout != 0 {
		added = append(added, rawMember{"timeout", seconds(r.Timeout)})
	}
	for _, key := range slices.Sorted(maps.Keys(r.Extra)) {
		taken := key == "operation" || (key == "timeout" && r.Timeout != 0)
		for _, m := range set {
			taken = taken || m.key == key
		}
		if taken {
			return nil, fmt.Errorf("literllm: EmbeddingRequest.Extra[%q] repeats a field the request already sets; set it in one place", key)
		}
		encoded, err := json.Marshal(r.Extra[key])
		if err != nil {
			return nil, fmt.Errorf("literllm: EmbeddingRequest.Extra[%q]: %w", key, err)
		}
		added = append(added, rawMember{key, encoded})
	}
	return appendMembers(data, closing, len(set) > 0, added), nil
}

// EmbeddingResponse is OpenAI's embedding list, whichever provider served the call. Raw is the
// JSON exactly as the library returned it.
type EmbeddingResponse struct {
	Object   string          `json:"object"`
	Data     []EmbeddingData `json:"data"`
	Model    string          `json:"model"`
	Usage    EmbeddingUsage  `json:"usage"`
	ServedBy ServedBy        `json:"liter_llm"`

	Raw json.RawMessage `json:"-"`
}

// EmbeddingData is one vector, in input order: Vector for "float" requests, Base64 (little-endian
// float32s) for "base64" ones.
type EmbeddingData struct {
	Object string
	Index  int
	Vector []float64
	Base64 string
}

// UnmarshalJSON reads `embedding` as an array of numbers or as base64 text.
func (e *EmbeddingData) UnmarshalJSON(data []byte) error {
	var raw struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	e.Object, e.Index = raw.Object, raw.Index
	if len(raw.Embedding) > 0 && raw.Embedding[0] == '"' {
		return json.Unmarshal(raw.Embedding, &e.Base64)
	}
	return json.Unmarshal(raw.Embedding, &e.Vector)
}

// EmbeddingUsage counts the input tokens (0 when the provider reports none).
type EmbeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// Embedding embeds request.Input on the default client: literllm.Embedding(ctx,
// literllm.EmbeddingRequest{Model: "openai/text-embedding-3-small", Input: []string{"a", "b"}}).
// Errors are as for Invoke.
func Embedding(ctx context.Context, request EmbeddingRequest) (*EmbeddingResponse, error) {
	return embedding(ctx, 0, request)
}

// Embedding is the package's Embedding on this client.
func (c *Client) Embedding(ctx context.Context, request EmbeddingRequest) (*EmbeddingResponse, error) {
	if c.isClosed() {
		return nil, errClientClosed()
	}
	resp, err := embedding(ctx, c.id, request)
	runtime.KeepAlive(c) // the finalizer must not free the client during the call
	return resp, err
}

func embedding(ctx context.Context, client uint64, request EmbeddingRequest) (*EmbeddingResponse, error) {
	data, err := call(ctx, client, request.Provider, request)
	if err != nil {
		return nil, err
	}
	resp := &EmbeddingResponse{}
	if err := json.Unmarshal(data, resp); err != nil {
		return nil, &Error{
			Kind:    KindInternal,
			Message: "liter-llm returned an embedding response that does not decode (a bug in liter-llm; please report it): " + err.Error(),
		}
	}
	resp.Raw = data
	return resp, nil
}
