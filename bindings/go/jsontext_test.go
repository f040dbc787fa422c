package literllm

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDefaultMember(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{}`, `{"timeout":5}`},
		{` { } `, ` { "timeout":5} `},
		{`{"a":1}`, `{"a":1,"timeout":5}`},
		{"{\n\t\"a\" : [1, {\"timeout\": null}],\r\n \"b\": \"}\\\"{\" }", "{\n\t\"a\" : [1, {\"timeout\": null}],\r\n \"b\": \"}\\\"{\" ,\"timeout\":5}"},
		{`{"timeout": null}`, `{"timeout": 5}`},
		{`{"time\u006fut":null,"b":2}`, `{"time\u006fut":5,"b":2}`},
		{`{"timeout": 30}`, `{"timeout": 30}`},
		{`{"timeout": 0.5, "x": {}}`, `{"timeout": 0.5, "x": {}}`},
		{`{"timeout": null, "timeout": 3}`, `{"timeout": null, "timeout": 3}`}, // the last one counts
		{`{"timeout": 3, "timeout": null}`, `{"timeout": 3, "timeout": 5}`},
		{`{"Timeout": 3}`, `{"Timeout": 3,"timeout":5}`}, // keys are case-sensitive
	}
	for _, c := range cases {
		if got := defaultMember([]byte(c.in), "timeout", []byte("5")); string(got) != c.want {
			t.Errorf("%s became %s, want %s", c.in, got, c.want)
		}
	}
	for _, unchanged := range []string{``, ` `, `null`, `[1]`, `"{}"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1} x`,
		`{"a":"open}`, `{"a":[1}`, `{a:1}`, `{"a":1 "b":2}`} {
		if got := defaultMember([]byte(unchanged), "timeout", []byte("5")); string(got) != unchanged {
			t.Errorf("%q is not a JSON object, yet it became %q", unchanged, got)
		}
	}
}

// Whatever JSON object it is given, defaultMember gives the object that decoding it, setting an
// absent or null member and encoding it again would give, as the library reads it.
func FuzzDefaultMember(f *testing.F) {
	for _, seed := range []string{`{}`, `{"a": [1, "x", {"b": null}], "timeout": null}`, `{"timeout": 2, "timeout": null}`,
		`{"t\"imeout": "}{", "n": -1.5e3, "t": true}`, `{"\u0074imeout": {"timeout": 1}}`, ` [] `, `{"a": 1,}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := defaultMember(in, "timeout", []byte("7.25"))
		var want map[string]any
		if !json.Valid(in) || json.Unmarshal(in, &want) != nil || want == nil {
			return // not an object: the library reports what is wrong with it
		}
		if want["timeout"] == nil {
			want["timeout"] = 7.25
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s became %s (%v), want %v", in, out, err, want)
		}
	})
}
