package airtable_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/sim/airtable"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

const (
	token    = "patSimTest.0123456789abcdef"
	contacts = "/v0/" + airtable.DefaultBaseID + "/Contacts"
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
	s   *airtable.Server
	url string
}

func start(t *testing.T, o airtable.Options) *fixture {
	t.Helper()
	if o.Tokens == nil {
		o.Tokens = []string{token}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.RateLimit == 0 {
		o.RateLimit = -1
	}
	s, err := airtable.New(o)
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
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
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

// errorOf returns the error type and message of an Airtable error body.
func (a answer) errorOf() (string, string) {
	e, _ := a.body["error"].(map[string]any)
	typ, _ := e["type"].(string)
	msg, _ := e["message"].(string)
	return typ, msg
}

func (f *fixture) wantError(a answer, status int, typ, msgPart string) {
	f.t.Helper()
	gotType, msg := a.errorOf()
	if a.status != status || gotType != typ || !strings.Contains(msg, msgPart) {
		f.t.Fatalf("got %d %s, want %d %s containing %q", a.status, a.raw, status, typ, msgPart)
	}
}

func records(a answer) []map[string]any {
	var out []map[string]any
	list, _ := a.body["records"].([]any)
	for _, r := range list {
		out = append(out, r.(map[string]any))
	}
	return out
}

func fields(r map[string]any) map[string]any {
	f, _ := r["fields"].(map[string]any)
	return f
}

func upsertBody(typecast bool, recs ...string) string {
	return fmt.Sprintf(`{"performUpsert":{"fieldsToMergeOn":["Email"]},"typecast":%v,"records":[%s]}`, typecast, strings.Join(recs, ","))
}

func TestUpsertCreatesThenUpdates(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{})
	a := f.call("PATCH", contacts, upsertBody(false,
		`{"fields":{"Email":"ann@example.com","Name":"Ann","Status":"Lead","Tags":["vip"],"Score":7,"Active":false,"Notes":""}}`,
		`{"fields":{"Email":"bo@example.com","Name":"Bo"}}`))
	if a.status != 200 {
		t.Fatalf("upsert: %d %s", a.status, a.raw)
	}
	recs := records(a)
	created, _ := a.body["createdRecords"].([]any)
	updated, _ := a.body["updatedRecords"].([]any)
	if len(recs) != 2 || len(created) != 2 || len(updated) != 0 || created[0] != recs[0]["id"] {
		t.Fatalf("answer %s", a.raw)
	}
	ann := fields(recs[0])
	if ann["Name"] != "Ann" || ann["Score"] != 7.0 || fmt.Sprint(ann["Tags"]) != "[vip]" || ann["Row"] != 1.0 || ann["Created"] == nil {
		t.Fatalf("fields %v", ann)
	}
	for _, empty := range []string{"Active", "Notes", "Phone"} {
		if _, ok := ann[empty]; ok {
			t.Fatalf("empty field %s is in the answer: %v", empty, ann)
		}
	}
	if id, _ := recs[0]["id"].(string); !strings.HasPrefix(id, "rec") || len(id) != 17 {
		t.Fatalf("record ID %q", id)
	}

	a = f.call("PATCH", contacts, upsertBody(false, `{"fields":{"Email":"ann@example.com","Status":"Customer"}}`))
	updated, _ = a.body["updatedRecords"].([]any)
	created, _ = a.body["createdRecords"].([]any)
	if a.status != 200 || len(updated) != 1 || len(created) != 0 || updated[0] != recs[0]["id"] {
		t.Fatalf("second upsert: %s", a.raw)
	}
	stored := f.s.Records(airtable.DefaultBaseID, "Contacts")
	if len(stored) != 2 || stored[0].Fields["Status"] != "Customer" || stored[0].Fields["Name"] != "Ann" {
		t.Fatalf("stored %+v", stored)
	}

	// PUT is destructive: unmentioned fields are cleared.
	a = f.call("PUT", contacts+"/"+stored[0].ID, `{"fields":{"Email":"ann@example.com"}}`)
	if a.status != 200 || fields(a.body)["Name"] != nil || fields(a.body)["Email"] != "ann@example.com" {
		t.Fatalf("PUT: %s", a.raw)
	}
	if st := f.s.Stats(); st.DuplicatesByKey != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBatchOfMoreThan10IsRefused(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{})
	var recs []string
	for i := range 11 {
		recs = append(recs, fmt.Sprintf(`{"fields":{"Email":"p%d@example.com"}}`, i))
	}
	list := strings.Join(recs, ",")
	f.wantError(f.call("POST", contacts, `{"records":[`+list+`]}`), 422, "INVALID_RECORDS",
		"A maximum of 10 records can be created per request but you have provided 11.")
	f.wantError(f.call("PATCH", contacts, upsertBody(false, recs...)), 422, "INVALID_RECORDS",
		"A maximum of 10 records can be updated per request but you have provided 11.")
	if n := len(f.s.Records(airtable.DefaultBaseID, "Contacts")); n != 0 {
		t.Fatalf("%d records written", n)
	}
	a := f.call("POST", contacts, `{"records":[`+strings.Join(recs[:10], ",")+`]}`)
	if a.status != 200 || len(records(a)) != 10 {
		t.Fatalf("10 records: %d %s", a.status, a.raw)
	}
	q := url.Values{}
	for _, r := range f.s.Records(airtable.DefaultBaseID, "Contacts") {
		q.Add("records[]", r.ID)
	}
	q.Add("records[]", "recXXXXXXXXXXXXXX")
	f.wantError(f.call("DELETE", contacts+"?"+q.Encode(), ""), 422, "INVALID_RECORDS", "up to 10 record IDs")
}

// TestRateLimitPenalty: the sixth request in a second is refused and starts
// a 30-second penalty in which every request to the base is refused; other
// bases are not affected, and after 30 s the base answers again.
func TestRateLimitPenalty(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
	bases := airtable.DefaultBases()
	bases = append(bases, airtable.Base{ID: "appOtherBase00001", Tables: []airtable.Table{{Name: "T", Fields: []airtable.Field{{Name: "Name", Type: airtable.TypeSingleLineText}}}}})
	f := start(t, airtable.Options{RateLimit: airtable.DefaultRateLimit, Now: clk.Now, Bases: bases})
	for i := range 5 {
		if a := f.call("GET", contacts, ""); a.status != 200 {
			t.Fatalf("request %d: %d %s", i+1, a.status, a.raw)
		}
	}
	a := f.call("GET", contacts, "")
	f.wantError(a, 429, "RATE_LIMIT_REACHED", "Rate limit exceeded. Please try again later")
	if a.header.Get("Retry-After") != "" {
		t.Fatal("Airtable documents no Retry-After on 429")
	}
	if got := f.s.PenaltyUntil(airtable.DefaultBaseID); !got.Equal(clk.Now().Add(30 * time.Second)) {
		t.Fatalf("penalty until %v", got)
	}
	if a := f.call("GET", "/v0/appOtherBase00001/T", ""); a.status != 200 {
		t.Fatalf("another base: %d", a.status)
	}
	// The window has long rolled over, but the penalty holds, and refused
	// requests do not extend it.
	for _, step := range []time.Duration{time.Second, 10 * time.Second, 18*time.Second + 999*time.Millisecond} {
		clk.Advance(step)
		f.wantError(f.call("POST", contacts, `{"fields":{"Name":"x"}}`), 429, "RATE_LIMIT_REACHED", "")
	}
	clk.Advance(time.Millisecond)
	if a := f.call("GET", contacts, ""); a.status != 200 {
		t.Fatalf("after 30 s: %d %s", a.status, a.raw)
	}
	if !f.s.PenaltyUntil(airtable.DefaultBaseID).IsZero() {
		t.Fatal("penalty still reported")
	}
	if len(f.s.Records(airtable.DefaultBaseID, "Contacts")) != 0 {
		t.Fatal("a refused write was applied")
	}
	if st := f.s.Stats(); st.RateLimited != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTokenRateLimit(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
	f := start(t, airtable.Options{TokenRateLimit: 2, Now: clk.Now})
	f.call("GET", contacts, "")
	f.call("GET", contacts, "")
	f.wantError(f.call("GET", contacts, ""), 429, "RATE_LIMIT_REACHED", "")
	clk.Advance(29 * time.Second)
	f.wantError(f.call("GET", contacts, ""), 429, "RATE_LIMIT_REACHED", "")
	clk.Advance(time.Second)
	if a := f.call("GET", contacts, ""); a.status != 200 {
		t.Fatalf("after the penalty: %d", a.status)
	}
}

func TestTypecastAndSelectOptions(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{})
	f.wantError(f.call("POST", contacts, `{"fields":{"Email":"a@example.com","Status":"Prospect"}}`),
		422, "INVALID_MULTIPLE_CHOICE_OPTIONS", `Insufficient permissions to create new select option ""Prospect""`)
	f.wantError(f.call("POST", contacts, `{"fields":{"Email":"a@example.com","Score":"12"}}`),
		422, "INVALID_VALUE_FOR_COLUMN", `Field "Score" cannot accept the provided value`)
	f.wantError(f.call("POST", contacts, `{"fields":{"Email":"a@example.com","Created":"2024-01-01"}}`),
		422, "INVALID_VALUE_FOR_COLUMN", "computed")
	// A request that fails later takes back the options typecast added.
	f.wantError(f.call("POST", contacts, `{"typecast":true,"records":[{"fields":{"Status":"Prospect"}},{"fields":{"Nope":1}}]}`),
		422, "UNKNOWN_FIELD_NAME", `Unknown field name: "Nope"`)
	if slices.Contains(f.s.Choices(airtable.DefaultBaseID, "Contacts", "Status"), "Prospect") {
		t.Fatal("an option of a failed request was kept")
	}

	a := f.call("POST", contacts, `{"typecast":true,"fields":{"Email":"a@example.com","Status":"Prospect","Score":"12.5","Tags":"vip, Board","Active":"true","Name":42}}`)
	if a.status != 200 {
		t.Fatalf("typecast: %d %s", a.status, a.raw)
	}
	got := fields(a.body)
	if got["Status"] != "Prospect" || got["Score"] != 12.5 || fmt.Sprint(got["Tags"]) != "[vip Board]" || got["Active"] != true || got["Name"] != "42" {
		t.Fatalf("typecast fields %v", got)
	}
	if ch := f.s.Choices(airtable.DefaultBaseID, "Contacts", "Status"); !slices.Contains(ch, "Prospect") {
		t.Fatalf("choices %v", ch)
	}
	// The option exists now: no typecast needed.
	if a := f.call("POST", contacts, `{"fields":{"Email":"b@example.com","Status":"Prospect"}}`); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}

	editor := start(t, airtable.Options{EditorOnly: true})
	editor.wantError(editor.call("POST", contacts, `{"typecast":true,"fields":{"Status":"Prospect"}}`),
		422, "INVALID_MULTIPLE_CHOICE_OPTIONS", `""Prospect""`)
}

func TestUnknownAndRemovedFields(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{Faults: sim.Faults{RemovedFields: []string{"Contacts.Phone"}}})
	f.wantError(f.call("POST", contacts, `{"fields":{"Email":"a@example.com","Colour":"red"}}`), 422, "UNKNOWN_FIELD_NAME", `Unknown field name: "Colour"`)
	f.wantError(f.call("POST", contacts, `{"fields":{"Email":"a@example.com","Phone":"+1"}}`), 422, "UNKNOWN_FIELD_NAME", `"Phone"`)
	f.wantError(f.call("GET", contacts+"?filterByFormula="+url.QueryEscape("{Phone}='1'"), ""), 422, "INVALID_FILTER_BY_FORMULA", "Unknown field names: Phone")
	// Companies still has its fields.
	if a := f.call("POST", "/v0/"+airtable.DefaultBaseID+"/Companies", `{"fields":{"Domain":"x.example"}}`); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	f.wantError(f.call("PATCH", contacts, `{"performUpsert":{"fieldsToMergeOn":["Created"]},"records":[{"fields":{"Email":"a@example.com"}}]}`),
		422, "INVALID_REQUEST_UNKNOWN", "cannot be used in fieldsToMergeOn")
}

// TestFormulaFindsKeysWithQuotes: a key holding both quote characters and a
// backslash is found with Airtable's escaping (backslash before the
// delimiter and before a backslash), in either quote style.
func TestFormulaFindsKeysWithQuotes(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{})
	key := `o'brien "jr" \x@example.com`
	body, _ := json.Marshal(map[string]any{"fields": map[string]any{"Email": key, "Score": 3}})
	if a := f.call("POST", contacts, string(body)); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	f.call("POST", contacts, `{"fields":{"Email":"other@example.com","Score":4}}`)
	for _, formula := range []string{
		`{Email} = 'o\'brien "jr" \\x@example.com'`,
		`{Email}="o'brien \"jr\" \\x@example.com"`,
		`AND({Email} = 'o\'brien "jr" \\x@example.com', {Score} = 3)`,
		`{Score} = '3'`,
		`LOWER({Email}) = 'o\'brien "jr" \\x@example.com'`,
	} {
		a := f.call("GET", contacts+"?filterByFormula="+url.QueryEscape(formula), "")
		if a.status != 200 || len(records(a)) != 1 || fields(records(a)[0])["Email"] != key {
			t.Fatalf("%s: %d %s", formula, a.status, a.raw)
		}
	}
	for _, formula := range []string{`{Email} = 'O\'brien "jr" \\x@example.com'`, `{Email} = 'o'brien'`} {
		a := f.call("GET", contacts+"?filterByFormula="+url.QueryEscape(formula), "")
		if a.status == 200 && len(records(a)) != 0 {
			t.Fatalf("%s matched: %s", formula, a.raw)
		}
	}
	f.wantError(f.call("GET", contacts+"?filterByFormula="+url.QueryEscape(`{Email} = 'x`), ""), 422, "INVALID_FILTER_BY_FORMULA", "unterminated string")
}

func TestUpsertWithTwoMatchesFails(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{})
	f.call("POST", contacts, `{"records":[{"fields":{"Email":"d@example.com"}},{"fields":{"Email":"d@example.com"}}]}`)
	if st := f.s.Stats(); st.DuplicatesByKey != 1 {
		t.Fatalf("duplicates %d, want 1", st.DuplicatesByKey)
	}
	f.wantError(f.call("PATCH", contacts, upsertBody(false, `{"fields":{"Email":"d@example.com","Name":"D"}}`)), 422, "INVALID_REQUEST_UNKNOWN", "matches 2 records")
	// The same key twice in one upsert: the second updates what the first
	// creates.
	a := f.call("PATCH", contacts, upsertBody(false, `{"fields":{"Email":"e@example.com","Name":"E1"}}`, `{"fields":{"Email":"e@example.com","Score":2}}`))
	if a.status != 200 || len(records(a)) != 2 || records(a)[0]["id"] != records(a)[1]["id"] || fields(records(a)[1])["Name"] != "E1" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	f.wantError(f.call("PATCH", contacts, upsertBody(false, `{"fields":{"Name":"no key"}}`)), 422, "INVALID_RECORDS", "fieldsToMergeOn")
	f.wantError(f.call("PATCH", contacts, `{"records":[{"id":"recNOPE0000000000","fields":{}}]}`), 422, "ROW_DOES_NOT_EXIST", "recNOPE0000000000")
}

func TestAuthAndModelErrors(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{})
	f.wantError(f.callAs("", "GET", contacts, ""), 401, "AUTHENTICATION_REQUIRED", "")
	f.wantError(f.callAs("patWrong", "GET", contacts, ""), 401, "AUTHENTICATION_REQUIRED", "")
	f.wantError(f.call("GET", "/v0/appNoSuchBase0000/Contacts", ""), 403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", "model was not found")
	f.wantError(f.call("POST", "/v0/"+airtable.DefaultBaseID+"/Leads", `{"fields":{}}`), 403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", "")
	if a := f.call("GET", contacts+"/recNOPE0000000000", ""); a.status != 404 || a.raw != "{\"error\":\"NOT_FOUND\"}\n" {
		t.Fatalf("%d %q", a.status, a.raw)
	}
	if a := f.call("GET", "/v0/"+airtable.DefaultBaseID+"/tblContacts000001", ""); a.status != 200 {
		t.Fatalf("table by ID: %d", a.status)
	}
	f.wantError(f.call("POST", contacts, `{"fields":`), 400, "INVALID_REQUEST_BODY", "")
	f.wantError(f.call("POST", contacts, `{"feilds":{}}`), 422, "INVALID_REQUEST_UNKNOWN", "parameter validation failed")
	f.wantError(f.call("POST", contacts, `{"typecast":true}`), 422, "INVALID_REQUEST_MISSING_FIELDS", `Could not find field "fields"`)

	small := start(t, airtable.Options{MaxBodyBytes: 64})
	small.wantError(small.call("POST", contacts, `{"fields":{"Notes":"`+strings.Repeat("x", 100)+`"}}`), 413, "REQUEST_TOO_LARGE", "")
	long := small.call("GET", contacts+"?filterByFormula="+strings.Repeat("x", airtable.MaxURLLength), "")
	if long.status != http.StatusRequestURITooLong {
		t.Fatalf("long URL: %d", long.status)
	}
}

func TestListPagesAndOffsets(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{})
	for i := range 25 {
		f.call("POST", contacts, fmt.Sprintf(`{"fields":{"Email":"l%02d@example.com","Score":%d}}`, i, i))
	}
	var seen []string
	offset := ""
	for pages := 0; ; pages++ {
		a := f.call("GET", contacts+"?pageSize=10&fields%5B%5D=Email&offset="+url.QueryEscape(offset), "")
		if a.status != 200 || pages > 3 {
			t.Fatalf("page %d: %d %s", pages, a.status, a.raw)
		}
		for _, r := range records(a) {
			if len(fields(r)) != 1 {
				t.Fatalf("fields[] not applied: %v", r)
			}
			seen = append(seen, fields(r)["Email"].(string))
		}
		offset, _ = a.body["offset"].(string)
		if offset == "" {
			break
		}
	}
	if len(seen) != 25 || seen[0] != "l00@example.com" || seen[24] != "l24@example.com" {
		t.Fatalf("listed %v", seen)
	}

	a := f.call("POST", contacts+"/listRecords", `{"pageSize":5,"maxRecords":7,"filterByFormula":"{Score} >= 10"}`)
	if len(records(a)) != 5 || a.body["offset"] == nil {
		t.Fatalf("first page %s", a.raw)
	}
	next := a.body["offset"].(string)
	a = f.call("POST", contacts+"/listRecords", `{"pageSize":5,"maxRecords":7,"filterByFormula":"{Score} >= 10","offset":"`+next+`"}`)
	if len(records(a)) != 2 || a.body["offset"] != nil || fields(records(a)[1])["Score"] != 16.0 {
		t.Fatalf("second page %s", a.raw)
	}

	// The record an offset points at was deleted.
	a = f.call("GET", contacts+"?pageSize=3", "")
	off := a.body["offset"].(string)
	id := off[strings.Index(off, "/")+1:]
	if d := f.call("DELETE", contacts+"/"+id, ""); d.status != 200 || d.body["deleted"] != true {
		t.Fatalf("delete: %s", d.raw)
	}
	f.wantError(f.call("GET", contacts+"?pageSize=3&offset="+url.QueryEscape(off), ""), 422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE", "")
}

func TestPartialBatchLeavesFailedRecordsOut(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{Seed: 3, Faults: sim.Faults{PartialBatch: 0.5}})
	var recs []string
	for i := range 10 {
		recs = append(recs, fmt.Sprintf(`{"fields":{"Email":"pb%d@example.com"}}`, i))
	}
	a := f.call("PATCH", contacts, upsertBody(false, recs...))
	created, _ := a.body["createdRecords"].([]any)
	n := len(records(a))
	if a.status != 200 || n == 0 || n == 10 || len(created) != n || len(f.s.Records(airtable.DefaultBaseID, "Contacts")) != n {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if st := f.s.Stats(); st.PartialBatchItems != int64(10-n) {
		t.Fatalf("stats %+v", st)
	}
}

func TestTimeoutAfterWriteAppliesTheWrite(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{Faults: sim.Faults{TimeoutAfterWrite: 1, Hang: sim.Duration(10 * time.Millisecond)}})
	req, _ := http.NewRequest("PATCH", f.url+contacts, strings.NewReader(upsertBody(false, `{"fields":{"Email":"t@example.com"}}`)))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got HTTP %d, want no answer", resp.StatusCode)
	}
	if len(f.s.Records(airtable.DefaultBaseID, "Contacts")) != 1 {
		t.Fatal("the write was not applied")
	}
}

func TestInjectedErrorsUseAirtableBodies(t *testing.T) {
	t.Parallel()
	for status, typ := range map[int]string{401: "AUTHENTICATION_REQUIRED", 403: "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", 429: "RATE_LIMIT_REACHED", 500: "SERVER_ERROR", 503: "RETRIABLE_ERROR"} {
		f := start(t, airtable.Options{Faults: sim.Faults{Errors: map[string]float64{fmt.Sprint(status): 1}}})
		f.wantError(f.call("GET", contacts, ""), status, typ, "")
	}
	f := start(t, airtable.Options{Faults: sim.Faults{Errors: map[string]float64{"429": 1}}})
	f.call("GET", contacts, "")
	if !f.s.PenaltyUntil(airtable.DefaultBaseID).IsZero() {
		t.Fatal("an injected 429 started the penalty")
	}
}

func TestResetAndControlRecords(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{})
	f.call("POST", contacts, `{"typecast":true,"fields":{"Email":"r@example.com","Status":"New"}}`)
	resp, err := http.Get(f.url + "/_sim/records")
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]map[string][]airtable.Record
	_ = json.NewDecoder(resp.Body).Decode(&all)
	resp.Body.Close()
	if got := all[airtable.DefaultBaseID]["Contacts"]; len(got) != 1 || got[0].Fields["Email"] != "r@example.com" {
		t.Fatalf("records %v", all)
	}
	f.s.Reset()
	if len(f.s.Records(airtable.DefaultBaseID, "Contacts")) != 0 || slices.Contains(f.s.Choices(airtable.DefaultBaseID, "Contacts", "Status"), "New") {
		t.Fatal("reset kept records or options")
	}
}

func TestNewRejectsBadSchemas(t *testing.T) {
	t.Parallel()
	for _, bases := range [][]airtable.Base{
		{{Tables: []airtable.Table{{Name: ""}}}},
		{{Tables: []airtable.Table{{Name: "T", Fields: []airtable.Field{{Name: "A", Type: "singleLineText"}, {Name: "A", Type: "number"}}}}}},
		{{Tables: []airtable.Table{{Name: "T", DedupeField: "Missing"}}}},
	} {
		if _, err := airtable.New(airtable.Options{Bases: bases}); err == nil {
			t.Errorf("schema %+v accepted", bases)
		}
	}
}

// TestOfficialClientRequestShapes covers what airtable.js sends: writes to
// "/v0/{base}/{table}/" with a trailing slash, a GET list with "limit" and
// sort[i][field] parameters, and a listRecords POST body that carries
// "method": "post".
func TestOfficialClientRequestShapes(t *testing.T) {
	t.Parallel()
	f := start(t, airtable.Options{})
	a := f.call("POST", contacts+"/", `{"records":[{"fields":{"Email":"b@example.com","Name":"Bo","Score":2}},{"fields":{"Email":"a@example.com","Name":"Ann","Score":9}},{"fields":{"Email":"c@example.com","Name":"Cy"}}]}`)
	if a.status != 200 || len(records(a)) != 3 {
		t.Fatalf("create with trailing slash: %d %s", a.status, a.raw)
	}
	id := records(a)[0]["id"].(string)
	a = f.call("PATCH", contacts+"/", `{"records":[{"id":"`+id+`","fields":{"Status":"Lead"}}]}`)
	if a.status != 200 || fields(records(a)[0])["Status"] != "Lead" {
		t.Fatalf("update with trailing slash: %d %s", a.status, a.raw)
	}
	a = f.call("PUT", contacts+"/", `{"records":[{"id":"`+id+`","fields":{"Email":"b@example.com","Name":"Bo","Score":2}}]}`)
	if a.status != 200 || fields(records(a)[0])["Status"] != nil {
		t.Fatalf("replace with trailing slash: %d %s", a.status, a.raw)
	}
	a = f.call("PATCH", contacts+"/", upsertBody(false, `{"fields":{"Email":"d@example.com","Name":"Di"}}`))
	if a.status != 200 || len(a.body["createdRecords"].([]any)) != 1 {
		t.Fatalf("upsert with trailing slash: %d %s", a.status, a.raw)
	}

	names := func(a answer) string {
		var out []string
		for _, r := range records(a) {
			out = append(out, fmt.Sprint(fields(r)["Name"]))
		}
		return strings.Join(out, ",")
	}
	q := url.Values{"limit": {"2"}, "sort[0][field]": {"Score"}, "sort[0][direction]": {"desc"}, "fields[]": {"Name"}}
	a = f.call("GET", contacts+"/?"+q.Encode(), "")
	if a.status != 200 || names(a) != "Ann,Bo" || a.body["offset"] == nil {
		t.Fatalf("GET sorted page: %d %s", a.status, a.raw)
	}
	q.Set("offset", a.body["offset"].(string))
	a = f.call("GET", contacts+"/?"+q.Encode(), "")
	if a.status != 200 || names(a) != "Cy,Di" {
		t.Fatalf("GET second sorted page (empty scores last when descending): %d %s", a.status, a.raw)
	}

	a = f.call("POST", contacts+"/listRecords", `{"method":"post","sort":[{"field":"Name","direction":"asc"}],"pageSize":10}`)
	if a.status != 200 || names(a) != "Ann,Bo,Cy,Di" {
		t.Fatalf("listRecords with method and sort: %d %s", a.status, a.raw)
	}
	a = f.call("POST", contacts+"/listRecords", `{"sort":[{"field":"Nope"}]}`)
	f.wantError(a, 422, "UNKNOWN_FIELD_NAME", "Nope")
	a = f.call("GET", contacts+"?sort[0][direction]=asc", "")
	f.wantError(a, 422, "INVALID_SORT", "field")
}
