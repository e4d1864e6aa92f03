package notion_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/notion"
	"github.com/sluicehq/sluice/internal/sim"
	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

const (
	token = "ntn_11111111222222223333333344444444"
	dbID  = notionsim.DefaultDatabaseID
)

// env is a real simulator on loopback and a real connector pointed at it.
type env struct {
	t    *testing.T
	sim  *notionsim.Server
	url  string
	conn *notion.Conn
}

// setup starts a simulator (unlimited unless so says otherwise) and a
// connector with opts over the defaults; wrap, when set, sits between them.
func setup(t *testing.T, so notionsim.Options, opts map[string]any, wrap ...func(http.Handler) http.Handler) *env {
	t.Helper()
	so.Tokens = []string{token}
	if so.Seed == 0 {
		so.Seed = 1
	}
	if so.RateLimit == 0 {
		so.RateLimit = -1
	}
	s, err := notionsim.New(so)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = s
	for _, w := range wrap {
		h = w(h)
	}
	e := &env{t: t, sim: s, url: simtest.Start(t, h).URL}
	e.conn = e.open(opts)
	return e
}

// open builds a connector through the registry, as a config would.
func (e *env) open(opts map[string]any) *notion.Conn {
	e.t.Helper()
	o := map[string]any{"base_url": e.url, "token": token, "database_id": dbID, "key_property": "Email", "rate_per_second": 1000}
	for k, v := range opts {
		o[k] = v
	}
	c, err := connector.New("notion", connector.Params{Name: "pages", Options: o, AllowPrivateNetwork: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = connector.Close(context.Background(), c) })
	return c.(*notion.Conn)
}

func (e *env) pages() []notionsim.Page { return e.sim.Pages(dbID) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func record(key string, payload map[string]any) connector.Delivery {
	if payload == nil {
		payload = map[string]any{}
	}
	return connector.Delivery{ID: "del-" + key, EventID: "ev-" + key, Route: "pages", RecordKey: key, Payload: payload, Attempt: 1}
}

// classified asserts err is a *connector.Error of class c without the
// token and returns it.
func classified(t *testing.T, err error, c connector.Class) *connector.Error {
	t.Helper()
	var ce *connector.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want a *connector.Error", err, err)
	}
	if ce.Class != c {
		t.Fatalf("class = %s (%v), want %s", ce.Class, ce, c)
	}
	if strings.Contains(ce.Error(), token) {
		t.Fatalf("the token leaked into the error: %v", ce)
	}
	return ce
}

func TestRegisteredWithConstraints(t *testing.T) {
	t.Parallel()
	c, err := connector.New("notion", connector.Params{Name: "pages", Options: map[string]any{"token": token, "database_id": strings.ReplaceAll(dbID, "-", ""), "key_property": "Email"}, AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	want := connector.Constraints{RatePerSecond: 3, Burst: 3, BatchSize: 1, MaxPayloadBytes: 500_000, Timeout: 30 * time.Second}
	if got := c.Constraints(); got != want {
		t.Fatalf("constraints = %+v, want %+v", got, want)
	}
	if _, ok := c.(connector.Batcher); ok {
		t.Fatal("Notion has no batch write; the connector must not be a Batcher")
	}
	var _ connector.Looker = c.(*notion.Conn)
	s := fmt.Sprintf("%v %+v %#v %s", c, c, c, c)
	if strings.Contains(s, token) || !strings.Contains(s, "https://api.notion.com") {
		t.Fatalf("formatting leaks the token or hides the origin: %s", s)
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	base := func() map[string]any {
		return map[string]any{"token": token, "database_id": dbID, "key_property": "Email"}
	}
	cases := []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"unknown key", func(o map[string]any) { o["databse_id"] = "x" }, "unknown option"},
		{"no token", func(o map[string]any) { delete(o, "token") }, "options.token: required"},
		{"bad database", func(o map[string]any) { o["database_id"] = "my-db" }, "options.database_id"},
		{"no key", func(o map[string]any) { delete(o, "key_property") }, "options.key_property: required"},
		{"bad type", func(o map[string]any) { o["properties"] = map[string]any{"Owner": "people"} }, "options.properties.Owner"},
		{"key not matchable", func(o map[string]any) { o["properties"] = map[string]any{"Email": "checkbox"} }, "a key must be one of"},
		{"unknown version", func(o map[string]any) { o["notion_version"] = "2024-01-01" }, "options.notion_version"},
		{"data source on a legacy version", func(o map[string]any) {
			o["notion_version"], o["data_source_id"] = "2022-06-28", notionsim.DataSourceID(dbID)
		}, "needs notion_version 2025-09-03"},
		{"bad data source", func(o map[string]any) { o["data_source_id"] = "x" }, "options.data_source_id"},
		{"negative rate", func(o map[string]any) { o["rate_per_second"] = -1 }, "options.rate_per_second"},
		{"bad timeout", func(o map[string]any) { o["timeout"] = "soon" }, "options.timeout"},
		{"bad base_url", func(o map[string]any) { o["base_url"] = "api.notion.com" }, "options.base_url"},
		{"credentials in base_url", func(o map[string]any) { o["base_url"] = "https://u:p@api.notion.com" }, "options.base_url"},
	}
	for _, c := range cases {
		o := base()
		c.change(o)
		_, err := connector.New("notion", connector.Params{Name: "pages", Options: o, AllowPrivateNetwork: true})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("%s: token in error", c.name)
		}
	}
	o := base()
	o["rate_per_second"] = 0.5
	c, err := connector.New("notion", connector.Params{Name: "pages", Options: o, AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Constraints(); got.RatePerSecond != 0.5 || got.Burst != 1 {
		t.Fatalf("rate 0.5: %+v", got)
	}
}

// TestPropertyRoundTrip writes one value of every supported type from a
// flat payload and reads it back by key in the same flat form.
func TestPropertyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, typed := range []bool{false, true} {
		t.Run(fmt.Sprintf("types from options=%v", typed), func(t *testing.T) {
			t.Parallel()
			var opts map[string]any
			if typed {
				opts = map[string]any{"properties": map[string]any{"Name": "title", "Email": "email", "Notes": "rich_text", "Amount": "number",
					"Stage": "select", "Tags": "multi_select", "Due": "date", "Phone": "phone_number", "Active": "checkbox", "Website": "url"}}
			}
			e := setup(t, notionsim.Options{}, opts)
			payload := map[string]any{
				"Name": "Ann Lee", "Email": "ann@example.com", "Notes": "likes tea", "Amount": 1234.5,
				"Stage": "Partner", "Tags": []any{"vip", "beta"}, "Due": "2024-03-01", "Phone": "+1 555 0100",
				"Active": true, "Website": "https://example.com/ann",
			}
			res, err := e.conn.Deliver(ctx(t), record("ann@example.com", payload))
			if err != nil {
				t.Fatal(err)
			}
			id, fields, found, err := e.conn.Lookup(ctx(t), "ann@example.com")
			if err != nil || !found || id != res.ExternalID {
				t.Fatalf("lookup: %q %v %v, want %q", id, found, err, res.ExternalID)
			}
			for k, want := range payload {
				if got := fields[k]; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s: read back %#v, wrote %#v", k, got, want)
				}
			}
			if fields["Key"] != "" {
				t.Errorf("an unwritten rich_text reads back as \"\", got %#v", fields["Key"])
			}
			if got := e.sim.SelectOptions(dbID, "Stage"); !strings.Contains(strings.Join(got, ","), "Partner") {
				t.Errorf("Notion adds a new select name to the schema: %v", got)
			}

			// Clearing: nil empties every type (a checkbox to false).
			clear := map[string]any{}
			for k := range payload {
				if k != "Email" {
					clear[k] = nil
				}
			}
			if _, err := e.conn.Deliver(ctx(t), record("ann@example.com", clear)); err != nil {
				t.Fatal(err)
			}
			_, fields, _, _ = e.conn.Lookup(ctx(t), "ann@example.com")
			for k, want := range map[string]any{"Name": "", "Notes": "", "Amount": nil, "Stage": nil, "Tags": []any{}, "Due": nil,
				"Phone": nil, "Active": false, "Website": nil} {
				if fmt.Sprint(fields[k]) != fmt.Sprint(want) {
					t.Errorf("cleared %s reads back %#v, want %#v", k, fields[k], want)
				}
			}
		})
	}
}

func TestValueForms(t *testing.T) {
	t.Parallel()
	e := setup(t, notionsim.Options{}, nil)
	payload := map[string]any{
		"Amount": "42",   // numeric string -> number
		"Active": "true", // boolean string -> checkbox
		"Tags":   "solo", // one string -> one option
		"Due":    map[string]any{"start": "2024-03-01T09:30:00+02:00", "end": "2024-03-02T09:30:00+02:00"},
		"Name":   12, // a number as title text
	}
	if _, err := e.conn.Deliver(ctx(t), record("forms@example.com", payload)); err != nil {
		t.Fatal(err)
	}
	_, f, _, err := e.conn.Lookup(ctx(t), "forms@example.com")
	if err != nil {
		t.Fatal(err)
	}
	due, _ := f["Due"].(map[string]any)
	start, _ := time.Parse(time.RFC3339, fmt.Sprint(due["start"]))
	if f["Amount"] != 42.0 || f["Active"] != true || fmt.Sprint(f["Tags"]) != "[solo]" || f["Name"] != "12" ||
		!start.Equal(time.Date(2024, 3, 1, 7, 30, 0, 0, time.UTC)) || due["end"] == nil {
		t.Fatalf("fields %#v", f)
	}

	bad := []struct {
		name    string
		payload map[string]any
	}{
		{"number", map[string]any{"Amount": "lots"}},
		{"checkbox", map[string]any{"Active": "maybe"}},
		{"date", map[string]any{"Due": "next Tuesday"}},
		{"comma in select", map[string]any{"Stage": "a,b"}},
		{"comma in multi_select", map[string]any{"Tags": []any{"ok", "x,y"}}},
		{"object as text", map[string]any{"Notes": map[string]any{"a": 1}}},
		{"phone too long", map[string]any{"Phone": strings.Repeat("1", 201)}},
	}
	before := e.sim.Stats().Requests
	for _, b := range bad {
		_, err := e.conn.Deliver(ctx(t), record("bad@example.com", b.payload))
		ce := classified(t, err, connector.Permanent)
		if !strings.Contains(ce.Message, "property ") {
			t.Errorf("%s: the message does not name the property: %s", b.name, ce.Message)
		}
	}
	if got := e.sim.Stats().Requests; got != before {
		t.Fatalf("values refused locally still sent %d requests", got-before)
	}
}

// TestRichTextSplitting: text longer than 2,000 characters is sent as
// several rich text objects, cut between characters (a surrogate pair is
// never split), and reads back whole; beyond 100 objects it is refused
// before sending.
func TestRichTextSplitting(t *testing.T) {
	t.Parallel()
	e := setup(t, notionsim.Options{}, nil)
	// 1999 ASCII then an emoji (two UTF-16 units): the emoji must start
	// the second object, or the first would be 2001 units long.
	long := strings.Repeat("x", 1999) + "😀" + strings.Repeat("y", 2500)
	title := strings.Repeat("t", 4001)
	if _, err := e.conn.Deliver(ctx(t), record("long@example.com", map[string]any{"Notes": long, "Name": title})); err != nil {
		t.Fatal(err)
	}
	p := e.pages()[0]
	if p.Runs["Notes"] != 3 || p.Runs["Name"] != 3 || p.Properties["Notes"] != long || p.Properties["Name"] != title {
		t.Fatalf("runs %v, notes intact %v", p.Runs, p.Properties["Notes"] == long)
	}
	_, f, _, _ := e.conn.Lookup(ctx(t), "long@example.com")
	if f["Notes"] != long {
		t.Fatal("read-back is not the text written")
	}

	max := strings.Repeat("é", notion.MaxText) // 100 objects of 2,000 exactly
	if _, err := e.conn.Deliver(ctx(t), record("long@example.com", map[string]any{"Notes": max})); err != nil {
		t.Fatalf("200,000 characters: %v", err)
	}
	if p := e.pages()[0]; p.Runs["Notes"] != 100 {
		t.Fatalf("%d objects, want 100", p.Runs["Notes"])
	}
	before := e.sim.Stats().Requests
	_, err := e.conn.Deliver(ctx(t), record("long@example.com", map[string]any{"Notes": max + "!"}))
	ce := classified(t, err, connector.Permanent)
	if ce.Code != "TOO_LARGE" || !strings.Contains(ce.Message, "Notes") {
		t.Fatalf("200,001 characters: %+v", ce)
	}
	if e.sim.Stats().Requests != before {
		t.Fatal("an over-long text was sent")
	}
}

// TestArrayLimits: a multi_select of 100 options is written (Notion adds
// the new ones); 101 cannot be split and is refused before sending. The
// simulator's own 400 for over-long arrays is covered in its package.
func TestArrayLimits(t *testing.T) {
	t.Parallel()
	e := setup(t, notionsim.Options{}, nil)
	opts := make([]any, 101)
	for i := range opts {
		opts[i] = fmt.Sprintf("tag-%03d", i)
	}
	if _, err := e.conn.Deliver(ctx(t), record("tags@example.com", map[string]any{"Tags": opts[:100]})); err != nil {
		t.Fatal(err)
	}
	if got := e.pages()[0].Properties["Tags"].([]string); len(got) != 100 {
		t.Fatalf("%d options stored", len(got))
	}
	before := e.sim.Stats().Requests
	_, err := e.conn.Deliver(ctx(t), record("tags@example.com", map[string]any{"Tags": opts}))
	if ce := classified(t, err, connector.Permanent); ce.Code != "TOO_LARGE" || !strings.Contains(ce.Message, "Tags") {
		t.Fatalf("101 options: %+v", ce)
	}
	if e.sim.Stats().Requests != before {
		t.Fatal("101 options were sent")
	}
	// Duplicates count once: 101 names with one repeated fit.
	dup := append(append([]any{}, opts[:100]...), opts[0])
	if _, err := e.conn.Deliver(ctx(t), record("tags@example.com", map[string]any{"Tags": dup})); err != nil {
		t.Fatalf("duplicate option: %v", err)
	}
}

// TestNotionVersionHeader: every request carries Notion-Version and the
// bearer token; when the header goes missing on the way (stripped here by
// a proxy in front of the simulator) Notion's 400 missing_version is a
// Permanent error carrying Notion's message.
func TestNotionVersionHeader(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	logRequests := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Notion-Version")+" "+fmt.Sprint(r.Header.Get("Authorization") == "Bearer "+token))
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}
	e := setup(t, notionsim.Options{}, nil, logRequests)
	if _, err := e.conn.Deliver(ctx(t), record2("v@example.com")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := strings.Join(seen, "\n")
	mu.Unlock()
	ds := notionsim.DataSourceID(dbID)
	want := "GET /v1/databases/" + dbID + " 2025-09-03 true\nGET /v1/data_sources/" + ds + " 2025-09-03 true\nPOST /v1/data_sources/" + ds + "/query 2025-09-03 true\nPOST /v1/pages 2025-09-03 true"
	if got != want {
		t.Fatalf("requests:\n%s\nwant:\n%s", got, want)
	}

	// A legacy version configured: the database endpoints, and the
	// connector says which version it speaks.
	mu.Lock()
	seen = nil
	mu.Unlock()
	e = setup(t, notionsim.Options{}, map[string]any{"notion_version": "2022-06-28"}, logRequests)
	if _, err := e.conn.Deliver(ctx(t), record2("v@example.com")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got = strings.Join(seen, "\n")
	mu.Unlock()
	want = "GET /v1/databases/" + dbID + " 2022-06-28 true\nPOST /v1/databases/" + dbID + "/query 2022-06-28 true\nPOST /v1/pages 2022-06-28 true"
	if got != want {
		t.Fatalf("legacy requests:\n%s\nwant:\n%s", got, want)
	}
	if v, legacy := e.conn.Version(); v != "2022-06-28" || !legacy || !strings.Contains(fmt.Sprint(e.conn), "legacy version 2022-06-28") {
		t.Fatalf("legacy version not reported: %s", e.conn)
	}

	strip := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Notion-Version")
			next.ServeHTTP(w, r)
		})
	}
	e = setup(t, notionsim.Options{}, nil, strip)
	_, err := e.conn.Deliver(ctx(t), record2("v@example.com"))
	ce := classified(t, err, connector.Permanent)
	if ce.Status != 400 || ce.Code != "missing_version" || !strings.Contains(ce.Message, "Notion-Version header should be defined") {
		t.Fatalf("missing version: %+v", ce)
	}
}

func record2(key string) connector.Delivery {
	return record(key, map[string]any{"Name": "V"})
}

// TestRetryAfterHonoured: a 429 is Retryable with the Retry-After Notion
// sent, and the connector holds its next request until that wait is over
// instead of drawing another 429; a request whose deadline ends sooner is
// not sent at all.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	e := setup(t, notionsim.Options{RateLimit: 1, RateInterval: time.Second}, map[string]any{"properties": map[string]any{"Email": "email"}, "data_source_id": notionsim.DataSourceID(dbID)})
	if _, _, _, err := e.conn.Lookup(ctx(t), "a@example.com"); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := e.conn.Lookup(ctx(t), "a@example.com")
	ce := classified(t, err, connector.Retryable)
	if ce.Status != 429 || ce.Code != "rate_limited" || ce.RetryAfter != time.Second || ce.Sent {
		t.Fatalf("429: %+v", ce)
	}

	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	before := e.sim.Stats().Requests
	_, _, _, err = e.conn.Lookup(short, "a@example.com")
	ce = classified(t, err, connector.Retryable)
	if ce.RetryAfter <= 0 || ce.Status != 0 || e.sim.Stats().Requests != before {
		t.Fatalf("a request that cannot wait out Retry-After: %+v, %d sent", ce, e.sim.Stats().Requests-before)
	}

	began := time.Now()
	if _, _, _, err := e.conn.Lookup(ctx(t), "a@example.com"); err != nil {
		t.Fatalf("after waiting: %v", err)
	}
	if waited := time.Since(began); waited < 700*time.Millisecond {
		t.Fatalf("sent after %v, before Retry-After was over", waited)
	}
	if st := e.sim.Stats(); st.RateLimited != 1 {
		t.Fatalf("%d 429s, want 1: the connector kept knocking", st.RateLimited)
	}
}

// TestPacing: at its configured rate the connector never draws a 429 from
// a Notion that allows exactly that rate.
func TestPacing(t *testing.T) {
	t.Parallel()
	e := setup(t, notionsim.Options{RateLimit: 30, RateInterval: time.Second}, map[string]any{
		"rate_per_second": 30, "properties": map[string]any{"Email": "email"}, "data_source_id": notionsim.DataSourceID(dbID)})
	var wg sync.WaitGroup
	errs := make(chan error, 70)
	for i := range 70 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, _, err := e.conn.Lookup(ctx(t), fmt.Sprintf("p%d@example.com", i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := e.sim.Stats(); st.RateLimited != 0 || st.Requests != 70 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDrift(t *testing.T) {
	t.Parallel()
	typed := map[string]any{"properties": map[string]any{"Email": "email", "Name": "title", "Notes": "rich_text", "Amount": "rich_text"}}

	// A configured property Notion no longer has: Notion's own error.
	e := setup(t, notionsim.Options{Faults: sim.Faults{RemovedFields: []string{"Notes"}}}, typed)
	_, err := e.conn.Deliver(ctx(t), record("d@example.com", map[string]any{"Notes": "x"}))
	ce := classified(t, err, connector.Drift)
	if ce.Status != 400 || ce.Code != "validation_error" || ce.Message != "Notes is not a property that exists." {
		t.Fatalf("removed property: %+v", ce)
	}
	// A property whose type changed.
	_, err = e.conn.Deliver(ctx(t), record("d@example.com", map[string]any{"Amount": "12"}))
	if ce := classified(t, err, connector.Drift); !strings.Contains(ce.Message, "Amount is expected to be number.") {
		t.Fatalf("changed type: %+v", ce)
	}
	// A payload field the fetched schema lacks is caught before writing;
	// the schema is fetched again afterwards, so a fix is seen.
	e = setup(t, notionsim.Options{}, map[string]any{"data_source_id": notionsim.DataSourceID(dbID)})
	before := e.sim.Stats().Requests
	_, err = e.conn.Deliver(ctx(t), record("d@example.com", map[string]any{"Colour": "red"}))
	if ce := classified(t, err, connector.Drift); ce.Code != "UNKNOWN_PROPERTY" || !strings.Contains(ce.Message, "Colour") {
		t.Fatalf("unknown field: %+v", ce)
	}
	if _, err := e.conn.Deliver(ctx(t), record("d@example.com", map[string]any{"Name": "ok"})); err != nil {
		t.Fatal(err)
	}
	// schema, (refused); schema again, query, create.
	if n := e.sim.Stats().Requests - before; n != 4 {
		t.Fatalf("%d requests, want 4 (the schema refetched once)", n)
	}
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	e := setup(t, notionsim.Options{}, map[string]any{"properties": map[string]any{"Email": "email", "Due": "date"}})
	// A page to PATCH, so each failure below answers a write.
	made, err := e.conn.Deliver(ctx(t), record("c@example.com", nil))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		status string
		class  connector.Class
		sent   bool
	}{
		{"409", connector.Retryable, false}, // conflict_error: nothing saved, try again
		{"502", connector.Retryable, true},
		{"504", connector.Retryable, true},
		{"529", connector.Retryable, true},
		{"403", connector.Auth, false},
	}
	for _, c := range cases {
		_ = e.sim.SetFaults(sim.Faults{Errors: map[string]float64{c.status: 1}})
		d := record("c@example.com", nil)
		d.ExternalID = made.ExternalID
		_, err := e.conn.Deliver(ctx(t), d)
		ce := classified(t, err, c.class)
		if fmt.Sprint(ce.Status) != c.status || ce.Sent != c.sent || ce.Code == "" {
			t.Errorf("%s: %+v", c.status, ce)
		}
	}
	// A 5xx answering a read is never ambiguous.
	_ = e.sim.SetFaults(sim.Faults{Errors: map[string]float64{"502": 1}})
	_, _, _, err = e.conn.Lookup(ctx(t), "c@example.com")
	if ce := classified(t, err, connector.Retryable); ce.Sent {
		t.Fatalf("a failed query is marked Sent: %+v", ce)
	}
	_ = e.sim.SetFaults(sim.Faults{})
	// A value Notion refuses that the connector lets through: Permanent
	// with Notion's message.
	_, err = e.conn.Deliver(ctx(t), record("c@example.com", map[string]any{"Due": map[string]any{"start": "2024-03-02", "end": "2024-03-01"}}))
	ce := classified(t, err, connector.Permanent)
	if ce.Status != 400 || ce.Code != "validation_error" || !strings.Contains(ce.Message, "end should be on or after start") {
		t.Fatalf("validation: %+v", ce)
	}
	// A database the integration cannot see pauses the destination.
	other := e.open(map[string]any{"database_id": strings.Repeat("a", 32), "properties": map[string]any{"Email": "email"}})
	_, err = other.Deliver(ctx(t), record("c@example.com", nil))
	if ce := classified(t, err, connector.Auth); ce.Status != 404 || !strings.Contains(ce.Message, "Could not find database") {
		t.Fatalf("missing database: %+v", ce)
	}
}

// TestWritesByKeyAndIdentityMap: without an external ID the page holding
// the key is updated; an external ID Notion no longer has, or a page in
// the trash, falls back to the key.
func TestWritesByKeyAndIdentityMap(t *testing.T) {
	t.Parallel()
	e := setup(t, notionsim.Options{}, nil)
	first, err := e.conn.Deliver(ctx(t), record("k@example.com", map[string]any{"Name": "One", "Amount": 1}))
	if err != nil || first.Message != "created" {
		t.Fatalf("%+v %v", first, err)
	}
	again, err := e.conn.Deliver(ctx(t), record("k@example.com", map[string]any{"Amount": 2}))
	if err != nil || again.ExternalID != first.ExternalID || !strings.HasPrefix(again.Message, "updated") {
		t.Fatalf("%+v %v", again, err)
	}
	if p := e.pages(); len(p) != 1 || p[0].Properties["Name"] != "One" || p[0].Properties["Amount"] != 2.0 {
		t.Fatalf("pages %+v", p)
	}

	d := record("k@example.com", map[string]any{"Amount": 3})
	d.ExternalID = "00000000-0000-4000-8000-000000000000"
	res, err := e.conn.Deliver(ctx(t), d)
	if err != nil || res.ExternalID != first.ExternalID {
		t.Fatalf("unknown external ID: %+v %v", res, err)
	}

	// Trash the page in Notion: the next write makes a new one.
	req, _ := http.NewRequest("PATCH", e.url+"/v1/pages/"+first.ExternalID, strings.NewReader(`{"in_trash":true}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Notion-Version", "2022-06-28")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("trash: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	d.ExternalID = first.ExternalID
	res, err = e.conn.Deliver(ctx(t), d)
	if err != nil || res.ExternalID == first.ExternalID || res.Message != "created" {
		t.Fatalf("trashed page: %+v %v", res, err)
	}
	if p := e.pages(); len(p) != 1 || p[0].Properties["Amount"] != 3.0 {
		t.Fatalf("pages %+v", p)
	}
	if st := e.sim.Stats(); st.DuplicatesByKey != 0 {
		t.Fatalf("duplicates: %d", st.DuplicatesByKey)
	}
}

func TestKeyRules(t *testing.T) {
	t.Parallel()
	e := setup(t, notionsim.Options{}, nil)
	_, err := e.conn.Deliver(ctx(t), record("", map[string]any{"Name": "x"}))
	if ce := classified(t, err, connector.Permanent); ce.Code != "NO_KEY" {
		t.Fatalf("%+v", ce)
	}
	_, err = e.conn.Deliver(ctx(t), record("a@example.com", map[string]any{"Email": "b@example.com"}))
	if ce := classified(t, err, connector.Permanent); ce.Code != "KEY_MISMATCH" {
		t.Fatalf("%+v", ce)
	}
	// The payload's key must be the record key exactly: pages are queried
	// by the record key.
	_, err = e.conn.Deliver(ctx(t), record("Mixed@Example.com", map[string]any{"Email": "mixed@example.com"}))
	if ce := classified(t, err, connector.Permanent); ce.Code != "KEY_MISMATCH" {
		t.Fatalf("%+v", ce)
	}
	// The key property is filled from the record key when left out.
	for range 2 {
		if _, err := e.conn.Deliver(ctx(t), record("Mixed@Example.com", map[string]any{"Name": "M"})); err != nil {
			t.Fatal(err)
		}
	}
	if p := e.pages(); len(p) != 1 || p[0].Properties["Email"] != "Mixed@Example.com" {
		t.Fatalf("pages %+v", p)
	}

	// Two pages with one key: a Conflict for a person, nothing written.
	for range 2 {
		if _, err := e.conn.Deliver(ctx(t), record("dup@example.com", nil)); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest("POST", e.url+"/v1/pages", strings.NewReader(`{"parent":{"database_id":"`+dbID+`"},"properties":{"Email":{"email":"dup@example.com"}}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Notion-Version", "2022-06-28")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	before := len(e.pages())
	_, err = e.conn.Deliver(ctx(t), record("dup@example.com", map[string]any{"Name": "x"}))
	classified(t, err, connector.Conflict)
	_, _, _, err = e.conn.Lookup(ctx(t), "dup@example.com")
	classified(t, err, connector.Conflict)
	if len(e.pages()) != before {
		t.Fatal("a conflict wrote a page")
	}
}

// TestTitleKey keys a database by its title property.
func TestTitleKey(t *testing.T) {
	t.Parallel()
	db := notionsim.Database{ID: dbID, Title: "Orders", KeyProperty: "Order", Properties: []notionsim.Property{
		{Name: "Order", Type: notionsim.TypeTitle}, {Name: "Total", Type: notionsim.TypeNumber}}}
	e := setup(t, notionsim.Options{Databases: []notionsim.Database{db}}, map[string]any{"key_property": "Order"})
	for _, total := range []int{10, 20} {
		if _, err := e.conn.Deliver(ctx(t), record("ORD-1", map[string]any{"Total": total})); err != nil {
			t.Fatal(err)
		}
	}
	if p := e.pages(); len(p) != 1 || p[0].Properties["Order"] != "ORD-1" || p[0].Properties["Total"] != 20.0 {
		t.Fatalf("pages %+v", p)
	}
}

// TestConcurrentDeliveriesOfOneKey: deliveries of a new key racing each
// other create one page, not one each.
func TestConcurrentDeliveriesOfOneKey(t *testing.T) {
	t.Parallel()
	e := setup(t, notionsim.Options{}, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.conn.Deliver(ctx(t), record("race@example.com", map[string]any{"Amount": i})); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(e.pages()); n != 1 || e.sim.Stats().DuplicatesByKey != 0 {
		t.Fatalf("%d pages, %d duplicates", n, e.sim.Stats().DuplicatesByKey)
	}
}
