// The soak driver for Go: MOCK_CALLS calls through the mock provider and HTTP_CALLS calls to the
// mock upstream's chaos mode, interleaved (one HTTP call in six), 64 goroutines, in 50 rounds;
// after each round (every call of it ended) samples resident memory (after a collection), open
// descriptors and threads. Prints one JSON object (see bench/soak/run.py).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

const (
	rounds  = 50
	workers = 64
)

type sample struct {
	Calls   int     `json:"calls,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	RSS     int64   `json:"rss"`
	FDs     int     `json:"fds"`
	Sockets int     `json:"sockets"`
	Threads int     `json:"threads"`
	// Go's own threads (every thread but the library's, which are named liter-llm-*): the
	// scheduler keeps each it ever needed, so their number is a high-water mark of goroutines
	// blocked in cgo calls and system calls at once, bounded by the goroutines, not by the calls.
	SchedulerThreads int `json:"scheduler_threads"`
	Goroutines       int `json:"goroutines"`
}

func measure() sample {
	runtime.GC()
	debug.FreeOSMemory()
	var s sample
	if statm, err := os.ReadFile("/proc/self/statm"); err == nil {
		pages, _ := strconv.ParseInt(strings.Fields(string(statm))[1], 10, 64)
		s.RSS = pages * int64(os.Getpagesize())
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		comm, err := os.ReadFile("/proc/self/task/" + task.Name() + "/comm")
		if err != nil {
			continue // a thread that ended since
		}
		s.Threads++
		if !strings.HasPrefix(string(comm), "liter-llm-") {
			s.SchedulerThreads++
		}
	}
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, entry := range entries {
		link, err := os.Readlink("/proc/self/fd/" + entry.Name())
		if err != nil {
			continue // the descriptor ReadDir itself used, closed since
		}
		s.FDs++
		if strings.HasPrefix(link, "socket:") {
			s.Sockets++
		}
	}
	s.Goroutines = runtime.NumGoroutine()
	return s
}

type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(outcome string) {
	c.mu.Lock()
	c.m[outcome]++
	c.mu.Unlock()
}

func one(client *literllm.Client, i int, chaosURL string, c *counts) {
	http := i%6 == 5
	kind := i % 10
	request := literllm.Request{Model: "mock/soak", Prompt: fmt.Sprintf("soak %d", i%97)}
	if http {
		kind = (i / 6) % 10
		request.Model, request.APIKey, request.BaseURL, request.Timeout = "openai/gpt-chaos", "sk-test-soak", chaosURL, 250*time.Millisecond
	} else if kind == 7 {
		request.Extra = map[string]any{"temperature": "warm"} // an invalid request: a typed error
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var err error
	switch kind {
	case 5, 6, 9:
		var stream *literllm.ChunkStream
		if stream, err = client.Stream(ctx, request); err == nil {
			for _, chunkErr := range stream.All() {
				if chunkErr != nil {
					err = chunkErr
					break
				}
				if kind == 9 {
					break // abandoned after the first chunk: cancels the rest
				}
			}
			stream.Close()
		}
	case 8:
		time.AfterFunc(0, cancel)
		_, err = client.Completion(ctx, request)
	default:
		_, err = client.Completion(ctx, request)
	}
	var typed *literllm.Error
	switch {
	case err == nil:
		c.add("result")
	case errors.Is(err, context.Canceled):
		c.add("cancelled")
	case errors.As(err, &typed):
		c.add(string(typed.Kind))
	default:
		fmt.Fprintf(os.Stderr, "call %d: an untyped error: %v\n", i, err)
		os.Exit(1)
	}
}

func main() {
	mockCalls, _ := strconv.Atoi(os.Args[1])
	httpCalls, _ := strconv.Atoi(os.Args[2])
	chaosURL := os.Args[3]
	total := mockCalls + httpCalls
	c := &counts{m: map[string]int{}}
	started := time.Now()
	// The runtime (its threads and descriptors) is the process's, started by the first HTTP call.
	first, err := literllm.NewClient(map[string]any{})
	if err != nil {
		panic(err)
	}
	one(first, 5, chaosURL, &counts{m: map[string]int{}})
	first.Close()
	time.Sleep(200 * time.Millisecond)
	before := measure()
	client, err := literllm.NewClient(map[string]any{})
	if err != nil {
		panic(err)
	}
	var samples []sample
	for r := range rounds {
		end := total * (r + 1) / rounds
		var next atomic.Int64
		next.Store(int64(total * r / rounds))
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < end; i = int(next.Add(1) - 1) {
					one(client, i, chaosURL, c)
				}
			}()
		}
		wg.Wait()
		s := measure()
		s.Calls, s.Seconds = end, time.Since(started).Seconds()
		samples = append(samples, s)
	}
	client.Close()
	after := measure()
	for i := 0; i < 100 && after.FDs > before.FDs; i++ {
		time.Sleep(50 * time.Millisecond)
		after = measure()
	}
	out, _ := json.Marshal(map[string]any{"binding": "go", "before": before, "after_close": after, "samples": samples, "counts": c.m,
		"gomaxprocs": runtime.GOMAXPROCS(0), "goroutines": workers + 1})
	fmt.Println(string(out))
}
