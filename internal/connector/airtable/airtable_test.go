package airtable_test

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
	"github.com/sluicehq/sluice/internal/connector/airtable"
	"github.com/sluicehq/sluice/internal/egress"
	"github.com/sluicehq/sluice/internal/sim"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

const (
	token = "patSluiceTest00001.0123456789abcdef0123456789abcdef"
	base  = airtablesim.DefaultBaseID
)

// clock is a settable clock shared by the simulator and the connector.
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

// env is a real simulator on loopback and a real connector pointed at it.
type env struct {
	t    *testing.T
	sim  *airtablesim.Server
	url  string
	conn *airtable.Conn
}

// setup starts a simulator (unlimited rate unless so says otherwise) and
// opens a connector on its Contacts table keyed by Email.
func setup(t *testing.T, so airtablesim.Options, opts map[string]any) *env {
	t.Helper()
	so.Tokens = []string{token}
	if so.Seed == 0 {
		so.Seed = 1
	}
	if so.RateLimit == 0 {
		so.RateLimit = -1
	}
	s, err := airtablesim.New(so)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, sim: s, url: simtest.Start(t, s).URL}
	e.conn = e.open(opts)
	return e
}

// open builds a connector through the registry, as a config would.
func (e *env) open(opts map[string]any) *airtable.Conn {
	e.t.Helper()
	o := map[string]any{"base_url": e.url, "token": token, "base_id": base, "table": "Contacts", "key_field": "Email", "rate_per_second": 100}
	for k, v := range opts {
		o[k] = v
	}
	c, err := connector.New("airtable", connector.Params{Name: "crm", Options: o, AllowPrivateNetwork: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = connector.Close(context.Background(), c) })
	return c.(*airtable.Conn)
}

func (e *env) records() []airtablesim.Record { return e.sim.Records(base, "Contacts") }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func contact(key string, fields map[string]any) connector.Delivery {
	if fields == nil {
		fields = map[string]any{}
	}
	return connector.Delivery{ID: "del-" + key, EventID: "ev-" + key, Route: "crm", RecordKey: key, Payload: fields, Attempt: 1}
}

// classified asserts err is a *connector.Error of class c and returns it.
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
	c, err := connector.New("airtable", connector.Params{Name: "crm", Options: map[string]any{"token": token, "base_id": base, "table": "tblContacts000001", "key_field": "Email"}, AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	defer connector.Close(context.Background(), c)
	want := connector.Constraints{RatePerSecond: 5, Burst: 1, BatchSize: 10, MaxPayloadBytes: 2 << 20, Timeout: 10 * time.Second, Upsert: true}
	if got := c.Constraints(); got != want {
		t.Fatalf("constraints = %+v, want %+v", got, want)
	}
	var _ connector.Batcher = c.(*airtable.Conn)
	var _ connector.Looker = c.(*airtable.Conn)
	s := fmt.Sprintf("%v %+v %#v %s", c, c, c, c)
	if strings.Contains(s, token) || !strings.Contains(s, "https://api.airtable.com") {
		t.Fatalf("formatting leaks the token or hides the origin: %s", s)
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"unknown key", func(o map[string]any) { o["keyfield"] = "x" }, "unknown option"},
		{"no token", func(o map[string]any) { delete(o, "token") }, "options.token: required"},
		{"no base", func(o map[string]any) { delete(o, "base_id") }, "options.base_id: required"},
		{"bad base", func(o map[string]any) { o["base_id"] = "https://airtable.com/appX" }, "options.base_id"},
		{"no table", func(o map[string]any) { o["table"] = " " }, "options.table: required"},
		{"no key field", func(o map[string]any) { delete(o, "key_field") }, "options.key_field: required"},
		{"brace in key field", func(o map[string]any) { o["key_field"] = "a}b" }, "options.key_field"},
		{"negative rate", func(o map[string]any) { o["rate_per_second"] = -1 }, "options.rate_per_second"},
		{"bad timeout", func(o map[string]any) { o["timeout"] = "soon" }, "options.timeout"},
		{"bad base_url", func(o map[string]any) { o["base_url"] = "api.airtable.com" }, "options.base_url"},
		{"credentials in base_url", func(o map[string]any) { o["base_url"] = "https://u:p@api.airtable.com" }, "options.base_url"},
		{"typecast not a bool", func(o map[string]any) { o["typecast"] = "yes" }, "typecast"},
	}
	for _, c := range cases {
		o := map[string]any{"token": token, "base_id": base, "table": "Contacts", "key_field": "Email"}
		c.change(o)
		_, err := connector.New("airtable", connector.Params{Name: "crm", Options: o, AllowPrivateNetwork: true})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("%s: token in error", c.name)
		}
	}
}

func TestUpsertCreatesThenUpdates(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{}, nil)
	res, err := e.conn.Deliver(ctx(t), contact("ann@example.com", map[string]any{"Name": "Ann", "Status": "Lead"}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ExternalID, "rec") || res.Status != http.StatusCreated {
		t.Fatalf("first write: %+v", res)
	}
	res2, err := e.conn.Deliver(ctx(t), contact("ann@example.com", map[string]any{"Status": "Customer", "Email": "ann@example.com"}))
	if err != nil || res2.ExternalID != res.ExternalID || res2.Status != http.StatusOK {
		t.Fatalf("second write: %+v %v, want an update of %s", res2, err, res.ExternalID)
	}
	recs := e.records()
	if len(recs) != 1 || recs[0].Fields["Name"] != "Ann" || recs[0].Fields["Status"] != "Customer" || recs[0].Fields["Email"] != "ann@example.com" {
		t.Fatalf("records: %+v", recs)
	}
	if st := e.sim.Stats(); st.DuplicatesByKey != 0 || st.Requests != 2 {
		t.Fatalf("stats: %+v", st)
	}
	_, err = e.conn.Deliver(ctx(t), contact("ann@example.com", map[string]any{"Email": "bob@example.com"}))
	if ce := classified(t, err, connector.Permanent); ce.Code != "KEY_MISMATCH" {
		t.Fatalf("%+v", ce)
	}
	_, err = e.conn.Deliver(ctx(t), contact("", nil))
	classified(t, err, connector.Permanent)
}

func TestDeliverWithExternalIDPatchesAndRecreatesAfterDelete(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{}, nil)
	res, err := e.conn.Deliver(ctx(t), contact("bo@example.com", map[string]any{"Name": "Bo"}))
	if err != nil {
		t.Fatal(err)
	}
	d := contact("bo@example.com", map[string]any{"Name": "Bob"})
	d.ExternalID = res.ExternalID
	res2, err := e.conn.Deliver(ctx(t), d)
	if err != nil || res2.ExternalID != res.ExternalID {
		t.Fatalf("patch: %+v %v", res2, err)
	}
	if recs := e.records(); len(recs) != 1 || recs[0].Fields["Name"] != "Bob" {
		t.Fatalf("records: %+v", recs)
	}
	req, _ := http.NewRequest("DELETE", e.url+"/v0/"+base+"/Contacts/"+res.ExternalID, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
		t.Fatalf("delete: %v %v", err, r)
	}
	res3, err := e.conn.Deliver(ctx(t), d)
	if err != nil || res3.ExternalID == res.ExternalID || res3.Status != http.StatusCreated {
		t.Fatalf("after the record was deleted: %+v %v", res3, err)
	}
	if recs := e.records(); len(recs) != 1 || recs[0].ID != res3.ExternalID {
		t.Fatalf("records: %+v", recs)
	}
}

// TestBatchSplitsByTenAndIsolatesAnInvalidRecord: 23 records, one with a
// select option the table lacks and one key written twice. Airtable fails a
// whole request for one bad record, so that request is retried record by
// record; every result lands on its own input.
func TestBatchSplitsByTenAndIsolatesAnInvalidRecord(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{}, nil)
	var ds []connector.Delivery
	for i := range 22 {
		status := "Lead"
		if i == 4 {
			status = "Prospect"
		}
		ds = append(ds, contact(fmt.Sprintf("b%02d@example.com", i), map[string]any{"Name": fmt.Sprint("N", i), "Status": status}))
	}
	ds = append(ds, contact("b01@example.com", map[string]any{"Name": "N1 again"}))
	rs, err := e.conn.DeliverBatch(ctx(t), ds)
	if err != nil || len(rs) != len(ds) {
		t.Fatalf("%v, %d results", err, len(rs))
	}
	for i, r := range rs {
		if i == 4 {
			ce := classified(t, r.Err, connector.Permanent)
			if ce.Code != "INVALID_MULTIPLE_CHOICE_OPTIONS" || ce.Status != 422 || !strings.Contains(ce.Message, `Insufficient permissions to create new select option ""Prospect""`) {
				t.Fatalf("item 4: %+v", ce)
			}
			continue
		}
		if r.Err != nil || r.Result.ExternalID == "" {
			t.Fatalf("item %d: %+v %v", i, r.Result, r.Err)
		}
	}
	recs := e.records()
	if len(recs) != 21 {
		t.Fatalf("%d records, want 21", len(recs))
	}
	for _, rec := range recs {
		var i int
		_, _ = fmt.Sscanf(rec.Fields["Email"].(string), "b%02d@example.com", &i)
		want := fmt.Sprint("N", i)
		if i == 1 {
			want = "N1 again"
			if rs[22].Result.ExternalID != rec.ID || rs[22].Result.Status != http.StatusOK {
				t.Fatalf("the second write of b01 is %+v", rs[22].Result)
			}
		}
		if rs[i].Result.ExternalID != rec.ID || rec.Fields["Name"] != want {
			t.Fatalf("record %+v is not item %d's result %+v", rec, i, rs[i].Result)
		}
	}
	// 10 (refused) + 10 singles, 10, and 3 with the repeated key.
	if st := e.sim.Stats(); st.Requests != 13 || st.DuplicatesByKey != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBatchPartialFaultIsRetryablePerItem(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{Seed: 5, Faults: sim.Faults{PartialBatch: 0.3}}, nil)
	ds := make([]connector.Delivery, 10)
	for i := range ds {
		ds[i] = contact(fmt.Sprintf("p%d@example.com", i), nil)
	}
	rs, err := e.conn.DeliverBatch(ctx(t), ds)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, r := range rs {
		if r.Err != nil {
			if ce := classified(t, r.Err, connector.Retryable); !ce.Sent {
				t.Fatal("an item missing from the answer is ambiguous: Sent must be true")
			}
			failed++
		}
	}
	if failed == 0 || failed == 10 || len(e.records()) != 10-failed {
		t.Fatalf("%d failed, %d stored", failed, len(e.records()))
	}
}

// TestPenaltyAfter429: the simulator and the connector share a fake clock.
// The sixth request in a second draws a 429; from then on the connector
// sends nothing to the base, from this destination or another on the same
// base, until 30 s have passed.
func TestPenaltyAfter429(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	s, err := airtablesim.New(airtablesim.Options{Seed: 1, Tokens: []string{token}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	url := simtest.Start(t, s).URL
	open := func(table string) *airtable.Conn {
		c, err := airtable.New("crm", airtable.Options{BaseURL: url, Token: token, BaseID: base, Table: table,
			KeyField: map[string]string{"Contacts": "Email", "Companies": "Domain"}[table], RatePerSecond: 50, Now: clk.Now, Egress: egress.For("destination crm", true)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		return c
	}
	c, companies := open("Contacts"), open("Companies")
	for i := range 5 {
		if _, err := c.Deliver(ctx(t), contact(fmt.Sprintf("r%d@example.com", i), nil)); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	_, err = c.Deliver(ctx(t), contact("r5@example.com", nil))
	ce := classified(t, err, connector.Retryable)
	if ce.Status != 429 || ce.Code != "RATE_LIMIT_REACHED" || ce.RetryAfter != 30*time.Second || ce.Sent {
		t.Fatalf("429: %+v", ce)
	}
	sent := s.Stats().Requests

	check := func(err error, wait time.Duration) {
		t.Helper()
		ce := classified(t, err, connector.Retryable)
		if ce.Status != 0 || ce.Code != "RATE_LIMIT_PENALTY" || ce.RetryAfter != wait || ce.Sent {
			t.Fatalf("during the penalty: %+v, want RetryAfter %v", ce, wait)
		}
	}
	_, err = c.Deliver(ctx(t), contact("r5@example.com", nil))
	check(err, 30*time.Second)
	clk.Advance(20 * time.Second)
	_, _, _, err = c.Lookup(ctx(t), "r0@example.com")
	check(err, 10*time.Second)
	_, err = companies.Deliver(ctx(t), contact("x.example", nil))
	check(err, 10*time.Second)
	rs, _ := c.DeliverBatch(ctx(t), []connector.Delivery{contact("r6@example.com", nil), contact("r7@example.com", nil)})
	for _, r := range rs {
		check(r.Err, 10*time.Second)
	}
	clk.Advance(10*time.Second - time.Millisecond)
	_, err = c.Deliver(ctx(t), contact("r5@example.com", nil))
	check(err, time.Millisecond)
	if got := s.Stats().Requests; got != sent {
		t.Fatalf("%d requests reached Airtable during the penalty", got-sent)
	}

	clk.Advance(time.Millisecond)
	if _, err := c.Deliver(ctx(t), contact("r5@example.com", nil)); err != nil {
		t.Fatalf("after the penalty: %v", err)
	}
	if _, err := companies.Deliver(ctx(t), contact("x.example", nil)); err != nil {
		t.Fatalf("after the penalty: %v", err)
	}
	if st := s.Stats(); st.RateLimited != 1 || len(s.Records(base, "Contacts")) != 6 {
		t.Fatalf("stats %+v", st)
	}
}

// TestStaysUnderFivePerSecond: at the default rate the connector spreads
// twelve concurrent writes over more than two seconds and draws no 429 from
// a simulator enforcing Airtable's 5 per second.
func TestStaysUnderFivePerSecond(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{RateLimit: airtablesim.DefaultRateLimit}, map[string]any{"rate_per_second": nil})
	second := e.open(map[string]any{"table": "Companies", "key_field": "Domain", "rate_per_second": nil})
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%3 == 0 {
				_, err = second.Deliver(ctx(t), contact(fmt.Sprintf("c%d.example", i), nil))
			} else {
				_, err = e.conn.Deliver(ctx(t), contact(fmt.Sprintf("s%d@example.com", i), nil))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("12 requests in %v: faster than 5 per second", el)
	}
	if st := e.sim.Stats(); st.RateLimited != 0 || st.Requests != 12 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInjected429StartsThePenalty(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{Faults: sim.Faults{Errors: map[string]float64{"429": 1}}}, nil)
	_, err := e.conn.Deliver(ctx(t), contact("a@example.com", nil))
	if ce := classified(t, err, connector.Retryable); ce.Status != 429 || ce.RetryAfter != 30*time.Second {
		t.Fatalf("%+v", ce)
	}
	_ = e.sim.SetFaults(sim.Faults{})
	_, err = e.conn.Deliver(ctx(t), contact("a@example.com", nil))
	if ce := classified(t, err, connector.Retryable); ce.Code != "RATE_LIMIT_PENALTY" || ce.RetryAfter <= 29*time.Second {
		t.Fatalf("%+v", ce)
	}
	if e.sim.Stats().Requests != 1 {
		t.Fatal("a request was sent during the penalty")
	}
}

func TestTypecast(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{}, nil)
	payload := map[string]any{"Status": "Prospect", "Score": "12", "Tags": "vip, board"}
	_, err := e.conn.Deliver(ctx(t), contact("t@example.com", map[string]any{"Status": "Prospect"}))
	ce := classified(t, err, connector.Permanent)
	if ce.Code != "INVALID_MULTIPLE_CHOICE_OPTIONS" || ce.Message != `Insufficient permissions to create new select option ""Prospect""` {
		t.Fatalf("without typecast: %+v", ce)
	}
	withCast := e.open(map[string]any{"typecast": true})
	if _, err := withCast.Deliver(ctx(t), contact("t@example.com", payload)); err != nil {
		t.Fatalf("with typecast: %v", err)
	}
	recs := e.records()
	if len(recs) != 1 || recs[0].Fields["Status"] != "Prospect" || recs[0].Fields["Score"] != int64(12) || fmt.Sprint(recs[0].Fields["Tags"]) != "[vip board]" {
		t.Fatalf("records %+v", recs)
	}

	// An Editor's token cannot create options even with typecast.
	editor := setup(t, airtablesim.Options{EditorOnly: true}, map[string]any{"typecast": true})
	_, err = editor.conn.Deliver(ctx(t), contact("t@example.com", payload))
	if ce := classified(t, err, connector.Permanent); ce.Code != "INVALID_MULTIPLE_CHOICE_OPTIONS" {
		t.Fatalf("%+v", ce)
	}
}

func TestValueErrorsArePermanentWithAirtablesMessage(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{}, nil)
	_, err := e.conn.Deliver(ctx(t), contact("v@example.com", map[string]any{"Score": "high"}))
	ce := classified(t, err, connector.Permanent)
	if ce.Code != "INVALID_VALUE_FOR_COLUMN" || ce.Message != `Field "Score" cannot accept the provided value` || ce.Status != 422 {
		t.Fatalf("%+v", ce)
	}
	_, err = e.conn.Deliver(ctx(t), contact("v@example.com", map[string]any{"Created": "2024-01-01"}))
	if ce := classified(t, err, connector.Permanent); !strings.Contains(ce.Message, "computed") {
		t.Fatalf("%+v", ce)
	}
	if len(e.records()) != 0 {
		t.Fatal("an invalid record was stored")
	}
}

func TestUnknownFieldIsDrift(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{Faults: sim.Faults{RemovedFields: []string{"Contacts.Phone"}}}, nil)
	_, err := e.conn.Deliver(ctx(t), contact("a@example.com", map[string]any{"Phone": "+4930123"}))
	ce := classified(t, err, connector.Drift)
	if ce.Code != "UNKNOWN_FIELD_NAME" || ce.Message != `Unknown field name: "Phone"` {
		t.Fatalf("%+v", ce)
	}
	_, err = e.conn.Deliver(ctx(t), contact("a@example.com", map[string]any{"Favourite colour": "red"}))
	classified(t, err, connector.Drift)
	rs, _ := e.conn.DeliverBatch(ctx(t), []connector.Delivery{contact("a@example.com", map[string]any{"Phone": "1"}), contact("b@example.com", nil)})
	for _, r := range rs {
		classified(t, r.Err, connector.Drift)
	}
	if len(e.records()) != 0 {
		t.Fatal("a drifted write stored something")
	}

	// The key field itself removed: writes and lookups are drift.
	_ = e.sim.SetFaults(sim.Faults{RemovedFields: []string{"Email"}})
	_, _, _, err = e.conn.Lookup(ctx(t), "a@example.com")
	if ce := classified(t, err, connector.Drift); ce.Code != "INVALID_FILTER_BY_FORMULA" {
		t.Fatalf("%+v", ce)
	}
	_, err = e.conn.Deliver(ctx(t), contact("a@example.com", nil))
	classified(t, err, connector.Drift)
}

// TestLookupEscapesQuotesInKeys: keys holding quotes and backslashes are
// found exactly, and never match another record.
func TestLookupEscapesQuotesInKeys(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{}, nil)
	keys := []string{`o'brien@example.com`, `say "hi"@example.com`, `back\slash@example.com`, `x\'); OR(TRUE()) --@example.com`, `o`}
	ids := map[string]string{}
	for _, k := range keys {
		res, err := e.conn.Deliver(ctx(t), contact(k, map[string]any{"Name": "N " + k}))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		ids[k] = res.ExternalID
	}
	for _, k := range keys {
		id, fields, found, err := e.conn.Lookup(ctx(t), k)
		if err != nil || !found || id != ids[k] || fields["Email"] != k || fields["Name"] != "N "+k {
			t.Fatalf("lookup %q: %q %v %v %v", k, id, fields, found, err)
		}
	}
	if _, _, found, err := e.conn.Lookup(ctx(t), `o'`); found || err != nil {
		t.Fatalf("a prefix matched: %v %v", found, err)
	}
	// Upserting again finds the same records: no duplicates.
	for _, k := range keys {
		if res, err := e.conn.Deliver(ctx(t), contact(k, nil)); err != nil || res.ExternalID != ids[k] {
			t.Fatalf("%s: %+v %v", k, res, err)
		}
	}
	if len(e.records()) != len(keys) || e.sim.Stats().DuplicatesByKey != 0 {
		t.Fatalf("%d records", len(e.records()))
	}
}

func TestLookupOfLongKeyUsesPost(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{}, nil)
	long := strings.Repeat("k", 17_000)
	if _, err := e.conn.Deliver(ctx(t), contact(long, map[string]any{"Name": "long"})); err != nil {
		t.Fatal(err)
	}
	id, fields, found, err := e.conn.Lookup(ctx(t), long)
	if err != nil || !found || id == "" || fields["Name"] != "long" {
		t.Fatalf("%q %v %v %v", id, fields, found, err)
	}
}

func TestLookupOfDuplicatesIsConflict(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{}, nil)
	for range 2 {
		req, _ := http.NewRequest("POST", e.url+"/v0/"+base+"/Contacts", strings.NewReader(`{"fields":{"Email":"dup@example.com"}}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
			t.Fatalf("create: %v %v", err, r)
		}
	}
	_, _, _, err := e.conn.Lookup(ctx(t), "dup@example.com")
	if ce := classified(t, err, connector.Conflict); !strings.Contains(ce.Message, "2 records") {
		t.Fatalf("%+v", ce)
	}
	// The upsert fails as well, with Airtable's message.
	_, err = e.conn.Deliver(ctx(t), contact("dup@example.com", nil))
	if ce := classified(t, err, connector.Permanent); !strings.Contains(ce.Message, "matches 2 records") {
		t.Fatalf("%+v", ce)
	}
}

func TestAuthAndModelErrors(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{Faults: sim.Faults{Revoked: true}}, nil)
	_, err := e.conn.Deliver(ctx(t), contact("a@example.com", nil))
	if ce := classified(t, err, connector.Auth); ce.Status != 401 || ce.Code != "AUTHENTICATION_REQUIRED" {
		t.Fatalf("%+v", ce)
	}
	_, _, _, err = e.conn.Lookup(ctx(t), "a@example.com")
	classified(t, err, connector.Auth)
	_ = e.sim.SetFaults(sim.Faults{})

	bad := e.open(map[string]any{"token": "patUnknown.secret"})
	if _, err := bad.Deliver(ctx(t), contact("a@example.com", nil)); strings.Contains(classified(t, err, connector.Auth).Error(), "patUnknown.secret") {
		t.Fatal("token in error")
	}
	// A table that does not exist: Airtable answers 403 for it.
	gone := e.open(map[string]any{"table": "Leads"})
	_, err = gone.Deliver(ctx(t), contact("a@example.com", nil))
	if ce := classified(t, err, connector.Auth); ce.Status != 403 || ce.Code != "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND" {
		t.Fatalf("%+v", ce)
	}
}

func TestInjectedStatuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		class  connector.Class
		sent   bool
	}{
		{404, connector.Drift, false},
		{500, connector.Retryable, true},
		{502, connector.Retryable, true},
		{503, connector.Retryable, true},
		{403, connector.Auth, false},
		{413, connector.Permanent, false},
	}
	for _, c := range cases {
		e := setup(t, airtablesim.Options{Faults: sim.Faults{Errors: map[string]float64{fmt.Sprint(c.status): 1}}}, nil)
		_, err := e.conn.Deliver(ctx(t), contact("a@example.com", nil))
		ce := classified(t, err, c.class)
		if ce.Status != c.status || ce.Sent != c.sent {
			t.Errorf("HTTP %d: %+v", c.status, ce)
		}
	}
}

// TestTimeoutAfterWriteThenLookupFindsTheRecord: the write is applied but
// never answered; the error is an ambiguous Retryable; Lookup finds the
// record, and the retry, an upsert by key, updates it.
func TestTimeoutAfterWriteThenLookupFindsTheRecord(t *testing.T) {
	t.Parallel()
	e := setup(t, airtablesim.Options{Faults: sim.Faults{TimeoutAfterWrite: 1}}, map[string]any{"timeout": "300ms"})
	d := contact("gil@example.com", map[string]any{"Name": "Gil"})
	_, err := e.conn.Deliver(ctx(t), d)
	if ce := classified(t, err, connector.Retryable); !ce.Sent || ce.Status != 0 {
		t.Fatalf("%+v, want a timeout after send", ce)
	}
	_ = e.sim.SetFaults(sim.Faults{})
	id, fields, found, err := e.conn.Lookup(ctx(t), "gil@example.com")
	if err != nil || !found || id != e.records()[0].ID || fields["Name"] != "Gil" {
		t.Fatalf("lookup: %q %v %v %v", id, fields, found, err)
	}
	d.Ambiguous, d.Attempt, d.Payload = true, 2, map[string]any{"Name": "Gilbert"}
	if res, err := e.conn.Deliver(ctx(t), d); err != nil || res.ExternalID != id {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if recs := e.records(); len(recs) != 1 || recs[0].Fields["Name"] != "Gilbert" {
		t.Fatalf("records: %+v", recs)
	}
}

func TestTransportErrorsKeepTheTokenOut(t *testing.T) {
	t.Parallel()
	c, err := airtable.New("crm", airtable.Options{BaseURL: "http://127.0.0.1:1", Token: token, BaseID: base, Table: "Contacts", KeyField: "Email", Timeout: "1s", Egress: egress.For("destination crm", true)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	_, err = c.Deliver(ctx(t), contact("a@example.com", nil))
	if ce := classified(t, err, connector.Retryable); ce.Sent {
		t.Fatal("a refused connection sent nothing")
	}
}

// TestNumberKeyRewrittenByTypecast: typecast stores the key "042" of a
// number field as 42; the batch answer still lands on the right inputs.
func TestNumberKeyRewrittenByTypecast(t *testing.T) {
	t.Parallel()
	bases := []airtablesim.Base{{ID: "appParts000000001", Tables: []airtablesim.Table{{Name: "Parts", DedupeField: "Code",
		Fields: []airtablesim.Field{{Name: "Code", Type: airtablesim.TypeNumber}, {Name: "Name", Type: airtablesim.TypeSingleLineText}}}}}}
	e := setup(t, airtablesim.Options{Bases: bases}, map[string]any{"base_id": "appParts000000001", "table": "Parts", "key_field": "Code", "typecast": true})
	ds := []connector.Delivery{contact("042", map[string]any{"Name": "bolt"}), contact("7", map[string]any{"Name": "nut"})}
	for round := range 2 {
		rs, err := e.conn.DeliverBatch(ctx(t), ds)
		if err != nil {
			t.Fatal(err)
		}
		recs := e.sim.Records("appParts000000001", "Parts")
		if len(recs) != 2 {
			t.Fatalf("round %d: records %+v", round, recs)
		}
		for i, r := range rs {
			if r.Err != nil || r.Result.ExternalID != recs[i].ID {
				t.Fatalf("round %d item %d: %+v %v, records %+v", round, i, r.Result, r.Err, recs)
			}
		}
	}
}
