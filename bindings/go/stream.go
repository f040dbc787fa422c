package literllm

import (
	"context"
	"encoding/json"
	"iter"
	"runtime"
	"sync"
)

// Chunk is one OpenAI chat.completion.chunk of a stream. Raw is the JSON exactly as the library
// delivered it; Usage is nil except on the chunk that reports it (usually the last).
type Chunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []ChunkChoice `json:"choices"`
	Usage   *Usage        `json:"usage,omitempty"`
	// Meta is liter-llm's note on the chunk: nil, except on the usage chunk (its cost) and, with
	// a response cache, on every chunk (what the cache did).
	Meta *ChunkMeta `json:"liter_llm,omitempty"`

	Raw json.RawMessage `json:"-"`
}

// ChunkMeta is the "liter_llm" member of a chunk.
type ChunkMeta struct {
	// Cache is what the response cache did ("" without a cache; see ServedBy.Cache).
	Cache string `json:"cache,omitempty"`
	// CostUSD is the stream's cost (docs/cost.md), on the usage chunk; nil elsewhere and when the
	// model has no price.
	CostUSD *float64 `json:"cost_usd,omitempty"`
}

// ChunkChoice is the increment of one choice; FinishReason is "" until the choice's last chunk.
type ChunkChoice struct {
	Index        int    `json:"index"`
	Delta        Delta  `json:"delta"`
	FinishReason string `json:"finish_reason,omitempty"`
}

// Delta is what a chunk adds to the message: the role (first chunk), a piece of the text, or
// pieces of tool calls (their arguments arrive in fragments; join them by Index).
type Delta struct {
	Role      string          `json:"role,omitempty"`
	Content   string          `json:"content,omitempty"`
	ToolCalls []ToolCallDelta `json:"tool_calls,omitempty"`
	// ReasoningContent is a piece of the model's reasoning, where the provider streams it.
	ReasoningContent string `json:"reasoning_content,omitempty"`
}

// ToolCallDelta is a fragment of a tool call: ID, Type and Function.Name come with the first
// fragment of the call Index, Function.Arguments is a piece of the arguments' JSON text.
type ToolCallDelta struct {
	Index    int          `json:"index"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// chunkFromJSON decodes a chunk as delivered by the library.
func chunkFromJSON(data []byte) (Chunk, error) {
	var chunk Chunk
	if err := lenientUnmarshal(data, &chunk); err != nil {
		return Chunk{}, &Error{
			Kind:    KindInternal,
			Message: "liter-llm delivered a chunk that is not JSON (a bug in liter-llm; please report it): " + err.Error(),
		}
	}
	chunk.Raw = data
	return chunk, nil
}

type streamEventKind int

const (
	streamChunk streamEventKind = iota
	streamEnd
	streamError
)

type streamEvent struct {
	kind streamEventKind
	data []byte
}

// streamQueue is where the completion queue's goroutine puts a stream's events: an unbounded
// slice under a mutex plus a one-slot signal channel, so that goroutine never waits for the
// consumer.
type streamQueue struct {
	mu      sync.Mutex
	events  []streamEvent
	dropped bool // the stream was closed: chunks are discarded, only the end is kept
	signal  chan struct{}
}

func newStreamQueue() *streamQueue {
	return &streamQueue{signal: make(chan struct{}, 1)}
}

func (q *streamQueue) push(event streamEvent) {
	q.mu.Lock()
	if !q.dropped || event.kind != streamChunk {
		q.events = append(q.events, event)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// pop takes the oldest event, if any.
func (q *streamQueue) pop() (streamEvent, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.events) == 0 {
		return streamEvent{}, false
	}
	event := q.events[0]
	q.events[0] = streamEvent{}
	q.events = q.events[1:]
	return event, true
}

// drop discards the queued chunks and every later one.
func (q *streamQueue) drop() {
	q.mu.Lock()
	q.dropped = true
	kept := q.events[:0]
	for _, event := range q.events {
		if event.kind != streamChunk {
			kept = append(kept, event)
		}
	}
	q.events = kept
	q.mu.Unlock()
}

// ChunkStream is a streamed completion in progress. Range over All to receive its chunks; Close
// it (or break out of the loop) to stop it early. A ChunkStream is for one goroutine at a time;
// Close may be called from any goroutine.
type ChunkStream struct {
	handle   // the native stream's call id, given back with liter_llm_cancel
	ctx      context.Context
	queue    *streamQueue
	client   *Client     // keeps the stream's client alive while the stream runs; nil for the default client
	stopCtx  func() bool // unregisters the context.AfterFunc that cancels the native stream
	mu       sync.Mutex
	finished bool // the terminal event was consumed, or the iterator ended it
}

// Stream starts a streamed chat completion on the default client: Request.Model
// "provider/model" or Request.Provider chooses the adapter. It is StreamInvoke(ctx, "", request).
func Stream(ctx context.Context, request Request) (*ChunkStream, error) {
	return StreamInvoke(ctx, "", request)
}

// StreamInvoke starts a streamed chat completion on the default client; provider and request
// are as for Invoke (the request's "stream" may be absent or true). It returns once the stream
// has started, before any response: errors of the call itself (bad key, unreachable upstream)
// arrive through All.
//
// ctx covers the whole stream: when it is cancelled or expires the native stream is cancelled
// (its upstream connection closed) and All yields ctx.Err(). When ctx has a deadline and the
// request sets no timeout, the time remaining is sent as the timeout, which for a stream bounds
// the wait for the response and each silence between chunks.
func StreamInvoke(ctx context.Context, provider string, request any) (*ChunkStream, error) {
	return startStream(ctx, nil, provider, request)
}

// startStream is StreamInvoke on client (nil: the default client).
func startStream(ctx context.Context, client *Client, provider string, request any) (*ChunkStream, error) {
	provider, body, err := prepareCall(ctx, provider, request)
	if err != nil {
		return nil, err
	}
	var clientID uint64
	if client != nil {
		clientID = client.id
	}
	queue := newStreamQueue()
	id, err := startStreamNative(clientID, provider, body, queue)
	if err != nil {
		return nil, err
	}
	s := &ChunkStream{handle: handle{id: id}, ctx: ctx, queue: queue, client: client}
	// ctx ending cancels the native stream even while nobody is ranging over it.
	s.stopCtx = context.AfterFunc(ctx, func() { cancelNative(id) })
	// An abandoned stream is cancelled when it is collected. The queue (held by the event tag's
	// handle) does not refer to the stream, so an abandoned stream can be collected.
	runtime.SetFinalizer(s, (*ChunkStream).Close)
	return s, nil
}

// Close stops the stream: the native stream is cancelled and its upstream connection closed,
// unless it had already ended. Chunks not yet received are discarded. Close is idempotent and
// always returns nil.
func (s *ChunkStream) Close() error {
	s.close(s, func(id uint64) {
		s.stopCtx()
		s.queue.drop()
		s.mu.Lock()
		finished := s.finished
		s.mu.Unlock()
		if !finished {
			cancelNative(id) // does nothing when the stream has ended meanwhile
		}
		s.client = nil // the client may be collected now
	})
	return nil
}

func (s *ChunkStream) finish() {
	s.mu.Lock()
	s.finished = true
	s.mu.Unlock()
}

// All yields the chunks in order, as they arrive: for chunk, err := range stream.All(). A
// failure of the call, before the first chunk or mid-stream, is yielded once as (Chunk{}, err)
// after the chunks already delivered, and ends the sequence; err is a *Error, or ctx.Err() when
// ctx ended. Breaking out of the loop closes the stream (cancelling the native stream). After
// the stream ended or was closed, All yields nothing more.
func (s *ChunkStream) All() iter.Seq2[Chunk, error] {
	return func(yield func(Chunk, error) bool) {
		for {
			s.mu.Lock()
			done := s.finished
			s.mu.Unlock()
			if done || s.isClosed() {
				return
			}
			if err := s.ctx.Err(); err != nil {
				s.Close()
				yield(Chunk{}, err)
				return
			}
			event, ok := s.queue.pop()
			if !ok {
				select {
				case <-s.queue.signal:
				case <-s.ctx.Done():
				}
				continue
			}
			switch event.kind {
			case streamChunk:
				chunk, err := chunkFromJSON(event.data)
				if err != nil {
					s.Close()
					yield(Chunk{}, err)
					return
				}
				if !yield(chunk, nil) {
					s.Close()
					return
				}
			case streamEnd:
				s.finish()
				s.Close()
				return
			case streamError:
				s.finish()
				s.Close()
				e := errorFromJSON(event.data)
				if ctxErr := s.ctx.Err(); ctxErr != nil && (e.Kind == KindTimeout || e.Kind == KindCancelled) {
					yield(Chunk{}, ctxErr)
					return
				}
				yield(Chunk{}, e)
				return
			}
		}
	}
}

// AssembleChunks joins the chunks of a stream into one chat.completion (contents and tool-call
// arguments concatenated, the last finish reason, the usage), as liter_llm_stream_assemble does.
// Chunks are sent as their Raw JSON when they have it.
func AssembleChunks(chunks []Chunk) (*Response, error) {
	array := make([]json.RawMessage, len(chunks))
	for i, chunk := range chunks {
		if len(chunk.Raw) > 0 {
			array[i] = chunk.Raw
			continue
		}
		encoded, err := json.Marshal(chunk)
		if err != nil {
			return nil, err
		}
		array[i] = encoded
	}
	body, err := json.Marshal(array)
	if err != nil {
		return nil, err
	}
	result, err := assembleNative(body)
	if err != nil {
		return nil, err
	}
	if result.isError {
		return nil, errorFromJSON(result.data)
	}
	return responseFromJSON(result.data)
}
