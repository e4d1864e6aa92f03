package slack_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/slack"
	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/sim/simtest"
	slacksim "github.com/sluicehq/sluice/internal/sim/slack"
)

const token = "xoxb-1111111111-2222222222222-abcdefghijklmnopqrstuvwx"

// env is a real simulator on loopback and a real connector pointed at it.
type env struct {
	t    *testing.T
	sim  *slacksim.Server
	url  string
	conn *slack.Conn
}

// setup starts a simulator (unlimited unless so says otherwise) and opens a
// connector to #general with opts over the defaults.
func setup(t *testing.T, so slacksim.Options, opts map[string]any) *env {
	t.Helper()
	so.Tokens = []string{token}
	if so.Seed == 0 {
		so.Seed = 1
	}
	for _, l := range []*int{&so.PostLimit, &so.UpdateLimit, &so.HistoryLimit} {
		if *l == 0 {
			*l = -1
		}
	}
	s, err := slacksim.New(so)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, sim: s, url: simtest.Start(t, s).URL}
	e.conn = e.open("leads", opts)
	return e
}

// open builds a connector through the registry, as a config would.
func (e *env) open(name string, opts map[string]any) *slack.Conn {
	e.t.Helper()
	c, err := connector.New("slack", connector.Params{Name: name, Options: e.options(opts), AllowPrivateNetwork: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = connector.Close(context.Background(), c) })
	return c.(*slack.Conn)
}

func (e *env) options(opts map[string]any) map[string]any {
	o := map[string]any{
		"base_url": e.url, "token": token, "channel": slacksim.GeneralChannel,
		"text": "New lead {{.email}} from {{.company}}", "rate_per_second": 1000,
	}
	for k, v := range opts {
		o[k] = v
	}
	return o
}

func (e *env) messages() []slacksim.Message { return e.sim.Messages(slacksim.GeneralChannel) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func lead(key string, payload map[string]any) connector.Delivery {
	if payload == nil {
		payload = map[string]any{"email": key, "company": "Acme"}
	}
	return connector.Delivery{ID: "del-" + key, EventID: "ev-" + key, Route: "notify", RecordKey: key, Payload: payload, Attempt: 1}
}

// classified asserts err is a *connector.Error of class c without the token
// and returns it.
func classified(t *testing.T, err error, c connector.Class) *connector.Error {
	t.Helper()
	var ce *connector.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want a *connector.Error", err, err)
	}
	if ce.Class != c {
		t.Fatalf("class = %s (%v), want %s", ce.Class, ce, c)
	}
	if strings.Contains(ce.Error(), token) || strings.Contains(fmt.Sprintf("%+v", ce), token) {
		t.Fatalf("the token leaked into the error: %v", ce)
	}
	return ce
}

func TestRegisteredWithConstraints(t *testing.T) {
	t.Parallel()
	e := setup(t, slacksim.Options{}, map[string]any{"rate_per_second": nil})
	want := connector.Constraints{RatePerSecond: 1, Burst: 1, BatchSize: 1, Timeout: 10 * time.Second, Concurrency: 1}
	if got := e.conn.Constraints(); got != want {
		t.Fatalf("constraints = %+v, want %+v", got, want)
	}
	var c connector.Connector = e.conn
	if _, ok := c.(connector.Batcher); ok {
		t.Fatal("the Slack connector must not batch: Slack has no batch writes")
	}
	if _, ok := c.(connector.Looker); !ok {
		t.Fatal("the Slack connector must be a Looker")
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	base := func() map[string]any {
		return map[string]any{"token": token, "channel": "C0123ABCD", "text": "hi {{.name}}"}
	}
	blocks := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"type": "divider"}
		}
		return out
	}
	cases := []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"unknown key", func(o map[string]any) { o["chanel"] = "x" }, "unknown option"},
		{"no token", func(o map[string]any) { delete(o, "token") }, "options.token: required"},
		{"no channel", func(o map[string]any) { delete(o, "channel") }, "options.channel: required"},
		{"channel name", func(o map[string]any) { o["channel"] = "#leads" }, "is not a channel ID"},
		{"bad base_url", func(o map[string]any) { o["base_url"] = "slack.com" }, "options.base_url"},
		{"credentials in base_url", func(o map[string]any) { o["base_url"] = "https://u:p@slack.com" }, "options.base_url"},
		{"bad timeout", func(o map[string]any) { o["timeout"] = "soon" }, "options.timeout"},
		{"negative rate", func(o map[string]any) { o["rate_per_second"] = -1 }, "options.rate_per_second"},
		{"bad text template", func(o map[string]any) { o["text"] = "hi {{.name" }, "options.text"},
		{"neither text nor blocks", func(o map[string]any) { delete(o, "text") }, "options.text: required unless options.blocks"},
		{"blocks not an array", func(o map[string]any) { o["blocks"] = map[string]any{"type": "divider"} }, "must be an array of blocks"},
		{"blocks string not JSON", func(o map[string]any) { o["blocks"] = "[{" }, "not a JSON array"},
		{"block not an object", func(o map[string]any) { o["blocks"] = []any{"divider"} }, "[0]: must be a block object"},
		{"too many blocks", func(o map[string]any) { o["blocks"] = blocks(51) }, "at most 50"},
		{"bad block template", func(o map[string]any) {
			o["blocks"] = []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "{{.x"}}}
		}, "options.blocks: [0].text.text"},
		{"page size", func(o map[string]any) { o["history_page_size"] = 1000 }, "options.history_page_size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := base()
			tc.change(o)
			_, err := connector.New("slack", connector.Params{Name: "x", Options: o, AllowPrivateNetwork: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Fatalf("the token leaked: %v", err)
			}
		})
	}
	o := base()
	o["blocks"] = blocks(50)
	if _, err := connector.New("slack", connector.Params{Name: "x", Options: o, AllowPrivateNetwork: true}); err != nil {
		t.Fatalf("50 blocks: %v", err)
	}
}

func TestTokenNeverShown(t *testing.T) {
	t.Parallel()
	e := setup(t, slacksim.Options{}, nil)
	for _, s := range []string{e.conn.String(), fmt.Sprintf("%v", e.conn), fmt.Sprintf("%+v", e.conn), fmt.Sprintf("%#v", e.conn)} {
		if strings.Contains(s, token) {
			t.Fatalf("the token is shown: %s", s)
		}
	}
}

func TestPostStampsMetadataAndEscapes(t *testing.T) {
	t.Parallel()
	e := setup(t, slacksim.Options{}, map[string]any{
		"text": "Lead {{.email}} from {{.company}} ({{.employees}} people){{with .note}}: {{.}}{{end}} {{.link | raw}}",
	})
	d := lead("a@example.com", map[string]any{
		"email": "a@example.com", "company": "<!channel> & Sons", "employees": float64(12345678),
		"note": nil, "link": "<https://example.com|site>",
	})
	res, err := e.conn.Deliver(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.messages()
	if len(msgs) != 1 || msgs[0].TS != res.ExternalID {
		t.Fatalf("messages = %+v, result %+v", msgs, res)
	}
	m := msgs[0]
	want := "Lead a@example.com from &lt;!channel&gt; &amp; Sons (12345678 people) <https://example.com|site>"
	if m.Text != want {
		t.Fatalf("text = %q, want %q", m.Text, want)
	}
	if m.Metadata == nil || m.Metadata.EventType != slack.EventType {
		t.Fatalf("metadata = %+v", m.Metadata)
	}
	p := m.Metadata.EventPayload
	if p["record_key"] != "a@example.com" || p["delivery_id"] != d.ID || p["destination"] != "leads" {
		t.Fatalf("event_payload = %v", p)
	}
	if res.Status != 200 || res.Message != "posted" {
		t.Fatalf("result = %+v", res)
	}
}

func TestBlocksTemplate(t *testing.T) {
	t.Parallel()
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": "Lead {{.email}}"}},
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*{{.company}}*"},
			"fields": []any{map[string]any{"type": "mrkdwn", "text": "score: {{.score}}"}}},
		map[string]any{"type": "divider"},
	}
	for _, form := range []string{"array", "JSON string"} {
		t.Run(form, func(t *testing.T) {
			t.Parallel()
			var opt any = blocks
			if form == "JSON string" {
				opt = `[{"type":"header","text":{"type":"plain_text","text":"Lead {{.email}}"}},` +
					`{"type":"section","text":{"type":"mrkdwn","text":"*{{.company}}*"},"fields":[{"type":"mrkdwn","text":"score: {{.score}}"}]},` +
					`{"type":"divider"}]`
			}
			e := setup(t, slacksim.Options{}, map[string]any{"blocks": opt})
			_, err := e.conn.Deliver(ctx(t), lead("b@example.com", map[string]any{
				"email": "b@example.com", "company": `Quote "Co" \ Ltd`, "score": 9.5,
			}))
			if err != nil {
				t.Fatal(err)
			}
			m := e.messages()[0]
			if len(m.Blocks) != 3 {
				t.Fatalf("blocks = %v", m.Blocks)
			}
			sec := m.Blocks[1].(map[string]any)
			if got := sec["text"].(map[string]any)["text"]; got != `*Quote "Co" \ Ltd*` {
				t.Fatalf("section text = %q", got)
			}
			if got := sec["fields"].([]any)[0].(map[string]any)["text"]; got != "score: 9.5" {
				t.Fatalf("field = %q", got)
			}
			if m.Text != "New lead b@example.com from Quote \"Co\" \\ Ltd" {
				t.Fatalf("fallback text = %q", m.Text)
			}
		})
	}
}

func TestTemplateErrors(t *testing.T) {
	t.Parallel()
	e := setup(t, slacksim.Options{}, nil)
	blocksOnly := e.open("blocks", map[string]any{"text": "{{.note}}",
		"blocks": []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "{{.missing}}"}}}})
	emptyText := e.open("empty", map[string]any{"text": "{{.note}}"})
	cases := []struct {
		name string
		conn *slack.Conn
		d    connector.Delivery
		code string
		want string
	}{
		{"missing key", e.conn, lead("k1", map[string]any{"email": "k1"}), "template", `map has no entry for key "company"`},
		{"missing key in blocks", blocksOnly, lead("k2", map[string]any{"note": "x"}), "template", "blocks template"},
		{"text renders empty", emptyText, lead("k3", map[string]any{"note": " "}), "no_text", "rendered nothing"},
		{"text too long", e.conn, lead("k4", map[string]any{"email": "k4", "company": strings.Repeat("x", 40_001)}), "msg_too_long", "40000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.conn.Deliver(ctx(t), tc.d)
			ce := classified(t, err, connector.Permanent)
			if ce.Code != tc.code || !strings.Contains(ce.Message, tc.want) || ce.Sent {
				t.Fatalf("error = %+v, want code %s mentioning %q", ce, tc.code, tc.want)
			}
		})
	}
	if n := e.sim.Stats().Requests; n != 0 {
		t.Fatalf("a record that cannot render sent %d requests", n)
	}
}

// TestOkFalseClassification drives every class of Slack's ok:false answers
// through the simulator: HTTP 200, classified by the error code.
func TestOkFalseClassification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		prepare func(e *env) *slack.Conn
		class   connector.Class
		code    string
		sent    bool
		posted  int // messages in #general afterwards
	}{
		{"invalid_auth", func(e *env) *slack.Conn {
			return e.open("other", map[string]any{"token": "xoxb-not-known"})
		}, connector.Auth, "invalid_auth", false, 0},
		{"not_authed", func(e *env) *slack.Conn { e.sim.FailNext("", "not_authed", false); return e.conn }, connector.Auth, "not_authed", false, 0},
		{"token_revoked", func(e *env) *slack.Conn { e.sim.SetTokenError(token, "token_revoked"); return e.conn }, connector.Auth, "token_revoked", false, 0},
		{"account_inactive", func(e *env) *slack.Conn { e.sim.SetTokenError(token, "account_inactive"); return e.conn }, connector.Auth, "account_inactive", false, 0},
		{"missing_scope", func(e *env) *slack.Conn { e.sim.FailNext("", "missing_scope", false); return e.conn }, connector.Auth, "missing_scope", false, 0},
		{"channel_not_found", func(e *env) *slack.Conn {
			return e.open("gone", map[string]any{"channel": "C0NOSUCH"})
		}, connector.Drift, "channel_not_found", false, 0},
		{"not_in_channel", func(e *env) *slack.Conn {
			must(e.t, e.sim.SetChannel(slacksim.Channel{ID: slacksim.GeneralChannel, Name: "general", NotMember: true}))
			return e.conn
		}, connector.Drift, "not_in_channel", false, 0},
		{"is_archived", func(e *env) *slack.Conn {
			must(e.t, e.sim.SetChannel(slacksim.Channel{ID: slacksim.GeneralChannel, Name: "general", Archived: true}))
			return e.conn
		}, connector.Drift, "is_archived", false, 0},
		{"msg_too_long", func(e *env) *slack.Conn { return e.conn }, connector.Permanent, "msg_too_long", false, 0},
		{"invalid_blocks", func(e *env) *slack.Conn {
			return e.open("blocks", map[string]any{"blocks": []any{
				map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": "{{.company}}"}}}})
		}, connector.Permanent, "invalid_blocks", false, 0},
		{"no_text", func(e *env) *slack.Conn { e.sim.FailNext("chat.postMessage", "no_text", false); return e.conn }, connector.Permanent, "no_text", false, 0},
		{"unknown code", func(e *env) *slack.Conn { e.sim.FailNext("", "something_new", false); return e.conn }, connector.Permanent, "something_new", false, 0},
		{"ratelimited", func(e *env) *slack.Conn { e.sim.FailNext("", "ratelimited", false); return e.conn }, connector.Retryable, "ratelimited", false, 0},
		{"service_unavailable", func(e *env) *slack.Conn { e.sim.FailNext("", "service_unavailable", false); return e.conn }, connector.Retryable, "service_unavailable", false, 0},
		{"internal_error", func(e *env) *slack.Conn { e.sim.FailNext("", "internal_error", true); return e.conn }, connector.Retryable, "internal_error", true, 1},
		{"fatal_error", func(e *env) *slack.Conn { e.sim.FailNext("", "fatal_error", false); return e.conn }, connector.Retryable, "fatal_error", true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			so := slacksim.Options{}
			if tc.code == "msg_too_long" {
				so.MaxTextChars = 20
			}
			e := setup(t, so, nil)
			c := tc.prepare(e)
			d := lead("c@example.com", map[string]any{"email": "c@example.com", "company": strings.Repeat("Acme ", 40)})
			_, err := c.Deliver(ctx(t), d)
			ce := classified(t, err, tc.class)
			if ce.Code != tc.code || ce.Status != 200 || ce.Sent != tc.sent {
				t.Fatalf("error = %+v, want code %s, status 200, sent %v", ce, tc.code, tc.sent)
			}
			if !strings.Contains(ce.Message, "chat.postMessage: "+tc.code) {
				t.Fatalf("message %q does not name the method and code", ce.Message)
			}
			if n := len(e.messages()); n != tc.posted {
				t.Fatalf("%d messages, want %d", n, tc.posted)
			}
		})
	}
}

func TestInvalidBlocksCarriesSlackDetails(t *testing.T) {
	t.Parallel()
	e := setup(t, slacksim.Options{}, map[string]any{"blocks": []any{
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "{{.company}}"}}}})
	_, err := e.conn.Deliver(ctx(t), lead("d@example.com", map[string]any{"email": "d", "company": strings.Repeat("x", 3001)}))
	ce := classified(t, err, connector.Permanent)
	if !strings.Contains(ce.Message, "must be less than 3001 characters [json-pointer:/blocks/0/text/text]") {
		t.Fatalf("message = %q", ce.Message)
	}
}

// TestRateLimit429 checks that a 429 is Retryable with Slack's Retry-After,
// sends nothing, and holds the connector back for that long.
func TestRateLimit429(t *testing.T) {
	t.Parallel()
	e := setup(t, slacksim.Options{PostLimit: 1, PostInterval: 5 * time.Second}, nil)
	if _, err := e.conn.Deliver(ctx(t), lead("r1@example.com", nil)); err != nil {
		t.Fatal(err)
	}
	_, err := e.conn.Deliver(ctx(t), lead("r2@example.com", nil))
	ce := classified(t, err, connector.Retryable)
	if ce.Status != 429 || ce.Code != "ratelimited" || ce.RetryAfter != 5*time.Second || ce.Sent {
		t.Fatalf("429 = %+v, want status 429, ratelimited, RetryAfter 5s, not sent", ce)
	}
	if n := len(e.messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
	before := e.sim.Stats().Requests
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = e.conn.Deliver(short, lead("r3@example.com", nil))
	ce = classified(t, err, connector.Retryable)
	if ce.Sent || !strings.Contains(ce.Message, "waiting for Slack's rate limit") {
		t.Fatalf("held request = %+v", ce)
	}
	if after := e.sim.Stats().Requests; after != before {
		t.Fatalf("the connector sent %d requests while Slack asked it to wait", after-before)
	}
}

// TestAmbiguousTimeoutThenLookup: a post applied but never answered is
// found by key on the retry, which updates it instead of posting again.
func TestAmbiguousTimeoutThenLookup(t *testing.T) {
	t.Parallel()
	e := setup(t, slacksim.Options{Faults: sim.Faults{TimeoutAfterWrite: 1, Hang: sim.Duration(2 * time.Second)}},
		map[string]any{"timeout": "300ms"})
	d := lead("amb@example.com", nil)
	_, err := e.conn.Deliver(ctx(t), d)
	ce := classified(t, err, connector.Retryable)
	if !ce.Sent {
		t.Fatalf("a timeout after sending must be Sent: %+v", ce)
	}
	must(t, e.sim.SetFaults(sim.Faults{}))
	posted := e.messages()
	if len(posted) != 1 {
		t.Fatalf("%d messages after the timeout, want the 1 applied", len(posted))
	}

	retry := lead("amb@example.com", map[string]any{"email": "amb@example.com", "company": "Acme Inc"})
	retry.ID, retry.Attempt, retry.Ambiguous = "del-amb-2", 2, true
	res, err := e.conn.Deliver(ctx(t), retry)
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.messages()
	if len(msgs) != 1 || res.ExternalID != posted[0].TS {
		t.Fatalf("after the retry: %d messages, result %+v, want 1 with ts %s", len(msgs), res, posted[0].TS)
	}
	if msgs[0].Text != "New lead amb@example.com from Acme Inc" || msgs[0].EditedTS == "" {
		t.Fatalf("the retry did not update the message: %+v", msgs[0])
	}
	if msgs[0].Metadata.EventPayload["delivery_id"] != "del-amb-2" {
		t.Fatalf("metadata = %v", msgs[0].Metadata.EventPayload)
	}
	if st := e.sim.Stats(); st.DuplicatesByKey != 0 {
		t.Fatalf("duplicates = %d", st.DuplicatesByKey)
	}
}

// TestInternalErrorAppliedIsNotDuplicated: internal_error may follow a post
// that happened; the retry (Ambiguous, as the engine marks it after a Sent
// error) finds it.
func TestInternalErrorAppliedIsNotDuplicated(t *testing.T) {
	t.Parallel()
	e := setup(t, slacksim.Options{}, nil)
	e.sim.FailNext("chat.postMessage", "internal_error", true)
	d := lead("ie@example.com", nil)
	_, err := e.conn.Deliver(ctx(t), d)
	if ce := classified(t, err, connector.Retryable); !ce.Sent {
		t.Fatalf("internal_error on a post must be Sent: %+v", ce)
	}
	d.Ambiguous, d.Attempt = true, 2
	if _, err := e.conn.Deliver(ctx(t), d); err != nil {
		t.Fatal(err)
	}
	if n := len(e.messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

func TestUpdatePath(t *testing.T) {
	t.Parallel()
	e := setup(t, slacksim.Options{}, nil)
	first, err := e.conn.Deliver(ctx(t), lead("u@example.com", nil))
	if err != nil {
		t.Fatal(err)
	}
	d := lead("u@example.com", map[string]any{"email": "u@example.com", "company": "Renamed"})
	d.ID, d.ExternalID = "del-u-2", first.ExternalID
	res, err := e.conn.Deliver(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalID != first.ExternalID || res.Message != "updated" {
		t.Fatalf("update result = %+v", res)
	}
	msgs := e.messages()
	if len(msgs) != 1 || msgs[0].Text != "New lead u@example.com from Renamed" || msgs[0].EditedTS == "" {
		t.Fatalf("messages = %+v", msgs)
	}
	if st := e.sim.Stats(); st.ByStatus["200"] != 2 {
		t.Fatalf("requests = %+v, want one post and one update", st)
	}
	id, fields, found, err := e.conn.Lookup(ctx(t), "u@example.com")
	if err != nil || !found || id != first.ExternalID {
		t.Fatalf("lookup = %q %v %v", id, found, err)
	}
	if fields["text"] != msgs[0].Text || fields["edited"] != true || fields["delivery_id"] != "del-u-2" || fields["channel"] != slacksim.GeneralChannel {
		t.Fatalf("fields = %v", fields)
	}

	// Someone deleted the message in Slack: the update falls back to a
	// new post.
	if !e.sim.DeleteMessage(slacksim.GeneralChannel, first.ExternalID) {
		t.Fatal("delete failed")
	}
	d.ID = "del-u-3"
	res, err = e.conn.Deliver(ctx(t), d)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalID == first.ExternalID || res.Message != "posted" {
		t.Fatalf("after delete: %+v, want a new post", res)
	}
	if n := len(e.messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// TestLookupIsBoundedAndPerDestination: the scan reads at most lookup_pages
// pages, and ignores messages another destination posted for the same key.
func TestLookupIsBoundedAndPerDestination(t *testing.T) {
	t.Parallel()
	e := setup(t, slacksim.Options{}, nil)
	other := e.open("other-route", nil)
	if _, err := e.conn.Deliver(ctx(t), lead("old@example.com", nil)); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := e.conn.Deliver(ctx(t), lead(fmt.Sprintf("n%d@example.com", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	otherTS, err := other.Deliver(ctx(t), lead("old@example.com", nil))
	if err != nil {
		t.Fatal(err)
	}

	narrow := e.open("leads", map[string]any{"lookup_pages": 2, "history_page_size": 2})
	before := e.sim.Stats().Requests
	_, _, found, err := narrow.Lookup(ctx(t), "old@example.com")
	if err != nil || found {
		t.Fatalf("a message past the scan: found=%v err=%v", found, err)
	}
	if n := e.sim.Stats().Requests - before; n != 2 {
		t.Fatalf("the scan made %d requests, want 2 (lookup_pages)", n)
	}
	wide := e.open("leads", map[string]any{"history_page_size": 2})
	id, _, found, err := wide.Lookup(ctx(t), "old@example.com")
	if err != nil || !found || id == otherTS.ExternalID {
		t.Fatalf("wide lookup = %q %v %v (other destination's ts %s)", id, found, err, otherTS.ExternalID)
	}
	id, _, found, err = other.Lookup(ctx(t), "old@example.com")
	if err != nil || !found || id != otherTS.ExternalID {
		t.Fatalf("other destination's lookup = %q %v %v", id, found, err)
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status string
		class  connector.Class
		code   string
		sent   bool
	}{
		{"500", connector.Retryable, "internal_error", true},
		{"503", connector.Retryable, "service_unavailable", true},
		{"429", connector.Retryable, "ratelimited", false},
		// Slack reports auth failures as HTTP 200 with ok:false.
		{"401", connector.Auth, "token_revoked", false},
		{"403", connector.Auth, "missing_scope", false},
	}
	for _, tc := range cases {
		t.Run(tc.status, func(t *testing.T) {
			t.Parallel()
			e := setup(t, slacksim.Options{Faults: sim.Faults{Errors: map[string]float64{tc.status: 1}}}, nil)
			_, err := e.conn.Deliver(ctx(t), lead("h@example.com", nil))
			ce := classified(t, err, tc.class)
			wantStatus := tc.status
			if tc.class == connector.Auth {
				wantStatus = "200"
			}
			if fmt.Sprint(ce.Status) != wantStatus || ce.Code != tc.code || ce.Sent != tc.sent {
				t.Fatalf("error = %+v", ce)
			}
			if tc.status == "429" && ce.RetryAfter != time.Second {
				t.Fatalf("RetryAfter = %v, want 1s", ce.RetryAfter)
			}
		})
	}
	t.Run("wrong base_url", func(t *testing.T) {
		t.Parallel()
		e := setup(t, slacksim.Options{}, nil)
		c := e.open("x", map[string]any{"base_url": e.url + "/v1"})
		_, err := c.Deliver(ctx(t), lead("w@example.com", nil))
		ce := classified(t, err, connector.Permanent)
		if ce.Status != 404 || !strings.Contains(ce.Message, "base_url") {
			t.Fatalf("error = %+v", ce)
		}
	})
}

func TestLookupErrorsAreClassified(t *testing.T) {
	t.Parallel()
	e := setup(t, slacksim.Options{}, nil)
	must(t, e.sim.SetChannel(slacksim.Channel{ID: slacksim.GeneralChannel, Name: "general", NotMember: true}))
	_, _, _, err := e.conn.Lookup(ctx(t), "x@example.com")
	ce := classified(t, err, connector.Drift)
	if ce.Code != "not_in_channel" || !strings.Contains(ce.Message, "conversations.history") {
		t.Fatalf("error = %+v", ce)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
