package literllm_test

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"sync"
	"testing"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

// Asynchronous calls and streams all end in the library's one completion queue, drained by one
// goroutine (queue.go): a burst of them, mixed with streams and cancellations, must give every
// caller its own result, exactly once, without an OS thread per call.
func TestTheCompletionQueueGivesEachCallerItsOwnResult(t *testing.T) {
	const callers = 3000
	threads := pprof.Lookup("threadcreate")
	threadsBefore := threads.Count()
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("answer %d", i)
			request := literllm.Request{Model: "mock/queue", Prompt: fmt.Sprintf("question %d", i), MockResponse: want}
			ctx, cancel := context.WithCancel(context.Background()) // cancellable: the queued path
			defer cancel()
			switch i % 3 {
			case 0:
				resp, err := literllm.Completion(ctx, request)
				if err == nil && resp.Choices[0].Message.Content != want {
					err = fmt.Errorf("caller %d got %q", i, resp.Choices[0].Message.Content)
				}
				errs <- err
			case 1:
				stream, err := literllm.Stream(ctx, request)
				if err != nil {
					errs <- err
					return
				}
				defer stream.Close()
				var got string
				for chunk, err := range stream.All() {
					if err != nil {
						errs <- err
						return
					}
					if len(chunk.Choices) > 0 {
						got += chunk.Choices[0].Delta.Content
					}
				}
				if got != want {
					errs <- fmt.Errorf("stream %d gave %q", i, got)
					return
				}
				errs <- nil
			default:
				cancel() // cancelled before it starts: the call's last event still comes once
				_, err := literllm.Completion(ctx, request)
				if !errors.Is(err, context.Canceled) {
					err = fmt.Errorf("cancelled caller %d: %v", i, err)
				} else {
					err = nil
				}
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitForNativeCalls(t)
	if created := threads.Count() - threadsBefore; created >= 64 {
		t.Errorf("%d queued calls and streams created %d OS threads", callers, created)
	}
}
