package console

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/pipeline"
)

// fieldSpec is one input of the record editor: what the entity schema and
// the flow's normalize block say about a canonical field, so the browser
// can check it before submit and the server checks it again.
type fieldSpec struct {
	Name      string
	Type      string // JSON Schema type: string, integer, number, boolean, object, array
	Format    string // email, date, date-time, uri, phone
	Enum      []string
	Pattern   string
	MaxLength int
	Min, Max  *float64
	Required  bool
	Missing   bool
	Sensitive bool
	Value     string
	Present   bool
}

// Input is the HTML input type.
func (f fieldSpec) Input() string {
	switch {
	case len(f.Enum) > 0 || f.Type == "boolean":
		return "select"
	case f.Type == "integer" || f.Type == "number":
		return "number"
	case f.Format == "email":
		return "email"
	case f.Format == "date":
		return "date"
	case f.Format == "uri":
		return "url"
	case f.Format == "phone":
		return "tel"
	}
	return "text"
}

// Step is the number input's step.
func (f fieldSpec) Step() string {
	if f.Type == "integer" {
		return "1"
	}
	return "any"
}

// Options are a select's choices.
func (f fieldSpec) Options() []string {
	if f.Type == "boolean" && len(f.Enum) == 0 {
		return []string{"true", "false"}
	}
	return f.Enum
}

// Hint says what is expected, for the label's description.
func (f fieldSpec) Hint() string {
	var parts []string
	if f.Type != "" {
		parts = append(parts, f.Type)
	}
	if f.Format != "" {
		parts = append(parts, f.Format)
	}
	if f.Pattern != "" {
		parts = append(parts, "pattern "+f.Pattern)
	}
	if f.Required {
		parts = append(parts, "required")
	}
	return strings.Join(parts, ", ")
}

type schemaProp struct {
	Type       any                    `json:"type"`
	Format     string                 `json:"format"`
	Enum       []any                  `json:"enum"`
	Pattern    string                 `json:"pattern"`
	MaxLength  int                    `json:"maxLength"`
	Minimum    *float64               `json:"minimum"`
	Maximum    *float64               `json:"maximum"`
	Properties map[string]*schemaProp `json:"properties"`
	Required   []string               `json:"required"`
}

func (p *schemaProp) typ() string {
	switch t := p.Type.(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				return s
			}
		}
	}
	return ""
}

// specs lists the editable fields of a flow's record: the entity schema's
// properties (nested ones as dotted names), the normalize block's fields
// and whatever the record holds, each with its value and whether it is
// missing.
func (k *Console) specs(flow *pipeline.Flow, rec map[string]any, missing []string) []fieldSpec {
	by := map[string]*fieldSpec{}
	get := func(name string) *fieldSpec {
		if by[name] == nil {
			by[name] = &fieldSpec{Name: name}
		}
		return by[name]
	}
	if doc, err := k.c.Config().SchemaJSON(flow.Entity); err == nil {
		var root schemaProp
		if json.Unmarshal(doc, &root) == nil {
			var walk func(prefix string, p *schemaProp)
			walk = func(prefix string, p *schemaProp) {
				for _, r := range p.Required {
					get(prefix + r).Required = true
				}
				for name, c := range p.Properties {
					if c == nil {
						continue
					}
					full := prefix + name
					if c.typ() == "object" && len(c.Properties) > 0 {
						walk(full+".", c)
						continue
					}
					s := get(full)
					s.Type, s.Format, s.Pattern, s.MaxLength = c.typ(), c.Format, c.Pattern, c.MaxLength
					s.Min, s.Max = c.Minimum, c.Maximum
					for _, e := range c.Enum {
						s.Enum = append(s.Enum, fmt.Sprint(e))
					}
				}
			}
			walk("", &root)
		}
	}
	if conf := flow.Conf; conf != nil {
		for name, f := range conf.Normalize.Fields {
			s := get(name)
			s.Sensitive = f.Sensitive
			switch f.Type {
			case "email", "phone", "date":
				if s.Format == "" {
					s.Format = f.Type
				}
			case "datetime":
				if s.Format == "" {
					s.Format = "date-time"
				}
			case "integer", "number", "boolean":
				if s.Type == "" {
					s.Type = f.Type
				}
			}
		}
	}
	for _, r := range flow.Require {
		get(r).Required = true
	}
	for _, m := range missing {
		s := get(m)
		s.Missing, s.Required = true, true
	}
	flat := map[string]any{}
	flatten("", rec, flat)
	for name, v := range flat {
		s := get(name)
		s.Present = true
		switch x := v.(type) {
		case string:
			s.Value = x
		case nil:
		default:
			b, _ := json.Marshal(x)
			s.Value = string(b)
		}
	}
	out := make([]fieldSpec, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Missing != out[j].Missing {
			return out[i].Missing
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func flatten(prefix string, v map[string]any, out map[string]any) {
	for k, x := range v {
		if m, ok := x.(map[string]any); ok && len(m) > 0 {
			flatten(prefix+k+".", m, out)
			continue
		}
		out[prefix+k] = x
	}
}

// parse turns one submitted input into the typed value the schema asks
// for, or says why it cannot.
func (f fieldSpec) parse(s string) (any, error) {
	s = strings.TrimSpace(s)
	if len(f.Enum) > 0 {
		for _, e := range f.Enum {
			if e == s {
				goto typed
			}
		}
		return nil, fmt.Errorf("%s must be one of %s", f.Name, strings.Join(f.Enum, ", "))
	}
typed:
	switch f.Type {
	case "integer":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s must be a whole number", f.Name)
		}
		if err := f.inRange(float64(n)); err != nil {
			return nil, err
		}
		return n, nil
	case "number":
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s must be a number", f.Name)
		}
		if err := f.inRange(n); err != nil {
			return nil, err
		}
		return n, nil
	case "boolean":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%s must be true or false", f.Name)
		}
		return b, nil
	case "object", "array":
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("%s must be JSON (%s)", f.Name, f.Type)
		}
		return v, nil
	}
	switch f.Format {
	case "email":
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
			return nil, fmt.Errorf("%s must be an email address", f.Name)
		}
	case "date":
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return nil, fmt.Errorf("%s must be a date (YYYY-MM-DD)", f.Name)
		}
	case "date-time":
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return nil, fmt.Errorf("%s must be a date and time (RFC 3339)", f.Name)
		}
	}
	if f.MaxLength > 0 && len([]rune(s)) > f.MaxLength {
		return nil, fmt.Errorf("%s must be at most %d characters", f.Name, f.MaxLength)
	}
	if f.Pattern != "" {
		re, err := regexp.Compile(f.Pattern)
		if err == nil && !re.MatchString(s) {
			return nil, fmt.Errorf("%s does not match the pattern %s", f.Name, f.Pattern)
		}
	}
	return s, nil
}

// sensitiveFields are the flow's canonical fields marked sensitive: viewers
// see them masked.
func sensitiveFields(flow *pipeline.Flow) map[string]bool {
	out := map[string]bool{}
	if flow == nil || flow.Conf == nil {
		return out
	}
	for name, f := range flow.Conf.Normalize.Fields {
		if f.Sensitive {
			out[name] = true
		}
	}
	return out
}

const masked = "••••••"

// maskRecord returns rec with sensitive fields masked when u is a viewer.
func maskRecord(u *user, flow *pipeline.Flow, rec map[string]any) map[string]any {
	if u.Admin() {
		return rec
	}
	sens := sensitiveFields(flow)
	if len(sens) == 0 {
		return rec
	}
	flat := map[string]any{}
	flatten("", rec, flat)
	for k := range flat {
		if sens[k] {
			flat[k] = masked
		}
	}
	return flat
}

func (f fieldSpec) inRange(n float64) error {
	if f.Min != nil && n < *f.Min {
		return fmt.Errorf("%s must be at least %v", f.Name, *f.Min)
	}
	if f.Max != nil && n > *f.Max {
		return fmt.Errorf("%s must be at most %v", f.Name, *f.Max)
	}
	return nil
}
