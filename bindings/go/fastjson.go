package literllm

import (
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The core writes every answer in one shape (an OpenAI chat.completion plus its liter_llm
// member), and decoding it with encoding/json's reflection was the largest cost the binding adds
// to a call. fastResponse decodes that shape by hand. It is a fast path, not a second decoder
// with its own rules: whatever it does not fully understand (a member whose JSON type does not
// fit its Go type, a key repeated or spelled in another case, a key with escapes or non-ASCII
// bytes, nesting deeper than fastMaxDepth, and any text that is not JSON) makes it give up, and
// responseFromJSON then decodes with encoding/json as before. What it does decode is exactly
// what encoding/json gives (TestFastResponseMatchesEncodingJSON, FuzzResponseDecode).

// fastMaxDepth bounds the nesting of the values fastResponse skips; deeper text is left to
// encoding/json (whose own limit is 10,000).
const fastMaxDepth = 256

// fastDecoder reads JSON text from data at offset i. text is data as one string, made the first
// time a string value is taken, so that the strings of a response share one allocation instead
// of one each (they keep the whole text alive while any of them lives; Response.Raw keeps it
// too).
type fastDecoder struct {
	data  []byte
	text  string
	i     int
	depth int
}

// fastResponse decodes data as responseFromJSON does; ok is false when it leaves data to
// encoding/json.
func fastResponse(data []byte) (resp *Response, ok bool) {
	d := fastDecoder{data: data}
	resp = new(Response)
	if !d.response(resp) {
		return nil, false
	}
	d.space()
	if d.i != len(data) {
		return nil, false
	}
	resp.Raw = data
	return resp, true
}

func (d *fastDecoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek is the next byte that is not white space, 0 at the end of the text.
func (d *fastDecoder) peek() byte {
	d.space()
	if d.i == len(d.data) {
		return 0
	}
	return d.data[d.i]
}

// literal consumes word (null, true or false) at the current offset.
func (d *fastDecoder) literal(word string) bool {
	if len(d.data)-d.i < len(word) || string(d.data[d.i:d.i+len(word)]) != word {
		return false
	}
	d.i += len(word)
	return true
}

// null consumes a null if the next value is one.
func (d *fastDecoder) null() bool {
	return d.peek() == 'n' && d.literal("null")
}

// objectMember reads up to the value of an object's next member: the object's '{' when first,
// then the ',' before the member or the '}' after the last. key is the member's key, only
// when it has neither escapes nor non-ASCII bytes (ok is false otherwise); more is false after
// the closing brace.
func (d *fastDecoder) objectMember(first bool) (key []byte, more, ok bool) {
	switch c := d.peek(); {
	case first && c == '{':
		d.i++
		if d.peek() == '}' {
			d.i++
			return nil, false, true
		}
	case !first && c == ',':
		d.i++
		d.space()
	case !first && c == '}':
		d.i++
		return nil, false, true
	default:
		return nil, false, false
	}
	if d.i == len(d.data) || d.data[d.i] != '"' {
		return nil, false, false
	}
	start := d.i + 1
	for j := start; j < len(d.data); j++ {
		switch c := d.data[j]; {
		case c == '"':
			key = d.data[start:j]
			d.i = j + 1
			if d.peek() != ':' {
				return nil, false, false
			}
			d.i++
			return key, true, true
		case c == '\\' || c < ' ' || c >= utf8.RuneSelf:
			return nil, false, false
		}
	}
	return nil, false, false
}

// arrayElement reads up to an array's next element: the '[' when first, then the ',' before
// the element or the ']' after the last; more is false after the closing bracket.
func (d *fastDecoder) arrayElement(first bool) (more, ok bool) {
	switch c := d.peek(); {
	case first && c == '[':
		d.i++
		if d.peek() == ']' {
			d.i++
			return false, true
		}
		return true, true
	case !first && c == ',':
		d.i++
		return true, true
	case !first && c == ']':
		d.i++
		return false, true
	}
	return false, false
}

// unknown checks a key that names no field: encoding/json matches keys without regard to case
// (the key "ID" sets ID), which the fast path leaves to it.
func unknown(key []byte, fields ...string) bool {
	for _, f := range fields {
		if len(f) == len(key) && asciiEqualFold(f, key) {
			return false
		}
	}
	return true
}

func asciiEqualFold(s string, b []byte) bool {
	for i := range len(s) {
		x, y := s[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// seen records that field bit was set in an object and reports false when it already was: a
// repeated key is left to encoding/json, which merges the repeats into one value.
func seen(mask *uint32, bit uint32) bool {
	if *mask&bit != 0 {
		return false
	}
	*mask |= bit
	return true
}

// str decodes a string value into *s (null leaves it as it is, as in encoding/json).
func (d *fastDecoder) str(s *string) bool {
	if d.null() {
		return true
	}
	if d.peek() != '"' {
		return false
	}
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.data); j++ {
		switch c := d.data[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(d.data[start:j]) {
				return d.escapedString(s)
			}
			if d.text == "" {
				d.text = string(d.data)
			}
			*s = d.text[start:j]
			d.i = j + 1
			return true
		case c == '\\':
			return d.escapedString(s)
		case c < ' ':
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return false
}

// escapedString decodes the string at the current offset as encoding/json does: escapes
// resolved, a \u escape of a lone surrogate and each byte of invalid UTF-8 replaced by U+FFFD.
func (d *fastDecoder) escapedString(s *string) bool {
	data := d.data
	out := make([]byte, 0, 64)
	j := d.i + 1
	for j < len(data) {
		c := data[j]
		switch {
		case c == '"':
			*s = string(out)
			d.i = j + 1
			return true
		case c < ' ':
			return false
		case c == '\\':
			if j+1 == len(data) {
				return false
			}
			switch data[j+1] {
			case '"', '\\', '/':
				out = append(out, data[j+1])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(data, j+2)
				if !ok {
					return false
				}
				j += 6
				if utf16.IsSurrogate(r) {
					if j+1 < len(data) && data[j] == '\\' && data[j+1] == 'u' {
						r2, ok := hex4(data, j+2)
						if !ok {
							return false
						}
						if pair := utf16.DecodeRune(r, r2); pair != unicode.ReplacementChar {
							out = utf8.AppendRune(out, pair)
							j += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return false
			}
			j += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			j++
		default:
			r, size := utf8.DecodeRune(data[j:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, unicode.ReplacementChar)
			} else {
				out = append(out, data[j:j+size]...)
			}
			j += size
		}
	}
	return false
}

func hex4(data []byte, i int) (rune, bool) {
	if len(data)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number consumes a JSON number and returns its offsets; integer says it has neither fraction
// nor exponent.
func (d *fastDecoder) number() (start, end int, integer, ok bool) {
	data := d.data
	start = d.i
	j := start
	if j < len(data) && data[j] == '-' {
		j++
	}
	switch {
	case j < len(data) && data[j] == '0':
		j++
	case j < len(data) && '1' <= data[j] && data[j] <= '9':
		for j < len(data) && '0' <= data[j] && data[j] <= '9' {
			j++
		}
	default:
		return 0, 0, false, false
	}
	integer = true
	if j < len(data) && data[j] == '.' {
		integer = false
		j++
		digits := j
		for j < len(data) && '0' <= data[j] && data[j] <= '9' {
			j++
		}
		if j == digits {
			return 0, 0, false, false
		}
	}
	if j < len(data) && (data[j] == 'e' || data[j] == 'E') {
		integer = false
		j++
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		digits := j
		for j < len(data) && '0' <= data[j] && data[j] <= '9' {
			j++
		}
		if j == digits {
			return 0, 0, false, false
		}
	}
	d.i = j
	return start, j, integer, true
}

// int decodes an integer into *n (null leaves it as it is). A number with a fraction or an
// exponent, or out of int64's range, is a type error to encoding/json: left to it.
func (d *fastDecoder) int(n *int64) bool {
	if d.null() {
		return true
	}
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return false
	}
	start, end, integer, ok := d.number()
	if !ok || !integer {
		return false
	}
	digits := d.data[start:end]
	negative := digits[0] == '-'
	if negative {
		digits = digits[1:]
	}
	if len(digits) > 18 { // past 18 digits it may not fit: leave those to encoding/json
		return false
	}
	var v int64
	for _, c := range digits {
		v = v*10 + int64(c-'0')
	}
	if negative {
		v = -v
	}
	*n = v
	return true
}

func (d *fastDecoder) intField(n *int) bool {
	v := int64(*n)
	if !d.int(&v) || int64(int(v)) != v { // out of int's range where int has 32 bits
		return false
	}
	*n = int(v)
	return true
}

// float decodes a number into a new float64 at *p; null sets *p to nil.
func (d *fastDecoder) float(p **float64) bool {
	if d.null() {
		*p = nil
		return true
	}
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		return false
	}
	start, end, _, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseFloat(string(d.data[start:end]), 64)
	if err != nil {
		return false
	}
	*p = &v
	return true
}

// skip consumes any JSON value, checking it as encoding/json's scanner would.
func (d *fastDecoder) skip() bool {
	switch c := d.peek(); c {
	case '{':
		if d.depth++; d.depth > fastMaxDepth {
			return false
		}
		for first := true; ; first = false {
			_, more, ok := d.skipMember(first)
			if !ok {
				return false
			}
			if !more {
				break
			}
			if !d.skip() {
				return false
			}
		}
		d.depth--
		return true
	case '[':
		if d.depth++; d.depth > fastMaxDepth {
			return false
		}
		for first := true; ; first = false {
			more, ok := d.arrayElement(first)
			if !ok {
				return false
			}
			if !more {
				break
			}
			if !d.skip() {
				return false
			}
		}
		d.depth--
		return true
	case '"':
		return d.skipString()
	case 'n':
		return d.literal("null")
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		_, _, _, ok := d.number()
		return ok
	}
	return false
}

// skipMember is objectMember for an object whose keys are not looked at: any valid key.
func (d *fastDecoder) skipMember(first bool) (_ struct{}, more, ok bool) {
	switch c := d.peek(); {
	case first && c == '{':
		d.i++
		if d.peek() == '}' {
			d.i++
			return struct{}{}, false, true
		}
	case !first && c == ',':
		d.i++
		d.space()
	case !first && c == '}':
		d.i++
		return struct{}{}, false, true
	default:
		return struct{}{}, false, false
	}
	if !d.skipString() || d.peek() != ':' {
		return struct{}{}, false, false
	}
	d.i++
	return struct{}{}, true, true
}

// skipString consumes a string: no control characters, only JSON's escapes (any bytes
// otherwise, as encoding/json's scanner allows).
func (d *fastDecoder) skipString() bool {
	data := d.data
	if d.i == len(data) || data[d.i] != '"' {
		return false
	}
	for j := d.i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			d.i = j + 1
			return true
		case c < ' ':
			return false
		case c == '\\':
			if j+1 == len(data) {
				return false
			}
			switch data[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if _, ok := hex4(data, j+2); !ok {
					return false
				}
				j += 5
			default:
				return false
			}
		}
	}
	return false
}

// object decodes an object whose Go fields are named by fields: member is called with the index
// of each field's member, which may appear once, and other members are skipped. A key that names
// a field only when case is ignored (encoding/json would take it) makes it give up.
func (d *fastDecoder) object(fields []string, member func(i int) bool) bool {
	var mask uint32
	for first := true; ; first = false {
		key, more, ok := d.objectMember(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		i := fieldIndex(fields, key)
		if i < 0 {
			ok = unknown(key, fields...) && d.skip()
		} else {
			ok = seen(&mask, 1<<i) && member(i)
		}
		if !ok {
			return false
		}
	}
}

// fieldIndex is the index of the field key names exactly, or -1.
func fieldIndex(fields []string, key []byte) int {
	for i, f := range fields {
		if f == string(key) {
			return i
		}
	}
	return -1
}

// list decodes an array into *out, each element by elem; null makes *out nil.
func list[T any](d *fastDecoder, out *[]T, elem func(*T) bool) bool {
	if d.null() {
		*out = nil
		return true
	}
	items := make([]T, 0, 1)
	for first := true; ; first = false {
		more, ok := d.arrayElement(first)
		if !ok {
			return false
		}
		if !more {
			*out = items
			return true
		}
		var zero T
		items = append(items, zero)
		if !elem(&items[len(items)-1]) {
			return false
		}
	}
}

var responseKeys = []string{"id", "object", "created", "model", "choices", "usage", "system_fingerprint", "liter_llm"}

// response decodes the top-level object.
func (d *fastDecoder) response(r *Response) bool {
	return d.object(responseKeys, func(i int) bool {
		switch i {
		case 0:
			return d.str(&r.ID)
		case 1:
			return d.str(&r.Object)
		case 2:
			return d.int(&r.Created)
		case 3:
			return d.str(&r.Model)
		case 4:
			return list(d, &r.Choices, d.choice)
		case 5:
			return d.usage(&r.Usage)
		case 6:
			return d.str(&r.SystemFingerprint)
		default:
			return d.servedBy(&r.ServedBy)
		}
	})
}

var choiceKeys = []string{"index", "message", "finish_reason"}

func (d *fastDecoder) choice(c *Choice) bool {
	return d.object(choiceKeys, func(i int) bool {
		switch i {
		case 0:
			return d.intField(&c.Index)
		case 1:
			return d.message(&c.Message)
		default:
			return d.str(&c.FinishReason)
		}
	})
}

var messageKeys = []string{"role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content"}

// message decodes a message as messageWire.message does: content a string, an array of parts
// (decoded by encoding/json, as messageWire.message does it: rare in an answer), or anything
// else, which leaves Content "".
func (d *fastDecoder) message(m *Message) bool {
	if d.null() {
		return true
	}
	return d.object(messageKeys, func(i int) bool {
		switch i {
		case 0:
			return d.str(&m.Role)
		case 1:
			return d.content(m)
		case 2:
			return d.str(&m.Name)
		case 3:
			return list(d, &m.ToolCalls, d.toolCall)
		case 4:
			return d.str(&m.ToolCallID)
		default:
			return d.str(&m.ReasoningContent)
		}
	})
}

func (d *fastDecoder) content(m *Message) bool {
	switch d.peek() {
	case '"':
		return d.str(&m.Content)
	case '[':
		start := d.i
		if !d.skip() {
			return false
		}
		return lenientUnmarshal(d.data[start:d.i], &m.Parts) == nil
	}
	return d.skip()
}

var toolCallKeys = []string{"id", "type", "function"}

func (d *fastDecoder) toolCall(c *ToolCall) bool {
	return d.object(toolCallKeys, func(i int) bool {
		switch i {
		case 0:
			return d.str(&c.ID)
		case 1:
			return d.str(&c.Type)
		default:
			return d.function(&c.Function)
		}
	})
}

var functionKeys = []string{"name", "arguments"}

func (d *fastDecoder) function(f *FunctionCall) bool {
	if d.null() {
		return true
	}
	return d.object(functionKeys, func(i int) bool {
		if i == 0 {
			return d.str(&f.Name)
		}
		return d.str(&f.Arguments)
	})
}

var usageKeys = []string{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "cache_creation_input_tokens"}

func (d *fastDecoder) usage(u *Usage) bool {
	if d.null() {
		return true
	}
	return d.object(usageKeys, func(i int) bool {
		switch i {
		case 0:
			return d.intField(&u.PromptTokens)
		case 1:
			return d.intField(&u.CompletionTokens)
		case 2:
			return d.intField(&u.TotalTokens)
		case 3:
			return d.promptTokensDetails(&u.PromptTokensDetails)
		default:
			return d.intField(&u.CacheCreationInputTokens)
		}
	})
}

var promptTokensDetailsKeys = []string{"cached_tokens"}

func (d *fastDecoder) promptTokensDetails(p **PromptTokensDetails) bool {
	if d.null() {
		*p = nil
		return true
	}
	details := new(PromptTokensDetails)
	if !d.object(promptTokensDetailsKeys, func(int) bool { return d.intField(&details.CachedTokens) }) {
		return false
	}
	*p = details
	return true
}

var servedByKeys = []string{"provider", "model", "attempts", "cache", "cost_usd"}

func (d *fastDecoder) servedBy(s *ServedBy) bool {
	if d.null() {
		return true
	}
	return d.object(servedByKeys, func(i int) bool {
		switch i {
		case 0:
			return d.str(&s.Provider)
		case 1:
			return d.str(&s.Model)
		case 2:
			return d.intField(&s.Attempts)
		case 3:
			return d.str(&s.Cache)
		default:
			return d.float(&s.CostUSD)
		}
	})
}
