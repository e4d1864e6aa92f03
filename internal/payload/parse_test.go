package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/httperr"
)

// decodeLikeBefore is Parse's JSON decoding before it tried json.Unmarshal
// first: the reference FuzzParseAsBefore compares with.
func decodeLikeBefore(body []byte) (any, string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "malformed JSON: " + err.Error()
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "malformed JSON: data after the top-level value"
	}
	return v, ""
}

// FuzzParseAsBefore: Parse accepts and refuses the same JSON bodies as the
// decoder alone did, with the same values and the same messages.
func FuzzParseAsBefore(f *testing.F) {
	for _, s := range []string{`{"a":1}`, ` [1,2] `, `{"a":`, `{"a":1} x`, `{"a":1}{}`, `"str"`, `null`, ``, ` `, `1e400`, `{"a":1,"a":2}`, `{"s":"\ud800"}`, "{}\n", `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) || Depth(body) > MaxDepth {
			return // refused before decoding, as before
		}
		want, wantMsg := decodeLikeBefore(body)
		got, err := Parse(body, true)
		gotMsg := ""
		if err != nil {
			var he *httperr.Error
			if !errors.As(err, &he) {
				t.Fatalf("Parse(%q) error %v is not an *httperr.Error", body, err)
			}
			gotMsg = he.Msg
		}
		if gotMsg != wantMsg || !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse(%q) = %#v, %q; before: %#v, %q", body, got, gotMsg, want, wantMsg)
		}
	})
}
