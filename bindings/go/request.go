package literllm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"
)

// Request is an OpenAI chat-completions request (docs/providers.md, "Request fields"), plus the
// fields that configure the call and are never sent upstream (APIKey, BaseURL, Timeout,
// MockResponse, DropParams, MaxRetries, Fallbacks).
//
// Zero values are left out of the JSON, so numbers whose zero is meaningful (Temperature, TopP,
// Seed, the penalties) are pointers; [Ptr] makes one. Any other field goes in Extra, which is
// merged into the JSON; a key of Extra that a set field also writes is an error.
type Request struct {
	// Provider names the adapter ("openai", "anthropic", "cohere", "mock"); "" routes by the
	// prefix of Model ("anthropic/claude-sonnet-4-5"). Not sent: it selects where the call goes.
	Provider string `json:"-"`

	Model               string          `json:"model,omitempty"`
	Messages            []Message       `json:"messages,omitempty"`
	Prompt              string          `json:"prompt,omitempty"` // shorthand for one user message; not with Messages
	MaxTokens           int             `json:"max_tokens,omitempty"`
	MaxCompletionTokens int             `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	Stop                []string        `json:"stop,omitempty"`
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          any             `json:"tool_choice,omitempty"` // "auto", "none", "required" or ToolChoiceFunction(name)
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	User                string          `json:"user,omitempty"`
	N                   int             `json:"n,omitempty"`
	PresencePenalty     *float64        `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty,omitempty"`

	// APIKey overrides the provider's key variable (OPENAI_API_KEY...) for this call.
	APIKey string `json:"api_key,omitempty"`
	// BaseURL overrides the provider's base URL variable (OPENAI_BASE_URL...) for this call.
	BaseURL string `json:"base_url,omitempty"`
	// Timeout bounds the whole call (sent as seconds); 0 means the library's default of 600 s,
	// or what remains of the context's deadline when it has one.
	Timeout time.Duration `json:"-"`
	// MockResponse is the text the mock provider answers with.
	MockResponse string `json:"mock_response,omitempty"`
	// DropParams drops fields a provider has no place for instead of rejecting the request.
	DropParams bool `json:"drop_params,omitempty"`
	// MaxRetries overrides how often the library retries (docs/configuration.md); Ptr(0) turns
	// retrying off. The library retries, never this package.
	MaxRetries *int `json:"max_retries,omitempty"`
	// Fallbacks are the models tried in turn when Model fails with a retryable kind of error
	// ("anthropic/claude-sonnet-4-5", ...).
	Fallbacks []string `json:"fallbacks,omitempty"`

	// Extra holds any other request field, merged into the JSON as it is.
	Extra map[string]any `json:"-"`
}

// requestFields has Request's JSON fields without its MarshalJSON method.
type requestFields Request

// requestWire is what Request.MarshalJSON encodes: its messages as messageOut, so the whole
// request encodes in one json.Marshal pass (a Message's own MarshalJSON would be a nested
// json.Marshal per message, whose output encoding/json then scans again). Messages hides
// requestFields' member of the same name (encoding/json prefers the shallower field).
type requestWire struct {
	requestFields
	Messages []messageOut `json:"messages,omitempty"`
}

// MarshalJSON writes the request as the library reads it: set fields, Timeout in seconds, and
// every member of Extra (in the order of their keys), in one encoding.
func (r Request) MarshalJSON() ([]byte, error) {
	wire := requestWire{requestFields: requestFields(r)}
	if r.Messages != nil {
		wire.Messages = make([]messageOut, len(r.Messages))
		for i, m := range r.Messages {
			out, err := m.out()
			if err != nil {
				return nil, err
			}
			wire.Messages[i] = out
		}
	}
	data, err := json.Marshal(wire)
	if err != nil || (r.Timeout == 0 && len(r.Extra) == 0) {
		return data, err
	}
	set, closing, _ := objectMembers(data) // json.Marshal wrote an object
	added := make([]rawMember, 0, len(r.Extra)+1)
	if r.Timeout != 0 {
		added = append(added, rawMember{"timeout", seconds(r.Timeout)})
	}
	for _, key := range slices.Sorted(maps.Keys(r.Extra)) {
		taken := key == "timeout" && r.Timeout != 0
		for _, m := range set {
			taken = taken || m.key == key
		}
		if taken {
			return nil, fmt.Errorf("literllm: Request.Extra[%q] repeats a field the Request already sets; set it in one place", key)
		}
		encoded, err := json.Marshal(r.Extra[key])
		if err != nil {
			return nil, fmt.Errorf("literllm: Request.Extra[%q]: %w", key, err)
		}
		added = append(added, rawMember{key, encoded})
	}
	return appendMembers(data, closing, len(set) > 0, added), nil
}

// Ptr returns a pointer to v, for the optional fields of Request: Temperature: literllm.Ptr(0.2).
func Ptr[T any](v T) *T { return &v }

// Message is one chat message, in a request or in a response.
//
// Content is the text. A response message with no text (only tool calls, say) has Content "",
// as in the official Go SDKs; Response.Raw shows whether it was null. For a request, Parts
// replaces Content with typed parts (text and images). An assistant message with ToolCalls and
// an empty Content is sent with "content": null, as OpenAI itself writes it, so a response
// message can be appended to the conversation as it is.
type Message struct {
	Role       string        `json:"role"`
	Content    string        `json:"-"`
	Parts      []ContentPart `json:"-"`
	Name       string        `json:"name,omitempty"`
	ToolCalls  []ToolCall    `json:"tool_calls,omitempty"`
	ToolCallID string        `json:"tool_call_id,omitempty"` // for role "tool": the call this answers
	// ReasoningContent is, in a response, the model's reasoning where the provider returns it
	// (Anthropic's and Cohere's thinking). It is never sent: providers reject reasoning in a
	// request.
	ReasoningContent string `json:"-"`
}

// messageFields has Message's JSON fields without its methods.
type messageFields Message

// MarshalJSON writes content as a string, an array of parts, or null (see Message).
func (m Message) MarshalJSON() ([]byte, error) {
	out, err := m.out()
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// messageOut is a Message as it is sent, content resolved (see Message.MarshalJSON).
type messageOut struct {
	messageFields
	Content any `json:"content"`
}

// out is m as it is sent: content a string, an array of parts, or null.
func (m Message) out() (messageOut, error) {
	if m.Content != "" && m.Parts != nil {
		return messageOut{}, fmt.Errorf("literllm: a %q message sets both Content and Parts; set one", m.Role)
	}
	var content any = m.Content
	switch {
	case m.Parts != nil:
		content = m.Parts
	case m.Content == "" && len(m.ToolCalls) > 0:
		content = nil
	}
	return messageOut{messageFields(m), content}, nil
}

// UnmarshalJSON reads content given as a string, null or an array of parts. A member whose JSON
// type does not fit is left zero rather than failing the whole message.
func (m *Message) UnmarshalJSON(data []byte) error {
	var wire messageWire
	if err := lenientUnmarshal(data, &wire); err != nil {
		return err
	}
	return wire.message(m)
}

// messageWire is a Message as JSON carries it, content undecoded. Decoding it needs no
// UnmarshalJSON of its own, so a response's messages decode in the response's own pass (see
// responseFromJSON) instead of one nested json.Unmarshal each, which validates the text again.
type messageWire struct {
	messageFields
	Content          json.RawMessage `json:"content"`
	ReasoningContent string          `json:"reasoning_content"`
}

// message sets m from w: content given as a string, null or an array of parts.
func (w *messageWire) message(m *Message) error {
	*m = Message(w.messageFields)
	m.ReasoningContent = w.ReasoningContent
	switch content := bytes.TrimSpace(w.Content); {
	case len(content) > 0 && content[0] == '"':
		if text, ok := plainJSONString(content); ok {
			m.Content = text
			return nil
		}
		return lenientUnmarshal(content, &m.Content)
	case len(content) > 0 && content[0] == '[':
		return lenientUnmarshal(content, &m.Parts)
	}
	return nil
}

// plainJSONString is the value of the JSON string text quoted when it has no escapes, control
// characters or invalid UTF-8, which encoding/json would decode as its bytes unchanged; ok is
// false otherwise (decode it with encoding/json).
func plainJSONString(quoted []byte) (string, bool) {
	if len(quoted) < 2 || quoted[len(quoted)-1] != '"' {
		return "", false
	}
	inner := quoted[1 : len(quoted)-1]
	for _, c := range inner {
		if c < ' ' || c == '\\' || c == '"' {
			return "", false
		}
	}
	if !utf8.Valid(inner) {
		return "", false
	}
	return string(inner), true
}

// SystemMessage is a "system" message with this text.
func SystemMessage(text string) Message { return Message{Role: "system", Content: text} }

// UserMessage is a "user" message with this text.
func UserMessage(text string) Message { return Message{Role: "user", Content: text} }

// AssistantMessage is an "assistant" message with this text.
func AssistantMessage(text string) Message { return Message{Role: "assistant", Content: text} }

// ToolMessage is a "tool" message answering the tool call toolCallID with content.
func ToolMessage(toolCallID, content string) Message {
	return Message{Role: "tool", ToolCallID: toolCallID, Content: content}
}

// ContentPart is one part of a message's content: {"type": "text", "text": ...} or
// {"type": "image_url", "image_url": {"url": ...}}.
type ContentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// ImageURL is an image given by URL, or inline as a data: URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// TextPart is a text content part.
func TextPart(text string) ContentPart { return ContentPart{Type: "text", Text: text} }

// ImagePart is an image content part; url may be a data: URL ("data:image/png;base64,...").
func ImagePart(url string) ContentPart {
	return ContentPart{Type: "image_url", ImageURL: &ImageURL{URL: url}}
}

// ToolCall is a call the model asks for, in an assistant message.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and carries its arguments as the model wrote them: JSON text.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Tool is a tool the model may call; make one with FunctionTool.
type Tool struct {
	Type     string             `json:"type"` // "function"
	Function FunctionDefinition `json:"function"`
}

// FunctionDefinition describes a function: Parameters is its JSON Schema (a map, a struct or
// json.RawMessage).
type FunctionDefinition struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Parameters  any    `json:"parameters,omitempty"`
}

// FunctionTool is a "function" tool.
func FunctionTool(name, description string, parameters any) Tool {
	return Tool{Type: "function", Function: FunctionDefinition{Name: name, Description: description, Parameters: parameters}}
}

// ToolChoiceFunction is the Request.ToolChoice that makes the model call the function name.
func ToolChoiceFunction(name string) any {
	return map[string]any{"type": "function", "function": map[string]any{"name": name}}
}

// ResponseFormat asks for JSON output: Type "json_object", or "json_schema" with JSONSchema.
type ResponseFormat struct {
	Type       string            `json:"type"`
	JSONSchema *JSONSchemaFormat `json:"json_schema,omitempty"`
}

// JSONSchemaFormat is the schema of a "json_schema" response format.
type JSONSchemaFormat struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Schema      any    `json:"schema"`
	Strict      *bool  `json:"strict,omitempty"`
}
