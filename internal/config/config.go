// Package config owns the one YAML file a Sluice deployment is described by:
// its structs (with documented defaults), parsing with ${VAR} expansion for
// secrets, and validation that names the offending field path.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/token"

	"github.com/sluicehq/sluice/internal/normalize"
)

// Config is the whole deployment.
type Config struct {
	// Listen is the HTTP address. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// AdminListen, when set, is a second address that alone serves the
	// admin API and /metrics; Listen then serves only intake and the
	// health probes, so intake can face the internet while admin does not.
	AdminListen string `yaml:"admin_listen"`
	// TLS, when set, serves both listeners over HTTPS.
	TLS *TLS `yaml:"tls"`
	// Store is where state lives: a file path or "sqlite:PATH" for the
	// embedded store (default "sluice.db"), or a postgres:// URL.
	Store string `yaml:"store"`
	// MaxBodyBytes bounds a webhook body; larger bodies get 413. Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// AdminTokens authenticate the admin API and CLI; the name is the actor
	// written to the audit log.
	AdminTokens  []AdminToken            `yaml:"admin_tokens"`
	Sources      map[string]*Source      `yaml:"sources"`
	Entities     map[string]*Entity      `yaml:"entities"`
	Flows        map[string]*Flow        `yaml:"flows"`
	Destinations map[string]*Destination `yaml:"destinations"`
	Delivery     Delivery                `yaml:"delivery"`
	// Consistency reads delivered records back and compares them.
	Consistency Consistency `yaml:"consistency"`
	// Alerts says where alerts go and how often (see alerts.go).
	Alerts Alerts `yaml:"alerts"`
	// Retention deletes finished, old events and audit entries (see
	// retention.go); off by default.
	Retention Retention `yaml:"retention"`
	// ShutdownTimeout bounds a graceful stop (SIGTERM, Ctrl-C): intake
	// answers 503 at once, and deliveries in flight get this long to finish;
	// any still running are left leased and retried after their lease
	// expires at the next start. Default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`

	// Dir is the directory of the config file; schema files resolve
	// relative to it. Not read from YAML.
	Dir string `yaml:"-"`
}

// TLS is the listeners' certificate. The files are read again when they
// change on disk (a renewed certificate is used from the next handshake,
// no restart or reload needed).
type TLS struct {
	// CertFile is the PEM certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key.
	KeyFile string `yaml:"key_file"`
}

// AdminToken is one bearer token of the admin API.
type AdminToken struct {
	Name  string `yaml:"name"`
	Token string `yaml:"token"`
	// Role is "admin" (may act) or "viewer" (may only read); required, so
	// a forgotten role never silently grants admin.
	Role string `yaml:"role"`
}

// Source is one inbound webhook endpoint: POST /v1/sources/{name}/events.
type Source struct {
	// Signature, when set, is verified on every request.
	Signature *Signature `yaml:"signature"`
	// AllowUnsigned must be true for a source without a signature: anyone
	// who can reach the endpoint can then inject records, so it is never
	// the silent default.
	AllowUnsigned bool `yaml:"allow_unsigned"`
	// IdempotencyField is a payload path whose value names the business
	// identity of a trigger (a submission ID) and dedupes its redeliveries.
	// On signed sources only signed material dedupes: this field, else
	// webhook-id (standard-webhooks) or the SHA-256 of the signed body
	// (hmac-sha256); an unsigned Idempotency-Key header is ignored there.
	IdempotencyField string `yaml:"idempotency_field"`
	// MaxBodyBytes overrides the global limit for this source.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Quota bounds what one sender can make Sluice store per second.
	Quota Quota `yaml:"quota"`
	// Poll, when set, makes this source read a platform's changed records
	// instead of receiving webhooks (it then has no webhook endpoint).
	Poll *Poll `yaml:"poll"`
	// Platform, when set, makes this source accept a platform's own
	// webhooks (HubSpot, Slack Events API, Notion, Airtable) on its
	// endpoint, verified the platform's way instead of by Signature.
	Platform *Platform `yaml:"platform"`
}

// Platform is a source that receives a SaaS platform's own webhooks. Each
// changed record becomes an event shaped like a polled one (platform,
// object, id, modified_at, deleted, fields), deduplicated by the
// platform's event ID, with Sluice's own writes suppressed as echoes.
type Platform struct {
	// Kind is hubspot, slack, notion or airtable.
	Kind string `yaml:"kind"`
	// Secrets verify the platform's signature: HubSpot the app's client
	// secret, Slack the signing secret, Airtable the webhook's
	// macSecretBase64, Notion the verification_token it sent (empty until
	// the operator has it: the source then answers only the handshake).
	// List two while rotating. Use ${ENV} references.
	Secrets []string `yaml:"secrets"`
	// Destination names the destination on that platform whose connector
	// reads what a thin webhook leaves out (Notion pages, Airtable
	// payloads) and whose writes by Sluice come back as echoes. Required
	// for notion and airtable; optional for hubspot and slack (echo
	// suppression only).
	Destination string `yaml:"destination"`
	// URL is the address HubSpot calls, as registered in the app (HubSpot
	// signs it). Default: the request's own, which is wrong behind a proxy
	// that rewrites host or scheme. hubspot only.
	URL string `yaml:"url"`
	// WebhookID is the Airtable webhook ("ach...") whose payloads this
	// source lists. airtable only; required there.
	WebhookID string `yaml:"webhook_id"`
	// Interval is how often an Airtable source lists payloads even without
	// a notification (one lost in a crash, or sent to another instance).
	// Default 1m. airtable only.
	Interval Duration `yaml:"interval"`
	// SuppressEchoes (default true) recognises Sluice's own writes to
	// Destination coming back and does not capture them.
	SuppressEchoes *bool `yaml:"suppress_echoes"`
}

// Keys are the secrets to verify with. For Notion an empty entry (an
// unset ${NOTION_VERIFICATION_TOKEN:-}) means "no token yet" and is left
// out; for the other kinds Validate refuses it.
func (p Platform) Keys() []string {
	if p.Kind != "notion" {
		return p.Secrets
	}
	var out []string
	for _, s := range p.Secrets {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// PlatformDefaults returns p with defaults filled in.
func (p Platform) PlatformDefaults() Platform {
	if p.Interval == 0 {
		p.Interval = Duration(time.Minute)
	}
	if p.SuppressEchoes == nil {
		t := true
		p.SuppressEchoes = &t
	}
	return p
}

// Poll reads a platform's change feed through a destination's connector
// (the same credentials and account). Each page of changes is captured
// together with the cursor after it, in one transaction.
type Poll struct {
	// Destination names the destination whose connector reads the changes.
	Destination string `yaml:"destination"`
	// Options are the platform's feed settings (e.g. sql: updated_column;
	// hubspot: object, properties); unknown keys are errors.
	Options map[string]any `yaml:"options"`
	// Interval between polls when the feed is drained. Default 5s.
	Interval Duration `yaml:"interval"`
	// Overlap re-reads this much before the cursor on every poll, so that
	// changes with equal or coarse stamps (Notion: minutes), clock skew and
	// search-index lag are not missed; repeats are recognised by (record
	// ID, modification stamp) and not captured twice. Default 1m.
	Overlap Duration `yaml:"overlap"`
	// Batch is the most changes read and committed at once. Default 100.
	Batch int `yaml:"batch"`
	// SuppressEchoes (default true) recognises Sluice's own writes to the
	// destination coming back and does not capture them.
	SuppressEchoes *bool `yaml:"suppress_echoes"`
}

// PollDefaults returns p with defaults filled in.
func (p Poll) PollDefaults() Poll {
	if p.Interval == 0 {
		p.Interval = Duration(5 * time.Second)
	}
	if p.Overlap == 0 {
		p.Overlap = Duration(time.Minute)
	}
	if p.Batch == 0 {
		p.Batch = 100
	}
	if p.SuppressEchoes == nil {
		t := true
		p.SuppressEchoes = &t
	}
	return p
}

// Quota is a source's intake budget, enforced before a body is stored;
// above it the sender gets 429 with Retry-After. Both budgets are token
// buckets that allow a burst of twice the rate.
type Quota struct {
	// RequestsPerSecond: default 1000.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// BytesPerSecond of request bodies: default 4 MiB (the burst is at
	// least the source's largest body).
	BytesPerSecond int64 `yaml:"bytes_per_second"`
}

// Quota defaults: generous for one webhook sender, small enough that a
// flood cannot fill a disk in an afternoon.
const (
	DefaultRequestsPerSecond = 1000
	DefaultBytesPerSecond    = 4 << 20
)

// Signature configures inbound verification.
type Signature struct {
	// Scheme is "standard-webhooks" or "hmac-sha256".
	Scheme string `yaml:"scheme"`
	// Secrets: several are accepted at once so they can be rotated.
	Secrets []string `yaml:"secrets"`
	// Header for hmac-sha256; default X-Hub-Signature-256.
	Header string `yaml:"header"`
	// Tolerance for standard-webhooks timestamps; default 5m.
	Tolerance Duration `yaml:"tolerance"`
}

// Entity is a canonical record type.
type Entity struct {
	// Key is the canonical field that identifies one record across events
	// and destinations (e.g. email).
	Key string `yaml:"key"`
	// Schema is an inline JSON Schema (2020-12); SchemaFile a path to one.
	Schema     map[string]any `yaml:"schema"`
	SchemaFile string         `yaml:"schema_file"`
}

// Flow turns one source's payloads into one entity and routes it.
type Flow struct {
	Source    string            `yaml:"source"`
	Entity    string            `yaml:"entity"`
	Normalize normalize.Mapping `yaml:"normalize"`
	// Require lists canonical fields without which the record is held.
	Require []string `yaml:"require"`
	// HoldTTL is how long a record may wait on hold before it is escalated.
	// Default 24h.
	HoldTTL Duration `yaml:"hold_ttl"`
	// OnDelete is what the flow does with a delete event (a record its
	// source reports archived, trashed or destroyed): "ignore" (default:
	// the event is recorded and settles without writing anything) or
	// "route" (each route removes the record from its destination, which
	// must be able to delete; a route may opt out with its own on_delete).
	OnDelete string            `yaml:"on_delete"`
	Routes   map[string]*Route `yaml:"routes"`
	// SLA: deliver_within and hold_within, watched by control.SLAWatcher.
	SLA FlowSLA `yaml:"sla"`
}

// Route sends a flow's records to one destination.
type Route struct {
	Destination string `yaml:"destination"`
	// When is an expression over the canonical record; empty means always.
	// It selects the routes of created and updated records only: a delete
	// event's fields are often gone, so deletes are routed by on_delete.
	When string `yaml:"when"`
	// OnDelete overrides the flow's on_delete for this route: "route"
	// (delete the record in this destination) or "ignore"; empty means
	// the flow's.
	OnDelete string `yaml:"on_delete"`
	// Map builds the destination's payload from the canonical record; when
	// empty the canonical record is sent as is.
	Map *normalize.Mapping `yaml:"map"`
	// Require lists canonical fields this route needs (held if missing).
	Require []string `yaml:"require"`
	// After names routes of the same flow that must succeed first; their
	// external IDs are passed to this route's connector.
	After []string `yaml:"after"`
	// Fallback is a destination that receives a copy of each record while
	// this route's destination has its circuit open or is paused; the
	// primary still receives the record, in key order, once it recovers.
	Fallback string `yaml:"fallback"`
}

// Destination is one platform account Sluice writes to.
type Destination struct {
	// Type is a registered connector type: http, hubspot, airtable, ...
	Type    string         `yaml:"type"`
	Options map[string]any `yaml:"options"`
	// AllowPrivateNetwork lets the destination's connections reach
	// loopback and private addresses (RFC 1918, carrier-grade NAT, unique
	// local IPv6): simulators, a database on the same host, a service on
	// the internal network. Default false: a URL or DNS answer pointing
	// inside is refused at connect time. Link-local and cloud metadata
	// addresses are refused always.
	AllowPrivateNetwork bool `yaml:"allow_private_network"`
	// Credential, when set, makes the destination obtain expiring access
	// tokens at run time (OAuth refresh tokens, Slack token rotation, a
	// Google service account) instead of using options.token; see
	// package credential.
	Credential *Credential `yaml:"credential"`
	// MaxAttempts before escalation. Default 8.
	MaxAttempts int `yaml:"max_attempts"`
	// RetryBase and RetryMax bound exponential backoff with full jitter.
	// Defaults 1s and 5m.
	RetryBase Duration `yaml:"retry_base"`
	RetryMax  Duration `yaml:"retry_max"`
	// Breaker opens the destination's circuit after Failures consecutive
	// retryable failures (default 5) for OpenFor (default 30s); while open,
	// deliveries wait without spending attempts and routes with a fallback
	// send a copy there.
	Breaker Breaker `yaml:"breaker"`
	// OnConflict is what happens when a record Sluice is about to update
	// was changed in the destination since Sluice last wrote it:
	// "overwrite" (default) writes anyway; "review" does not write and
	// opens a conflict escalation showing both versions, for a person to
	// choose (retry overwrites, resolve keeps the destination's version).
	// Needs a connector that can read records back.
	OnConflict string `yaml:"on_conflict"`
	// SLA: queue_age and queue_depth, watched by control.SLAWatcher.
	SLA DestinationSLA `yaml:"sla"`
}

// Breaker configures a destination's circuit breaker.
type Breaker struct {
	Failures int      `yaml:"failures"`
	OpenFor  Duration `yaml:"open_for"`
}

// Delivery tunes the engine.
type Delivery struct {
	// Lease is how long a claimed delivery belongs to one worker before
	// another may take it over (after a crash). Default 60s.
	Lease Duration `yaml:"lease"`
	// PollInterval is the idle wait between claims. Default 250ms.
	PollInterval Duration `yaml:"poll_interval"`
}

// Consistency schedules read-back checks.
type Consistency struct {
	// Interval between checks; 0 (default) runs them only on demand
	// (`sluice consistency check`).
	Interval Duration `yaml:"interval"`
	// Sample is the number of records checked per destination each time;
	// 0 means 100.
	Sample int `yaml:"sample"`
}

// Duration is a time.Duration written as "90s", "24h".
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 24h)", string(b))
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: negative", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Expand replaces ${VAR} and ${VAR:-default} with environment values. A
// reference to an unset variable without a default is an error, so a missing
// secret fails at start-up rather than as a 401 at 3 a.m. Only the braced
// form is expanded: "$" alone stays literal (expressions may use it).
func Expand(data []byte, lookup func(string) (string, bool)) ([]byte, error) {
	var missing []string
	out := envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		sub := envRef.FindSubmatch(m)
		if v, ok := lookup(string(sub[1])); ok {
			return []byte(v)
		}
		if len(sub[2]) > 0 {
			return sub[3]
		}
		missing = append(missing, string(sub[1]))
		return m
	})
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("environment variables not set: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Load reads, expands, parses, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	c.Dir = filepath.Dir(path)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse expands and decodes YAML, rejecting unknown keys, and applies
// defaults. It does not validate cross-references; call Validate.
//
// A decoding error names the line as written in the file, before ${VAR}
// expansion, and its message has expanded values replaced by their
// references: the values are often secrets, and errors end up in terminals
// and CI logs.
func Parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	expanded, err := Expand(data, lookup)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded), yaml.DisallowUnknownField(), yaml.UseJSONUnmarshaler())
	if err := dec.Decode(&c); err != nil {
		return nil, decodeError(err, data, lookup)
	}
	c.applyDefaults()
	return &c, nil
}

// decodeError describes a YAML error against the unexpanded source.
func decodeError(err error, raw []byte, lookup func(string) (string, bool)) error {
	var ye interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if !errors.As(err, &ye) || ye.GetToken() == nil || ye.GetToken().Position == nil {
		return fmt.Errorf("config: %s", unexpand(err.Error(), raw, lookup))
	}
	rawLines := strings.Split(string(raw), "\n")
	line := originalLine(raw, lookup, ye.GetToken().Position.Line)
	msg := unexpand(ye.GetMessage(), raw, lookup)
	if line < 1 || line > len(rawLines) {
		return fmt.Errorf("config: %s", msg)
	}
	return fmt.Errorf("config: line %d: %s\n%5d | %s", line, msg, line, strings.TrimRight(rawLines[line-1], "\r"))
}

// originalLine maps a line of the expanded text back to the file: a value
// with newlines makes one file line several expanded ones.
func originalLine(raw []byte, lookup func(string) (string, bool), expandedLine int) int {
	n := 0
	for i, l := range strings.Split(string(raw), "\n") {
		out, err := Expand([]byte(l), lookup)
		if err != nil {
			out = []byte(l)
		}
		n += 1 + strings.Count(string(out), "\n")
		if n >= expandedLine {
			return i + 1
		}
	}
	return -1
}

// unexpand replaces in msg every value the file's ${VAR} references expanded
// to (values of 3 characters or more) by the reference itself.
func unexpand(msg string, raw []byte, lookup func(string) (string, bool)) string {
	type sub struct{ value, ref string }
	var subs []sub
	for _, m := range envRef.FindAllSubmatch(raw, -1) {
		v, ok := lookup(string(m[1]))
		if !ok && len(m[2]) > 0 {
			v = string(m[3])
		}
		if len(v) >= 3 {
			subs = append(subs, sub{v, string(m[0])})
		}
	}
	sort.Slice(subs, func(i, j int) bool { return len(subs[i].value) > len(subs[j].value) })
	for _, s := range subs {
		msg = strings.ReplaceAll(msg, s.value, s.ref)
	}
	return msg
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Store == "" {
		c.Store = "sluice.db"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = Duration(30 * time.Second)
	}
	for _, s := range c.Sources {
		if s == nil {
			continue
		}
		if s.Quota.RequestsPerSecond == 0 {
			s.Quota.RequestsPerSecond = DefaultRequestsPerSecond
		}
		if s.Quota.BytesPerSecond == 0 {
			s.Quota.BytesPerSecond = DefaultBytesPerSecond
		}
	}
	for _, f := range c.Flows {
		if f != nil && f.HoldTTL == 0 {
			f.HoldTTL = Duration(24 * time.Hour)
		}
	}
	for _, d := range c.Destinations {
		if d == nil {
			continue
		}
		if d.MaxAttempts == 0 {
			d.MaxAttempts = 8
		}
		if d.RetryBase == 0 {
			d.RetryBase = Duration(time.Second)
		}
		if d.RetryMax == 0 {
			d.RetryMax = Duration(5 * time.Minute)
		}
		if d.Breaker.Failures == 0 {
			d.Breaker.Failures = 5
		}
		if d.Breaker.OpenFor == 0 {
			d.Breaker.OpenFor = Duration(30 * time.Second)
		}
	}
	if c.Consistency.Sample == 0 {
		c.Consistency.Sample = 100
	}
	if c.Delivery.Lease == 0 {
		c.Delivery.Lease = Duration(60 * time.Second)
	}
	if c.Delivery.PollInterval == 0 {
		c.Delivery.PollInterval = Duration(250 * time.Millisecond)
	}
	c.Alerts.applyDefaults()
}

// SchemaJSON returns the entity's JSON Schema document, from the inline
// schema or the schema file.
func (c *Config) SchemaJSON(name string) ([]byte, error) {
	e := c.Entities[name]
	if e == nil {
		return nil, fmt.Errorf("unknown entity %q", name)
	}
	if e.SchemaFile != "" {
		p := e.SchemaFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(c.Dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("entities.%s.schema_file: %w", name, err)
		}
		return b, nil
	}
	if e.Schema == nil {
		return nil, nil
	}
	return json.Marshal(e.Schema)
}

// FlowForSource returns the name and flow fed by a source.
func (c *Config) FlowForSource(source string) (string, *Flow) {
	for name, f := range c.Flows {
		if f.Source == source {
			return name, f
		}
	}
	return "", nil
}

// StoreKind tells which driver the Store setting selects and its target.
func (c *Config) StoreKind() (kind, target string) {
	switch {
	case strings.HasPrefix(c.Store, "postgres://"), strings.HasPrefix(c.Store, "postgresql://"):
		return "postgres", c.Store
	case strings.HasPrefix(c.Store, "sqlite:"):
		return "sqlite", strings.TrimPrefix(c.Store, "sqlite:")
	default:
		return "sqlite", c.Store
	}
}

// Credential configures how a destination obtains expiring access tokens.
// Secrets should come from ${VAR}. The tokens obtained are stored in the
// store, sealed with the key in SLUICE_CREDENTIAL_KEY, never here.
type Credential struct {
	// Kind is "oauth_refresh" (a refresh token grant: HubSpot public apps,
	// Google user OAuth, Notion, Airtable), "slack_rotation" (Slack token
	// rotation through oauth.v2.access) or "google_service_account" (a
	// service-account key, JWT bearer grant).
	Kind string `yaml:"kind"`
	// TokenURL is the platform's token endpoint; each kind has the
	// platform's default, and a simulator's is set here.
	TokenURL string `yaml:"token_url"`
	// ClientID and ClientSecret are the app's.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// RefreshToken is the refresh token obtained when the app was
	// installed. With rotation it is used once; its successors live in the
	// store.
	RefreshToken string `yaml:"refresh_token"`
	// ServiceAccountFile (a path) or ServiceAccountJSON (the key file's
	// content) is the Google service-account key.
	ServiceAccountFile string `yaml:"service_account_file"`
	ServiceAccountJSON string `yaml:"service_account_json"`
	// Scopes are requested with a service account; default Sheets.
	Scopes []string `yaml:"scopes"`
	// RefreshBefore is how long before expiry a token is renewed; default
	// 5 minutes (or a tenth of the token's life when shorter).
	RefreshBefore Duration `yaml:"refresh_before"`
}

// Values of Flow.OnDelete and Route.OnDelete.
const (
	// OnDeleteIgnore records a delete event and writes nothing.
	OnDeleteIgnore = "ignore"
	// OnDeleteRoute removes the record from the route's destination.
	OnDeleteRoute = "route"
)

// RoutesDeletes reports whether route rn of flow f removes deleted records
// from its destination: the route's on_delete, else the flow's.
func (f *Flow) RoutesDeletes(rn string) bool {
	if r := f.Routes[rn]; r != nil && r.OnDelete != "" {
		return r.OnDelete == OnDeleteRoute
	}
	return f.OnDelete == OnDeleteRoute
}
