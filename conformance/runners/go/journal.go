package main

// Waiting on the mock upstream's journal (RUNNER_CONTRACT.md, section 3, step 5, and Streams),
// as runners/python/mock_upstream.py does.

import (
	"time"

	"github.com/liter-llm/liter-llm/bindings/go/mockupstream"
)

const (
	settleTimeout = 5 * time.Second
	settlePoll    = 20 * time.Millisecond
)

// journalRequest is one recorded request and how its answer ended.
type journalRequest = mockupstream.Request

// sessionJournal is GET /__mock/sessions/{id}/requests: the session's requests, in the order received.
func sessionJournal(upstream *mockupstream.Server, session string) ([]journalRequest, error) {
	return upstream.Requests(session)
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
