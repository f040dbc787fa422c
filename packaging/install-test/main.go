// The install test's Go program: the quickstart against the built-in mock provider, then one call
// through the OpenAI provider to the mock upstream (OPENAI_BASE_URL names a scripted session).
package main

import (
	"context"
	"fmt"
	"log"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

func main() {
	ctx := context.Background()
	quick, err := literllm.Completion(ctx, literllm.Request{
		Model:    "mock/demo",
		Messages: []literllm.Message{literllm.UserMessage("What is liter-llm?")},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("quickstart:", quick.Choices[0].Message.Content)
	upstream, err := literllm.Completion(ctx, literllm.Request{
		Model:    "openai/gpt-4o-mini",
		Messages: []literllm.Message{literllm.UserMessage("Say hi")},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("upstream: %s (%d tokens)\n", upstream.Choices[0].Message.Content, upstream.Usage.TotalTokens)
	fmt.Println("library:", literllm.Version())
}
