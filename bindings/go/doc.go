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
// The package links the library statically with cgo (a C compiler, gcc or clang, must be on the
// PATH; CGO_ENABLED=1), from lib/<GOOS>_<GOARCH>/libliter_llm.a inside the module, with the header
// from include/. A tagged release of the module carries the archives for linux/amd64 and
// linux/arm64 (built against glibc 2.17), so
//
//	go get github.com/liter-llm/liter-llm/bindings/go@v0.1.0
//
// is all a user does: no Rust toolchain, no shared library to install, no LD_LIBRARY_PATH. The
// archives are not in git: in a checkout, make go-lib (part of make test-go) copies the host's
// core/target/release/libliter_llm.a into lib/, and make dist writes the release module with
// both archives to dist/goproxy, a module proxy directory usable as GOPROXY=file://.../dist/goproxy.
// For another platform, build the library (cd core && cargo build --release -p liter-llm-ffi)
// and point cgo at it; flags from the environment come before the package's own:
//
//	CGO_LDFLAGS="-L/opt/liter-llm/lib" go build
//
// The first call checks that the loaded library speaks the ABI version this package was written
// for ([ABIVersion]) and otherwise fails with an error that says to rebuild.
//
// # Clients
//
// The package functions ([Completion], [Invoke], [Stream], [StreamInvoke]) run on the default
// client, configured by LITER_LLM_CONFIG or ./liter-llm.toml, or by [Configure]. [NewClient] (a
// configuration as a map or JSON) and [NewClientFromFile] (a liter-llm.toml) make clients of
// their own: each has its own keys, base URLs, connection pool, rate limits and route state, and
// any number of them can be used at once. Close a client when done (defer c.Close()); its calls
// and streams still running then end with an [*Error] of kind cancelled, and later calls fail
// with kind invalid_request. A stream keeps its client alive while it runs.
//
// # Cancellation and concurrency
//
// Every call takes a [context.Context]. When ctx is cancelled or its deadline passes, the call
// returns ctx.Err() at once and the native call is cancelled too (liter_llm_cancel): its upstream
// connection is closed, nothing keeps running in the background. When ctx has a deadline and the
// request sets no timeout, the remaining time also becomes the request's timeout, which the
// library treats as the deadline of the whole call: it starts no retry, fallback or rate-limit
// wait that the deadline would cut short.
//
// Whether a call holds an OS thread depends on ctx:
//
//   - A ctx that can never be done (ctx.Done() returns nil: context.Background(),
//     context.TODO(), context.WithoutCancel(...), and WithValue contexts over those) makes the
//     blocking C call while at most 8 such calls are in flight in the process. The goroutine's
//     OS thread stays inside cgo for the whole call, retries, fallbacks and rate-limit waits
//     included, until the call ends: at most its timeout (600 s unless the request or the
//     configuration says otherwise). Other goroutines keep running meanwhile (the runtime gives
//     the thread's P to another thread). Past 8 at once, further calls take the asynchronous
//     path below, so blocking calls never hold more than 8 OS threads.
//   - Any other ctx (WithCancel, WithTimeout, an HTTP request's context) starts the call with the
//     library's asynchronous entry point, a cgo call that returns at once. The goroutine then
//     waits on a channel, holding no OS thread. The library's runtime pushes the result to its
//     completion queue; one goroutine of this package waits for the queue in Go's network
//     poller (no OS thread while it waits), takes every waiting result with one cgo call, and
//     hands each to its caller. No library thread ever calls into Go.
//   - A stream never holds one: [StreamInvoke] starts it and returns, and its chunks come
//     through the same queue, kept for [ChunkStream.All].
//   - [NewClient], [Configure], [Client.Close] and [AssembleChunks] are short cgo calls that make
//     no network I/O ([NewClientFromFile] also reads its file).
//
// Any number of goroutines may call at once with either kind of ctx, and calls on one client
// overlap on its connection pool.
//
// Retries, fallbacks and rate limits are the library's (docs/configuration.md), configured per
// call (Request.MaxRetries, Request.Fallbacks) or per client; this package never retries.
//
// # Errors
//
// A call that fails returns a [*Error] (use [errors.As]) whose Kind is one of the documented
// kinds; each kind has a sentinel for [errors.Is] ([ErrRateLimited], [ErrAuthentication], ...).
// Arguments that cannot be sent at all (a nil request, a value encoding/json cannot encode, a
// provider name containing NUL) are ordinary Go errors, and a cancelled or expired context is
// ctx.Err() itself.
package literllm
