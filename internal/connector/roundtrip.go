package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// UserAgent is what every connector sends as User-Agent.
const UserAgent = "sluice/1"

// DefaultMaxBody bounds a response body read by RoundTrip.Do: a batch of a
// hundred records with every field fits easily, and a receiver cannot make
// Sluice hold more.
const DefaultMaxBody = 8 << 20

// RoundTrip is the HTTP exchange every HTTP connector shares: it builds the
// request with the connector's headers and credentials, notes when the
// headers were written (so a failure after that is Sent: the write may
// have been applied), bounds the time and the body read, and turns a
// transport failure into a Retryable *Error whose message names the
// request, says whether it timed out before or after sending, and holds no
// secret. Status handling stays with the connector: every platform words
// its errors differently.
type RoundTrip struct {
	// Client sends the request; HTTPClient builds the guarded one.
	Client *http.Client
	// Header is sent with every request (Authorization, a version header).
	Header http.Header
	// Auth, when set, adds credentials to each request after Header: the
	// hook for credentials that expire and are refreshed. An error stops
	// the request before it is sent; return an *Error of class Auth when
	// the credential cannot be had.
	Auth func(ctx context.Context, h http.Header) error
	// Timeout bounds one exchange, headers and body; 0 means none beyond
	// ctx.
	Timeout time.Duration
	// MaxBody bounds a response body; 0 means DefaultMaxBody.
	MaxBody int64
	// Redact removes credentials from every message; nil keeps messages
	// as they are.
	Redact func(string) string
}

// Request is one call.
type Request struct {
	Method string
	// URL is absolute.
	URL string
	// Label names the request in messages ("POST /crm/v3/objects",
	// "chat.postMessage"); default the method and the URL's path, never
	// its query (which may hold a credential).
	Label string
	// Body is sent as is; JSON encodes a value for it.
	Body []byte
	// ContentType defaults to application/json when Body is set.
	ContentType string
	// Header adds to (and overrides) the RoundTrip's headers.
	Header http.Header
	// Read marks a request that changes nothing: its failures are never
	// Sent, since repeating it cannot duplicate anything.
	Read bool
	// Redact replaces the RoundTrip's for this request (a request whose
	// rendered headers carry their own secrets).
	Redact func(string) string
}

// Response is an answer with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON encodes v as a request body; a value that cannot be encoded is a
// Permanent error (the same record will never encode).
func JSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Class: Permanent, Code: "UNENCODABLE", Message: "encode request: " + err.Error(), Err: err}
	}
	return b, nil
}

// Bearer is the Authorization header of a bearer token.
func Bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

func (rt *RoundTrip) redactor(q Request) func(string) string {
	switch {
	case q.Redact != nil:
		return q.Redact
	case rt.Redact != nil:
		return rt.Redact
	}
	return func(s string) string { return s }
}

func label(q Request, u *url.URL) string {
	if q.Label != "" {
		return q.Label
	}
	if u == nil {
		return q.Method
	}
	return q.Method + " " + u.EscapedPath()
}

// Do sends q and reads the answer, whatever its status.
func (rt *RoundTrip) Do(ctx context.Context, q Request) (*Response, error) {
	if rt.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rt.Timeout)
		defer cancel()
	}
	var rd io.Reader
	if q.Body != nil {
		rd = bytes.NewReader(q.Body)
	}
	req, err := http.NewRequestWithContext(ctx, q.Method, q.URL, rd)
	if err != nil {
		return nil, &Error{Class: Permanent, Err: err, Message: rt.redactor(q)(fmt.Sprintf("%s: build request: %v", label(q, nil), err))}
	}
	if q.Body != nil {
		req.Header.Set("Content-Type", "application/json")
		if q.ContentType != "" {
			req.Header.Set("Content-Type", q.ContentType)
		}
	}
	for k, vs := range q.Header {
		req.Header[k] = vs
	}
	return rt.Send(req, q)
}

// Send sends a request the connector built itself (templated URLs and
// headers, a signature over the body) with q's Label, Read and Redact, and
// reads the answer. The RoundTrip's headers, User-Agent and Accept are set
// where req has none.
func (rt *RoundTrip) Send(req *http.Request, q Request) (*Response, error) {
	redact, name := rt.redactor(q), label(q, req.URL)
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	for k, vs := range rt.Header {
		if _, set := req.Header[k]; !set {
			req.Header[k] = vs
		}
	}
	if rt.Timeout > 0 {
		if _, has := req.Context().Deadline(); !has {
			ctx, cancel := context.WithTimeout(req.Context(), rt.Timeout)
			defer cancel()
			req = req.WithContext(ctx)
		}
	}
	if rt.Auth != nil {
		if err := rt.Auth(req.Context(), req.Header); err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				return nil, err
			}
			return nil, &Error{Class: Retryable, Err: err, Message: redact(fmt.Sprintf("%s: not sent: credentials: %v", name, err))}
		}
	}
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}))
	resp, err := rt.Client.Do(req)
	if err != nil {
		// url.Error repeats the whole URL, which may hold a credential
		// (a webhook path, a query token): keep only the cause.
		inner := err
		var ue *url.Error
		if errors.As(err, &ue) {
			inner = ue.Err
		}
		cause := inner.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			cause = "timed out"
			if wrote.Load() {
				cause = "timed out waiting for the response"
			}
		}
		return nil, &Error{Class: Retryable, Sent: !q.Read && wrote.Load(), Err: inner,
			Message: redact(fmt.Sprintf("%s: %s", name, cause))}
	}
	defer resp.Body.Close()
	max := rt.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max))
	if err != nil {
		// The platform answered but the answer was lost: a write may
		// have been applied.
		return nil, &Error{Class: Retryable, Status: resp.StatusCode, Sent: !q.Read, Err: err,
			Message: redact(fmt.Sprintf("%s: read response: %v", name, err))}
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// Redactor replaces each of its secrets with "[redacted]", longest first so
// a secret containing another is removed whole. Values shorter than three
// bytes are ignored: they would redact ordinary words.
type Redactor []string

// NewRedactor keeps the non-trivial secrets, longest first.
func NewRedactor(secrets ...string) Redactor {
	var r Redactor
	for _, s := range secrets {
		if len(s) >= 3 {
			r = append(r, s)
		}
	}
	sort.Slice(r, func(i, j int) bool { return len(r[i]) > len(r[j]) })
	return r
}

// Redact removes every secret from s.
func (r Redactor) Redact(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}
