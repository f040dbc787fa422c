package main

// Stream cases (RUNNER_CONTRACT.md, "Streams"): StreamInvoke, a range over All, AssembleChunks.

import (
	"context"
	"errors"
	"fmt"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

// streamCall is a stream case's call, made as a Go program streams: StreamInvoke with the
// request as a map, then a range over All, each chunk taken as its Raw JSON. cancelAfter is
// stream.cancel_after_chunks (-1 reads to the end); inFlight returns once the mock has the
// request. The result is {"stream": {"chunks": [...], and "assembled", "error" or "cancelled"}};
// an error instead of a result is why there is none (the binding broke its contract, or the
// assembler refused the chunks of a complete stream).
func streamCall(provider string, request map[string]any, cancelAfter int, inFlight func()) (callResult, error) {
	var chunks []literllm.Chunk
	values := []any{}
	var problems []string // the typed chunks against their JSON
	ended := func(end string, value any) map[string]any {
		return map[string]any{"stream": map[string]any{"chunks": values, end: value}}
	}
	// An error before the first chunk may come from StreamInvoke or from All: either way it is
	// the stream's error, after the chunks received before it.
	failed := func(err error) (callResult, error) {
		var e *literllm.Error
		if !errors.As(err, &e) {
			return callResult{}, fmt.Errorf("the stream failed with %T instead of *literllm.Error: %v", err, err)
		}
		body, decodeErr := errorBody(e)
		if decodeErr != nil {
			return callResult{}, decodeErr
		}
		return callResult{result: ended("error", body), bindingProblem: append(problems, goErrorProblems(err, e, body)...)}, nil
	}

	stream, err := literllm.StreamInvoke(context.Background(), provider, request)
	if err != nil {
		return failed(err)
	}
	if cancelAfter == 0 {
		inFlight()
		stream.Close()
		return callResult{result: ended("cancelled", true)}, nil
	}
	for chunk, err := range stream.All() {
		if err != nil {
			return failed(err)
		}
		value, decodeErr := decodeJSON(chunk.Raw)
		if decodeErr != nil {
			return callResult{}, fmt.Errorf("chunk %d's Raw is not JSON: %v", len(values), decodeErr)
		}
		problems = append(problems, typedChunkProblems(fmt.Sprintf("Chunk[%d].", len(values)), chunk, value)...)
		chunks = append(chunks, chunk)
		values = append(values, value)
		if len(values) == cancelAfter {
			stream.Close()
			return callResult{result: ended("cancelled", true), bindingProblem: problems}, nil
		}
	}

	resp, err := literllm.AssembleChunks(chunks)
	if err != nil {
		var e *literllm.Error
		if !errors.As(err, &e) {
			return callResult{}, fmt.Errorf("AssembleChunks returned %T instead of *literllm.Error: %v", err, err)
		}
		body, decodeErr := errorBody(e)
		if decodeErr != nil {
			return callResult{}, decodeErr
		}
		return callResult{}, fmt.Errorf("the assembler refused the chunks: %s", canonicalOrEmpty(body))
	}
	body, decodeErr := decodeJSON(resp.Raw)
	if decodeErr != nil {
		return callResult{}, fmt.Errorf("the assembled response's Raw is not JSON: %v", decodeErr)
	}
	problems = append(problems, typedResponseProblems(resp, body)...)
	return callResult{result: ended("assembled", body), bindingProblem: problems}, nil
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

// streamOutcomeProblems compares a stream's chunks and end with expect.chunks and
// assembled / error / cancelled.
func streamOutcomeProblems(expect map[string]any, result map[string]any) ([]string, error) {
	stream, isStream := result["stream"].(map[string]any)
	if !isStream {
		return []string{"expected a stream, got " + canonicalOrEmpty(result)}, nil
	}
	problems, err := mismatches(expect["chunks"], stream["chunks"], "$chunks")
	if err != nil {
		return nil, err
	}
	errorObject, failed := stream["error"]
	cancelled := stream["cancelled"] == true
	ended := "a normal end"
	if failed {
		ended = "error " + canonicalOrEmpty(errorObject)
	} else if cancelled {
		ended = "cancelled"
	}
	if expectedAssembled, wantsEnd := expect["assembled"]; wantsEnd {
		assembled, assembledOK := stream["assembled"]
		if !assembledOK {
			return append(problems, "expected the stream to end normally, it ended with "+ended), nil
		}
		more, err := mismatches(expectedAssembled, assembled, "$assembled")
		return append(problems, more...), err
	}
	if expectedError, wantsError := expect["error"].(map[string]any); wantsError {
		if !failed {
			return append(problems, fmt.Sprintf("expected the stream to end with a %v error, it ended with %s", expectedError["kind"], ended)), nil
		}
		more, err := errorMismatches(expectedError, errorObject)
		return append(problems, more...), err
	}
	if !cancelled {
		problems = append(problems, "expected the runner to abandon the stream, it ended with "+ended)
	}
	return problems, nil
}

// resultError is the error object a call ended with, a stream's included.
func resultError(result map[string]any) (any, bool) {
	if errorObject, isError := result["error"]; isError {
		return errorObject, true
	}
	stream, _ := result["stream"].(map[string]any)
	errorObject, isError := stream["error"]
	return errorObject, isError
}
