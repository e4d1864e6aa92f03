package pipeline

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// SensitiveMask replaces a sensitive value wherever one would be shown.
const SensitiveMask = "[sensitive]"

// Sensitive returns the flow's sensitive output fields (normalize fields
// with sensitive: true), sorted.
func (f *Flow) Sensitive() []string {
	if f == nil || f.Conf == nil {
		return nil
	}
	var out []string
	for name, fc := range f.Conf.Normalize.Fields {
		if fc.Sensitive {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// sensitiveValues are the spellings of a record's sensitive values that
// text may contain: as in the record, as received at the field's source
// path, and JSON- and URL-encoded. Values under 3 characters are left out:
// masking every "1" would blank unrelated text and hide nothing.
func (f *Flow) sensitiveValues(canonical map[string]any, payload any) []string {
	seen := map[string]bool{}
	var out []string
	add := func(v any) {
		var s string
		switch x := v.(type) {
		case nil:
			return
		case string:
			s = x
		case map[string]any, []any:
			b, _ := json.Marshal(x)
			s = string(b)
		default:
			s = fmt.Sprint(x)
		}
		for _, form := range []string{s, strings.TrimSpace(s), jsonString(s), url.QueryEscape(s)} {
			if len(form) >= 3 && !seen[form] {
				seen[form] = true
				out = append(out, form)
			}
		}
	}
	for _, name := range f.Sensitive() {
		if v, ok := dig(canonical, name); ok {
			add(v)
		}
		if from := f.Conf.Normalize.Fields[name].From; from != "" {
			if v, ok := dig(payload, from); ok {
				add(v)
			}
		}
	}
	// Longest first, so a value containing another is masked whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}

// dig follows a dotted path through nested objects.
func dig(v any, path string) (any, bool) {
	cur := v
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// maskProblems keeps sensitive values out of problems, which go to the
// sender's 422, the stored event, the audit log and logs. A problem about a
// sensitive field says only that its value is invalid (JSON Schema messages
// quote the value for pattern, enum, const, format...); any other problem
// has the record's sensitive values masked, whatever quoted them.
func (f *Flow) maskProblems(canonical map[string]any, payload any, probs []Problem) []Problem {
	sens := f.Sensitive()
	if len(sens) == 0 || len(probs) == 0 {
		return probs
	}
	values := f.sensitiveValues(canonical, payload)
	out := make([]Problem, len(probs))
	for i, p := range probs {
		out[i] = p
		if underAny(p.Field, sens) {
			out[i].Message = "invalid value (not shown: the field is sensitive)"
			continue
		}
		out[i].Message = MaskValues(p.Message, values)
	}
	return out
}

// underAny reports whether field is one of names or inside one of them.
func underAny(field string, names []string) bool {
	for _, n := range names {
		if field == n || strings.HasPrefix(field, n+".") || strings.HasPrefix(field, n+"[") {
			return true
		}
	}
	return false
}

// MaskValues replaces every occurrence of values in s.
func MaskValues(s string, values []string) string {
	for _, v := range values {
		s = strings.ReplaceAll(s, v, SensitiveMask)
	}
	return s
}

// MaskRecord returns a copy of a canonical record (JSON) with the flow's
// sensitive fields replaced by SensitiveMask, for readers who may not see
// them (viewer tokens).
func (f *Flow) MaskRecord(record json.RawMessage) json.RawMessage {
	sens := f.Sensitive()
	if len(sens) == 0 || len(record) == 0 {
		return record
	}
	var m map[string]any
	if json.Unmarshal(record, &m) != nil {
		return nil
	}
	for _, name := range sens {
		segs := strings.Split(name, ".")
		cur := m
		for i, s := range segs {
			v, ok := cur[s]
			if !ok {
				break
			}
			if i == len(segs)-1 {
				cur[s] = SensitiveMask
				break
			}
			if cur, ok = v.(map[string]any); !ok {
				break
			}
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// SensitiveValues returns the spellings of a stored event's sensitive values
// (from its record and raw body) that MaskValues should hide, for readers
// who may not see them.
func (f *Flow) SensitiveValues(record json.RawMessage, raw []byte) []string {
	if len(f.Sensitive()) == 0 {
		return nil
	}
	var canonical map[string]any
	_ = json.Unmarshal(record, &canonical)
	var payload any
	if json.Unmarshal(raw, &payload) != nil {
		if vals, err := url.ParseQuery(string(raw)); err == nil {
			m := map[string]any{}
			for k, vs := range vals {
				if len(vs) > 0 {
					m[k] = vs[0]
				}
			}
			payload = m
		}
	}
	return f.sensitiveValues(canonical, payload)
}

// MaskJSON is MaskValues for a JSON document: strings are masked inside,
// and a number or string equal to a value becomes SensitiveMask, so the
// result stays valid JSON. Invalid JSON is returned as null.
func MaskJSON(doc json.RawMessage, values []string) json.RawMessage {
	if len(values) == 0 || len(doc) == 0 {
		return doc
	}
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return json.RawMessage("null")
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			return MaskValues(x, values)
		case json.Number:
			for _, s := range values {
				if string(x) == s {
					return SensitiveMask
				}
			}
			return x
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
			return x
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
			return x
		}
		return v
	}
	b, _ := json.Marshal(walk(v))
	return b
}
