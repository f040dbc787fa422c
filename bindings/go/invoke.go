package literllm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxTimeout is the longest `timeout` the library accepts (one day); a longer context deadline
// is sent as this.
const maxTimeout = 24 * time.Hour

// Invoke sends one OpenAI-shaped chat request and returns the OpenAI-shaped response.
//
// provider names the adapter ("openai", "anthropic", "cohere", "mock"), or is "" to route by the
// "provider/" prefix of the request's model; with a Request, "" also lets Request.Provider
// decide. request is a Request (or *Request), any value encoding/json turns into a JSON object
// (a map[string]any, a struct with json tags), or the JSON text itself as json.RawMessage or
// []byte, which is sent unchanged for the library to validate.
//
// A failed call returns a *Error. A cancelled or expired ctx returns ctx.Err() and cancels the
// native call. A request that cannot be sent at all (nil, not encodable as a JSON object, a NUL
// byte in provider or in the JSON) is an ordinary error.
func Invoke(ctx context.Context, provider string, request any) (*Response, error) {
	provider, err := resolveProvider(ctx, provider, request)
	if err != nil {
		return nil, err
	}
	return invoke(ctx, provider, request)
}

// Completion sends a typed request, LiteLLM-style: Request.Model "anthropic/claude-sonnet-4-5"
// routes to Anthropic, or Request.Provider names the adapter. It is Invoke(ctx, "", request).
func Completion(ctx context.Context, request Request) (*Response, error) {
	return Invoke(ctx, "", request)
}

// chooseProvider picks between Invoke's provider argument and Request.Provider.
// resolveProvider checks ctx and picks the provider: the argument, else a Request's Provider.
func resolveProvider(ctx context.Context, provider string, request any) (string, error) {
	if ctx == nil {
		return "", errors.New("literllm: nil Context; pass context.Background() or a context of your own")
	}
	var field string
	switch r := request.(type) {
	case Request:
		field = r.Provider
	case *Request:
		if r != nil {
			field = r.Provider
		}
	}
	return chooseProvider(provider, field)
}

func chooseProvider(argument, field string) (string, error) {
	if argument != "" && field != "" && argument != field {
		return "", fmt.Errorf("literllm: Invoke was given provider %q but Request.Provider is %q; set one", argument, field)
	}
	provider := argument
	if provider == "" {
		provider = field
	}
	if strings.IndexByte(provider, 0) >= 0 {
		return "", fmt.Errorf("literllm: the provider %q contains a NUL byte", provider)
	}
	return provider, nil
}

func invoke(ctx context.Context, provider string, request any) (*Response, error) {
	body, err := requestBody(ctx, request)
	if err != nil {
		return nil, err
	}
	result, err := invokeNative(ctx, provider, body)
	if err != nil {
		return nil, err
	}
	if result.isError {
		e := errorFromJSON(result.data)
		// The timeout sent from ctx's deadline can fire just before ctx reports it: the caller
		// asked for ctx semantics, so ctx's error wins.
		if ctxErr := ctx.Err(); ctxErr != nil && (e.Kind == KindTimeout || e.Kind == KindCancelled) {
			return nil, ctxErr
		}
		return nil, e
	}
	return responseFromJSON(result.data)
}

// requestBody is the JSON text a call sends: the request with ctx's deadline as its timeout (see
// withDeadline); ctx's error when ctx is already done.
func requestBody(ctx context.Context, request any) ([]byte, error) {
	body, err := encodeRequest(request)
	if err != nil {
		return nil, err
	}
	if body, err = withDeadline(ctx, body); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return body, nil
}

// encodeRequest is the JSON text of a request.
func encodeRequest(request any) ([]byte, error) {
	return encodeObject(request, "request", "a Request, a map or JSON bytes")
}

// encodeObject is the JSON text of value, which must be (or encode to) a JSON object. JSON text
// given as json.RawMessage or []byte is passed on unchanged, for the library to validate.
func encodeObject(value any, what, accepted string) ([]byte, error) {
	errNil := fmt.Errorf("literllm: the %s is nil; pass %s", what, accepted)
	var data []byte
	switch v := value.(type) {
	case nil:
		return nil, errNil
	case json.RawMessage:
		data = v
	case []byte:
		data = v
	default:
		encoded, err := json.Marshal(value)
		if err != nil {
			return nil, fmt.Errorf("literllm: the %s cannot be encoded as JSON: %w", what, err)
		}
		switch trimmed := bytes.TrimSpace(encoded); {
		case string(trimmed) == "null":
			return nil, errNil
		case len(trimmed) == 0 || trimmed[0] != '{':
			return nil, fmt.Errorf("literllm: the %s must encode to a JSON object, but a %T encodes to %.40s; "+
				"pass JSON text as json.RawMessage", what, value, trimmed)
		}
		return encoded, nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errNil
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, fmt.Errorf("literllm: the %s JSON contains a NUL byte, which JSON text cannot contain", what)
	}
	return data, nil
}

// Configure replaces the process-wide configuration of the library: the JSON form of
// liter-llm.toml (defaults, pool, providers, routes, prices; see docs/configuration.md). It
// applies to every later call from every goroutine, and to every other binding loaded in the
// process. config is a map, a struct with JSON tags, or JSON text. An invalid configuration is a
// *Error of kind invalid_request naming the offending key, and leaves the configuration as it was.
func Configure(config any) error {
	body, err := encodeObject(config, "configuration", "a map or JSON bytes")
	if err != nil {
		return err
	}
	result, err := configureNative(body)
	if err != nil {
		return err
	}
	if result.isError {
		return errorFromJSON(result.data)
	}
	return nil
}

// withDeadline puts what remains of ctx's deadline into the request's `timeout` when the request
// sets none. The library treats `timeout` as the deadline of the whole call, so it then plans
// within ctx's: it starts no retry, fallback or rate-limit wait that ctx would cut short.
// Requests that are not JSON objects go unchanged: the library reports what is wrong with them.
func withDeadline(ctx context.Context, body []byte) ([]byte, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return body, nil
	}
	remaining := time.Until(deadline)
	if remaining <= 0 {
		return nil, context.DeadlineExceeded
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil || members == nil {
		return body, nil
	}
	if timeout, set := members["timeout"]; set && string(bytes.TrimSpace(timeout)) != "null" {
		return body, nil
	}
	members["timeout"] = json.RawMessage(strconv.FormatFloat(min(remaining, maxTimeout).Seconds(), 'f', -1, 64))
	return json.Marshal(members)
}
