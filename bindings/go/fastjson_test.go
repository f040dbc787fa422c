package literllm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// servedByMember is the member the core adds to every answer.
const servedByMember = `"liter_llm":{"provider":"openai","model":"openai/gpt-4o-mini","attempts":1,"cache":"off","cost_usd":0.0000426}`

// fixtureResponse is the bench's upstream answer as the core returns it.
func fixtureResponse(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "bench", "fixtures", "chat_completion.json"))
	if err != nil {
		tb.Fatal(err)
	}
	text := strings.TrimSpace(string(data))
	return []byte(text[:len(text)-1] + "," + servedByMember + "}")
}

// withServedBy adds the core's liter_llm member to a JSON object's text that has none.
func withServedBy(object string) string {
	object = strings.TrimSpace(object)
	if strings.Contains(object, `"liter_llm"`) {
		return object
	}
	if object == "{}" {
		return "{" + servedByMember + "}"
	}
	return object[:len(object)-1] + "," + servedByMember + "}"
}

// handledResponses are answers in the shape the core writes: the fast path must decode them
// itself.
var handledResponses = []string{
	`{}`,
	`{"id":"chatcmpl-1","object":"chat.completion","created":1764201600,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7},"liter_llm":{"provider":"openai","model":"openai/gpt-4o-mini","attempts":1,"cache":"miss","cost_usd":null}}`,
	withServedBy(`{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"unit\":\"c\"}"}},{"id":"call_2","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`),
	withServedBy(`{"choices":[{"index":0,"message":{"role":"assistant","content":"escapes: \"q\" \\ \/ \b \f \n \r \t \u00e9 \u6f22 \ud83d\ude00 \uD83D\uDE00"},"finish_reason":"stop"}]}`),
	withServedBy(`{"choices":[{"index":0,"message":{"role":"assistant","content":"lone surrogates: \ud800 \udc00 x \ud83d\u0041 \ud83d\ud83d\ude00 \ud83d"},"finish_reason":"stop"}]}`),
	withServedBy(`{"choices":[{"index":0,"message":{"role":"assistant","content":"plain unicode é 漢字 😀 \u0000 nul"},"finish_reason":"stop"}]}`),
	"{\"choices\":[{\"message\":{\"content\":\"invalid UTF-8: \xff\xfe \xe6\xbc and after\"}}]}",
	"{\"choices\":[{\"message\":{\"content\":\"invalid UTF-8 with an escape: \xff\\n\xc0\xaf\"}}]}",
	withServedBy(`{"choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"text","text":"part"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]},"finish_reason":"stop"}]}`),
	withServedBy(`{"choices":[{"index":0,"message":{"role":"assistant","content":[{"type":5,"text":"odd part"}]},"finish_reason":"stop"}]}`),
	withServedBy(`{"choices":[{"index":0,"message":{"role":"assistant","content":5,"reasoning_content":"thought"},"finish_reason":"stop"}]}`),
	withServedBy(`{"choices":[{"index":0,"message":{"role":"assistant","content":{"nested":[1,2,{"a":null}]}},"finish_reason":"stop"}]}`),
	withServedBy(`{"choices":[{"index":0,"message":{"role":"assistant","content":true}}]}`),
	withServedBy(`{"choices":[{"index":0,"message":null,"finish_reason":null}]}`),
	withServedBy(`{"choices":[{"index":0,"message":{"role":"tool","name":"n","tool_call_id":"t","content":""}}]}`),
	withServedBy(`{"choices":[]}`),
	withServedBy(`{"choices":null,"usage":null}`),
	withServedBy(`{"choices":[{"message":{"tool_calls":[]}}],"usage":{"prompt_tokens_details":{}}}`),
	withServedBy(`{"choices":[{"message":{"tool_calls":null}}],"usage":{"prompt_tokens_details":null}}`),
	withServedBy(`{"choices":[{"message":{"tool_calls":[{"function":null}]}}]}`),
	withServedBy(`{"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":80,"audio_tokens":0},"cache_creation_input_tokens":10,"completion_tokens_details":{"reasoning_tokens":3}}}`),
	`{"created":-0,"usage":{"prompt_tokens":-12,"total_tokens":999999999999999999},"liter_llm":{"attempts":0,"cost_usd":-0}}`,
	`{"liter_llm":{"cost_usd":1.5e-7}}`,
	`{"liter_llm":{"cost_usd":0}}`,
	`{"liter_llm":{"cost_usd":12345678901234567890123}}`,
	`{"liter_llm":{"cost_usd":1E+2}}`,
	`{"liter_llm":null}`,
	`{"id":null,"object":null,"created":null,"model":null,"system_fingerprint":null}`,
	" \t\r\n{ \"id\" : \"spaced\" , \"choices\" : [ { \"index\" : 1 , \"message\" : { \"role\" : \"assistant\" } } ] } \n",
	`{"unknown":{"deep":[[[[{"x":[true,false,null,-1.5e+10,"\u0041\n"]}]]]]},"service_tier":"default","logprobs":null}`,
	`{"choices":[{"index":0,"message":{"role":"assistant","content":"a"},"logprobs":{"content":[{"token":"a","logprob":-0.1,"bytes":[97]}]}}]}`,
	`{"unknown":1,"unknown":2,"other":{"k":1,"k":2}}`,
	`{"system_fingerprint":"fp_0ba0d124f1"}`,
	`{"ids":"not id","id_":"also not","chOices2":[]}`,
}

// reflectedResponses are answers that the fast path may leave to encoding/json; both must still
// give the same.
var reflectedResponses = []string{
	// Odd types that lenientUnmarshal tolerates.
	`{"id": 7, "object": "chat.completion", "created": 1.7e9, "model": "m",
		"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "extra": true}, "finish_reason": "stop"}],
		"usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": "3"}}`,
	`{"created": "1764201600"}`,
	`{"created": 1e3}`,
	`{"created": 1.0}`,
	`{"created": 9223372036854775807}`,
	`{"created": 9223372036854775808}`,
	`{"created": -9223372036854775808}`,
	`{"created": -9223372036854775809}`,
	`{"created": 123456789012345678901234567890}`,
	`{"choices": {"index": 0}}`,
	`{"choices": [null]}`,
	`{"choices": [1, "two"]}`,
	`{"choices": [{"index": "0", "message": "text", "finish_reason": 1}]}`,
	`{"choices": [{"message": {"role": 1, "content": "c", "tool_calls": {"id": "x"}}}]}`,
	`{"choices": [{"message": {"tool_calls": [null, {"id": 5, "function": "f"}]}}]}`,
	`{"usage": [1, 2]}`,
	`{"usage": {"prompt_tokens_details": 5}}`,
	`{"liter_llm": {"cost_usd": "0.1"}}`,
	`{"liter_llm": {"cost_usd": 1e400}}`,
	`{"liter_llm": {"cost_usd": true, "attempts": 1.5}}`,
	`{"liter_llm": "openai"}`,
	// Keys in another case, or spelled with escapes or characters that fold to ASCII ones.
	`{"ID": "upper", "Choices": [{"Message": {"Content": "folded"}}]}`,
	`{"id": "a", "ID": "b"}`,
	`{"\u0069d": "escaped key"}`,
	"{\"to\u212aens\": 1, \"usage\": {\"prompt_to\u212aens\": 3}}",
	"{\"\u017fystem_fingerprint\": \"long s\"}",
	`{"é":1,"key with \" escape":2}`,
	`{"\u00e9":1}`,
	// Repeated keys: encoding/json takes the last, merging repeated objects and arrays.
	`{"id": "first", "id": "second"}`,
	`{"id": "first", "id": null}`,
	`{"id": "first", "id": 5}`,
	`{"choices": [{"index": 1}, {"index": 2}, {"index": 3}], "choices": [{"finish_reason": "stop"}], "choices": [{}, {}]}`,
	`{"usage": {"prompt_tokens": 1}, "usage": {"completion_tokens": 2}}`,
	`{"choices": [{"message": {"content": "a", "content": [{"type": "text"}]}}]}`,
	`{"liter_llm": {"cost_usd": 1, "cost_usd": null}}`,
	// Not an object.
	`null`, `[]`, `"text"`, `5`, `true`,
	// Invalid JSON.
	``, ` `, `{`, `{"choices": [`, `{"id": "unterminated}`, `{"id": "a",}`, `{"id" "a"}`, `{"id": "a"} x`,
	`{"id": "a"}{}`, `{'id': 'a'}`, `{"created": 01}`, `{"created": -}`, `{"created": 1.}`, `{"created": .5}`,
	`{"created": 1e}`, `{"created": +1}`, `{"created": 0x10}`, `{"created": NaN}`, `{"created": Infinity}`,
	`{"id": nul}`, `{"id": nulls}`, `{"unknown": tru}`, `{"unknown": [1,]}`, `{"unknown": [1 2]}`,
	`{"unknown": {"a" 1}}`, `{"id": "bad escape \x"}`, `{"id": "bad \u12"}`, `{"id": "bad \u12g4"}`,
	"{\"id\": \"control \x01 char\"}", "{\"id\": \"tab \t inside\"}", "\xef\xbb\xbf{}", "{\"id\": \"a\"}\x00",
	`{"id": "\ud83d\u00"}`, `{"choices": [{"message": {"content": [1,]}}]}`, `{"created": 1 2}`,
	`{"liter_llm": {"cost_usd": -}}`, `{"unknown": "\`, "{\"unknown\": \xff}",
	strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
	`{"unknown": ` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`,
	`{"unknown": ` + strings.Repeat(`{"a":`, 300) + "1" + strings.Repeat("}", 300) + `}`,
}

// conformanceBodies are the response bodies in the conformance cases (the upstreams' answers
// and the answers expected of the core), each also with the core's liter_llm member.
func conformanceBodies(tb testing.TB) []string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "conformance", "cases", "*", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var bodies []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for key, member := range v {
				if object, ok := member.(map[string]any); ok && (key == "json" || key == "response") {
					text, err := json.Marshal(object)
					if err != nil {
						tb.Fatal(err)
					}
					bodies = append(bodies, string(text), withServedBy(string(text)))
				}
				walk(member)
			}
		case []any:
			for _, element := range v {
				walk(element)
			}
		}
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		var c any
		if err := json.Unmarshal(data, &c); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		walk(c)
	}
	return bodies
}

// checkSameDecode fails when responseFromJSON and the fast path give anything other than what
// encoding/json gives for data. It reports whether the fast path decoded data itself.
func checkSameDecode(t *testing.T, data []byte) bool {
	t.Helper()
	want, wantErr := responseFromJSONReflect(data)
	got, gotErr := responseFromJSON(data)
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("%q:\nresponseFromJSON gave %#v, %v\nencoding/json gave  %#v, %v", data, got, gotErr, want, wantErr)
	}
	fast, ok := fastResponse(data)
	if !ok {
		return false
	}
	if wantErr != nil || !reflect.DeepEqual(fast, want) {
		t.Fatalf("%q:\nthe fast path gave %#v\nencoding/json gave %#v, %v", data, fast, want, wantErr)
	}
	return true
}

func TestFastResponseMatchesEncodingJSON(t *testing.T) {
	for _, body := range append([]string{string(fixtureResponse(t))}, handledResponses...) {
		if !checkSameDecode(t, []byte(body)) {
			t.Errorf("the fast path left %q to encoding/json", body)
		}
	}
	for _, body := range reflectedResponses {
		checkSameDecode(t, []byte(body))
	}
	bodies := conformanceBodies(t)
	handled := 0
	for _, body := range bodies {
		if checkSameDecode(t, []byte(body)) {
			handled++
		} else if testing.Verbose() {
			t.Logf("left to encoding/json: %s", body)
		}
	}
	if len(bodies) < 100 || handled < len(bodies)*9/10 {
		t.Errorf("the fast path decoded %d of the conformance cases' %d bodies", handled, len(bodies))
	}
}

// Every prefix of the fixture is invalid JSON, and each byte replaced by another gives text
// that is either still a response or invalid: all must decode as encoding/json decodes them.
func TestFastResponseOnDamagedText(t *testing.T) {
	data := fixtureResponse(t)
	for n := range len(data) {
		checkSameDecode(t, data[:n])
	}
	for i := range data {
		for _, c := range []byte{'"', '\\', '{', '}', '[', ']', ',', ':', '0', 'e', '.', '-', 'n', ' ', 0, 0xff} {
			damaged := append([]byte(nil), data...)
			damaged[i] = c
			checkSameDecode(t, damaged)
		}
	}
}

func FuzzResponseDecode(f *testing.F) {
	f.Add(fixtureResponse(f))
	for _, body := range handledResponses {
		f.Add([]byte(body))
	}
	for _, body := range reflectedResponses {
		f.Add([]byte(body))
	}
	for _, body := range conformanceBodies(f) {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameDecode(t, data)
	})
}

func BenchmarkResponseDecode(b *testing.B) {
	data := fixtureResponse(b)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := responseFromJSON(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := responseFromJSONReflect(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
