package literllm

// A file with //export may only declare in its preamble, so the callback lives apart from the
// code that starts calls (native.go).

/*
#include <stdint.h>
#include "liter_llm.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// literllmDeliver is the LiterLlmCallback of every call. The library calls it exactly once per
// call, from one of its runtime threads, and passes ownership of buffer. It copies the JSON into
// Go memory, releases the buffer and the handle, and hands the bytes to the waiting call without
// blocking.
//
//export literllmDeliver
func literllmDeliver(userData unsafe.Pointer, buffer *C.char, length C.int32_t) {
	handle := cgo.Handle(uintptr(userData))
	results := handle.Value().(chan nativeResult)
	handle.Delete()

	result := takeResult(buffer, length)
	liveCalls.Add(-1)
	results <- result
}

// literllmStreamEvent is the LiterLlmCallback of every stream: called once per chunk and once
// more at the end, never twice at once for one stream. It copies and frees the buffer, queues
// the event without blocking (the queue is unbounded), and on the terminal event releases the
// handle.
//
//export literllmStreamEvent
func literllmStreamEvent(userData unsafe.Pointer, buffer *C.char, length C.int32_t) {
	handle := cgo.Handle(uintptr(userData))
	queue := handle.Value().(*streamQueue)

	var event streamEvent
	switch {
	case buffer == nil:
		event.kind = streamEnd
		if length != 0 { // not expected: an error without a body
			event.kind = streamError
		}
	case length < 0:
		event = streamEvent{kind: streamError, data: takeResult(buffer, length).data}
	default:
		event = streamEvent{kind: streamChunk, data: takeResult(buffer, length).data}
	}
	if event.kind != streamChunk {
		handle.Delete()
		liveCalls.Add(-1)
	}
	queue.push(event)
}
