// Cache benchmark worker (Go): `go_worker '<job JSON>'`; the job and the output are
// py_worker.py's. Calls run one after the other (concurrency 1).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"syscall"
	"time"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

type job struct {
	Config map[string]any  `json:"config"`
	Raw    json.RawMessage `json:"request"`
	Vary   bool            `json:"vary"`
	Calls  int             `json:"calls"`
	Warmup int             `json:"warmup"`
}

func cpuSeconds() float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		panic(err)
	}
	return float64(u.Utime.Nano()+u.Stime.Nano()) / 1e9
}

func main() {
	var j job
	if err := json.Unmarshal([]byte(os.Args[1]), &j); err != nil {
		panic(err)
	}
	var request struct {
		Model       string   `json:"model"`
		Prompt      string   `json:"prompt"`
		Temperature *float64 `json:"temperature"`
		APIKey      string   `json:"api_key"`
		BaseURL     string   `json:"base_url"`
	}
	if err := json.Unmarshal(j.Raw, &request); err != nil {
		panic(err)
	}
	client, err := literllm.NewClient(j.Config)
	if err != nil {
		panic(err)
	}
	defer client.Close()
	ctx := context.Background()
	call := func(prompt string) string {
		r, err := client.Completion(ctx, literllm.Request{
			Model: request.Model, Prompt: prompt, Temperature: request.Temperature,
			APIKey: request.APIKey, BaseURL: request.BaseURL,
		})
		if err != nil {
			panic(err)
		}
		return r.ServedBy.Cache
	}
	for i := 0; i < j.Warmup; i++ {
		if j.Vary {
			call(fmt.Sprintf("%s w%d", request.Prompt, i))
		} else {
			call(request.Prompt)
		}
	}
	prompts := make([]string, j.Calls)
	for i := range prompts {
		prompts[i] = request.Prompt
		if j.Vary {
			prompts[i] = fmt.Sprintf("%s %d", request.Prompt, i)
		}
	}
	statuses := map[string]bool{}
	cpu, wall := cpuSeconds(), time.Now()
	for _, p := range prompts {
		statuses[call(p)] = true
	}
	cpuUsed, wallUsed := cpuSeconds()-cpu, time.Since(wall).Seconds()
	seen := []string{}
	for s := range statuses {
		seen = append(seen, s)
	}
	sort.Strings(seen)
	n := float64(j.Calls)
	out, _ := json.Marshal(map[string]any{"cpu_us": cpuUsed * 1e6 / n, "wall_us": wallUsed * 1e6 / n, "statuses": seen})
	fmt.Println(string(out))
}
