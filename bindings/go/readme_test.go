package literllm_test

import (
	"os"
	"strings"
	"testing"
)

// between returns the text after the first start and before the next end.
func between(t *testing.T, text, start, end, where string) string {
	t.Helper()
	_, after, found := strings.Cut(text, start)
	body, _, closed := strings.Cut(after, end)
	if !found || !closed {
		t.Fatalf("%s has no %q ... %q", where, start, end)
	}
	return body
}

// The README's quickstart must be the Example that `go test` runs and checks; so must the Go
// quickstart of the repository's README, once it has one.
func TestReadmeQuickstartIsTheExample(t *testing.T) {
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	exampleBody := between(t, string(example), "func Example() {\n", "\t// Output:", "example_test.go")
	for _, readme := range []string{"README.md", "../../README.md"} {
		text, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		const goBlock = "```go\n"
		if readme != "README.md" && !strings.Contains(string(text), goBlock+"package main") {
			continue // the repository's README shows no Go program yet
		}
		quickstart := between(t, string(text)[strings.Index(string(text), goBlock+"package main"):], goBlock, "```\n", readme)
		readmeBody := between(t, quickstart, "func main() {\n", "\n}\n", "the quickstart of "+readme)
		if strings.TrimRight(readmeBody, "\n") != strings.TrimRight(exampleBody, "\n") {
			t.Errorf("the quickstart of %s differs from Example():\n%s\nExample:\n%s", readme, readmeBody, exampleBody)
		}
		for _, imported := range []string{`"context"`, `"fmt"`, `"log"`, `literllm "github.com/liter-llm/liter-llm/bindings/go"`} {
			if !strings.Contains(quickstart, imported) {
				t.Errorf("the quickstart of %s does not import %s", readme, imported)
			}
		}
	}
}
