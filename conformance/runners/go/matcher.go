package main

// The subset matcher of the conformance cases (RUNNER_CONTRACT.md, "Matching"), the same rules
// as runners/python/matcher.py. mismatches returns one line per difference, each starting with
// the JSON path where it was found; none means the actual value matches.

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

var operators = []string{"$absent", "$type", "$contains", "$json"}

// caseError is a malformed expected value: a bug in the case, not a mismatch.
type caseError struct{ message string }

func (e *caseError) Error() string { return e.message }

func isNumber(value any) bool {
	_, ok := value.(json.Number)
	return ok
}

var typeChecks = map[string]func(any) bool{
	"string": func(v any) bool { _, ok := v.(string); return ok },
	"integer": func(v any) bool {
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := toFloat(n)
		return err == nil && !math.IsInf(f, 0) && f == math.Trunc(f)
	},
	"number":  isNumber,
	"object":  func(v any) bool { _, ok := v.(map[string]any); return ok },
	"array":   func(v any) bool { _, ok := v.([]any); return ok },
	"null":    func(v any) bool { return v == nil },
	"boolean": func(v any) bool { _, ok := v.(bool); return ok },
}

// operatorOf is the operator name when expected is an operator object, else "".
func operatorOf(expected any) (string, error) {
	object, ok := expected.(map[string]any)
	if !ok || len(object) != 1 {
		return "", nil
	}
	for key := range object {
		for _, operator := range operators {
			if key == operator {
				return key, nil
			}
		}
		if strings.HasPrefix(key, "$") {
			return "", &caseError{fmt.Sprintf("unknown matcher operator %q; known: %s", key, strings.Join(operators, ", "))}
		}
	}
	return "", nil
}

// show is a value in a message, as Python's json.dumps(sort_keys=True) writes it, cut at 200
// characters.
func show(value any) string {
	var b strings.Builder
	writeShown(&b, value)
	text := b.String()
	if runes := []rune(text); len(runes) > 200 {
		return string(runes[:197]) + "..."
	}
	return text
}

func writeShown(b *strings.Builder, value any) {
	switch v := value.(type) {
	case []any:
		b.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeShown(b, item)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for key := range v {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, key := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeCanonicalString(b, key)
			b.WriteString(": ")
			writeShown(b, v[key])
		}
		b.WriteByte('}')
	case json.Number:
		b.WriteString(string(v))
	default:
		if err := writeCanonical(b, v); err != nil {
			fmt.Fprint(b, v)
		}
	}
}

// scalarsEqual compares JSON scalars: numbers by value (exactly when both are integers),
// booleans only with booleans, strings exactly, null with null.
func scalarsEqual(expected, actual any) bool {
	e, expectedIsNumber := expected.(json.Number)
	a, actualIsNumber := actual.(json.Number)
	if expectedIsNumber && actualIsNumber {
		ei, ef, err1 := numberValue(e)
		ai, af, err2 := numberValue(a)
		if err1 != nil || err2 != nil {
			return false
		}
		if ei != nil && ai != nil {
			return ei.Cmp(ai) == 0
		}
		ef, err1 = toFloat(e)
		af, err2 = toFloat(a)
		return err1 == nil && err2 == nil && ef == af
	}
	if expectedIsNumber || actualIsNumber {
		return false
	}
	switch e := expected.(type) {
	case nil:
		return actual == nil
	case bool:
		a, ok := actual.(bool)
		return ok && a == e
	case string:
		a, ok := actual.(string)
		return ok && a == e
	}
	return false
}

// isIdentifier is Python's str.isidentifier, closely enough for JSON member names.
func isIdentifier(key string) bool {
	for i, r := range key {
		if !(r == '_' || unicode.IsLetter(r) || (i > 0 && (unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)))) {
			return false
		}
	}
	return key != ""
}

func mismatches(expected, actual any, path string) ([]string, error) {
	operator, err := operatorOf(expected)
	if err != nil {
		return nil, err
	}
	switch operator {
	case "$absent":
		return nil, &caseError{path + ": $absent only makes sense as the value of an object member"}
	case "$type":
		wanted, _ := expected.(map[string]any)["$type"].(string)
		check, known := typeChecks[wanted]
		if !known {
			return nil, &caseError{fmt.Sprintf("%s: unknown $type %s", path, show(expected.(map[string]any)["$type"]))}
		}
		if check(actual) {
			return nil, nil
		}
		return []string{fmt.Sprintf("%s: expected a value of type %s, got %s", path, wanted, show(actual))}, nil
	case "$contains":
		needle := expected.(map[string]any)["$contains"]
		text, isString := actual.(string)
		needleText, needleIsString := needle.(string)
		if !needleIsString {
			return nil, &caseError{fmt.Sprintf("%s: $contains needs a string, got %s", path, show(needle))}
		}
		if isString && strings.Contains(text, needleText) {
			return nil, nil
		}
		return []string{fmt.Sprintf("%s: expected a string containing %s, got %s", path, show(needle), show(actual))}, nil
	case "$json":
		text, ok := actual.(string)
		if !ok {
			return []string{fmt.Sprintf("%s: expected a string of JSON text, got %s", path, show(actual))}, nil
		}
		parsed, err := decodeJSON([]byte(text))
		if err != nil {
			return []string{fmt.Sprintf("%s: expected JSON text, got %s (%v)", path, show(actual), err)}, nil
		}
		return mismatches(expected.(map[string]any)["$json"], parsed, path+"<json>")
	}

	switch e := expected.(type) {
	case map[string]any:
		a, ok := actual.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: expected an object, got %s", path, show(actual))}, nil
		}
		keys := make([]string, 0, len(e))
		for key := range e {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		var found []string
		for _, key := range keys {
			memberPath := path + "." + key
			if !isIdentifier(key) {
				memberPath = path + "[" + strconv.Quote(key) + "]"
			}
			memberOperator, err := operatorOf(e[key])
			if err != nil {
				return nil, err
			}
			actualValue, present := a[key]
			switch {
			case memberOperator == "$absent":
				if present {
					found = append(found, fmt.Sprintf("%s: expected no such member, got %s", memberPath, show(actualValue)))
				}
			case !present:
				found = append(found, fmt.Sprintf("%s: missing, expected %s", memberPath, show(e[key])))
			default:
				more, err := mismatches(e[key], actualValue, memberPath)
				if err != nil {
					return nil, err
				}
				found = append(found, more...)
			}
		}
		return found, nil
	case []any:
		a, ok := actual.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: expected an array, got %s", path, show(actual))}, nil
		}
		if len(e) != len(a) {
			return []string{fmt.Sprintf("%s: expected an array of %d items, got %d: %s", path, len(e), len(a), show(actual))}, nil
		}
		var found []string
		for i := range e {
			more, err := mismatches(e[i], a[i], fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			found = append(found, more...)
		}
		return found, nil
	}
	if !scalarsEqual(expected, actual) {
		return []string{fmt.Sprintf("%s: expected %s, got %s", path, show(expected), show(actual))}, nil
	}
	return nil, nil
}

// errorMismatches matches an `expect.error` object: subset members plus message_contains and
// message_excludes.
func errorMismatches(expected map[string]any, actual any) ([]string, error) {
	rest := make(map[string]any, len(expected))
	for key, value := range expected {
		rest[key] = value
	}
	contains, _ := rest["message_contains"].([]any)
	excludes, _ := rest["message_excludes"].([]any)
	delete(rest, "message_contains")
	delete(rest, "message_excludes")
	found, err := mismatches(rest, actual, "$error")
	if err != nil {
		return nil, err
	}
	var message any
	if object, ok := actual.(map[string]any); ok {
		message = object["message"]
	}
	text, isString := message.(string)
	if !isString {
		if len(contains) > 0 || len(excludes) > 0 {
			found = append(found, "$error.message: expected a string, got "+show(message))
		}
		return found, nil
	}
	for _, needle := range contains {
		if s, _ := needle.(string); !strings.Contains(text, s) {
			found = append(found, fmt.Sprintf("$error.message: expected it to contain %s, got %s", show(needle), show(message)))
		}
	}
	for _, needle := range excludes {
		if s, _ := needle.(string); strings.Contains(text, s) {
			found = append(found, fmt.Sprintf("$error.message: must not contain %s, got %s", show(needle), show(message)))
		}
	}
	return found, nil
}
