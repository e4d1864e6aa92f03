package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

// countingSim is a Notion simulator that remembers who asked it what: the
// bearer token of each request and the body of each database query.
type countingSim struct {
	h       http.Handler
	url     string
	mu      sync.Mutex
	n       int
	tokens  map[string]int
	queries []string
}

func (c *countingSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/_sim/") && r.Header.Get("Authorization") != "Bearer "+notionPollToken {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		c.mu.Lock()
		c.n++
		c.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]++
		if strings.HasSuffix(r.URL.Path, "/query") {
			c.queries = append(c.queries, string(body))
		}
		c.mu.Unlock()
	}
	c.h.ServeHTTP(w, r)
}

// requests counts Sluice's requests (the test's own, made with
// notionPollToken, are not counted).
func (c *countingSim) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *countingSim) firstQuery() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queries) == 0 {
		return ""
	}
	return c.queries[0]
}

func (c *countingSim) tokenUses(tok string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tokens[tok]
}

// createPage adds a page with email to the simulator's database.
func (c *countingSim) createPage(t *testing.T, db, email string) {
	t.Helper()
	notionSimCall(t, c.url, "POST", "/v1/pages", map[string]any{
		"parent": map[string]any{"database_id": db},
		"properties": map[string]any{
			"Name":  map[string]any{"title": []any{map[string]any{"text": map[string]any{"content": email}}}},
			"Email": map[string]any{"email": email},
		}})
}

const otherDatabaseID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"

// startCountingSim starts a Notion simulator that accepts token (and the
// test's own) and holds the default database and another one.
func startCountingSim(t *testing.T, token string) *countingSim {
	t.Helper()
	other := notionsim.DefaultDatabases()[0]
	other.ID, other.Title = otherDatabaseID, "Other contacts"
	ns, err := notionsim.New(notionsim.Options{Tokens: []string{token, notionPollToken}, Seed: 5, RateLimit: -1,
		Databases: append(notionsim.DefaultDatabases(), other)})
	if err != nil {
		t.Fatal(err)
	}
	c := &countingSim{h: ns, tokens: map[string]int{}}
	c.url = simtest.Start(t, c).URL
	return c
}

// pollSrc is one Notion poll source of a pollReload config.
type pollSrc struct {
	name, url, token, db, interval string
}

// pollReloadConfig is a config whose every source polls its own Notion
// destination and writes to one webhook sink.
func pollReloadConfig(store, hook string, srcs ...pollSrc) *config.Config {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\nstore: %s\nadmin_tokens:\n  - {name: ops, token: ops-token-0123456789, role: admin}\n", store)
	b.WriteString("entities:\n  contact:\n    key: email\ndelivery:\n  poll_interval: 20ms\nsources:\n")
	for _, s := range srcs {
		fmt.Fprintf(&b, "  %s:\n    poll: {destination: docs_%s, interval: %s}\n", s.name, s.name, s.interval)
	}
	b.WriteString("flows:\n")
	for _, s := range srcs {
		fmt.Fprintf(&b, "  to_hook_%s:\n    source: %s\n    entity: contact\n    normalize:\n      fields:\n        email: {from: fields.Email, type: email}\n    routes:\n      hook: {destination: hook}\n", s.name, s.name)
	}
	b.WriteString("destinations:\n")
	for _, s := range srcs {
		fmt.Fprintf(&b, "  docs_%s:\n    type: notion\n    options: {base_url: \"%s\", token: %s, database_id: %s, key_property: Email, notion_version: \"2025-09-03\", rate_per_second: 100}\n    allow_private_network: true\n",
			s.name, s.url, s.token, s.db)
	}
	fmt.Fprintf(&b, "  hook:\n    type: http\n    options: {url: \"%s\"}\n    allow_private_network: true\n    retry_base: 10ms\n    retry_max: 50ms\n", hook)
	c, err := config.Parse([]byte(b.String()), os.LookupEnv)
	if err != nil {
		panic(fmt.Sprintf("%v\n%s", err, b.String()))
	}
	return c
}

// pollReloadHarness is a running server over pollReloadConfig.
type pollReloadHarness struct {
	t     *testing.T
	srv   *server.Server
	sink  *sink
	store string
	hook  string
	stop  func() // stops the running server
}

func startPollReload(t *testing.T, srcs ...pollSrc) *pollReloadHarness {
	t.Helper()
	return startPollReloadOn(t, filepath.Join(t.TempDir(), "sluice.db"), srcs...)
}

// startPollReloadOn is startPollReload over the given store (a SQLite file
// or a PostgreSQL DSN).
func startPollReloadOn(t *testing.T, storeAt string, srcs ...pollSrc) *pollReloadHarness {
	t.Helper()
	sk := newSink()
	hook := httptest.NewServer(sk)
	t.Cleanup(hook.Close)
	h := &pollReloadHarness{t: t, sink: sk, store: storeAt, hook: hook.URL}
	h.start(srcs...)
	t.Cleanup(func() { h.stop() })
	return h
}

// start runs a server with srcs over the harness's store and sink.
func (h *pollReloadHarness) start(srcs ...pollSrc) {
	t := h.t
	t.Helper()
	c := h.config(srcs...)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	h.stop = func() {
		cancel()
		<-done
		srv.Close()
		h.stop = func() {}
	}
	url := "http://" + ln.Addr().String()
	waitFor(t, "ready", func() bool { return readyz(t, url) == http.StatusOK })
}

func (h *pollReloadHarness) config(srcs ...pollSrc) *config.Config {
	return pollReloadConfig(h.store, h.hook, srcs...)
}

// reload puts a config with srcs in force.
func (h *pollReloadHarness) reload(srcs ...pollSrc) {
	h.t.Helper()
	if _, err := h.srv.Apply(context.Background(), h.config(srcs...), server.ReloadOptions{Actor: "test"}); err != nil {
		h.t.Fatalf("reload: %v", err)
	}
}

// waitFor waits until cond holds, failing after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

const (
	pollTokenA = "secret_pollreloadA0123456789abcdef0123456789abcdef"
	pollTokenB = "secret_pollreloadB0123456789abcdef0123456789abcdef"
)

// TestReloadStartsAddedPollSource: a poll source added by a reload gets a
// poller on the running leader; a change already waiting in its platform
// is captured and delivered without anyone polling by hand.
func TestReloadStartsAddedPollSource(t *testing.T) {
	a, b := startCountingSim(t, pollTokenA), startCountingSim(t, pollTokenB)
	srcA := pollSrc{name: "a", url: a.url, token: pollTokenA, db: notionsim.DefaultDatabaseID, interval: "1h"}
	srcB := pollSrc{name: "b", url: b.url, token: pollTokenB, db: notionsim.DefaultDatabaseID, interval: "1h"}
	h := startPollReload(t, srcA)
	b.createPage(t, notionsim.DefaultDatabaseID, "added@x.co")
	h.reload(srcA, srcB)
	waitFor(t, "the added source's record delivered", func() bool { return h.sink.count("added@x.co") == 1 })
	if n := b.tokenUses(pollTokenB); n == 0 {
		t.Fatal("the added source's platform saw no request with its token")
	}
}

// TestReloadPollSourceUsesNewConnectorKeepsCursor: a reload that moves a
// poll source to another base URL with another token (the same database:
// its identity is unchanged) makes the next poll read the new place with
// the new token, from the stored cursor, and nothing reads the old place.
func TestReloadPollSourceUsesNewConnectorKeepsCursor(t *testing.T) {
	old, moved := startCountingSim(t, pollTokenA), startCountingSim(t, pollTokenB)
	h := startPollReload(t, pollSrc{name: "a", url: old.url, token: pollTokenA, db: notionsim.DefaultDatabaseID, interval: "1h"})
	old.createPage(t, notionsim.DefaultDatabaseID, "first@x.co")
	if _, err := h.srv.PollNow(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first@x.co delivered", func() bool { return h.sink.count("first@x.co") == 1 })
	cursor, err := h.srv.Gate.PollCursor(context.Background(), "a")
	if err != nil || cursor == "" {
		t.Fatalf("cursor before the reload = %q, %v", cursor, err)
	}

	h.reload(pollSrc{name: "a", url: moved.url, token: pollTokenB, db: notionsim.DefaultDatabaseID, interval: "1h"})
	before := old.requests()
	moved.createPage(t, notionsim.DefaultDatabaseID, "second@x.co")
	if _, err := h.srv.PollNow(context.Background(), "a"); err != nil {
		t.Fatalf("poll after the reload: %v", err)
	}
	waitFor(t, "second@x.co delivered", func() bool { return h.sink.count("second@x.co") == 1 })
	if n := moved.tokenUses(pollTokenB); n == 0 {
		t.Fatal("the new base URL saw no request with the new token")
	}
	if n := moved.tokenUses(pollTokenA); n != 0 {
		t.Fatalf("the new base URL saw the old token %d times", n)
	}
	if n := old.requests(); n != before {
		t.Fatalf("the old base URL got %d requests after the reload", n-before)
	}
	// The stored cursor was kept: the first read of the new place asks
	// only for what changed since it.
	if q := moved.firstQuery(); !strings.Contains(q, "on_or_after") {
		t.Fatalf("first query after the reload reads from the start: %s", q)
	}
	if hasAudit(t, h.srv.Driver, audit.ActionPollCursorReset) {
		t.Fatal("cursor reset though the source's identity did not change")
	}
	if n := h.sink.count("first@x.co"); n != 1 {
		t.Fatalf("first@x.co delivered %d times, want 1", n)
	}
}

// TestReloadPollSourceOtherDatabaseResetsCursor: a reload that points a
// poll source at another database forgets the cursor (audited) and reads
// the new database from its start.
func TestReloadPollSourceOtherDatabaseResetsCursor(t *testing.T) {
	ns := startCountingSim(t, pollTokenA)
	h := startPollReload(t, pollSrc{name: "a", url: ns.url, token: pollTokenA, db: notionsim.DefaultDatabaseID, interval: "1h"})
	ns.createPage(t, notionsim.DefaultDatabaseID, "first@x.co")
	if _, err := h.srv.PollNow(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first@x.co delivered", func() bool { return h.sink.count("first@x.co") == 1 })
	ns.createPage(t, otherDatabaseID, "other@x.co")
	h.reload(pollSrc{name: "a", url: ns.url, token: pollTokenA, db: otherDatabaseID, interval: "1h"})
	if _, err := h.srv.PollNow(context.Background(), "a"); err != nil {
		t.Fatalf("poll after the reload: %v", err)
	}
	waitFor(t, "other@x.co delivered", func() bool { return h.sink.count("other@x.co") == 1 })
	if !hasAudit(t, h.srv.Driver, audit.ActionPollCursorReset) {
		t.Fatal("no poll_cursor_reset audit entry")
	}
}

// TestReloadStopsRemovedPollSource: once a reload that removed a poll
// source returns, its platform gets no more requests, while the source
// that stayed keeps polling.
func TestReloadStopsRemovedPollSource(t *testing.T) {
	a, b := startCountingSim(t, pollTokenA), startCountingSim(t, pollTokenB)
	srcA := pollSrc{name: "a", url: a.url, token: pollTokenA, db: notionsim.DefaultDatabaseID, interval: "100ms"}
	srcB := pollSrc{name: "b", url: b.url, token: pollTokenB, db: notionsim.DefaultDatabaseID, interval: "100ms"}
	h := startPollReload(t, srcA, srcB)
	waitFor(t, "both sources polling", func() bool { return a.requests() >= 2 && b.requests() >= 2 })
	h.reload(srcB)
	stopped := a.requests()
	since := b.requests()
	// Several polls of the source that stayed: time enough for the
	// removed one's 100ms interval to have come round.
	waitFor(t, "the remaining source polling on", func() bool { return b.requests() >= since+6 })
	if n := a.requests(); n != stopped {
		t.Fatalf("the removed source's platform got %d requests after the reload", n-stopped)
	}
	if _, err := h.srv.PollNow(context.Background(), "a"); err == nil {
		t.Fatal("the removed source still polls")
	}
}

// airtableNoBase is airtableHookConfig whose Airtable webhook source and
// its flow come from arguments 9 and 10 (empty: no such source).
var airtableNoBase = func() string {
	s := airtableHookConfig
	src := "  base:\n    platform: {kind: airtable, secrets: [\"%[3]s\"], destination: table, webhook_id: %[4]s, interval: 1h}\n"
	i := strings.Index(s, "  base_in:\n")
	j := strings.Index(s, "  leads:\n")
	if !strings.Contains(s, src) || i < 0 || j < i {
		panic("airtableHookConfig changed")
	}
	s = s[:i] + "%[10]s" + s[j:]
	return strings.Replace(s, src, "%[9]s", 1)
}()

// TestReloadAddsAndRemovesAirtableWebhookSource: an Airtable webhook
// source added by a reload gets its keeper (the webhook is refreshed at
// once, on the leader) and its listing (its notification's notice is
// answered); removed again, neither reads Airtable any more.
func TestReloadAddsAndRemovesAirtableWebhookSource(t *testing.T) {
	at, err := airtablesim.New(airtablesim.Options{Tokens: []string{hookAirtableToken}, Seed: 1, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingSim{h: at, tokens: map[string]int{}}
	atURL := simtest.Start(t, counted).URL
	args := []any{hookAirtableMAC, hookAirtableWebhook, atURL, hookAirtableToken, airtablesim.DefaultBaseID, secret}
	i := strings.Index(airtableHookConfig, "  base_in:\n")
	j := strings.Index(airtableHookConfig, "  leads:\n")
	baseSrc := fmt.Sprintf("  base:\n    platform: {kind: airtable, secrets: [\"%s\"], destination: table, webhook_id: %s, interval: 1h}\n", hookAirtableMAC, hookAirtableWebhook)
	baseFlow := airtableHookConfig[i:j]
	h := startHooks(t, airtableNoBase, append(args, "", "")...)
	waitFor(t, "ready", func() bool { return readyz(t, h.url) == http.StatusOK })
	simCall(t, "POST", atURL+"/_sim/webhooks", "", map[string]any{"id": hookAirtableWebhook, "url": h.url + "/v1/sources/base/events",
		"secret": hookAirtableMAC, "base": airtablesim.DefaultBaseID})

	if _, err := h.srv.Apply(context.Background(), h.config(append(args, baseSrc, baseFlow)...), server.ReloadOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the added source's webhook refreshed", func() bool { return hasAudit(t, h.srv.Driver, audit.ActionHookRefreshed) })
	simCall(t, "POST", atURL+"/v0/"+airtablesim.DefaultBaseID+"/Contacts", hookAirtableToken,
		map[string]any{"records": []any{map[string]any{"fields": map[string]any{"Email": "added@x.co", "Name": "Added"}}}})
	flushHooks(t, atURL)
	waitEvents(t, h, "base", 1)

	if _, err := h.srv.Apply(context.Background(), h.config(append(args, "", "")...), server.ReloadOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	stopped := counted.requests()
	if err := h.srv.RefreshHooksNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, err := h.srv.FetchHookNow(context.Background(), "base"); err != nil || n != 0 {
		t.Fatalf("listing of the removed source: %d, %v", n, err)
	}
	if n := counted.requests(); n != stopped {
		t.Fatalf("Airtable got %d requests for the removed source", n-stopped)
	}
}

// TestReloadPollSourceNewInterval: a reload that shortens a poll source's
// interval (1h to 100ms) is followed by the running loop: the platform is
// read again and again without anyone polling by hand.
func TestReloadPollSourceNewInterval(t *testing.T) {
	ns := startCountingSim(t, pollTokenA)
	src := pollSrc{name: "a", url: ns.url, token: pollTokenA, db: notionsim.DefaultDatabaseID, interval: "1h"}
	h := startPollReload(t, src)
	waitFor(t, "the first poll", func() bool { return ns.requests() >= 1 })
	src.interval = "100ms"
	h.reload(src)
	before := ns.requests()
	waitFor(t, "polls every 100ms", func() bool { return ns.requests() >= before+3 })
	ns.createPage(t, notionsim.DefaultDatabaseID, "later@x.co")
	waitFor(t, "later@x.co delivered", func() bool { return h.sink.count("later@x.co") == 1 })
	if hasAudit(t, h.srv.Driver, audit.ActionPollCursorReset) {
		t.Fatal("cursor reset by an interval change")
	}
}
