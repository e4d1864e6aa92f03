// Package httperr is how every Sluice HTTP handler fails: a handler returns
// an error; an *Error carries the status and the message safe for the
// client, while its wrapped Err goes only to the log. Anything else becomes
// a 500 with a generic message, so internal details never leak.
package httperr

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Error is a client-facing failure.
type Error struct {
	Code int
	// Kind is a stable machine-readable name ("bad_signature").
	Kind string
	// Msg is shown to the client.
	Msg string
	// Details is extra JSON for the client (field errors, missing fields).
	Details map[string]any
	// RetryAfter sets the Retry-After header when positive.
	RetryAfter time.Duration
	// Err is logged, never sent.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// New makes an *Error.
func New(code int, kind, msg string) *Error { return &Error{Code: code, Kind: kind, Msg: msg} }

// HandlerFunc is an http handler that may fail.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts h to http.Handler, writing failures as JSON
// {"error": {"code", "kind", "message", ...details}} and logging them.
func Handle(log *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var he *Error
		if !errors.As(err, &he) {
			he = &Error{Code: http.StatusInternalServerError, Kind: "internal", Msg: "internal error", Err: err}
		}
		// A 4xx is the client's mistake and already told to it; logging
		// each at info would let one misconfigured sender drown the log.
		level := slog.LevelDebug
		if he.Code >= 500 {
			level = slog.LevelError
		}
		log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", he.Code, "kind", he.Kind, "err", he.Error())
		Write(w, he)
	})
}

// Write sends he as the JSON error body.
func Write(w http.ResponseWriter, he *Error) {
	body := map[string]any{"code": he.Code, "kind": he.Kind, "message": he.Msg}
	for k, v := range he.Details {
		body[k] = v
	}
	if he.RetryAfter > 0 {
		secs := int((he.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	JSON(w, he.Code, map[string]any{"error": body})
}

// JSONBytes is JSON for a body its caller encoded already, exactly as
// JSON would have (same headers).
func JSONBytes(w http.ResponseWriter, code int, body []byte) {
	SecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// JSON writes v with status code. Answers hold records and audit entries,
// so no browser may sniff them into something executable and no cache may
// keep them.
func JSON(w http.ResponseWriter, code int, v any) {
	e := encoders.Get().(*encoder)
	e.buf.Reset()
	var body []byte // nothing written if v does not encode
	if e.enc.Encode(v) == nil {
		body = e.buf.Bytes()
	}
	JSONBytes(w, code, body)
	if e.buf.Cap() <= maxPooledAnswer {
		encoders.Put(e)
	}
}

// encoder is an indenting JSON encoder with its buffer; JSON pools them,
// as every intake answer built a fresh one (its own indent buffer too).
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// maxPooledAnswer bounds the buffers kept for reuse: a large listing's
// buffer is left to the collector instead of being held by the pool.
const maxPooledAnswer = 64 << 10

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetIndent("", "  ")
	return e
}}

// SecurityHeaders sets what every Sluice answer carries: nosniff (a JSON
// body is never rendered as HTML or script) and no-store (no proxy or
// browser cache keeps records, tokens' effects or audit entries).
func SecurityHeaders(h http.Header) {
	// The server's middleware set them already on most answers; setting
	// them again cost an allocation each.
	setOnce(h, "X-Content-Type-Options", "nosniff")
	setOnce(h, "Cache-Control", "no-store")
}

// setOnce is h.Set(key, value) unless key (canonical) already holds
// exactly value.
func setOnce(h http.Header, key, value string) {
	if v := h[key]; len(v) == 1 && v[0] == value {
		return
	}
	h.Set(key, value)
}
