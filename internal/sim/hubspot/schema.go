package hubspot

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Property types and field types, as HubSpot's properties API names them.
const (
	TypeString      = "string"
	TypeNumber      = "number"
	TypeBool        = "bool"
	TypeEnumeration = "enumeration"
	TypeDate        = "date"
	TypeDateTime    = "datetime"

	FieldText     = "text"
	FieldNumber   = "number"
	FieldBoolean  = "booleancheckbox"
	FieldSelect   = "select"
	FieldRadio    = "radio"
	FieldCheckbox = "checkbox" // multiple checkboxes: a ";"-joined string
	FieldDate     = "date"
)

// Property is one property of an object type.
type Property struct {
	Name      string
	Label     string
	Type      string
	FieldType string
	// Options are the allowed internal values of an enumeration.
	Options []string
	// Unique properties (hasUniqueValue, and contacts' email) may be used as
	// an upsert idProperty; a second record with the same value is a 409.
	Unique   bool
	ReadOnly bool
}

// ObjectType is one CRM object type and its property schema.
type ObjectType struct {
	// Name is the path segment: "contacts", "companies", "deals".
	Name string
	// Singular names the object in messages ("Contact already exists").
	Singular string
	// Properties are every property records of this type may hold.
	Properties []Property
	// Defaults are returned by GET and search when no properties are asked
	// for.
	Defaults []string
	// DedupeKey is the business key duplicates are counted by in the
	// simulator's stats ("" for none).
	DedupeKey string
	// Modified is the read-only last-modified property's name.
	Modified string
}

func (t *ObjectType) property(name string) (Property, bool) {
	for _, p := range t.Properties {
		if p.Name == name {
			return p, true
		}
	}
	return Property{}, false
}

// DefaultObjectTypes is the schema the simulator starts with: the three
// object types Sluice writes, each with a unique key, an enumeration, a date
// and a multiple-checkbox property, plus HubSpot's read-only system
// properties. Properties named sluice_* are custom properties a HubSpot
// admin would create for Sluice.
func DefaultObjectTypes() []ObjectType {
	system := func(modified string) []Property {
		return []Property{
			{Name: "hs_object_id", Label: "Record ID", Type: TypeNumber, FieldType: FieldNumber, ReadOnly: true},
			{Name: "createdate", Label: "Create Date", Type: TypeDateTime, FieldType: FieldDate, ReadOnly: true},
			{Name: modified, Label: "Last Modified Date", Type: TypeDateTime, FieldType: FieldDate, ReadOnly: true},
		}
	}
	text := func(name, label string) Property {
		return Property{Name: name, Label: label, Type: TypeString, FieldType: FieldText}
	}
	contacts := ObjectType{
		Name: "contacts", Singular: "Contact", DedupeKey: "email", Modified: "lastmodifieddate",
		Defaults: []string{"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"},
		Properties: append([]Property{
			{Name: "email", Label: "Email", Type: TypeString, FieldType: FieldText, Unique: true},
			text("firstname", "First Name"),
			text("lastname", "Last Name"),
			text("phone", "Phone Number"),
			text("company", "Company Name"),
			text("jobtitle", "Job Title"),
			{Name: "lifecyclestage", Label: "Lifecycle Stage", Type: TypeEnumeration, FieldType: FieldRadio,
				Options: []string{"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other"}},
			{Name: "hs_buying_role", Label: "Buying Role", Type: TypeEnumeration, FieldType: FieldCheckbox,
				Options: []string{"BLOCKER", "BUDGET_HOLDER", "CHAMPION", "DECISION_MAKER", "END_USER", "EXECUTIVE_SPONSOR", "INFLUENCER", "OTHER"}},
			{Name: "sluice_signup_date", Label: "Signup Date", Type: TypeDate, FieldType: FieldDate},
			{Name: "sluice_key", Label: "Sluice Key", Type: TypeString, FieldType: FieldText, Unique: true},
		}, append(system("lastmodifieddate"),
			// Contacts carry both names of the modified date on HubSpot.
			Property{Name: "hs_lastmodifieddate", Label: "Object last modified date/time", Type: TypeDateTime, FieldType: FieldDate, ReadOnly: true})...),
	}
	companies := ObjectType{
		Name: "companies", Singular: "Company", DedupeKey: "domain", Modified: "hs_lastmodifieddate",
		Defaults: []string{"createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"},
		Properties: append([]Property{
			text("name", "Company name"),
			{Name: "domain", Label: "Company Domain Name", Type: TypeString, FieldType: FieldText, Unique: true},
			text("phone", "Phone Number"),
			text("city", "City"),
			{Name: "numberofemployees", Label: "Number of Employees", Type: TypeNumber, FieldType: FieldNumber},
			{Name: "industry", Label: "Industry", Type: TypeEnumeration, FieldType: FieldSelect,
				Options: []string{"COMPUTER_SOFTWARE", "FINANCIAL_SERVICES", "HOSPITAL_HEALTH_CARE", "RETAIL", "LOGISTICS_AND_SUPPLY_CHAIN"}},
			{Name: "sluice_renewal_date", Label: "Renewal Date", Type: TypeDate, FieldType: FieldDate},
			{Name: "sluice_regions", Label: "Regions", Type: TypeEnumeration, FieldType: FieldCheckbox,
				Options: []string{"amer", "apac", "emea"}},
		}, system("hs_lastmodifieddate")...),
	}
	deals := ObjectType{
		Name: "deals", Singular: "Deal", DedupeKey: "sluice_key", Modified: "hs_lastmodifieddate",
		Defaults: []string{"amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id", "pipeline"},
		Properties: append([]Property{
			text("dealname", "Deal Name"),
			{Name: "amount", Label: "Amount", Type: TypeNumber, FieldType: FieldNumber},
			{Name: "pipeline", Label: "Pipeline", Type: TypeEnumeration, FieldType: FieldSelect, Options: []string{"default"}},
			{Name: "dealstage", Label: "Deal Stage", Type: TypeEnumeration, FieldType: FieldRadio,
				Options: []string{"appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"}},
			{Name: "closedate", Label: "Close Date", Type: TypeDateTime, FieldType: FieldDate},
			{Name: "sluice_start_date", Label: "Start Date", Type: TypeDate, FieldType: FieldDate},
			{Name: "sluice_products", Label: "Products", Type: TypeEnumeration, FieldType: FieldCheckbox,
				Options: []string{"analytics", "core", "support"}},
			{Name: "sluice_key", Label: "Sluice Key", Type: TypeString, FieldType: FieldText, Unique: true},
		}, system("hs_lastmodifieddate")...),
	}
	return []ObjectType{contacts, companies, deals}
}

// propError is one invalid property value, in the shape HubSpot embeds in
// "Property values were not valid: [...]".
type propError struct {
	IsValid bool   `json:"isValid"`
	Message string `json:"message"`
	Error   string `json:"error"`
	Name    string `json:"name"`
	// LocalizedErrorMessage repeats Message, as HubSpot does.
	LocalizedErrorMessage string `json:"localizedErrorMessage"`
}

func newPropError(name, code, format string, args ...any) propError {
	msg := fmt.Sprintf(format, args...)
	return propError{Message: msg, Error: code, Name: name, LocalizedErrorMessage: msg}
}

// propErrorsMessage renders the VALIDATION_ERROR message HubSpot uses.
func propErrorsMessage(errs []propError) string {
	sort.Slice(errs, func(i, j int) bool { return errs[i].Name < errs[j].Name })
	b, _ := json.Marshal(errs)
	return "Property values were not valid: " + string(b)
}

// change is one normalized property write; clear removes the value.
type change struct {
	name  string
	value string
	clear bool
}

const dayMillis = int64(24 * time.Hour / time.Millisecond)

// normalize checks one property value against the schema and returns the
// stored form. removed reports properties dropped by the drift fault.
func normalize(t *ObjectType, name string, raw any, removed func(string) bool) (change, *propError) {
	p, ok := t.property(name)
	if !ok || removed(name) {
		e := newPropError(name, "PROPERTY_DOESNT_EXIST", "Property %q does not exist", name)
		return change{}, &e
	}
	if p.ReadOnly {
		e := newPropError(name, "READ_ONLY_VALUE", "%q is a read only property; its value cannot be set.", name)
		return change{}, &e
	}
	v, isNull := scalar(raw)
	if isNull || v == "" {
		// "" clears a value, as does null.
		return change{name: name, clear: true}, nil
	}
	bad := func(code, format string, args ...any) (change, *propError) {
		e := newPropError(name, code, format, args...)
		return change{}, &e
	}
	switch p.Type {
	case TypeString:
		if name == "email" {
			v = strings.ToLower(strings.TrimSpace(v))
			if !validEmail(v) {
				return bad("INVALID_EMAIL", "Email address %s is invalid", v)
			}
		}
	case TypeNumber:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return bad("INVALID_NUMBER", "%s was not a valid number.", v)
		}
	case TypeBool:
		switch strings.ToLower(v) {
		case "true", "false":
			v = strings.ToLower(v)
		default:
			return bad("INVALID_BOOLEAN", "%s was not a valid boolean; use true or false.", v)
		}
	case TypeEnumeration:
		if p.FieldType == FieldCheckbox {
			var kept []string
			for _, part := range strings.Split(v, ";") {
				part = strings.TrimSpace(part)
				if part == "" {
					continue
				}
				if !contains(p.Options, part) {
					return bad("INVALID_OPTION", "%s was not one of the allowed options: [%s]", part, strings.Join(p.Options, ", "))
				}
				kept = append(kept, part)
			}
			if len(kept) == 0 {
				return change{name: name, clear: true}, nil
			}
			v = strings.Join(kept, ";")
		} else if !contains(p.Options, v) {
			return bad("INVALID_OPTION", "%s was not one of the allowed options: [%s]", v, strings.Join(p.Options, ", "))
		}
	case TypeDate:
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return bad("INVALID_DATE", "%s is not a valid date; a date property takes a UTC midnight timestamp in milliseconds", v)
		}
		if ms%dayMillis != 0 {
			return bad("INVALID_DATE", "%d is at %s UTC, not midnight!", ms, time.UnixMilli(ms).UTC().Format("15:04:05.000"))
		}
		v = strconv.FormatInt(ms, 10)
	case TypeDateTime:
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			v = formatTime(time.UnixMilli(ms))
		} else if ts, err := time.Parse(time.RFC3339Nano, v); err == nil {
			v = formatTime(ts)
		} else {
			return bad("INVALID_DATETIME", "%s is not a valid datetime; use milliseconds since the epoch or ISO 8601", v)
		}
	}
	return change{name: name, value: v}, nil
}

// scalar renders a JSON property value as HubSpot stores it: a string.
// Arrays and objects were rejected when the body was decoded.
func scalar(v any) (s string, isNull bool) {
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, false
	case json.Number:
		return v.String(), false
	case bool:
		return strconv.FormatBool(v), false
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), false
	}
	return fmt.Sprint(v), false
}

func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n<>,;") {
		return false
	}
	dom := s[at+1:]
	return strings.Contains(dom, ".") && !strings.HasPrefix(dom, ".") && !strings.HasSuffix(dom, ".")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// formatTime is HubSpot's timestamp format: UTC with milliseconds.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// propertyJSON is a property as GET /crm/v3/properties/{objectType} returns
// it.
type propertyJSON struct {
	Name                 string       `json:"name"`
	Label                string       `json:"label"`
	Type                 string       `json:"type"`
	FieldType            string       `json:"fieldType"`
	Options              []optionJSON `json:"options"`
	HasUniqueValue       bool         `json:"hasUniqueValue"`
	ModificationMetadata struct {
		ReadOnlyValue bool `json:"readOnlyValue"`
	} `json:"modificationMetadata"`
}

type optionJSON struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

func (p Property) toJSON() propertyJSON {
	out := propertyJSON{Name: p.Name, Label: p.Label, Type: p.Type, FieldType: p.FieldType, HasUniqueValue: p.Unique, Options: []optionJSON{}}
	out.ModificationMetadata.ReadOnlyValue = p.ReadOnly
	for i, o := range p.Options {
		out.Options = append(out.Options, optionJSON{Label: o, Value: o, DisplayOrder: i})
	}
	return out
}
