// The quickstart in Go: the same call as examples/quickstart.py, the same answer.
package main

import (
	"context"
	"fmt"
	"log"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

func main() {
	resp, err := literllm.Completion(context.Background(), literllm.Request{
		Model: "mock/demo",
		Messages: []literllm.Message{
			literllm.SystemMessage("You answer in one short sentence."),
			literllm.UserMessage("What is liter-llm?"),
		},
		MaxTokens: 100,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("go:     %s (%d tokens)\n", resp.Choices[0].Message.Content, resp.Usage.TotalTokens)
}
