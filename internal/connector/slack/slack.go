// Package slack is the Slack destination, registered as type "slack": it
// posts one message per record to one channel through the Web API's
// chat.postMessage, the text (and optional Block Kit blocks) rendered from
// templates over the record. It owns the templates and their escaping, the
// pacing Slack asks for (about one message per second per channel), the
// classification of Slack's answers (HTTP 200 with "ok": false for nearly
// every failure) into connector.Error, and not posting a record twice,
// although Slack has no idempotency key: with the token kept out of
// everything it reports.
//
// Writes:
//   - Every message carries metadata {"event_type": "sluice_record",
//     "event_payload": {"record_key", "delivery_id", "destination"}}.
//   - Deliver with the identity map's external ID (the message's ts)
//     updates that message with chat.update. If Slack no longer has it
//     (message_not_found: deleted), it looks the key up and updates what it
//     finds, else posts anew.
//   - Deliver of an ambiguous attempt (an earlier one may have posted)
//     without an external ID looks the key up first and updates the
//     message it finds instead of posting again.
//
// Lookup scans conversations.history with include_all_metadata=true,
// newest first, for a message whose metadata names this destination and the
// record key, reading at most lookup_pages pages of history_page_size
// messages. A message older than that scan is not found: the scan covers
// far more than the retry window of an ambiguous post.
package slack

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

// Kind is the destination type this package registers.
const Kind = "slack"

func init() { connector.Register(Kind, Open) }

const (
	// DefaultBaseURL is Slack's Web API host.
	DefaultBaseURL = "https://slack.com"
	// DefaultRatePerSecond is chat.postMessage's documented pace: about
	// one message per second per channel.
	DefaultRatePerSecond = 1.0
	// DefaultTimeout bounds one request when Options.Timeout is empty.
	DefaultTimeout = 10 * time.Second
	// DefaultLookupPages and DefaultHistoryPageSize bound a lookup's scan.
	DefaultLookupPages     = 10
	DefaultHistoryPageSize = 200
	// DefaultHistoryPerMinute is conversations.history's Tier 3 limit.
	DefaultHistoryPerMinute = 50
	// MaxHistoryPageSize is conversations.history's largest limit.
	MaxHistoryPageSize = 999
	// MaxTextChars is where Slack truncates message text; the connector
	// refuses longer text rather than let Slack cut it silently.
	MaxTextChars = 40_000
	// MaxBlocks is the most blocks one message takes.
	MaxBlocks = 50
	// EventType is the metadata event type of every message Sluice posts.
	EventType = "sluice_record"

	// updatesPerMinute is chat.update's Tier 3 limit.
	updatesPerMinute = 50
)

// Options configure one Slack destination.
type Options struct {
	// BaseURL is the API origin; default https://slack.com. Point it at a
	// simulator to try a config.
	BaseURL string `json:"base_url"`
	// Token is the bot token (xoxb-…) with chat:write and the history
	// scope of the channel (channels:history, groups:history); required.
	// It is never shown in errors, logs or String.
	Token string `json:"token"`
	// Channel is the channel's ID (C…, G… or D…), not its name:
	// conversations.history and chat.update take only IDs. Required.
	Channel string `json:"channel"`
	// Text is a Go text/template over the record's mapped payload
	// ("New lead {{.email}} from {{.company}}"). A missing key fails the
	// delivery; values are escaped for Slack (&, <, >) unless piped to raw.
	// With blocks it is the notification fallback. Text or blocks is
	// required.
	Text string `json:"text"`
	// Blocks is a Block Kit array (or a string holding its JSON) whose
	// string values are templates like Text; at most 50 blocks.
	Blocks json.RawMessage `json:"blocks"`
	// RatePerSecond is the posting pace; default 1, Slack's per-channel
	// limit.
	RatePerSecond float64 `json:"rate_per_second"`
	// Timeout bounds one request, as a Go duration; default 10s.
	Timeout string `json:"timeout"`
	// LookupPages is the most history pages a lookup reads; default 10.
	LookupPages int `json:"lookup_pages"`
	// HistoryPageSize is the messages per history page; default 200, at
	// most 999. Non-Marketplace apps created since May 2025 get at most 15.
	HistoryPageSize int `json:"history_page_size"`
	// HistoryPerMinute paces conversations.history; default 50 (Tier 3).
	// Non-Marketplace apps created since May 2025 get 1.
	HistoryPerMinute int `json:"history_per_minute"`
	// Egress guards every connection to the destination; Open sets it
	// from the destination's allow_private_network. Configs cannot set it
	// here.
	Egress egress.Policy `json:"-"`
}

// Conn is a Slack destination. It is safe for concurrent use.
type Conn struct {
	name        string
	baseURL     string
	token       string
	channel     string
	text        *template.Template // nil without Options.Text
	blocks      *blocksTemplate    // nil without Options.Blocks
	timeout     time.Duration
	lookupPages int
	pageSize    int
	constraints connector.Constraints
	posts       *window
	updates     *window
	history     *window
	rt          *connector.RoundTrip
	transport   *http.Transport
	client      *http.Client
}

var (
	_ connector.Connector = (*Conn)(nil)
	_ connector.Looker    = (*Conn)(nil)
	_ fmt.Stringer        = (*Conn)(nil)
	_ fmt.GoStringer      = (*Conn)(nil)
)

// Open is the connector.Factory for type "slack".
func Open(p connector.Params) (connector.Connector, error) {
	var o Options
	if err := Spec.Decode(p, &o); err != nil {
		return nil, err
	}
	o.Egress = p.Egress()
	if p.Credential != nil && o.Token == "" {
		o.Token = connector.CredentialToken
	}
	c, err := New(p.Name, o)
	if err != nil {
		return nil, err
	}
	if p.Credential != nil {
		// An expiring token, refreshed by package credential. Slack says a
		// rotated token expired with 200 {"ok":false,"error":"token_expired"},
		// not a 401: that answer gets a fresh token and one more try.
		connector.UseCredentialRejecting(c.rt, c.client, p.Credential, tokenExpired)
	}
	return c, nil
}

// tokenExpired reports whether a Slack answer refuses an expired token.
func tokenExpired(status int, body []byte) bool {
	if status != http.StatusOK || !bytes.Contains(body, []byte("token_expired")) {
		return false
	}
	var a struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	return json.Unmarshal(body, &a) == nil && !a.OK && a.Error == "token_expired"
}

var channelID = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)

// New validates o and builds the destination.
func New(name string, o Options) (*Conn, error) {
	c := &Conn{name: name, token: o.Token, channel: o.Channel}

	base := cmp.Or(o.BaseURL, DefaultBaseURL)
	u, err := url.Parse(base)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("options.base_url: %q is not an absolute http(s) URL", base)
	case u.User != nil:
		return nil, errors.New("options.base_url: must not contain credentials; use options.token")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("options.base_url: must not have a query or fragment")
	}
	c.baseURL = strings.TrimRight(u.String(), "/")

	switch {
	case o.Token == "":
		return nil, errors.New("options.token: required")
	case strings.ContainsFunc(o.Token, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return nil, errors.New("options.token: contains a control character")
	}
	switch {
	case o.Channel == "":
		return nil, errors.New("options.channel: required (the channel ID, C…)")
	case !channelID.MatchString(o.Channel):
		return nil, fmt.Errorf("options.channel: %q is not a channel ID (C…, G… or D…); Slack's history and update methods take only IDs: copy it from the channel's details", o.Channel)
	}

	if o.Text != "" {
		if c.text, err = parseTemplate("text", o.Text); err != nil {
			return nil, fmt.Errorf("options.text: %w", err)
		}
	}
	if len(o.Blocks) > 0 && string(o.Blocks) != "null" {
		if c.blocks, err = compileBlocks(o.Blocks); err != nil {
			return nil, fmt.Errorf("options.blocks: %w", err)
		}
	}
	if c.text == nil && (c.blocks == nil || c.blocks.count == 0) {
		return nil, errors.New("options.text: required unless options.blocks has blocks (and recommended with them: it is the notification text)")
	}

	rate := o.RatePerSecond
	switch {
	case rate < 0:
		return nil, errors.New("options.rate_per_second: must not be negative")
	case rate == 0:
		rate = DefaultRatePerSecond
	}
	c.timeout = DefaultTimeout
	if o.Timeout != "" {
		if c.timeout, err = time.ParseDuration(o.Timeout); err != nil || c.timeout <= 0 {
			return nil, fmt.Errorf("options.timeout: %q is not a positive Go duration", o.Timeout)
		}
	}
	c.lookupPages = cmp.Or(o.LookupPages, DefaultLookupPages)
	if c.lookupPages < 0 {
		return nil, errors.New("options.lookup_pages: must not be negative")
	}
	c.pageSize = cmp.Or(o.HistoryPageSize, DefaultHistoryPageSize)
	if c.pageSize < 0 || c.pageSize > MaxHistoryPageSize {
		return nil, fmt.Errorf("options.history_page_size: %d is not between 1 and %d", o.HistoryPageSize, MaxHistoryPageSize)
	}
	perMinute := cmp.Or(o.HistoryPerMinute, DefaultHistoryPerMinute)
	if perMinute < 0 {
		return nil, errors.New("options.history_per_minute: must not be negative")
	}

	c.posts = newWindow(1, time.Duration(float64(time.Second)/rate))
	c.updates = newWindow(updatesPerMinute, time.Minute)
	c.history = newWindow(perMinute, time.Minute)
	c.constraints = connector.Constraints{
		RatePerSecond: rate,
		Burst:         1,
		BatchSize:     1,
		Timeout:       c.timeout,
		// One channel, one message at a time: more in flight would only
		// meet the per-channel limit and could reorder the channel.
		Concurrency: 1,
	}
	c.client, c.transport = connector.HTTPClient(name, o.Egress)
	c.rt = &connector.RoundTrip{Client: c.client, Header: connector.Bearer(c.token), MaxBody: maxBodyRead, Redact: c.redact}
	c.transport.MaxIdleConnsPerHost = 4
	return c, nil
}

// Constraints reports Slack's limits for chat.postMessage: one message per
// second (rate_per_second), one at a time, no batches, no upsert.
func (c *Conn) Constraints() connector.Constraints { return c.constraints }

// Close releases idle connections.
func (c *Conn) Close(context.Context) error {
	c.transport.CloseIdleConnections()
	return nil
}

// String describes the destination without the token.
func (c *Conn) String() string {
	return fmt.Sprintf("slack destination %q: %s channel %s, token %s", c.name, c.baseURL, c.channel, redacted)
}

// GoString keeps %#v from printing the token.
func (c *Conn) GoString() string { return c.String() }

// message is a rendered message.
type message struct {
	text   string
	blocks any // nil without blocks
}

// render executes the templates over d's payload. A template that fails is
// Permanent: the same record will fail the same way.
func (c *Conn) render(d connector.Delivery) (message, error) {
	data := d.Payload
	if data == nil {
		data = map[string]any{}
	}
	var m message
	fail := func(what string, err error) (message, error) {
		return message{}, &connector.Error{Class: connector.Permanent, Code: connector.CodeTemplate, Err: err,
			Message: c.trim(fmt.Sprintf("%s template: %v", what, err))}
	}
	if c.text != nil {
		s, err := execute(c.text, data)
		if err != nil {
			return fail("text", err)
		}
		m.text = s
	}
	if c.blocks != nil {
		b, err := c.blocks.render(data)
		if err != nil {
			return fail("blocks", err)
		}
		m.blocks = b
	}
	if strings.TrimSpace(m.text) == "" && (c.blocks == nil || c.blocks.count == 0) {
		return message{}, &connector.Error{Class: connector.Permanent, Code: "no_text",
			Message: "the text template rendered nothing for this record and there are no blocks: Slack refuses an empty message (no_text)"}
	}
	if n := utf8.RuneCountInString(m.text); n > MaxTextChars {
		return message{}, &connector.Error{Class: connector.Permanent, Code: "msg_too_long",
			Message: fmt.Sprintf("the text is %d characters; Slack truncates text past %d, so the connector refuses it", n, MaxTextChars)}
	}
	return m, nil
}

func (c *Conn) metadata(d connector.Delivery) map[string]any {
	return map[string]any{
		"event_type": EventType,
		"event_payload": map[string]any{
			"record_key":  d.RecordKey,
			"delivery_id": d.ID,
			"destination": c.name,
		},
	}
}

func (c *Conn) body(d connector.Delivery, m message) map[string]any {
	b := map[string]any{"channel": c.channel, "metadata": c.metadata(d)}
	if m.text != "" {
		b["text"] = m.text
	}
	if m.blocks != nil {
		b["blocks"] = m.blocks
	}
	return b
}

// Deliver writes one record's message: chat.update of the known message,
// else, when an earlier attempt may have posted, of the message found by
// key, else a new chat.postMessage.
func (c *Conn) Deliver(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	m, err := c.render(d)
	if err != nil {
		return connector.Result{}, err
	}
	if d.ExternalID != "" {
		res, err := c.update(ctx, d.ExternalID, d, m)
		var ce *connector.Error
		if !errors.As(err, &ce) || ce.Code != "message_not_found" {
			return res, err
		}
		// The message was deleted in Slack since: find another by key or
		// post anew.
	}
	if (d.Ambiguous || d.ExternalID != "") && d.RecordKey != "" {
		found, err := c.find(ctx, d.RecordKey)
		if err != nil {
			return connector.Result{}, err
		}
		if found != nil && found.TS != d.ExternalID {
			res, err := c.update(ctx, found.TS, d, m)
			if err == nil {
				res.Message = "updated the message an earlier attempt posted"
			}
			return res, err
		}
	}
	return c.post(ctx, d, m)
}

func (c *Conn) post(ctx context.Context, d connector.Delivery, m message) (connector.Result, error) {
	ans, err := c.api(ctx, "chat.postMessage", http.MethodPost, c.body(d, m), nil, c.posts)
	if err != nil {
		return connector.Result{}, err
	}
	if ans.TS == "" {
		return connector.Result{}, &connector.Error{Class: connector.Retryable, Status: http.StatusOK, Sent: true,
			Message: "chat.postMessage: Slack said ok but returned no ts"}
	}
	return connector.Result{ExternalID: ans.TS, Status: http.StatusOK, Message: withWarning("posted", ans)}, nil
}

func (c *Conn) update(ctx context.Context, ts string, d connector.Delivery, m message) (connector.Result, error) {
	b := c.body(d, m)
	b["ts"] = ts
	if m.blocks == nil {
		// chat.update keeps nothing it is not given; say so explicitly.
		b["blocks"] = []any{}
	}
	ans, err := c.api(ctx, "chat.update", http.MethodPost, b, nil, c.updates)
	if err != nil {
		return connector.Result{}, err
	}
	return connector.Result{ExternalID: cmp.Or(ans.TS, ts), Status: http.StatusOK, Message: withWarning("updated", ans)}, nil
}

func withWarning(msg string, ans *answer) string {
	if ans.Warning != "" {
		return msg + " (Slack warning: " + ans.Warning + ")"
	}
	return msg
}

// Lookup finds the newest message this destination posted for recordKey
// and returns its ts and fields: text, ts, channel, blocks (when any),
// record_key, delivery_id and edited (bool).
func (c *Conn) Lookup(ctx context.Context, recordKey string) (string, map[string]any, bool, error) {
	if recordKey == "" {
		return "", nil, false, nil
	}
	m, err := c.find(ctx, recordKey)
	if err != nil || m == nil {
		return "", nil, false, err
	}
	fields := map[string]any{
		"text":        m.Text,
		"ts":          m.TS,
		"channel":     c.channel,
		"record_key":  recordKey,
		"delivery_id": m.Metadata.EventPayload["delivery_id"],
		"edited":      m.Edited != nil,
	}
	if len(m.Blocks) > 0 {
		fields["blocks"] = m.Blocks
	}
	return m.TS, fields, true, nil
}

// find scans the channel's history, newest first, for the key's message;
// nil when the scan ends without one.
func (c *Conn) find(ctx context.Context, recordKey string) (*historyMsg, error) {
	cursor := ""
	for range c.lookupPages {
		q := url.Values{
			"channel":              {c.channel},
			"include_all_metadata": {"true"},
			"limit":                {strconv.Itoa(c.pageSize)},
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		ans, err := c.api(ctx, "conversations.history", http.MethodGet, nil, q, c.history)
		if err != nil {
			return nil, err
		}
		for i := range ans.Messages {
			if c.owns(&ans.Messages[i], recordKey) {
				return &ans.Messages[i], nil
			}
		}
		cursor = ans.ResponseMetadata.NextCursor
		if !ans.HasMore || cursor == "" {
			return nil, nil
		}
	}
	return nil, nil
}

// owns reports whether m is this destination's message for recordKey.
func (c *Conn) owns(m *historyMsg, recordKey string) bool {
	if m.Metadata == nil || m.Metadata.EventType != EventType {
		return false
	}
	p := m.Metadata.EventPayload
	key, _ := p["record_key"].(string)
	dest, _ := p["destination"].(string)
	return key == recordKey && dest == c.name
}
