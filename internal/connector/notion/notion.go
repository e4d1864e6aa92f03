// Package notion is the Notion destination, registered as type "notion": it
// writes mapped records as pages of one Notion database. It owns turning a
// flat payload (property name -> plain value) into Notion's property value
// objects, by a configured type map or the database schema it fetches;
// splitting long text into Notion's 2,000-character rich text objects;
// refusing values over Notion's size limits before sending them; finding a
// page by its key property, because Notion has neither upsert nor batch
// writes; pacing requests to Notion's three per second and honouring
// Retry-After; and classifying Notion's answers into connector.Error, with
// the token kept out of everything it reports.
//
// API version: the connector speaks Notion-Version 2025-09-03, in which a
// database is a container of data sources: it resolves the database's data
// source (or uses the configured data_source_id, which a database with
// several data sources needs), reads the schema from and queries the data
// source, and creates pages under a data_source_id parent. Configured with
// an older notion_version (2022-06-28, 2022-02-22) it uses the database
// endpoints instead and says so in String and in its errors; Notion fails
// those calls once the database has a second data source.
//
// Writes (Deliver):
//   - With the identity map's external ID it PATCHes that page. If Notion
//     no longer has it (404, or the page is in the trash) it writes by key
//     as below.
//   - Without one it queries the database for the page whose key_property
//     equals the record key, then PATCHes the one it finds or creates a
//     page. Two pages with the key are a Conflict for a person. Deliveries
//     of one key are serialized within the process so two of them cannot
//     both create; Notion offers nothing that would make this safe across
//     processes.
//
// Lookup queries by key and reads the page back in the flat form the
// connector writes (see Conn.Lookup).
package notion

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

// Kind is the destination type this package registers.
const Kind = "notion"

func init() { connector.Register(Kind, Open) }

const (
	// DefaultBaseURL is Notion's API host.
	DefaultBaseURL = "https://api.notion.com"
	// DefaultVersion is the Notion-Version sent: the current version, with
	// data sources.
	DefaultVersion = "2025-09-03"
	// DataSourcesVersion is the first version in which databases hold data
	// sources; older versions use the database endpoints.
	DataSourcesVersion = "2025-09-03"
	// DefaultRatePerSecond is Notion's documented average limit per
	// integration.
	DefaultRatePerSecond = 3
	// DefaultTimeout bounds one request when Options.Timeout is empty;
	// Notion itself gives up after 60 s (503).
	DefaultTimeout = 30 * time.Second
	// MaxPayloadBytes is Notion's request body limit, 500 KB read as
	// 500,000 bytes.
	MaxPayloadBytes = 500_000
)

// Versions are the Notion-Version values the connector accepts. From
// 2025-09-03 databases hold data sources and the connector writes to one;
// the older two use the database endpoints (legacy).
var Versions = []string{"2022-02-22", "2022-06-28", "2025-09-03"}

// Options configure one Notion destination.
type Options struct {
	// BaseURL is the API origin; default https://api.notion.com. Point it
	// at a simulator to try a config.
	BaseURL string `json:"base_url"`
	// Token is the integration's secret; required. It is never shown in
	// errors, logs or String.
	Token string `json:"token"`
	// DatabaseID is the database pages are written to; required (dashed or
	// not). The integration must be connected to it.
	DatabaseID string `json:"database_id"`
	// DataSourceID is the data source of the database pages are written to
	// (Notion-Version 2025-09-03). Optional when the database has one data
	// source, which the connector then finds itself; required when it has
	// several.
	DataSourceID string `json:"data_source_id"`
	// KeyProperty is the property holding the record key, by which pages
	// are found; required. Its type must be title, rich_text, email,
	// phone_number, url or number.
	KeyProperty string `json:"key_property"`
	// Properties maps property names to Notion types (title, rich_text,
	// number, select, multi_select, date, email, phone_number, checkbox,
	// url). Optional: a property not listed is typed by the database
	// schema, fetched once when first needed.
	Properties map[string]string `json:"properties"`
	// NotionVersion is the Notion-Version header; default 2025-09-03 (data
	// sources). 2022-06-28 and 2022-02-22 are accepted as legacy: database
	// endpoints, which fail once the database has a second data source.
	NotionVersion string `json:"notion_version"`
	// RatePerSecond is the steady request rate; default 3, Notion's
	// average. It must be positive.
	RatePerSecond float64 `json:"rate_per_second"`
	// Timeout bounds one request, as a Go duration; default 30s.
	Timeout string `json:"timeout"`
	// Egress guards every connection to the destination; Open sets it
	// from the destination's allow_private_network. Configs cannot set it
	// here.
	Egress egress.Policy `json:"-"`
}

// Types are the property types the connector writes.
var Types = []string{"title", "rich_text", "number", "select", "multi_select", "date", "email", "phone_number", "checkbox", "url"}

// keyTypes are the types a key_property may have: those a query can match
// by equality.
var keyTypes = []string{"title", "rich_text", "email", "phone_number", "url", "number"}

// Conn is a Notion destination. It is safe for concurrent use.
type Conn struct {
	name        string
	baseURL     string
	token       string
	databaseID  string
	keyProperty string
	// sources: the version has data sources; dataSource is the configured
	// or resolved one ("" until resolved).
	sources     bool
	sourceMu    sync.Mutex
	dataSource  atomic.Pointer[string]
	configured  map[string]string
	version     string
	timeout     time.Duration
	constraints connector.Constraints
	limit       *connector.Window
	rt          *connector.RoundTrip
	transport   *http.Transport
	client      *http.Client
	now         func() time.Time

	schemaFetch sync.Mutex
	schema      atomic.Pointer[map[string]string] // fetched: name -> type; nil until fetched

	mu          sync.Mutex
	pausedUntil time.Time
	keys        map[string]*keyLock
}

var (
	_ connector.Connector = (*Conn)(nil)
	_ connector.Looker    = (*Conn)(nil)
	_ fmt.Stringer        = (*Conn)(nil)
	_ fmt.GoStringer      = (*Conn)(nil)
)

// Open is the connector.Factory for type "notion".
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

var hexID = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// New validates o and builds the destination.
func New(name string, o Options) (*Conn, error) {
	c := &Conn{name: name, token: o.Token, keyProperty: o.KeyProperty, now: time.Now, keys: map[string]*keyLock{}}

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
	if !hexID.MatchString(strings.ReplaceAll(o.DatabaseID, "-", "")) {
		return nil, fmt.Errorf("options.database_id: %q is not a Notion database ID (32 hex digits, dashed or not)", o.DatabaseID)
	}
	c.databaseID = o.DatabaseID
	if o.DataSourceID != "" {
		if !hexID.MatchString(strings.ReplaceAll(o.DataSourceID, "-", "")) {
			return nil, fmt.Errorf("options.data_source_id: %q is not a Notion data source ID (32 hex digits, dashed or not)", o.DataSourceID)
		}
		ds := o.DataSourceID
		c.dataSource.Store(&ds)
	}
	if strings.TrimSpace(o.KeyProperty) == "" {
		return nil, errors.New("options.key_property: required: name the property that holds the record key")
	}
	c.configured = make(map[string]string, len(o.Properties))
	for p, t := range o.Properties {
		if strings.TrimSpace(p) == "" {
			return nil, errors.New("options.properties: empty property name")
		}
		if !slices.Contains(Types, t) {
			return nil, fmt.Errorf("options.properties.%s: type %q is not one of %s", p, t, strings.Join(Types, ", "))
		}
		c.configured[p] = t
	}
	if t, ok := c.configured[o.KeyProperty]; ok && !slices.Contains(keyTypes, t) {
		return nil, fmt.Errorf("options.key_property: %s is a %s property; a key must be one of %s", o.KeyProperty, t, strings.Join(keyTypes, ", "))
	}
	c.version = cmp.Or(o.NotionVersion, DefaultVersion)
	if !slices.Contains(Versions, c.version) {
		return nil, fmt.Errorf("options.notion_version: %q is not supported: use %s (data sources), or %s for the legacy database endpoints",
			c.version, DataSourcesVersion, strings.Join(Versions[:len(Versions)-1], " or "))
	}
	c.sources = c.version >= DataSourcesVersion
	if !c.sources && o.DataSourceID != "" {
		return nil, fmt.Errorf("options.data_source_id: needs notion_version %s or later (configured %s, which has no data sources)", DataSourcesVersion, c.version)
	}
	rate := o.RatePerSecond
	switch {
	case rate == 0:
		rate = DefaultRatePerSecond
	case !(rate > 0) || math.IsInf(rate, 0):
		return nil, errors.New("options.rate_per_second: must be a positive number")
	}
	c.timeout = DefaultTimeout
	if o.Timeout != "" {
		if c.timeout, err = time.ParseDuration(o.Timeout); err != nil || c.timeout <= 0 {
			return nil, fmt.Errorf("options.timeout: %q is not a positive Go duration", o.Timeout)
		}
	}

	// An exact rolling window of n requests per n/rate seconds keeps the
	// average at rate without ever bursting past n.
	n := max(1, int(math.Round(rate)))
	c.limit = connector.NewWindow(n, time.Duration(float64(n)/rate*float64(time.Second)))
	c.constraints = connector.Constraints{
		RatePerSecond:   rate,
		Burst:           n,
		BatchSize:       1,
		MaxPayloadBytes: MaxPayloadBytes,
		Timeout:         c.timeout,
		Upsert:          false,
	}
	c.client, c.transport = connector.HTTPClient(name, o.Egress)
	c.rt = &connector.RoundTrip{Client: c.client, Header: connector.Bearer(c.token), MaxBody: maxBodyRead, Redact: c.redact}
	return c, nil
}

// Constraints reports Notion's limits: the rate as configured (3/s by
// default) with a burst of the connector's window, one record per request
// (Notion has no batch write), 500 KB bodies, no upsert.
func (c *Conn) Constraints() connector.Constraints { return c.constraints }

// Close releases idle connections.
func (c *Conn) Close(context.Context) error {
	c.transport.CloseIdleConnections()
	return nil
}

// String describes the destination without the token.
func (c *Conn) String() string {
	return fmt.Sprintf("notion destination %q: %s %s by %s, Notion-Version %s, token %s", c.name, c.baseURL, c.target(), c.keyProperty, c.version, redacted)
}

// target names where pages go, and says when the version is legacy.
func (c *Conn) target() string {
	if !c.sources {
		return fmt.Sprintf("database %s (legacy version %s: database endpoints, which fail once the database has a second data source)", c.databaseID, c.version)
	}
	if ds := c.dataSource.Load(); ds != nil {
		return fmt.Sprintf("database %s data source %s", c.databaseID, *ds)
	}
	return fmt.Sprintf("database %s (data source not yet resolved)", c.databaseID)
}

// Version is the Notion-Version the connector speaks, and whether it is a
// legacy one (without data sources).
func (c *Conn) Version() (version string, legacy bool) { return c.version, !c.sources }

// source returns the data source pages are written to: the configured one,
// else the database's only data source, found once with GET
// /v1/databases/{id}. A database with several data sources and none
// configured is a Permanent error listing them.
func (c *Conn) source(ctx context.Context) (string, error) {
	if ds := c.dataSource.Load(); ds != nil {
		return *ds, nil
	}
	c.sourceMu.Lock()
	defer c.sourceMu.Unlock()
	if ds := c.dataSource.Load(); ds != nil {
		return *ds, nil
	}
	path := "/v1/databases/" + url.PathEscape(c.databaseID)
	resp, err := c.call(ctx, http.MethodGet, path, nil, false)
	if err != nil {
		return "", err
	}
	if resp.status != http.StatusOK {
		return "", c.databaseError(c.statusError(resp))
	}
	var ans databaseAnswer
	if err := decodeJSON(resp.body, &ans); err != nil {
		return "", &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
			Message: fmt.Sprintf("GET %s: Notion's answer is not a database: %v", path, err)}
	}
	switch len(ans.DataSources) {
	case 0:
		return "", &connector.Error{Class: connector.Permanent, Code: "NO_DATA_SOURCE", Status: resp.status,
			Message: fmt.Sprintf("GET %s: database %s lists no data sources (is the Notion-Version %s answered?)", path, c.databaseID, c.version)}
	case 1:
		ds := ans.DataSources[0].ID
		c.dataSource.Store(&ds)
		return ds, nil
	}
	names := make([]string, len(ans.DataSources))
	for i, d := range ans.DataSources {
		names[i] = fmt.Sprintf("%s (%s)", d.ID, d.Name)
	}
	return "", &connector.Error{Class: connector.Permanent, Code: "SEVERAL_DATA_SOURCES", Status: resp.status,
		Message: c.trim(fmt.Sprintf("database %s has %d data sources: set options.data_source_id to one of %s",
			c.databaseID, len(ans.DataSources), strings.Join(names, ", ")))}
}

// GoString keeps %#v from printing the token.
func (c *Conn) GoString() string { return c.String() }

// keyLock serializes deliveries of one record key.
type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (c *Conn) lockKey(key string) func() {
	c.mu.Lock()
	l := c.keys[key]
	if l == nil {
		l = &keyLock{}
		c.keys[key] = l
	}
	l.refs++
	c.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		c.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(c.keys, key)
		}
		c.mu.Unlock()
	}
}

// Deliver writes one record: a PATCH of the known page, else a query by key
// and a PATCH of the page found or a new page.
func (c *Conn) Deliver(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	if d.RecordKey == "" {
		return connector.Result{}, &connector.Error{Class: connector.Permanent, Code: "NO_KEY",
			Message: fmt.Sprintf("the record key is empty; Notion pages are found by %s, which needs a value", c.keyProperty)}
	}
	defer c.lockKey(d.RecordKey)()
	props, err := c.properties(ctx, d)
	if err != nil {
		return connector.Result{}, err
	}
	if d.ExternalID != "" {
		res, err := c.update(ctx, d.ExternalID, props)
		if !gone(err) {
			return res, err
		}
		// Deleted, trashed or no longer shared: write it by key, which
		// finds a page that holds the key now or creates one.
	}
	pages, err := c.find(ctx, d.RecordKey)
	if err != nil {
		return connector.Result{}, err
	}
	switch len(pages) {
	case 0:
		return c.create(ctx, props)
	case 1:
		res, err := c.update(ctx, pages[0].ID, props)
		if err == nil {
			res.Message = "updated the page found by " + c.keyProperty
		}
		return res, err
	}
	return connector.Result{}, c.duplicates(pages, d.RecordKey)
}

// gone reports whether a PATCH failed because the page is no longer there
// to update: not found, or in the trash.
func gone(err error) bool {
	var ce *connector.Error
	if !errors.As(err, &ce) {
		return false
	}
	return ce.Status == http.StatusNotFound ||
		ce.Status == http.StatusBadRequest && ce.Code == "validation_error" && strings.Contains(ce.Message, "archived")
}

func (c *Conn) duplicates(pages []page, key string) *connector.Error {
	ids := make([]string, len(pages))
	for i, p := range pages {
		ids[i] = p.ID
	}
	return &connector.Error{Class: connector.Conflict, Code: "DUPLICATE_KEY",
		Message: c.trim(fmt.Sprintf("%d pages of database %s have %s %q (%s): a person must merge them",
			len(pages), c.databaseID, c.keyProperty, key, strings.Join(ids, ", ")))}
}

func (c *Conn) create(ctx context.Context, props map[string]any) (connector.Result, error) {
	parent := map[string]any{"database_id": c.databaseID}
	if c.sources {
		ds, err := c.source(ctx)
		if err != nil {
			return connector.Result{}, err
		}
		parent = map[string]any{"type": "data_source_id", "data_source_id": ds}
	}
	body := map[string]any{"parent": parent, "properties": props}
	resp, err := c.call(ctx, http.MethodPost, "/v1/pages", body, true)
	if err != nil {
		return connector.Result{}, err
	}
	if resp.status != http.StatusOK {
		return connector.Result{}, c.databaseError(c.statusError(resp))
	}
	var p page
	if err := decodeJSON(resp.body, &p); err != nil || p.ID == "" {
		return connector.Result{}, &connector.Error{Class: connector.Retryable, Status: resp.status, Sent: true, Err: err,
			Message: "POST /v1/pages: Notion's answer has no page ID; the page may have been created"}
	}
	return connector.Result{ExternalID: p.ID, Status: resp.status, Message: "created"}, nil
}

func (c *Conn) update(ctx context.Context, id string, props map[string]any) (connector.Result, error) {
	path := "/v1/pages/" + url.PathEscape(id)
	resp, err := c.call(ctx, http.MethodPatch, path, map[string]any{"properties": props}, true)
	if err != nil {
		return connector.Result{}, err
	}
	if resp.status != http.StatusOK {
		return connector.Result{}, c.statusError(resp)
	}
	var p page
	if err := decodeJSON(resp.body, &p); err != nil || p.ID == "" {
		p.ID = id
	}
	return connector.Result{ExternalID: p.ID, Status: resp.status, Message: "updated"}, nil
}

// databaseError turns a 404 for the database into Auth: the database was
// deleted or the integration was disconnected from it, so every write
// would fail until a person reconnects it.
func (c *Conn) databaseError(e *connector.Error) *connector.Error {
	switch {
	case e.Status == http.StatusNotFound:
		e.Class = connector.Auth
		e.Message = c.trim(e.Message + " (" + c.target() + " is missing or not shared with the integration)")
	case !c.sources && e.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(e.Message), "data source"):
		// A legacy version on a database that gained a second data source:
		// nothing will work until the config moves to data sources.
		e.Class = connector.Permanent
		e.Message = c.trim(e.Message + fmt.Sprintf(" (notion_version %s is legacy: use %s and a data_source_id)", c.version, DataSourcesVersion))
	}
	return e
}

// page is the part of a page object the connector reads.
type page struct {
	ID         string                    `json:"id"`
	Archived   bool                      `json:"archived"`
	InTrash    bool                      `json:"in_trash"`
	Properties map[string]map[string]any `json:"properties"`
}

type queryAnswer struct {
	Results    []page `json:"results"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor"`
}

// find queries the database for the live pages whose key property equals
// key, and keeps those whose value really is key (the filter's idea of
// equality is Notion's).
func (c *Conn) find(ctx context.Context, key string) ([]page, error) {
	typ, err := c.typeOf(ctx, c.keyProperty)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(keyTypes, typ) {
		return nil, &connector.Error{Class: connector.Permanent, Code: "BAD_KEY_PROPERTY",
			Message: fmt.Sprintf("key_property %s is a %s property; a key must be one of %s", c.keyProperty, typ, strings.Join(keyTypes, ", "))}
	}
	var want any = key
	if typ == "number" {
		f, err := toNumber(key)
		if err != nil || f == nil {
			return nil, &connector.Error{Class: connector.Permanent, Code: "INVALID_KEY",
				Message: fmt.Sprintf("the record key %q is not a number, but key_property %s is a number property", key, c.keyProperty)}
		}
		want = f
	}
	body := map[string]any{
		"filter":    map[string]any{"property": c.keyProperty, typ: map[string]any{"equals": want}},
		"page_size": 100,
	}
	path := "/v1/databases/" + url.PathEscape(c.databaseID) + "/query"
	if c.sources {
		ds, err := c.source(ctx)
		if err != nil {
			return nil, err
		}
		path = "/v1/data_sources/" + url.PathEscape(ds) + "/query"
	}
	resp, err := c.call(ctx, http.MethodPost, path, body, false)
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, c.databaseError(c.statusError(resp))
	}
	var ans queryAnswer
	if err := decodeJSON(resp.body, &ans); err != nil {
		return nil, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
			Message: fmt.Sprintf("POST %s: Notion's answer is not a list of pages: %v", path, err)}
	}
	var out []page
	for _, p := range ans.Results {
		if p.Archived || p.InTrash {
			continue
		}
		if sameKey(typ, flatValue(p.Properties[c.keyProperty]), key) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Lookup finds the page whose key_property equals recordKey and returns its
// ID and every property in the flat form the connector writes: title and
// rich_text as one string, number as float64, select as its name,
// multi_select as a list of names, date as its start (or a map with start,
// end and time_zone when it has more), email, phone_number and url as
// strings, checkbox as a bool; an empty value is nil (false for a
// checkbox, "" for text, [] for multi_select). Types the connector does not
// write come back as Notion's value object.
func (c *Conn) Lookup(ctx context.Context, recordKey string) (string, map[string]any, bool, error) {
	if recordKey == "" {
		return "", nil, false, nil
	}
	pages, err := c.find(ctx, recordKey)
	if err != nil {
		return "", nil, false, err
	}
	switch len(pages) {
	case 0:
		return "", nil, false, nil
	case 1:
		fields := make(map[string]any, len(pages[0].Properties))
		for name, v := range pages[0].Properties {
			fields[name] = flatValue(v)
		}
		return pages[0].ID, fields, true, nil
	}
	return "", nil, false, c.duplicates(pages, recordKey)
}
