package sheets

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

const (
	userAgent = "sluice/1"
	redacted  = "[redacted]"
	// maxBodyRead bounds a response body: a key column of a large sheet
	// is a few megabytes at most.
	maxBodyRead = 32 << 20
	// maxMessageBytes is how much of a message becomes Error.Message.
	maxMessageBytes = 1024
	// quotaWait is how long a 429 holds the destination off: Sheets'
	// quotas refill every minute and it sends no Retry-After.
	quotaWait = time.Minute
)

// response is a received HTTP answer, body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request is one call to the Sheets API.
type request struct {
	method string
	// path is under base_url, already escaped; query is added as given.
	path  string
	query url.Values
	body  any
	// write says which quota the request uses and whether a failure after
	// sending is ambiguous.
	write bool
}

func (q request) describe() string { return q.method + " " + q.path }

// call sends one request after taking a slot of the read or write window.
// A transport failure is a Retryable *Error whose Sent says whether a
// write may have been applied.
func (c *Conn) call(ctx context.Context, q request) (*response, error) {
	var raw []byte
	if q.body != nil {
		var err error
		if raw, err = connector.JSON(q.body); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	win := c.reads
	if q.write {
		win = c.writes
	}
	if err := win.Acquire(ctx); err != nil {
		return nil, &connector.Error{Class: connector.Retryable, Err: err,
			Message: fmt.Sprintf("%s: waiting for the Sheets quota: %v", q.describe(), err)}
	}
	defer win.Release()

	u := c.baseURL + q.path
	if len(q.query) > 0 {
		u += "?" + q.query.Encode()
	}
	resp, err := c.rt.Do(ctx, connector.Request{Method: q.method, URL: u, Label: q.describe(), Body: raw, Read: !q.write})
	if err != nil {
		return nil, err
	}
	return &response{status: resp.Status, header: resp.Header, body: resp.Body}, nil
}

// googleError is Google's JSON error body.
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Errors  []struct {
			Reason string `json:"reason"`
		} `json:"errors"`
		Details []struct {
			Type     string            `json:"@type"`
			Reason   string            `json:"reason"`
			Metadata map[string]string `json:"metadata"`
		} `json:"details"`
	} `json:"error"`
}

const unparsablePrefix = "Unable to parse range:"

// statusError classifies a non-2xx answer from its status and Google's
// body. write says whether the request could have changed the sheet.
func (c *Conn) statusError(q request, r *response) *connector.Error {
	var ge googleError
	isJSON := json.Unmarshal(r.body, &ge) == nil && ge.Error.Code != 0
	msg := ge.Error.Message
	if msg == "" {
		// Google's front end answers some errors (502) with an HTML page:
		// keep it out of the message.
		msg = http.StatusText(r.status)
		if msg == "" {
			msg = "HTTP " + strconv.Itoa(r.status)
		}
		if !isJSON {
			msg += " (Sheets answered without a JSON error body)"
		}
	}
	e := &connector.Error{
		Class:   connector.ClassifyStatus(r.status),
		Status:  r.status,
		Code:    ge.Error.Status,
		Message: c.trim(q.describe() + ": " + msg),
	}
	rateLimited := r.status == http.StatusTooManyRequests || ge.Error.Status == "RESOURCE_EXHAUSTED"
	for _, le := range ge.Error.Errors {
		if le.Reason == "rateLimitExceeded" || le.Reason == "userRateLimitExceeded" {
			rateLimited = true
		}
	}
	for _, d := range ge.Error.Details {
		if d.Reason == "RATE_LIMIT_EXCEEDED" {
			rateLimited = true
			if ql := d.Metadata["quota_limit"]; ql != "" {
				e.Code = ql
			}
		}
	}
	switch {
	case rateLimited:
		e.Class = connector.Retryable
		e.RetryAfter = quotaWait
		if ra := connector.RetryAfterHeader(r.header, time.Now()); ra > 0 {
			e.RetryAfter = ra
		}
		if e.Code == "" {
			e.Code = "RESOURCE_EXHAUSTED"
		}
	case r.status >= 500:
		// An overloaded or timed-out backend may have applied a write
		// before failing.
		e.Sent = q.write
		e.RetryAfter = connector.RetryAfterHeader(r.header, time.Now())
	case r.status == http.StatusNotFound:
		// The spreadsheet is gone, or no longer shared with this
		// account: every write would fail the same way.
		e.Class = connector.Drift
		e.Message = c.trim(fmt.Sprintf("spreadsheet %s: %s (deleted, or not shared with the account the token belongs to)", c.spreadsheetID, msg))
	case r.status == http.StatusBadRequest && strings.HasPrefix(msg, unparsablePrefix):
		// The tab was renamed or deleted.
		e.Class = connector.Drift
		e.Message = c.trim(fmt.Sprintf("%s (does sheet %q still exist in spreadsheet %s?)", msg, c.sheet, c.spreadsheetID))
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

// decodeJSON decodes a Sheets answer, numbers as json.Number.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}
