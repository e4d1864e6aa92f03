// Package redact is the one place where secrets are removed from text that
// leaves Sluice's memory: log lines, audit messages and error messages. It
// knows the secret values of the running config (tokens, signing secrets,
// passwords, DSNs) and replaces every occurrence, whatever path the text
// took (a platform that echoes our Authorization header back in its error
// body, a driver error quoting a DSN).
package redact

import (
	"context"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/config"
)

// Mask replaces a secret.
const Mask = "[redacted]"

// Redactor replaces known secret values and bearer credentials.
type Redactor struct {
	mu      sync.Mutex // serializes Extend
	secrets []string
	r       atomic.Pointer[strings.Replacer]
}

// minLen keeps short values (a port, "true") from being treated as secrets
// and blanking unrelated text.
const minLen = 6

var bearer = regexp.MustCompile(`(?i)(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}`)

// New builds a redactor for the given secret values.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Extend(secrets...)
	return r
}

// Extend adds secrets to mask, keeping the ones known already: a config
// reload brings new credentials, and text written under the old ones may
// still pass through. Safe to call while String runs.
func (r *Redactor) Extend(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, secrets...)
	r.r.Store(replacer(r.secrets))
}

func replacer(secrets []string) *strings.Replacer {
	seen := map[string]bool{}
	var list []string
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < minLen || seen[s] {
			continue
		}
		seen[s] = true
		list = append(list, s)
	}
	// Longest first, so a secret containing another is masked whole.
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, Mask)
	}
	return strings.NewReplacer(pairs...)
}

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	s = r.r.Load().Replace(s)
	if !mentionsScheme(s) {
		return s // the regexp below costs microseconds per message on the commit path
	}
	return bearer.ReplaceAllString(s, "$1 "+Mask)
}

// mentionsScheme reports whether s contains "bearer", "basic" or "token" in
// any case: without one of them the bearer pattern cannot match.
func mentionsScheme(s string) bool {
	for i := 0; i+5 <= len(s); i++ {
		switch s[i] | 0x20 {
		case 'b':
			if strings.EqualFold(s[i:i+5], "basic") || (i+6 <= len(s) && strings.EqualFold(s[i:i+6], "bearer")) {
				return true
			}
		case 't':
			if strings.EqualFold(s[i:i+5], "token") {
				return true
			}
		}
	}
	return false
}

var secretKey = regexp.MustCompile(`(?i)(token|secret|password|passwd|key|dsn|auth|credential|signature|cookie)`)

var urlKey = regexp.MustCompile(`(?i)(url|endpoint|webhook|uri)`)

// URLSecrets returns the parts of a configured URL that act as credentials
// and must be masked like tokens: webhook receivers (Zapier, Slack, custom
// endpoints) put the secret in the path or the query, and receivers echo the
// URL back in their errors. The whole URL, its path (from 8 characters;
// shorter ones like "/in" identify nothing and would blank unrelated text),
// each path segment of 12 characters or more, the query string and each
// query value, and a userinfo password.
func URLSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil
	}
	out := []string{raw}
	if p := u.EscapedPath(); len(p) >= 8 {
		out = append(out, p, u.Path)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 12 {
			out = append(out, seg, url.PathEscape(seg))
		}
	}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
		for _, vs := range u.Query() {
			for _, v := range vs {
				out = append(out, v, url.QueryEscape(v))
			}
		}
	}
	if p, ok := u.User.Password(); ok {
		out = append(out, p)
	}
	return out
}

// FromConfig collects the secret values of a config: admin tokens, source
// signing secrets, every destination option (at any depth) whose key looks
// like a credential, including header values, and the secret parts of
// every destination option that is a URL (URLSecrets).
func FromConfig(c *config.Config) []string {
	var out []string
	for _, t := range c.AdminTokens {
		out = append(out, t.Token)
	}
	for _, s := range c.Sources {
		if s != nil && s.Signature != nil {
			out = append(out, s.Signature.Secrets...)
		}
	}
	if strings.HasPrefix(c.Store, "postgres") {
		out = append(out, c.Store)
	}
	var walk func(key string, v any, inSecret bool)
	walk = func(key string, v any, inSecret bool) {
		secret := inSecret || secretKey.MatchString(key)
		switch x := v.(type) {
		case string:
			if urlKey.MatchString(key) {
				out = append(out, URLSecrets(x)...)
			}
			if secret {
				out = append(out, x)
				if i := strings.IndexByte(x, ' '); i > 0 { // "Bearer xyz": the credential alone too
					out = append(out, x[i+1:])
				}
			}
		case map[string]any:
			for k, e := range x {
				walk(k, e, secret)
			}
		case []any:
			for _, e := range x {
				walk(key, e, secret)
			}
		}
	}
	for _, d := range c.Destinations {
		if d != nil {
			walk("", d.Options, false)
		}
	}
	return out
}

// Handler wraps h so that every log record's message and string-valued
// attributes (errors included) are redacted before they are written.
func (r *Redactor) Handler(h slog.Handler) slog.Handler { return &handler{h: h, r: r} }

type handler struct {
	h slog.Handler
	r *Redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindGroup:
		var as []any
		for _, g := range v.Group() {
			as = append(as, h.attr(g))
		}
		return slog.Group(a.Key, as...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.r.String(err.Error()))
		}
		return slog.String(a.Key, h.r.String(v.String()))
	}
	return a
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &handler{h: h.h.WithAttrs(red), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{h: h.h.WithGroup(name), r: h.r}
}
