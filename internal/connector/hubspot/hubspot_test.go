package hubspot_test

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
	"github.com/sluicehq/sluice/internal/connector/hubspot"
	"github.com/sluicehq/sluice/internal/egress"
	"github.com/sluicehq/sluice/internal/sim"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

const token = "pat-na1-11111111-2222-3333-4444-555555555555"

// env is a real simulator on loopback and a real connector pointed at it.
type env struct {
	t    *testing.T
	sim  *hubspotsim.Server
	url  string
	conn *hubspot.Conn
}

func setup(t *testing.T, so hubspotsim.Options, opts map[string]any) *env {
	t.Helper()
	so.Tokens = []string{token}
	if so.Seed == 0 {
		so.Seed = 1
	}
	s, err := hubspotsim.New(so)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, sim: s, url: simtest.Start(t, s).URL}
	e.conn = e.open(opts)
	return e
}

// open builds a connector through the registry, as a config would.
func (e *env) open(opts map[string]any) *hubspot.Conn {
	e.t.Helper()
	o := map[string]any{"base_url": e.url, "token": token, "object": "contacts"}
	for k, v := range opts {
		o[k] = v
	}
	c, err := connector.New("hubspot", connector.Params{Name: "crm", Options: o, AllowPrivateNetwork: true})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = connector.Close(context.Background(), c) })
	return c.(*hubspot.Conn)
}

func (e *env) records(object string) []map[string]string {
	return e.sim.Records(object)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func contact(key string, props map[string]any) connector.Delivery {
	if props == nil {
		props = map[string]any{}
	}
	return connector.Delivery{ID: "del-" + key, EventID: "ev-" + key, Route: "crm", RecordKey: key, Payload: props, Attempt: 1}
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
	e := setup(t, hubspotsim.Options{}, nil)
	c := e.conn.Constraints()
	want := connector.Constraints{RatePerSecond: 10, Burst: 10, BatchSize: 100, Timeout: 10 * time.Second, Upsert: true}
	if c != want {
		t.Fatalf("constraints = %+v, want %+v", c, want)
	}
	var _ connector.Batcher = e.conn
	var _ connector.Looker = e.conn
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	base := func() map[string]any {
		return map[string]any{"token": token, "object": "contacts"}
	}
	cases := []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"unknown key", func(o map[string]any) { o["tokn"] = "x" }, "unknown option"},
		{"no token", func(o map[string]any) { delete(o, "token") }, "options.token: required"},
		{"bad object", func(o map[string]any) { o["object"] = "tickets" }, "options.object"},
		{"deals need id_property", func(o map[string]any) { o["object"] = "deals" }, "options.id_property: required for deals"},
		{"bad base_url", func(o map[string]any) { o["base_url"] = "api.hubapi.com" }, "options.base_url"},
		{"credentials in base_url", func(o map[string]any) { o["base_url"] = "https://u:p@api.hubapi.com" }, "options.base_url"},
		{"bad timeout", func(o map[string]any) { o["timeout"] = "soon" }, "options.timeout"},
		{"negative rate", func(o map[string]any) { o["rate_per_10s"] = -1 }, "options.rate_per_10s"},
		{"bad zone", func(o map[string]any) { o["time_zone"] = "Mars/Olympus" }, "options.time_zone"},
		{"date and checkbox", func(o map[string]any) {
			o["date_properties"] = []any{"x"}
			o["multi_checkbox_properties"] = []any{"x"}
		}, "also a date property"},
	}
	for _, c := range cases {
		o := base()
		c.change(o)
		_, err := connector.New("hubspot", connector.Params{Name: "crm", Options: o, AllowPrivateNetwork: true})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("%s: token in error", c.name)
		}
	}
	o := base()
	o["rate_per_10s"] = 190
	c, err := connector.New("hubspot", connector.Params{Name: "crm", Options: o, AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Constraints(); got.RatePerSecond != 19 || got.Burst != 19 {
		t.Fatalf("rate 190/10s: %+v", got)
	}
	s := fmt.Sprintf("%v %+v %#v %s", c, c, c, c)
	if strings.Contains(s, token) || !strings.Contains(s, "https://api.hubapi.com") {
		t.Fatalf("formatting leaks the token or hides the origin: %s", s)
	}
}

func TestCreateThenUpsertUpdatesTheSameRecord(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{}, nil)
	res, err := e.conn.Deliver(ctx(t), contact("ann@example.com", map[string]any{"email": "ann@example.com", "firstname": "Ann", "lifecyclestage": "lead"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalID == "" || res.Status != http.StatusCreated {
		t.Fatalf("first write: %+v", res)
	}
	// The key is enough: the payload need not repeat it.
	res2, err := e.conn.Deliver(ctx(t), contact("ann@example.com", map[string]any{"lastname": "Lee", "lifecyclestage": "customer"}))
	if err != nil {
		t.Fatal(err)
	}
	if res2.ExternalID != res.ExternalID || res2.Status != http.StatusOK {
		t.Fatalf("second write: %+v, want an update of %s", res2, res.ExternalID)
	}
	recs := e.records("contacts")
	if len(recs) != 1 || recs[0]["firstname"] != "Ann" || recs[0]["lastname"] != "Lee" || recs[0]["lifecyclestage"] != "customer" {
		t.Fatalf("records: %v", recs)
	}
	if st := e.sim.Stats(); st.DuplicatesByKey != 0 || st.Requests != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestDeliverWithExternalIDPatches(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{}, nil)
	res, err := e.conn.Deliver(ctx(t), contact("bo@example.com", map[string]any{"firstname": "Bo"}))
	if err != nil {
		t.Fatal(err)
	}
	d := contact("bo@example.com", map[string]any{"firstname": "Bob"})
	d.ExternalID = res.ExternalID
	res2, err := e.conn.Deliver(ctx(t), d)
	if err != nil || res2.ExternalID != res.ExternalID {
		t.Fatalf("patch: %+v %v", res2, err)
	}
	if recs := e.records("contacts"); len(recs) != 1 || recs[0]["firstname"] != "Bob" {
		t.Fatalf("records: %v", recs)
	}

	// Deleted in HubSpot since: written again by key.
	req, _ := http.NewRequest("DELETE", e.url+"/crm/v3/objects/contacts/"+res.ExternalID, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 204 {
		t.Fatalf("archive: %v %v", err, r)
	}
	res3, err := e.conn.Deliver(ctx(t), d)
	if err != nil || res3.ExternalID == "" || res3.ExternalID == res.ExternalID || res3.Status != http.StatusCreated {
		t.Fatalf("after the record was deleted: %+v %v", res3, err)
	}
	if st := e.sim.Stats(); st.DuplicatesByKey != 0 {
		t.Fatalf("re-creating a deleted record is not a duplicate: %+v", st)
	}
}

// TestBatchOf100With3Invalid: one request, 97 results, 3 per-item Permanent
// errors with HubSpot's message, in input order.
func TestBatchOf100With3Invalid(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{}, nil)
	bad := map[int]bool{7: true, 50: true, 99: true}
	ds := make([]connector.Delivery, 100)
	for i := range ds {
		stage := "lead"
		if bad[i] {
			stage = "reports"
		}
		ds[i] = contact(fmt.Sprintf("c%03d@example.com", i), map[string]any{"firstname": fmt.Sprint("N", i), "lifecyclestage": stage})
	}
	rs, err := e.conn.DeliverBatch(ctx(t), ds)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i, r := range rs {
		if bad[i] {
			ce := classified(t, r.Err, connector.Permanent)
			if ce.Code != "INVALID_OPTION" || ce.Status != http.StatusMultiStatus || !strings.Contains(ce.Message, "reports was not one of the allowed options") {
				t.Fatalf("item %d: %+v", i, ce)
			}
			continue
		}
		if r.Err != nil || r.Result.ExternalID == "" || r.Result.Status != http.StatusCreated {
			t.Fatalf("item %d: %+v %v", i, r.Result, r.Err)
		}
		ids[r.Result.ExternalID] = true
	}
	if len(ids) != 97 || len(e.records("contacts")) != 97 {
		t.Fatalf("%d distinct ids, %d records, want 97", len(ids), len(e.records("contacts")))
	}
	// The results are matched to the right inputs.
	for _, rec := range e.records("contacts") {
		var i int
		_, _ = fmt.Sscanf(rec["email"], "c%03d@example.com", &i)
		if rs[i].Result.ExternalID != rec["hs_object_id"] || rec["firstname"] != fmt.Sprint("N", i) {
			t.Fatalf("record %v is not item %d's result %+v", rec, i, rs[i].Result)
		}
	}
	if st := e.sim.Stats(); st.Requests != 1 {
		t.Fatalf("%d requests, want one batch", st.Requests)
	}
}

func TestBatchPartialFaultIsRetryablePerItem(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{Seed: 5, Faults: sim.Faults{PartialBatch: 0.3}}, nil)
	ds := make([]connector.Delivery, 20)
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
			ce := classified(t, r.Err, connector.Retryable)
			if ce.Sent {
				t.Fatal("an item HubSpot refused was not applied: Sent must be false")
			}
			failed++
		}
	}
	if failed == 0 || failed == 20 || len(e.records("contacts")) != 20-failed {
		t.Fatalf("%d failed, %d stored", failed, len(e.records("contacts")))
	}
}

// Test409IsResolvedByUpdatingTheExistingRecord: a contact created elsewhere
// holds the e-mail; upserting by Sluice's own key conflicts on the e-mail,
// and the connector takes the existing contact over.
func Test409IsResolvedByUpdatingTheExistingRecord(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{}, map[string]any{"id_property": "sluice_key"})
	byEmail := e.open(map[string]any{})
	first, err := byEmail.Deliver(ctx(t), contact("dee@example.com", map[string]any{"firstname": "Dee"}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.conn.Deliver(ctx(t), contact("cust-42", map[string]any{"email": "dee@example.com", "lastname": "Day"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalID != first.ExternalID || !strings.Contains(res.Message, "existing ID "+first.ExternalID) {
		t.Fatalf("result %+v, want an update of %s", res, first.ExternalID)
	}
	recs := e.records("contacts")
	if len(recs) != 1 || recs[0]["sluice_key"] != "cust-42" || recs[0]["lastname"] != "Day" || recs[0]["firstname"] != "Dee" {
		t.Fatalf("records: %v", recs)
	}

	// In a batch too.
	if _, err := byEmail.Deliver(ctx(t), contact("eve@example.com", nil)); err != nil {
		t.Fatal(err)
	}
	rs, err := e.conn.DeliverBatch(ctx(t), []connector.Delivery{
		contact("cust-43", map[string]any{"email": "eve@example.com"}),
		contact("cust-44", map[string]any{"email": "fay@example.com"}),
	})
	if err != nil || rs[0].Err != nil || rs[1].Err != nil {
		t.Fatalf("batch: %+v %v", rs, err)
	}
	if len(e.records("contacts")) != 3 {
		t.Fatalf("records: %v", e.records("contacts"))
	}

	// The existing record already belongs to another key: a person decides.
	_, err = e.conn.Deliver(ctx(t), contact("cust-99", map[string]any{"email": "dee@example.com"}))
	ce := classified(t, err, connector.Conflict)
	if !strings.Contains(ce.Message, "Existing ID: "+first.ExternalID) || !strings.Contains(ce.Message, `"cust-42"`) {
		t.Fatalf("conflict message: %s", ce.Message)
	}
}

func TestDrift(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{Faults: sim.Faults{RemovedFields: []string{"contacts.phone"}}}, nil)
	_, err := e.conn.Deliver(ctx(t), contact("a@example.com", map[string]any{"phone": "+4930123"}))
	ce := classified(t, err, connector.Drift)
	if ce.Code != "PROPERTY_DOESNT_EXIST" || !strings.Contains(ce.Message, "phone") {
		t.Fatalf("drift: %+v", ce)
	}
	// An unknown property in the mapping is drift as well.
	_, err = e.conn.Deliver(ctx(t), contact("a@example.com", map[string]any{"favourite_colour": "red", "lifecyclestage": "nope"}))
	classified(t, err, connector.Drift)
	if len(e.records("contacts")) != 0 {
		t.Fatal("a drifted write stored something")
	}
}

func TestInvalidOptionIsPermanentWithHubSpotsMessage(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{}, nil)
	_, err := e.conn.Deliver(ctx(t), contact("a@example.com", map[string]any{"lifecyclestage": "reports"}))
	ce := classified(t, err, connector.Permanent)
	if ce.Code != "INVALID_OPTION" || !strings.HasPrefix(ce.Message, "Property values were not valid:") ||
		!strings.Contains(ce.Message, "reports was not one of the allowed options") {
		t.Fatalf("%+v", ce)
	}
}

func TestRevokedTokenIsAuth(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{Faults: sim.Faults{Revoked: true}}, nil)
	_, err := e.conn.Deliver(ctx(t), contact("a@example.com", nil))
	ce := classified(t, err, connector.Auth)
	if ce.Status != 401 || ce.Code != "INVALID_AUTHENTICATION" {
		t.Fatalf("%+v", ce)
	}
	_, _, _, err = e.conn.Lookup(ctx(t), "a@example.com")
	classified(t, err, connector.Auth)
	rs, _ := e.conn.DeliverBatch(ctx(t), []connector.Delivery{contact("a@example.com", nil), contact("b@example.com", nil)})
	for _, r := range rs {
		classified(t, r.Err, connector.Auth)
	}

	// A token the portal does not know at all.
	bad := e.open(map[string]any{"token": "pat-na1-unknown"})
	_, err = bad.Deliver(ctx(t), contact("a@example.com", nil))
	if ce := classified(t, err, connector.Auth); strings.Contains(ce.Error(), "pat-na1-unknown") {
		t.Fatal("token in error")
	}
}

func Test429TenSecondly(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{RateLimit: 2}, nil)
	for i := range 2 {
		if _, err := e.conn.Deliver(ctx(t), contact(fmt.Sprintf("r%d@example.com", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.conn.Deliver(ctx(t), contact("r2@example.com", nil))
	ce := classified(t, err, connector.Retryable)
	if ce.Status != 429 || ce.Code != "TEN_SECONDLY_ROLLING" || ce.RetryAfter != 10*time.Second || ce.Sent {
		t.Fatalf("%+v", ce)
	}
	if !strings.Contains(ce.Message, "ten_secondly_rolling") {
		t.Fatalf("message: %s", ce.Message)
	}
}

func Test429Daily(t *testing.T) {
	t.Parallel()
	noon := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	e := setup(t, hubspotsim.Options{DailyLimit: 1, Now: func() time.Time { return noon }}, nil)
	if _, err := e.conn.Deliver(ctx(t), contact("a@example.com", nil)); err != nil {
		t.Fatal(err)
	}
	_, err := e.conn.Deliver(ctx(t), contact("b@example.com", nil))
	ce := classified(t, err, connector.Retryable)
	now := time.Now().UTC()
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	if ce.Code != "DAILY" || ce.RetryAfter <= 0 || ce.RetryAfter > 24*time.Hour || (midnight.Sub(now)-ce.RetryAfter).Abs() > 5*time.Second {
		t.Fatalf("%+v, want RetryAfter until UTC midnight (%v)", ce, midnight.Sub(now))
	}
}

func TestInjectedStatuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status     int
		class      connector.Class
		sent       bool
		retryAfter time.Duration
	}{
		{502, connector.Retryable, true, 0},
		{503, connector.Retryable, true, 0},
		{423, connector.Retryable, false, 2 * time.Second},
		{477, connector.Retryable, false, 60 * time.Second},
		{429, connector.Retryable, false, 10 * time.Second},
		{403, connector.Auth, false, 0},
	}
	for _, c := range cases {
		e := setup(t, hubspotsim.Options{Faults: sim.Faults{Errors: map[string]float64{fmt.Sprint(c.status): 1}}}, nil)
		_, err := e.conn.Deliver(ctx(t), contact("a@example.com", nil))
		ce := classified(t, err, c.class)
		if ce.Status != c.status || ce.Sent != c.sent || ce.RetryAfter != c.retryAfter {
			t.Errorf("HTTP %d: %+v", c.status, ce)
		}
	}
}

// TestTimeoutAfterWriteThenLookupFindsTheRecord: the write is applied but
// never answered; the error is an ambiguous Retryable; Lookup by key finds
// the record, so the retry updates it instead of creating a second one.
func TestTimeoutAfterWriteThenLookupFindsTheRecord(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{Faults: sim.Faults{TimeoutAfterWrite: 1}}, map[string]any{"timeout": "300ms", "lookup_properties": []any{"firstname"}})
	d := contact("gil@example.com", map[string]any{"firstname": "Gil"})
	_, err := e.conn.Deliver(ctx(t), d)
	ce := classified(t, err, connector.Retryable)
	if !ce.Sent || ce.Status != 0 {
		t.Fatalf("%+v, want a timeout after send", ce)
	}
	if len(e.records("contacts")) != 1 {
		t.Fatal("the simulator did not apply the write")
	}
	_ = e.sim.SetFaults(sim.Faults{})

	id, fields, found, err := e.conn.Lookup(ctx(t), "gil@example.com")
	if err != nil || !found || id != e.records("contacts")[0]["hs_object_id"] || fields["firstname"] != "Gil" || fields["email"] != "gil@example.com" {
		t.Fatalf("lookup: %q %v %v %v", id, fields, found, err)
	}
	// The engine's retry: ambiguous, with the ID the lookup found.
	d.Ambiguous, d.ExternalID, d.Attempt = true, id, 2
	d.Payload = map[string]any{"firstname": "Gilbert"}
	res, err := e.conn.Deliver(ctx(t), d)
	if err != nil || res.ExternalID != id {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if recs := e.records("contacts"); len(recs) != 1 || recs[0]["firstname"] != "Gilbert" {
		t.Fatalf("records after the retry: %v", recs)
	}
	if _, _, found, err := e.conn.Lookup(ctx(t), "nobody@example.com"); found || err != nil {
		t.Fatalf("lookup of a missing key: %v %v", found, err)
	}
}

func TestDateAndMultiCheckboxConversion(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{}, map[string]any{
		"object": "deals", "id_property": "sluice_key",
		"date_properties":           []any{"sluice_start_date"},
		"multi_checkbox_properties": []any{"sluice_products"},
	})
	cases := []struct {
		date     any
		products any
		wantDate string
		wantProd string
	}{
		{"2024-03-01", []any{"core", "analytics"}, "1709251200000", "core;analytics"},
		{"2024-03-01T23:30:00-05:00", []any{"support"}, "1709251200000", "support"},
		{"2024-02-29T00:00:00Z", "core;support", "1709164800000", "core;support"},
	}
	for i, c := range cases {
		key := fmt.Sprint("deal-", i)
		_, err := e.conn.Deliver(ctx(t), connector.Delivery{ID: key, RecordKey: key, Payload: map[string]any{
			"dealname": "D", "sluice_start_date": c.date, "sluice_products": c.products}})
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		rec := e.records("deals")[i]
		if rec["sluice_start_date"] != c.wantDate || rec["sluice_products"] != c.wantProd || rec["sluice_key"] != key {
			t.Fatalf("case %d stored %v", i, rec)
		}
	}
	_, fields, found, err := e.conn.Lookup(ctx(t), "deal-0")
	if err != nil || !found || fields["sluice_start_date"] != "2024-03-01" || fmt.Sprint(fields["sluice_products"]) != "[core analytics]" {
		t.Fatalf("read back: %v %v %v", fields, found, err)
	}

	before := e.sim.Stats().Requests
	_, err = e.conn.Deliver(ctx(t), connector.Delivery{RecordKey: "deal-x", Payload: map[string]any{"sluice_start_date": "1st of March"}})
	if ce := classified(t, err, connector.Permanent); !strings.Contains(ce.Message, "sluice_start_date") {
		t.Fatalf("%+v", ce)
	}
	_, err = e.conn.Deliver(ctx(t), connector.Delivery{RecordKey: "deal-x", Payload: map[string]any{"dealname": []any{"a"}}})
	classified(t, err, connector.Permanent)
	if e.sim.Stats().Requests != before {
		t.Fatal("a value HubSpot cannot take was sent anyway")
	}
	// Milliseconds pass through, and HubSpot's own check reports a time
	// that is not midnight.
	_, err = e.conn.Deliver(ctx(t), connector.Delivery{RecordKey: "deal-y", Payload: map[string]any{"sluice_start_date": 1709251200001.0}})
	if ce := classified(t, err, connector.Permanent); ce.Code != "INVALID_DATE" || !strings.Contains(ce.Message, "not midnight") {
		t.Fatalf("%+v", ce)
	}
}

func TestKeyMismatchIsPermanent(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{}, nil)
	_, err := e.conn.Deliver(ctx(t), contact("a@example.com", map[string]any{"email": "b@example.com"}))
	if ce := classified(t, err, connector.Permanent); ce.Code != "KEY_MISMATCH" {
		t.Fatalf("%+v", ce)
	}
	if _, err := e.conn.Deliver(ctx(t), contact("a@example.com", map[string]any{"email": "A@Example.com"})); err != nil {
		t.Fatalf("e-mails compare case-insensitively: %v", err)
	}
	_, err = e.conn.Deliver(ctx(t), contact("", nil))
	classified(t, err, connector.Permanent)
}

// TestConnectorStaysInsideTheRollingWindow: with rate_per_10s 3 the fourth
// request within 10 s waits for a slot instead of drawing a 429.
func TestConnectorStaysInsideTheRollingWindow(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{RateLimit: 3}, map[string]any{"rate_per_10s": 3})
	for i := range 3 {
		if _, err := e.conn.Deliver(ctx(t), contact(fmt.Sprintf("w%d@example.com", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := e.conn.Deliver(short, contact("w3@example.com", nil))
	if ce := classified(t, err, connector.Retryable); ce.Sent || ce.Status != 0 || !strings.Contains(ce.Message, "rate limit") {
		t.Fatalf("%+v", ce)
	}
	if st := e.sim.Stats(); st.RateLimited != 0 || st.Requests != 3 {
		t.Fatalf("stats %+v: the connector went over the window", st)
	}
}

func TestTransportErrorsKeepTheTokenOut(t *testing.T) {
	t.Parallel()
	c, err := hubspot.New("crm", hubspot.Options{BaseURL: "http://127.0.0.1:1", Token: token, Object: "contacts", Timeout: "1s", Egress: egress.For("destination crm", true)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Deliver(ctx(t), contact("a@example.com", nil))
	ce := classified(t, err, connector.Retryable)
	if ce.Sent {
		t.Fatal("a refused connection sent nothing")
	}
}

// TestBatchLargerThan100IsSplit: the engine sends at most BatchSize, but a
// longer slice is still sent in requests of 100.
func TestBatchLargerThan100IsSplit(t *testing.T) {
	t.Parallel()
	e := setup(t, hubspotsim.Options{}, nil)
	ds := make([]connector.Delivery, 250)
	for i := range ds {
		ds[i] = contact(fmt.Sprintf("s%03d@example.com", i), nil)
	}
	rs, err := e.conn.DeliverBatch(ctx(t), ds)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	r, err := http.Get(e.url + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(b), `"requests":3,`) || len(e.records("contacts")) != 250 {
		t.Fatalf("stats %s, %d records", b, len(e.records("contacts")))
	}
}
