package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
	"github.com/liter-llm/liter-llm/bindings/go/mockupstream"
)

var providerVariables = []string{
	"OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
	"CO_API_KEY", "COHERE_API_KEY", "CO_API_URL", "COHERE_BASE_URL",
}

var proxyVariables = []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"}

// docs/errors.md: the fields of every error object, and the Go sentinel of each kind.
var errorFields = []string{"kind", "message", "status", "provider", "retry_after", "provider_error", "attempts"}

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

const maxSchemaErrorsShown = 5

type outcome struct {
	name    string
	reasons []string
	result  any // {"response": ...}, {"error": ...} or {"stream": ...}, normalised; nil when there was none
}

func (o *outcome) ok() bool { return len(o.reasons) == 0 }

// mockError is a control call the mock upstream refused.
type mockError struct{ err error }

func (e *mockError) Error() string { return e.err.Error() }

// callResult is one call through the binding: a result object, or nil with the problem.
type callResult struct {
	result         map[string]any
	bindingProblem []string // the Go binding's own contract, for an error result
}

// invokeCase calls the binding as a Go program would: Invoke with the request as a map.
func invokeCase(provider string, request map[string]any) (callResult, error) {
	resp, err := literllm.Invoke(context.Background(), provider, request)
	if err == nil {
		body, decodeErr := decodeJSON(resp.Raw)
		if decodeErr != nil {
			return callResult{}, fmt.Errorf("the response's Raw is not JSON: %v", decodeErr)
		}
		return callResult{result: map[string]any{"response": body}, bindingProblem: typedResponseProblems(resp, body)}, nil
	}
	var e *literllm.Error
	if !errors.As(err, &e) {
		return callResult{}, fmt.Errorf("Invoke returned %T instead of *literllm.Error: %v", err, err)
	}
	body, decodeErr := errorBody(e)
	if decodeErr != nil {
		return callResult{}, decodeErr
	}
	return callResult{result: map[string]any{"error": body}, bindingProblem: goErrorProblems(err, e, body)}, nil
}

// configureCase gives a case's configuration to literllm.Configure, as a Go program would; it
// returns why the binding refused it, or "" once it applies.
func configureCase(config any) (string, error) {
	err := literllm.Configure(config)
	if err == nil {
		return "", nil
	}
	var e *literllm.Error
	if !errors.As(err, &e) {
		return "", fmt.Errorf("Configure returned %T instead of *literllm.Error: %v", err, err)
	}
	body, err := errorBody(e)
	if err != nil {
		return "", err
	}
	return "configure refused the case's config: " + canonicalOrEmpty(body), nil
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
	if got, want := triedJSON(e.Tried), canonicalOrEmpty(object["tried"]); got != want {
		problems = append(problems, fmt.Sprintf("Error.Tried is %s but the error object has %s", got, want))
	}
	if got, want := providerErrorJSON(e.ProviderError), canonicalOrEmpty(object["provider_error"]); got != want {
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
	return canonicalOrEmpty(object)
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
	return canonicalOrEmpty(items)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func canonicalOrEmpty(value any) string {
	text, err := canonicalJSON(value)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return text
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

func setCaseEnvironment(env map[string]any) {
	for _, name := range providerVariables {
		os.Unsetenv(name)
	}
	for name, value := range env {
		text, _ := value.(string)
		os.Setenv(name, text)
	}
}

// normalise replaces the run-specific strings (session id, mock address) with placeholders and
// the created of the response, of every stream chunk and of the assembled completion with 0.
func normalise(result map[string]any, session, authority string) any {
	if result == nil {
		return nil
	}
	normalised := mapStrings(result, func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, session, "{{session}}"), authority, "{{mock_host}}")
	}).(map[string]any)
	completions := []any{normalised["response"]}
	if stream, ok := normalised["stream"].(map[string]any); ok {
		chunks, _ := stream["chunks"].([]any)
		completions = append(append(completions, stream["assembled"]), chunks...)
	}
	for _, completion := range completions {
		if object, ok := completion.(map[string]any); ok {
			if _, has := object["created"]; has {
				object["created"] = json.Number("0")
			}
		}
	}
	return normalised
}

func errorShapeProblems(errorObject any) []string {
	object, ok := errorObject.(map[string]any)
	if !ok {
		return []string{"the error is not an object: " + show(errorObject)}
	}
	var problems []string
	for _, name := range errorFields {
		if _, present := object[name]; !present {
			problems = append(problems, fmt.Sprintf("$error.%s: missing (docs/errors.md lists it)", name))
		}
	}
	isInteger := func(v any) bool {
		n, ok := v.(json.Number)
		return ok && isIntegerLiteral(n)
	}
	checks := []struct {
		name string
		ok   func(any) bool
	}{
		{"kind", func(v any) bool { s, _ := v.(string); _, known := sentinels[s]; return known }},
		{"message", func(v any) bool { s, ok := v.(string); return ok && s != "" }},
		{"status", func(v any) bool { return v == nil || isInteger(v) }},
		{"provider", func(v any) bool { _, ok := v.(string); return v == nil || ok }},
		{"retry_after", func(v any) bool { return v == nil || isNumber(v) }},
		{"provider_error", func(v any) bool { _, ok := v.(map[string]any); return v == nil || ok }},
		{"attempts", func(v any) bool {
			n, ok := v.(json.Number)
			if !ok || !isIntegerLiteral(n) {
				return false
			}
			i, _, err := numberValue(n)
			return err == nil && i.Sign() >= 0
		}},
	}
	for _, check := range checks {
		if value, present := object[check.name]; present && !check.ok(value) {
			problems = append(problems, fmt.Sprintf("$error.%s: %s is not what docs/errors.md allows", check.name, show(value)))
		}
	}
	return problems
}

// outcomeProblems compares a response or error with expect.response / expect.error, or a stream
// with expect.chunks and its end.
func outcomeProblems(expect map[string]any, result map[string]any) ([]string, error) {
	if _, isStreamCase := expect["chunks"]; isStreamCase {
		return streamOutcomeProblems(expect, result)
	}
	if _, isStream := result["stream"]; isStream {
		return []string{"expected a call, got a stream " + canonicalOrEmpty(result)}, nil
	}
	if expectedResponse, wantsResponse := expect["response"]; wantsResponse {
		if errorObject, isError := result["error"]; isError {
			return []string{"expected a response, got error " + canonicalOrEmpty(errorObject)}, nil
		}
		response := result["response"]
		problems, err := mismatches(expectedResponse, response, "$response")
		if err != nil {
			return nil, err
		}
		object, _ := response.(map[string]any)
		if _, ok := object["choices"].([]any); !ok {
			problems = append(problems, "the response is not an object with a choices array")
		}
		return problems, nil
	}
	expectedError, _ := expect["error"].(map[string]any)
	if response, isResponse := result["response"]; isResponse {
		return []string{fmt.Sprintf("expected a %v error, got response %s", expectedError["kind"], canonicalOrEmpty(response))}, nil
	}
	return errorMismatches(expectedError, result["error"])
}

func leakedKeyProblems(env map[string]any, request map[string]any, errorObject any) []string {
	var keys []string
	for name, value := range env {
		if text, ok := value.(string); ok && strings.HasSuffix(name, "_API_KEY") {
			keys = append(keys, text)
		}
	}
	if key, ok := request["api_key"].(string); ok {
		keys = append(keys, key)
	}
	serialised := canonicalOrEmpty(errorObject)
	var problems []string
	for _, key := range keys {
		if key != "" && strings.Contains(serialised, key) {
			problems = append(problems, fmt.Sprintf("the error contains the API key %q", key))
		}
	}
	return problems
}

// recordedValue is a journaled request as a JSON object, for the matcher.
func recordedValue(request journalRequest) (map[string]any, error) {
	headers := make(map[string]any, len(request.Headers))
	for name, value := range request.Headers {
		headers[name] = value
	}
	var query any
	if request.Query != nil {
		query = *request.Query
	}
	var body any
	if len(request.JSON) > 0 {
		var err error
		if body, err = decodeJSON(request.JSON); err != nil {
			return nil, err
		}
	}
	var endedAt any
	if request.EndedAtMS != nil {
		endedAt = json.Number(strconv.FormatFloat(*request.EndedAtMS, 'g', -1, 64))
	}
	return map[string]any{
		"method": request.Method, "path": request.Path, "query": query, "headers": headers, "json": body,
		"received_at_ms": json.Number(strconv.FormatFloat(request.ReceivedAtMS, 'g', -1, 64)),
		"outcome":        request.Outcome,
		"ended_at_ms":    endedAt,
	}, nil
}

func requestProblems(expect map[string]any, recorded []map[string]any) ([]string, error) {
	expectedRequests, _ := expect["requests"].([]any)
	count := len(expectedRequests)
	if n, ok := expect["request_count"].(json.Number); ok {
		f, _ := toFloat(n)
		count = int(f)
	}
	var problems []string
	if len(recorded) != count {
		var seen []string
		for _, request := range recorded {
			seen = append(seen, fmt.Sprintf("%v %v", request["method"], request["path"]))
		}
		shown := strings.Join(seen, ", ")
		if shown == "" {
			shown = "none"
		}
		problems = append(problems, fmt.Sprintf("expected %d upstream request(s), got %d (%s)", count, len(recorded), shown))
	}
	for i, item := range expectedRequests {
		if i >= len(recorded) {
			problems = append(problems, fmt.Sprintf("$requests[%d]: expected a request, none was received", i))
			continue
		}
		expected, _ := item.(map[string]any)
		actual := recorded[i]
		for _, name := range []string{"method", "path", "query", "headers"} {
			if want, ok := expected[name]; ok {
				more, err := mismatches(want, actual[name], fmt.Sprintf("$requests[%d].%s", i, name))
				if err != nil {
					return nil, err
				}
				problems = append(problems, more...)
			}
		}
		if want, ok := expected["body"]; ok {
			more, err := mismatches(want, actual["json"], fmt.Sprintf("$requests[%d].body", i))
			if err != nil {
				return nil, err
			}
			problems = append(problems, more...)
		}
		if want, ok := expected["outcome"]; ok && want != actual["outcome"] {
			problems = append(problems, fmt.Sprintf("$requests[%d].outcome: expected %s, got %s", i, pythonRepr(want), pythonRepr(actual["outcome"])))
		}
		if bound, ok := expected["open_ms"]; ok {
			more, err := openProblems(i, bound, actual)
			if err != nil {
				return nil, err
			}
			problems = append(problems, more...)
		}
	}
	if bounds, present := expect["gaps_ms"]; present {
		more, err := gapProblems(bounds, recorded)
		if err != nil {
			return nil, err
		}
		problems = append(problems, more...)
	}
	return problems, nil
}

// gapProblems checks expect.gaps_ms: one {min, max} item per pair of consecutive recorded
// requests, each gap received_at_ms[i+1] - received_at_ms[i] within [min, max] (inclusive).
func gapProblems(bounds any, recorded []map[string]any) ([]string, error) {
	items, ok := bounds.([]any)
	if !ok {
		return nil, &caseError{"gaps_ms must be an array, got " + show(bounds)}
	}
	var gaps []float64
	for i := 1; i < len(recorded); i++ {
		earlier, err1 := receivedAt(recorded[i-1])
		later, err2 := receivedAt(recorded[i])
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		gaps = append(gaps, later-earlier)
	}
	var problems []string
	if len(items) != len(gaps) {
		problems = append(problems, fmt.Sprintf("$gaps_ms: %d bounds for %d gaps between %d requests", len(items), len(gaps), len(recorded)))
	}
	for i := 0; i < len(items) && i < len(gaps); i++ {
		problem, err := outsideBounds(fmt.Sprintf("gaps_ms[%d]", i), items[i], gaps[i])
		if err != nil {
			return nil, err
		}
		if problem != "" {
			problems = append(problems, "$"+problem)
		}
	}
	return problems, nil
}

// openProblems checks an expected request's open_ms: the time from receiving the request to the
// end of its answer (ended_at_ms - received_at_ms) within {min, max}; a pending answer fails.
func openProblems(index int, bound any, actual map[string]any) ([]string, error) {
	where := fmt.Sprintf("requests[%d].open_ms", index)
	ended, hasEnded := actual["ended_at_ms"].(json.Number)
	if !hasEnded {
		return []string{"$" + where + ": the answer had not ended"}, nil
	}
	end, err1 := toFloat(ended)
	start, err2 := receivedAt(actual)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	problem, err := outsideBounds(where, bound, end-start)
	if err != nil || problem == "" {
		return nil, err
	}
	return []string{"$" + problem}, nil
}

// outsideBounds checks value against a case's {"min": number, "max": number} (inclusive, compared
// exactly): "" when within, else the problem as the Python runner words it, "<where>: 310.0 ms
// is outside [0, 100]" (where names the bound, as a malformed bound's case error does).
func outsideBounds(where string, bound any, value float64) (string, error) {
	object, _ := bound.(map[string]any)
	least, isNumber1 := object["min"].(json.Number)
	most, isNumber2 := object["max"].(json.Number)
	if !isNumber1 || !isNumber2 {
		return "", &caseError{fmt.Sprintf("%s must be {\"min\": number, \"max\": number}, got %s", where, show(bound))}
	}
	low, err1 := compareNumber(least, value)
	high, err2 := compareNumber(most, value)
	if err := errors.Join(err1, err2); err != nil {
		return "", &caseError{fmt.Sprintf("%s: %v", where, err)}
	}
	if low > 0 || high < 0 {
		return fmt.Sprintf("%s: %.1f ms is outside [%s, %s]", where, value, pythonNumber(least), pythonNumber(most)), nil
	}
	return "", nil
}

// pythonRepr is how the Python runner quotes the mock's outcomes, repr(): 'completed', None for
// null; a value repr() would write otherwise (never recorded by the mock) is shown as JSON.
func pythonRepr(value any) string {
	if value == nil {
		return "None"
	}
	if s, ok := value.(string); ok && !strings.ContainsAny(s, `'\`) && strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r > '~' }) < 0 {
		return "'" + s + "'"
	}
	return show(value)
}

func receivedAt(request map[string]any) (float64, error) {
	n, ok := request["received_at_ms"].(json.Number)
	if !ok {
		return 0, fmt.Errorf("the mock upstream recorded %v %v without a numeric received_at_ms", request["method"], request["path"])
	}
	return toFloat(n)
}

// compareNumber compares a JSON number with a float exactly, as Python compares int and float:
// -1, 0 or 1 as n is less than, equal to or greater than f.
func compareNumber(n json.Number, f float64) (int, error) {
	i, nf, err := numberValue(n)
	if err != nil {
		return 0, err
	}
	exact := new(big.Float).SetFloat64(nf)
	if i != nil {
		exact = new(big.Float).SetInt(i)
	}
	return exact.Cmp(big.NewFloat(f)), nil
}

// pythonNumber is str() of the number Python's json module reads from n: an int as written, a
// float as repr() writes it (shortest digits, ".0" when integral, exponent from 1e16 and below
// 1e-4).
func pythonNumber(n json.Number) string {
	i, f, err := numberValue(n)
	switch {
	case err != nil:
		return string(n)
	case i != nil:
		return i.String()
	}
	scientific := strconv.FormatFloat(f, 'e', -1, 64) // "1.5e+16", "1e-05": as Python writes them
	_, exponentText, _ := strings.Cut(scientific, "e")
	if exponent, _ := strconv.Atoi(exponentText); exponent < -4 || exponent >= 16 {
		return scientific
	}
	fixed := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(fixed, ".") {
		fixed += ".0"
	}
	return fixed
}

func schemaProblems(specs *upstreamSpecs, journal []journalRequest, recorded []map[string]any) ([]string, error) {
	var problems []string
	for i, request := range recorded {
		where := fmt.Sprintf("$requests[%d] (%v %v)", i, request["method"], request["path"])
		op, known := operationFor(journal[i].Method, journal[i].Path)
		if !known {
			problems = append(problems, where+": no official schema covers this request")
			continue
		}
		if request["json"] == nil {
			body := []rune(journal[i].Body)
			if len(body) > 200 {
				body = body[:200]
			}
			problems = append(problems, fmt.Sprintf("%s: the body is not JSON: %q", where, string(body)))
			continue
		}
		found, err := specs.requestErrors(op, request["json"])
		if err != nil {
			return nil, err
		}
		for j, problem := range found {
			if j == maxSchemaErrorsShown {
				problems = append(problems, fmt.Sprintf("%s: and %d more schema errors", where, len(found)-maxSchemaErrorsShown))
				break
			}
			problems = append(problems, fmt.Sprintf("%s breaks the official %s schema at %s", where, op.provider, problem))
		}
	}
	return problems, nil
}

// runCase runs one case (RUNNER_CONTRACT.md, sections 3 and 4). A *caseError or *mockError it
// returns replaces the outcome.
func runCase(testCase map[string]any, upstream *mockupstream.Server, specs *upstreamSpecs) (*outcome, error) {
	out := &outcome{name: testCase["name"].(string)}
	session := mockupstream.NewSessionID()
	baseURL := upstream.SessionURL(session)
	env, _ := substitute(testCase["env"], baseURL).(map[string]any)
	request := substitute(testCase["request"], baseURL).(map[string]any)
	expect := testCase["expect"].(map[string]any)
	provider, _ := testCase["provider"].(string)
	calls := 1
	if n, ok := testCase["calls"].(json.Number); ok {
		f, _ := toFloat(n)
		calls = int(f)
	}
	spec, isStream := testCase["stream"].(map[string]any)
	cancelAfter := -1
	if n, ok := spec["cancel_after_chunks"].(json.Number); ok {
		f, _ := toFloat(n)
		cancelAfter = int(f)
	}

	script, hasScript := testCase["upstream"]
	if !hasScript {
		script = map[string]any{"responses": []any{}}
	}
	if err := upstream.PutSession(session, script); err != nil {
		return nil, &mockError{err}
	}
	setCaseEnvironment(env)
	var results []map[string]any
	var bindingProblems []string // of the last call, like the Python runner's exception checks
	config, configured := testCase["config"]
	if configured {
		refused, err := configureCase(config)
		if err != nil {
			return nil, err
		}
		if refused != "" {
			out.reasons = append(out.reasons, refused)
			results = append(results, nil)
			calls = 0
		}
	}
	for range calls {
		var call callResult
		var err error
		if isStream {
			call, err = streamCall(provider, request, cancelAfter, func() { waitForRequest(upstream, session) })
		} else {
			call, err = invokeCase(provider, request)
		}
		if err != nil {
			out.reasons = append(out.reasons, err.Error())
		}
		results = append(results, call.result)
		bindingProblems = call.bindingProblem
	}
	if configured && calls > 0 {
		// The next case starts from the built-in configuration, with full rate-limit budgets.
		if err := literllm.Configure(map[string]any{}); err != nil {
			return nil, fmt.Errorf("cannot reset the configuration: %w", err)
		}
	}
	journal, journalErr := settledJournal(upstream, session)
	deleteErr := upstream.DeleteSession(session)
	if err := errors.Join(journalErr, deleteErr); err != nil {
		return nil, &mockError{err}
	}

	normalised := make([]any, len(results))
	for i, result := range results {
		normalised[i] = normalise(result, session, upstream.Authority())
	}
	first := canonicalOrEmpty(normalised[0])
	for _, other := range normalised[1:] {
		if canonicalOrEmpty(other) != first {
			shown := make([]string, len(normalised))
			for i, result := range normalised {
				shown[i] = canonicalOrEmpty(result)
			}
			out.reasons = append(out.reasons, fmt.Sprintf("%d calls with the same request gave different results: %s",
				len(results), strings.Join(shown, " vs ")))
			break
		}
	}
	if result := results[len(results)-1]; result != nil {
		problems, err := outcomeProblems(expect, result)
		if err != nil {
			return nil, err
		}
		out.reasons = append(out.reasons, problems...)
		errorObject, isError := resultError(result)
		if isError {
			out.reasons = append(out.reasons, errorShapeProblems(errorObject)...)
		}
		out.reasons = append(out.reasons, bindingProblems...)
		if isError {
			out.reasons = append(out.reasons, leakedKeyProblems(env, request, errorObject)...)
		}
	}

	recorded := make([]map[string]any, len(journal))
	for i, request := range journal {
		value, err := recordedValue(request)
		if err != nil {
			return nil, &mockError{err}
		}
		recorded[i] = value
	}
	problems, err := requestProblems(expect, recorded)
	if err != nil {
		return nil, err
	}
	out.reasons = append(out.reasons, problems...)
	if validate, set := testCase["validate_schema"].(bool); !set || validate {
		problems, err := schemaProblems(specs, journal, recorded)
		if err != nil {
			return nil, fmt.Errorf("schema validation failed: %w", err)
		}
		out.reasons = append(out.reasons, problems...)
	}
	out.result = normalised[len(normalised)-1]
	return out, nil
}
