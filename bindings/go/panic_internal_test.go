//go:build testpanic

package literllm

import (
	"context"
	"math"
	"testing"
)

// The test-panic library also panics in liter_llm_client_free and liter_llm_cancel for the
// handle and call id MaxUint64, which only this package can pass: the process goes on.
func TestPanicsInFreeAndCancelDoNotAbort(t *testing.T) {
	freeClientNative(math.MaxUint64)
	cancelNative(math.MaxUint64)
	if _, err := Invoke(context.Background(), "mock", map[string]any{"model": "m", "prompt": "x"}); err != nil {
		t.Fatal(err)
	}
}
