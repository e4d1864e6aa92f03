// Package platformhook reads the platforms' own webhook bodies (HubSpot's
// event arrays, Slack's Events API envelopes, Notion's thin events and
// handshake, Airtable's notification pings) into one shape: what the
// request asks of the receiver (answer a challenge, keep a verification
// token, list payloads) and which records changed. It is a pure leaf: no
// I/O, no state, so every platform's quirks are tested without a server.
//
// Platform documentation the shapes follow:
//   - HubSpot webhooks API: a JSON array of subscription events (eventId,
//     subscriptionType "contact.propertyChange" / "contact.creation" /
//     "contact.deletion", objectId, propertyName, propertyValue,
//     changeSource, occurredAt in unix ms, attemptNumber).
//   - Slack Events API: "url_verification" {challenge}, "event_callback"
//     {event_id, event_time, event{type, ...}}.
//   - Notion webhooks: the handshake {verification_token}, then events {id,
//     timestamp, type "page.created" / "page.properties_updated" /
//     "page.content_updated" / "page.deleted" ..., entity{id, type}}.
//   - Airtable webhooks: the notification {base{id}, webhook{id},
//     timestamp}; the changes are listed by cursor from the payloads
//     endpoint.
package platformhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Change is one record a webhook reports changed.
type Change struct {
	// EventID is the platform's ID of the event: a retry carries the same
	// one, so it is what dedupes captures.
	EventID string
	// Type is the platform's event type (contact.propertyChange,
	// message, page.properties_updated).
	Type string
	// Object is what kind of record changed (contact, message, page).
	Object string
	// RecordID is the platform's own ID of the record.
	RecordID string
	// At is the platform's modification stamp of the change.
	At time.Time
	// Deleted is true when the event says the record was deleted.
	Deleted bool
	// Fields are the record's fields the event carries (HubSpot: the one
	// property that changed; Slack: the event itself); nil when the event
	// carries none and the record must be fetched (Fetch).
	Fields map[string]any
	// Fetch is true when the event only names the record (Notion): the
	// receiver reads it through the connector when it needs content.
	Fetch bool
	// WrittenBy is the Sluice delivery the platform says created the record
	// (Slack: a new message carrying the metadata Sluice's connector posts,
	// event_type sluice_record, which only the app itself can attach);
	// empty otherwise. Echo suppression trusts it only for a delivery to
	// the source's own destination.
	WrittenBy string
}

// Notice is what one webhook request asks of the receiver. At most one of
// Challenge, VerificationToken and Ping is set; Changes may be empty (an
// event type that names no record).
type Notice struct {
	// Challenge is Slack's url_verification challenge, to be answered
	// verbatim. Slack signs this request like any other.
	Challenge string
	// VerificationToken is Notion's handshake: the token the operator must
	// paste back into Notion, and the key of every later signature. The
	// handshake itself is not signed.
	VerificationToken string
	// Ping is an Airtable notification: list the webhook's payloads.
	Ping *Ping
	// Changes are the records the request reports changed.
	Changes []Change
}

// Ping names the Airtable webhook whose payloads are waiting.
type Ping struct {
	Base    string
	Webhook string
	// Timestamp is the notification's own time, as sent: with the
	// webhook it names the notification (Airtable sends no other ID).
	Timestamp string
}

// ErrMalformed wraps every parse failure: the body is not what the
// platform sends.
var ErrMalformed = errors.New("not a platform webhook body")

// MaxEvents bounds how many events one request may report (HubSpot sends
// at most 100 per request).
const MaxEvents = 1000

// Parse reads body as platform kind's webhook.
func Parse(kind string, body []byte) (Notice, error) {
	switch kind {
	case "hubspot":
		return parseHubSpot(body)
	case "slack":
		return parseSlack(body)
	case "notion":
		return parseNotion(body)
	case "airtable":
		return parseAirtable(body)
	}
	return Notice{}, fmt.Errorf("platformhook: unknown platform %q", kind)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return malformed("invalid JSON: %v", err)
	}
	return nil
}

// idString renders a JSON ID (a number or a string) as text.
func idString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

type hubspotEvent struct {
	EventID          any    `json:"eventId"`
	SubscriptionType string `json:"subscriptionType"`
	ObjectID         any    `json:"objectId"`
	PropertyName     string `json:"propertyName"`
	PropertyValue    any    `json:"propertyValue"`
	ChangeSource     string `json:"changeSource"`
	OccurredAt       any    `json:"occurredAt"`
}

func parseHubSpot(body []byte) (Notice, error) {
	var evs []hubspotEvent
	if err := decode(body, &evs); err != nil {
		return Notice{}, err
	}
	if len(evs) > MaxEvents {
		return Notice{}, malformed("%d events in one request; at most %d", len(evs), MaxEvents)
	}
	var n Notice
	for i, e := range evs {
		id, rec := idString(e.EventID), idString(e.ObjectID)
		if id == "" || rec == "" || e.SubscriptionType == "" {
			return Notice{}, malformed("event [%d]: eventId, objectId and subscriptionType are required", i)
		}
		object, action, _ := strings.Cut(e.SubscriptionType, ".")
		at, err := unixMillis(e.OccurredAt)
		if err != nil {
			return Notice{}, malformed("event [%d]: occurredAt: %v", i, err)
		}
		c := Change{EventID: id, Type: e.SubscriptionType, Object: object, RecordID: rec, At: at}
		switch action {
		case "deletion", "privacyDeletion":
			c.Deleted = true
		case "propertyChange":
			if e.PropertyName == "" {
				return Notice{}, malformed("event [%d]: propertyChange without propertyName", i)
			}
			c.Fields = map[string]any{e.PropertyName: plain(e.PropertyValue)}
		default:
			// creation, merge, restore, associationChange: the event names
			// the record; its properties come in propertyChange events.
			c.Fields = map[string]any{}
		}
		n.Changes = append(n.Changes, c)
	}
	return n, nil
}

// plain turns json.Numbers back into float64 or int64-safe values for the
// captured payload (UseNumber is only for exact IDs).
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = plain(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plain(e)
		}
	}
	return v
}

func unixMillis(v any) (time.Time, error) {
	s := idString(v)
	if s == "" {
		return time.Time{}, errors.New("required")
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not unix milliseconds", s)
	}
	return time.UnixMilli(ms).UTC(), nil
}

type slackEnvelope struct {
	Type      string         `json:"type"`
	Challenge string         `json:"challenge"`
	EventID   string         `json:"event_id"`
	EventTime any            `json:"event_time"`
	Event     map[string]any `json:"event"`
}

func parseSlack(body []byte) (Notice, error) {
	var env slackEnvelope
	if err := decode(body, &env); err != nil {
		return Notice{}, err
	}
	switch env.Type {
	case "url_verification":
		if env.Challenge == "" {
			return Notice{}, malformed("url_verification without challenge")
		}
		return Notice{Challenge: env.Challenge}, nil
	case "event_callback":
	case "app_rate_limited":
		// Slack tells the app it is dropping events; nothing to capture.
		return Notice{}, nil
	default:
		return Notice{}, malformed("type %q is not url_verification or event_callback", env.Type)
	}
	if env.EventID == "" || env.Event == nil {
		return Notice{}, malformed("event_callback needs event_id and event")
	}
	ev := plain(env.Event).(map[string]any)
	typ, _ := ev["type"].(string)
	c := Change{EventID: env.EventID, Type: typ, Object: typ, Fields: ev}
	if sec := idString(env.EventTime); sec != "" {
		if n, err := strconv.ParseInt(sec, 10, 64); err == nil {
			c.At = time.Unix(n, 0).UTC()
		}
	}
	// A message's identity is its ts (unique in its channel, which the
	// fields carry); an edit or a deletion names the original message.
	ts, _ := ev["ts"].(string)
	switch sub, _ := ev["subtype"].(string); sub {
	case "", "bot_message":
		// A new message: Sluice's own post names its delivery in the
		// message's metadata.
		if md, ok := ev["metadata"].(map[string]any); ok && md["event_type"] == "sluice_record" {
			if p, ok := md["event_payload"].(map[string]any); ok {
				c.WrittenBy, _ = p["delivery_id"].(string)
			}
		}
	case "message_deleted":
		ts, _ = ev["deleted_ts"].(string)
		c.Fields = map[string]any{"channel": ev["channel"]}
		c.Deleted = true
	case "message_changed":
		if m, ok := ev["message"].(map[string]any); ok {
			ts, _ = m["ts"].(string)
		}
	}
	if t, err := slackTS(ts); err == nil && c.At.IsZero() {
		c.At = t
	}
	switch {
	case ts != "":
		// The ts alone, as Slack's connector records what it posted, so
		// Sluice's own messages are recognised coming back.
		c.RecordID = ts
	default:
		// Events about other things (a user, a reaction) are recorded under
		// the event's own ID.
		c.RecordID = env.EventID
	}
	if c.At.IsZero() {
		return Notice{}, malformed("event_callback without event_time")
	}
	return Notice{Changes: []Change{c}}, nil
}

// slackTS reads a Slack message timestamp ("1718000000.000100").
func slackTS(ts string) (time.Time, error) {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var us int64
	if frac != "" {
		frac = (frac + "000000")[:6]
		us, err = strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return time.Time{}, err
		}
	}
	return time.Unix(s, us*1000).UTC(), nil
}

type notionEvent struct {
	VerificationToken string `json:"verification_token"`
	ID                string `json:"id"`
	Timestamp         string `json:"timestamp"`
	Type              string `json:"type"`
	Entity            struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"entity"`
}

func parseNotion(body []byte) (Notice, error) {
	var e notionEvent
	if err := decode(body, &e); err != nil {
		return Notice{}, err
	}
	if e.VerificationToken != "" {
		return Notice{VerificationToken: e.VerificationToken}, nil
	}
	if e.ID == "" || e.Type == "" || e.Entity.ID == "" {
		return Notice{}, malformed("a Notion event needs id, type and entity.id")
	}
	at, err := time.Parse(time.RFC3339Nano, e.Timestamp)
	if err != nil {
		return Notice{}, malformed("timestamp %q is not RFC 3339", e.Timestamp)
	}
	c := Change{EventID: e.ID, Type: e.Type, Object: e.Entity.Type, RecordID: e.Entity.ID, At: at.UTC()}
	switch e.Type {
	case "page.deleted", "database.deleted", "data_source.deleted":
		c.Deleted = true
	case "page.created", "page.properties_updated", "page.content_updated", "page.undeleted", "page.moved":
		c.Fetch = true
	default:
		// Comments, schema changes, locks: no record of a flow changed.
		return Notice{}, nil
	}
	return Notice{Changes: []Change{c}}, nil
}

type airtablePing struct {
	Base struct {
		ID string `json:"id"`
	} `json:"base"`
	Webhook struct {
		ID string `json:"id"`
	} `json:"webhook"`
	Timestamp string `json:"timestamp"`
}

func parseAirtable(body []byte) (Notice, error) {
	var p airtablePing
	if err := decode(body, &p); err != nil {
		return Notice{}, err
	}
	if p.Base.ID == "" || p.Webhook.ID == "" {
		return Notice{}, malformed("an Airtable notification needs base.id and webhook.id")
	}
	return Notice{Ping: &Ping{Base: p.Base.ID, Webhook: p.Webhook.ID, Timestamp: p.Timestamp}}, nil
}
