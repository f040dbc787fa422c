package literllm

/*
#include <stdint.h>
#include <stdlib.h>
#include "liter_llm.h"

// client 0 is the library's default client (see native.go).
static uint64_t literllm_start_queued(uint64_t client, const char *provider, const char *request, uint64_t queue, uint64_t tag) {
	if (client == 0) {
		return liter_llm_invoke_queued(provider, request, queue, tag);
	}
	return liter_llm_client_invoke_queued(client, provider, request, queue, tag);
}

static uint64_t literllm_stream_queued(uint64_t client, const char *provider, const char *request, uint64_t queue, uint64_t tag) {
	if (client == 0) {
		return liter_llm_stream_queued(provider, request, queue, tag);
	}
	return liter_llm_client_stream_queued(client, provider, request, queue, tag);
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/cgo"
	"sync"
	"syscall"
	"unsafe"
)

// The asynchronous calls and streams of the process all end in one completion queue of the
// library (liter_llm_queue_new): the runtime worker that ends a call pushes its result there and
// makes the queue's fd (the read end of a pipe) readable; no library thread ever calls into Go.
// One goroutine waits for that fd in Go's network poller (holding no OS thread while it waits),
// drains every waiting event with one cgo call per batch, and hands each to its call: a buffered
// channel for a call, the stream's queue for a stream. Each event carries its call's cgo.Handle
// as its tag, an integer, so no Go pointer crosses the boundary.

// drainBatch is how many events one liter_llm_queue_drain call moves.
const drainBatch = 64

type completionQueue struct {
	handle C.uint64_t
	// The pipe's read end as an *os.File, so that the poller watches it. The queue owns the
	// descriptor and empties it as it drains; the file is never read, written or closed (the
	// queue lives as long as the process, and this variable keeps the file's finalizer from
	// closing it).
	fd *os.File
}

// theQueue makes the process's queue and starts its goroutine, once.
var theQueue = sync.OnceValues(func() (*completionQueue, error) {
	var fd C.int32_t
	handle := C.liter_llm_queue_new(&fd)
	if handle == 0 {
		return nil, fmt.Errorf("literllm: the library could not make its completion queue (no pipe)")
	}
	// The descriptor is non-blocking, so os.NewFile registers it with the network poller.
	file := os.NewFile(uintptr(fd), "liter-llm-queue")
	raw, err := file.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("literllm: the completion queue's descriptor: %w", err)
	}
	q := &completionQueue{handle: handle, fd: file}
	go q.run(raw)
	return q, nil
})

// run drains the queue whenever its fd is readable, for the life of the process.
func (q *completionQueue) run(raw syscall.RawConn) {
	// The three arrays liter_llm_queue_drain fills, in C memory, allocated once.
	tagsC := (*C.uint64_t)(C.malloc(C.size_t(drainBatch) * C.size_t(unsafe.Sizeof(C.uint64_t(0)))))
	dataC := (**C.char)(C.malloc(C.size_t(drainBatch) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	lensC := (*C.int32_t)(C.malloc(C.size_t(drainBatch) * C.size_t(unsafe.Sizeof(C.int32_t(0)))))
	tags, data, lens := unsafe.Slice(tagsC, drainBatch), unsafe.Slice(dataC, drainBatch), unsafe.Slice(lensC, drainBatch)
	for {
		// Read calls the function, and while it returns false waits until the fd is readable
		// and calls it again; the function never returns true, so Read returns only on an
		// error of the poller itself, which would leave every later call waiting: fail loudly.
		err := raw.Read(func(uintptr) bool {
			for {
				n := int(C.liter_llm_queue_drain(q.handle, tagsC, dataC, lensC, drainBatch))
				if n < 0 {
					panic("literllm: the library's completion queue is gone")
				}
				for i := range n {
					deliver(tags[i], data[i], lens[i])
				}
				if n < drainBatch {
					return false // empty: the fd is clear until the next event
				}
			}
		})
		panic(fmt.Sprintf("literllm: waiting on the library's completion queue failed: %v", err))
	}
}

// deliver hands one event (its tag, buffer and length) to its call and releases the buffer.
func deliver(tag C.uint64_t, buffer *C.char, length C.int32_t) {
	handle := cgo.Handle(uintptr(tag))
	switch target := handle.Value().(type) {
	case chan nativeResult:
		// A call's one event. The channel is buffered, so this never blocks, even when the
		// caller stopped waiting (its context ended).
		handle.Delete()
		liveCalls.Add(-1)
		target <- takeResult(buffer, length)
	case *streamQueue:
		// A stream's events: its chunks, then one end (NULL) or an error.
		var ev streamEvent
		switch {
		case buffer == nil:
			ev.kind = streamEnd
		case length < 0:
			ev = streamEvent{kind: streamError, data: takeResult(buffer, length).data}
		default:
			ev = streamEvent{kind: streamChunk, data: takeResult(buffer, length).data}
		}
		if ev.kind != streamChunk {
			handle.Delete()
			liveCalls.Add(-1)
		}
		target.push(ev)
	}
}

// startQueued starts a call (stream false) or a stream on client (0: the default client) whose
// events go to the process's queue, tagged with target's handle. It returns the call's id, or 0
// when the library refused to start it (then no event will come, and the handle is released).
func startQueued(client uint64, cProvider, cRequest *C.char, target any, stream bool) (C.uint64_t, error) {
	q, err := theQueue()
	if err != nil {
		return 0, err
	}
	handle := cgo.NewHandle(target)
	liveCalls.Add(1)
	var id C.uint64_t
	if stream {
		id = C.literllm_stream_queued(C.uint64_t(client), cProvider, cRequest, q.handle, C.uint64_t(handle))
	} else {
		id = C.literllm_start_queued(C.uint64_t(client), cProvider, cRequest, q.handle, C.uint64_t(handle))
	}
	if id == 0 { // the queue does not exist: nothing started, no event will come
		handle.Delete()
		liveCalls.Add(-1)
		return 0, fmt.Errorf("literllm: the library could not start the call")
	}
	return id, nil
}
