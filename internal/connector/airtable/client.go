package airtable

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

const (
	userAgent = "sluice/1"
	redacted  = "[redacted]"
	// maxBodyRead bounds a response body: ten records or a page of ten
	// lookups fit easily.
	maxBodyRead = 8 << 20
	// maxMessageBytes is how much of a message becomes Error.Message.
	maxMessageBytes = 1024
	rateInterval    = time.Second
)

// gate is what every destination writing to one base shares: Airtable
// counts the 5 requests per second per base, not per table or token, and
// after a 429 refuses the whole base for 30 seconds. Destinations on one
// base share the penalty, and those declaring the same rate share one
// window.
type gate struct {
	key  string
	refs int

	mu      sync.Mutex
	until   time.Time
	windows map[int]*connector.Window
}

var gates = struct {
	sync.Mutex
	m map[string]*gate
}{m: map[string]*gate{}}

// openGate returns the gate of base (counted until closeGate) and its
// window for rate requests per second.
func openGate(key string, rate int) (*gate, *connector.Window) {
	gates.Lock()
	defer gates.Unlock()
	g := gates.m[key]
	if g == nil {
		g = &gate{key: key, windows: map[int]*connector.Window{}}
		gates.m[key] = g
	}
	g.refs++
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.windows[rate]
	if w == nil {
		w = connector.NewWindow(rate, rateInterval)
		g.windows[rate] = w
	}
	return g, w
}

// closeGate drops a destination's hold on g; the last one forgets it.
func closeGate(g *gate) {
	gates.Lock()
	defer gates.Unlock()
	g.refs--
	if g.refs <= 0 && gates.m[g.key] == g {
		delete(gates.m, g.key)
	}
}

// wait is how much of the base's penalty is left at now.
func (g *gate) wait(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Before(g.until) {
		return g.until.Sub(now)
	}
	return 0
}

// penalize stops requests to the base until the given time.
func (g *gate) penalize(until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.until) {
		g.until = until
	}
}

// response is a received HTTP answer, body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// penaltyError is the refusal of a request during the base's penalty: it
// was never sent.
func (c *Conn) penaltyError(method, path string, wait time.Duration) *connector.Error {
	return &connector.Error{Class: connector.Retryable, Code: "RATE_LIMIT_PENALTY", RetryAfter: wait,
		Message: fmt.Sprintf("%s %s: not sent: base %s is in Airtable's %v rate-limit penalty for %v more",
			method, path, c.baseID, Penalty, wait.Round(time.Millisecond))}
}

// call sends one request to path (under base_url) with body as JSON. It
// refuses at once while the base is in its penalty, waits for a slot of the
// base's window, and starts the penalty itself on a 429. A transport
// failure is a Retryable *Error whose Sent says whether the request was
// written.
func (c *Conn) call(ctx context.Context, method, path string, body any) (*response, error) {
	if wait := c.gate.wait(c.now()); wait > 0 {
		return nil, c.penaltyError(method, path, wait)
	}
	var raw []byte
	if body != nil {
		var err error
		if raw, err = connector.JSON(body); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.win.Acquire(ctx); err != nil {
		return nil, &connector.Error{Class: connector.Retryable, Err: err,
			Message: fmt.Sprintf("%s %s: waiting for the base's rate limit (%d requests per second): %v", method, path, c.rate, err)}
	}
	// A 429 may have arrived while this request waited for its slot.
	if wait := c.gate.wait(c.now()); wait > 0 {
		c.win.GiveBack()
		return nil, c.penaltyError(method, path, wait)
	}
	defer c.win.Release()

	resp, err := c.rt.Do(ctx, connector.Request{Method: method, URL: c.baseURL + path, Label: method + " " + path, Body: raw})
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusTooManyRequests {
		c.gate.penalize(c.now().Add(penaltyFor(resp.Header)))
	}
	return &response{status: resp.Status, header: resp.Header, body: resp.Body}, nil
}

// penaltyFor is how long a 429 stops the base: Airtable's documented 30
// seconds, or a longer Retry-After should Airtable ever send one.
func penaltyFor(h http.Header) time.Duration {
	if ra := connector.RetryAfterHeader(h, time.Now()); ra > Penalty {
		return ra
	}
	return Penalty
}

// atError is Airtable's error body: {"error":{"type","message"}}, or just
// {"error":"NOT_FOUND"}.
type atError struct {
	Type    string
	Message string
}

func parseError(body []byte) atError {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Error) == 0 {
		return atError{}
	}
	var s string
	if json.Unmarshal(env.Error, &s) == nil {
		return atError{Type: s}
	}
	var e struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(env.Error, &e)
	return atError{Type: e.Type, Message: e.Message}
}

// statusError classifies a non-2xx answer from its status and Airtable's
// body.
func (c *Conn) statusError(r *response) *connector.Error {
	ae := parseError(r.body)
	msg := ae.Message
	if msg == "" {
		msg = ae.Type
	}
	if msg == "" {
		msg = strings.TrimSpace(string(r.body))
	}
	if msg == "" {
		msg = http.StatusText(r.status)
	}
	e := &connector.Error{Class: connector.ClassifyStatus(r.status), Status: r.status, Code: ae.Type, Message: c.trim(msg)}
	switch {
	case r.status == http.StatusTooManyRequests:
		// The gate already holds every request to the base for this long.
		e.RetryAfter = penaltyFor(r.header)
	case r.status == http.StatusNotFound:
		// On a table route: the base or table is gone or renamed, which
		// no retry fixes and every write meets.
		e.Class = connector.Drift
		e.Message = c.trim(fmt.Sprintf("base %s or table %q not found (%s)", c.baseID, c.table, msg))
	case r.status >= 500:
		// A gateway timeout or an overloaded Airtable may have applied the
		// write before failing.
		e.Sent = true
		e.RetryAfter = connector.RetryAfterHeader(r.header, c.now())
	case ae.Type == "UNKNOWN_FIELD_NAME",
		ae.Type == "INVALID_FILTER_BY_FORMULA" && strings.Contains(msg, "Unknown field names"):
		// The table's schema no longer matches the mapping.
		e.Class = connector.Drift
	}
	return e
}

func (c *Conn) redact(s string) string {
	if c.token != "" {
		s = strings.ReplaceAll(s, c.token, redacted)
	}
	return s
}

// trim makes a platform message storable: redacted, valid UTF-8 without
// NULs, at most maxMessageBytes cut on a rune boundary.
func (c *Conn) trim(s string) string {
	return connector.CleanMessage(c.redact(s), maxMessageBytes)
}

// keyText is the text of a cell value as keys compare: numbers without
// exponent or trailing zeros, lists joined with ", ".
func keyText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return v.String()
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = keyText(x)
		}
		return strings.Join(parts, ", ")
	case []string:
		return strings.Join(v, ", ")
	}
	return fmt.Sprint(v)
}

// quote renders s as an Airtable formula string literal: single quotes,
// with backslashes and single quotes escaped by a backslash.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
