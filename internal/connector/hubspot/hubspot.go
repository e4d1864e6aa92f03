// Package hubspot is the HubSpot CRM destination, registered as type
// "hubspot": it writes mapped records to one object type (contacts,
// companies or deals) through the CRM v3 objects API. It owns the property
// value formats HubSpot insists on (midnight-UTC dates, ";"-joined multiple
// checkboxes), upsert by a unique property so that a retry never creates a
// duplicate, the per-item results of batch writes, the resolution of "already
// exists" conflicts, staying under HubSpot's rolling rate window, and the
// classification of HubSpot's answers into connector.Error, with the token
// kept out of everything it reports.
//
// Writes:
//   - Deliver without an external ID upserts the one record through
//     batch/upsert by id_property, whose value is the record key. With the
//     identity map's external ID it PATCHes that record; if HubSpot no longer
//     has it (deleted or merged, 404) it upserts by key instead.
//   - DeliverBatch upserts up to 100 records per request and reads each
//     item's outcome from the 200 or 207 answer.
//   - A 409 "... already exists. Existing ID: N" (another unique property,
//     such as a contact's email, already names a record) is resolved by
//     updating N, after checking that N does not carry a different key:
//     then it is a Conflict for a person.
//
// Lookup searches by id_property EQ the record key.
package hubspot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

// Kind is the destination type this package registers.
const Kind = "hubspot"

func init() { connector.Register(Kind, Open) }

const (
	// DefaultBaseURL is HubSpot's API host.
	DefaultBaseURL = "https://api.hubapi.com"
	// DefaultRatePer10s is the Free/Starter private-app limit: 100 requests
	// per rolling 10 seconds.
	DefaultRatePer10s = 100
	// DefaultTimeout bounds one request when Options.Timeout is empty.
	DefaultTimeout = 10 * time.Second
	// MaxBatch is the most inputs HubSpot takes in one batch request.
	MaxBatch = 100
	// SearchRatePerSecond is HubSpot's CRM search limit per token.
	SearchRatePerSecond = 4

	rateInterval = 10 * time.Second
)

// Objects are the object types the connector writes.
var Objects = []string{"contacts", "companies", "deals"}

// Options configure one HubSpot destination.
type Options struct {
	// BaseURL is the API origin; default https://api.hubapi.com. Point it at
	// a simulator to try a config.
	BaseURL string `json:"base_url"`
	// Token is the private-app (or OAuth) access token; required. It is
	// never shown in errors, logs or String.
	Token string `json:"token"`
	// Object is contacts, companies or deals; required.
	Object string `json:"object"`
	// IDProperty is the unique property records are upserted and looked up
	// by; its value is the record key. Default "email" for contacts;
	// required for companies and deals (a property with hasUniqueValue).
	IDProperty string `json:"id_property"`
	// DateProperties are sent as midnight-UTC epoch milliseconds, converted
	// from YYYY-MM-DD or RFC 3339 (the calendar date the value names).
	DateProperties []string `json:"date_properties"`
	// MultiCheckboxProperties are sent as one ";"-joined string, converted
	// from a list of option values.
	MultiCheckboxProperties []string `json:"multi_checkbox_properties"`
	// LookupProperties are read back by Lookup besides id_property and the
	// date and multiple-checkbox properties (HubSpot returns only a few
	// default properties unless asked).
	LookupProperties []string `json:"lookup_properties"`
	// RatePer10s is the account's limit per rolling 10 seconds; default 100
	// (Free/Starter). Professional and Enterprise have 190.
	RatePer10s int `json:"rate_per_10s"`
	// Timeout bounds one request, as a Go duration; default 10s.
	Timeout string `json:"timeout"`
	// TimeZone is the account's time zone (IANA name), where HubSpot resets
	// the daily limit at midnight; default UTC. It decides how long a DAILY
	// 429 waits.
	TimeZone string `json:"time_zone"`
	// Egress guards every connection to the destination; Open sets it
	// from the destination's allow_private_network. Configs cannot set it
	// here.
	Egress egress.Policy `json:"-"`
}

// Conn is a HubSpot destination. It is safe for concurrent use.
type Conn struct {
	name        string
	baseURL     string
	token       string
	object      string
	idProperty  string
	dateProps   map[string]bool
	multiProps  map[string]bool
	readProps   []string
	timeout     time.Duration
	interval    time.Duration
	zone        *time.Location
	constraints connector.Constraints
	writes      *connector.Window
	searches    *connector.Window
	rt          *connector.RoundTrip
	transport   *http.Transport
	client      *http.Client
	now         func() time.Time
}

var (
	_ connector.Connector = (*Conn)(nil)
	_ connector.Batcher   = (*Conn)(nil)
	_ connector.Looker    = (*Conn)(nil)
	_ fmt.Stringer        = (*Conn)(nil)
	_ fmt.GoStringer      = (*Conn)(nil)
)

// Open is the connector.Factory for type "hubspot".
func Open(p connector.Params) (connector.Connector, error) {
	var o Options
	if err := Spec.Decode(p, &o); err != nil {
		return nil, err
	}
	o.Egress = p.Egress()
	if p.Credential != nil && o.Token == "" {
		o.Token = connector.CredentialToken
	}
	c, err := New(p.Name, o)
	if err != nil {
		return nil, err
	}
	if p.Credential != nil {
		// An expiring token, refreshed by package credential.
		connector.UseCredential(c.rt, c.client, p.Credential)
	}
	return c, nil
}

// New validates o and builds the destination.
func New(name string, o Options) (*Conn, error) {
	c := &Conn{name: name, token: o.Token, object: o.Object, interval: rateInterval, now: time.Now}

	base := cmp.Or(o.BaseURL, DefaultBaseURL)
	u, err := url.Parse(base)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("options.base_url: %q is not an absolute http(s) URL", base)
	case u.User != nil:
		return nil, errors.New("options.base_url: must not contain credentials; use options.token")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("options.base_url: must not have a query or fragment")
	}
	c.baseURL = strings.TrimRight(u.String(), "/")

	switch {
	case o.Token == "":
		return nil, errors.New("options.token: required")
	case strings.ContainsFunc(o.Token, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return nil, errors.New("options.token: contains a control character")
	}
	if !slices.Contains(Objects, o.Object) {
		return nil, fmt.Errorf("options.object: %q is not one of %s", o.Object, strings.Join(Objects, ", "))
	}
	c.idProperty = o.IDProperty
	if c.idProperty == "" {
		if o.Object != "contacts" {
			return nil, fmt.Errorf("options.id_property: required for %s: name a property with unique values (hasUniqueValue) that holds the record key", o.Object)
		}
		c.idProperty = "email"
	}

	c.dateProps, err = propertySet("date_properties", o.DateProperties)
	if err != nil {
		return nil, err
	}
	c.multiProps, err = propertySet("multi_checkbox_properties", o.MultiCheckboxProperties)
	if err != nil {
		return nil, err
	}
	for p := range c.dateProps {
		if c.multiProps[p] {
			return nil, fmt.Errorf("options.multi_checkbox_properties: %s is also a date property", p)
		}
	}
	if _, err := propertySet("lookup_properties", o.LookupProperties); err != nil {
		return nil, err
	}
	c.readProps = []string{c.idProperty}
	for _, list := range [][]string{o.DateProperties, o.MultiCheckboxProperties, o.LookupProperties} {
		for _, p := range list {
			if !slices.Contains(c.readProps, p) {
				c.readProps = append(c.readProps, p)
			}
		}
	}

	rate := o.RatePer10s
	switch {
	case rate < 0:
		return nil, errors.New("options.rate_per_10s: must not be negative")
	case rate == 0:
		rate = DefaultRatePer10s
	}
	c.timeout = DefaultTimeout
	if o.Timeout != "" {
		if c.timeout, err = time.ParseDuration(o.Timeout); err != nil || c.timeout <= 0 {
			return nil, fmt.Errorf("options.timeout: %q is not a positive Go duration", o.Timeout)
		}
	}
	c.zone = time.UTC
	if o.TimeZone != "" {
		if c.zone, err = time.LoadLocation(o.TimeZone); err != nil {
			return nil, fmt.Errorf("options.time_zone: %q is not an IANA time zone", o.TimeZone)
		}
	}

	c.writes = connector.NewWindow(rate, rateInterval)
	c.searches = connector.NewWindow(SearchRatePerSecond, time.Second)
	perSecond := max(rate/10, 1)
	c.constraints = connector.Constraints{
		RatePerSecond: float64(rate) / 10,
		Burst:         perSecond,
		BatchSize:     MaxBatch,
		Timeout:       c.timeout,
		Upsert:        true,
	}
	c.client, c.transport = connector.HTTPClient(name, o.Egress)
	c.rt = &connector.RoundTrip{Client: c.client, Header: connector.Bearer(c.token), MaxBody: maxBodyRead, Redact: c.redact}
	return c, nil
}

func propertySet(field string, names []string) (map[string]bool, error) {
	set := make(map[string]bool, len(names))
	for i, n := range names {
		if strings.TrimSpace(n) == "" {
			return nil, fmt.Errorf("options.%s[%d]: empty property name", field, i)
		}
		set[n] = true
	}
	return set, nil
}

// Constraints reports HubSpot's limits: the rolling 10-second quota as a
// steady rate with a one-second burst, batches of 100, upsert by key. The
// connector also keeps its own exact rolling window, because a token bucket
// lets burst + rate*10s requests into a 10-second window.
func (c *Conn) Constraints() connector.Constraints { return c.constraints }

// Close releases idle connections.
func (c *Conn) Close(context.Context) error {
	c.transport.CloseIdleConnections()
	return nil
}

// String describes the destination without the token.
func (c *Conn) String() string {
	return fmt.Sprintf("hubspot destination %q: %s %s by %s, token %s", c.name, c.baseURL, c.object, c.idProperty, redacted)
}

// GoString keeps %#v from printing the token.
func (c *Conn) GoString() string { return c.String() }

func (c *Conn) objectPath() string { return "/crm/v3/objects/" + c.object }

// Deliver writes one record: a PATCH of the known external ID, else an
// upsert by key.
func (c *Conn) Deliver(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	props, err := c.properties(d)
	if err != nil {
		return connector.Result{}, err
	}
	if d.ExternalID != "" {
		res, err := c.patch(ctx, d.ExternalID, props)
		var ce *connector.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
			return res, err
		}
		// HubSpot no longer has the record Sluice wrote (deleted or
		// merged): write it by key, which finds the merged record or
		// creates it anew.
	}
	rs := c.upsert(ctx, []item{{d: d, props: props}})
	return rs[0].Result, rs[0].Err
}

// DeliverBatch upserts the records by key, 100 per request, and reports
// each one's outcome in input order.
func (c *Conn) DeliverBatch(ctx context.Context, ds []connector.Delivery) ([]connector.BatchResult, error) {
	out := make([]connector.BatchResult, len(ds))
	var items []item
	var at []int
	for i, d := range ds {
		props, err := c.properties(d)
		if err != nil {
			out[i].Err = err
			continue
		}
		items = append(items, item{d: d, props: props})
		at = append(at, i)
	}
	for start := 0; start < len(items); start += MaxBatch {
		end := min(start+MaxBatch, len(items))
		for j, r := range c.upsert(ctx, items[start:end]) {
			out[at[start+j]] = r
		}
	}
	return out, nil
}

// item is one record of an upsert.
type item struct {
	d     connector.Delivery
	props map[string]any
}

type upsertInput struct {
	ID                 string         `json:"id"`
	IDProperty         string         `json:"idProperty"`
	Properties         map[string]any `json:"properties"`
	ObjectWriteTraceID string         `json:"objectWriteTraceId"`
}

type hsObject struct {
	ID                 string             `json:"id"`
	UpdatedAt          string             `json:"updatedAt"`
	Properties         map[string]*string `json:"properties"`
	New                *bool              `json:"new"`
	ObjectWriteTraceID string             `json:"objectWriteTraceId"`
}

type batchAnswer struct {
	Status    string     `json:"status"`
	Results   []hsObject `json:"results"`
	Errors    []hsError  `json:"errors"`
	NumErrors int        `json:"numErrors"`
}

// upsert sends items (at most MaxBatch) to batch/upsert and matches every
// result and error to its input: by objectWriteTraceId, else by the key in
// the result or the error's context. An input HubSpot says nothing about is
// an ambiguous Retryable failure.
func (c *Conn) upsert(ctx context.Context, items []item) []connector.BatchResult {
	out := make([]connector.BatchResult, len(items))
	inputs := make([]upsertInput, len(items))
	byTrace := make(map[string]int, len(items))
	for i, it := range items {
		trace := it.d.ID
		if _, dup := byTrace[trace]; trace == "" || dup {
			trace = "sluice-" + strconv.Itoa(i)
		}
		byTrace[trace] = i
		inputs[i] = upsertInput{ID: it.d.RecordKey, IDProperty: c.idProperty, Properties: it.props, ObjectWriteTraceID: trace}
		if it.d.RecordKey == "" {
			out[i].Err = &connector.Error{Class: connector.Permanent, Code: "NO_KEY",
				Message: fmt.Sprintf("the record key is empty; HubSpot upserts by %s, which needs a value", c.idProperty)}
		}
	}
	var send []upsertInput
	for i, in := range inputs {
		if out[i].Err == nil {
			send = append(send, in)
		}
	}
	if len(send) == 0 {
		return out
	}
	fail := func(err error) []connector.BatchResult {
		for i := range out {
			if out[i].Err == nil {
				out[i].Err = err
			}
		}
		return out
	}

	path := c.objectPath() + "/batch/upsert"
	resp, err := c.call(ctx, http.MethodPost, path, map[string]any{"inputs": send}, c.writes)
	if err != nil {
		return fail(err)
	}
	if resp.status != http.StatusOK && resp.status != http.StatusCreated && resp.status != http.StatusMultiStatus {
		ce := c.statusError(resp)
		if ce.Class == connector.Conflict && len(send) == 1 {
			i := byTrace[send[0].ObjectWriteTraceID]
			out[i] = c.resolveConflict(ctx, items[i], ce)
			return out
		}
		return fail(ce)
	}
	var ans batchAnswer
	if err := decodeJSON(resp.body, &ans); err != nil {
		return fail(&connector.Error{Class: connector.Retryable, Status: resp.status, Sent: true, Err: err,
			Message: fmt.Sprintf("POST %s: HubSpot's answer is not the batch shape: %v", path, err)})
	}
	done := make([]bool, len(items))
	find := func(trace string, keys ...string) (int, bool) {
		if i, ok := byTrace[trace]; ok && trace != "" && !done[i] {
			return i, true
		}
		for _, k := range keys {
			for i, it := range items {
				if !done[i] && out[i].Err == nil && sameKey(c.idProperty, it.d.RecordKey, k) {
					return i, true
				}
			}
		}
		if len(send) == 1 {
			i := byTrace[send[0].ObjectWriteTraceID]
			return i, !done[i]
		}
		return 0, false
	}
	for _, r := range ans.Results {
		var key string
		if p := r.Properties[c.idProperty]; p != nil {
			key = *p
		}
		i, ok := find(r.ObjectWriteTraceID, key)
		if !ok || r.ID == "" {
			continue
		}
		done[i] = true
		res := connector.Result{ExternalID: r.ID, Status: http.StatusOK, Message: "updated"}
		if r.New != nil && *r.New {
			res.Status, res.Message = http.StatusCreated, "created"
		}
		out[i] = connector.BatchResult{Result: res}
	}
	for _, he := range ans.Errors {
		traces := he.Context["objectWriteTraceId"]
		ids := he.Context["id"]
		if len(traces) == 0 {
			traces = []string{""}
		}
		// One error entry may name several inputs.
		for n, trace := range traces {
			keys := ids
			if len(traces) > 1 && n < len(ids) {
				keys = ids[n : n+1]
			}
			i, ok := find(trace, keys...)
			if !ok {
				continue
			}
			done[i] = true
			ce := c.itemError(resp.status, he)
			if ce.Class == connector.Conflict {
				out[i] = c.resolveConflict(ctx, items[i], ce)
				continue
			}
			out[i] = connector.BatchResult{Err: ce}
		}
	}
	for i := range items {
		if !done[i] && out[i].Err == nil {
			out[i].Err = &connector.Error{Class: connector.Retryable, Status: resp.status, Sent: true,
				Message: "HubSpot's batch answer reported neither a result nor an error for this input"}
		}
	}
	return out
}

// resolveConflict settles a 409 "... already exists. Existing ID: N": the
// record exists under another unique property (a contact's e-mail), so
// Sluice takes it over by updating N with the record and its key, unless N
// already carries a different key, which a person must sort out.
func (c *Conn) resolveConflict(ctx context.Context, it item, conflict *connector.Error) connector.BatchResult {
	id := existingIDOf(conflict.Message)
	if id == "" {
		return connector.BatchResult{Err: conflict}
	}
	path := c.objectPath() + "/" + url.PathEscape(id)
	resp, err := c.call(ctx, http.MethodGet, path+"?properties="+url.QueryEscape(c.idProperty), nil, c.writes)
	if err != nil {
		return connector.BatchResult{Err: err}
	}
	if resp.status != http.StatusOK {
		ce := c.statusError(resp)
		if ce.Status == http.StatusNotFound {
			// Gone since HubSpot reported it: the next attempt's upsert
			// will not conflict.
			ce.Class = connector.Retryable
		}
		ce.Message = "resolve conflict with existing ID " + id + ": " + ce.Message
		return connector.BatchResult{Err: ce}
	}
	var existing hsObject
	if err := decodeJSON(resp.body, &existing); err != nil {
		return connector.BatchResult{Err: &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
			Message: "resolve conflict with existing ID " + id + ": unreadable record"}}
	}
	if p := existing.Properties[c.idProperty]; p != nil && *p != "" && !sameKey(c.idProperty, *p, it.d.RecordKey) {
		return connector.BatchResult{Err: &connector.Error{Class: connector.Conflict, Status: conflict.Status, Code: conflict.Code,
			Message: c.trim(fmt.Sprintf("%s; that record has %s %q, not %q, so it is another record's: a person must merge or correct them",
				conflict.Message, c.idProperty, *p, it.d.RecordKey))}}
	}
	props := make(map[string]any, len(it.props)+1)
	for k, v := range it.props {
		props[k] = v
	}
	props[c.idProperty] = it.d.RecordKey
	res, err := c.patch(ctx, id, props)
	if err != nil {
		return connector.BatchResult{Err: err}
	}
	res.Message = "resolved a conflict: updated existing ID " + id
	return connector.BatchResult{Result: res}
}

// patch updates the record with HubSpot ID id.
func (c *Conn) patch(ctx context.Context, id string, props map[string]any) (connector.Result, error) {
	path := c.objectPath() + "/" + url.PathEscape(id)
	resp, err := c.call(ctx, http.MethodPatch, path, map[string]any{"properties": props}, c.writes)
	if err != nil {
		return connector.Result{}, err
	}
	if resp.status != http.StatusOK {
		// A 409 here means the update would give this record a unique
		// value another record holds: not resolvable by updating either.
		return connector.Result{}, c.statusError(resp)
	}
	var obj hsObject
	if err := decodeJSON(resp.body, &obj); err != nil || obj.ID == "" {
		obj.ID = id
	}
	return connector.Result{ExternalID: obj.ID, Status: resp.status, Message: "updated"}, nil
}

type searchAnswer struct {
	Total   int        `json:"total"`
	Results []hsObject `json:"results"`
}

// Lookup searches for the record whose id_property equals recordKey and
// returns its ID and properties (id_property, date, multiple-checkbox and
// lookup properties; dates as YYYY-MM-DD, multiple checkboxes as lists).
// HubSpot's search is eventually consistent, so a record written moments
// ago may not be found yet; writes stay safe because they upsert by key.
func (c *Conn) Lookup(ctx context.Context, recordKey string) (string, map[string]any, bool, error) {
	return c.LookupFields(ctx, recordKey, nil)
}

var _ connector.FieldLooker = (*Conn)(nil)

var _ connector.FieldReader = (*Conn)(nil)

// ReadFields is connector.FieldReader: the record with HubSpot ID id, read
// by ID (GET, consistent at once and counted in the ordinary limit, unlike
// search), with the properties named in fields besides Lookup's own. An
// archived or unknown ID is ok=false.
func (c *Conn) ReadFields(ctx context.Context, id string, fields []string) (map[string]any, bool, error) {
	if id == "" {
		return nil, false, nil
	}
	props := c.readProps
	for _, f := range fields {
		if f != "" && !slices.Contains(props, f) {
			props = append(slices.Clip(props), f)
		}
	}
	path := c.objectPath() + "/" + url.PathEscape(id) + "?properties=" + url.QueryEscape(strings.Join(props, ","))
	resp, err := c.call(ctx, http.MethodGet, path, nil, c.writes)
	if err != nil {
		return nil, false, err
	}
	switch {
	case resp.status == http.StatusNotFound:
		return nil, false, nil
	case resp.status != http.StatusOK:
		return nil, false, c.statusError(resp)
	}
	var obj hsObject
	if err := decodeJSON(resp.body, &obj); err != nil {
		return nil, false, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
			Message: fmt.Sprintf("GET %s: HubSpot's answer is not a record: %v", c.objectPath()+"/"+id, err)}
	}
	return c.fieldsFromHubSpot(obj.Properties), true, nil
}

// LookupFields is connector.FieldLooker: Lookup that also reads the
// properties named in fields. HubSpot returns only the properties a search
// asks for, so the conflict check asks for every property Sluice writes.
func (c *Conn) LookupFields(ctx context.Context, recordKey string, fields []string) (string, map[string]any, bool, error) {
	if recordKey == "" {
		return "", nil, false, nil
	}
	props := c.readProps
	for _, f := range fields {
		if f != "" && !slices.Contains(props, f) {
			props = append(slices.Clip(props), f)
		}
	}
	path := c.objectPath() + "/search"
	body := map[string]any{
		"filterGroups": []any{map[string]any{"filters": []any{
			map[string]any{"propertyName": c.idProperty, "operator": "EQ", "value": recordKey},
		}}},
		"properties": props,
		"limit":      10,
	}
	resp, err := c.call(ctx, http.MethodPost, path, body, c.searches, c.writes)
	if err != nil {
		return "", nil, false, err
	}
	if resp.status != http.StatusOK {
		return "", nil, false, c.statusError(resp)
	}
	var ans searchAnswer
	if err := decodeJSON(resp.body, &ans); err != nil {
		return "", nil, false, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
			Message: fmt.Sprintf("POST %s: HubSpot's answer is not the search shape: %v", path, err)}
	}
	var match []hsObject
	for _, r := range ans.Results {
		if p := r.Properties[c.idProperty]; p != nil && sameKey(c.idProperty, *p, recordKey) {
			match = append(match, r)
		}
	}
	switch len(match) {
	case 0:
		return "", nil, false, nil
	case 1:
		return match[0].ID, c.fieldsFromHubSpot(match[0].Properties), true, nil
	}
	ids := make([]string, len(match))
	for i, m := range match {
		ids[i] = m.ID
	}
	return "", nil, false, &connector.Error{Class: connector.Conflict, Status: resp.status,
		Message: c.trim(fmt.Sprintf("%d %s have %s %q (IDs %s): a person must merge them", len(match), c.object, c.idProperty, recordKey, strings.Join(ids, ", ")))}
}
