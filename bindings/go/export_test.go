package literllm

// LiveCalls is the number of native calls whose callback has not fired yet, for the tests.
func LiveCalls() int64 { return liveCalls.Load() }
