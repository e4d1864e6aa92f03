package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// FieldError is one problem at one config path, e.g.
// "flows.leads.routes.crm.destination: unknown destination \"x\"".
type FieldError struct {
	Path    string
	Message string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Message }

// Errors is every problem found, sorted by path, so one `sluice check` run
// shows them all.
type Errors []FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Add records a problem; callers building on Validate (schema and mapping
// compilation) add theirs to the same list.
func (es *Errors) Add(path, format string, args ...any) {
	*es = append(*es, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil when there are no problems, else the sorted list.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].Path < es[j].Path })
	return es
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// MinSecretBytes is the shortest key a whsec_ signing secret may decode to:
// Standard Webhooks issues 24 to 64 random bytes, and fewer make the HMAC
// guessable offline from one captured request.
const MinSecretBytes = 24

// Validate checks references between sections and value ranges. Schemas,
// mappings, expressions and connector options are compiled (and checked) by
// the pipeline, which adds its problems with the same paths.
func (c *Config) Validate() error {
	var es Errors
	if kind, target := c.StoreKind(); kind == "postgres" {
		if _, err := url.Parse(target); err != nil {
			es.Add("store", "invalid URL")
		}
	} else if target == "" {
		es.Add("store", "empty path")
	}
	if c.MaxBodyBytes < 0 {
		es.Add("max_body_bytes", "must be positive")
	}
	if c.AdminListen != "" && c.AdminListen == c.Listen {
		es.Add("admin_listen", "must differ from listen")
	}
	if c.TLS != nil {
		if c.TLS.CertFile == "" {
			es.Add("tls.cert_file", "required")
		}
		if c.TLS.KeyFile == "" {
			es.Add("tls.key_file", "required")
		}
	}
	seenTok := map[string]bool{}
	for i, t := range c.AdminTokens {
		p := fmt.Sprintf("admin_tokens[%d]", i)
		if t.Name == "" {
			es.Add(p+".name", "required")
		}
		if len(t.Token) < 16 {
			es.Add(p+".token", "must be at least 16 characters")
		}
		if seenTok[t.Token] {
			es.Add(p+".token", "duplicate token")
		}
		seenTok[t.Token] = true
		if t.Role == "" {
			es.Add(p+".role", "required: admin (may act) or viewer (may only read)")
		} else if t.Role != "admin" && t.Role != "viewer" {
			es.Add(p+".role", "must be admin or viewer, got %q", t.Role)
		}
	}
	if len(c.Sources) == 0 {
		es.Add("sources", "at least one source is required")
	}
	for _, name := range sortedKeys(c.Sources) {
		s := c.Sources[name]
		p := "sources." + name
		if s == nil {
			es.Add(p, "empty")
			continue
		}
		if s.Signature != nil {
			switch s.Signature.Scheme {
			case "standard-webhooks", "hmac-sha256":
			default:
				es.Add(p+".signature.scheme", "must be standard-webhooks or hmac-sha256, got %q", s.Signature.Scheme)
			}
			if len(s.Signature.Secrets) == 0 {
				es.Add(p+".signature.secrets", "at least one secret is required")
			}
			for i, sec := range s.Signature.Secrets {
				sp := fmt.Sprintf("%s.signature.secrets[%d]", p, i)
				if len(sec) < 8 {
					es.Add(sp, "too short (at least 8 characters)")
				}
				if rest, ok := strings.CutPrefix(sec, "whsec_"); ok && s.Signature.Scheme == "standard-webhooks" {
					key, err := base64.StdEncoding.DecodeString(rest)
					switch {
					case err != nil:
						es.Add(sp, "whsec_ secret is not valid base64")
					case len(key) < MinSecretBytes:
						es.Add(sp, "whsec_ secret decodes to %d bytes; at least %d are required", len(key), MinSecretBytes)
					}
				}
			}
			if s.AllowUnsigned {
				es.Add(p+".allow_unsigned", "contradicts signature: remove one")
			}
		} else if !s.AllowUnsigned && s.Poll == nil && s.Platform == nil {
			es.Add(p, "unsigned: anyone who reaches the endpoint can inject records; set signature, or allow_unsigned: true to accept that")
		}
		if s.MaxBodyBytes < 0 {
			es.Add(p+".max_body_bytes", "must be positive")
		}
		if s.Quota.RequestsPerSecond < 0 {
			es.Add(p+".quota.requests_per_second", "must be positive")
		}
		if s.Quota.BytesPerSecond < 0 {
			es.Add(p+".quota.bytes_per_second", "must be positive")
		}
		if s.Poll != nil {
			if s.Signature != nil {
				es.Add(p+".signature", "a poll source has no webhook endpoint to sign; remove signature or poll")
			}
			if _, ok := c.Destinations[s.Poll.Destination]; !ok {
				es.Add(p+".poll.destination", "unknown destination %q (the poll reads through that destination's connector)", s.Poll.Destination)
			}
			if s.Poll.Interval != 0 && s.Poll.Interval.D() < 100*time.Millisecond {
				es.Add(p+".poll.interval", "at least 100ms")
			}
			if s.Poll.Batch < 0 || s.Poll.Batch > 1000 {
				es.Add(p+".poll.batch", "between 1 and 1000")
			}
		}
		if s.Platform != nil {
			c.validatePlatform(&es, p, s)
		}
	}
	for _, name := range sortedKeys(c.Entities) {
		e := c.Entities[name]
		p := "entities." + name
		if e == nil {
			es.Add(p, "empty")
			continue
		}
		if e.Key == "" {
			es.Add(p+".key", "required (the canonical field that identifies a record)")
		}
		if e.Schema != nil && e.SchemaFile != "" {
			es.Add(p, "set schema or schema_file, not both")
		}
	}
	sourceUsed := map[string]string{}
	for _, name := range sortedKeys(c.Flows) {
		f := c.Flows[name]
		p := "flows." + name
		if f == nil {
			es.Add(p, "empty")
			continue
		}
		if _, ok := c.Sources[f.Source]; !ok {
			es.Add(p+".source", "unknown source %q", f.Source)
		} else if other, dup := sourceUsed[f.Source]; dup {
			es.Add(p+".source", "source %q already feeds flow %q (one flow per source)", f.Source, other)
		}
		sourceUsed[f.Source] = name
		if _, ok := c.Entities[f.Entity]; !ok {
			es.Add(p+".entity", "unknown entity %q", f.Entity)
		}
		if len(f.Routes) == 0 {
			es.Add(p+".routes", "at least one route is required")
		}
		switch f.OnDelete {
		case "", OnDeleteIgnore, OnDeleteRoute:
		default:
			es.Add(p+".on_delete", "must be ignore or route, got %q", f.OnDelete)
		}
		for _, rn := range sortedKeys(f.Routes) {
			r := f.Routes[rn]
			rp := p + ".routes." + rn
			if r == nil {
				es.Add(rp, "empty")
				continue
			}
			if _, ok := c.Destinations[r.Destination]; !ok {
				es.Add(rp+".destination", "unknown destination %q", r.Destination)
			}
			switch r.OnDelete {
			case "", OnDeleteIgnore, OnDeleteRoute:
			default:
				es.Add(rp+".on_delete", "must be ignore or route, got %q", r.OnDelete)
			}
			if r.Fallback != "" {
				if _, ok := c.Destinations[r.Fallback]; !ok {
					es.Add(rp+".fallback", "unknown destination %q", r.Fallback)
				} else if r.Fallback == r.Destination {
					es.Add(rp+".fallback", "must differ from the route's destination")
				}
			}
			for i, a := range r.After {
				if _, ok := f.Routes[a]; !ok {
					es.Add(fmt.Sprintf("%s.after[%d]", rp, i), "unknown route %q", a)
				} else if a == rn {
					es.Add(fmt.Sprintf("%s.after[%d]", rp, i), "a route cannot run after itself")
				}
			}
		}
		if cyc := afterCycle(f.Routes); cyc != "" {
			es.Add(p+".routes", "after dependencies form a cycle: %s", cyc)
		}
	}
	for _, name := range sortedKeys(c.Destinations) {
		d := c.Destinations[name]
		p := "destinations." + name
		if d == nil {
			es.Add(p, "empty")
			continue
		}
		if d.Type == "" {
			es.Add(p+".type", "required")
		}
		if d.MaxAttempts < 1 {
			es.Add(p+".max_attempts", "must be at least 1")
		}
		switch d.OnConflict {
		case "", "overwrite", "review":
		default:
			es.Add(p+".on_conflict", "must be overwrite or review, got %q", d.OnConflict)
		}
		if d.Breaker.Failures < 1 {
			es.Add(p+".breaker.failures", "must be at least 1")
		}
		if d.RetryMax < d.RetryBase {
			es.Add(p+".retry_max", "must not be less than retry_base")
		}
	}
	c.validateSLA(&es)    // alerts.go
	c.validateAlerts(&es) // alerts.go

	c.validateRetention(&es) // retention.go
	return es.Err()
}

func afterCycle(routes map[string]*Route) string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var path []string
	var visit func(string) string
	visit = func(n string) string {
		color[n] = grey
		path = append(path, n)
		if r := routes[n]; r != nil {
			for _, a := range r.After {
				if _, ok := routes[a]; !ok || a == n {
					continue
				}
				switch color[a] {
				case grey:
					return strings.Join(append(path, a), " -> ")
				case white:
					if c := visit(a); c != "" {
						return c
					}
				}
			}
		}
		path = path[:len(path)-1]
		color[n] = black
		return ""
	}
	for _, n := range sortedKeys(routes) {
		if color[n] == white {
			if c := visit(n); c != "" {
				return c
			}
		}
	}
	return ""
}

// Warnings lists settings that are valid but weaken a guarantee: `sluice
// check` prints them and `sluice serve` logs them at start, so nobody runs
// a replayable or unauthenticated source without having been told.
func (c *Config) Warnings() []FieldError {
	var ws []FieldError
	for _, name := range sortedKeys(c.Sources) {
		s := c.Sources[name]
		p := "sources." + name
		switch {
		case s == nil:
		case s.Platform != nil && s.Platform.Kind == "notion" && len(s.Platform.Keys()) == 0:
			ws = append(ws, FieldError{p + ".platform.secrets", "NOT YET VERIFIED: the source answers only Notion's handshake and refuses events until the verification_token it received (`sluice sources token " + name + "`) is set here"})
		case s.Signature == nil && s.AllowUnsigned && s.Poll == nil:
			ws = append(ws, FieldError{p, "UNSIGNED: anyone who reaches the endpoint can inject records and replay them"})
		case s.Signature != nil && s.Signature.Scheme == "hmac-sha256":
			by := "the SHA-256 of the body"
			if s.IdempotencyField != "" {
				by = "idempotency_field " + s.IdempotencyField + " (or the body's SHA-256 when absent)"
			}
			msg := "REPLAYABLE: hmac-sha256 signs no timestamp, so a captured request stays valid forever; replays are refused as duplicates by " + by + " only while the first event is stored"
			if c.Retention.Events > 0 {
				msg += fmt.Sprintf(" (retention.events deletes it after %s; a replay after that becomes a new event)", c.Retention.Events.D())
			}
			msg += "; prefer standard-webhooks"
			ws = append(ws, FieldError{p + ".signature.scheme", msg})
		}
	}
	return ws
}

// platformDestinationTypes are the connector types whose platform sends
// each kind of webhook.
var platformDestinationTypes = map[string]string{"hubspot": "hubspot", "slack": "slack", "notion": "notion", "airtable": "airtable"}

// validatePlatform checks sources.X.platform.
func (c *Config) validatePlatform(es *Errors, p string, s *Source) {
	pl := s.Platform
	pp := p + ".platform"
	if s.Signature != nil {
		es.Add(p+".signature", "a platform source is verified the platform's way; remove signature or platform")
	}
	if s.Poll != nil {
		es.Add(p+".poll", "a source either polls or receives platform webhooks; split it into two sources")
	}
	if s.AllowUnsigned {
		es.Add(p+".allow_unsigned", "a platform source is always verified; remove allow_unsigned")
	}
	if s.IdempotencyField != "" {
		es.Add(p+".idempotency_field", "a platform source dedupes by the platform's event ID; remove idempotency_field")
	}
	kind := pl.Kind
	if _, ok := platformDestinationTypes[kind]; !ok {
		es.Add(pp+".kind", "must be hubspot, slack, notion or airtable, got %q", kind)
		return
	}
	if len(pl.Secrets) == 0 && kind != "notion" {
		es.Add(pp+".secrets", "at least one secret is required (%s)", map[string]string{
			"hubspot": "the app's client secret", "slack": "the app's signing secret", "airtable": "the webhook's macSecretBase64"}[kind])
	}
	for i, sec := range pl.Secrets {
		sp := fmt.Sprintf("%s.secrets[%d]", pp, i)
		if kind == "airtable" {
			if key, err := base64.StdEncoding.DecodeString(sec); err != nil || len(key) < 16 {
				es.Add(sp, "must be the webhook's macSecretBase64 (base64 of at least 16 bytes)")
			}
		} else if len(sec) < 8 && !(kind == "notion" && sec == "") {
			es.Add(sp, "too short (at least 8 characters)")
		}
	}
	if pl.Destination == "" {
		if kind == "notion" || kind == "airtable" {
			es.Add(pp+".destination", "required: the %s destination whose connector reads what the webhook leaves out", kind)
		}
	} else if d, ok := c.Destinations[pl.Destination]; !ok {
		es.Add(pp+".destination", "unknown destination %q", pl.Destination)
	} else if d != nil && d.Type != platformDestinationTypes[kind] {
		es.Add(pp+".destination", "destination %q is of type %s; a %s source needs a %s destination", pl.Destination, d.Type, kind, kind)
	}
	if pl.URL != "" {
		if kind != "hubspot" {
			es.Add(pp+".url", "only hubspot signs the URL")
		} else if u, err := url.Parse(pl.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			es.Add(pp+".url", "must be an absolute http(s) URL, the address registered in the HubSpot app")
		}
	}
	if kind == "airtable" {
		if pl.WebhookID == "" {
			es.Add(pp+".webhook_id", "required: the Airtable webhook (ach...) whose payloads this source lists")
		}
		if pl.Interval != 0 && pl.Interval.D() < time.Second {
			es.Add(pp+".interval", "at least 1s")
		}
	} else {
		if pl.WebhookID != "" {
			es.Add(pp+".webhook_id", "only airtable webhooks are listed by ID")
		}
		if pl.Interval != 0 {
			es.Add(pp+".interval", "only airtable sources list payloads on an interval")
		}
	}
}
