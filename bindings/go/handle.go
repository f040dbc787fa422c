package literllm

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// handle is the managed-handle base of Client and ChunkStream, modelled on wasmtime-go's ffi.go:
// an id the library gave out (a client, a running stream's call id) that its owner gives back
// exactly once, with Close.
//
//   - Its owner's Close calls close, idempotent and safe from any goroutine.
//   - The owner's constructor sets a finalizer that calls Close, only as a backstop for an owner
//     dropped without it; the finalizer must not be able to reach the owner through anything the
//     owner points to, or the owner is never collected.
//   - A method that passes the id to the library calls runtime.KeepAlive(owner) after the cgo
//     call (or after waiting for its result), so the finalizer cannot give the id back while
//     the library still uses it.
type handle struct {
	id        uint64
	closeOnce sync.Once
	closed    atomic.Bool
}

// close marks the handle closed, clears owner's finalizer and gives the id back with release,
// the first time only; it reports whether this call did it. owner is the pointer that carries
// the finalizer.
func (h *handle) close(owner any, release func(id uint64)) bool {
	first := false
	h.closeOnce.Do(func() {
		first = true
		h.closed.Store(true)
		runtime.SetFinalizer(owner, nil)
		release(h.id)
	})
	return first
}

// isClosed reports whether close was called.
func (h *handle) isClosed() bool {
	return h.closed.Load()
}
