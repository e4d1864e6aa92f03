package validate

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fastSchemas are schemas the fast check must cover (compileFast gives a
// node) and be checked against the library on.
var fastSchemas = map[string]string{
	"lead": leadSchema,
	"bounds": `{"type": "object", "properties": {
		"n": {"type": "number", "minimum": 0, "maximum": 1000},
		"x": {"type": "number", "exclusiveMinimum": 0.5, "exclusiveMaximum": 10},
		"i": {"type": ["integer", "null"], "minimum": -3},
		"b": {"type": "boolean"}
	}}`,
	"strict": `{"type": "object", "required": ["id"], "additionalProperties": false, "minProperties": 1, "maxProperties": 3,
		"properties": {
			"id": {"type": "string", "pattern": "^[a-z]+-[0-9]+$", "maxLength": 8},
			"tags": {"type": "array"},
			"meta": {"type": "object", "additionalProperties": {"type": "string", "minLength": 2}}
		}}`,
	"draft7": `{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
		"properties": {"when": {"type": "string", "format": "date-time"}, "n": {"type": "integer", "maximum": 5}}}`,
	"false": `{"type": "object", "properties": {"never": false, "any": true}}`,
}

// notFastSchemas use keywords the fast check leaves to the library.
var notFastSchemas = map[string]string{
	"enum":      `{"type": "object", "properties": {"s": {"enum": ["a", "b"]}}}`,
	"ref":       `{"$defs": {"s": {"type": "string"}}, "type": "object", "properties": {"s": {"$ref": "#/$defs/s"}}}`,
	"allOf":     `{"allOf": [{"type": "object"}]}`,
	"inexact":   `{"type": "object", "properties": {"n": {"minimum": 0.1}}}`,
	"items":     `{"type": "object", "properties": {"a": {"items": {"type": "string"}}}}`,
	"uneval":    `{"type": "object", "unevaluatedProperties": false}`,
	"multiple":  `{"type": "object", "properties": {"n": {"multipleOf": 2}}}`,
	"patternPr": `{"type": "object", "patternProperties": {"^x": {"type": "string"}}}`,
}

func TestFastCoverage(t *testing.T) {
	t.Parallel()
	for name, doc := range fastSchemas {
		s, err := CompileSchema(name, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if s.fast == nil {
			t.Errorf("%s: no fast check; every record would pay for the library", name)
		}
	}
	for name, doc := range notFastSchemas {
		s, err := CompileSchema(name, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if s.fast != nil {
			t.Errorf("%s: a fast check for a schema with keywords it does not implement", name)
		}
	}
}

// TestFastAgreesWithLibrary checks, on generated records, that the fast
// check never accepts what the library rejects, and that it accepts most
// of what the library accepts (it is no use otherwise).
func TestFastAgreesWithLibrary(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for name, doc := range fastSchemas {
		s, err := CompileSchema(name, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		valid, fast := 0, 0
		for range 20000 {
			rec := genRecord(r, 0)
			sv := toSchemaValue(rec)
			libOK := s.s.Validate(sv) == nil
			fastOK := s.fast.pass(sv)
			if fastOK && !libOK {
				t.Fatalf("%s: fast check accepts %#v; the library rejects it: %v", name, rec, s.s.Validate(sv))
			}
			if libOK {
				valid++
			}
			if fastOK {
				fast++
			}
		}
		if valid > 100 && fast < valid*9/10 {
			t.Errorf("%s: fast check accepted %d of %d valid records", name, fast, valid)
		}
		t.Logf("%s: %d valid of 20000, fast accepted %d", name, valid, fast)
	}
}

var (
	genKeys    = []string{"email", "company", "amount", "employees", "address", "country", "n", "x", "i", "b", "id", "tags", "meta", "when", "never", "any", "k"}
	genStrings = []string{"", "a", "ab", "Acme", "a@b.co", "Bench@Example.com", "not-an-email", "abc-12", "abcdefgh-1", "ab-", "é", "éé",
		"2026-12-07T10:00:00Z", "2026-13-07T10:00:00Z", " x@y.org", "x@y", "<script>", "a\u0000b"}
	genNumbers = []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 0.1, 0.30000000000000004, 5, 6, 10, 9.999999999999998, 1000, 1000.0000000000001,
		-3, -3.0000000000000004, 2.5, 1e21, 9007199254740992, 9007199254740993, -9007199254740994, 1e300, math.SmallestNonzeroFloat64, 1e-7}
)

func genValue(r *rand.Rand, depth int) any {
	switch r.IntN(9) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2, 3:
		return genNumbers[r.IntN(len(genNumbers))]
	case 4:
		return int64(r.IntN(20) - 5) // converted to int, as intake's int64s are
	case 5, 6:
		return genStrings[r.IntN(len(genStrings))]
	case 7:
		if depth > 2 {
			return "deep"
		}
		return []any{genValue(r, depth+1)}
	default:
		if depth > 2 {
			return 1.0
		}
		return genRecord(r, depth+1)
	}
}

func genRecord(r *rand.Rand, depth int) map[string]any {
	m := map[string]any{}
	for range r.IntN(5) {
		m[genKeys[r.IntN(len(genKeys))]] = genValue(r, depth)
	}
	// Mostly-valid records too, so the generator does not only make junk.
	if depth == 0 && r.IntN(4) == 0 {
		m = map[string]any{"id": genStrings[7+r.IntN(3)]}
		if r.IntN(2) == 0 {
			m["meta"] = map[string]any{genKeys[r.IntN(len(genKeys))]: genStrings[r.IntN(len(genStrings))]}
		}
		return m
	}
	if depth == 0 && r.IntN(3) == 0 {
		m["email"] = genStrings[4+r.IntN(2)]
		m["company"] = "Acme"
		m["id"] = "abc-12"
		if r.IntN(2) == 0 {
			m["amount"] = genNumbers[r.IntN(len(genNumbers))]
		}
	}
	return m
}
