package literllm

import (
	"bytes"
	"encoding/json"
)

// A call's request is encoded once (by Request.MarshalJSON, by json.Marshal, or by the caller,
// who passes JSON text); what the binding adds to it (Request.Timeout and Extra, ctx's deadline
// as `timeout`) is written into that text, found by the scan below, which neither decodes nor
// encodes the rest.

// memberSpan is one member of a JSON object's text: its key and the offsets of its value.
type memberSpan struct {
	key        string
	start, end int
}

// rawMember is a member to add: a key and its value's JSON text.
type rawMember struct {
	key   string
	value []byte
}

// objectMembers lists the members of the JSON object text data, in order, and the offset of its
// closing brace. ok is false when data is not a JSON object as far as finding the members'
// boundaries can tell; it does not check the values (the library reads the request and reports
// what is wrong with it).
func objectMembers(data []byte) (members []memberSpan, closing int, ok bool) {
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return nil, 0, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil, i, skipSpace(data, i+1) == len(data)
	}
	for {
		keyEnd, ok := stringEnd(data, i)
		if !ok {
			return nil, 0, false
		}
		key, ok := decodeKey(data[i:keyEnd])
		if !ok {
			return nil, 0, false
		}
		i = skipSpace(data, keyEnd)
		if i == len(data) || data[i] != ':' {
			return nil, 0, false
		}
		start := skipSpace(data, i+1)
		end, ok := valueEnd(data, start)
		if !ok {
			return nil, 0, false
		}
		members = append(members, memberSpan{key, start, end})
		i = skipSpace(data, end)
		switch {
		case i == len(data):
			return nil, 0, false
		case data[i] == ',':
			i = skipSpace(data, i+1)
		case data[i] == '}':
			return members, i, skipSpace(data, i+1) == len(data)
		default:
			return nil, 0, false
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// stringEnd is the offset just past the JSON string that starts at data[i].
func stringEnd(data []byte, i int) (int, bool) {
	if i == len(data) || data[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// valueEnd is the offset just past the JSON value that starts at data[i]: a string, an object
// or array (brackets counted outside strings), or a scalar (up to the next delimiter).
func valueEnd(data []byte, i int) (int, bool) {
	if i == len(data) {
		return 0, false
	}
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, ok := stringEnd(data, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(data) && !endsScalar(data[j]) {
		j++
	}
	return j, j > i
}

func endsScalar(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// decodeKey is the text of the JSON string quoted (quotes included), unescaped when it has
// escapes ("time\u006fut" is the key timeout).
func decodeKey(quoted []byte) (string, bool) {
	raw := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw), true
	}
	var key string
	return key, json.Unmarshal(quoted, &key) == nil
}

// appendMembers writes added into the JSON object text object before its closing brace (at
// offset closing); hasMembers says whether the object already has members. object is not
// modified.
func appendMembers(object []byte, closing int, hasMembers bool, added []rawMember) []byte {
	size := len(object)
	for _, m := range added {
		size += len(m.key) + len(m.value) + 8
	}
	out := make([]byte, 0, size)
	out = append(out, object[:closing]...)
	for _, m := range added {
		if hasMembers {
			out = append(out, ',')
		}
		hasMembers = true
		key, _ := json.Marshal(m.key) // a string always encodes
		out = append(out, key...)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, object[closing:]...)
}

// defaultMember sets the member key of the JSON object text object to value, unless the object
// sets it already to something other than null. As the library reads a repeated key, the last
// one counts. Text that is not a JSON object is returned unchanged.
func defaultMember(object []byte, key string, value []byte) []byte {
	members, closing, ok := objectMembers(object)
	if !ok {
		return object
	}
	for i := len(members) - 1; i >= 0; i-- {
		m := members[i]
		if m.key != key {
			continue
		}
		if string(object[m.start:m.end]) != "null" {
			return object
		}
		out := make([]byte, 0, len(object)-(m.end-m.start)+len(value))
		out = append(out, object[:m.start]...)
		out = append(out, value...)
		return append(out, object[m.end:]...)
	}
	return appendMembers(object, closing, len(members) > 0, []rawMember{{key, value}})
}
