package slack_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/sim/simtest"
	"github.com/sluicehq/sluice/internal/sim/slack"
)

const (
	token    = "xoxb-test-token"
	jsonType = "application/json; charset=utf-8"
	formType = "application/x-www-form-urlencoded"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t   *testing.T
	s   *slack.Server
	url string
}

func start(t *testing.T, o slack.Options) *fixture {
	t.Helper()
	if o.Tokens == nil {
		o.Tokens = []string{token}
	}
	if o.Seed == 0 {
		o.Seed = 3
	}
	s, err := slack.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, s: s, url: simtest.Start(t, s).URL}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a answer) ok() bool            { return a.body["ok"] == true }
func (a answer) code() string        { s, _ := a.body["error"].(string); return s }
func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

// do sends one request; tok "" sends no Authorization header.
func (f *fixture) do(tok, httpMethod, path, contentType, body string) answer {
	f.t.Helper()
	req, err := http.NewRequest(httpMethod, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", httpMethod, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		f.t.Fatalf("%s %s: answer is not JSON: %s", httpMethod, path, raw)
	}
	return a
}

// post calls a method with a JSON body built from args.
func (f *fixture) post(method string, args map[string]any) answer {
	f.t.Helper()
	b, _ := json.Marshal(args)
	return f.do(token, http.MethodPost, "/api/"+method, jsonType, string(b))
}

func (f *fixture) history(q url.Values) answer {
	f.t.Helper()
	return f.do(token, http.MethodGet, "/api/conversations.history?"+q.Encode(), "", "")
}

func msg(channel, text, key string) map[string]any {
	m := map[string]any{"channel": channel, "text": text}
	if key != "" {
		m["metadata"] = map[string]any{"event_type": "sluice_record", "event_payload": map[string]any{"record_key": key}}
	}
	return m
}

func TestAuth(t *testing.T) {
	t.Parallel()
	f := start(t, slack.Options{})
	body := `{"channel":"C0SLUICE01","text":"hi"}`
	if a := f.do("", http.MethodPost, "/api/chat.postMessage", jsonType, body); a.status != 200 || a.code() != "not_authed" {
		t.Fatalf("no token: %d %v", a.status, a.body)
	}
	if a := f.do("xoxb-wrong", http.MethodPost, "/api/chat.postMessage", jsonType, body); a.status != 200 || a.code() != "invalid_auth" {
		t.Fatalf("unknown token: %d %v", a.status, a.body)
	}
	// A JSON body's token does not count; a form's does.
	if a := f.do("", http.MethodPost, "/api/chat.postMessage", jsonType, `{"token":"`+token+`","channel":"C0SLUICE01","text":"hi"}`); a.code() != "not_authed" {
		t.Fatalf("token in JSON: %v", a.body)
	}
	form := url.Values{"token": {token}, "channel": {"general"}, "text": {"hi"}}.Encode()
	if a := f.do("", http.MethodPost, "/api/chat.postMessage", formType, form); !a.ok() {
		t.Fatalf("token in form: %v", a.body)
	}
	f.s.SetTokenError(token, "token_revoked")
	if a := f.do(token, http.MethodPost, "/api/chat.postMessage", jsonType, body); a.status != 200 || a.code() != "token_revoked" {
		t.Fatalf("revoked: %d %v", a.status, a.body)
	}
	f.s.SetTokenError(token, "")
	if a := f.do(token, http.MethodGet, "/api/auth.test", "", ""); !a.ok() || a.str("team_id") != slack.TeamID {
		t.Fatalf("auth.test: %v", a.body)
	}
	if a := f.do(token, http.MethodPost, "/api/chat.delete", jsonType, body); a.status != 200 || a.code() != "unknown_method" {
		t.Fatalf("unknown method: %d %v", a.status, a.body)
	}
}

func TestPostAndHistory(t *testing.T) {
	t.Parallel()
	f := start(t, slack.Options{HistoryMaxPage: 3, PostLimit: -1})
	var tss []string
	for i := range 5 {
		a := f.post("chat.postMessage", msg("#general", fmt.Sprintf("m%d", i), fmt.Sprintf("k%d", i)))
		if !a.ok() || a.str("channel") != slack.GeneralChannel || a.str("ts") == "" {
			t.Fatalf("post %d: %v", i, a.body)
		}
		if _, warned := a.body["warning"]; warned {
			t.Fatalf("a JSON body with a charset was warned: %v", a.body)
		}
		m := a.body["message"].(map[string]any)
		if m["text"] != fmt.Sprintf("m%d", i) || m["bot_id"] != slack.BotID || m["metadata"] == nil {
			t.Fatalf("post %d message: %v", i, m)
		}
		tss = append(tss, a.str("ts"))
	}
	for i := 1; i < len(tss); i++ {
		if tss[i] <= tss[i-1] {
			t.Fatalf("ts not increasing: %v", tss)
		}
	}

	// Newest first, capped at HistoryMaxPage, metadata only on request.
	a := f.history(url.Values{"channel": {slack.GeneralChannel}, "limit": {"10"}})
	msgs := a.body["messages"].([]any)
	if !a.ok() || len(msgs) != 3 || a.body["has_more"] != true {
		t.Fatalf("history page 1: %v", a.body)
	}
	first := msgs[0].(map[string]any)
	if first["ts"] != tss[4] || first["metadata"] != nil {
		t.Fatalf("newest first without metadata: %v", first)
	}
	cursor := a.body["response_metadata"].(map[string]any)["next_cursor"].(string)
	q := url.Values{"channel": {slack.GeneralChannel}, "limit": {"3"}, "cursor": {cursor}, "include_all_metadata": {"true"}}
	a = f.history(q)
	msgs = a.body["messages"].([]any)
	if len(msgs) != 2 || a.body["has_more"] != false || a.body["response_metadata"] != nil {
		t.Fatalf("history page 2: %v", a.body)
	}
	last := msgs[1].(map[string]any)
	md, _ := last["metadata"].(map[string]any)
	if last["ts"] != tss[0] || md["event_type"] != "sluice_record" || md["event_payload"].(map[string]any)["record_key"] != "k0" {
		t.Fatalf("oldest with metadata: %v", last)
	}
	if a := f.history(url.Values{"channel": {slack.GeneralChannel}, "cursor": {"bm9wZQ=="}}); a.code() != "invalid_cursor" {
		t.Fatalf("bad cursor: %v", a.body)
	}
	if a := f.history(url.Values{"channel": {"general"}}); a.code() != "channel_not_found" {
		t.Fatalf("history by name: %v", a.body)
	}
	// oldest and latest bound the page.
	a = f.history(url.Values{"channel": {slack.GeneralChannel}, "oldest": {tss[1]}, "latest": {tss[3]}})
	if msgs := a.body["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["ts"] != tss[2] {
		t.Fatalf("oldest/latest: %v", a.body)
	}
	a = f.history(url.Values{"channel": {slack.GeneralChannel}, "oldest": {tss[1]}, "latest": {tss[3]}, "inclusive": {"true"}})
	if msgs := a.body["messages"].([]any); len(msgs) != 3 {
		t.Fatalf("inclusive: %v", a.body)
	}
	if got := len(f.s.Messages(slack.GeneralChannel)); got != 5 {
		t.Fatalf("accessor: %d messages", got)
	}
}

func TestRequestFormats(t *testing.T) {
	t.Parallel()
	f := start(t, slack.Options{})
	a := f.do(token, http.MethodPost, "/api/chat.postMessage", "application/json", `{"channel":"C0SLUICE01","text":"no charset"}`)
	warnings, _ := a.body["response_metadata"].(map[string]any)["warnings"].([]any)
	if !a.ok() || a.str("warning") != "missing_charset" || len(warnings) != 1 {
		t.Fatalf("missing charset: %v", a.body)
	}
	form := url.Values{
		"channel":  {"leads"},
		"blocks":   {`[{"type":"section","text":{"type":"mrkdwn","text":"*hi*"}}]`},
		"metadata": {`{"event_type":"x","event_payload":{"record_key":"f1"}}`},
	}
	a = f.do(token, http.MethodPost, "/api/chat.postMessage", formType, form.Encode())
	if !a.ok() || a.str("channel") != slack.LeadsChannel {
		t.Fatalf("form post: %v", a.body)
	}
	m := f.s.Messages(slack.LeadsChannel)[0]
	if len(m.Blocks) != 1 || m.RecordKey() != "f1" || m.Text != "" {
		t.Fatalf("stored: %+v", m)
	}
	for _, tc := range []struct{ ct, body, code string }{
		{"application/xml", "<x/>", "invalid_post_type"},
		{"", "channel=x", "missing_post_type"},
		{"application/json; charset=utf-16", "{}", "invalid_charset"},
		{jsonType, "{", "invalid_arguments"},
	} {
		if a := f.do(token, http.MethodPost, "/api/chat.postMessage", tc.ct, tc.body); a.code() != tc.code {
			t.Fatalf("%q %q: %v, want %s", tc.ct, tc.body, a.body, tc.code)
		}
	}
}

func TestPostValidation(t *testing.T) {
	t.Parallel()
	many := make([]any, 51)
	for i := range many {
		many[i] = map[string]any{"type": "divider"}
	}
	section := func(text string) []any {
		return []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}}
	}
	cases := []struct {
		name  string
		args  map[string]any
		code  string
		issue string
	}{
		{"no text", map[string]any{"channel": slack.GeneralChannel, "text": " "}, "no_text", ""},
		{"no channel", map[string]any{"text": "x"}, "channel_not_found", ""},
		{"unknown channel", map[string]any{"channel": "C0NOPE", "text": "x"}, "channel_not_found", ""},
		{"51 blocks", map[string]any{"channel": slack.GeneralChannel, "blocks": many}, "invalid_blocks", "no more than 50 items allowed [json-pointer:/blocks]"},
		{"section too long", map[string]any{"channel": slack.GeneralChannel, "blocks": section(strings.Repeat("é", 3001))}, "invalid_blocks",
			"must be less than 3001 characters [json-pointer:/blocks/0/text/text]"},
		{"header mrkdwn", map[string]any{"channel": slack.GeneralChannel, "blocks": []any{
			map[string]any{"type": "header", "text": map[string]any{"type": "mrkdwn", "text": "x"}}}}, "invalid_blocks", `must be "plain_text" [json-pointer:/blocks/0/text/type]`},
		{"unknown block", map[string]any{"channel": slack.GeneralChannel, "blocks": []any{map[string]any{"type": "carousel"}}}, "invalid_blocks", `unsupported type "carousel" [json-pointer:/blocks/0/type]`},
		{"blocks not JSON", map[string]any{"channel": slack.GeneralChannel, "blocks": "[{"}, "invalid_blocks_format", ""},
		{"blocks an object", map[string]any{"channel": slack.GeneralChannel, "blocks": map[string]any{}}, "invalid_blocks_format", ""},
		{"metadata not JSON", map[string]any{"channel": slack.GeneralChannel, "text": "x", "metadata": "{"}, "invalid_metadata_format", ""},
		{"metadata without type", map[string]any{"channel": slack.GeneralChannel, "text": "x",
			"metadata": map[string]any{"event_payload": map[string]any{}}}, "invalid_metadata_schema", ""},
		{"metadata payload not object", map[string]any{"channel": slack.GeneralChannel, "text": "x",
			"metadata": map[string]any{"event_type": "t", "event_payload": "x"}}, "invalid_metadata_schema", ""},
	}
	f := start(t, slack.Options{PostLimit: -1})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := f.post("chat.postMessage", tc.args)
			if a.status != 200 || a.code() != tc.code {
				t.Fatalf("%d %v, want %s", a.status, a.body, tc.code)
			}
			if tc.issue != "" {
				msgs := a.body["response_metadata"].(map[string]any)["messages"].([]any)
				if len(msgs) == 0 || msgs[0] != "[ERROR] "+tc.issue {
					t.Fatalf("messages = %v, want %q", msgs, tc.issue)
				}
			}
		})
	}
	if n := len(f.s.Records()); n != 0 {
		t.Fatalf("refused posts stored %d messages", n)
	}
}

func TestChannelStates(t *testing.T) {
	t.Parallel()
	f := start(t, slack.Options{Channels: []slack.Channel{
		{ID: "C0ARCHIVED", Name: "old", Archived: true},
		{ID: "C0OUTSIDE", Name: "private", NotMember: true},
	}})
	if a := f.post("chat.postMessage", msg("old", "x", "")); a.code() != "is_archived" {
		t.Fatalf("archived: %v", a.body)
	}
	if a := f.history(url.Values{"channel": {"C0ARCHIVED"}}); !a.ok() {
		t.Fatalf("an archived channel's history stays readable: %v", a.body)
	}
	if a := f.post("chat.postMessage", msg("C0OUTSIDE", "x", "")); a.code() != "not_in_channel" {
		t.Fatalf("not a member: %v", a.body)
	}
	if a := f.history(url.Values{"channel": {"C0OUTSIDE"}}); a.code() != "not_in_channel" {
		t.Fatalf("not a member, history: %v", a.body)
	}
	if err := f.s.SetChannel(slack.Channel{ID: "C0OUTSIDE", Name: "private"}); err != nil {
		t.Fatal(err)
	}
	if a := f.post("chat.postMessage", msg("private", "x", "")); !a.ok() {
		t.Fatalf("after joining: %v", a.body)
	}
	if err := f.s.SetChannel(slack.Channel{ID: "C0OTHER", Name: "old"}); err == nil {
		t.Fatal("a taken name was accepted")
	}
}

func TestTextLimits(t *testing.T) {
	t.Parallel()
	f := start(t, slack.Options{})
	long := strings.Repeat("ü", slack.TruncateTextAt+10)
	if a := f.post("chat.postMessage", msg(slack.GeneralChannel, long, "")); !a.ok() {
		t.Fatalf("long text: %v", a.body)
	}
	if got := []rune(f.s.Messages(slack.GeneralChannel)[0].Text); len(got) != slack.TruncateTextAt {
		t.Fatalf("stored %d characters, want the text truncated to %d", len(got), slack.TruncateTextAt)
	}
	strict := start(t, slack.Options{MaxTextChars: 4000})
	if a := strict.post("chat.postMessage", msg(slack.GeneralChannel, strings.Repeat("x", 4001), "")); a.code() != "msg_too_long" {
		t.Fatalf("over MaxTextChars: %v", a.body)
	}
	if a := strict.post("chat.postMessage", msg(slack.GeneralChannel, strings.Repeat("x", 4000), "")); !a.ok() {
		t.Fatalf("at MaxTextChars: %v", a.body)
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	f := start(t, slack.Options{})
	ts := f.post("chat.postMessage", msg(slack.GeneralChannel, "before", "u1")).str("ts")
	a := f.post("chat.update", map[string]any{"channel": slack.GeneralChannel, "ts": ts, "text": "after"})
	if !a.ok() || a.str("ts") != ts || a.str("text") != "after" {
		t.Fatalf("update: %v", a.body)
	}
	m := f.s.Messages(slack.GeneralChannel)[0]
	if m.Text != "after" || m.EditedTS == "" || m.RecordKey() != "u1" {
		t.Fatalf("updated message (metadata must stay when not given): %+v", m)
	}
	hist := f.history(url.Values{"channel": {slack.GeneralChannel}}).body["messages"].([]any)[0].(map[string]any)
	if hist["edited"] == nil {
		t.Fatalf("history does not show the edit: %v", hist)
	}
	for _, tc := range []struct {
		args map[string]any
		code string
	}{
		{map[string]any{"channel": slack.GeneralChannel, "ts": "1.000001", "text": "x"}, "message_not_found"},
		{map[string]any{"channel": slack.GeneralChannel, "text": "x"}, "invalid_arguments"},
		{map[string]any{"channel": "general", "ts": ts, "text": "x"}, "channel_not_found"},
		{map[string]any{"channel": slack.GeneralChannel, "ts": ts}, "no_text"},
	} {
		if a := f.post("chat.update", tc.args); a.code() != tc.code {
			t.Fatalf("%v: %v, want %s", tc.args, a.body, tc.code)
		}
	}
	if !f.s.DeleteMessage(slack.GeneralChannel, ts) {
		t.Fatal("delete")
	}
	if a := f.post("chat.update", map[string]any{"channel": slack.GeneralChannel, "ts": ts, "text": "x"}); a.code() != "message_not_found" {
		t.Fatalf("deleted: %v", a.body)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	f := start(t, slack.Options{Now: clk.Now, UpdateLimit: 2, HistoryLimit: 1})
	for i := range slack.DefaultPostLimit {
		if a := f.post("chat.postMessage", msg(slack.GeneralChannel, fmt.Sprint(i), "")); !a.ok() {
			t.Fatalf("burst %d: %v", i, a.body)
		}
		clk.Advance(100 * time.Millisecond)
	}
	a := f.post("chat.postMessage", msg(slack.GeneralChannel, "one too many", ""))
	if a.status != 429 || a.code() != "ratelimited" || a.header.Get("Retry-After") != "3" {
		t.Fatalf("over the channel limit: %d %v Retry-After=%q", a.status, a.body, a.header.Get("Retry-After"))
	}
	if a := f.post("chat.postMessage", msg(slack.LeadsChannel, "other channel", "")); !a.ok() {
		t.Fatalf("another channel has its own limit: %v", a.body)
	}
	clk.Advance(2800 * time.Millisecond) // the first post leaves the window
	if a := f.post("chat.postMessage", msg(slack.GeneralChannel, "later", "")); !a.ok() {
		t.Fatalf("after the window: %v", a.body)
	}

	ts := f.s.Messages(slack.GeneralChannel)[0].TS
	up := map[string]any{"channel": slack.GeneralChannel, "ts": ts, "text": "e"}
	f.post("chat.update", up)
	f.post("chat.update", up)
	if a := f.post("chat.update", up); a.status != 429 || a.header.Get("Retry-After") != "60" {
		t.Fatalf("update limit: %d %v %q", a.status, a.body, a.header.Get("Retry-After"))
	}
	f.history(url.Values{"channel": {slack.GeneralChannel}})
	clk.Advance(30 * time.Second)
	if a := f.history(url.Values{"channel": {slack.GeneralChannel}}); a.status != 429 || a.header.Get("Retry-After") != "30" {
		t.Fatalf("history limit: %d %v %q", a.status, a.body, a.header.Get("Retry-After"))
	}
	if got := f.s.Stats().RateLimited; got != 3 {
		t.Fatalf("rate limited = %d, want 3", got)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	f := start(t, slack.Options{Faults: sim.Faults{Revoked: true}})
	if a := f.post("chat.postMessage", msg(slack.GeneralChannel, "x", "")); a.status != 200 || a.code() != "token_revoked" {
		t.Fatalf("revoked: %d %v", a.status, a.body)
	}
	for status, code := range map[string]string{"500": "internal_error", "503": "service_unavailable", "429": "ratelimited"} {
		if err := f.s.SetFaults(sim.Faults{Errors: map[string]float64{status: 1}}); err != nil {
			t.Fatal(err)
		}
		a := f.post("chat.postMessage", msg(slack.GeneralChannel, "x", ""))
		if fmt.Sprint(a.status) != status || a.code() != code {
			t.Fatalf("injected %s: %d %v", status, a.status, a.body)
		}
	}
	// Slack never answers auth failures with 401 or 403: the body says it.
	for status, code := range map[string]string{"401": "token_revoked", "403": "missing_scope"} {
		if err := f.s.SetFaults(sim.Faults{Errors: map[string]float64{status: 1}}); err != nil {
			t.Fatal(err)
		}
		if a := f.post("chat.postMessage", msg(slack.GeneralChannel, "x", "")); a.status != 200 || a.code() != code {
			t.Fatalf("injected %s: %d %v", status, a.status, a.body)
		}
	}
	if n := len(f.s.Records()); n != 0 {
		t.Fatalf("injected errors wrote %d messages", n)
	}

	if err := f.s.SetFaults(sim.Faults{RemovedFields: []string{slack.GeneralChannel, "channels.leads"}}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{slack.GeneralChannel, "general", slack.LeadsChannel} {
		if a := f.post("chat.postMessage", msg(ch, "x", "")); a.code() != "channel_not_found" {
			t.Fatalf("removed channel %s: %v", ch, a.body)
		}
	}
	if a := f.history(url.Values{"channel": {slack.GeneralChannel}}); a.code() != "channel_not_found" {
		t.Fatalf("removed channel history: %v", a.body)
	}

	if err := f.s.SetFaults(sim.Faults{TimeoutAfterWrite: 1, Hang: sim.Duration(10 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, f.url+"/api/chat.postMessage", strings.NewReader(`{"channel":"C0SLUICE01","text":"lost"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", jsonType)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a timed-out write was answered")
	}
	if msgs := f.s.Messages(slack.GeneralChannel); len(msgs) != 1 || msgs[0].Text != "lost" {
		t.Fatalf("the write was not applied: %+v", msgs)
	}
	if st := f.s.Stats(); st.TimeoutsAfterWrite != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	f := start(t, slack.Options{})
	f.s.FailNext("conversations.history", "internal_error", false)
	f.s.FailNext("chat.postMessage", "fatal_error", true)
	f.s.FailNext("", "service_unavailable", false)
	if a := f.post("chat.postMessage", msg(slack.GeneralChannel, "applied", "")); a.code() != "fatal_error" {
		t.Fatalf("fatal_error: %v", a.body)
	}
	if n := len(f.s.Messages(slack.GeneralChannel)); n != 1 {
		t.Fatalf("applied failure stored %d messages, want 1", n)
	}
	if a := f.history(url.Values{"channel": {slack.GeneralChannel}}); a.code() != "internal_error" {
		t.Fatalf("history failure: %v", a.body)
	}
	if a := f.post("chat.postMessage", msg(slack.GeneralChannel, "refused", "")); a.code() != "service_unavailable" {
		t.Fatalf("any-method failure: %v", a.body)
	}
	if a := f.post("chat.postMessage", msg(slack.GeneralChannel, "fine", "")); !a.ok() {
		t.Fatalf("queue drained: %v", a.body)
	}
	if n := len(f.s.Messages(slack.GeneralChannel)); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

func TestDuplicatesByKey(t *testing.T) {
	t.Parallel()
	f := start(t, slack.Options{PostLimit: -1})
	f.post("chat.postMessage", msg(slack.GeneralChannel, "a", "k1"))
	f.post("chat.postMessage", msg(slack.GeneralChannel, "b", "k2"))
	f.post("chat.postMessage", msg(slack.LeadsChannel, "a", "k1")) // another channel
	if d := f.s.Stats().DuplicatesByKey; d != 0 {
		t.Fatalf("duplicates = %d, want 0", d)
	}
	ts := f.post("chat.postMessage", msg(slack.GeneralChannel, "again", "k1")).str("ts")
	if d := f.s.Stats().DuplicatesByKey; d != 1 {
		t.Fatalf("duplicates = %d, want 1", d)
	}
	f.s.DeleteMessage(slack.GeneralChannel, ts)
	f.post("chat.postMessage", msg(slack.GeneralChannel, "plain", ""))
	f.post("chat.postMessage", msg(slack.GeneralChannel, "plain", ""))
	if d := f.s.Stats().DuplicatesByKey; d != 2 {
		t.Fatalf("duplicates = %d, want 2 (same text without a key)", d)
	}
}

func TestControlEndpoints(t *testing.T) {
	t.Parallel()
	f := start(t, slack.Options{})
	f.post("chat.postMessage", msg(slack.GeneralChannel, "x", "k"))
	resp, err := http.Get(f.url + "/_sim/records")
	if err != nil {
		t.Fatal(err)
	}
	var recs []slack.Message
	err = json.NewDecoder(resp.Body).Decode(&recs)
	resp.Body.Close()
	if err != nil || len(recs) != 1 || recs[0].Channel != slack.GeneralChannel || recs[0].RecordKey() != "k" {
		t.Fatalf("records = %+v, %v", recs, err)
	}
	f.s.SetTokenError(token, "account_inactive")
	resp, err = http.Post(f.url+"/_sim/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := len(f.s.Records()); n != 0 {
		t.Fatalf("%d messages after reset", n)
	}
	if a := f.post("chat.postMessage", msg(slack.GeneralChannel, "x", "")); !a.ok() {
		t.Fatalf("token error survived reset: %v", a.body)
	}
}

func TestNewValidatesChannels(t *testing.T) {
	t.Parallel()
	for _, chs := range [][]slack.Channel{
		{{Name: "x"}},
		{{ID: "C1", Name: "a"}, {ID: "C1", Name: "b"}},
		{{ID: "C1", Name: "a"}, {ID: "C2", Name: "a"}},
	} {
		if _, err := slack.New(slack.Options{Channels: chs}); err == nil {
			t.Fatalf("channels %+v accepted", chs)
		}
	}
}
