// Command go_worker is one benchmark worker: one Go client in one fresh process.
//
//	go_worker '<job JSON>'
//
// The job format and the printed result are those of bench/workers/python_worker.py; every
// concurrent call is a goroutine. Clients: liter_llm (bindings/go) and net/http with
// encoding/json, the baseline.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

const apiKey = "sk-bench"

type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	MaxTokens   int           `json:"max_tokens"`
	Temperature float64       `json:"temperature"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatCompletion is the part of an OpenAI chat.completion an application reads.
type chatCompletion struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int         `json:"index"`
		Message      chatMessage `json:"message"`
		FinishReason string      `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

type cell struct {
	ID          string  `json:"id"`
	BaseURL     string  `json:"base_url"`
	Concurrency int     `json:"concurrency"`
	WarmupS     float64 `json:"warmup_s"`
	DurationS   float64 `json:"duration_s"`
}

type job struct {
	Client      string      `json:"client"`
	Request     chatRequest `json:"request"`
	Expect      string      `json:"expect"`
	Cells       []cell      `json:"cells"`
	MemoryCalls int         `json:"memory_calls"`
	BaseURL     string      `json:"base_url"`
	Concurrency int         `json:"concurrency"`
}

// caller sends the request and returns the answer's text.
type caller func(ctx context.Context) (string, error)

func literLLMCaller(baseURL string, request chatRequest, _ int) caller {
	messages := make([]literllm.Message, len(request.Messages))
	for i, m := range request.Messages {
		messages[i] = literllm.Message{Role: m.Role, Content: m.Content}
	}
	typed := literllm.Request{
		Model:       "openai/" + request.Model,
		Messages:    messages,
		MaxTokens:   request.MaxTokens,
		Temperature: literllm.Ptr(request.Temperature),
		APIKey:      apiKey,
		BaseURL:     baseURL,
	}
	return func(ctx context.Context) (string, error) {
		resp, err := literllm.Completion(ctx, typed)
		if err != nil {
			return "", err
		}
		return resp.Choices[0].Message.Content, nil
	}
}

func netHTTPCaller(baseURL string, request chatRequest, concurrency int) caller {
	// The baseline keeps as many idle connections as there are concurrent calls (the default
	// of 2 per host would reconnect on almost every call).
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = max(concurrency, 100)
	transport.MaxIdleConnsPerHost = max(concurrency, 2)
	client := &http.Client{Transport: transport}
	url := baseURL + "/chat/completions"
	return func(ctx context.Context) (string, error) {
		body, err := json.Marshal(request)
		if err != nil {
			return "", err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			io.Copy(io.Discard, resp.Body)
			return "", fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		var completion chatCompletion
		if err := json.NewDecoder(resp.Body).Decode(&completion); err != nil {
			return "", err
		}
		if len(completion.Choices) == 0 {
			return "", fmt.Errorf("no choices")
		}
		return completion.Choices[0].Message.Content, nil
	}
}

var factories = map[string]func(string, chatRequest, int) caller{
	"liter_llm": literLLMCaller,
	"net_http":  netHTTPCaller,
}

type tally struct {
	mu         sync.Mutex
	expect     string
	latencies  []float64
	errors     int
	firstError *string
}

func (t *tally) record(text string, err error, latency time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.latencies = append(t.latencies, latency.Seconds())
	if err == nil && text != t.expect {
		err = fmt.Errorf("unexpected answer %.80q", text)
	}
	if err != nil {
		t.errors++
		if t.firstError == nil {
			message := err.Error()
			if len(message) > 300 {
				message = message[:300]
			}
			t.firstError = &message
		}
	}
}

func timeBox(seconds float64) func() bool {
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	return func() bool { return time.Now().Before(deadline) }
}

func callBudget(calls int) func() bool {
	var issued atomic.Int64
	return func() bool { return issued.Add(1) <= int64(calls) }
}

// run calls in `concurrency` goroutines while more() and returns the wall time.
func run(call caller, concurrency int, more func() bool, t *tally) time.Duration {
	began := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for more() {
				started := time.Now()
				text, err := call(context.Background())
				t.record(text, err, time.Since(started))
			}
		}()
	}
	wg.Wait()
	return time.Since(began)
}

func rusage() syscall.Rusage {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		panic(err)
	}
	return usage
}

// peakRSSKB is VmHWM; see peak_rss_kb() in python_worker.py for why not Rusage.Maxrss.
func peakRSSKB() int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		panic(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "VmHWM:" {
			kb, err := strconv.Atoi(fields[1])
			if err != nil {
				panic(err)
			}
			return kb
		}
	}
	panic("no VmHWM in /proc/self/status")
}

func cpuSeconds() float64 {
	usage := rusage()
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e9
}

func percentile(sorted []float64, fraction float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[min(len(sorted)-1, int(fraction*float64(len(sorted))))]
}

// measure warms up for warmupS seconds, then measures the calls made while more().
func measure(j job, baseURL string, concurrency int, warmupS float64, more func() func() bool) (*tally, float64, float64) {
	call := factories[j.Client](baseURL, j.Request, concurrency)
	run(call, concurrency, timeBox(warmupS), &tally{expect: j.Expect})
	t := &tally{expect: j.Expect}
	cpu0 := cpuSeconds()
	wall := run(call, concurrency, more(), t).Seconds()
	return t, wall, cpuSeconds() - cpu0
}

func measureCell(j job, c cell) map[string]any {
	t, wall, cpu := measure(j, c.BaseURL, c.Concurrency, c.WarmupS, func() func() bool { return timeBox(c.DurationS) })
	sort.Float64s(t.latencies)
	n := len(t.latencies)
	result := map[string]any{
		"id": c.ID, "requests": n, "errors": t.errors, "first_error": t.firstError,
		"wall_s": wall, "cpu_s": cpu, "throughput": float64(n) / wall, "cpu_us_per_req": nil,
		"p50_ms": percentile(t.latencies, 0.50) * 1e3, "p99_ms": percentile(t.latencies, 0.99) * 1e3,
	}
	if n > 0 {
		result["cpu_us_per_req"] = cpu / float64(n) * 1e6
	}
	return result
}

func measureMemory(j job) map[string]any {
	t, wall, _ := measure(j, j.BaseURL, j.Concurrency, 0, func() func() bool { return callBudget(j.MemoryCalls) })
	return map[string]any{
		"calls": len(t.latencies), "errors": t.errors, "first_error": t.firstError,
		"wall_s": wall, "peak_rss_kb": peakRSSKB(),
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go_worker '<job JSON>'")
		os.Exit(2)
	}
	var j job
	if err := json.Unmarshal([]byte(os.Args[1]), &j); err != nil {
		fmt.Fprintln(os.Stderr, "go_worker: the job is not valid JSON:", err)
		os.Exit(2)
	}
	if factories[j.Client] == nil {
		fmt.Fprintf(os.Stderr, "go_worker: unknown client %q\n", j.Client)
		os.Exit(2)
	}
	var result any
	if j.MemoryCalls > 0 {
		result = measureMemory(j)
	} else {
		cells := []map[string]any{}
		for _, c := range j.Cells {
			cells = append(cells, measureCell(j, c))
		}
		result = map[string]any{"cells": cells}
	}
	if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
		os.Exit(1)
	}
}
