package airtable

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Field types, as Airtable's schema names them.
const (
	TypeSingleLineText  = "singleLineText"
	TypeMultilineText   = "multilineText"
	TypeEmail           = "email"
	TypeURL             = "url"
	TypePhoneNumber     = "phoneNumber"
	TypeNumber          = "number"
	TypeCheckbox        = "checkbox"
	TypeSingleSelect    = "singleSelect"
	TypeMultipleSelects = "multipleSelects"
	TypeDate            = "date"
	TypeDateTime        = "dateTime"
	// Computed types: they can be read and filtered on, never written.
	TypeCreatedTime = "createdTime"
	// TypeLastModifiedTime is when any cell of the record last changed.
	TypeLastModifiedTime = "lastModifiedTime"
	TypeAutoNumber       = "autoNumber"
)

// Base is one Airtable base: the unit the rate limit counts by.
type Base struct {
	// ID is "app" and 14 characters; empty derives one from Name.
	ID     string
	Name   string
	Tables []Table
}

// Table is one table of a base.
type Table struct {
	// ID is "tbl" and 14 characters; empty derives one from the name.
	ID   string
	Name string
	// Fields are the table's columns; the first is the primary field.
	Fields []Field
	// DedupeField names the business key the simulator counts duplicates
	// by (sim.Stats.DuplicatesByKey); empty for none.
	DedupeField string
}

// Field is one column.
type Field struct {
	// ID is "fld" and 14 characters; empty derives one from the name.
	ID   string
	Name string
	Type string
	// Choices are the options of a single or multiple select. A write with
	// typecast may add to them.
	Choices []string
}

func (f *Field) computed() bool {
	return f.Type == TypeCreatedTime || f.Type == TypeLastModifiedTime || f.Type == TypeAutoNumber
}

func (f *Field) text() bool {
	switch f.Type {
	case TypeSingleLineText, TypeMultilineText, TypeEmail, TypeURL, TypePhoneNumber:
		return true
	}
	return false
}

// mergeable reports whether the field may be one of fieldsToMergeOn:
// "number, text, long text, single select, multiple select, date". Email,
// URL and phone fields are text fields with validation, so they count as
// text here.
func (f *Field) mergeable() bool {
	switch f.Type {
	case TypeNumber, TypeSingleSelect, TypeMultipleSelects, TypeDate:
		return true
	}
	return f.text()
}

// DefaultBases is the schema the simulator starts with: one base with a
// Contacts table keyed by Email and a Companies table keyed by Domain, each
// with a single select, a multiple select, a date, a number and a computed
// field.
func DefaultBases() []Base {
	return []Base{{
		ID:   DefaultBaseID,
		Name: "Sluice demo",
		Tables: []Table{
			{
				ID: "tblContacts000001", Name: "Contacts", DedupeField: "Email",
				Fields: []Field{
					{Name: "Email", Type: TypeEmail},
					{Name: "Name", Type: TypeSingleLineText},
					{Name: "Phone", Type: TypePhoneNumber},
					{Name: "Company", Type: TypeSingleLineText},
					{Name: "Status", Type: TypeSingleSelect, Choices: []string{"Lead", "Customer", "Churned"}},
					{Name: "Tags", Type: TypeMultipleSelects, Choices: []string{"vip", "newsletter", "partner"}},
					{Name: "Signup date", Type: TypeDate},
					{Name: "Score", Type: TypeNumber},
					{Name: "Active", Type: TypeCheckbox},
					{Name: "Notes", Type: TypeMultilineText},
					{Name: "Last seen", Type: TypeDateTime},
					{Name: "Created", Type: TypeCreatedTime},
					{Name: "Last modified", Type: TypeLastModifiedTime},
					{Name: "Row", Type: TypeAutoNumber},
				},
			},
			{
				ID: "tblCompanies00001", Name: "Companies", DedupeField: "Domain",
				Fields: []Field{
					{Name: "Domain", Type: TypeSingleLineText},
					{Name: "Name", Type: TypeSingleLineText},
					{Name: "Industry", Type: TypeSingleSelect, Choices: []string{"Software", "Finance", "Retail", "Logistics"}},
					{Name: "Regions", Type: TypeMultipleSelects, Choices: []string{"AMER", "APAC", "EMEA"}},
					{Name: "Employees", Type: TypeNumber},
					{Name: "Renewal date", Type: TypeDate},
					{Name: "Created", Type: TypeCreatedTime},
				},
			},
		},
	}}
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// encodeID renders n as prefix and 14 base-62 characters; 62^14 > 2^64, so
// distinct n give distinct IDs.
func encodeID(prefix string, n uint64) string {
	var b [14]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = idAlphabet[n%62]
		n /= 62
	}
	return prefix + string(b[:])
}

// derivedID is a stable ID for a schema object without one.
func derivedID(prefix string, parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	return encodeID(prefix, h.Sum64())
}

// cloneBases deep-copies a schema and fills in missing IDs; it fails on
// names or IDs that are empty or not unique.
func cloneBases(in []Base) ([]Base, error) {
	out := make([]Base, len(in))
	baseIDs := map[string]bool{}
	for i, b := range in {
		if b.ID == "" {
			b.ID = derivedID("app", b.Name)
		}
		if baseIDs[b.ID] {
			return nil, fmt.Errorf("bases[%d]: duplicate ID %s", i, b.ID)
		}
		baseIDs[b.ID] = true
		tables := make([]Table, len(b.Tables))
		names := map[string]bool{}
		for j, t := range b.Tables {
			if t.Name == "" {
				return nil, fmt.Errorf("bases[%d].tables[%d]: no name", i, j)
			}
			if t.ID == "" {
				t.ID = derivedID("tbl", b.ID, t.Name)
			}
			if names[t.Name] || names[t.ID] {
				return nil, fmt.Errorf("bases[%d].tables[%d]: duplicate name or ID", i, j)
			}
			names[t.Name], names[t.ID] = true, true
			fields := make([]Field, len(t.Fields))
			fnames := map[string]bool{}
			for k, f := range t.Fields {
				if f.Name == "" || f.Type == "" {
					return nil, fmt.Errorf("bases[%d].tables[%d].fields[%d]: name and type are required", i, j, k)
				}
				if f.ID == "" {
					f.ID = derivedID("fld", b.ID, t.ID, f.Name)
				}
				if fnames[f.Name] || fnames[f.ID] {
					return nil, fmt.Errorf("bases[%d].tables[%d].fields[%d]: duplicate name or ID", i, j, k)
				}
				fnames[f.Name], fnames[f.ID] = true, true
				f.Choices = slices.Clone(f.Choices)
				fields[k] = f
			}
			if t.DedupeField != "" && !fnames[t.DedupeField] {
				return nil, fmt.Errorf("bases[%d].tables[%d]: dedupe field %q is not a field", i, j, t.DedupeField)
			}
			t.Fields = fields
			tables[j] = t
		}
		b.Tables = tables
		out[i] = b
	}
	return out, nil
}

// field finds a field by name or ID.
func (t *Table) field(nameOrID string) *Field {
	for i := range t.Fields {
		if t.Fields[i].Name == nameOrID || t.Fields[i].ID == nameOrID {
			return &t.Fields[i]
		}
	}
	return nil
}

// valueError is a cell value a field cannot take.
type valueError struct {
	typ     string
	message string
}

func cannotAccept(f *Field) *valueError {
	return &valueError{"INVALID_VALUE_FOR_COLUMN", fmt.Sprintf("Field %q cannot accept the provided value", f.Name)}
}

// normalize checks one cell value against its field and returns the stored
// form; nil means the cell is cleared. addChoice is called when typecast
// creates a select option; it returns false when the token may not (it
// lacks Creator permission).
func normalize(f *Field, raw any, typecast bool, addChoice func(*Field, string) bool) (any, *valueError) {
	if f.computed() {
		return nil, &valueError{"INVALID_VALUE_FOR_COLUMN", fmt.Sprintf("Field %q cannot accept a value because the field is computed", f.Name)}
	}
	if raw == nil {
		return nil, nil
	}
	switch {
	case f.text():
		s, ok := raw.(string)
		if !ok {
			if !typecast {
				return nil, cannotAccept(f)
			}
			if s, ok = scalarString(raw); !ok {
				return nil, cannotAccept(f)
			}
		}
		if s == "" {
			return nil, nil
		}
		return s, nil
	case f.Type == TypeNumber:
		switch v := raw.(type) {
		case json.Number:
			n, err := v.Float64()
			if err != nil || math.IsInf(n, 0) {
				return nil, cannotAccept(f)
			}
			return n, nil
		case string:
			if !typecast {
				return nil, cannotAccept(f)
			}
			v = strings.TrimSpace(strings.ReplaceAll(v, ",", ""))
			if v == "" {
				return nil, nil
			}
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
				return nil, cannotAccept(f)
			}
			return n, nil
		}
		return nil, cannotAccept(f)
	case f.Type == TypeCheckbox:
		switch v := raw.(type) {
		case bool:
			if !v {
				return nil, nil
			}
			return true, nil
		case string:
			if typecast {
				switch strings.ToLower(strings.TrimSpace(v)) {
				case "true", "yes", "1", "checked", "on":
					return true, nil
				case "false", "no", "0", "", "off":
					return nil, nil
				}
			}
		}
		return nil, cannotAccept(f)
	case f.Type == TypeSingleSelect:
		s, ok := raw.(string)
		if !ok && typecast {
			s, ok = scalarString(raw)
		}
		if !ok {
			return nil, cannotAccept(f)
		}
		if s == "" {
			return nil, nil
		}
		if err := choose(f, s, typecast, addChoice); err != nil {
			return nil, err
		}
		return s, nil
	case f.Type == TypeMultipleSelects:
		var items []string
		switch v := raw.(type) {
		case []any:
			for _, x := range v {
				s, ok := x.(string)
				if !ok && typecast {
					s, ok = scalarString(x)
				}
				if !ok {
					return nil, cannotAccept(f)
				}
				items = append(items, s)
			}
		case string:
			if !typecast {
				return nil, cannotAccept(f)
			}
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					items = append(items, p)
				}
			}
		default:
			return nil, cannotAccept(f)
		}
		var out []string
		for _, s := range items {
			if s == "" {
				return nil, cannotAccept(f)
			}
			if err := choose(f, s, typecast, addChoice); err != nil {
				return nil, err
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case f.Type == TypeDate:
		s, ok := raw.(string)
		if !ok {
			return nil, cannotAccept(f)
		}
		if s == "" {
			return nil, nil
		}
		if d, err := time.Parse(time.DateOnly, s); err == nil {
			return d.Format(time.DateOnly), nil
		}
		if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return ts.UTC().Format(time.DateOnly), nil
		}
		return nil, cannotAccept(f)
	case f.Type == TypeDateTime:
		s, ok := raw.(string)
		if !ok {
			return nil, cannotAccept(f)
		}
		if s == "" {
			return nil, nil
		}
		if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return formatTime(ts), nil
		}
		if d, err := time.Parse(time.DateOnly, s); err == nil {
			return formatTime(d), nil
		}
		return nil, cannotAccept(f)
	}
	return nil, cannotAccept(f)
}

// choose checks a select option, creating it under typecast when allowed.
// Without typecast Airtable reports a missing option as a permission
// problem (it would have to create the option), hence the message.
func choose(f *Field, s string, typecast bool, addChoice func(*Field, string) bool) *valueError {
	if slices.Contains(f.Choices, s) {
		return nil
	}
	if typecast && addChoice(f, s) {
		return nil
	}
	return &valueError{"INVALID_MULTIPLE_CHOICE_OPTIONS", fmt.Sprintf("Insufficient permissions to create new select option \"\"%s\"\"", s)}
}

// scalarString is typecast's reading of a number or boolean as text.
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// formatTime is Airtable's timestamp format: UTC with milliseconds.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// render is a stored value as the API returns it.
func render(v any) any {
	switch v := v.(type) {
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v)
		}
		return v
	case []string:
		return slices.Clone(v)
	}
	return v
}

// keyString is the canonical text of a stored value, used to compare merge
// fields and count duplicate keys.
func keyString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case []string:
		return strings.Join(v, ", ")
	}
	return fmt.Sprint(v)
}
