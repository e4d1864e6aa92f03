package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

const (
	userAgent = "sluice/1"
	redacted  = "[redacted]"
	// maxBodyRead bounds an answer: a history page of 999 messages with
	// blocks fits.
	maxBodyRead = 16 << 20
	// maxMessageBytes is how much of a message becomes Error.Message.
	maxMessageBytes = 1024
	// defaultRateWait is the wait after a 429 without Retry-After.
	defaultRateWait = time.Second
)

// answer is the envelope of every Web API answer and the fields of the
// methods the connector calls.
type answer struct {
	OK       bool     `json:"ok"`
	Error    string   `json:"error"`
	Warning  string   `json:"warning"`
	Errors   []string `json:"errors"`
	Needed   string   `json:"needed"`
	Provided string   `json:"provided"`

	Channel  string       `json:"channel"`
	TS       string       `json:"ts"`
	Messages []historyMsg `json:"messages"`
	HasMore  bool         `json:"has_more"`

	ResponseMetadata struct {
		NextCursor string   `json:"next_cursor"`
		Messages   []string `json:"messages"`
		Warnings   []string `json:"warnings"`
	} `json:"response_metadata"`
}

// historyMsg is one message of conversations.history.
type historyMsg struct {
	TS       string `json:"ts"`
	Text     string `json:"text"`
	Blocks   []any  `json:"blocks"`
	BotID    string `json:"bot_id"`
	Metadata *struct {
		EventType    string         `json:"event_type"`
		EventPayload map[string]any `json:"event_payload"`
	} `json:"metadata"`
	Edited *struct {
		TS string `json:"ts"`
	} `json:"edited"`
}

// writeMethods may have been applied when Slack reports an internal error.
var writeMethods = map[string]bool{"chat.postMessage": true, "chat.update": true}

// api calls a Web API method: a JSON body for POST, query arguments for
// GET. It takes a slot of lim first and gives it back one interval after the
// answer. It returns the decoded answer when Slack said ok:true, else a
// classified *connector.Error.
func (c *Conn) api(ctx context.Context, method, httpMethod string, body any, query url.Values, lim *window) (*answer, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = connector.JSON(body); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := lim.acquire(ctx); err != nil {
		return nil, &connector.Error{Class: connector.Retryable, Err: err,
			Message: fmt.Sprintf("%s: waiting for Slack's rate limit: %v", method, err)}
	}
	defer lim.Release()

	u := c.baseURL + "/api/" + method
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	ct := ""
	if raw != nil {
		ct = "application/json; charset=utf-8"
	}
	resp, err := c.rt.Do(ctx, connector.Request{Method: httpMethod, URL: u, Label: method, Body: raw, ContentType: ct})
	if err != nil {
		return nil, err
	}
	data := resp.Body
	var ans answer
	jsonErr := json.Unmarshal(data, &ans)
	if resp.Status != http.StatusOK {
		return nil, c.statusError(method, resp, &ans, jsonErr == nil, lim)
	}
	if jsonErr != nil {
		return nil, &connector.Error{Class: connector.Retryable, Status: resp.Status, Sent: true, Err: jsonErr,
			Message: c.trim(fmt.Sprintf("%s: Slack's answer is not JSON: %v", method, jsonErr))}
	}
	if !ans.OK {
		return nil, c.codeError(method, http.StatusOK, &ans, resp.Header, lim)
	}
	return &ans, nil
}

// statusError classifies an answer whose HTTP status is not 200: rate
// limits, Slack's edge failing, or a base_url that is not Slack.
func (c *Conn) statusError(method string, resp *connector.Response, ans *answer, isJSON bool, lim *window) *connector.Error {
	status := resp.Status
	e := &connector.Error{Class: connector.ClassifyStatus(status), Status: status}
	if isJSON && ans.Error != "" {
		e.Code = ans.Error
		e.Message = c.describe(method, ans)
	} else {
		e.Message = c.trim(fmt.Sprintf("%s: HTTP %d %s", method, status, http.StatusText(status)))
	}
	switch {
	case status == http.StatusTooManyRequests:
		e.Code = cmpOr(e.Code, "ratelimited")
		e.RetryAfter = retryAfter(resp.Header)
		lim.hold(e.RetryAfter)
	case status >= 500:
		// An overloaded Slack or a gateway timeout may have applied a
		// write before failing.
		e.Sent = writeMethods[method]
		if ra := connector.RetryAfterHeader(resp.Header, time.Now()); ra > 0 {
			e.RetryAfter = ra
		}
	case status == http.StatusNotFound:
		e.Message = c.trim(fmt.Sprintf("%s: HTTP 404: no such Web API method at %s (is base_url right?)", method, c.baseURL))
	}
	return e
}

// Classes of Slack's error codes. A code not listed is Permanent: the
// record is escalated with Slack's code rather than retried blindly.
var codeClasses = map[string]connector.Class{
	// The token is bad or lacks rights: every write would fail.
	"not_authed":                connector.Auth,
	"invalid_auth":              connector.Auth,
	"token_revoked":             connector.Auth,
	"token_expired":             connector.Auth,
	"account_inactive":          connector.Auth,
	"missing_scope":             connector.Auth,
	"not_allowed_token_type":    connector.Auth,
	"no_permission":             connector.Auth,
	"team_access_not_granted":   connector.Auth,
	"ekm_access_denied":         connector.Auth,
	"restricted_action":         connector.Auth,
	"two_factor_setup_required": connector.Auth,
	// The channel changed under the destination: pause it.
	"channel_not_found":                     connector.Drift,
	"not_in_channel":                        connector.Drift,
	"is_archived":                           connector.Drift,
	"restricted_action_read_only_channel":   connector.Drift,
	"restricted_action_thread_only_channel": connector.Drift,
	// Transient.
	"ratelimited":         connector.Retryable,
	"rate_limited":        connector.Retryable,
	"internal_error":      connector.Retryable,
	"fatal_error":         connector.Retryable,
	"service_unavailable": connector.Retryable,
	"request_timeout":     connector.Retryable,
	"team_added_to_org":   connector.Retryable,
	"org_login_required":  connector.Retryable,
	// This message can never be posted as it is.
	"msg_too_long":                   connector.Permanent,
	"msg_blocks_too_long":            connector.Permanent,
	"no_text":                        connector.Permanent,
	"invalid_blocks":                 connector.Permanent,
	"invalid_blocks_format":          connector.Permanent,
	"invalid_metadata_format":        connector.Permanent,
	"invalid_metadata_schema":        connector.Permanent,
	"metadata_too_large":             connector.Permanent,
	"markdown_text_conflict":         connector.Permanent,
	"too_many_attachments":           connector.Permanent,
	"invalid_arguments":              connector.Permanent,
	"message_not_found":              connector.Permanent,
	"cant_update_message":            connector.Permanent,
	"edit_window_closed":             connector.Permanent,
	"invalid_cursor":                 connector.Permanent,
	"invalid_limit":                  connector.Permanent,
	"invalid_post_type":              connector.Permanent,
	"missing_post_type":              connector.Permanent,
	"invalid_charset":                connector.Permanent,
	"invalid_form_data":              connector.Permanent,
	"invalid_arg_name":               connector.Permanent,
	"invalid_array_arg":              connector.Permanent,
	"unknown_method":                 connector.Permanent,
	"method_deprecated":              connector.Permanent,
	"deprecated_endpoint":            connector.Permanent,
	"metadata_must_be_sent_from_app": connector.Permanent,
}

// codeHelp explains the codes an operator meets most, after Slack's method
// reference.
var codeHelp = map[string]string{
	"not_authed":          "no token was sent",
	"invalid_auth":        "the token is not valid (or the request came from a disallowed IP address)",
	"token_revoked":       "the token was revoked or the app was removed from the workspace",
	"token_expired":       "the token expired; rotate it",
	"account_inactive":    "the token belongs to a deleted user or workspace",
	"missing_scope":       "the token lacks a scope this method needs",
	"channel_not_found":   "the channel does not exist or the app cannot see it",
	"not_in_channel":      "the app's bot user is not a member of the channel; invite it",
	"is_archived":         "the channel is archived",
	"msg_too_long":        "the message text is too long",
	"no_text":             "the message has neither text nor blocks",
	"invalid_blocks":      "the blocks are not valid Block Kit",
	"ratelimited":         "Slack's rate limit was reached",
	"internal_error":      "Slack failed, possibly after doing part of the operation",
	"fatal_error":         "Slack failed badly, possibly after doing part of the operation",
	"service_unavailable": "Slack is temporarily unavailable",
	"message_not_found":   "no message has this ts in the channel",
}

// codeError classifies an ok:false answer.
func (c *Conn) codeError(method string, status int, ans *answer, h http.Header, lim *window) *connector.Error {
	code := cmpOr(ans.Error, "unknown_error")
	class, ok := codeClasses[code]
	if !ok {
		class = connector.Permanent
	}
	e := &connector.Error{Class: class, Status: status, Code: code, Message: c.describe(method, ans)}
	switch code {
	case "ratelimited", "rate_limited":
		e.RetryAfter = retryAfter(h)
		lim.hold(e.RetryAfter)
	case "internal_error", "fatal_error":
		// Slack documents that some of the operation may have been done.
		e.Sent = writeMethods[method]
	}
	return e
}

// describe is "method: code: what it means; Slack's details".
func (c *Conn) describe(method string, ans *answer) string {
	parts := []string{method + ": " + ans.Error}
	if h := codeHelp[ans.Error]; h != "" {
		parts[0] += " (" + h + ")"
	}
	details := ans.ResponseMetadata.Messages
	if len(details) == 0 {
		details = ans.Errors
	}
	if len(details) > 0 {
		parts = append(parts, strings.Join(details, "; "))
	}
	if ans.Needed != "" {
		parts = append(parts, fmt.Sprintf("needed scope %s, the token has %s", ans.Needed, ans.Provided))
	}
	return c.trim(strings.Join(parts, ": "))
}

func retryAfter(h http.Header) time.Duration {
	if d := connector.RetryAfterHeader(h, time.Now()); d > 0 {
		return d
	}
	return defaultRateWait
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
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

// window is the shared rolling window (connector.Window) plus Slack's
// stop after a 429: hold keeps every request back for the wait Slack asked
// for.
type window struct {
	*connector.Window

	mu        sync.Mutex
	notBefore time.Time
}

func newWindow(limit int, interval time.Duration) *window {
	return &window{Window: connector.NewWindow(limit, interval)}
}

func (w *window) acquire(ctx context.Context) error {
	if err := w.Acquire(ctx); err != nil {
		return err
	}
	w.mu.Lock()
	wait := time.Until(w.notBefore)
	w.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		w.GiveBack()
		return ctx.Err()
	}
}

// hold delays every request until d from now.
func (w *window) hold(d time.Duration) {
	if d <= 0 {
		return
	}
	until := time.Now().Add(d)
	w.mu.Lock()
	if until.After(w.notBefore) {
		w.notBefore = until
	}
	w.mu.Unlock()
}
