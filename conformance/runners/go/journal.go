package main

// The mock upstream's journal as RUNNER_CONTRACT.md (section 1) describes it. The binding's
// mockupstream.Requests decodes the fields it knew before `outcome` and `ended_at_ms`, so the
// runner reads the journal itself, straight from the control API, as runners/python/
// mock_upstream.py does.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/liter-llm/liter-llm/bindings/go/mockupstream"
)

const (
	settleTimeout = 5 * time.Second
	settlePoll    = 20 * time.Millisecond
)

// journalRequest is one recorded request and how its answer ended.
type journalRequest struct {
	mockupstream.Request
	Outcome   string   `json:"outcome"`     // "pending", "completed", "client_closed" or "disconnected"
	EndedAtMS *float64 `json:"ended_at_ms"` // nil while pending
}

// controlClient never uses a proxy: the mock is always on the loopback interface.
var controlClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 30 * time.Second}

// sessionJournal is GET /__mock/sessions/{id}/requests: the session's requests, in the order received.
func sessionJournal(upstream *mockupstream.Server, session string) ([]journalRequest, error) {
	route := "/__mock/sessions/" + session + "/requests"
	response, err := controlClient.Get(upstream.URL + route)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", route, err)
	}
	defer response.Body.Close()
	payload, err := io.ReadAll(response.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", route, err)
	}
	if response.StatusCode >= 300 {
		return nil, fmt.Errorf("GET %s answered %d: %s", route, response.StatusCode, payload)
	}
	var journal struct {
		Requests []journalRequest `json:"requests"`
	}
	if err := json.Unmarshal(payload, &journal); err != nil {
		return nil, fmt.Errorf("GET %s answered with an unexpected journal: %w", route, err)
	}
	return journal.Requests, nil
}

// waitForRequest returns once the session's journal has a request, or after settleTimeout (or
// when the journal cannot be read, which reading it afterwards reports).
func waitForRequest(upstream *mockupstream.Server, session string) {
	deadline := time.Now().Add(settleTimeout)
	for {
		journal, err := sessionJournal(upstream, session)
		if err != nil || len(journal) > 0 || !time.Now().Before(deadline) {
			return
		}
		time.Sleep(settlePoll)
	}
}

// settledJournal is the session's journal once no answer is "pending" any more, or as it is
// after settleTimeout.
func settledJournal(upstream *mockupstream.Server, session string) ([]journalRequest, error) {
	deadline := time.Now().Add(settleTimeout)
	for {
		journal, err := sessionJournal(upstream, session)
		if err != nil {
			return nil, err
		}
		pending := false
		for _, request := range journal {
			pending = pending || request.Outcome == "pending"
		}
		if !pending || !time.Now().Before(deadline) {
			return journal, nil
		}
		time.Sleep(settlePoll)
	}
}
