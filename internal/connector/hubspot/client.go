package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

const (
	userAgent = "sluice/1"
	redacted  = "[redacted]"
	// maxBodyRead bounds a response body: a batch of 100 records with every
	// property fits easily.
	maxBodyRead = 8 << 20
	// maxMessageBytes is how much of a message becomes Error.Message.
	maxMessageBytes = 1024
	// lockWait is how long HubSpot's record locks last (423).
	lockWait = 2 * time.Second
)

// response is a received HTTP answer, body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request to path (under base_url) with body as JSON, after
// taking a slot of each limiter. The slots are given back one window after
// the answer arrives, so HubSpot, which counts arrivals, never sees more
// than the window's limit. A transport failure is a Retryable *Error whose
// Sent says whether the request was written.
func (c *Conn) call(ctx context.Context, method, path string, body any, limiters ...*connector.Window) (*response, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = connector.JSON(body); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for i, l := range limiters {
		if err := l.Acquire(ctx); err != nil {
			for _, taken := range limiters[:i] {
				taken.GiveBack()
			}
			return nil, &connector.Error{Class: connector.Retryable, Err: err,
				Message: fmt.Sprintf("%s %s: waiting for the HubSpot rate limit: %v", method, path, err)}
		}
	}
	defer func() {
		for _, l := range limiters {
			l.Release()
		}
	}()

	resp, err := c.rt.Do(ctx, connector.Request{Method: method, URL: c.baseURL + path, Label: method + " " + path, Body: raw})
	if err != nil {
		return nil, err
	}
	return &response{status: resp.Status, header: resp.Header, body: resp.Body}, nil
}

// hsError is HubSpot's error body (every field optional) and also one
// entry of a batch response's errors.
type hsError struct {
	Status     string              `json:"status"`
	Message    string              `json:"message"`
	Category   string              `json:"category"`
	ErrorType  string              `json:"errorType"`
	PolicyName string              `json:"policyName"`
	Context    map[string][]string `json:"context"`
	Errors     []struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"errors"`
}

// propertyIssue is one entry of "Property values were not valid: [...]".
type propertyIssue struct {
	Error   string `json:"error"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

const invalidPrefix = "Property values were not valid: "

// propertyIssues extracts the per-property errors HubSpot embeds in a
// VALIDATION_ERROR message.
func propertyIssues(msg string) []propertyIssue {
	i := strings.Index(msg, invalidPrefix)
	if i < 0 {
		return nil
	}
	var out []propertyIssue
	if err := json.Unmarshal([]byte(msg[i+len(invalidPrefix):]), &out); err != nil {
		return nil
	}
	return out
}

var existingID = regexp.MustCompile(`Existing ID: (\d+)`)

// existingIDOf returns N from a "... already exists. Existing ID: N"
// conflict.
func existingIDOf(msg string) string {
	if m := existingID.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// statusError classifies a non-2xx answer from its status and HubSpot's
// body.
func (c *Conn) statusError(r *response) *connector.Error {
	var he hsError
	_ = json.Unmarshal(r.body, &he)
	msg := he.Message
	if msg == "" {
		msg = strings.TrimSpace(string(r.body))
	}
	if msg == "" {
		msg = http.StatusText(r.status)
	}
	e := &connector.Error{
		Class:   connector.ClassifyStatus(r.status),
		Status:  r.status,
		Code:    he.Category,
		Message: c.trim(msg),
	}
	switch {
	case r.status == http.StatusTooManyRequests:
		e.Code = he.PolicyName
		e.RetryAfter = c.rateLimitWait(he.PolicyName, r.header)
	case r.status == http.StatusLocked:
		e.Class, e.RetryAfter = connector.Retryable, lockWait
	case r.status == 477: // migration in progress
		e.Class = connector.Retryable
		e.RetryAfter = connector.RetryAfterHeader(r.header, c.now())
	case r.status >= 500:
		// A gateway timeout or an overloaded HubSpot may have applied the
		// write before failing.
		e.Sent = true
		e.RetryAfter = connector.RetryAfterHeader(r.header, c.now())
	case e.Class == connector.Permanent:
		c.refineValidation(e, he)
	}
	return e
}

// itemError classifies one entry of a batch response's errors. The item
// was refused, not applied, so Sent is false.
func (c *Conn) itemError(status int, he hsError) *connector.Error {
	e := &connector.Error{Status: status, Code: he.Category, Message: c.trim(he.Message)}
	if e.Message == "" {
		e.Message = "HubSpot reported an error for this input without a message"
	}
	switch he.Category {
	case "VALIDATION_ERROR", "OBJECT_NOT_FOUND":
		e.Class = connector.Permanent
		c.refineValidation(e, he)
	case "CONFLICT":
		e.Class = connector.Conflict
	case "INVALID_AUTHENTICATION", "EXPIRED_AUTHENTICATION", "MISSING_SCOPES":
		e.Class = connector.Auth
	case "RATE_LIMITS":
		e.Class, e.RetryAfter = connector.Retryable, c.rateLimitWait("", nil)
	default:
		// A transient or unknown per-item failure: HubSpot did not apply
		// the item, so trying again is safe.
		e.Class = connector.Retryable
	}
	return e
}

// refineValidation turns a validation error about a property that does not
// exist into Drift (the portal's schema changed under the mapping), and
// names the first property error's code otherwise.
func (c *Conn) refineValidation(e *connector.Error, he hsError) {
	issues := propertyIssues(he.Message)
	for _, d := range he.Errors {
		issues = append(issues, propertyIssue{Error: d.Code, Message: d.Message})
	}
	for _, is := range issues {
		if is.Error == "PROPERTY_DOESNT_EXIST" {
			e.Class, e.Code = connector.Drift, is.Error
			return
		}
	}
	if len(issues) > 0 && issues[0].Error != "" {
		e.Code = issues[0].Error
	}
}

// rateLimitWait is how long to hold off after a 429: the rest of the day
// for the daily limit (retrying sooner only adds errors, which HubSpot also
// counts), the rolling window for the ten-secondly one, a second for the
// per-second (search) limit. A Retry-After header, if HubSpot ever sends
// one, wins when longer (clamped to connector.MaxRetryAfter like every
// receiver's hint). The DAILY wait is the one longer than MaxRetryAfter, at
// most a day: HubSpot documents the reset at the account's midnight, and
// every request before then would fail and count against the portal.
func (c *Conn) rateLimitWait(policy string, h http.Header) time.Duration {
	var d time.Duration
	switch policy {
	case "DAILY":
		now := c.now().In(c.zone)
		next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, c.zone)
		d = next.Sub(now)
	case "SECONDLY":
		d = time.Second
	default: // TEN_SECONDLY_ROLLING, or unnamed
		d = c.interval
		if h != nil {
			if ms, err := strconv.ParseInt(h.Get("X-HubSpot-RateLimit-Interval-Milliseconds"), 10, 64); err == nil && ms > 0 {
				d = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if h != nil {
		if ra := connector.RetryAfterHeader(h, c.now()); ra > d {
			d = ra
		}
	}
	return d
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

// decodeJSON decodes a HubSpot answer.
func decodeJSON(b []byte, v any) error { return json.Unmarshal(b, v) }
