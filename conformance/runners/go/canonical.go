package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// JSON values in this runner are what decodeJSON makes: nil, bool, string, json.Number, []any and
// map[string]any. Numbers stay json.Number so that an integer literal keeps its exact value, as
// in Python (where 1 is an int and 1.0 a float).

// decodeJSON parses one JSON value, keeping numbers as json.Number.
func decodeJSON(data []byte) (any, error) {
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	var value any
	if err := decoder.Decode(&value); err != nil {
		return nil, err
	}
	if decoder.More() {
		return nil, fmt.Errorf("invalid character after the top-level value at offset %d", decoder.InputOffset())
	}
	return value, nil
}

// isIntegerLiteral reports whether n was written without a fraction or exponent, the numbers
// Python's json module reads as int.
func isIntegerLiteral(n json.Number) bool {
	return !strings.ContainsAny(string(n), ".eE")
}

// numberValue is n as Python holds it: an exact integer (big.Int) or a float64.
func numberValue(n json.Number) (*big.Int, float64, error) {
	if isIntegerLiteral(n) {
		i, ok := new(big.Int).SetString(string(n), 10)
		if !ok {
			return nil, 0, fmt.Errorf("%q is not a number", n)
		}
		return i, 0, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return nil, f, err
}

// toFloat is float(n) in Python.
func toFloat(n json.Number) (float64, error) {
	i, f, err := numberValue(n)
	if err != nil || i == nil {
		return f, err
	}
	f, _ = new(big.Float).SetInt(i).Float64()
	if math.IsInf(f, 0) {
		return f, fmt.Errorf("%s is too large for a float", n)
	}
	return f, nil
}

var maxSafeInteger = new(big.Int).Lsh(big.NewInt(1), 53)

// canonicalJSON is value as RFC 8785 (JCS) writes it: the results-file format of
// RUNNER_CONTRACT.md, byte for byte what the Python runner's canonical.py writes.
func canonicalJSON(value any) (string, error) {
	var b strings.Builder
	if err := writeCanonical(&b, value); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeCanonical(b *strings.Builder, value any) error {
	switch v := value.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case string:
		writeCanonicalString(b, v)
	case json.Number:
		i, f, err := numberValue(v)
		if err != nil {
			return err
		}
		if i != nil && new(big.Int).Abs(i).Cmp(maxSafeInteger) < 0 {
			b.WriteString(i.String())
			return nil
		}
		if i != nil {
			if f, err = toFloat(v); err != nil {
				return err
			}
		}
		text, err := ecmaScriptNumber(f)
		if err != nil {
			return err
		}
		b.WriteString(text)
	case int:
		b.WriteString(strconv.Itoa(v))
	case []any:
		b.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, item); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for key := range v {
			keys = append(keys, key)
		}
		sort.Slice(keys, func(i, j int) bool { return utf16Less(keys[i], keys[j]) })
		b.WriteByte('{')
		for i, key := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonicalString(b, key)
			b.WriteByte(':')
			if err := writeCanonical(b, v[key]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("%T is not a JSON value", value)
	}
	return nil
}

// utf16Less orders strings by their UTF-16 code units, as RFC 8785 sorts member names.
func utf16Less(a, b string) bool {
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return ua[i] < ub[i]
		}
	}
	return len(ua) < len(ub)
}

// writeCanonicalString escapes only what JSON requires: the quote, the backslash and control
// characters (\b \f \n \r \t by name, the others as \u00xx).
func writeCanonicalString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// ecmaScriptNumber is ECMAScript's Number::toString, which RFC 8785 uses for numbers.
func ecmaScriptNumber(value float64) (string, error) {
	if math.IsInf(value, 0) || math.IsNaN(value) {
		return "", fmt.Errorf("%v cannot be written as JSON", value)
	}
	if value == 0 {
		return "0", nil
	}
	if value < 0 {
		text, err := ecmaScriptNumber(-value)
		return "-" + text, err
	}
	// The shortest digits that round-trip, as d.ddddde±x.
	mantissa, exponentText, _ := strings.Cut(strconv.FormatFloat(value, 'e', -1, 64), "e")
	exponent, err := strconv.Atoi(exponentText)
	if err != nil {
		return "", err
	}
	digits := strings.TrimRight(strings.Replace(mantissa, ".", "", 1), "0")
	count, point := len(digits), exponent+1 // value = 0.<digits> * 10**point
	switch {
	case count <= point && point <= 21:
		return digits + strings.Repeat("0", point-count), nil
	case 0 < point && point <= 21:
		return digits[:point] + "." + digits[point:], nil
	case -6 < point && point <= 0:
		return "0." + strings.Repeat("0", -point) + digits, nil
	}
	shown := digits[:1]
	if count > 1 {
		shown += "." + digits[1:]
	}
	sign := "+"
	if point-1 < 0 {
		sign = "-"
	}
	return fmt.Sprintf("%se%s%d", shown, sign, abs(point-1)), nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
