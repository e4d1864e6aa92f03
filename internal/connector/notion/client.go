package notion

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

const (
	userAgent = "sluice/1"
	redacted  = "[redacted]"
	// maxBodyRead bounds a response body: a query page of 100 pages fits
	// easily.
	maxBodyRead = 16 << 20
	// maxMessageBytes is how much of a message becomes Error.Message.
	maxMessageBytes = 1024
	// defaultRetryAfter is the wait after a 429 without a usable
	// Retry-After (Notion documents that it always sends one).
	defaultRetryAfter = time.Second
)

// response is a received HTTP answer, body read.
type response struct {
	status int
	header http.Header
	body   []byte
	// write is true when the request could change something.
	write bool
}

// call sends one request to path (under base_url) with body as JSON. It
// first waits out a Retry-After Notion asked for, then takes a slot of the
// rate window (given back one window after the answer arrives, so Notion,
// which counts arrivals, never sees more than the window allows). write
// says whether the request changes anything: a transport failure of a
// write whose request was sent is a Retryable *Error with Sent set; reads
// are never Sent.
func (c *Conn) call(ctx context.Context, method, path string, body any, write bool) (*response, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = connector.JSON(body); err != nil {
			return nil, err
		}
		if len(raw) > MaxPayloadBytes {
			return nil, &connector.Error{Class: connector.Permanent, Code: "TOO_LARGE",
				Message: fmt.Sprintf("%s %s: the request body is %d bytes, more than Notion's %d", method, path, len(raw), MaxPayloadBytes)}
		}
	}
	if err := c.waitPause(ctx, method, path); err != nil {
		return nil, err
	}
	if err := c.limit.Acquire(ctx); err != nil {
		return nil, &connector.Error{Class: connector.Retryable, Err: err,
			Message: fmt.Sprintf("%s %s: waiting for the Notion rate limit: %v", method, path, err)}
	}
	defer c.limit.Release()

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.rt.Do(ctx, connector.Request{Method: method, URL: c.baseURL + path, Label: method + " " + path, Body: raw, Read: !write,
		Header: http.Header{"Notion-Version": {c.version}}})
	if err != nil {
		return nil, err
	}
	return &response{status: resp.Status, header: resp.Header, body: resp.Body, write: write}, nil
}

// waitPause holds a request until a Retry-After Notion gave has passed. If
// ctx ends first, the request is not sent and the error carries the wait
// left.
func (c *Conn) waitPause(ctx context.Context, method, path string) error {
	c.mu.Lock()
	until := c.pausedUntil
	c.mu.Unlock()
	wait := until.Sub(c.now())
	if wait <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && dl.Before(c.now().Add(wait)) {
		return &connector.Error{Class: connector.Retryable, Code: "rate_limited", RetryAfter: wait,
			Message: fmt.Sprintf("%s %s: not sent: Notion asked to wait %s more (Retry-After)", method, path, wait.Round(time.Millisecond))}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return &connector.Error{Class: connector.Retryable, Code: "rate_limited", RetryAfter: until.Sub(c.now()), Err: ctx.Err(),
			Message: fmt.Sprintf("%s %s: not sent: %v while waiting out Notion's Retry-After", method, path, ctx.Err())}
	}
}

// pause makes every request wait until d from now.
func (c *Conn) pause(d time.Duration) {
	until := c.now().Add(d)
	c.mu.Lock()
	if until.After(c.pausedUntil) {
		c.pausedUntil = until
	}
	c.mu.Unlock()
}

// notionError is Notion's error body.
type notionError struct {
	Object    string `json:"object"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// driftMessages are validation errors meaning the database schema no
// longer matches the mapping: a property that is gone, or whose type
// changed.
var driftMessages = []string{"is not a property that exists", "Could not find property with name or id", "is expected to be "}

// statusError classifies a non-200 answer from its status and Notion's
// body.
func (c *Conn) statusError(r *response) *connector.Error {
	var ne notionError
	_ = json.Unmarshal(r.body, &ne)
	msg := ne.Message
	if msg == "" {
		msg = strings.TrimSpace(string(r.body))
	}
	if msg == "" {
		msg = http.StatusText(r.status)
	}
	e := &connector.Error{
		Class:   connector.ClassifyStatus(r.status),
		Status:  r.status,
		Code:    ne.Code,
		Message: c.trim(msg),
	}
	switch {
	case r.status == http.StatusTooManyRequests:
		e.RetryAfter = connector.RetryAfterHeader(r.header, c.now())
		if e.RetryAfter == 0 {
			e.RetryAfter = defaultRetryAfter
		}
		c.pause(e.RetryAfter)
	case r.status == http.StatusConflict:
		// conflict_error: "the transaction could not be completed ... try
		// again". Nothing was saved, so a retry is safe.
		e.Class = connector.Retryable
	case r.status >= 500:
		// A 503 after Notion's 60-second limit, or a gateway error, may
		// come after a write was applied.
		e.Sent = r.write
		if ra := connector.RetryAfterHeader(r.header, c.now()); ra > 0 {
			e.RetryAfter = ra
			c.pause(ra)
		}
	case r.status == http.StatusBadRequest && ne.Code == "validation_error":
		for _, m := range driftMessages {
			if strings.Contains(msg, m) {
				e.Class = connector.Drift
				c.forgetSchema()
				break
			}
		}
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

// decodeJSON decodes a Notion answer.
func decodeJSON(b []byte, v any) error { return json.Unmarshal(b, v) }
