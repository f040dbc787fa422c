// Package literllm is the Go binding of liter-llm: one LLM client for OpenAI, Anthropic, Cohere
// and a built-in mock, with the network work done by a Rust core behind a C ABI
// (include/liter_llm.h). This package is a thin typed layer over that library: it turns Go values
// into request JSON, response JSON into [Response], and error JSON into [*Error].
//
//	resp, err := literllm.Completion(ctx, literllm.Request{
//		Model:    "anthropic/claude-sonnet-4-5",
//		Messages: []literllm.Message{literllm.UserMessage("Hello")},
//	})
//
// Requests and responses are OpenAI chat-completions-shaped whichever provider serves the call;
// docs/providers.md in the repository is the contract for each provider, docs/errors.md for
// errors.
//
// # Building
//
// The package links the shared library with cgo. Inside the repository nothing needs to be set:
// build the library once (make build, or cd core && cargo build --release -p liter-llm-ffi) and
// go build / go test find the header in include/ and the library in core/target/release, whose
// path is also recorded as the binary's rpath, so the program runs without LD_LIBRARY_PATH.
// Elsewhere, point cgo at your copies (flags from the environment come before the package's own):
//
//	CGO_CFLAGS="-I/opt/liter-llm/include" \
//	CGO_LDFLAGS="-L/opt/liter-llm/lib -Wl,-rpath,/opt/liter-llm/lib" go build
//
// The first call checks that the loaded library speaks the ABI version this package was written
// for ([ABIVersion]) and otherwise fails with an error that says to rebuild.
//
// # Cancellation and concurrency
//
// Every call takes a [context.Context]. Calls use the library's asynchronous entry point: no OS
// thread waits per call, any number of goroutines may call at once, and their requests overlap
// on one shared connection pool. When ctx is cancelled or its deadline passes, the call returns
// ctx.Err() at once and the native call is cancelled too (liter_llm_cancel): its upstream
// connection is closed, nothing keeps running in the background. When ctx has a deadline and the
// request sets no timeout, the remaining time also becomes the request's timeout, which the
// library treats as the deadline of the whole call: it starts no retry, fallback or rate-limit
// wait that the deadline would cut short.
//
// Retries, fallbacks and rate limits are the library's (docs/configuration.md), configured per
// call (Request.MaxRetries, Request.Fallbacks) or for the whole process with [Configure]; this
// package never retries.
//
// # Errors
//
// A call that fails returns a [*Error] (use [errors.As]) whose Kind is one of the documented
// kinds; each kind has a sentinel for [errors.Is] ([ErrRateLimited], [ErrAuthentication], ...).
// Arguments that cannot be sent at all (a nil request, a value encoding/json cannot encode, a
// provider name containing NUL) are ordinary Go errors, and a cancelled or expired context is
// ctx.Err() itself.
package literllm
