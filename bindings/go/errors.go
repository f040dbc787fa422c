package literllm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Kind is the stable category of a failed call (docs/errors.md). It is the same string in every
// language binding.
type Kind string

// The kinds of docs/errors.md, one per LITER_LLM_ERROR_KIND_* of include/liter_llm.h (a test
// keeps the two lists the same).
const (
	KindInvalidRequest      Kind = "invalid_request"      // malformed request, or HTTP 400/409/413/422 and other 4xx
	KindAuthentication      Kind = "authentication"       // no key configured, or HTTP 401 (Cohere: 498)
	KindPermissionDenied    Kind = "permission_denied"    // HTTP 402, 403
	KindNotFound            Kind = "not_found"            // HTTP 404
	KindRateLimited         Kind = "rate_limited"         // HTTP 429; see Error.RetryAfter
	KindTimeout             Kind = "timeout"              // the call's timeout passed, or HTTP 408
	KindConnection          Kind = "connection"           // the upstream could not be reached or the connection broke
	KindProviderUnavailable Kind = "provider_unavailable" // HTTP 5xx, Anthropic's 529 and overloaded_error
	KindBadResponse         Kind = "bad_response"         // a 2xx body that is not the JSON the provider documents
	KindUnsupported         Kind = "unsupported"          // an unknown provider, or an unsupported feature
	KindCancelled           Kind = "cancelled"            // the client was closed during the call (a cancelled ctx is reported as ctx.Err())
	KindInternal            Kind = "internal"             // a bug in liter-llm
)

// kindError is the type of the sentinels: it matches every *Error of its kind under errors.Is.
type kindError struct{ kind Kind }

func (k *kindError) Error() string { return "literllm: " + string(k.kind) }

// Sentinels for errors.Is, one per kind: errors.Is(err, literllm.ErrRateLimited) is true for
// every *Error whose Kind is KindRateLimited. As in the Python binding and the OpenAI SDKs, a
// timeout is also a connection error: errors.Is(err, ErrConnection) holds for KindTimeout too, so
// test ErrTimeout first when the two need different handling.
var (
	ErrInvalidRequest      error = &kindError{KindInvalidRequest}
	ErrAuthentication      error = &kindError{KindAuthentication}
	ErrPermissionDenied    error = &kindError{KindPermissionDenied}
	ErrNotFound            error = &kindError{KindNotFound}
	ErrRateLimited         error = &kindError{KindRateLimited}
	ErrTimeout             error = &kindError{KindTimeout}
	ErrConnection          error = &kindError{KindConnection}
	ErrProviderUnavailable error = &kindError{KindProviderUnavailable}
	ErrBadResponse         error = &kindError{KindBadResponse}
	ErrUnsupported         error = &kindError{KindUnsupported}
	ErrCancelled           error = &kindError{KindCancelled}
	ErrInternal            error = &kindError{KindInternal}
)

// Error is a failed call, as the library reported it (the error object of docs/errors.md).
//
// Fields that the error object gives as null are zero here: Status is 0 when no HTTP response
// was received (HTTP statuses are never 0), Provider is "" when no adapter was chosen,
// RetryAfter is 0 when the provider gave no hint (or asked for no wait: either way your own
// backoff decides) and ProviderError is nil when the provider's body had no details. Raw keeps
// the object exactly as the library returned it (nil for the internal error that reports a
// malformed one).
type Error struct {
	Kind          Kind           // the stable category; compare with the Kind* constants or use errors.Is
	Message       string         // what went wrong and what to do; never contains an API key
	Status        int            // the upstream HTTP status, 0 when none was received
	Provider      string         // the adapter that handled the call, "" when none was chosen
	RetryAfter    time.Duration  // how long the provider asked to wait before retrying, 0 when it did not say
	ProviderError *ProviderError // the provider's own error type, message and code, nil when absent
	Attempts      int            // HTTP attempts made, retries and fallbacks included; 0 when none was sent
	Tried         []TriedModel   // every model of a fallback chain that all failed, in order; nil otherwise
	Raw           json.RawMessage
}

// TriedModel is how one model of a fallback chain failed.
type TriedModel struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Kind     Kind   `json:"kind"`
	Status   int    `json:"status"` // 0 when no HTTP response was received
	Attempts int    `json:"attempts"`
}

// ProviderError is the provider's own description of an error, as its response body gave it.
type ProviderError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Code    any    `json:"code"` // a string, a number (float64) or nil, as the provider sent it
}

// Error reads "literllm: <kind>: <message>".
func (e *Error) Error() string {
	return "literllm: " + string(e.Kind) + ": " + e.Message
}

// Is reports whether target is the sentinel of e's kind (see ErrInvalidRequest and the others).
// A cancelled native call (ErrCancelled) also matches context.Canceled.
func (e *Error) Is(target error) bool {
	if target == context.Canceled {
		return e.Kind == KindCancelled
	}
	sentinel, ok := target.(*kindError)
	if !ok {
		return false
	}
	return sentinel.kind == e.Kind || (sentinel.kind == KindConnection && e.Kind == KindTimeout)
}

// errorFromJSON turns the library's `{"error": {...}}` into an *Error.
func errorFromJSON(data []byte) *Error {
	var envelope struct {
		Error json.RawMessage `json:"error"`
	}
	var fields struct {
		Kind          *string        `json:"kind"`
		Message       string         `json:"message"`
		Status        *int           `json:"status"`
		Provider      *string        `json:"provider"`
		RetryAfter    *float64       `json:"retry_after"`
		ProviderError *ProviderError `json:"provider_error"`
		Attempts      int            `json:"attempts"`
		Tried         []TriedModel   `json:"tried"`
	}
	if json.Unmarshal(data, &envelope) != nil || len(envelope.Error) == 0 ||
		json.Unmarshal(envelope.Error, &fields) != nil || fields.Kind == nil {
		excerpt := string(data)
		if len(excerpt) > 200 {
			excerpt = excerpt[:200] + "..."
		}
		return &Error{
			Kind:    KindInternal,
			Message: fmt.Sprintf("liter-llm returned an error without an error object (a bug in liter-llm; please report it): %q", excerpt),
		}
	}
	e := &Error{
		Kind:          Kind(*fields.Kind),
		Message:       fields.Message,
		ProviderError: fields.ProviderError,
		Attempts:      fields.Attempts,
		Tried:         fields.Tried,
		Raw:           envelope.Error,
	}
	if fields.Status != nil {
		e.Status = *fields.Status
	}
	if fields.Provider != nil {
		e.Provider = *fields.Provider
	}
	if fields.RetryAfter != nil && *fields.RetryAfter > 0 && !math.IsInf(*fields.RetryAfter, 0) {
		e.RetryAfter = time.Duration(math.Round(*fields.RetryAfter * float64(time.Second)))
	}
	return e
}
