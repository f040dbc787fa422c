package literllm

import (
	"context"
	"fmt"
	"runtime"
	"strings"
)

// Client is a configuration of its own, with its own connection pool, rate limits and route
// state: any number of clients, each with its own keys and base URLs, can be used at once from
// any goroutines. The package functions (Completion, Invoke, Stream, StreamInvoke) use the
// default client, which Configure configures.
//
// Close a client when done with it (defer c.Close()): its calls and streams still in flight end
// with an *Error of kind cancelled (errors.Is(err, ErrCancelled)), and later calls fail with kind
// invalid_request. A client dropped without Close is freed by the garbage collector, eventually;
// Close frees it now. A stream keeps its client alive while it runs.
type Client struct {
	handle // the library's client handle, given back with liter_llm_client_free
}

// NewClient creates a client from config, the JSON form of liter-llm.toml (defaults, pool,
// providers, routes, prices; see docs/configuration.md), as Configure takes it: a map, a struct
// with JSON tags, or JSON text. nil takes the configuration the default client starts with: the
// file named by LITER_LLM_CONFIG, else ./liter-llm.toml when it exists, else none. An invalid
// configuration is a *Error of kind invalid_request naming the offending key.
func NewClient(config any) (*Client, error) {
	var body []byte
	if config != nil {
		var err error
		if body, err = encodeObject(config, "configuration", "a map or JSON bytes, or nil for LITER_LLM_CONFIG or ./liter-llm.toml"); err != nil {
			return nil, err
		}
	}
	return newClient(body, "", false)
}

// NewClientFromFile creates a client from a liter-llm.toml file (with ${VAR} taken from the
// environment, as for the default client's file). A file that cannot be read or is invalid is
// a *Error of kind invalid_request that names it.
func NewClientFromFile(path string) (*Client, error) {
	if strings.IndexByte(path, 0) >= 0 {
		return nil, fmt.Errorf("literllm: the path %q contains a NUL byte", path)
	}
	return newClient(nil, path, true)
}

func newClient(config []byte, file string, fromFile bool) (*Client, error) {
	id, result, err := newClientNative(config, file, fromFile)
	if err != nil {
		return nil, err
	}
	if result.isError || id == 0 {
		return nil, errorFromJSON(result.data)
	}
	c := &Client{handle: handle{id: id}}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// Close frees the client: calls and streams in flight on it end with kind cancelled, later calls
// fail with kind invalid_request. Close is idempotent, safe from any goroutine, and returns nil.
func (c *Client) Close() error {
	c.close(c, freeClientNative)
	return nil
}

// errClientClosed is what a call on a closed client returns, without reaching the library.
func errClientClosed() *Error {
	return &Error{
		Kind:    KindInvalidRequest,
		Message: "this Client was closed (Client.Close); create a new one with NewClient",
	}
}

// Invoke is the package's Invoke on this client.
func (c *Client) Invoke(ctx context.Context, provider string, request any) (*Response, error) {
	if c.isClosed() {
		return nil, errClientClosed()
	}
	resp, err := invoke(ctx, c.id, provider, request)
	runtime.KeepAlive(c) // the finalizer must not free the client during the call
	return resp, err
}

// Completion is the package's Completion on this client: c.Invoke(ctx, "", request).
func (c *Client) Completion(ctx context.Context, request Request) (*Response, error) {
	return c.Invoke(ctx, "", request)
}

// StreamInvoke is the package's StreamInvoke on this client. The stream keeps the client alive
// while it runs; closing the client ends the stream with kind cancelled.
func (c *Client) StreamInvoke(ctx context.Context, provider string, request any) (*ChunkStream, error) {
	if c.isClosed() {
		return nil, errClientClosed()
	}
	return startStream(ctx, c, provider, request)
}

// Stream is the package's Stream on this client: c.StreamInvoke(ctx, "", request).
func (c *Client) Stream(ctx context.Context, request Request) (*ChunkStream, error) {
	return c.StreamInvoke(ctx, "", request)
}
