package main

// The checks only Go can make (RUNNER_CONTRACT.md, "Drivers": native findings): a *literllm.Error
// mirrors its error object and matches its kind's sentinel with errors.Is, and the typed
// Response and Chunk fields say what their Raw JSON says.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

// sentinels is the Go sentinel of each kind of docs/errors.md.
var sentinels = map[string]error{
	"invalid_request":      literllm.ErrInvalidRequest,
	"authentication":       literllm.ErrAuthentication,
	"permission_denied":    literllm.ErrPermissionDenied,
	"not_found":            literllm.ErrNotFound,
	"rate_limited":         literllm.ErrRateLimited,
	"timeout":              literllm.ErrTimeout,
	"connection":           literllm.ErrConnection,
	"provider_unavailable": literllm.ErrProviderUnavailable,
	"bad_response":         literllm.ErrBadResponse,
	"unsupported":          literllm.ErrUnsupported,
	"cancelled":            literllm.ErrCancelled,
	"internal":             literllm.ErrInternal,
}

// errorBody is the error object of docs/errors.md that e carries in Raw (only its kind and
// message when it has none, which the error shape check then reports).
func errorBody(e *literllm.Error) (any, error) {
	if e.Raw == nil {
		return map[string]any{"kind": string(e.Kind), "message": e.Message}, nil
	}
	body, err := decodeJSON(e.Raw)
	if err != nil {
		return nil, fmt.Errorf("the error's Raw is not JSON: %v", err)
	}
	return body, nil
}

// goErrorProblems checks the Go binding's contract for errors: the *literllm.Error fields mirror
// the error object (null being the zero value), errors.Is matches the sentinel of its kind and no
// other (a timeout is also a connection error), and Error() reads "literllm: <kind>: <message>".
func goErrorProblems(err error, e *literllm.Error, body any) []string {
	object, ok := body.(map[string]any)
	if !ok {
		return nil
	}
	var problems []string
	mirror := func(field string, got any, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			problems = append(problems, fmt.Sprintf("Error.%s is %v but the error object has %s", field, got, show(object[strings.ToLower(field)])))
		}
	}
	kind, _ := object["kind"].(string)
	mirror("Kind", e.Kind, kind)
	message, _ := object["message"].(string)
	mirror("Message", e.Message, message)
	status := 0
	if n, ok := object["status"].(json.Number); ok {
		f, _ := toFloat(n)
		status = int(f)
	}
	mirror("Status", e.Status, status)
	provider, _ := object["provider"].(string)
	mirror("Provider", e.Provider, provider)
	var retryAfter time.Duration
	if n, ok := object["retry_after"].(json.Number); ok {
		if f, _ := toFloat(n); f > 0 {
			retryAfter = time.Duration(math.Round(f * float64(time.Second)))
		}
	}
	if e.RetryAfter != retryAfter {
		problems = append(problems, fmt.Sprintf("Error.RetryAfter is %v but the error object has %s", e.RetryAfter, show(object["retry_after"])))
	}
	attempts := 0
	if n, ok := object["attempts"].(json.Number); ok {
		f, _ := toFloat(n)
		attempts = int(f)
	}
	mirror("Attempts", e.Attempts, attempts)
	if got, want := triedJSON(e.Tried), jsonText(object["tried"]); got != want {
		problems = append(problems, fmt.Sprintf("Error.Tried is %s but the error object has %s", got, want))
	}
	if got, want := providerErrorJSON(e.ProviderError), jsonText(object["provider_error"]); got != want {
		problems = append(problems, fmt.Sprintf("Error.ProviderError is %s but the error object has %s", got, want))
	}
	if want := "literllm: " + kind + ": " + message; err.Error() != want {
		problems = append(problems, fmt.Sprintf("Error() is %q, want %q", err.Error(), want))
	}
	for sentinelKind, sentinel := range sentinels {
		want := sentinelKind == kind || (sentinelKind == "connection" && kind == "timeout")
		if errors.Is(err, sentinel) != want {
			problems = append(problems, fmt.Sprintf("errors.Is(err, literllm.%v) is %v for a %s error", sentinel, !want, kind))
		}
	}
	return problems
}

func providerErrorJSON(pe *literllm.ProviderError) string {
	if pe == nil {
		return "null"
	}
	object := map[string]any{"type": nilIfEmpty(pe.Type), "message": nilIfEmpty(pe.Message), "code": nil}
	if pe.Code != nil {
		encoded, _ := json.Marshal(pe.Code)
		object["code"], _ = decodeJSON(encoded)
	}
	return jsonText(object)
}

// triedJSON is Error.Tried as the error object writes it (0 and "" being null).
func triedJSON(tried []literllm.TriedModel) string {
	if tried == nil {
		return "null"
	}
	items := make([]any, len(tried))
	for i, model := range tried {
		var status any
		if model.Status != 0 {
			status = json.Number(fmt.Sprint(model.Status))
		}
		items[i] = map[string]any{
			"provider": nilIfEmpty(model.Provider), "model": model.Model, "kind": string(model.Kind),
			"status": status, "attempts": json.Number(fmt.Sprint(model.Attempts)),
		}
	}
	return jsonText(items)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// typedResponseProblems checks that the typed Response says what its Raw JSON says, for the
// fields it names (where the JSON has the documented types).
func typedResponseProblems(resp *literllm.Response, body any) []string {
	raw, _ := body.(map[string]any)
	var problems []string
	check := func(what string, got any, want any) {
		if want != nil && fmt.Sprint(got) != fmt.Sprint(want) {
			problems = append(problems, fmt.Sprintf("Response.%s is %v but the JSON has %v", what, got, want))
		}
	}
	check("ID", resp.ID, jsonString(raw["id"]))
	check("Model", resp.Model, jsonString(raw["model"]))
	check("Created", resp.Created, jsonInteger(raw["created"]))
	choices, _ := raw["choices"].([]any)
	if len(resp.Choices) != len(choices) {
		return append(problems, fmt.Sprintf("Response.Choices has %d items but the JSON has %d", len(resp.Choices), len(choices)))
	}
	for i, item := range choices {
		choice, _ := item.(map[string]any)
		message, _ := choice["message"].(map[string]any)
		typed := resp.Choices[i]
		at := fmt.Sprintf("Choices[%d].", i)
		check(at+"FinishReason", typed.FinishReason, jsonString(choice["finish_reason"]))
		check(at+"Message.Role", typed.Message.Role, jsonString(message["role"]))
		check(at+"Message.Content", typed.Message.Content, jsonString(message["content"]))
		calls, _ := message["tool_calls"].([]any)
		if len(typed.Message.ToolCalls) != len(calls) {
			problems = append(problems, fmt.Sprintf("Response.%sMessage.ToolCalls has %d items but the JSON has %d", at, len(typed.Message.ToolCalls), len(calls)))
			continue
		}
		for j, rawCall := range calls {
			call, _ := rawCall.(map[string]any)
			function, _ := call["function"].(map[string]any)
			typedCall := typed.Message.ToolCalls[j]
			callAt := fmt.Sprintf("%sMessage.ToolCalls[%d].", at, j)
			check(callAt+"ID", typedCall.ID, jsonString(call["id"]))
			check(callAt+"Function.Name", typedCall.Function.Name, jsonString(function["name"]))
			check(callAt+"Function.Arguments", typedCall.Function.Arguments, jsonString(function["arguments"]))
		}
	}
	served, _ := raw["liter_llm"].(map[string]any)
	check("ServedBy.Provider", resp.ServedBy.Provider, jsonString(served["provider"]))
	check("ServedBy.Model", resp.ServedBy.Model, jsonString(served["model"]))
	check("ServedBy.Attempts", resp.ServedBy.Attempts, jsonInteger(served["attempts"]))
	usage, _ := raw["usage"].(map[string]any)
	check("Usage.PromptTokens", resp.Usage.PromptTokens, jsonInteger(usage["prompt_tokens"]))
	check("Usage.CompletionTokens", resp.Usage.CompletionTokens, jsonInteger(usage["completion_tokens"]))
	check("Usage.TotalTokens", resp.Usage.TotalTokens, jsonInteger(usage["total_tokens"]))
	return problems
}

// jsonString is the Go string a JSON string (or null, or nothing) decodes to; nil, to skip the
// check, for any other JSON value.
func jsonString(v any) any {
	switch s := v.(type) {
	case string:
		return s
	case nil:
		return ""
	}
	return nil
}

// jsonInteger is an integer literal as fmt.Sprint writes the Go integer it decodes to; nil, to
// skip the check, for any other JSON value.
func jsonInteger(v any) any {
	if n, ok := v.(json.Number); ok && isIntegerLiteral(n) {
		return string(n)
	}
	return nil
}

// typedChunkProblems checks that a typed Chunk says what its Raw JSON says, for the fields it
// names (where the JSON has the documented types), as typedResponseProblems does for a
// response. at names the chunk.
func typedChunkProblems(at string, chunk literllm.Chunk, body any) []string {
	raw, _ := body.(map[string]any)
	var problems []string
	check := func(what string, got any, want any) {
		if want != nil && fmt.Sprint(got) != fmt.Sprint(want) {
			problems = append(problems, fmt.Sprintf("%s%s is %v but the JSON has %v", at, what, got, want))
		}
	}
	check("ID", chunk.ID, jsonString(raw["id"]))
	check("Object", chunk.Object, jsonString(raw["object"]))
	check("Model", chunk.Model, jsonString(raw["model"]))
	check("Created", chunk.Created, jsonInteger(raw["created"]))
	choices, _ := raw["choices"].([]any)
	if len(chunk.Choices) != len(choices) {
		return append(problems, fmt.Sprintf("%sChoices has %d items but the JSON has %d", at, len(chunk.Choices), len(choices)))
	}
	for i, item := range choices {
		choice, _ := item.(map[string]any)
		delta, _ := choice["delta"].(map[string]any)
		typed := chunk.Choices[i]
		choiceAt := fmt.Sprintf("Choices[%d].", i)
		check(choiceAt+"Index", typed.Index, jsonInteger(choice["index"]))
		check(choiceAt+"FinishReason", typed.FinishReason, jsonString(choice["finish_reason"]))
		check(choiceAt+"Delta.Role", typed.Delta.Role, jsonString(delta["role"]))
		check(choiceAt+"Delta.Content", typed.Delta.Content, jsonString(delta["content"]))
		calls, _ := delta["tool_calls"].([]any)
		if len(typed.Delta.ToolCalls) != len(calls) {
			problems = append(problems, fmt.Sprintf("%s%sDelta.ToolCalls has %d items but the JSON has %d", at, choiceAt, len(typed.Delta.ToolCalls), len(calls)))
			continue
		}
		for j, rawCall := range calls {
			call, _ := rawCall.(map[string]any)
			function, _ := call["function"].(map[string]any)
			typedCall := typed.Delta.ToolCalls[j]
			callAt := fmt.Sprintf("%sDelta.ToolCalls[%d].", choiceAt, j)
			check(callAt+"Index", typedCall.Index, jsonInteger(call["index"]))
			check(callAt+"ID", typedCall.ID, jsonString(call["id"]))
			check(callAt+"Type", typedCall.Type, jsonString(call["type"]))
			check(callAt+"Function.Name", typedCall.Function.Name, jsonString(function["name"]))
			check(callAt+"Function.Arguments", typedCall.Function.Arguments, jsonString(function["arguments"]))
		}
	}
	usage, hasUsage := raw["usage"].(map[string]any)
	if hasUsage != (chunk.Usage != nil) {
		return append(problems, fmt.Sprintf("%sUsage is %v but the JSON has %s", at, chunk.Usage, show(raw["usage"])))
	}
	if hasUsage {
		check("Usage.PromptTokens", chunk.Usage.PromptTokens, jsonInteger(usage["prompt_tokens"]))
		check("Usage.CompletionTokens", chunk.Usage.CompletionTokens, jsonInteger(usage["completion_tokens"]))
		check("Usage.TotalTokens", chunk.Usage.TotalTokens, jsonInteger(usage["total_tokens"]))
	}
	return problems
}

// decodeJSON parses one JSON value, keeping numbers as json.Number (exact integers).
func decodeJSON(data []byte) (any, error) {
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	var value any
	if err := decoder.Decode(&value); err != nil {
		return nil, err
	}
	if decoder.More() {
		return nil, fmt.Errorf("invalid character after the top-level value at offset %d", decoder.InputOffset())
	}
	return value, nil
}

// isIntegerLiteral reports whether n was written without a fraction or exponent.
func isIntegerLiteral(n json.Number) bool {
	return !strings.ContainsAny(string(n), ".eE")
}

func toFloat(n json.Number) (float64, error) { return n.Float64() }

// jsonText is a value as JSON (object members sorted), for comparisons and messages.
func jsonText(value any) string {
	text, err := json.Marshal(value)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(text)
}

func show(value any) string { return jsonText(value) }
