package literllm_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

// Chaos under load: 256 goroutines calling at once while the mock upstream (its /chaos/{seed}/
// mode) resets connections, stalls, truncates bodies and streams, sends malformed JSON and
// 429/5xx with and without Retry-After. Every call ends within its deadline with a result or a
// typed error, the counts add up, and once the client is closed the process holds no more
// descriptors, threads or goroutines than before.

const chaosInFlight = 256

// chaosMargin only catches a hang: a call's deadline bounds each wait.
const chaosMargin = 5 * time.Second

func descriptorCount(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// libraryThreadCount counts the threads liter-llm started (named liter-llm-*: the runtime's
// workers and blocking threads, the callback thread). Go's own threads (Ms) are not counted: the
// Go runtime starts one whenever a goroutine blocks in a system or cgo call while others are
// runnable and never ends them, so their number follows the busiest moment the scheduler saw
// (on a loaded machine, more), not a leak; the goroutine count stands for Go's side.
func libraryThreadCount(t *testing.T) int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, task := range tasks {
		comm, err := os.ReadFile("/proc/self/task/" + task.Name() + "/comm")
		if err != nil {
			continue // the thread ended while listed
		}
		if strings.HasPrefix(string(comm), "liter-llm-") {
			n++
		}
	}
	return n
}

func chaosCall(client *literllm.Client, baseURL string, i int, deadline, cancelAfter time.Duration) (string, time.Duration, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if cancelAfter > 0 {
		timer := time.AfterFunc(cancelAfter, cancel)
		defer timer.Stop()
	}
	request := literllm.Request{
		Model: "openai/gpt-chaos", Prompt: fmt.Sprintf("call %d", i),
		APIKey: "sk-test-chaos", BaseURL: baseURL, Timeout: deadline,
	}
	started := time.Now()
	var err error
	if i%3 == 0 {
		var stream *literllm.ChunkStream
		stream, err = client.Stream(ctx, request)
		if err == nil {
			var text strings.Builder
			for chunk, chunkErr := range stream.All() {
				if chunkErr != nil {
					err = chunkErr
					break
				}
				for _, choice := range chunk.Choices {
					text.WriteString(choice.Delta.Content)
				}
			}
			stream.Close()
			if err == nil && text.String() != "chaos ok" {
				return "", 0, fmt.Errorf("call %d streamed %q", i, text.String())
			}
		}
	} else {
		var response *literllm.Response
		response, err = client.Completion(ctx, request)
		if err == nil && response.Choices[0].Message.Content != "chaos ok" {
			return "", 0, fmt.Errorf("call %d answered %q", i, response.Choices[0].Message.Content)
		}
	}
	took := time.Since(started)
	var typed *literllm.Error
	switch {
	case err == nil:
		return "result", took, nil
	case errors.Is(err, context.Canceled):
		return "cancelled", took, nil
	case errors.As(err, &typed) && typed.Kind != literllm.KindInternal && typed.Kind != "":
		return string(typed.Kind), took, nil
	default:
		return "", took, fmt.Errorf("call %d: an untyped error: %v", i, err)
	}
}

func chaosWave(t *testing.T, baseURL string, seed int64) map[string]int {
	t.Helper()
	client, err := literllm.NewClient(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	outcomes := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range chaosInFlight {
		deadline := []time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond}[rng.Intn(3)]
		var cancelAfter time.Duration
		if i%8 == 5 {
			cancelAfter = time.Duration(rng.Intn(400)+1) * time.Millisecond
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcome, took, err := chaosCall(client, baseURL, i, deadline, cancelAfter)
			if err != nil {
				t.Error(err)
				return
			}
			if took > deadline+chaosMargin {
				t.Errorf("a call with a %v deadline took %v", deadline, took)
			}
			mu.Lock()
			outcomes[outcome]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range outcomes {
		total += n
	}
	if total != chaosInFlight {
		t.Fatalf("%d outcomes for %d calls: %v", total, chaosInFlight, outcomes)
	}
	return outcomes
}

// settled polls measure until it is at most limit, for up to 5 s (connections close
// asynchronously), and returns its last value.
func settled(limit int, measure func() int) int {
	deadline := time.Now().Add(5 * time.Second)
	value := measure()
	for value > limit && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		value = measure()
	}
	return value
}

func TestChaos256CallsInFlight(t *testing.T) {
	baseURL := upstream(t).URL + "/chaos/1803"
	warm := chaosWave(t, baseURL, 1)
	fds, threads, goroutines := descriptorCount(t), libraryThreadCount(t), runtime.NumGoroutine()
	outcomes := chaosWave(t, baseURL, 2)
	waitForNativeCalls(t)
	if outcomes["result"] == 0 || outcomes["cancelled"] == 0 || len(outcomes) < 5 {
		t.Errorf("too little variety: %v", outcomes)
	}
	if n := settled(fds, func() int { return descriptorCount(t) }); n > fds {
		t.Errorf("descriptors grew from %d to %d", fds, n)
	}
	if threads == 0 {
		t.Error("no liter-llm threads found: the count would prove nothing")
	}
	if n := settled(threads, func() int { return libraryThreadCount(t) }); n > threads {
		t.Errorf("liter-llm's threads grew from %d to %d", threads, n)
	}
	if n := settled(goroutines, runtime.NumGoroutine); n > goroutines {
		t.Errorf("goroutines grew from %d to %d", goroutines, n)
	}
	t.Logf("chaos go: warm-up %v; measured %v", warm, outcomes)
}
