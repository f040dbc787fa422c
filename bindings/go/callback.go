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
