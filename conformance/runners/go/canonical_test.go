package main

import (
	"encoding/json"
	"testing"
)

// The same cases as TestCanonicalJson in runners/python/test_matcher.py.
func TestNumbersFollowECMAScript(t *testing.T) {
	for literal, want := range map[string]string{
		"20.0": "20", "20": "20", "-0.0": "0", "-0": "0", "1.5": "1.5", "0.1": "0.1", "0.0001": "0.0001",
		"1e-7": "1e-7", "1.25e-7": "1.25e-7", "123456789.125": "123456789.125", "1e21": "1e+21",
		"1.5e300": "1.5e+300", "1e20": "100000000000000000000", "9007199254740992": "9007199254740992",
		"-2.5": "-2.5", "9007199254740993": "9007199254740992", "100000000000000000000": "100000000000000000000",
		"0.000001": "0.000001", "1e-6": "0.000001", "123e-20": "1.23e-18",
	} {
		if got, err := canonicalJSON(json.Number(literal)); err != nil || got != want {
			t.Errorf("%s: got %q (%v), want %q", literal, got, err, want)
		}
	}
}

func TestCanonicalStructure(t *testing.T) {
	value := j(t, `{"b": [1, 2.0, null, true], "a": {"é": "ü\n\u2028\u0001", "": false}, "\ue000": 1, "\ud83d\ude00": 2}`)
	// Keys in UTF-16 order: the surrogate pair of U+1F600 (D83D) sorts before U+E000.
	want := "{\"a\":{\"\":false,\"é\":\"ü\\n\u2028\\u0001\"},\"b\":[1,2,null,true],\"\U0001f600\":2,\"\ue000\":1}"
	if got, err := canonicalJSON(value); err != nil || got != want {
		t.Errorf("got  %s (%v)\nwant %s", got, err, want)
	}
}

func TestCanonicalRejectsNonFinite(t *testing.T) {
	if _, err := canonicalJSON(json.Number("1e400")); err == nil {
		t.Error("1e400 was written")
	}
}
