// Command driver is the Go driver of the conformance harness (conformance/RUNNER_CONTRACT.md,
// "Drivers"): it reads operations as JSON lines on stdin, makes each call through the Go binding
// as a Go program does, and writes one JSON line per operation with the result and what only Go
// can see (errors.As and errors.Is, the typed Response and Chunk fields; native.go).
//
//	cd conformance/runners/go && go build -o driver . && python conformance/harness/run.py --driver ./driver
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	literllm "github.com/liter-llm/liter-llm/bindings/go"
)

const protocolVersion = 1

// message is one operation of the harness; numbers in Request and Config stay json.Number.
type message struct {
	ID          json.RawMessage `json:"id"`
	Op          string          `json:"op"`
	Name        string          `json:"name"`
	Value       *string         `json:"value"`
	Config      any             `json:"config"`
	Provider    *string         `json:"provider"`
	Request     map[string]any  `json:"request"`
	CancelAfter *int            `json:"cancel_after_chunks"`
	Client      *int            `json:"client"`
}

type reply map[string]any

type driver struct {
	input   *bufio.Reader
	output  io.Writer
	clients map[int]*literllm.Client
}

func main() {
	d := &driver{input: bufio.NewReader(os.Stdin), output: os.Stdout, clients: map[int]*literllm.Client{}}
	if err := d.serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// serve answers every operation, one at a time, until the input ends.
func (d *driver) serve() error {
	for {
		var m message
		if err := d.read(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		r, err := d.handle(&m)
		if err != nil {
			return err
		}
		r["id"] = m.ID
		if err := d.write(r); err != nil {
			return err
		}
	}
}

func (d *driver) read(m *message) error {
	line, err := d.input.ReadBytes('\n')
	if len(bytes.TrimSpace(line)) == 0 {
		if err == nil {
			return fmt.Errorf("an empty line")
		}
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(line))
	decoder.UseNumber()
	return decoder.Decode(m)
}

func (d *driver) write(r reply) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = d.output.Write(append(line, '\n'))
	return err
}

func (d *driver) handle(m *message) (reply, error) {
	provider := ""
	if m.Provider != nil {
		provider = *m.Provider
	}
	switch m.Op {
	case "hello":
		// The binding checks the library's ABI on its first call: make it here, so that a library
		// it cannot use stops the run instead of failing every case.
		probe := map[string]any{"model": "conformance-probe", "prompt": "x"}
		if _, err := literllm.Invoke(context.Background(), "mock", probe); err != nil {
			return reply{"problem": fmt.Sprintf("cannot use the Go binding: %v", err)}, nil
		}
		return reply{"protocol": protocolVersion, "language": "go", "binding": literllm.Version()}, nil
	case "env":
		if m.Value == nil {
			return reply{}, os.Unsetenv(m.Name)
		}
		return reply{}, os.Setenv(m.Name, *m.Value)
	case "configure":
		if err := literllm.Configure(m.Config); err != nil {
			return failed("Configure", err, nil), nil
		}
		return reply{}, nil
	case "client_create":
		client, err := literllm.NewClient(m.Config)
		if err != nil {
			return failed("NewClient", err, nil), nil
		}
		handle := len(d.clients) + 1
		d.clients[handle] = client
		return reply{"client": handle}, nil
	case "client_close":
		if m.Client == nil || d.clients[*m.Client] == nil {
			return reply{"problem": "client_close names no client the driver created"}, nil
		}
		// Kept: a later call on it gets the binding's closed-client error, as a user's would.
		return reply{}, d.clients[*m.Client].Close()
	case "invoke":
		var resp *literllm.Response
		var err error
		if m.Client != nil {
			resp, err = d.clients[*m.Client].Invoke(context.Background(), provider, m.Request)
		} else {
			resp, err = literllm.Invoke(context.Background(), provider, m.Request)
		}
		if err != nil {
			return failed("Invoke", err, nil), nil
		}
		body, err := decodeJSON(resp.Raw)
		if err != nil {
			return reply{"problem": fmt.Sprintf("the response's Raw is not JSON: %v", err)}, nil
		}
		return reply{"response": body, "native": append([]string{}, typedResponseProblems(resp, body)...)}, nil
	case "stream":
		return d.stream(m, provider)
	}
	return reply{"problem": fmt.Sprintf("unknown operation %q", m.Op)}, nil
}

// failed is the reply for an error: a *literllm.Error's object and what errors.As and errors.Is
// say of it (native.go); chunks, when not nil, make it the end of a stream.
func failed(call string, err error, chunks []any) reply {
	var e *literllm.Error
	if !errors.As(err, &e) {
		return reply{"problem": fmt.Sprintf("%s returned %T instead of *literllm.Error: %v", call, err, err)}
	}
	body, decodeErr := errorBody(e)
	if decodeErr != nil {
		return reply{"problem": decodeErr.Error()}
	}
	r := reply{"error": body, "native": append([]string{}, goErrorProblems(err, e, body)...), "class": fmt.Sprintf("%T", err)}
	if chunks != nil {
		delete(r, "error")
		r["stream"] = map[string]any{"chunks": chunks, "error": body}
	}
	return r
}

// stream is StreamInvoke and a range over All, each chunk taken as its Raw JSON; Close after
// cancel_after_chunks chunks (with 0, once the harness says the request is in flight); a
// complete stream's chunks through AssembleChunks.
func (d *driver) stream(m *message, provider string) (reply, error) {
	var chunks []literllm.Chunk
	values := []any{}
	native := []string{} // the typed chunks against their JSON
	ended := func(end string, value any) reply {
		return reply{"stream": map[string]any{"chunks": values, end: value}, "native": native}
	}
	// An error before the first chunk may come from StreamInvoke or from All: either way it is
	// the stream's error, after the chunks received before it.
	streamFailed := func(err error) reply {
		r := failed("the stream", err, values)
		if findings, ok := r["native"].([]string); ok {
			r["native"] = append(native, findings...)
		}
		return r
	}
	var stream *literllm.ChunkStream
	var err error
	if m.Client != nil {
		stream, err = d.clients[*m.Client].StreamInvoke(context.Background(), provider, m.Request)
	} else {
		stream, err = literllm.StreamInvoke(context.Background(), provider, m.Request)
	}
	if err != nil {
		return streamFailed(err), nil
	}
	defer stream.Close()
	if m.CancelAfter != nil && *m.CancelAfter == 0 {
		if err := d.started(m); err != nil {
			return nil, err
		}
		stream.Close()
		return ended("cancelled", true), nil
	}
	for chunk, err := range stream.All() {
		if err != nil {
			return streamFailed(err), nil
		}
		value, decodeErr := decodeJSON(chunk.Raw)
		if decodeErr != nil {
			return reply{"problem": fmt.Sprintf("chunk %d's Raw is not JSON: %v", len(values), decodeErr)}, nil
		}
		native = append(native, typedChunkProblems(fmt.Sprintf("Chunk[%d].", len(values)), chunk, value)...)
		chunks = append(chunks, chunk)
		values = append(values, value)
		if m.CancelAfter != nil && len(values) == *m.CancelAfter {
			stream.Close()
			return ended("cancelled", true), nil
		}
	}
	resp, err := literllm.AssembleChunks(chunks)
	if err != nil {
		var e *literllm.Error
		if !errors.As(err, &e) {
			return reply{"problem": fmt.Sprintf("AssembleChunks returned %T instead of *literllm.Error: %v", err, err)}, nil
		}
		body, decodeErr := errorBody(e)
		if decodeErr != nil {
			return reply{"problem": decodeErr.Error()}, nil
		}
		return reply{"assembler_error": body}, nil
	}
	body, err := decodeJSON(resp.Raw)
	if err != nil {
		return reply{"problem": fmt.Sprintf("the assembled response's Raw is not JSON: %v", err)}, nil
	}
	native = append(native, typedResponseProblems(resp, body)...)
	return ended("assembled", body), nil
}

// started tells the harness the stream is in flight and returns once it answers cancel.
func (d *driver) started(m *message) error {
	if err := d.write(reply{"id": m.ID, "event": "started"}); err != nil {
		return err
	}
	var cancel message
	if err := d.read(&cancel); err != nil {
		return fmt.Errorf("waiting for cancel: %w", err)
	}
	if cancel.Op != "cancel" || !bytes.Equal(cancel.ID, m.ID) {
		return fmt.Errorf("expected cancel for operation %s, got %q", m.ID, cancel.Op)
	}
	return nil
}
