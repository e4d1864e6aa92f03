// Package payload is how Sluice reads an inbound body: decoding JSON or a
// form into plain Go values with the nesting limit checked first,
// following a dotted path through the result, and encoding such values
// back to JSON (Marshal, byte for byte what encoding/json writes). Intake, the gate (replay,
// auto-completion) and validation all use it, so a body is read the same
// way whichever of them reads it. It is a leaf: it imports only httperr,
// whose errors carry the 400 answer.
package payload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/httperr"
)

// MaxDepth is the deepest JSON nesting accepted; deeper bodies are refused
// before they are decoded, so they cannot exhaust the stack or the CPU.
const MaxDepth = 64

// FormContentType is the content type read as a form; every other body is
// read as JSON.
const FormContentType = "application/x-www-form-urlencoded"

// ParseStored decodes a body by the content type it was stored with,
// exactly as intake did.
func ParseStored(contentType string, body []byte) (any, error) {
	return Parse(body, contentType != FormContentType)
}

// Parse decodes a JSON or form body, refusing invalid UTF-8, excessive
// nesting and trailing garbage with an *httperr.Error (400) that says what
// is wrong.
func Parse(body []byte, isJSON bool) (any, error) {
	if !utf8.Valid(body) {
		return nil, httperr.New(http.StatusBadRequest, "malformed", "body is not valid UTF-8")
	}
	if !isJSON {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, httperr.New(http.StatusBadRequest, "malformed", "malformed form body: "+err.Error())
		}
		out := make(map[string]any, len(vals))
		for k, vs := range vals {
			if len(vs) == 1 {
				out[k] = vs[0]
				continue
			}
			arr := make([]any, len(vs))
			for i, v := range vs {
				arr[i] = v
			}
			out[k] = arr
		}
		return out, nil
	}
	if d := Depth(body); d > MaxDepth {
		return nil, httperr.New(http.StatusBadRequest, "too_deep", fmt.Sprintf("JSON nesting deeper than %d levels", MaxDepth))
	}
	// json.Unmarshal accepts exactly what the decoder below does (one
	// value, whitespace around it) and decodes it the same, without the
	// decoder's state and its copy of the body; the decoder stays for
	// the refusals, whose messages name the problem as before.
	var v any
	if json.Unmarshal(body, &v) == nil {
		return v, nil
	}
	v = nil
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		return nil, httperr.New(http.StatusBadRequest, "malformed", "malformed JSON: "+err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, httperr.New(http.StatusBadRequest, "malformed", "malformed JSON: data after the top-level value")
	}
	return v, nil
}

// Depth returns the maximum nesting of JSON arrays and objects, ignoring
// brackets inside strings. It is a cheap pre-scan, not a validator.
func Depth(b []byte) int {
	d, maxD := 0, 0
	inStr, esc := false, false
	for _, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			d++
			if d > maxD {
				maxD = d
			}
		case '}', ']':
			d--
		}
	}
	return maxD
}

// Lookup follows a dotted path ("customer.email") through nested maps and
// reports whether every step existed.
func Lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for {
		// strings.Cut instead of Split: every capture looks up its
		// required fields, and Split allocated a slice each time.
		part, rest, more := strings.Cut(path, ".")
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[part]; !ok {
			return nil, false
		}
		if !more {
			return cur, true
		}
		path = rest
	}
}

// Set stores v at a dotted path, creating the maps on the way.
func Set(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	cur := m
	for _, part := range parts[:len(parts)-1] {
		next, ok := cur[part].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[part] = next
		}
		cur = next
	}
	cur[parts[len(parts)-1]] = v
}

// Delete removes the field at a dotted path; a missing step is no error.
func Delete(m map[string]any, path string) {
	parts := strings.Split(path, ".")
	cur := m
	for _, part := range parts[:len(parts)-1] {
		next, ok := cur[part].(map[string]any)
		if !ok {
			return
		}
		cur = next
	}
	delete(cur, parts[len(parts)-1])
}
