package hubspot_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/sim/hubspot"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

const token = "pat-na1-test-token"

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
	s   *hubspot.Server
	url string
}

func start(t *testing.T, o hubspot.Options) *fixture {
	t.Helper()
	if o.Tokens == nil {
		o.Tokens = []string{token}
	}
	s, err := hubspot.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, s: s, url: simtest.Start(t, s).URL}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *fixture) call(method, path, body string) answer {
	f.t.Helper()
	return f.callAs(token, method, path, body)
}

func (f *fixture) callAs(tok, method, path, body string) answer {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (a answer) str(key string) string {
	s, _ := a.body[key].(string)
	return s
}

func (a answer) props() map[string]any {
	p, _ := a.body["properties"].(map[string]any)
	return p
}

func TestAuth(t *testing.T) {
	t.Parallel()
	f := start(t, hubspot.Options{})
	for _, tok := range []string{"", "pat-wrong"} {
		a := f.callAs(tok, "GET", "/crm/v3/objects/contacts/1", "")
		if a.status != 401 || a.str("category") != "INVALID_AUTHENTICATION" || a.str("status") != "error" ||
			!strings.HasPrefix(a.str("message"), "Authentication credentials not found") || a.str("correlationId") == "" {
			t.Fatalf("token %q: %d %s", tok, a.status, a.raw)
		}
		if a.header.Get("X-HubSpot-Auth-Failure") == "" {
			t.Error("no X-HubSpot-Auth-Failure header")
		}
	}
	_ = f.s.SetFaults(sim.Faults{Revoked: true})
	if a := f.call("GET", "/crm/v3/objects/contacts/1", ""); a.status != 401 || a.str("category") != "INVALID_AUTHENTICATION" {
		t.Fatalf("revoked: %d %s", a.status, a.raw)
	}
}

// TestTenSecondlyRollingLimitIsExact: 100 requests in the window pass, the
// 101st gets 429 TEN_SECONDLY_ROLLING, and capacity comes back exactly as the
// oldest requests leave the 10-second window.
func TestTenSecondlyRollingLimitIsExact(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	f := start(t, hubspot.Options{Now: clk.Now})
	for i := range 100 {
		a := f.call("GET", "/crm/v3/objects/contacts/1", "")
		if a.status != 404 {
			t.Fatalf("request %d: %d %s", i+1, a.status, a.raw)
		}
		if got, want := a.header.Get("X-HubSpot-RateLimit-Remaining"), fmt.Sprint(99-i); got != want {
			t.Fatalf("request %d: Remaining %s, want %s", i+1, got, want)
		}
		if i == 49 {
			clk.Advance(5 * time.Second) // requests 51-100 at t=5s
		}
	}
	a := f.call("GET", "/crm/v3/objects/contacts/1", "")
	if a.status != 429 || a.str("policyName") != "TEN_SECONDLY_ROLLING" || a.str("errorType") != "RATE_LIMIT" ||
		a.str("message") != "You have reached your ten_secondly_rolling limit." {
		t.Fatalf("101st request: %d %s", a.status, a.raw)
	}
	if a.header.Get("X-HubSpot-RateLimit-Max") != "100" || a.header.Get("X-HubSpot-RateLimit-Remaining") != "0" ||
		a.header.Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "10000" || a.header.Get("Retry-After") != "" {
		t.Fatalf("429 headers: %v", a.header)
	}
	// At t=9.999s the first 50 are still in the window.
	clk.Advance(4999 * time.Millisecond)
	if a := f.call("GET", "/crm/v3/objects/contacts/1", ""); a.status != 429 {
		t.Fatalf("just before the window rolls: %d", a.status)
	}
	// At t=10s the first 50 leave: exactly 50 fit.
	clk.Advance(time.Millisecond)
	for i := range 50 {
		if a := f.call("GET", "/crm/v3/objects/contacts/1", ""); a.status != 404 {
			t.Fatalf("after the roll, request %d: %d", i+1, a.status)
		}
	}
	if a := f.call("GET", "/crm/v3/objects/contacts/1", ""); a.status != 429 {
		t.Fatalf("51st after the roll: %d", a.status)
	}
	st := f.s.Stats()
	if st.RateLimited != 3 || st.ByStatus["429"] != 3 || st.Requests != 153 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDailyLimit(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 6, 1, 23, 59, 0, 0, time.UTC)}
	f := start(t, hubspot.Options{Now: clk.Now, DailyLimit: 2})
	for range 2 {
		if a := f.call("GET", "/crm/v3/objects/contacts/1", ""); a.status != 404 {
			t.Fatalf("%d %s", a.status, a.raw)
		}
	}
	a := f.call("GET", "/crm/v3/objects/contacts/1", "")
	if a.status != 429 || a.str("policyName") != "DAILY" || a.str("message") != "You have reached your daily limit." ||
		a.header.Get("X-HubSpot-RateLimit-Daily") != "2" || a.header.Get("X-HubSpot-RateLimit-Daily-Remaining") != "0" {
		t.Fatalf("3rd request of the day: %d %s %v", a.status, a.raw, a.header)
	}
	clk.Advance(time.Minute)
	if a := f.call("GET", "/crm/v3/objects/contacts/1", ""); a.status != 404 {
		t.Fatalf("after midnight: %d", a.status)
	}
}

func TestCreateGetPatchAndConflict(t *testing.T) {
	t.Parallel()
	f := start(t, hubspot.Options{})
	a := f.call("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"Ann@Example.com","firstname":"Ann","lifecyclestage":"lead"}}`)
	if a.status != 201 || a.str("id") == "" || a.props()["email"] != "ann@example.com" || a.props()["hs_object_id"] != a.str("id") {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	id := a.str("id")

	a = f.call("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"ann@example.com"}}`)
	if a.status != 409 || a.str("category") != "CONFLICT" || a.str("message") != "Contact already exists. Existing ID: "+id {
		t.Fatalf("duplicate email: %d %s", a.status, a.raw)
	}

	a = f.call("PATCH", "/crm/v3/objects/contacts/"+id, `{"properties":{"lastname":"Lee","firstname":""}}`)
	if a.status != 200 || a.props()["lastname"] != "Lee" || a.props()["firstname"] != nil {
		t.Fatalf("patch: %d %s", a.status, a.raw)
	}
	a = f.call("GET", "/crm/v3/objects/contacts/ann@example.com?idProperty=email&properties=lastname,phone", "")
	if a.status != 200 || a.str("id") != id || a.props()["lastname"] != "Lee" {
		t.Fatalf("get by email: %d %s", a.status, a.raw)
	}
	if v, ok := a.props()["phone"]; !ok || v != nil {
		t.Fatalf("an asked-for property without a value is null: %s", a.raw)
	}
	if a := f.call("PATCH", "/crm/v3/objects/contacts/999999", `{"properties":{"lastname":"X"}}`); a.status != 404 || a.str("category") != "OBJECT_NOT_FOUND" {
		t.Fatalf("patch missing: %d %s", a.status, a.raw)
	}
	if a := f.call("GET", "/crm/v3/objects/widgets/1", ""); a.status != 400 {
		t.Fatalf("unknown object type: %d %s", a.status, a.raw)
	}
}

func TestValidationErrorShapes(t *testing.T) {
	t.Parallel()
	f := start(t, hubspot.Options{})
	cases := []struct {
		name, props, code, msg string
	}{
		{"unknown property", `{"favourite_colour":"red"}`, "PROPERTY_DOESNT_EXIST", `favourite_colour\\\" does not exist`},
		{"bad option", `{"lifecyclestage":"reports"}`, "INVALID_OPTION", "reports was not one of the allowed options: [subscriber, lead,"},
		{"bad checkbox option", `{"hs_buying_role":"CHAMPION;KINGMAKER"}`, "INVALID_OPTION", "KINGMAKER was not one of the allowed options"},
		{"date not at midnight", `{"sluice_signup_date":1635535865000}`, "INVALID_DATE", "1635535865000 is at 19:31:05.000 UTC, not midnight!"},
		{"date as text", `{"sluice_signup_date":"2024-03-01"}`, "INVALID_DATE", "is not a valid date"},
		{"read-only", `{"hs_object_id":"5"}`, "READ_ONLY_VALUE", "read only"},
		{"bad email", `{"email":"not-an-email"}`, "INVALID_EMAIL", "Email address not-an-email is invalid"},
	}
	for _, c := range cases {
		a := f.call("POST", "/crm/v3/objects/contacts", `{"properties":`+c.props+`}`)
		if a.status != 400 || a.str("category") != "VALIDATION_ERROR" ||
			!strings.HasPrefix(a.str("message"), "Property values were not valid: [") ||
			!strings.Contains(a.raw, `\"error\":\"`+c.code+`\"`) || !strings.Contains(a.raw, c.msg) {
			t.Errorf("%s: %d %s", c.name, a.status, a.raw)
		}
	}
	// Valid forms: midnight ms as a number or a string, ";"-joined options.
	a := f.call("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"b@example.com","sluice_signup_date":"1709251200000","hs_buying_role":"CHAMPION;END_USER"}}`)
	if a.status != 201 || a.props()["sluice_signup_date"] != "1709251200000" || a.props()["hs_buying_role"] != "CHAMPION;END_USER" {
		t.Fatalf("valid date and checkboxes: %d %s", a.status, a.raw)
	}
	if a := f.call("POST", "/crm/v3/objects/contacts", `{"properties":{"hs_buying_role":["CHAMPION"]}}`); a.status != 400 || !strings.Contains(a.str("message"), "Invalid input JSON") {
		t.Fatalf("array value: %d %s", a.status, a.raw)
	}
}

func TestRemovedFieldIsDrift(t *testing.T) {
	t.Parallel()
	f := start(t, hubspot.Options{})
	if a := f.call("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"a@example.com","phone":"1"}}`); a.status != 201 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	resp, err := http.NewRequest("PUT", f.url+"/_sim/faults", strings.NewReader(`{"removed_fields":["contacts.phone"]}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.DefaultClient.Do(resp)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("PUT faults: %v %v", err, r)
	}
	r.Body.Close()
	a := f.call("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"b@example.com","phone":"1"}}`)
	if a.status != 400 || !strings.Contains(a.raw, "PROPERTY_DOESNT_EXIST") {
		t.Fatalf("removed property: %d %s", a.status, a.raw)
	}
	if a := f.call("POST", "/crm/v3/objects/companies", `{"properties":{"name":"X","phone":"1"}}`); a.status != 201 {
		t.Fatalf("qualified removal leaked to companies: %d %s", a.status, a.raw)
	}
	a = f.call("GET", "/crm/v3/properties/contacts", "")
	if a.status != 200 || strings.Contains(a.raw, `"name":"phone"`) || !strings.Contains(a.raw, `"name":"email"`) {
		t.Fatalf("properties: %d", a.status)
	}
}

func inputs(n int, f func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = f(i)
	}
	return `{"inputs":[` + strings.Join(parts, ",") + `]}`
}

func TestBatchUpsert(t *testing.T) {
	t.Parallel()
	f := start(t, hubspot.Options{})
	body := inputs(3, func(i int) string {
		return fmt.Sprintf(`{"id":"d%d","idProperty":"sluice_key","properties":{"dealname":"Deal %d","dealstage":"qualifiedtobuy"},"objectWriteTraceId":"t%d"}`, i, i, i)
	})
	a := f.call("POST", "/crm/v3/objects/deals/batch/upsert", body)
	if a.status != 200 || a.str("status") != "COMPLETE" {
		t.Fatalf("first upsert: %d %s", a.status, a.raw)
	}
	for _, r := range a.body["results"].([]any) {
		if r.(map[string]any)["new"] != true {
			t.Fatalf("first upsert result not new: %v", r)
		}
	}
	body = `{"inputs":[
		{"id":"d0","idProperty":"sluice_key","properties":{"amount":"100"},"objectWriteTraceId":"u0"},
		{"id":"d9","idProperty":"sluice_key","properties":{"dealstage":"won"},"objectWriteTraceId":"u1"}]}`
	a = f.call("POST", "/crm/v3/objects/deals/batch/upsert", body)
	if a.status != 207 || a.body["numErrors"] != 1.0 {
		t.Fatalf("second upsert: %d %s", a.status, a.raw)
	}
	res := a.body["results"].([]any)[0].(map[string]any)
	if res["new"] != false || res["properties"].(map[string]any)["dealname"] != "Deal 0" || res["objectWriteTraceId"] != "u0" {
		t.Fatalf("update result: %v", res)
	}
	e := a.body["errors"].([]any)[0].(map[string]any)
	ctx := e["context"].(map[string]any)
	if e["status"] != "error" || e["category"] != "VALIDATION_ERROR" || !strings.Contains(e["message"].(string), "INVALID_OPTION") ||
		ctx["objectWriteTraceId"].([]any)[0] != "u1" || ctx["id"].([]any)[0] != "d9" {
		t.Fatalf("error entry: %v", e)
	}
	if n := len(f.s.Records("deals")); n != 3 {
		t.Fatalf("%d deals, want 3 (the failed input wrote nothing)", n)
	}

	if a := f.call("POST", "/crm/v3/objects/deals/batch/upsert", `{"inputs":[{"id":"x","idProperty":"dealname","properties":{}}]}`); a.status != 400 {
		t.Fatalf("non-unique idProperty: %d %s", a.status, a.raw)
	}
	if a := f.call("POST", "/crm/v3/objects/deals/batch/upsert", `{"inputs":[{"id":"x","idProperty":"sluice_key","properties":{}},{"id":"x","idProperty":"sluice_key","properties":{}}]}`); a.status != 400 || !strings.Contains(a.raw, "Duplicate IDs") {
		t.Fatalf("duplicate ids: %d %s", a.status, a.raw)
	}
	big := inputs(101, func(i int) string { return fmt.Sprintf(`{"id":"k%d","idProperty":"sluice_key","properties":{}}`, i) })
	if a := f.call("POST", "/crm/v3/objects/deals/batch/upsert", big); a.status != 400 || a.str("category") != "VALIDATION_ERROR" {
		t.Fatalf("101 inputs: %d %s", a.status, a.raw)
	}
}

func TestBatchCreateIsAllOrNothingWithoutTraceIDs(t *testing.T) {
	t.Parallel()
	f := start(t, hubspot.Options{})
	good := `{"properties":{"email":"a@example.com"}}`
	bad := `{"properties":{"email":"b@example.com","lifecyclestage":"nope"}}`
	a := f.call("POST", "/crm/v3/objects/contacts/batch/create", `{"inputs":[`+good+`,`+bad+`]}`)
	if a.status != 400 || len(f.s.Records("contacts")) != 0 {
		t.Fatalf("without trace ids: %d %s, %d records", a.status, a.raw, len(f.s.Records("contacts")))
	}
	a = f.call("POST", "/crm/v3/objects/contacts/batch/create",
		`{"inputs":[{"properties":{"email":"a@example.com"},"objectWriteTraceId":"1"},{"properties":{"email":"b@example.com","lifecyclestage":"nope"},"objectWriteTraceId":"2"}]}`)
	if a.status != 207 || len(f.s.Records("contacts")) != 1 {
		t.Fatalf("with trace ids: %d %s", a.status, a.raw)
	}
	a = f.call("POST", "/crm/v3/objects/contacts/batch/create", `{"inputs":[{"properties":{"email":"c@example.com"}}]}`)
	if a.status != 201 {
		t.Fatalf("all good: %d %s", a.status, a.raw)
	}
}

func TestPartialBatchFault(t *testing.T) {
	t.Parallel()
	f := start(t, hubspot.Options{Seed: 3, Faults: sim.Faults{PartialBatch: 0.5}})
	body := inputs(40, func(i int) string {
		return fmt.Sprintf(`{"id":"c%d@example.com","idProperty":"email","properties":{}}`, i)
	})
	a := f.call("POST", "/crm/v3/objects/contacts/batch/upsert", body)
	failed := int(a.body["numErrors"].(float64))
	if a.status != 207 || failed == 0 || failed == 40 || len(f.s.Records("contacts")) != 40-failed {
		t.Fatalf("%d, %d failed, %d stored: %s", a.status, failed, len(f.s.Records("contacts")), a.raw)
	}
	if int(f.s.Stats().PartialBatchItems) != failed {
		t.Fatal("partial batch items not counted")
	}
}

func TestSearch(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	f := start(t, hubspot.Options{Now: clk.Now, SearchLag: 2 * time.Second})
	f.call("POST", "/crm/v3/objects/contacts", `{"properties":{"email":"ann@example.com","firstname":"Ann"}}`)
	q := `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"ANN@example.com"}]}],"properties":["firstname"]}`
	if a := f.call("POST", "/crm/v3/objects/contacts/search", q); a.status != 200 || a.body["total"] != 0.0 {
		t.Fatalf("before the index caught up: %d %s", a.status, a.raw)
	}
	clk.Advance(2 * time.Second)
	a := f.call("POST", "/crm/v3/objects/contacts/search", q)
	res, _ := a.body["results"].([]any)
	if a.status != 200 || a.body["total"] != 1.0 || len(res) != 1 || res[0].(map[string]any)["properties"].(map[string]any)["firstname"] != "Ann" {
		t.Fatalf("after the lag: %d %s", a.status, a.raw)
	}
	if a.header.Get("X-HubSpot-RateLimit-Remaining") != "" {
		t.Fatal("search responses carry no rate-limit headers")
	}
	// An update is invisible to search for the lag, which still sees the
	// old value.
	f.call("PATCH", "/crm/v3/objects/contacts/ann@example.com?idProperty=email", `{"properties":{"firstname":"Anna"}}`)
	a = f.call("POST", "/crm/v3/objects/contacts/search", q)
	if p := a.body["results"].([]any)[0].(map[string]any)["properties"].(map[string]any); p["firstname"] != "Ann" {
		t.Fatalf("search saw an unindexed update: %v", p)
	}
	// Four searches per second per token.
	clk.Advance(time.Second)
	for i := range 4 {
		if a := f.call("POST", "/crm/v3/objects/contacts/search", q); a.status != 200 {
			t.Fatalf("search %d: %d", i+1, a.status)
		}
	}
	if a := f.call("POST", "/crm/v3/objects/contacts/search", q); a.status != 429 || a.str("policyName") != "SECONDLY" {
		t.Fatalf("5th search in a second: %d %s", a.status, a.raw)
	}
	clk.Advance(time.Second)
	if a := f.call("POST", "/crm/v3/objects/contacts/search", `{"filterGroups":[{"filters":[{"propertyName":"nope","operator":"EQ","value":"x"}]}]}`); a.status != 400 {
		t.Fatalf("unknown filter property: %d", a.status)
	}
}

func TestTimeoutAfterWriteStoresTheRecord(t *testing.T) {
	t.Parallel()
	f := start(t, hubspot.Options{Faults: sim.Faults{TimeoutAfterWrite: 1, Hang: sim.Duration(10 * time.Millisecond)}})
	req, _ := http.NewRequest("POST", f.url+"/crm/v3/objects/contacts", strings.NewReader(`{"properties":{"email":"a@example.com"}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got HTTP %d, want no answer", resp.StatusCode)
	}
	if n := len(f.s.Records("contacts")); n != 1 {
		t.Fatalf("%d records, want the write applied", n)
	}
}

func TestRecordsAndReset(t *testing.T) {
	t.Parallel()
	f := start(t, hubspot.Options{})
	f.call("POST", "/crm/v3/objects/companies", `{"properties":{"name":"Acme","domain":"acme.test"}}`)
	r, err := http.Get(f.url + "/_sim/records")
	if err != nil {
		t.Fatal(err)
	}
	var recs map[string][]map[string]any
	_ = json.NewDecoder(r.Body).Decode(&recs)
	r.Body.Close()
	if len(recs["companies"]) != 1 || recs["companies"][0]["properties"].(map[string]any)["domain"] != "acme.test" || recs["contacts"] == nil {
		t.Fatalf("records: %v", recs)
	}
	r, err = http.Post(f.url+"/_sim/reset", "", nil)
	if err != nil || r.StatusCode != 204 {
		t.Fatalf("reset: %v %v", err, r)
	}
	r.Body.Close()
	if len(f.s.Records("companies")) != 0 || f.s.Stats().Requests != 0 {
		t.Fatal("reset left records or stats")
	}
}

// TestOfficialClientReadsAndSearchOperators covers what @hubspot/api-client
// sends: properties repeated in the query, the object list with paging, and
// the ordering and token search operators (by last-modified date too).
func TestOfficialClientReadsAndSearchOperators(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	f := start(t, hubspot.Options{Now: clk.Now, RateLimit: -1, SearchRate: -1})
	var ids []string
	for i, c := range []string{`"email":"ann@example.com","firstname":"Ann","phone":"+1 555 0100"`, `"email":"bo@acme.io","firstname":"Bo Peep"`, `"email":"cy@example.com","firstname":"Cy"`} {
		a := f.call("POST", "/crm/v3/objects/contacts", `{"properties":{`+c+`}}`)
		if a.status != 201 {
			t.Fatalf("create %d: %d %s", i, a.status, a.raw)
		}
		ids = append(ids, a.str("id"))
		clk.Advance(time.Minute)
	}

	a := f.call("GET", "/crm/v3/objects/contacts/"+ids[0]+"?properties=email&properties=firstname&properties=phone&archived=false", "")
	p := a.props()
	if a.status != 200 || p["email"] != "ann@example.com" || p["firstname"] != "Ann" || p["phone"] != "+1 555 0100" {
		t.Fatalf("get with repeated properties: %d %s", a.status, a.raw)
	}

	a = f.call("GET", "/crm/v3/objects/contacts?limit=2&properties=email&properties=firstname", "")
	res, _ := a.body["results"].([]any)
	next, _ := a.body["paging"].(map[string]any)["next"].(map[string]any)
	if a.status != 200 || len(res) != 2 || next["after"] == nil {
		t.Fatalf("list page 1: %d %s", a.status, a.raw)
	}
	if first := res[0].(map[string]any); first["id"] != ids[0] || first["properties"].(map[string]any)["firstname"] != "Ann" {
		t.Fatalf("list order: %s", a.raw)
	}
	a = f.call("GET", fmt.Sprintf("/crm/v3/objects/contacts?limit=2&after=%v", next["after"]), "")
	res, _ = a.body["results"].([]any)
	if a.status != 200 || len(res) != 1 || res[0].(map[string]any)["id"] != ids[2] || a.body["paging"] != nil {
		t.Fatalf("list page 2: %d %s", a.status, a.raw)
	}
	if a := f.call("GET", "/crm/v3/objects/contacts?limit=101", ""); a.status != 400 {
		t.Fatalf("limit 101: %d %s", a.status, a.raw)
	}

	search := func(filters string) []string {
		t.Helper()
		a := f.call("POST", "/crm/v3/objects/contacts/search", `{"filterGroups":[{"filters":[`+filters+`]}],"properties":["email"]}`)
		if a.status != 200 {
			t.Fatalf("search %s: %d %s", filters, a.status, a.raw)
		}
		var out []string
		for _, r := range a.body["results"].([]any) {
			out = append(out, r.(map[string]any)["id"].(string))
		}
		return out
	}
	second := clk.t.Add(-2 * time.Minute) // when the second contact was written
	ms := func(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }
	for _, tc := range []struct {
		filters string
		want    []string
	}{
		{`{"propertyName":"hs_lastmodifieddate","operator":"GTE","value":"` + ms(second) + `"}`, ids[1:]},
		{`{"propertyName":"hs_lastmodifieddate","operator":"GT","value":"` + ms(second) + `"}`, ids[2:]},
		{`{"propertyName":"lastmodifieddate","operator":"LT","value":"` + second.Format(time.RFC3339) + `"}`, ids[:1]},
		{`{"propertyName":"hs_lastmodifieddate","operator":"LTE","value":"` + ms(second) + `"}`, ids[:2]},
		{`{"propertyName":"createdate","operator":"BETWEEN","value":"` + ms(second) + `","highValue":"` + ms(second.Add(time.Minute)) + `"}`, ids[1:]},
		{`{"propertyName":"email","operator":"CONTAINS_TOKEN","value":"*@example.com"}`, []string{ids[0], ids[2]}},
		{`{"propertyName":"firstname","operator":"CONTAINS_TOKEN","value":"peep"}`, ids[1:2]},
		{`{"propertyName":"hs_object_id","operator":"GT","value":"` + ids[0] + `"}`, ids[1:]},
	} {
		if got := search(tc.filters); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("search %s = %v, want %v", tc.filters, got, tc.want)
		}
	}
	a = f.call("POST", "/crm/v3/objects/contacts/search", `{"filterGroups":[{"filters":[{"propertyName":"createdate","operator":"BETWEEN","value":"1"}]}]}`)
	if a.status != 400 || a.str("category") != "VALIDATION_ERROR" {
		t.Fatalf("BETWEEN without highValue: %d %s", a.status, a.raw)
	}
}
