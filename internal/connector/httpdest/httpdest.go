// Package httpdest is the generic HTTP/webhook destination, registered as
// type "http": it sends each mapped record as JSON to a URL built from a
// template, for receivers no platform connector covers (internal services,
// Zapier-style hooks, custom APIs). It owns the request shape (idempotency
// key, auth, body signature), the classification of responses into
// connector.Error, and keeping secrets out of everything it reports.
package httpdest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

// Kind is the destination type this package registers.
const Kind = "http"

func init() { connector.Register(Kind, Open) }

// Header names Sluice sets on every request; options may not override them.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderSignature      = "X-Sluice-Signature"
	HeaderTimestamp      = "X-Sluice-Timestamp"
)

const (
	// DefaultTimeout bounds one request when Options.Timeout is empty.
	DefaultTimeout = 10 * time.Second
	// DefaultIDField is where the external ID is read from a response body
	// when Options.IDField is empty.
	DefaultIDField = "id"

	userAgent = "sluice/1"
	// maxMessageBytes is how much of an error body becomes Error.Message.
	maxMessageBytes = 512
	// maxErrorRead is read before redaction, so a secret straddling the
	// 512-byte cut is still found whole.
	maxErrorRead = 4 << 10
	// maxBodyRead bounds how much of a success or lookup body is parsed.
	maxBodyRead = 1 << 20
	redacted    = "[redacted]"
)

// Options configure one HTTP destination. URL, UpdateURL, LookupURL and
// Headers values are text/template templates over connector.Delivery
// ({{.RecordKey}}, {{.ExternalID}}, {{.EventID}}, {{.Route}},
// {{index .Payload "field"}}, {{index .Upstream "crm"}}). A missing field is
// an error rather than "<no value>". In URL templates every value is
// percent-encoded, so a record key cannot add path segments or query
// parameters; {{raw .X}} opts out, and the scheme and host must be literal
// text.
type Options struct {
	// URL receives new records; required, absolute http(s).
	URL string `json:"url"`
	// Method for new records; default POST.
	Method string `json:"method"`
	// UpdateURL receives records whose ExternalID is known; default URL.
	UpdateURL string `json:"update_url"`
	// UpdateMethod for records whose ExternalID is known (PUT, PATCH);
	// default Method. With neither UpdateURL nor UpdateMethod set, an update
	// is sent exactly like a create.
	UpdateMethod string `json:"update_method"`
	// Headers are added to every request. Values of headers whose name looks
	// like a credential (authorization, token, key, secret, ...) are redacted
	// from errors and String.
	Headers map[string]string `json:"headers"`
	// BearerToken is sent as "Authorization: Bearer <token>".
	BearerToken string `json:"bearer_token"`
	// HMACSecret signs the body so the receiver can authenticate Sluice:
	// X-Sluice-Signature is "sha256=<hex HMAC-SHA256 of the body>" (the
	// GitHub format, verifiable by Sluice's own hmac-sha256 source scheme)
	// and X-Sluice-Timestamp is the send time in unix seconds. The timestamp
	// is informational: it is not covered by the signature.
	HMACSecret string `json:"hmac_secret"`
	// Timeout bounds one request as a Go duration; default 10s.
	Timeout string `json:"timeout"`
	// RatePerSecond is the steady request rate the engine keeps to; 0 means
	// unlimited.
	RatePerSecond float64 `json:"rate_per_second"`
	// Burst is the token bucket size; 0 means 1.
	Burst int `json:"burst"`
	// Concurrency is the number of requests in flight; 0 means the engine
	// default (4).
	Concurrency int `json:"concurrency"`
	// IDField is the field of a JSON response body holding the receiver's ID
	// for the record, dotted for nesting ("data.id"); default "id". When the
	// response has none, the external ID is the known ExternalID, else the
	// record key.
	IDField string `json:"id_field"`
	// LookupURL, when set, is fetched with GET to find a record by key
	// (only {{.RecordKey}} is known then): 200 means found (the body, or the
	// single element of a JSON array, is the record and IDField gives its
	// ID), 404 or an empty array means not found. It makes the connector a
	// connector.Looker and lets it resolve ambiguous retries.
	LookupURL string `json:"lookup_url"`
	// Egress guards every connection to the destination; Open sets it
	// from the destination's allow_private_network. Configs cannot set it
	// here.
	Egress egress.Policy `json:"-"`
}

// Conn is an HTTP destination without lookup. It is safe for concurrent use.
type Conn struct {
	name        string
	create      endpoint
	update      endpoint
	hasUpdate   bool
	lookup      *endpoint // nil without LookupURL
	headers     []header
	bearer      string
	hmacSecret  []byte
	timeout     time.Duration
	idPath      []string
	constraints connector.Constraints
	rt          *connector.RoundTrip
	transport   *http.Transport
	client      *http.Client
	// secrets are the configured values redacted from every message.
	secrets []string
	now     func() time.Time
	// sendsRaw: no URL or header template reads the payload, so the body
	// is the stored JSON as it is (connector.RawSender).
	sendsRaw bool
}

var _ connector.RawSender = (*Conn)(nil)

// SendsRaw implements connector.RawSender: true unless a URL or header
// template reads the payload, which needs it decoded.
func (c *Conn) SendsRaw() bool { return c.sendsRaw }

// LookupConn is an HTTP destination with LookupURL set. It is a separate type
// so that only a connector that can really look up satisfies
// connector.Looker, which the engine discovers by type assertion.
type LookupConn struct {
	*Conn
}

var (
	_ connector.Connector = (*Conn)(nil)
	_ connector.Connector = (*LookupConn)(nil)
	_ connector.Looker    = (*LookupConn)(nil)
	_ fmt.Stringer        = (*Conn)(nil)
	_ fmt.GoStringer      = (*Conn)(nil)
)

type endpoint struct {
	method string
	url    *template.Template
	origin string
	// literal is the URL when the template prints nothing from the
	// delivery (the usual case), parsed and checked against origin once
	// instead of rendered, parsed and checked for every request.
	literal string
}

type header struct {
	name      string
	value     *template.Template
	sensitive bool
}

// Open is the connector.Factory for type "http": it decodes raw options,
// rejecting unknown keys, and calls New.
func Open(p connector.Params) (connector.Connector, error) {
	var o Options
	if err := Spec.Decode(p, &o); err != nil {
		return nil, err
	}
	o.Egress = p.Egress()
	return New(p.Name, o)
}

// New validates o and builds the destination: a *LookupConn when LookupURL is
// set, else a *Conn. Every template is parsed here so a mistake fails
// `sluice check`, not the first delivery.
func New(name string, o Options) (connector.Connector, error) {
	c := &Conn{name: name, bearer: o.BearerToken, now: time.Now}
	var err error
	var user *url.Userinfo
	if c.create, user, err = newEndpoint("url", o.URL, o.Method, "POST"); err != nil {
		return nil, err
	}
	c.secrets = appendPassword(c.secrets, user)
	c.update = c.create
	if o.UpdateURL != "" || o.UpdateMethod != "" {
		c.hasUpdate = true
		src := cmp.Or(o.UpdateURL, o.URL)
		if c.update, user, err = newEndpoint("update_url", src, o.UpdateMethod, c.create.method); err != nil {
			return nil, err
		}
		c.secrets = appendPassword(c.secrets, user)
	}
	if o.LookupURL != "" {
		lk, user, err := newEndpoint("lookup_url", o.LookupURL, "GET", "GET")
		if err != nil {
			return nil, err
		}
		c.lookup = &lk
		c.secrets = appendPassword(c.secrets, user)
	}

	names := make([]string, 0, len(o.Headers))
	for n := range o.Headers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h, err := newHeader(n, o.Headers[n], o.BearerToken != "")
		if err != nil {
			return nil, err
		}
		if h.sensitive {
			// A literal value is the secret itself; a templated one is
			// redacted per request once rendered.
			c.secrets = append(c.secrets, o.Headers[n])
		}
		c.headers = append(c.headers, h)
	}

	if hasControl(o.BearerToken) {
		return nil, errors.New("options.bearer_token: contains a control character")
	}
	if o.HMACSecret != "" {
		c.hmacSecret = []byte(o.HMACSecret)
	}
	c.secrets = append(c.secrets, o.BearerToken, o.HMACSecret)

	c.timeout = DefaultTimeout
	if o.Timeout != "" {
		if c.timeout, err = time.ParseDuration(o.Timeout); err != nil || c.timeout <= 0 {
			return nil, fmt.Errorf("options.timeout: %q is not a positive Go duration", o.Timeout)
		}
	}
	switch {
	case o.RatePerSecond < 0:
		return nil, errors.New("options.rate_per_second: must not be negative")
	case o.Burst < 0:
		return nil, errors.New("options.burst: must not be negative")
	case o.Concurrency < 0:
		return nil, errors.New("options.concurrency: must not be negative")
	}
	idField := cmp.Or(o.IDField, DefaultIDField)
	c.idPath = strings.Split(idField, ".")
	if slices.Contains(c.idPath, "") {
		return nil, fmt.Errorf("options.id_field: %q has an empty path element", idField)
	}
	c.constraints = connector.Constraints{
		RatePerSecond: o.RatePerSecond,
		Burst:         o.Burst,
		BatchSize:     1,
		Timeout:       c.timeout,
		Concurrency:   o.Concurrency,
		Upsert:        false,
	}

	c.client, c.transport = connector.HTTPClient(name, o.Egress)
	c.rt = &connector.RoundTrip{Client: c.client, MaxBody: maxBodyRead}
	// Keep a connection for every request that may be in flight: without
	// a concurrency option the engine adapts it up to 64
	// (delivery.MaxConcurrency), and connections beyond the idle pool
	// would be closed after each request and dialled again.
	c.transport.MaxIdleConnsPerHost = max(o.Concurrency, 64)
	// Sorted once here: a request without sensitive header values of its
	// own redacts with this slice as it is, shared and never changed.
	redactor(c.secrets).sort()
	c.sendsRaw = !readsPayload(c.create.url) && !(c.hasUpdate && readsPayload(c.update.url))
	for _, h := range c.headers {
		c.sendsRaw = c.sendsRaw && !readsPayload(h.value)
	}
	if c.lookup != nil {
		return &LookupConn{Conn: c}, nil
	}
	return c, nil
}

func newEndpoint(field, src, method, def string) (endpoint, *url.Userinfo, error) {
	if src == "" {
		return endpoint{}, nil, fmt.Errorf("options.%s: required", field)
	}
	t, err := parseTemplate(field, src, fnURLEscape)
	if err != nil {
		return endpoint{}, nil, fmt.Errorf("options.%s: %w", field, err)
	}
	origin, user, err := fixedOrigin(t)
	if err != nil {
		return endpoint{}, nil, fmt.Errorf("options.%s: %w", field, err)
	}
	m := strings.ToUpper(cmp.Or(method, def))
	if !isToken(m) {
		return endpoint{}, nil, fmt.Errorf("options.%s: method %q is not an HTTP method", strings.TrimSuffix(field, "url")+"method", method)
	}
	ep := endpoint{method: m, url: t, origin: origin}
	if text, ok := literalText(t); ok {
		if u, err := url.Parse(text); err == nil && u.Scheme+"://"+u.Host == origin {
			ep.literal = u.String()
		}
	}
	return ep, user, nil
}

func newHeader(name, value string, hasBearer bool) (header, error) {
	if !isToken(name) {
		return header{}, fmt.Errorf("options.headers: %q is not a valid header name", name)
	}
	canon := http.CanonicalHeaderKey(name)
	switch canon {
	case "Host", "Content-Length", "Transfer-Encoding", "Connection", HeaderIdempotencyKey, HeaderSignature, HeaderTimestamp:
		return header{}, fmt.Errorf("options.headers.%s: set by Sluice, cannot be overridden", canon)
	case "Authorization":
		if hasBearer {
			return header{}, errors.New("options.headers.Authorization: conflicts with bearer_token")
		}
	}
	t, err := parseTemplate(canon, value, fnText)
	if err != nil {
		return header{}, fmt.Errorf("options.headers.%s: %w", canon, err)
	}
	return header{name: canon, value: t, sensitive: sensitiveName(canon)}, nil
}

// sensitiveName reports whether a header probably carries a credential.
func sensitiveName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "token", "key", "secret", "pass", "cookie", "session", "signature", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// hasControl reports bytes net/http refuses in a header value; checking first
// keeps the value out of net/http's error.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

func appendPassword(secrets []string, u *url.Userinfo) []string {
	if p, ok := u.Password(); ok {
		return append(secrets, p)
	}
	return secrets
}

// isToken reports whether s is an RFC 9110 token, the syntax of methods and
// header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// Constraints reports the limits from the options; the engine enforces them.
func (c *Conn) Constraints() connector.Constraints { return c.constraints }

// Close releases idle connections.
func (c *Conn) Close(context.Context) error {
	c.transport.CloseIdleConnections()
	return nil
}

// Deliver sends d.Payload as JSON (or d.Raw, the same JSON as stored): to
// the update endpoint when d.ExternalID is known, else to the create
// endpoint. A 2xx is success; anything else, or no response, is a
// *connector.Error.
func (c *Conn) Deliver(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	ep := c.create
	if d.ExternalID != "" {
		ep = c.update
	}
	body := []byte("{}")
	switch {
	case d.Payload != nil:
		var err error
		if body, err = json.Marshal(d.Payload); err != nil {
			return connector.Result{}, &connector.Error{Class: connector.Permanent, Message: "encode payload: " + err.Error(), Err: err}
		}
	case len(d.Raw) > 0:
		body = d.Raw // the stored JSON, what the encode above writes of it
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, red, err := c.newRequest(ctx, ep, d, body)
	if err != nil {
		return connector.Result{}, err
	}
	if d.ID != "" {
		req.Header.Set(HeaderIdempotencyKey, d.ID)
	}
	resp, err := c.do(req, ep, red)
	if err != nil {
		return connector.Result{}, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return connector.Result{}, c.statusError(resp, red)
	}
	raw := resp.Body
	id := ""
	if v, err := decodeJSON(raw); err == nil {
		id = idAt(v, c.idPath)
	}
	if id == "" {
		id = cmp.Or(d.ExternalID, d.RecordKey)
	}
	return connector.Result{ExternalID: id, Status: resp.Status}, nil
}

// Deliver looks the record up before writing again when an earlier attempt
// may have created it (d.Ambiguous without an ExternalID), so a timeout after
// send does not become a duplicate. If the record exists it is updated
// through the update endpoint, or, when none is configured, the earlier
// attempt is taken as the write.
func (c *LookupConn) Deliver(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	if !d.Ambiguous || d.ExternalID != "" {
		return c.Conn.Deliver(ctx, d)
	}
	id, _, found, err := c.Lookup(ctx, d.RecordKey)
	if err != nil {
		// The earlier attempt is still unresolved, whatever the lookup's
		// own request did.
		ce := *connector.Classify(err)
		ce.Sent = true
		ce.Message = "lookup before rewriting an ambiguous delivery: " + ce.Message
		return connector.Result{}, &ce
	}
	if !found {
		return c.Conn.Deliver(ctx, d)
	}
	if c.hasUpdate {
		d.ExternalID = id
		return c.Conn.Deliver(ctx, d)
	}
	return connector.Result{ExternalID: id, Status: http.StatusOK, Message: "found by lookup: the earlier attempt was applied"}, nil
}

// Lookup finds the record for recordKey through LookupURL.
func (c *LookupConn) Lookup(ctx context.Context, recordKey string) (externalID string, fields map[string]any, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ep := *c.lookup
	req, red, err := c.newRequest(ctx, ep, connector.Delivery{RecordKey: recordKey}, nil)
	if err != nil {
		return "", nil, false, err
	}
	resp, err := c.do(req, ep, red)
	if err != nil {
		return "", nil, false, err
	}
	switch {
	case resp.Status == http.StatusNotFound:
		return "", nil, false, nil
	case resp.Status < 200 || resp.Status > 299:
		return "", nil, false, c.statusError(resp, red)
	}
	bad := func(msg string, err error) error {
		return &connector.Error{Class: connector.Permanent, Status: resp.Status, Sent: true, Err: err,
			Message: red.redact(fmt.Sprintf("GET %s: lookup %s", ep.origin, msg))}
	}
	v, err := decodeJSON(resp.Body)
	if err != nil {
		return "", nil, false, bad("response is not JSON", err)
	}
	if list, ok := v.([]any); ok {
		switch len(list) {
		case 0:
			return "", nil, false, nil
		case 1:
			v = list[0]
		default:
			return "", nil, false, &connector.Error{Class: connector.Conflict, Status: resp.Status, Sent: true,
				Message: fmt.Sprintf("GET %s: lookup matched %d records", ep.origin, len(list))}
		}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return "", nil, false, bad("response is not a JSON object", nil)
	}
	externalID = cmp.Or(idAt(obj, c.idPath), recordKey)
	return externalID, plainNumbers(obj).(map[string]any), true, nil
}

// newRequest renders ep for d and sets every header. The redactor it returns
// knows this request's rendered credential values as well as the configured
// ones.
func (c *Conn) newRequest(ctx context.Context, ep endpoint, d connector.Delivery, body []byte) (*http.Request, redactor, error) {
	red := redactor(c.secrets) // sorted in New; cloned before it grows
	grown := false
	fail := func(what string, err error) error {
		return &connector.Error{Class: connector.Permanent, Code: connector.CodeTemplate, Err: err,
			Message: red.redact(fmt.Sprintf("%s %s: %s: %v", ep.method, ep.origin, what, err))}
	}
	var b strings.Builder
	target := ep.literal
	if target == "" {
		if err := ep.url.Execute(&b, d); err != nil {
			return nil, nil, fail("render url", err)
		}
		u, err := url.Parse(b.String())
		if err != nil || u.Scheme+"://"+u.Host != ep.origin {
			// Unreachable when the template's origin is literal and values are
			// escaped; kept because the cost of being wrong is a leaked token.
			return nil, nil, fail("render url", errors.New("rendered URL is not under the configured origin"))
		}
		target = u.String()
	}
	headers := make(http.Header, len(c.headers)+8)
	for _, h := range c.headers {
		b.Reset()
		if err := h.value.Execute(&b, d); err != nil {
			return nil, nil, fail("render header "+h.name, err)
		}
		v := b.String()
		if h.sensitive {
			if !grown {
				red, grown = slices.Clone(red), true
			}
			red = append(red, v)
		}
		if hasControl(v) {
			return nil, nil, fail("render header "+h.name, errors.New("value contains a control character"))
		}
		headers.Set(h.name, v)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, ep.method, target, rd)
	if err != nil {
		return nil, nil, fail("build request", err)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range headers {
		req.Header[k] = vs
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.hmacSecret != nil {
		m := hmac.New(sha256.New, c.hmacSecret)
		m.Write(body)
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(c.now().Unix(), 10))
		req.Header.Set(HeaderSignature, "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	if grown {
		red.sort()
	}
	return req, red, nil
}

// do sends req through the kit's round trip: a transport failure is a
// Retryable error whose Sent says whether the request headers were written
// (a refused connection is safe to retry blindly, a timeout after sending
// is not), named by the origin only, since the URL may hold a credential.
func (c *Conn) do(req *http.Request, ep endpoint, red redactor) (*connector.Response, error) {
	return c.rt.Send(req, connector.Request{Label: ep.method + " " + ep.origin, Redact: red.redact})
}

// statusError classifies a non-2xx response. Its message is the receiver's
// own body, redacted and trimmed, because that is what a person fixing the
// data needs to read.
func (c *Conn) statusError(resp *connector.Response, red redactor) *connector.Error {
	raw := resp.Body
	if len(raw) > maxErrorRead {
		raw = raw[:maxErrorRead]
	}
	msg := trimMessage(red.redact(string(raw)))
	if msg == "" {
		msg = http.StatusText(resp.Status)
	}
	return &connector.Error{
		Class:      connector.ClassifyStatus(resp.Status),
		Status:     resp.Status,
		Message:    msg,
		RetryAfter: connector.RetryAfterHeader(resp.Header, c.now()),
		Sent:       true,
	}
}

// trimMessage makes a response body storable: valid UTF-8 without NULs (which
// PostgreSQL text refuses), at most maxMessageBytes, cut on a rune boundary.
func trimMessage(s string) string {
	return connector.CleanMessage(s, maxMessageBytes)
}

// decodeJSON keeps numbers as json.Number so a 64-bit ID survives intact.
func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// idAt returns the string or number at path, "" when there is none.
func idAt(v any, path []string) string {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// plainNumbers converts json.Number back to float64, the representation
// payloads use everywhere else, so fields compare equal.
func plainNumbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = plainNumbers(e)
		}
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	}
	return v
}

// redactor replaces credential values in text that leaves the connector.
type redactor []string

// sort orders longest first, so a secret containing another is replaced
// whole.
func (r redactor) sort() {
	slices.SortFunc(r, func(a, b string) int { return len(b) - len(a) })
}

func (r redactor) redact(s string) string {
	for _, sec := range r {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// String describes the destination for logs and `sluice check` without any
// credential: URLs are shown as their origin only, since a webhook URL's
// path can itself be the secret, and headers by name only.
func (c *Conn) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "http destination %q: %s %s", c.name, c.create.method, c.create.origin)
	if c.hasUpdate {
		fmt.Fprintf(&b, ", update %s %s", c.update.method, c.update.origin)
	}
	if c.lookup != nil {
		fmt.Fprintf(&b, ", lookup GET %s", c.lookup.origin)
	}
	if c.bearer != "" {
		b.WriteString(", bearer_token " + redacted)
	}
	if c.hmacSecret != nil {
		b.WriteString(", hmac_secret " + redacted)
	}
	if len(c.headers) > 0 {
		names := make([]string, len(c.headers))
		for i, h := range c.headers {
			names[i] = h.name
		}
		fmt.Fprintf(&b, ", headers %s", strings.Join(names, " "))
	}
	return b.String()
}

// GoString keeps %#v from printing the struct, secrets included.
func (c *Conn) GoString() string { return c.String() }
