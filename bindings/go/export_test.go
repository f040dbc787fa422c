package literllm

import "context"

// LiveCalls is the number of native calls whose callback has not fired yet, for the tests.
func LiveCalls() int64 { return liveCalls.Load() }

// BlockingCalls is the number of blocking native calls in flight, for the tests.
func BlockingCalls() int64 { return blockingCalls.Load() }

// MaxBlockingCalls is maxBlockingCalls.
const MaxBlockingCalls = maxBlockingCalls

// ClientID is the library's handle of c.
func ClientID(c *Client) uint64 { return c.id }

// InvokeOnHandle is Invoke on the client with this library handle, held by a Client or not and
// without Client.Invoke's check for Close: the tests see the library's own answer with it.
func InvokeOnHandle(ctx context.Context, id uint64, provider string, request any) (*Response, error) {
	return invoke(ctx, id, provider, request)
}
