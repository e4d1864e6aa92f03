package validate

import (
	"reflect"
	"testing"
)

const leadSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["email", "company"],
  "properties": {
    "email": {"type": "string", "format": "email"},
    "company": {"type": "string", "minLength": 1},
    "amount": {"type": "number", "minimum": 0},
    "employees": {"type": "integer"},
    "address": {"type": "object", "required": ["country"], "properties": {"country": {"type": "string"}}}
  }
}`

func TestCheck(t *testing.T) {
	t.Parallel()
	s, err := CompileSchema("lead", []byte(leadSchema))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		rec          map[string]any
		required     []string
		wantMissing  []string
		wantProblems []string // fields
	}{
		{"valid", map[string]any{"email": "a@b.co", "company": "Acme", "amount": 10.5, "employees": int64(3)}, nil, nil, nil},
		{"schema required holds", map[string]any{"email": "a@b.co"}, nil, []string{"company"}, nil},
		{"flow required holds", map[string]any{"email": "a@b.co", "company": "Acme"}, []string{"phone"}, []string{"phone"}, nil},
		{"blank string counts as missing", map[string]any{"email": "a@b.co", "company": "Acme", "phone": "  "}, []string{"phone"}, []string{"phone"}, nil},
		{"nested required", map[string]any{"email": "a@b.co", "company": "Acme", "address": map[string]any{}}, nil, []string{"address.country"}, nil},
		{"wrong type rejects", map[string]any{"email": "a@b.co", "company": "Acme", "amount": "ten"}, nil, nil, []string{"amount"}},
		{"bad format rejects", map[string]any{"email": "not-an-email", "company": "Acme"}, nil, nil, []string{"email"}},
		{"integer with fraction rejects", map[string]any{"email": "a@b.co", "company": "Acme", "employees": 2.5}, nil, nil, []string{"employees"}},
		{"reject and missing together", map[string]any{"email": "a@b.co", "amount": -1.0}, nil, []string{"company"}, []string{"amount"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := Check(s, tc.rec, tc.required)
			if !reflect.DeepEqual(v.Missing, tc.wantMissing) {
				t.Errorf("missing = %v, want %v", v.Missing, tc.wantMissing)
			}
			var got []string
			for _, p := range v.Problems {
				got = append(got, p.Field)
				if p.Message == "" {
					t.Errorf("problem at %s has no message", p.Field)
				}
			}
			if !reflect.DeepEqual(got, tc.wantProblems) {
				t.Errorf("problems = %v (%v), want %v", got, v.Problems, tc.wantProblems)
			}
			if len(tc.wantProblems) > 0 != v.Rejected() {
				t.Errorf("Rejected() = %v", v.Rejected())
			}
		})
	}
}

func TestCompileSchemaErrors(t *testing.T) {
	t.Parallel()
	if _, err := CompileSchema("bad", []byte(`{"type": `)); err == nil {
		t.Error("invalid JSON compiled")
	}
	if _, err := CompileSchema("bad", []byte(`{"type": "nonsense"}`)); err == nil {
		t.Error("invalid schema compiled")
	}
}
