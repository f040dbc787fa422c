package literllm_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

// The quickstart of README.md; TestReadmeQuickstartIsTheExample keeps the two identical.
func Example() {
	resp, err := literllm.Completion(context.Background(), literllm.Request{
		Model: "mock/demo", // or "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "cohere/command-r-plus"
		Messages: []literllm.Message{
			literllm.SystemMessage("You answer in one short sentence."),
			literllm.UserMessage("What is liter-llm?"),
		},
		MaxTokens: 100,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Choices[0].Message.Content)
	fmt.Println("tokens:", resp.Usage.TotalTokens)
	// Output:
	// This is a mock response from liter-llm.
	// tokens: 23
}

// Errors are *literllm.Error values: errors.As gives the details, errors.Is matches a kind.
func Example_errors() {
	_, err := literllm.Completion(context.Background(), literllm.Request{Model: "nope/model", Prompt: "hi"})
	var e *literllm.Error
	if errors.As(err, &e) {
		fmt.Println(e.Kind, e.Status, errors.Is(err, literllm.ErrUnsupported))
	}
	// Output: unsupported 0 true
}

// Invoke takes any JSON-shaped request, here a map, and an explicit provider.
func ExampleInvoke() {
	resp, err := literllm.Invoke(context.Background(), "mock", map[string]any{
		"model":         "any-model",
		"messages":      []map[string]any{{"role": "user", "content": "Hello"}},
		"mock_response": "Hello from the mock provider",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Model+":", resp.Choices[0].Message.Content)
	// Output: any-model: Hello from the mock provider
}

// A client has a configuration of its own (here: no retries); close it when done.
func ExampleNewClient() {
	c, err := literllm.NewClient(map[string]any{"defaults": map[string]any{"max_retries": 0}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Completion(context.Background(), literllm.Request{Model: "mock/m", Prompt: "Hi", MockResponse: "Hello from a client"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Choices[0].Message.Content)
	// Output: Hello from a client
}
