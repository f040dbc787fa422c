package literllm

/*
// The library is linked statically from lib/<GOOS>_<GOARCH>/libliter_llm.a inside this module (a
// tagged release carries one per platform; in a checkout `make go-lib` puts the host's there), so
// a program needs no shared library and no LD_LIBRARY_PATH. The system libraries are those Rust's
// standard library needs (cargo rustc -- --print native-static-libs). include/liter_llm.h is a
// copy of the repository's header (make header writes both; make check-header compares them).
//
// The build tag testpanic links instead the repository's build/test-panic/libliter_llm.a (make
// test-panic-lib), the library built with the cargo feature test-panic (panic_test.go; in-repo
// tests only). That directory also holds a shared library, hence -l: for the archive.
#cgo CFLAGS: -I${SRCDIR}/include
#cgo linux,amd64,!testpanic LDFLAGS: -L${SRCDIR}/lib/linux_amd64
#cgo linux,arm64,!testpanic LDFLAGS: -L${SRCDIR}/lib/linux_arm64
#cgo !testpanic LDFLAGS: -lliter_llm
#cgo testpanic LDFLAGS: -L${SRCDIR}/../../build/test-panic -l:libliter_llm.a
#cgo LDFLAGS: -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#include <stdint.h>
#include <stdlib.h>
#include "liter_llm.h"

// client 0 is the library's default client: the ABI-1 functions, which liter_llm_configure
// configures. Every other value is a handle from liter_llm_client_new.

static char *literllm_invoke(uint64_t client, const char *provider, const char *request, int32_t *out_len) {
	if (client == 0) {
		return liter_llm_invoke(provider, request, out_len);
	}
	return liter_llm_client_invoke(client, provider, request, out_len);
}

*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// ABIVersion is the version of the C ABI (LITER_LLM_ABI_VERSION) this package was written for.
const ABIVersion = 2

// abiError compares the ABI versions of this package, of the header it was compiled against and
// of the library that was loaded.
func abiError(header, loaded uint32) error {
	if header != ABIVersion {
		return fmt.Errorf("literllm: include/liter_llm.h declares ABI version %d but this Go package was written for version %d; "+
			"use the Go binding from the same liter-llm checkout as the header", header, ABIVersion)
	}
	if loaded != ABIVersion {
		return fmt.Errorf("literllm: the loaded libliter_llm speaks ABI version %d but this Go package needs version %d; "+
			"rebuild the library (make build, or cd core && cargo build --release -p liter-llm-ffi), then rebuild your program",
			loaded, ABIVersion)
	}
	return nil
}

var checkABI = sync.OnceValue(func() error {
	return abiError(uint32(C.LITER_LLM_ABI_VERSION), uint32(C.liter_llm_abi_version()))
})

// Version is the version of the loaded native library, such as "0.1.0".
func Version() string {
	return C.GoString(C.liter_llm_version())
}

// liveCalls counts the native calls started whose last event has not come yet (queue.go).
var liveCalls atomic.Int64

// maxBlockingCalls is how many blocking calls invokeNative makes at once; further calls without
// a cancellable context take the asynchronous path. It is the library's own limit on blocking
// calls whose I/O their threads drive (MAX_DRIVEN_BLOCKING_CALLS in
// core/liter-llm-core/src/client.rs): a blocking call past it waits on the shared runtime.
const maxBlockingCalls = 8

// blockingCalls counts the blocking calls in flight (see invokeNative).
var blockingCalls atomic.Int64

// nativeResult is what the library delivered: JSON bytes, an error object when isError.
type nativeResult struct {
	data    []byte
	isError bool
}

// cStringFromBytes copies b into C memory with a terminating NUL; release it with C.free.
func cStringFromBytes(b []byte) *C.char {
	p := C.malloc(C.size_t(len(b) + 1))
	buf := unsafe.Slice((*byte)(p), len(b)+1)
	copy(buf, b)
	buf[len(b)] = 0
	return (*C.char)(p)
}

// takeResult copies a result buffer of the library into Go memory and releases it. length is
// the buffer's length, negated for an error object.
func takeResult(result *C.char, length C.int32_t) nativeResult {
	n := int(length)
	isError := n < 0
	if isError {
		n = -n
	}
	if result == nil {
		return nativeResult{isError: true}
	}
	data := C.GoBytes(unsafe.Pointer(result), C.int(n))
	C.liter_llm_free(result)
	return nativeResult{data: data, isError: isError}
}

// configureNative replaces the default client's configuration; it does no I/O and returns at
// once.
func configureNative(config []byte) (nativeResult, error) {
	if err := checkABI(); err != nil {
		return nativeResult{}, err
	}
	cConfig := cStringFromBytes(config)
	defer C.free(unsafe.Pointer(cConfig))
	var length C.int32_t
	result := C.liter_llm_configure(cConfig, &length)
	return takeResult(result, length), nil
}

// telemetryFlushNative sends the telemetry held now, waiting at most ms milliseconds.
func telemetryFlushNative(ms uint32) bool {
	if checkABI() != nil {
		return false
	}
	return C.liter_llm_telemetry_flush(C.uint32_t(ms)) == 1
}

// callString is text with a terminating NUL in Go memory, for a C string argument that the
// library reads only during the call (the request and provider of invokeNative and
// startStreamNative: the library copies them before it returns). cgo lets C read Go memory that
// holds no Go pointers for the length of a call, so this saves C.malloc, a copy and C.free; text
// is copied, never extended in place, because a caller's json.RawMessage may share its spare
// capacity. Empty text is NULL (for the provider: route by the model's prefix).
func callString[T string | []byte](text T) (*C.char, []byte) {
	if len(text) == 0 {
		return nil, nil
	}
	buf := make([]byte, len(text)+1)
	copy(buf, text)
	return (*C.char)(unsafe.Pointer(&buf[0])), buf
}

// invokeNative makes one call on client (0: the default client) and returns its result, or
// ctx's error when ctx ends first.
//
// When ctx can never be done (context.Background()) and fewer than maxBlockingCalls blocking
// calls are in flight, it makes the blocking call (liter_llm_invoke): the goroutine's OS thread
// stays inside cgo until the call ends, which its timeout bounds. Otherwise it starts the call
// (liter_llm_invoke_queued, which returns at once) and waits on a channel, holding no OS thread;
// when ctx wins, the call is cancelled, and its last event still comes once to the queue, whose
// goroutine frees the buffer and drops the result (queue.go).
func invokeNative(ctx context.Context, client uint64, provider string, request []byte) (nativeResult, error) {
	if err := checkABI(); err != nil {
		return nativeResult{}, err
	}
	cProvider, providerBuf := callString(provider)
	cRequest, requestBuf := callString(request)
	defer runtime.KeepAlive(providerBuf)
	defer runtime.KeepAlive(requestBuf)

	if ctx.Done() == nil {
		// Nothing can cancel the call, so the blocking call is the same call without the
		// queue's cost (a runtime worker's hand-off, the queue goroutine's wake-up, a channel)
		// while few are in flight. Past maxBlockingCalls the library would only park the extra
		// threads on its shared runtime, and a parked OS thread per call (created, woken,
		// retaken from its P by sysmon) costs more than the queue.
		if blockingCalls.Add(1) <= maxBlockingCalls {
			var length C.int32_t
			result := C.literllm_invoke(C.uint64_t(client), cProvider, cRequest, &length)
			blockingCalls.Add(-1)
			return takeResult(result, length), nil
		}
		blockingCalls.Add(-1)
	}

	// Buffered: delivering never blocks the queue's goroutine, even when nobody receives any more.
	results := make(chan nativeResult, 1)
	// The library copies both strings before it returns; the queue's goroutine owns the handle
	// from here.
	id, err := startQueued(client, cProvider, cRequest, results, false)
	if err != nil {
		return nativeResult{}, err
	}
	select {
	case result := <-results:
		return result, nil
	case <-ctx.Done():
		C.liter_llm_cancel(id)
		return nativeResult{}, ctx.Err()
	}
}

// startStreamNative starts a native stream on client (0: the default client) whose events go to
// queue. It returns the call's id for cancelNative. The library copies both strings before it
// returns.
func startStreamNative(client uint64, provider string, request []byte, queue *streamQueue) (uint64, error) {
	if err := checkABI(); err != nil {
		return 0, err
	}
	cProvider, providerBuf := callString(provider)
	cRequest, requestBuf := callString(request)
	defer runtime.KeepAlive(providerBuf)
	defer runtime.KeepAlive(requestBuf)

	// The queue's goroutine owns the stream's handle from here: it deletes it with the last event.
	id, err := startQueued(client, cProvider, cRequest, queue, true)
	return uint64(id), err
}

// newClientNative is liter_llm_client_new: config is the JSON configuration, or with fromFile
// the path of a liter-llm.toml; neither (nil config, fromFile false) is the default discovery.
// It does no network I/O.
func newClientNative(config []byte, file string, fromFile bool) (uint64, nativeResult, error) {
	if err := checkABI(); err != nil {
		return 0, nativeResult{}, err
	}
	var cConfig, cFile *C.char
	if config != nil {
		cConfig = cStringFromBytes(config)
		defer C.free(unsafe.Pointer(cConfig))
	}
	if fromFile {
		cFile = C.CString(file)
		defer C.free(unsafe.Pointer(cFile))
	}
	var client C.uint64_t
	var length C.int32_t
	result := takeResult(C.liter_llm_client_new(cConfig, cFile, &client, &length), length)
	return uint64(client), result, nil
}

// freeClientNative is liter_llm_client_free: calls in flight on the client end with kind
// cancelled, later calls get invalid_request. Harmless for a client already freed.
func freeClientNative(client uint64) {
	C.liter_llm_client_free(C.uint64_t(client))
}

// cancelNative cancels a call or stream; harmless when it has already ended.
func cancelNative(id uint64) {
	C.liter_llm_cancel(C.uint64_t(id))
}

// assembleNative is liter_llm_stream_assemble: chunks is a JSON array of chunk objects.
func assembleNative(chunks []byte) (nativeResult, error) {
	if err := checkABI(); err != nil {
		return nativeResult{}, err
	}
	cChunks := cStringFromBytes(chunks)
	defer C.free(unsafe.Pointer(cChunks))
	var length C.int32_t
	result := C.liter_llm_stream_assemble(cChunks, &length)
	return takeResult(result, length), nil
}
