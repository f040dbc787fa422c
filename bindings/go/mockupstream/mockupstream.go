// Package mockupstream starts and drives liter-llm-mock-upstream, the scriptable stand-in for
// LLM providers that liter-llm's tests and conformance runners call instead of the real APIs
// (core/mock-upstream; its wire format is in conformance/RUNNER_CONTRACT.md).
//
// Each test uses its own session: PutSession scripts the answers, SessionURL is the base URL to
// give the client, Requests reads back what reached the upstream.
package mockupstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

const startupTimeout = 10 * time.Second

var listening = regexp.MustCompile(`^listening on (http://127\.0\.0\.1:\d+)$`)

// Server is a running mock upstream; Close stops a server that Start started.
type Server struct {
	URL string // http://127.0.0.1:PORT

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	client *http.Client
}

// FromEnvironment connects to LITER_LLM_MOCK_URL when it is set, else starts the binary named by
// LITER_LLM_MOCK_UPSTREAM, else defaultBinary.
func FromEnvironment(defaultBinary string) (*Server, error) {
	var server *Server
	if url := os.Getenv("LITER_LLM_MOCK_URL"); url != "" {
		server = Connect(url)
	} else {
		binary := os.Getenv("LITER_LLM_MOCK_UPSTREAM")
		if binary == "" {
			binary = defaultBinary
		}
		started, err := Start(binary)
		if err != nil {
			return nil, err
		}
		server = started
	}
	var health map[string]any
	if err := server.call(http.MethodGet, "/__mock/health", nil, &health); err != nil || health["ok"] != true {
		server.Close()
		if err == nil {
			err = fmt.Errorf("it answered %v", health)
		}
		return nil, fmt.Errorf("mockupstream: %s/__mock/health failed: %w", server.URL, err)
	}
	return server, nil
}

// Connect uses a mock upstream that is already running at url.
func Connect(url string) *Server {
	return &Server{URL: strings.TrimRight(url, "/"), client: newClient()}
}

// newClient never uses a proxy: the mock is always on the loopback interface.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 30 * time.Second}
}

// Start runs the mock upstream binary and waits for it to announce its address. The server
// stops when Close is called or when this process ends (it exits when its stdin closes).
func Start(binary string) (*Server, error) {
	if info, err := os.Stat(binary); err != nil || info.IsDir() {
		return nil, fmt.Errorf("mockupstream: %s does not exist; build it with `cargo build --release -p liter-llm-mock-upstream` "+
			"in core/ (or `make build`), or set LITER_LLM_MOCK_UPSTREAM to the binary or LITER_LLM_MOCK_URL to a running server", binary)
	}
	cmd := exec.Command(binary, "--exit-on-stdin-eof")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mockupstream: cannot start %s: %w", binary, err)
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(startupTimeout):
	}
	match := listening.FindStringSubmatch(line)
	if match == nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("mockupstream: %s did not announce its address within %s (got %q)", binary, startupTimeout, line)
	}
	return &Server{URL: match[1], cmd: cmd, stdin: stdin, client: newClient()}, nil
}

// Close stops the server if Start started it; it is safe to call more than once.
func (s *Server) Close() error {
	if s.cmd == nil {
		return nil
	}
	cmd := s.cmd
	s.cmd = nil
	_ = s.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		return <-done
	}
}

// Authority is "127.0.0.1:PORT", as it appears in URLs and error messages.
func (s *Server) Authority() string {
	return strings.TrimPrefix(s.URL, "http://")
}

// SessionURL is the upstream base URL of a session.
func (s *Server) SessionURL(session string) string {
	return s.URL + "/s/" + session
}

// NewSessionID is a fresh random session id.
func NewSessionID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Script is the body of PUT /__mock/sessions/{id}.
type Script struct {
	Responses  []Response `json:"responses"`
	RepeatLast bool       `json:"repeat_last,omitempty"`
}

// Response is one scripted answer: JSON, or Body as raw text.
type Response struct {
	Status  int               `json:"status,omitempty"` // 200 when 0
	Headers map[string]string `json:"headers,omitempty"`
	DelayMS int               `json:"delay_ms,omitempty"`
	JSON    any               `json:"json,omitempty"`
	Body    *string           `json:"body,omitempty"`
	// Chunks streams the body in pieces (SSE events, say), each after its own delay;
	// DisconnectAfterChunks breaks the connection after that many chunks.
	Chunks                []Chunk `json:"chunks,omitempty"`
	DisconnectAfterChunks *int    `json:"disconnect_after_chunks,omitempty"`
}

// Chunk is one piece of a streamed body, such as "data: {...}\n\n".
type Chunk struct {
	Data    string `json:"data"`
	DelayMS int    `json:"delay_ms,omitempty"`
}

// Request is one upstream request as the mock recorded it.
type Request struct {
	Method       string            `json:"method"`
	Path         string            `json:"path"`  // after the session prefix, e.g. "/v1/messages"
	Query        *string           `json:"query"` // nil when there was none
	Headers      map[string]string `json:"headers"`
	Body         string            `json:"body"`
	JSON         json.RawMessage   `json:"json"` // the body parsed as JSON; null when it is not JSON
	ReceivedAtMS float64           `json:"received_at_ms"`
	// How the answer ended: "pending" while it is being sent, "completed", "client_closed" (the
	// client closed the connection first) or "disconnected" (the script broke it).
	Outcome   string   `json:"outcome"`
	EndedAtMS *float64 `json:"ended_at_ms"` // nil while pending
}

// PutSession sets (or replaces) a session's script: a Script, or any value that encodes to one
// such as a case file's json.RawMessage.
func (s *Server) PutSession(session string, script any) error {
	return s.call(http.MethodPut, "/__mock/sessions/"+session, script, nil)
}

// Requests is the journal of a session, in the order received.
func (s *Server) Requests(session string) ([]Request, error) {
	var journal struct {
		Requests []Request `json:"requests"`
	}
	err := s.call(http.MethodGet, "/__mock/sessions/"+session+"/requests", nil, &journal)
	return journal.Requests, err
}

// DeleteSession forgets a session and its journal.
func (s *Server) DeleteSession(session string) error {
	return s.call(http.MethodDelete, "/__mock/sessions/"+session, nil, nil)
}

// NewSession puts script under a fresh session id and returns the id.
func (s *Server) NewSession(script any) (string, error) {
	id := NewSessionID()
	return id, s.PutSession(id, script)
}

func (s *Server) call(method, path string, body, out any) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	request, err := http.NewRequestWithContext(ctx, method, s.URL+path, reader)
	if err != nil {
		return err
	}
	if body != nil {
		request.Header.Set("Content-Type", "application/json")
	}
	response, err := s.client.Do(request)
	if err != nil {
		return fmt.Errorf("mockupstream: %s %s: %w", method, path, err)
	}
	defer response.Body.Close()
	payload, err := io.ReadAll(response.Body)
	if err != nil {
		return fmt.Errorf("mockupstream: %s %s: %w", method, path, err)
	}
	if response.StatusCode >= 300 {
		return fmt.Errorf("mockupstream: %s %s answered %d: %s", method, path, response.StatusCode, payload)
	}
	if out == nil || len(payload) == 0 {
		return nil
	}
	if err := json.Unmarshal(payload, out); err != nil {
		return errors.Join(fmt.Errorf("mockupstream: %s %s answered malformed JSON", method, path), err)
	}
	return nil
}
