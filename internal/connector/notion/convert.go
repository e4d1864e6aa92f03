package notion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/sluicehq/sluice/internal/connector"
)

// Notion's size limits (request-limits page). Lengths are JavaScript
// string lengths: UTF-16 code units.
const (
	// MaxTextChunk is the most characters in one rich text object.
	MaxTextChunk = 2000
	// MaxArray is the most elements of any array: rich text objects of one
	// property, multi_select options.
	MaxArray = 100
	// MaxText is the longest title or rich_text value: 100 objects of 2,000.
	MaxText  = MaxTextChunk * MaxArray
	maxEmail = 200
	maxPhone = 200
	maxURL   = 2000
)

// typeOf is the Notion type of property name: configured, else from the
// database schema (fetched on first need). A property the database does
// not have is Drift: the mapping writes a column that is not there.
func (c *Conn) typeOf(ctx context.Context, name string) (string, error) {
	if t, ok := c.configured[name]; ok {
		return t, nil
	}
	schema, err := c.fetchSchema(ctx)
	if err != nil {
		return "", err
	}
	if t, ok := schema[name]; ok {
		return t, nil
	}
	// Seen next time with a fresh schema, after a person fixes it.
	c.forgetSchema()
	return "", &connector.Error{Class: connector.Drift, Code: "UNKNOWN_PROPERTY",
		Message: c.trim(fmt.Sprintf("%s is not a property of database %s (and not in options.properties)", name, c.databaseID))}
}

type databaseAnswer struct {
	Properties map[string]struct {
		Type string `json:"type"`
	} `json:"properties"`
	DataSources []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"data_sources"`
}

// fetchSchema returns the database's property types, fetching them once
// (again after forgetSchema).
func (c *Conn) fetchSchema(ctx context.Context) (map[string]string, error) {
	if s := c.schema.Load(); s != nil {
		return *s, nil
	}
	c.schemaFetch.Lock()
	defer c.schemaFetch.Unlock()
	if s := c.schema.Load(); s != nil {
		return *s, nil
	}
	path := "/v1/databases/" + url.PathEscape(c.databaseID)
	if c.sources {
		ds, err := c.source(ctx)
		if err != nil {
			return nil, err
		}
		path = "/v1/data_sources/" + url.PathEscape(ds)
	}
	resp, err := c.call(ctx, http.MethodGet, path, nil, false)
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, c.databaseError(c.statusError(resp))
	}
	var ans databaseAnswer
	if err := decodeJSON(resp.body, &ans); err != nil || ans.Properties == nil {
		return nil, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
			Message: fmt.Sprintf("GET %s: Notion's answer has no property schema", path)}
	}
	schema := make(map[string]string, len(ans.Properties))
	for name, p := range ans.Properties {
		schema[name] = p.Type
	}
	c.schema.Store(&schema)
	return schema, nil
}

// forgetSchema drops the fetched schema so the next write fetches it anew.
func (c *Conn) forgetSchema() { c.schema.Store(nil) }

// properties turns d's payload into property value objects. The key
// property is added from the record key when the payload lacks it, and
// must agree with it when present. A value Notion could never accept fails
// here, before any request, as a Permanent error naming the property.
func (c *Conn) properties(ctx context.Context, d connector.Delivery) (map[string]any, error) {
	payload := d.Payload
	if v, ok := payload[c.keyProperty]; !ok || v == nil {
		payload = make(map[string]any, len(d.Payload)+1)
		for k, v := range d.Payload {
			payload[k] = v
		}
		payload[c.keyProperty] = d.RecordKey
	}
	names := make([]string, 0, len(payload))
	for k := range payload {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make(map[string]any, len(payload))
	for _, name := range names {
		typ, err := c.typeOf(ctx, name)
		if err != nil {
			return nil, err
		}
		v, err := toValue(typ, payload[name])
		if err != nil {
			var ce *connector.Error
			if errors.As(err, &ce) {
				ce.Message = c.trim("property " + name + ": " + ce.Message)
				return nil, ce
			}
			return nil, &connector.Error{Class: connector.Permanent, Code: "INVALID_VALUE",
				Message: c.trim(fmt.Sprintf("property %s (%s): %v", name, typ, err))}
		}
		out[name] = map[string]any{typ: v}
		if name == c.keyProperty {
			if got := plainOf(typ, payload[name]); got != plainOf(typ, d.RecordKey) {
				return nil, &connector.Error{Class: connector.Permanent, Code: "KEY_MISMATCH",
					Message: c.trim(fmt.Sprintf("property %s is %q but the record key is %q: pages are found by %s, so the two must agree",
						name, got, d.RecordKey, name))}
			}
		}
	}
	return out, nil
}

// tooBig is the Permanent error of a value over a Notion limit.
func tooBig(format string, args ...any) error {
	return &connector.Error{Class: connector.Permanent, Code: "TOO_LARGE", Message: fmt.Sprintf(format, args...)}
}

// toValue converts a plain value to the type-specific part of a property
// value object of type typ. nil clears the property.
func toValue(typ string, v any) (any, error) {
	switch typ {
	case "title", "rich_text":
		s, err := toText(v)
		if err != nil {
			return nil, err
		}
		return richText(s)
	case "number":
		f, err := toNumber(v)
		if err != nil || f == nil {
			return nil, err
		}
		return *f, nil
	case "checkbox":
		return toBool(v)
	case "select":
		s, err := toText(v)
		if err != nil || s == "" {
			return nil, err
		}
		return selectOption(s)
	case "multi_select":
		return multiSelect(v)
	case "date":
		return toDate(v)
	case "email", "phone_number", "url":
		s, err := toText(v)
		if err != nil || s == "" {
			return nil, err
		}
		limit := map[string]int{"email": maxEmail, "phone_number": maxPhone, "url": maxURL}[typ]
		if n := jsLength(s); n > limit {
			return nil, tooBig("%d characters, more than Notion's limit of %d for %s", n, limit, typ)
		}
		return s, nil
	}
	return nil, &connector.Error{Class: connector.Permanent, Code: "UNSUPPORTED_TYPE",
		Message: fmt.Sprintf("a %s property cannot be written by Sluice (it writes %s)", typ, strings.Join(Types, ", "))}
}

// toText renders a scalar as text; nil is "".
func toText(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(v), nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	}
	return "", fmt.Errorf("a %T is not a text value: use a string, number or boolean", v)
}

// jsLength is a string's length as Notion counts it: UTF-16 code units.
func jsLength(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// splitText cuts s into pieces of at most MaxTextChunk UTF-16 code units,
// never inside a character (a surrogate pair stays whole).
func splitText(s string) []string {
	var out []string
	start, units := 0, 0
	for i, r := range s {
		n := utf16.RuneLen(r)
		if units+n > MaxTextChunk {
			out = append(out, s[start:i])
			start, units = i, 0
		}
		units += n
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// richText is s as rich text objects of at most 2,000 characters each;
// more than 100 objects (200,000 characters) is refused.
func richText(s string) (any, error) {
	chunks := splitText(s)
	if len(chunks) > MaxArray {
		return nil, tooBig("%d characters do not fit Notion's %d rich text objects of %d (%d characters)",
			jsLength(s), MaxArray, MaxTextChunk, MaxText)
	}
	out := make([]any, len(chunks))
	for i, ch := range chunks {
		out[i] = map[string]any{"type": "text", "text": map[string]any{"content": ch}}
	}
	return out, nil
}

// toNumber accepts numbers and numeric strings; nil and "" are nil (no
// value). Notion stores a JavaScript number, so the value is a float64.
func toNumber(v any) (*float64, error) {
	var f float64
	switch v := v.(type) {
	case nil:
		return nil, nil
	case float64:
		f = v
	case float32:
		f = float64(v)
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case int32:
		f = float64(v)
	case uint:
		f = float64(v)
	case uint64:
		f = float64(v)
	case uint32:
		f = float64(v)
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(v.String(), 64); err != nil {
			return nil, fmt.Errorf("%q is not a number", v)
		}
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return nil, nil
		}
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("%q is not a number", v)
		}
	default:
		return nil, fmt.Errorf("a %T is not a number", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%v is not a number Notion stores", v)
	}
	return &f, nil
}

// toBool accepts booleans and their strconv spellings; nil is false (a
// checkbox has no empty state).
func toBool(v any) (bool, error) {
	switch v := v.(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	case string:
		if strings.TrimSpace(v) == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, fmt.Errorf("%q is not a boolean", v)
		}
		return b, nil
	}
	return false, fmt.Errorf("a %T is not a boolean", v)
}

// selectOption is {"name": s}. Notion adds a name that is not yet an
// option to the database schema; it refuses commas.
func selectOption(s string) (any, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, ",") {
		return nil, fmt.Errorf("option %q contains a comma, which Notion does not allow in select options", s)
	}
	return map[string]any{"name": s}, nil
}

// multiSelect accepts a list of option names (a single string is one
// option); empty names are dropped, duplicates kept once. More than 100
// options is refused: they cannot be split.
func multiSelect(v any) (any, error) {
	var items []any
	switch v := v.(type) {
	case nil:
	case []any:
		items = v
	case []string:
		for _, s := range v {
			items = append(items, s)
		}
	default:
		items = []any{v}
	}
	out := []any{}
	seen := map[string]bool{}
	for i, it := range items {
		s, err := toText(it)
		if err != nil {
			return nil, fmt.Errorf("item %d: %v", i, err)
		}
		s = strings.TrimSpace(s)
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		o, err := selectOption(s)
		if err != nil {
			return nil, fmt.Errorf("item %d: %v", i, err)
		}
		out = append(out, o)
	}
	if len(out) > MaxArray {
		return nil, tooBig("%d options, more than Notion's limit of %d for a multi_select", len(out), MaxArray)
	}
	return out, nil
}

// Date forms Notion accepts: a date, a date-time with an offset, and (with
// a time_zone) a local date-time.
var localLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05.999999999"}

func validDate(s string, withZone bool) bool {
	if withZone {
		for _, l := range localLayouts {
			if _, err := time.Parse(l, s); err == nil {
				return true
			}
		}
		return false
	}
	if _, err := time.Parse(time.DateOnly, s); err == nil {
		return true
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

// toDate converts YYYY-MM-DD, an RFC 3339 timestamp, a time.Time or a map
// with start (and optional end and time_zone) to a date value; nil and ""
// clear it.
func toDate(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return map[string]any{"start": v.Format(time.RFC3339Nano)}, nil
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return nil, nil
		}
		if !validDate(s, false) {
			return nil, fmt.Errorf("%q is not a date: want YYYY-MM-DD or an RFC 3339 timestamp", v)
		}
		return map[string]any{"start": s}, nil
	case map[string]any:
		out := map[string]any{}
		zone, _ := v["time_zone"].(string)
		if zone != "" {
			if _, err := time.LoadLocation(zone); err != nil {
				return nil, fmt.Errorf("time_zone %q is not an IANA time zone", zone)
			}
			out["time_zone"] = zone
		}
		for _, k := range []string{"start", "end"} {
			raw, ok := v[k]
			if !ok || raw == nil {
				continue
			}
			s, isStr := raw.(string)
			if !isStr || !validDate(s, zone != "") {
				return nil, fmt.Errorf("%s %v is not a date: want YYYY-MM-DD or an RFC 3339 timestamp (a local date-time with time_zone)", k, raw)
			}
			out[k] = s
		}
		for k := range v {
			if k != "start" && k != "end" && k != "time_zone" {
				return nil, fmt.Errorf("a date has start, end and time_zone, not %q", k)
			}
		}
		if out["start"] == nil {
			return nil, fmt.Errorf("a date needs a start")
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %T is not a date: want YYYY-MM-DD or an RFC 3339 timestamp", v)
}

// plainOf renders a key value as the text it is compared with: numbers in
// their shortest form, anything else as is. A payload's key property must
// equal the record key exactly, since the record key is what pages are
// queried by.
func plainOf(typ string, v any) string {
	if typ == "number" {
		if f, err := toNumber(v); err == nil && f != nil {
			return strconv.FormatFloat(*f, 'f', -1, 64)
		}
	}
	s, _ := toText(v)
	return s
}

// sameKey compares a page's key value with a record key: numbers by value,
// emails case-insensitively, anything else exactly.
func sameKey(typ string, got any, key string) bool {
	switch typ {
	case "number":
		a, err1 := toNumber(got)
		b, err2 := toNumber(key)
		return err1 == nil && err2 == nil && a != nil && b != nil && *a == *b
	case "email":
		s, _ := toText(got)
		return strings.EqualFold(strings.TrimSpace(s), strings.TrimSpace(key))
	}
	s, _ := toText(got)
	return s == key
}

// flatValue turns a property value object from a page into the plain form
// the connector writes (see Conn.Lookup).
func flatValue(pv map[string]any) any {
	if pv == nil {
		return nil
	}
	typ, _ := pv["type"].(string)
	v := pv[typ]
	switch typ {
	case "title", "rich_text":
		var b strings.Builder
		runs, _ := v.([]any)
		for _, r := range runs {
			run, _ := r.(map[string]any)
			if s, ok := run["plain_text"].(string); ok {
				b.WriteString(s)
			} else if t, ok := run["text"].(map[string]any); ok {
				s, _ := t["content"].(string)
				b.WriteString(s)
			}
		}
		return b.String()
	case "select", "status":
		o, _ := v.(map[string]any)
		if o == nil {
			return nil
		}
		return o["name"]
	case "multi_select":
		names := []any{}
		opts, _ := v.([]any)
		for _, o := range opts {
			if m, ok := o.(map[string]any); ok {
				names = append(names, m["name"])
			}
		}
		return names
	case "date":
		d, _ := v.(map[string]any)
		if d == nil {
			return nil
		}
		if d["end"] == nil && d["time_zone"] == nil {
			return d["start"]
		}
		out := map[string]any{"start": d["start"]}
		if d["end"] != nil {
			out["end"] = d["end"]
		}
		if d["time_zone"] != nil {
			out["time_zone"] = d["time_zone"]
		}
		return out
	case "number", "checkbox", "email", "phone_number", "url":
		return v
	}
	return pv
}
