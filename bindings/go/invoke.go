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

// Invoke sends one OpenAI-shaped chat request on the default client and returns the
// OpenAI-shaped response.
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
	return invoke(ctx, 0, provider, request)
}

// Completion sends a typed request on the default client, LiteLLM-style: Request.Model
// "anthropic/claude-sonnet-4-5" routes to Anthropic, or Request.Provider names the adapter. It
// is Invoke(ctx, "", request).
func Completion(ctx context.Context, request Request) (*Response, error) {
	return Invoke(ctx, "", request)
}

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

// chooseProvider picks between Invoke's provider argument and Request.Provider.
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

// invoke is Invoke on client (0: the default client).
func invoke(ctx context.Context, client uint64, provider string, request any) (*Response, error) {
	data, err := call(ctx, client, provider, request)
	if err != nil {
		return nil, err
	}
	return responseFromJSON(data)
}

// call makes one whole call on client (0: the default client) and returns the JSON it answered.
func call(ctx context.Context, client uint64, provider string, request any) ([]byte, error) {
	provider, body, err := prepareCall(ctx, provider, request)
	if err != nil {
		return nil, err
	}
	result, err := invokeNative(ctx, client, provider, body)
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
	return result.data, nil
}

// prepareCall is what a call (Invoke or StreamInvoke) sends: the provider (see resolveProvider)
// and the request's JSON text, encoded once, with ctx's deadline as its timeout (see
// withDeadline); ctx's error when ctx is already done.
func prepareCall(ctx context.Context, provider string, request any) (string, []byte, error) {
	provider, err := resolveProvider(ctx, provider, request)
	if err != nil {
		return "", nil, err
	}
	body, err := encodeObject(request, "request", "a Request, a map or JSON bytes")
	if err != nil {
		return "", nil, err
	}
	if body, err = withDeadline(ctx, body); err != nil {
		return "", nil, err
	}
	body = withTraceContext(ctx, body)
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	return provider, body, nil
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
	case Request:
		return encodeRequest(v, what)
	case *Request:
		if v == nil {
			return nil, errNil
		}
		return encodeRequest(*v, what)
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

// encodeRequest is r's JSON text. It calls MarshalJSON itself: json.Marshal would scan and copy
// the text once more to check it.
func encodeRequest(r Request, what string) ([]byte, error) {
	encoded, err := r.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("literllm: the %s cannot be encoded as JSON: %w", what, err)
	}
	return encoded, nil
}

// Configure replaces the configuration of the default client, which the package functions use
// (and so do the other bindings loaded in the process, and the C ABI's functions that take no
// client): the JSON form of liter-llm.toml (defaults, pool, providers, routes, prices; see
// docs/configuration.md), as a map, a struct with JSON tags, or JSON text. It applies to every
// later call from every goroutine; clients made with NewClient keep their own. An invalid
// configuration is a *Error of kind invalid_request naming the offending key, and leaves the
// configuration as it was.
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
// sets none (or sets it to null). The library treats `timeout` as the deadline of the whole
// call, so it then plans within ctx's: it starts no retry, fallback or rate-limit wait that ctx
// would cut short. The member is written into the JSON text as it is (see defaultMember), so the
// request is not encoded again. Requests that are not JSON objects go unchanged: the library
// reports what is wrong with them.
func withDeadline(ctx context.Context, body []byte) ([]byte, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return body, nil
	}
	remaining := time.Until(deadline)
	if remaining <= 0 {
		return nil, context.DeadlineExceeded
	}
	return defaultMember(body, "timeout", seconds(min(remaining, maxTimeout))), nil
}

// seconds is d as the JSON number of seconds the library reads (`timeout`).
func seconds(d time.Duration) []byte {
	return strconv.AppendFloat(nil, d.Seconds(), 'f', -1, 64)
}
