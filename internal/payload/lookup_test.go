package payload_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/payload"
)

func TestLookup(t *testing.T) {
	t.Parallel()
	m := map[string]any{
		"a":  map[string]any{"b": map[string]any{"c": 1.0}, "": "empty step"},
		"x":  "leaf",
		"":   "empty key",
		"n":  nil,
		"d.": "dotted",
	}
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"a.b.c", 1.0, true},
		{"x", "leaf", true},
		{"n", nil, true},
		{"", "empty key", true},
		{"a.", "empty step", true},
		{"a.b.c.d", nil, false}, // through a leaf
		{"x.y", nil, false},
		{"missing", nil, false},
		{"a.missing", nil, false},
		{"d.", nil, false}, // a dotted key is not addressable
	}
	for _, tt := range tests {
		got, ok := payload.Lookup(m, tt.path)
		if ok != tt.ok || got != tt.want {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}
