// Package validate owns the decision the gate makes about a canonical record:
// valid, rejected (its structure or types are wrong: no fix downstream can
// help) or held (fields are missing that a person or a later event can
// supply). It checks the entity's JSON Schema (2020-12, formats asserted)
// and the flow's and routes' required fields.
package validate

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/sluicehq/sluice/internal/payload"
)

// Problem is one reason a record is rejected.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Verdict is the outcome of validating one record.
type Verdict struct {
	// Problems make the record rejected.
	Problems []Problem
	// Missing fields (dotted paths) put the record on hold.
	Missing []string
}

// Rejected is true when the record cannot be fixed by adding fields.
func (v Verdict) Rejected() bool { return len(v.Problems) > 0 }

// Held is true when the record only lacks fields.
func (v Verdict) Held() bool { return !v.Rejected() && len(v.Missing) > 0 }

// Schema is a compiled entity schema.
type Schema struct {
	s *jsonschema.Schema
	// fast accepts most valid records without the library (see
	// fastNode); nil when the schema uses keywords it does not implement.
	fast *fastNode
}

var printer = message.NewPrinter(language.English)

// CompileSchema compiles a JSON Schema document; drafts other than 2020-12
// are honoured when the document declares $schema.
func CompileSchema(name string, doc []byte) (*Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("schema %s: invalid JSON: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	url := "sluice:///entities/" + name + ".json"
	if err := c.AddResource(url, v); err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	return &Schema{s: s, fast: compileFast(s, 0)}, nil
}

// Check validates record (decoded JSON: maps, slices, strings, float64,
// int64, bool, nil) against the schema and the required field lists.
// A schema "required" failure counts as missing (hold); every other schema
// failure is a problem (reject).
func Check(s *Schema, record map[string]any, required ...[]string) Verdict {
	var v Verdict
	missing := map[string]bool{}
	for _, list := range required {
		for _, f := range list {
			if isAbsent(payload.Lookup(record, f)) {
				missing[f] = true
			}
		}
	}
	// A record the fast check accepts is one the library would find
	// nothing in; every other record gets the library's verdict.
	if s != nil {
		if sv := toSchemaValue(record); s.fast == nil || !s.fast.pass(sv) {
			if err := s.s.Validate(sv); err != nil {
				var ve *jsonschema.ValidationError
				if errors.As(err, &ve) {
					collect(ve, &v, missing)
				} else {
					v.Problems = append(v.Problems, Problem{Field: "", Message: err.Error()})
				}
			}
		}
	}
	for f := range missing {
		v.Missing = append(v.Missing, f)
	}
	sort.Strings(v.Missing)
	sort.Slice(v.Problems, func(i, j int) bool { return v.Problems[i].Field < v.Problems[j].Field })
	return v
}

func collect(ve *jsonschema.ValidationError, v *Verdict, missing map[string]bool) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collect(c, v, missing)
		}
		return
	}
	loc := strings.Join(ve.InstanceLocation, ".")
	if req, ok := ve.ErrorKind.(*kind.Required); ok {
		for _, m := range req.Missing {
			if loc != "" {
				m = loc + "." + m
			}
			missing[m] = true
		}
		return
	}
	v.Problems = append(v.Problems, Problem{Field: loc, Message: ve.ErrorKind.LocalizedString(printer)})
}

func isAbsent(v any, ok bool) bool {
	if !ok || v == nil {
		return true
	}
	if s, isStr := v.(string); isStr && strings.TrimSpace(s) == "" {
		return true
	}
	return false
}

// toSchemaValue converts integer types the schema library may not know to
// the ones it does, recursively. Decoded JSON has none of them, so a value
// without any is returned as is rather than copied for every record.
func toSchemaValue(v any) any {
	if !hasNarrowInts(v) {
		return v
	}
	return convertInts(v)
}

// hasNarrowInts reports whether v holds an int64 or int32 anywhere.
func hasNarrowInts(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if hasNarrowInts(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasNarrowInts(e) {
				return true
			}
		}
	case int64, int32:
		return true
	}
	return false
}

func convertInts(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = convertInts(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = convertInts(e)
		}
		return out
	case int64:
		return int(x)
	case int32:
		return int(x)
	default:
		return v
	}
}
