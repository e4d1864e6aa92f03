package notion

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Property types the simulator stores: the writable types of Notion's
// property value object that Sluice maps records to.
const (
	TypeTitle       = "title"
	TypeRichText    = "rich_text"
	TypeNumber      = "number"
	TypeSelect      = "select"
	TypeMultiSelect = "multi_select"
	TypeDate        = "date"
	TypeEmail       = "email"
	TypePhoneNumber = "phone_number"
	TypeCheckbox    = "checkbox"
	TypeURL         = "url"
)

// Types lists every property type the simulator supports.
var Types = []string{TypeTitle, TypeRichText, TypeNumber, TypeSelect, TypeMultiSelect,
	TypeDate, TypeEmail, TypePhoneNumber, TypeCheckbox, TypeURL}

// Size limits of Notion's request-limits page.
const (
	// MaxTextContent is the most UTF-16 code units (JavaScript string
	// length) in one rich text object's text.content, and in a URL.
	MaxTextContent = 2000
	// MaxEquation is the most characters in an equation's expression.
	MaxEquation = 1000
	// MaxArray is the most elements of any array: rich text, multi-select
	// options, block children.
	MaxArray = 100
	// MaxEmail and MaxPhone bound an email and a phone number.
	MaxEmail = 200
	MaxPhone = 200
	// MaxURL bounds a url property and a text link.
	MaxURL = 2000
	// MaxBlocks is the most block elements in one request.
	MaxBlocks = 1000
	// MaxBodyBytes is the largest request body: "500KB", read as 500,000
	// bytes, the stricter reading.
	MaxBodyBytes = 500_000
)

// Property is one property (column) of a database.
type Property struct {
	Name string
	Type string
	// Options are the initial option names of a select or multi_select
	// property. Writing an unknown name adds it, as Notion does.
	Options []string
}

// Database is one Notion database the simulator serves.
type Database struct {
	// ID is the database's UUID (dashed); requests may spell it with or
	// without dashes.
	ID    string
	Title string
	// Properties are its columns; exactly one must be the title.
	Properties []Property
	// KeyProperty names the property whose value is the record's business
	// key, for Stats.DuplicatesByKey ("" counts nothing).
	KeyProperty string
	// DataSources, when set, are the database's data sources (Notion-Version
	// 2025-09-03 and later), each with its own schema; Properties and
	// KeyProperty must then be empty. When empty, the database has one data
	// source with ID DataSourceID(ID) holding Properties.
	DataSources []DataSource
}

// DataSource is one data source of a multi-source database.
type DataSource struct {
	// ID is the data source's UUID.
	ID   string
	Name string
	// Properties and KeyProperty are as in Database.
	Properties  []Property
	KeyProperty string
}

// DataSourceID is the ID of the one data source of a database configured
// without DataSources: the database ID with its last digit flipped, stable
// and different.
func DataSourceID(databaseID string) string {
	h := normID(databaseID)
	if len(h) != 32 {
		return databaseID
	}
	last := "0"
	if h[31] == '0' {
		last = "1"
	}
	return dashed(h[:31] + last)
}

// sources are d's data sources, the implicit one included.
func (d Database) sources() []DataSource {
	if len(d.DataSources) > 0 {
		return d.DataSources
	}
	return []DataSource{{ID: DataSourceID(d.ID), Name: d.Title, Properties: d.Properties, KeyProperty: d.KeyProperty}}
}

// DefaultDatabaseID is the ID of the database DefaultDatabases returns.
const DefaultDatabaseID = "9b2f4c1e-3a5d-4e6f-8a7b-1c2d3e4f5a6b"

// DefaultDatabases is what the simulator serves unless Options.Databases is
// set: one "Contacts" database with a property of every supported type,
// keyed by Email.
func DefaultDatabases() []Database {
	return []Database{{
		ID:    DefaultDatabaseID,
		Title: "Contacts",
		Properties: []Property{
			{Name: "Name", Type: TypeTitle},
			{Name: "Email", Type: TypeEmail},
			{Name: "Notes", Type: TypeRichText},
			{Name: "Amount", Type: TypeNumber},
			{Name: "Stage", Type: TypeSelect, Options: []string{"Lead", "Customer", "Churned"}},
			{Name: "Tags", Type: TypeMultiSelect, Options: []string{"vip", "newsletter"}},
			{Name: "Due", Type: TypeDate},
			{Name: "Phone", Type: TypePhoneNumber},
			{Name: "Active", Type: TypeCheckbox},
			{Name: "Website", Type: TypeURL},
			{Name: "Key", Type: TypeRichText},
		},
		KeyProperty: "Email",
	}}
}

// option is a select or multi_select option.
type option struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Color string `json:"color"`
}

// prop is a database property as stored.
type prop struct {
	id      string
	name    string
	typ     string
	options []option
}

// container is a database as stored: from 2025-09-03 a container of one
// or more data sources.
type container struct {
	id      string
	title   string
	sources []*db
	created time.Time
	edited  time.Time
}

// db is one data source as stored: the schema pages are written against.
// Before 2025-09-03 a database and its single data source are one thing.
type db struct {
	id      string // the data source ID
	parent  *container
	title   string
	props   []*prop
	key     string
	created time.Time
	edited  time.Time
}

func (d *db) byName(name string) *prop {
	for _, p := range d.props {
		if p.name == name {
			return p
		}
	}
	return nil
}

// byKey finds a property by name, else by ID, as Notion accepts either.
func (d *db) byKey(key string) *prop {
	if p := d.byName(key); p != nil {
		return p
	}
	for _, p := range d.props {
		if p.id == key {
			return p
		}
	}
	return nil
}

// textRun is one stored rich text object.
type textRun struct {
	Content  string
	Link     *string
	Equation bool
}

// dateValue is a stored date property value.
type dateValue struct {
	Start    string
	End      *string
	TimeZone *string
}

// apiError is an error answer or a rejected value.
type apiError struct {
	status  int
	code    string
	message string
}

func validation(format string, args ...any) *apiError {
	return &apiError{status: 400, code: "validation_error", message: fmt.Sprintf(format, args...)}
}

// bodyFailed is the message shape of Notion's body validation:
// "body failed validation: <path> should be <want>, instead was `<got>`."
func bodyFailed(path, want, got string) *apiError {
	return validation("body failed validation: %s should be %s, instead was `%s`.", path, want, got)
}

// jsLength is a string's length as Notion (JavaScript) counts it: UTF-16
// code units.
func jsLength(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// show renders a rejected JSON value the way body validation quotes it.
func show(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	if s == "" {
		return "undefined"
	}
	return s
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// value parses a property value object sent for property key of d. removed
// reports properties dropped by the removed_fields fault. It returns the
// property and its stored value.
func (s *Server) value(d *db, key string, raw json.RawMessage, removed func(string) bool) (*prop, any, *apiError) {
	p := d.byKey(key)
	if p == nil || removed(p.name) {
		return nil, nil, validation("%s is not a property that exists.", key)
	}
	path := "body.properties." + key
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, nil, bodyFailed(path, "an object", show(raw))
	}
	if t, ok := obj["type"]; ok {
		var typ string
		if json.Unmarshal(t, &typ) != nil || typ != p.typ {
			return nil, nil, validation("%s is expected to be %s.", p.name, p.typ)
		}
	}
	v, ok := obj[p.typ]
	if !ok {
		return nil, nil, validation("%s is expected to be %s.", p.name, p.typ)
	}
	path += "." + p.typ
	switch p.typ {
	case TypeTitle, TypeRichText:
		runs, err := parseRichText(path, v)
		return p, runs, err
	case TypeNumber:
		if isNull(v) {
			return p, nil, nil
		}
		var f float64
		if err := json.Unmarshal(v, &f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, nil, bodyFailed(path, "a number or `null`", show(v))
		}
		return p, f, nil
	case TypeCheckbox:
		var b bool
		if err := json.Unmarshal(v, &b); err != nil || isNull(v) {
			return nil, nil, bodyFailed(path, "a boolean", show(v))
		}
		return p, b, nil
	case TypeEmail, TypePhoneNumber, TypeURL:
		if isNull(v) {
			return p, nil, nil
		}
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			return nil, nil, bodyFailed(path, "a string or `null`", show(v))
		}
		limit := map[string]int{TypeEmail: MaxEmail, TypePhoneNumber: MaxPhone, TypeURL: MaxURL}[p.typ]
		if n := jsLength(str); n > limit {
			return nil, nil, validation("body failed validation: %s.length should be ≤ `%d`, instead was `%d`.", path, limit, n)
		}
		return p, str, nil
	case TypeSelect:
		if isNull(v) {
			return p, nil, nil
		}
		o, err := s.selectOption(p, path, v)
		if err != nil {
			return nil, nil, err
		}
		return p, o, nil
	case TypeMultiSelect:
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil || isNull(v) {
			return nil, nil, bodyFailed(path, "an array", show(v))
		}
		if len(items) > MaxArray {
			return nil, nil, validation("body failed validation: %s.length should be ≤ `%d`, instead was `%d`.", path, MaxArray, len(items))
		}
		out := make([]option, 0, len(items))
		seen := map[string]bool{}
		for i, it := range items {
			o, err := s.selectOption(p, fmt.Sprintf("%s[%d]", path, i), it)
			if err != nil {
				return nil, nil, err
			}
			if !seen[o.ID] {
				seen[o.ID] = true
				out = append(out, o)
			}
		}
		return p, out, nil
	case TypeDate:
		if isNull(v) {
			return p, nil, nil
		}
		dv, err := parseDate(path, v)
		if err != nil {
			return nil, nil, err
		}
		return p, dv, nil
	}
	return nil, nil, validation("%s is expected to be %s.", p.name, p.typ)
}

// parseRichText reads an array of rich text objects: text (content and an
// optional link) or equation.
func parseRichText(path string, raw json.RawMessage) ([]textRun, *apiError) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || isNull(raw) {
		return nil, bodyFailed(path, "an array", show(raw))
	}
	if len(items) > MaxArray {
		return nil, validation("body failed validation: %s.length should be ≤ `%d`, instead was `%d`.", path, MaxArray, len(items))
	}
	runs := make([]textRun, 0, len(items))
	for i, it := range items {
		at := fmt.Sprintf("%s[%d]", path, i)
		var obj struct {
			Type     *string         `json:"type"`
			Text     json.RawMessage `json:"text"`
			Equation json.RawMessage `json:"equation"`
		}
		if err := json.Unmarshal(it, &obj); err != nil {
			return nil, bodyFailed(at, "an object", show(it))
		}
		if obj.Type != nil && *obj.Type == "equation" || obj.Type == nil && obj.Text == nil && obj.Equation != nil {
			var eq struct {
				Expression *string `json:"expression"`
			}
			if err := json.Unmarshal(obj.Equation, &eq); err != nil || eq.Expression == nil {
				return nil, bodyFailed(at+".equation.expression", "a string", show(obj.Equation))
			}
			if n := jsLength(*eq.Expression); n > MaxEquation {
				return nil, validation("body failed validation: %s.equation.expression.length should be ≤ `%d`, instead was `%d`.", at, MaxEquation, n)
			}
			runs = append(runs, textRun{Content: *eq.Expression, Equation: true})
			continue
		}
		if obj.Type != nil && *obj.Type != "text" {
			return nil, bodyFailed(at+".type", "`\"text\"` or `\"equation\"`", strconv.Quote(*obj.Type))
		}
		if obj.Text == nil {
			return nil, bodyFailed(at+".text", "defined", "undefined")
		}
		var text struct {
			Content *string         `json:"content"`
			Link    json.RawMessage `json:"link"`
		}
		if err := json.Unmarshal(obj.Text, &text); err != nil {
			return nil, bodyFailed(at+".text", "an object", show(obj.Text))
		}
		if text.Content == nil {
			return nil, bodyFailed(at+".text.content", "defined", "undefined")
		}
		if n := jsLength(*text.Content); n > MaxTextContent {
			return nil, validation("body failed validation: %s.text.content.length should be ≤ `%d`, instead was `%d`.", at, MaxTextContent, n)
		}
		run := textRun{Content: *text.Content}
		if text.Link != nil && !isNull(text.Link) {
			var link struct {
				URL *string `json:"url"`
			}
			if err := json.Unmarshal(text.Link, &link); err != nil || link.URL == nil {
				return nil, bodyFailed(at+".text.link.url", "a string", show(text.Link))
			}
			if n := jsLength(*link.URL); n > MaxURL {
				return nil, validation("body failed validation: %s.text.link.url.length should be ≤ `%d`, instead was `%d`.", at, MaxURL, n)
			}
			run.Link = link.URL
		}
		runs = append(runs, run)
	}
	return runs, nil
}

// selectOption resolves {"name":…} or {"id":…} to an option of p, adding an
// unknown name to the schema as Notion documents ("it will be added to the
// database schema if the integration also has write access"). s.mu must be
// held.
func (s *Server) selectOption(p *prop, path string, raw json.RawMessage) (option, *apiError) {
	var o struct {
		ID   *string `json:"id"`
		Name *string `json:"name"`
	}
	if err := json.Unmarshal(raw, &o); err != nil || isNull(raw) {
		return option{}, bodyFailed(path, "an object", show(raw))
	}
	switch {
	case o.Name != nil:
		name := strings.TrimSpace(*o.Name)
		if strings.Contains(name, ",") {
			return option{}, validation("Invalid %s option, commas not allowed: %s", p.typ, name)
		}
		if name == "" {
			return option{}, bodyFailed(path+".name", "a non-empty string", strconv.Quote(*o.Name))
		}
		for _, x := range p.options {
			if x.Name == name {
				return x, nil
			}
		}
		n := option{ID: s.newOptionID(), Name: name, Color: "default"}
		p.options = append(p.options, n)
		return n, nil
	case o.ID != nil:
		for _, x := range p.options {
			if x.ID == *o.ID {
				return x, nil
			}
		}
		return option{}, validation("Invalid %s option id for property %s: %s", p.typ, p.name, *o.ID)
	}
	return option{}, bodyFailed(path+".name", "defined", "undefined")
}

// Date layouts Notion accepts for start and end: a date, or a date-time
// with an offset, or (with time_zone) without one.
const (
	outDateTime = "2006-01-02T15:04:05.000-07:00"
	outLocal    = "2006-01-02T15:04:05.000"
)

func parseDate(path string, raw json.RawMessage) (*dateValue, *apiError) {
	var d struct {
		Start    *string `json:"start"`
		End      *string `json:"end"`
		TimeZone *string `json:"time_zone"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, bodyFailed(path, "an object or `null`", show(raw))
	}
	if d.Start == nil {
		return nil, bodyFailed(path+".start", "defined", "undefined")
	}
	var zone *time.Location
	if d.TimeZone != nil {
		z, err := time.LoadLocation(*d.TimeZone)
		if err != nil || *d.TimeZone == "" || *d.TimeZone == "Local" {
			return nil, validation("body failed validation: %s.time_zone should be a valid IANA time zone, instead was `%q`.", path, *d.TimeZone)
		}
		zone = z
	}
	norm := func(field, v string) (string, time.Time, *apiError) {
		bad := func() (string, time.Time, *apiError) {
			return "", time.Time{}, validation("body failed validation: %s.%s should be a valid ISO 8601 date string, instead was `%q`.", path, field, v)
		}
		if zone != nil {
			// With a time zone the value must carry a time and no offset.
			for _, l := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05.999999999"} {
				if t, err := time.ParseInLocation(l, v, zone); err == nil {
					return t.Format(outLocal), t, nil
				}
			}
			return bad()
		}
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			return v, t, nil
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.Format(outDateTime), t, nil
		}
		// A date-time without an offset is taken as UTC.
		for _, l := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05.999999999"} {
			if t, err := time.Parse(l, v); err == nil {
				return t.UTC().Format(outDateTime), t, nil
			}
		}
		return bad()
	}
	start, st, err := norm("start", *d.Start)
	if err != nil {
		return nil, err
	}
	out := &dateValue{Start: start, TimeZone: d.TimeZone}
	if d.End != nil {
		end, et, err := norm("end", *d.End)
		if err != nil {
			return nil, err
		}
		if et.Before(st) {
			return nil, validation("body failed validation: %s.end should be on or after start.", path)
		}
		out.End = &end
	}
	return out, nil
}

// startTime is when a stored date begins, for filters.
func (d *dateValue) startTime() time.Time {
	if t, err := time.Parse(time.DateOnly, d.Start); err == nil {
		return t
	}
	if t, err := time.Parse(outDateTime, d.Start); err == nil {
		return t
	}
	t, _ := time.Parse(outLocal, d.Start)
	return t
}

// plain renders a stored value as plain text (the business key, and the
// accessor for tests).
func plain(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case []textRun:
		var b strings.Builder
		for _, r := range v {
			b.WriteString(r.Content)
		}
		return b.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		return v
	case option:
		return v.Name
	case bool:
		return strconv.FormatBool(v)
	case *dateValue:
		return v.Start
	case []option:
		names := make([]string, len(v))
		for i, o := range v {
			names[i] = o.Name
		}
		return strings.Join(names, ",")
	}
	return fmt.Sprint(v)
}

// flat renders a stored value as the plain Go value Server.Pages returns.
func flat(typ string, v any) any {
	switch typ {
	case TypeTitle, TypeRichText:
		return plain(v)
	case TypeMultiSelect:
		names := []string{}
		if opts, ok := v.([]option); ok {
			for _, o := range opts {
				names = append(names, o.Name)
			}
		}
		return names
	case TypeCheckbox:
		b, _ := v.(bool)
		return b
	}
	switch v := v.(type) {
	case nil:
		return nil
	case option:
		return v.Name
	case *dateValue:
		return v.Start
	}
	return v
}

// richTextJSON is a rich text object as Notion returns it.
func richTextJSON(runs []textRun) []any {
	out := make([]any, 0, len(runs))
	annotations := map[string]any{"bold": false, "italic": false, "strikethrough": false,
		"underline": false, "code": false, "color": "default"}
	for _, r := range runs {
		if r.Equation {
			out = append(out, map[string]any{"type": "equation", "equation": map[string]any{"expression": r.Content},
				"annotations": annotations, "plain_text": r.Content, "href": nil})
			continue
		}
		var link, href any
		if r.Link != nil {
			link, href = map[string]any{"url": *r.Link}, *r.Link
		}
		out = append(out, map[string]any{"type": "text", "text": map[string]any{"content": r.Content, "link": link},
			"annotations": annotations, "plain_text": r.Content, "href": href})
	}
	return out
}

// valueJSON is the type-specific part of a property value object.
func valueJSON(typ string, v any) any {
	switch typ {
	case TypeTitle, TypeRichText:
		runs, _ := v.([]textRun)
		return richTextJSON(runs)
	case TypeMultiSelect:
		opts, _ := v.([]option)
		if opts == nil {
			opts = []option{}
		}
		return opts
	case TypeCheckbox:
		b, _ := v.(bool)
		return b
	case TypeDate:
		d, ok := v.(*dateValue)
		if !ok {
			return nil
		}
		return map[string]any{"start": d.Start, "end": d.End, "time_zone": d.TimeZone}
	}
	return v
}

// schemaJSON is a database property as GET /v1/databases/{id} returns it.
func (p *prop) schemaJSON() map[string]any {
	conf := map[string]any{}
	switch p.typ {
	case TypeNumber:
		conf["format"] = "number"
	case TypeSelect, TypeMultiSelect:
		opts := append([]option{}, p.options...)
		conf["options"] = opts
	}
	return map[string]any{"id": p.id, "name": p.name, "type": p.typ, p.typ: conf}
}

// sortedKeys returns m's keys in order, so the first error is repeatable.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
