// Package airtable is the Airtable destination, registered as type
// "airtable": it writes mapped records to one table of one base through
// Airtable's Web API. It owns upsert by a key field (performUpsert), so
// that a retry never creates a duplicate, batches of at most ten records
// with each result matched back to its input by key, finding a record by
// key with an escaped filterByFormula, staying under the base's 5 requests
// per second and honouring the 30-second penalty after a 429, and the
// classification of Airtable's answers into connector.Error, with the
// token kept out of everything it reports.
//
// Writes:
//   - Deliver without an external ID upserts the record by key_field,
//     whose value is the record key. With the identity map's external ID it
//     PATCHes that record; if Airtable no longer has it (404 or
//     ROW_DOES_NOT_EXIST) it upserts by key instead. Because every write
//     without an ID is an upsert, an ambiguous retry needs no lookup first.
//   - DeliverBatch upserts ten records per request (a record whose key
//     already appears in a request waits for the next one). Airtable fails
//     a whole request for one bad record, so a batch refused as invalid
//     (422) or too large (413) is retried one record at a time to give each
//     its own outcome.
//
// Classification: 429 is Retryable after the 30-second penalty, and the
// connector itself sends nothing to the base until it is over (requests
// refused meanwhile are Retryable with Code RATE_LIMIT_PENALTY, never
// sent); 5xx and timeouts are Retryable (Sent when the request may have
// been applied); 401 and 403 (including INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND,
// which is also Airtable's answer for a base or table that does not exist)
// are Auth; 404 on the table route, meaning the base or table is gone, is
// Drift; UNKNOWN_FIELD_NAME is Drift; INVALID_MULTIPLE_CHOICE_OPTIONS and
// every other 422 are Permanent with Airtable's message.
package airtable

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

// Kind is the destination type this package registers.
const Kind = "airtable"

func init() { connector.Register(Kind, Open) }

const (
	// DefaultBaseURL is Airtable's API host.
	DefaultBaseURL = "https://api.airtable.com"
	// DefaultRatePerSecond is Airtable's limit per base.
	DefaultRatePerSecond = 5
	// DefaultTimeout bounds one request when Options.Timeout is empty.
	DefaultTimeout = 10 * time.Second
	// MaxBatch is the most records Airtable takes in one write.
	MaxBatch = 10
	// MaxPayloadBytes is the request body the connector stays under.
	// Airtable's limit is undocumented (a 413 "should not happen under
	// normal use"); 2 MiB holds ten records with long texts.
	MaxPayloadBytes = 2 << 20
	// Penalty is how long Airtable refuses a base after a 429.
	Penalty = 30 * time.Second

	maxURLLength = 16_000
)

var baseIDPattern = regexp.MustCompile(`^app[A-Za-z0-9]+$`)

// Options configure one Airtable destination.
type Options struct {
	// BaseURL is the API origin; default https://api.airtable.com. Point it
	// at a simulator to try a config.
	BaseURL string `json:"base_url"`
	// Token is a personal access token (or OAuth token) with
	// data.records:read and data.records:write on the base; required. It is
	// never shown in errors, logs or String.
	Token string `json:"token"`
	// BaseID is the base ("app…"); required.
	BaseID string `json:"base_id"`
	// Table is the table's ID ("tbl…", which survives renames) or name;
	// required.
	Table string `json:"table"`
	// KeyField is the field that holds the record key: records are upserted
	// on it (fieldsToMergeOn) and looked up by it. It must be a text,
	// number, single select or date field, not a computed one; required.
	KeyField string `json:"key_field"`
	// Typecast lets Airtable convert values (text to numbers, new select
	// options, which need Creator permission); default false, Airtable's
	// default, so a value that does not fit fails visibly.
	Typecast bool `json:"typecast"`
	// RatePerSecond is the requests per second the connector sends to the
	// base; default 5, Airtable's limit. Destinations on one base share it.
	RatePerSecond int `json:"rate_per_second"`
	// Timeout bounds one request, as a Go duration; default 10s.
	Timeout string `json:"timeout"`
	// Now is the clock the rate-limit penalty is measured on; default
	// time.Now. Tests set it; configs cannot.
	Now func() time.Time `json:"-"`
	// Egress guards every connection to the destination; Open sets it
	// from the destination's allow_private_network. Configs cannot set it
	// here.
	Egress egress.Policy `json:"-"`
}

// Conn is an Airtable destination. It is safe for concurrent use.
type Conn struct {
	name        string
	baseURL     string
	token       string
	baseID      string
	table       string
	keyField    string
	typecast    bool
	rate        int
	timeout     time.Duration
	constraints connector.Constraints
	gate        *gate
	win         *connector.Window
	rt          *connector.RoundTrip
	transport   *http.Transport
	client      *http.Client
	now         func() time.Time
	closeOnce   sync.Once
}

var (
	_ connector.Connector = (*Conn)(nil)
	_ connector.Batcher   = (*Conn)(nil)
	_ connector.Looker    = (*Conn)(nil)
	_ fmt.Stringer        = (*Conn)(nil)
	_ fmt.GoStringer      = (*Conn)(nil)
)

// Open is the connector.Factory for type "airtable".
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
	c := &Conn{name: name, token: o.Token, baseID: o.BaseID, table: o.Table, keyField: o.KeyField, typecast: o.Typecast, now: o.Now}
	if c.now == nil {
		c.now = time.Now
	}
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
	case o.BaseID == "":
		return nil, errors.New("options.base_id: required")
	case !baseIDPattern.MatchString(o.BaseID):
		return nil, fmt.Errorf("options.base_id: %q is not a base ID (app followed by letters and digits)", o.BaseID)
	case strings.TrimSpace(o.Table) == "":
		return nil, errors.New("options.table: required")
	case strings.TrimSpace(o.KeyField) == "":
		return nil, errors.New("options.key_field: required: name the field that holds the record key")
	case strings.Contains(o.KeyField, "}"):
		return nil, fmt.Errorf("options.key_field: %q contains \"}\", which an Airtable formula cannot reference", o.KeyField)
	}

	c.rate = o.RatePerSecond
	switch {
	case c.rate < 0:
		return nil, errors.New("options.rate_per_second: must not be negative")
	case c.rate == 0:
		c.rate = DefaultRatePerSecond
	}
	c.timeout = DefaultTimeout
	if o.Timeout != "" {
		if c.timeout, err = time.ParseDuration(o.Timeout); err != nil || c.timeout <= 0 {
			return nil, fmt.Errorf("options.timeout: %q is not a positive Go duration", o.Timeout)
		}
	}
	c.constraints = connector.Constraints{
		RatePerSecond: float64(c.rate),
		// One at a time at the steady rate: a bucket of 5 would let 10
		// requests into one second.
		Burst:           1,
		BatchSize:       MaxBatch,
		MaxPayloadBytes: MaxPayloadBytes,
		Timeout:         c.timeout,
		Upsert:          true,
	}
	c.client, c.transport = connector.HTTPClient(name, o.Egress)
	c.rt = &connector.RoundTrip{Client: c.client, Header: connector.Bearer(c.token), MaxBody: maxBodyRead, Redact: c.redact}
	c.gate, c.win = openGate(c.baseURL+"\x00"+c.baseID, c.rate)
	return c, nil
}

// Constraints reports Airtable's limits: 5 requests per second per base
// without burst, batches of 10, upsert by key.
func (c *Conn) Constraints() connector.Constraints { return c.constraints }

// Close releases idle connections and the destination's share of its
// base's rate limit.
func (c *Conn) Close(context.Context) error {
	c.closeOnce.Do(func() {
		closeGate(c.gate)
		c.transport.CloseIdleConnections()
	})
	return nil
}

// String describes the destination without the token.
func (c *Conn) String() string {
	return fmt.Sprintf("airtable destination %q: %s base %s table %q by %q, token %s", c.name, c.baseURL, c.baseID, c.table, c.keyField, redacted)
}

// GoString keeps %#v from printing the token.
func (c *Conn) GoString() string { return c.String() }

func (c *Conn) tablePath() string {
	return "/v0/" + url.PathEscape(c.baseID) + "/" + url.PathEscape(c.table)
}

// item is one record to write.
type item struct {
	d      connector.Delivery
	fields map[string]any
}

// fields is d's payload with the key field set to the record key. A payload
// that names another key, or no key at all, cannot be written.
func (c *Conn) fields(d connector.Delivery) (map[string]any, error) {
	if d.RecordKey == "" {
		return nil, &connector.Error{Class: connector.Permanent, Code: "NO_KEY",
			Message: fmt.Sprintf("the record key is empty; Airtable upserts on %q, which needs a value", c.keyField)}
	}
	out := make(map[string]any, len(d.Payload)+1)
	for k, v := range d.Payload {
		out[k] = v
	}
	if v, ok := out[c.keyField]; ok && v != nil {
		if got := keyText(v); got != d.RecordKey {
			return nil, &connector.Error{Class: connector.Permanent, Code: "KEY_MISMATCH",
				Message: c.trim(fmt.Sprintf("the payload's %q is %q but the record key is %q", c.keyField, got, d.RecordKey))}
		}
	} else {
		out[c.keyField] = d.RecordKey
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, &connector.Error{Class: connector.Permanent, Code: "UNENCODABLE", Message: "encode fields: " + err.Error(), Err: err}
	}
	if len(raw) > MaxPayloadBytes-1024 {
		return nil, &connector.Error{Class: connector.Permanent, Code: "PAYLOAD_TOO_LARGE",
			Message: fmt.Sprintf("the record's fields are %d bytes; Airtable requests are kept under %d", len(raw), MaxPayloadBytes)}
	}
	return out, nil
}

// Deliver writes one record: a PATCH of the known external ID, else an
// upsert by key.
func (c *Conn) Deliver(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	fields, err := c.fields(d)
	if err != nil {
		return connector.Result{}, err
	}
	if d.ExternalID != "" {
		res, gone, err := c.patch(ctx, d.ExternalID, fields)
		if !gone {
			return res, err
		}
		// Airtable no longer has the record Sluice wrote (deleted by a
		// person): write it by key, which finds it again if it was only
		// re-created, or creates it anew.
	}
	rs := c.upsert(ctx, []item{{d: d, fields: fields}})
	return rs[0].Result, rs[0].Err
}

// DeliverBatch upserts the records by key, ten per request, and reports
// each one's outcome in input order.
func (c *Conn) DeliverBatch(ctx context.Context, ds []connector.Delivery) ([]connector.BatchResult, error) {
	out := make([]connector.BatchResult, len(ds))
	// Requests are sent in order; a key goes to a later request than the
	// one holding its previous write, so writes of one key stay in order
	// and a request never names a key twice.
	var requests [][]int
	var items []item
	lastOf := map[string]int{}
	for i, d := range ds {
		fields, err := c.fields(d)
		items = append(items, item{d: d, fields: fields})
		if err != nil {
			out[i].Err = err
			continue
		}
		r := 0
		if last, ok := lastOf[d.RecordKey]; ok {
			r = last + 1
		}
		for r < len(requests) && len(requests[r]) >= MaxBatch {
			r++
		}
		if r == len(requests) {
			requests = append(requests, nil)
		}
		requests[r] = append(requests[r], i)
		lastOf[d.RecordKey] = r
	}
	for _, idx := range requests {
		batch := make([]item, len(idx))
		for j, i := range idx {
			batch[j] = items[i]
		}
		for j, r := range c.upsert(ctx, batch) {
			out[idx[j]] = r
		}
	}
	return out, nil
}

type atRecord struct {
	ID     string         `json:"id"`
	Fields map[string]any `json:"fields"`
}

type upsertAnswer struct {
	Records        []atRecord `json:"records"`
	CreatedRecords []string   `json:"createdRecords"`
	UpdatedRecords []string   `json:"updatedRecords"`
}

// upsert sends items (at most MaxBatch, distinct keys) as one performUpsert
// and matches each returned record to its input by key. An input Airtable
// says nothing about is an ambiguous Retryable failure.
func (c *Conn) upsert(ctx context.Context, items []item) []connector.BatchResult {
	out := make([]connector.BatchResult, len(items))
	fail := func(err error) []connector.BatchResult {
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	recs := make([]map[string]any, len(items))
	for i, it := range items {
		recs[i] = map[string]any{"fields": it.fields}
	}
	body := map[string]any{
		"performUpsert": map[string]any{"fieldsToMergeOn": []string{c.keyField}},
		"records":       recs,
		"typecast":      c.typecast,
	}
	path := c.tablePath()
	resp, err := c.call(ctx, http.MethodPatch, path, body)
	if err != nil {
		return fail(err)
	}
	if resp.status != http.StatusOK {
		ce := c.statusError(resp)
		if len(items) > 1 && ce.Class == connector.Permanent {
			// One bad record fails Airtable's whole request: give every
			// record its own.
			for i := range items {
				out[i] = c.upsert(ctx, items[i:i+1])[0]
			}
			return out
		}
		return fail(ce)
	}
	var ans upsertAnswer
	if err := json.Unmarshal(resp.body, &ans); err != nil {
		return fail(&connector.Error{Class: connector.Retryable, Status: resp.status, Sent: true, Err: err,
			Message: fmt.Sprintf("PATCH %s: Airtable's answer is not the records shape: %v", path, err)})
	}
	done := make([]bool, len(items))
	used := make([]bool, len(ans.Records))
	assign := func(i, n int) {
		done[i], used[n] = true, true
		r := ans.Records[n]
		res := connector.Result{ExternalID: r.ID, Status: http.StatusOK, Message: "updated"}
		if slices.Contains(ans.CreatedRecords, r.ID) {
			res.Status, res.Message = http.StatusCreated, "created"
		}
		out[i] = connector.BatchResult{Result: res}
	}
	for n, r := range ans.Records {
		if r.ID == "" {
			used[n] = true
			continue
		}
		key := keyText(r.Fields[c.keyField])
		for i, it := range items {
			if !done[i] && it.d.RecordKey == key {
				assign(i, n)
				break
			}
		}
	}
	if len(ans.Records) == len(items) {
		// A complete answer lists the records in input order: what the key
		// did not match (typecast rewrote it, say) matches by position.
		for n := range ans.Records {
			if !used[n] && !done[n] {
				assign(n, n)
			}
		}
	}
	for i := range items {
		if !done[i] {
			out[i].Err = &connector.Error{Class: connector.Retryable, Status: resp.status, Sent: true,
				Message: c.trim(fmt.Sprintf("Airtable's answer did not include the record with %s %q; it may not have been written", c.keyField, items[i].d.RecordKey))}
		}
	}
	return out
}

// patch updates the record with Airtable ID id. gone reports that Airtable
// does not have it (any more).
func (c *Conn) patch(ctx context.Context, id string, fields map[string]any) (connector.Result, bool, error) {
	path := c.tablePath() + "/" + url.PathEscape(id)
	resp, err := c.call(ctx, http.MethodPatch, path, map[string]any{"fields": fields, "typecast": c.typecast})
	if err != nil {
		return connector.Result{}, false, err
	}
	if resp.status != http.StatusOK {
		if resp.status == http.StatusNotFound || parseError(resp.body).Type == "ROW_DOES_NOT_EXIST" {
			return connector.Result{}, true, nil
		}
		return connector.Result{}, false, c.statusError(resp)
	}
	var rec atRecord
	if err := json.Unmarshal(resp.body, &rec); err != nil || rec.ID == "" {
		rec.ID = id
	}
	return connector.Result{ExternalID: rec.ID, Status: resp.status, Message: "updated"}, false, nil
}

// Lookup finds the record whose key_field equals recordKey with
// filterByFormula and returns its ID and fields as Airtable returns them
// (empty fields left out). More than one match is a Conflict a person must
// resolve by merging the records.
func (c *Conn) Lookup(ctx context.Context, recordKey string) (string, map[string]any, bool, error) {
	if recordKey == "" {
		return "", nil, false, nil
	}
	formula := "{" + c.keyField + "} = " + quote(recordKey)
	path := c.tablePath()
	q := url.Values{"filterByFormula": {formula}, "pageSize": {"10"}}
	var resp *response
	var err error
	if get := path + "?" + q.Encode(); len(c.baseURL)+len(get) <= maxURLLength {
		resp, err = c.call(ctx, http.MethodGet, get, nil)
	} else {
		resp, err = c.call(ctx, http.MethodPost, path+"/listRecords", map[string]any{"filterByFormula": formula, "pageSize": 10})
	}
	if err != nil {
		return "", nil, false, err
	}
	if resp.status != http.StatusOK {
		return "", nil, false, c.statusError(resp)
	}
	var ans struct {
		Records []atRecord `json:"records"`
	}
	if err := json.Unmarshal(resp.body, &ans); err != nil {
		return "", nil, false, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
			Message: fmt.Sprintf("GET %s: Airtable's answer is not the records shape: %v", path, err)}
	}
	var match []atRecord
	for _, r := range ans.Records {
		if keyText(r.Fields[c.keyField]) == recordKey {
			match = append(match, r)
		}
	}
	switch len(match) {
	case 0:
		return "", nil, false, nil
	case 1:
		return match[0].ID, match[0].Fields, true, nil
	}
	ids := make([]string, len(match))
	for i, m := range match {
		ids[i] = m.ID
	}
	return "", nil, false, &connector.Error{Class: connector.Conflict, Status: resp.status, Code: "DUPLICATE_KEY",
		Message: c.trim(fmt.Sprintf("%d records in %q have %s %q (%s): a person must merge them", len(match), c.table, c.keyField, recordKey, strings.Join(ids, ", ")))}
}
