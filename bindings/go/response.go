package literllm

import (
	"encoding/json"
	"errors"
)

// Response is an OpenAI chat.completion, whichever provider served the call (docs/providers.md
// gives each provider's mapping). Raw is the JSON exactly as the library returned it: fields
// this struct does not name are there, and a field whose JSON type did not fit its Go type
// (possible with OpenAI-compatible servers, whose bodies are passed through) is zero in the
// struct but intact in Raw.
type Response struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []Choice `json:"choices"`
	Usage             Usage    `json:"usage"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
	ServedBy          ServedBy `json:"liter_llm"` // what served the call, after retries and fallbacks

	Raw json.RawMessage `json:"-"`
}

// ServedBy says which provider and model ("provider/model") answered, and after how many HTTP attempts (0 for the
// mock provider, which makes none).
type ServedBy struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Attempts int    `json:"attempts"`
	// Cache says what the response cache did for the call (docs/cache.md): "off", "bypass",
	// "miss", "hit-l1" or "hit-l2".
	Cache string `json:"cache"`
	// CostUSD is what the answer cost in US dollars at the model's price (docs/cost.md): nil
	// when the model has no price, 0 for an answer from the response cache.
	CostUSD *float64 `json:"cost_usd"`
}

// Choice is one answer; the library asks for one, so Choices[0] is the answer.
type Choice struct {
	Index        int     `json:"index"`
	Message      Message `json:"message"`
	FinishReason string  `json:"finish_reason"` // "stop", "length", "tool_calls" or "content_filter"
}

// Usage counts tokens; all zero when the provider did not report usage.
type Usage struct {
	PromptTokens        int                  `json:"prompt_tokens"`
	CompletionTokens    int                  `json:"completion_tokens"`
	TotalTokens         int                  `json:"total_tokens"`
	PromptTokensDetails *PromptTokensDetails `json:"prompt_tokens_details,omitempty"`
	// CacheCreationInputTokens counts the prompt tokens written to the provider's prompt cache
	// (Anthropic), part of PromptTokens.
	CacheCreationInputTokens int `json:"cache_creation_input_tokens,omitempty"`
}

// PromptTokensDetails breaks the prompt tokens down (Anthropic's cache reads, for one).
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// lenientUnmarshal is json.Unmarshal that keeps going past members whose JSON type does not fit
// their Go type (leaving them zero) instead of failing; malformed JSON is still an error.
func lenientUnmarshal(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return nil
	}
	return err
}

// responseWire is a Response as JSON carries it, with its messages as messageWire: the whole
// response decodes in one json.Unmarshal pass. The members named here hide Response's own of the
// same name (encoding/json prefers the shallower field).
type responseWire struct {
	responseFields
	Choices []choiceWire `json:"choices"`
}

type (
	responseFields Response
	choiceFields   Choice
)

type choiceWire struct {
	choiceFields
	Message messageWire `json:"message"`
}

// responseFromJSON decodes a successful result: by hand when fastResponse understands all of
// it (the core's own answers), with encoding/json otherwise.
func responseFromJSON(data []byte) (*Response, error) {
	if resp, ok := fastResponse(data); ok {
		return resp, nil
	}
	return responseFromJSONReflect(data)
}

// responseFromJSONReflect decodes a successful result with encoding/json.
func responseFromJSONReflect(data []byte) (*Response, error) {
	var wire responseWire
	err := lenientUnmarshal(data, &wire)
	resp := (*Response)(&wire.responseFields)
	if err == nil && wire.Choices != nil {
		resp.Choices = make([]Choice, len(wire.Choices))
		for i := range wire.Choices {
			resp.Choices[i] = Choice(wire.Choices[i].choiceFields)
			if err = wire.Choices[i].Message.message(&resp.Choices[i].Message); err != nil {
				break
			}
		}
	}
	if err != nil {
		return nil, &Error{
			Kind:    KindInternal,
			Message: "liter-llm returned a response that is not JSON (a bug in liter-llm; please report it): " + err.Error(),
		}
	}
	resp.Raw = data
	return resp, nil
}
