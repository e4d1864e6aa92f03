package payload

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/httperr"
)

// FuzzParse feeds arbitrary bodies to the intake parser: it must never
// panic, must refuse with a 400 (never another error), and what it accepts
// must be JSON-encodable for storage.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,2]`, `{"a":{"b":[{"c":"d"}]}}`, `{"a":`, "\xff", `{"a":1} x`, `a=1&a=2&b=`, `"str"`, `null`, `{"s":"\u00e9\\"}"}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		v, err := Parse(body, isJSON)
		if err != nil {
			var he *httperr.Error
			if !errors.As(err, &he) || he.Code != 400 {
				t.Fatalf("refusal is not a 400: %v", err)
			}
			return
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("accepted body not encodable: %v", err)
		}
	})
}

func TestDepth(t *testing.T) {
	cases := map[string]int{`{}`: 1, `[[[]]]`: 3, `{"a":"[[[["}`: 1, `{"a":"\"[["}`: 1, `1`: 0}
	for in, want := range cases {
		if got := Depth([]byte(in)); got != want {
			t.Errorf("Depth(%s) = %d, want %d", in, got, want)
		}
	}
}
