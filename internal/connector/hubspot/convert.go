package hubspot

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// properties turns a mapped payload into HubSpot property values: date
// properties become midnight-UTC epoch milliseconds, multiple-checkbox lists
// become ";"-joined strings, and everything else must already be a scalar.
// A value HubSpot could never accept fails here, before any request, as a
// Permanent error naming the property.
func (c *Conn) properties(d connector.Delivery) (map[string]any, error) {
	out := make(map[string]any, len(d.Payload)+1)
	names := make([]string, 0, len(d.Payload))
	for k := range d.Payload {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := c.convert(name, d.Payload[name])
		if err != nil {
			return nil, &connector.Error{Class: connector.Permanent, Code: "INVALID_VALUE",
				Message: fmt.Sprintf("property %s: %v", name, err)}
		}
		out[name] = v
	}
	if v, ok := out[c.idProperty]; ok && v != nil {
		s, _ := scalarString(v)
		if !sameKey(c.idProperty, s, d.RecordKey) {
			return nil, &connector.Error{Class: connector.Permanent, Code: "KEY_MISMATCH",
				Message: fmt.Sprintf("property %s is %q but the record key is %q: HubSpot upserts and looks records up by %s, so the two must agree", c.idProperty, s, d.RecordKey, c.idProperty)}
		}
	}
	return out, nil
}

func (c *Conn) convert(name string, v any) (any, error) {
	switch {
	case v == nil:
		return nil, nil
	case c.dateProps[name]:
		return toDateMillis(v)
	case c.multiProps[name]:
		return joinOptions(v)
	}
	switch v := v.(type) {
	case string, bool, json.Number:
		return v, nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("%v is not a number HubSpot accepts", v)
		}
		return v, nil
	case int, int64, int32, uint, uint64, uint32, float32:
		return v, nil
	case []any:
		return nil, fmt.Errorf("a list is not a HubSpot property value (list the property in multi_checkbox_properties to send it as a multiple-checkbox value)")
	default:
		return nil, fmt.Errorf("a %T is not a HubSpot property value: use a string, number, boolean or null", v)
	}
}

// toDateMillis converts an RFC 3339 timestamp or a YYYY-MM-DD date to the
// midnight-UTC epoch milliseconds of its calendar date, the only form
// HubSpot's date properties accept. A timestamp keeps the date it names in
// its own offset ("2024-03-01T23:30:00-05:00" is 1 March). A number, or a
// string of digits, is taken as epoch milliseconds already and passed
// through, so HubSpot's own INVALID_DATE reports one that is not at
// midnight. "" clears the value.
func toDateMillis(v any) (any, error) {
	switch v := v.(type) {
	case json.Number, float64, int, int64:
		return v, nil
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return "", nil
		}
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return s, nil
		}
		var t time.Time
		var err error
		if len(s) == len(time.DateOnly) {
			t, err = time.Parse(time.DateOnly, s)
		} else {
			t, err = time.Parse(time.RFC3339Nano, s)
		}
		if err != nil {
			return nil, fmt.Errorf("%q is not a date: want YYYY-MM-DD or an RFC 3339 timestamp", v)
		}
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return day.UnixMilli(), nil
	}
	return nil, fmt.Errorf("a %T is not a date: want YYYY-MM-DD or an RFC 3339 timestamp", v)
}

// joinOptions renders a multiple-checkbox value: a list of option values
// becomes one ";"-joined string; a string is taken as already joined.
func joinOptions(v any) (any, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []any:
		parts := make([]string, 0, len(v))
		for i, e := range v {
			s, ok := scalarString(e)
			if !ok || e == nil {
				return nil, fmt.Errorf("item %d: a %T is not an option value", i, e)
			}
			if strings.Contains(s, ";") {
				return nil, fmt.Errorf("item %d: option %q contains ';', HubSpot's separator", i, s)
			}
			if s = strings.TrimSpace(s); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ";"), nil
	case []string:
		return joinOptions(anySlice(v))
	}
	return nil, fmt.Errorf("a %T is not a multiple-checkbox value: want a list of options or a ';'-joined string", v)
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// scalarString renders a scalar as HubSpot would store it.
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case nil:
		return "", true
	}
	return fmt.Sprint(v), false
}

// sameKey compares unique values the way HubSpot does: e-mails
// case-insensitively (HubSpot stores them lower-cased), others exactly.
func sameKey(prop, a, b string) bool {
	if prop == "email" {
		return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	return a == b
}

// fieldsFromHubSpot turns returned property strings back into the forms the
// connector sends: date properties as YYYY-MM-DD, multiple-checkbox values
// as lists, so a read-back compares with the mapped record.
func (c *Conn) fieldsFromHubSpot(props map[string]*string) map[string]any {
	out := make(map[string]any, len(props))
	for k, p := range props {
		if p == nil {
			out[k] = nil
			continue
		}
		v := *p
		switch {
		case c.dateProps[k]:
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				out[k] = time.UnixMilli(ms).UTC().Format(time.DateOnly)
				continue
			}
			out[k] = v
		case c.multiProps[k]:
			list := []any{}
			for _, part := range strings.Split(v, ";") {
				if part != "" {
					list = append(list, part)
				}
			}
			out[k] = list
		default:
			out[k] = v
		}
	}
	return out
}
