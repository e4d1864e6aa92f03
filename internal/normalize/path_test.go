package normalize

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw   string
		steps []step
		err   string
	}{
		{raw: "email", steps: []step{{op: opKey, key: "email"}}},
		{raw: "contact.first", steps: []step{{op: opKey, key: "contact"}, {op: opKey, key: "first"}}},
		{raw: "items[0].sku", steps: []step{{op: opKey, key: "items"}, {op: opIndex, index: 0}, {op: opKey, key: "sku"}}},
		{raw: "items[*].sku", steps: []step{{op: opKey, key: "items"}, {op: opAll}, {op: opKey, key: "sku"}}},
		{raw: "m[1][*]", steps: []step{{op: opKey, key: "m"}, {op: opIndex, index: 1}, {op: opAll}}},
		{raw: "[0].id", steps: []step{{op: opIndex, index: 0}, {op: opKey, key: "id"}}},
		{raw: "First Name", steps: []step{{op: opKey, key: "First Name"}}},
		{raw: "", err: "empty path"},
		{raw: "a..b", err: "empty segment at offset 2"},
		{raw: ".a", err: "empty segment at offset 0"},
		{raw: "a.", err: "empty segment at offset 2"},
		{raw: "a.[0]", err: "empty segment at offset 2"},
		{raw: "a[", err: "unclosed '['"},
		{raw: "a[x]", err: `invalid index "x"`},
		{raw: "a[-1]", err: `invalid index "-1"`},
		{raw: "a[]", err: `invalid index ""`},
		{raw: "a[99999999999]", err: "index too large"},
		{raw: "a]", err: "unexpected ']'"},
		{raw: "a[0]b", err: `unexpected 'b' at offset 4`},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			t.Parallel()
			p, err := parsePath(tc.raw)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.steps, tc.steps) {
				t.Fatalf("steps = %+v, want %+v", p.steps, tc.steps)
			}
		})
	}
}

func TestPathLookup(t *testing.T) {
	t.Parallel()
	payload := map[string]any{
		"email":   "a@example.com",
		"nothing": nil,
		"contact": map[string]any{"first": "Ann", "tags": []any{"x", "y"}},
		"name":    "just a string",
		"items": []any{
			map[string]any{"sku": "A1", "opts": []any{map[string]any{"c": "red"}, map[string]any{"c": "blue"}}},
			map[string]any{"price": 3.0},
			nil,
			map[string]any{"sku": "C3", "opts": []any{map[string]any{"c": "green"}}},
		},
		"mixed": []any{map[string]any{"k": 1.0}, "oops"},
	}
	tests := []struct {
		path  string
		want  any
		found bool
		err   string
	}{
		{path: "email", want: "a@example.com", found: true},
		{path: "missing", found: false},
		{path: "nothing", found: false},
		{path: "nothing.deeper", found: false},
		{path: "contact.first", want: "Ann", found: true},
		{path: "contact.tags[1]", want: "y", found: true},
		{path: "contact.tags[5]", found: false},
		{path: "items[0].sku", want: "A1", found: true},
		{path: "items[2].sku", found: false},
		{path: "items[*].sku", want: []any{"A1", "C3"}, found: true},
		{path: "items[*].opts[*].c", want: []any{"red", "blue", "green"}, found: true},
		{path: "items[*].nope", want: []any{}, found: true},
		{path: "absent[*].x", found: false},
		{path: "contact.tags[*]", want: []any{"x", "y"}, found: true},
		{path: "name.first", err: "expected object at name, got string"},
		{path: "contact.first.x", err: "expected object at contact.first, got string"},
		{path: "email[0]", err: "expected array at email, got string"},
		{path: "contact[*].x", err: "expected array at contact, got object"},
		{path: "mixed[*].k", err: "expected object at mixed[1], got string"},
		{path: "items[*].opts[*].c.d", err: "expected object at items[0].opts[0].c, got string"},
		{path: "[0]", err: "expected array at the root, got object"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			p, err := parsePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			var found bool
			if p.wild() {
				var vals []any
				vals, found, err = p.collect(payload)
				if vals != nil {
					got = vals
				}
			} else {
				got, found, err = p.get(payload)
			}
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.found || (found && !reflect.DeepEqual(got, tc.want)) {
				t.Fatalf("got %#v, %v; want %#v, %v", got, found, tc.want, tc.found)
			}
		})
	}
}
