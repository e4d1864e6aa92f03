package notion_test

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
	"github.com/sluicehq/sluice/internal/sim/notion"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

const (
	token   = "ntn_test_token_0123456789"
	version = "2022-06-28"
	dbID    = notion.DefaultDatabaseID
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
	s   *notion.Server
	url string
}

func start(t *testing.T, o notion.Options) *fixture {
	t.Helper()
	if o.Tokens == nil {
		o.Tokens = []string{token}
	}
	if o.RateLimit == 0 {
		o.RateLimit = -1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	s, err := notion.New(o)
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

func (a answer) str(key string) string {
	s, _ := a.body[key].(string)
	return s
}

func (a answer) prop(name string) map[string]any {
	props, _ := a.body["properties"].(map[string]any)
	p, _ := props[name].(map[string]any)
	return p
}

// do sends a request; headers maps a header to its value, "" leaving it
// out.
func (f *fixture) do(method, path, body string, headers map[string]string) answer {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	h := map[string]string{"Authorization": "Bearer " + token, "Notion-Version": version, "Content-Type": "application/json"}
	for k, v := range headers {
		h[k] = v
	}
	for k, v := range h {
		if v != "" {
			req.Header.Set(k, v)
		}
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

func (f *fixture) call(method, path, body string) answer {
	f.t.Helper()
	return f.do(method, path, body, nil)
}

func (f *fixture) create(props string) answer {
	f.t.Helper()
	return f.call("POST", "/v1/pages", `{"parent":{"database_id":"`+dbID+`"},"properties":`+props+`}`)
}

func text(s string) string {
	b, _ := json.Marshal(s)
	return `[{"type":"text","text":{"content":` + string(b) + `}}]`
}

// notionError asserts Notion's error shape.
func notionError(t *testing.T, a answer, status int, code, msg string) {
	t.Helper()
	if a.status != status || a.str("object") != "error" || a.body["status"] != float64(status) || a.str("code") != code ||
		!strings.Contains(a.str("message"), msg) || a.str("request_id") == "" {
		t.Fatalf("want %d %s %q, got %d %s", status, code, msg, a.status, a.raw)
	}
}

func TestAuthAndVersion(t *testing.T) {
	t.Parallel()
	f := start(t, notion.Options{})
	for _, auth := range []string{"", "Bearer wrong"} {
		a := f.do("GET", "/v1/databases/"+dbID, "", map[string]string{"Authorization": auth, "Notion-Version": ""})
		notionError(t, a, 401, "unauthorized", "API token is invalid.")
	}
	a := f.do("GET", "/v1/databases/"+dbID, "", map[string]string{"Notion-Version": ""})
	notionError(t, a, 400, "missing_version",
		"Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.")
	a = f.do("GET", "/v1/databases/"+dbID, "", map[string]string{"Notion-Version": "2024-01-01"})
	notionError(t, a, 400, "missing_version", "should be `\"2021-05-11\"`")
	if !strings.Contains(a.str("message"), "instead was `\"2024-01-01\"`") {
		t.Fatalf("unknown version message: %s", a.raw)
	}
	_ = f.s.SetFaults(sim.Faults{Revoked: true})
	notionError(t, f.call("GET", "/v1/databases/"+dbID, ""), 401, "unauthorized", "API token is invalid.")
}

// TestRateLimitRetryAfter: nine requests per rolling three seconds pass,
// the tenth gets 429 rate_limited with Retry-After in whole seconds, and
// capacity returns as the window rolls.
func TestRateLimitRetryAfter(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	f := start(t, notion.Options{Now: clk.Now, RateLimit: notion.DefaultRateLimit})
	for i := range 9 {
		if a := f.call("GET", "/v1/databases/"+dbID, ""); a.status != 200 {
			t.Fatalf("request %d: %d %s", i+1, a.status, a.raw)
		}
		clk.Advance(100 * time.Millisecond) // nine requests from t=0 to t=0.8s
	}
	a := f.call("GET", "/v1/databases/"+dbID, "")
	notionError(t, a, 429, "rate_limited", "You have been rate limited. Please try again in a few minutes.")
	// The oldest request leaves the window at t=3s; it is t=0.9s now.
	if got := a.header.Get("Retry-After"); got != "3" {
		t.Fatalf("Retry-After %q, want 3 (2.1s rounded up)", got)
	}
	clk.Advance(2 * time.Second) // t=2.9s
	a = f.call("GET", "/v1/databases/"+dbID, "")
	if a.status != 429 || a.header.Get("Retry-After") != "1" {
		t.Fatalf("0.1s before the window rolls: %d Retry-After %q", a.status, a.header.Get("Retry-After"))
	}
	clk.Advance(100 * time.Millisecond) // t=3.0s: the first request left
	if a := f.call("GET", "/v1/databases/"+dbID, ""); a.status != 200 {
		t.Fatalf("after the roll: %d", a.status)
	}
	if a := f.call("GET", "/v1/databases/"+dbID, ""); a.status != 429 {
		t.Fatalf("only one slot came back, got %d", a.status)
	}
	if st := f.s.Stats(); st.RateLimited != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCreateGetUpdateQuery(t *testing.T) {
	t.Parallel()
	f := start(t, notion.Options{})
	a := f.create(`{"Name":{"title":` + text("Ann") + `},"Email":{"email":"ann@example.com"},"Amount":{"number":12.5},
		"Stage":{"select":{"name":"Lead"}},"Tags":{"multi_select":[{"name":"vip"},{"name":"partner"}]},
		"Due":{"date":{"start":"2024-03-01"}},"Phone":{"phone_number":"+1 555 0100"},"Active":{"checkbox":true},
		"Website":{"url":"https://example.com"}}`)
	if a.status != 200 || a.str("object") != "page" || a.str("id") == "" {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	id := a.str("id")
	if p := a.body["parent"].(map[string]any); p["database_id"] != dbID {
		t.Fatalf("parent %v", p)
	}
	title := a.prop("Name")["title"].([]any)[0].(map[string]any)
	if title["plain_text"] != "Ann" || a.prop("Amount")["number"] != 12.5 || a.prop("Active")["checkbox"] != true ||
		a.prop("Stage")["select"].(map[string]any)["name"] != "Lead" || a.prop("Notes")["rich_text"] == nil ||
		a.prop("Website")["url"] != "https://example.com" {
		t.Fatalf("page properties: %s", a.raw)
	}
	if v, ok := a.prop("Notes")["rich_text"].([]any); !ok || len(v) != 0 {
		t.Fatalf("an empty rich_text is [], got %v", a.prop("Notes"))
	}
	if got := f.s.SelectOptions(dbID, "Tags"); strings.Join(got, ",") != "vip,newsletter,partner" {
		t.Fatalf("a new multi_select name is added to the schema: %v", got)
	}

	// Dashless IDs work too.
	g := f.call("GET", "/v1/pages/"+strings.ReplaceAll(id, "-", ""), "")
	if g.status != 200 || g.str("id") != id {
		t.Fatalf("get: %d %s", g.status, g.raw)
	}
	u := f.call("PATCH", "/v1/pages/"+id, `{"properties":{"Amount":{"number":null},"Notes":{"rich_text":`+text("hi")+`}}}`)
	if u.status != 200 || u.prop("Amount")["number"] != nil || u.prop("Notes")["rich_text"].([]any)[0].(map[string]any)["plain_text"] != "hi" ||
		u.prop("Name")["title"].([]any)[0].(map[string]any)["plain_text"] != "Ann" {
		t.Fatalf("update: %d %s", u.status, u.raw)
	}
	notionError(t, f.call("PATCH", "/v1/pages/00000000-0000-4000-8000-000000000000", `{"properties":{}}`),
		404, "object_not_found", "Could not find page with ID: 00000000-0000-4000-8000-000000000000.")

	f.create(`{"Email":{"email":"bo@example.com"}}`)
	q := f.call("POST", "/v1/databases/"+dbID+"/query", `{"filter":{"property":"Email","email":{"equals":"ann@example.com"}}}`)
	if q.status != 200 || q.str("object") != "list" || q.body["has_more"] != false || len(q.body["results"].([]any)) != 1 {
		t.Fatalf("query: %d %s", q.status, q.raw)
	}
	// rich_text filters apply to email properties; equals is exact.
	q = f.call("POST", "/v1/databases/"+dbID+"/query", `{"filter":{"property":"Email","rich_text":{"equals":"ANN@example.com"}}}`)
	if q.status != 200 || len(q.body["results"].([]any)) != 0 {
		t.Fatalf("exact equals: %d %s", q.status, q.raw)
	}
	q = f.call("POST", "/v1/databases/"+dbID+"/query", `{"filter":{"or":[{"property":"Active","checkbox":{"equals":true}},{"property":"Tags","multi_select":{"contains":"nope"}}]}}`)
	if q.status != 200 || len(q.body["results"].([]any)) != 1 {
		t.Fatalf("compound: %d %s", q.status, q.raw)
	}
	notionError(t, f.call("POST", "/v1/databases/"+dbID+"/query", `{"filter":{"property":"Colour","rich_text":{"equals":"x"}}}`),
		400, "validation_error", "Could not find property with name or id: Colour")
	notionError(t, f.call("POST", "/v1/databases/"+dbID+"/query", `{"filter":{"property":"Amount","rich_text":{"equals":"x"}}}`),
		400, "validation_error", "not a filter for property Amount")
	notionError(t, f.call("POST", "/v1/databases/"+strings.Repeat("1", 32)+"/query", `{}`),
		404, "object_not_found", "Could not find database with ID:")
}

func TestQueryPagination(t *testing.T) {
	t.Parallel()
	f := start(t, notion.Options{})
	for i := range 5 {
		f.create(fmt.Sprintf(`{"Amount":{"number":%d}}`, i))
	}
	var seen []float64
	cursor := ""
	for range 5 {
		body := `{"page_size":2}`
		if cursor != "" {
			body = `{"page_size":2,"start_cursor":"` + cursor + `"}`
		}
		q := f.call("POST", "/v1/databases/"+dbID+"/query", body)
		for _, r := range q.body["results"].([]any) {
			p := r.(map[string]any)["properties"].(map[string]any)["Amount"].(map[string]any)
			seen = append(seen, p["number"].(float64))
		}
		if q.body["has_more"] != true {
			break
		}
		cursor = q.str("next_cursor")
	}
	if fmt.Sprint(seen) != "[0 1 2 3 4]" {
		t.Fatalf("pages %v", seen)
	}
	notionError(t, f.call("POST", "/v1/databases/"+dbID+"/query", `{"page_size":101}`), 400, "validation_error", "page_size")
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	f := start(t, notion.Options{})
	long := strings.Repeat("x", 2001)
	many := make([]string, 101)
	for i := range many {
		many[i] = `{"type":"text","text":{"content":"a"}}`
	}
	options := make([]string, 101)
	for i := range options {
		options[i] = fmt.Sprintf(`{"name":"o%d"}`, i)
	}
	cases := []struct {
		name, props, msg string
	}{
		{"unknown property", `{"Colour":{"rich_text":[]}}`, "Colour is not a property that exists."},
		{"wrong type", `{"Amount":{"rich_text":[]}}`, "Amount is expected to be number."},
		{"wrong type key", `{"Amount":{"type":"rich_text","number":1}}`, "Amount is expected to be number."},
		{"text too long", `{"Notes":{"rich_text":` + text(long) + `}}`,
			"body failed validation: body.properties.Notes.rich_text[0].text.content.length should be ≤ `2000`, instead was `2001`."},
		{"too many rich text objects", `{"Notes":{"rich_text":[` + strings.Join(many, ",") + `]}}`,
			"body.properties.Notes.rich_text.length should be ≤ `100`, instead was `101`."},
		{"too many options", `{"Tags":{"multi_select":[` + strings.Join(options, ",") + `]}}`,
			"body.properties.Tags.multi_select.length should be ≤ `100`, instead was `101`."},
		{"email too long", `{"Email":{"email":"` + strings.Repeat("e", 201) + `"}}`, "body.properties.Email.email.length should be ≤ `200`, instead was `201`."},
		{"url too long", `{"Website":{"url":"` + strings.Repeat("u", 2001) + `"}}`, "body.properties.Website.url.length should be ≤ `2000`"},
		{"number as text", `{"Amount":{"number":"12"}}`, "body.properties.Amount.number should be a number or `null`, instead was `\"12\"`."},
		{"checkbox as text", `{"Active":{"checkbox":"yes"}}`, "body.properties.Active.checkbox should be a boolean"},
		{"comma in select", `{"Stage":{"select":{"name":"a,b"}}}`, "Invalid select option, commas not allowed: a,b"},
		{"bad date", `{"Due":{"date":{"start":"1 March"}}}`, "body.properties.Due.date.start should be a valid ISO 8601 date string"},
		{"no content", `{"Name":{"title":[{"type":"text","text":{}}]}}`, "body.properties.Name.title[0].text.content should be defined"},
	}
	for _, c := range cases {
		a := f.create(c.props)
		if a.status != 400 || a.str("code") != "validation_error" || !strings.Contains(a.str("message"), c.msg) {
			t.Errorf("%s: %d %s", c.name, a.status, a.raw)
		}
	}
	if n := len(f.s.Pages(dbID)); n != 0 {
		t.Fatalf("refused writes stored %d pages", n)
	}
	// 2000 UTF-16 units pass; an emoji counts two.
	if a := f.create(`{"Notes":{"rich_text":` + text(strings.Repeat("x", 2000)) + `}}`); a.status != 200 {
		t.Fatalf("2000 characters: %d %s", a.status, a.raw)
	}
	if a := f.create(`{"Notes":{"rich_text":` + text(strings.Repeat("x", 1999)+"😀") + `}}`); a.status != 400 {
		t.Fatalf("1999 + a surrogate pair is 2001 units: %d", a.status)
	}
	notionError(t, f.call("POST", "/v1/pages", `{"parent":{"database_id":"`+dbID+`"}}`), 400, "validation_error",
		"body failed validation: body.properties should be defined, instead was `undefined`.")
	notionError(t, f.call("POST", "/v1/pages", `{"parent":`), 400, "invalid_json", "Error parsing JSON body.")
	big := `{"parent":{"database_id":"` + dbID + `"},"properties":{},"x":"` + strings.Repeat("a", notion.MaxBodyBytes) + `"}`
	notionError(t, f.call("POST", "/v1/pages", big), 400, "validation_error", "request body size should be ≤ `500000` bytes")
	notionError(t, f.call("POST", "/v1/pages", `{"parent":{"database_id":"`+strings.Repeat("2", 32)+`"},"properties":{}}`),
		404, "object_not_found", "Could not find database with ID: "+strings.Repeat("2", 32)+". Make sure the relevant pages and databases are shared with your integration.")
	notionError(t, f.call("GET", "/v1/blocks/x", ""), 400, "invalid_request_url", "Invalid request URL.")
}

func TestRemovedFieldIsUnknownProperty(t *testing.T) {
	t.Parallel()
	f := start(t, notion.Options{Faults: sim.Faults{RemovedFields: []string{dbID + ".Notes"}}})
	notionError(t, f.create(`{"Notes":{"rich_text":[]}}`), 400, "validation_error", "Notes is not a property that exists.")
	d := f.call("GET", "/v1/databases/"+dbID, "")
	props := d.body["properties"].(map[string]any)
	if _, ok := props["Notes"]; ok || props["Email"] == nil || props["Name"].(map[string]any)["type"] != "title" {
		t.Fatalf("schema: %s", d.raw)
	}
	notionError(t, f.call("POST", "/v1/databases/"+dbID+"/query", `{"filter":{"property":"Notes","rich_text":{"equals":"x"}}}`),
		400, "validation_error", "Could not find property with name or id: Notes")
}

func TestDataSourceVersion(t *testing.T) {
	t.Parallel()
	f := start(t, notion.Options{})
	v := map[string]string{"Notion-Version": "2025-09-03"}
	d := f.do("GET", "/v1/databases/"+dbID, "", v)
	if d.status != 200 || d.body["properties"] != nil || len(d.body["data_sources"].([]any)) != 1 {
		t.Fatalf("database under 2025-09-03: %d %s", d.status, d.raw)
	}
	notionError(t, f.do("POST", "/v1/databases/"+dbID+"/query", `{}`, v), 400, "invalid_request_url", "Invalid request URL.")
	if a := f.do("POST", "/v1/pages", `{"parent":{"database_id":"`+dbID+`"},"properties":{}}`, v); a.status != 200 {
		t.Fatalf("create under 2025-09-03: %d %s", a.status, a.raw)
	}
}

func TestTrashAndDuplicates(t *testing.T) {
	t.Parallel()
	f := start(t, notion.Options{})
	a := f.create(`{"Email":{"email":"a@example.com"}}`)
	f.create(`{"Email":{"email":"a@example.com"}}`)
	if st := f.s.Stats(); st.DuplicatesByKey != 1 {
		t.Fatalf("duplicates %d, want 1", st.DuplicatesByKey)
	}
	id := a.str("id")
	if u := f.call("PATCH", "/v1/pages/"+id, `{"in_trash":true}`); u.status != 200 || u.body["in_trash"] != true {
		t.Fatalf("trash: %d %s", u.status, u.raw)
	}
	notionError(t, f.call("PATCH", "/v1/pages/"+id, `{"properties":{"Amount":{"number":1}}}`), 400, "validation_error",
		"Can't edit block that is archived. You must unarchive the block before editing.")
	q := f.call("POST", "/v1/databases/"+dbID+"/query", `{"filter":{"property":"Email","email":{"equals":"a@example.com"}}}`)
	if len(q.body["results"].([]any)) != 1 || len(f.s.Pages(dbID)) != 1 {
		t.Fatalf("a trashed page is left out: %s", q.raw)
	}
	f.create(`{"Email":{"email":"a@example.com"}}`)
	if st := f.s.Stats(); st.DuplicatesByKey != 2 {
		t.Fatalf("duplicates %d, want 2", st.DuplicatesByKey)
	}
	if u := f.call("PATCH", "/v1/pages/"+id, `{"archived":false,"properties":{"Email":{"email":"z@example.com"}}}`); u.status != 200 || u.body["archived"] != false {
		t.Fatalf("restore: %d %s", u.status, u.raw)
	}
	if st := f.s.Stats(); st.DuplicatesByKey != 2 {
		t.Fatalf("a restored page with a new key is no duplicate: %d", st.DuplicatesByKey)
	}
}

func TestTimeoutAfterWriteStoresThePage(t *testing.T) {
	t.Parallel()
	f := start(t, notion.Options{Faults: sim.Faults{TimeoutAfterWrite: 1, Hang: sim.Duration(10 * time.Millisecond)}})
	req, _ := http.NewRequest("POST", f.url+"/v1/pages", strings.NewReader(`{"parent":{"database_id":"`+dbID+`"},"properties":{"Email":{"email":"t@example.com"}}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Notion-Version", version)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got HTTP %d, want no answer", resp.StatusCode)
	}
	if pages := f.s.Pages(dbID); len(pages) != 1 || pages[0].Properties["Email"] != "t@example.com" {
		t.Fatalf("pages %v, want the write applied", pages)
	}
	// Reads are never held.
	if a := f.call("POST", "/v1/databases/"+dbID+"/query", `{}`); a.status != 200 {
		t.Fatalf("query: %d", a.status)
	}
}

func TestInjectedErrorsUseNotionShape(t *testing.T) {
	t.Parallel()
	f := start(t, notion.Options{})
	for status, code := range map[string]string{"409": "conflict_error", "429": "rate_limited", "500": "internal_server_error",
		"502": "bad_gateway", "503": "service_unavailable", "504": "gateway_timeout", "529": "service_overload"} {
		_ = f.s.SetFaults(sim.Faults{Errors: map[string]float64{status: 1}})
		a := f.create(`{}`)
		if fmt.Sprint(a.status) != status || a.str("code") != code || a.str("object") != "error" {
			t.Errorf("%s: %d %s", status, a.status, a.raw)
		}
		if status == "429" && a.header.Get("Retry-After") == "" {
			t.Error("an injected 429 has no Retry-After")
		}
	}
}

func TestRecordsAndReset(t *testing.T) {
	t.Parallel()
	f := start(t, notion.Options{})
	f.create(`{"Name":{"title":` + text("Acme") + `},"Stage":{"select":{"name":"Partner"}}}`)
	r, err := http.Get(f.url + "/_sim/records")
	if err != nil {
		t.Fatal(err)
	}
	var recs map[string][]map[string]any
	_ = json.NewDecoder(r.Body).Decode(&recs)
	r.Body.Close()
	if len(recs[dbID]) != 1 || recs[dbID][0]["object"] != "page" {
		t.Fatalf("records: %v", recs)
	}
	pages := f.s.Pages(dbID)
	if len(pages) != 1 || pages[0].Properties["Name"] != "Acme" || pages[0].Properties["Stage"] != "Partner" ||
		pages[0].Properties["Amount"] != nil || pages[0].Properties["Active"] != false {
		t.Fatalf("pages: %+v", pages)
	}
	r, err = http.Post(f.url+"/_sim/reset", "", nil)
	if err != nil || r.StatusCode != 204 {
		t.Fatalf("reset: %v %v", err, r)
	}
	r.Body.Close()
	if len(f.s.Pages(dbID)) != 0 || f.s.Stats().Requests != 0 || strings.Contains(strings.Join(f.s.SelectOptions(dbID, "Stage"), ","), "Partner") {
		t.Fatal("reset left pages, stats or added options")
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	bad := []notion.Database{
		{ID: "nope", Properties: []notion.Property{{Name: "Name", Type: notion.TypeTitle}}},
		{ID: dbID, Properties: []notion.Property{{Name: "Name", Type: notion.TypeRichText}}},
		{ID: dbID, Properties: []notion.Property{{Name: "Name", Type: notion.TypeTitle}, {Name: "P", Type: "people"}}},
		{ID: dbID, Properties: []notion.Property{{Name: "Name", Type: notion.TypeTitle}}, KeyProperty: "Email"},
	}
	for i, d := range bad {
		if _, err := notion.New(notion.Options{Databases: []notion.Database{d}}); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

// TestDataSources: at 2025-09-03 a database is a container of data sources;
// pages are created under a data_source_id, returned with a data_source_id
// parent, and queried through the data source. Once a database has a
// second data source the database-level calls fail, at every version; a
// single-source database still works at older versions as before.
func TestDataSources(t *testing.T) {
	t.Parallel()
	const (
		multiID = "1f0a2b3c-4d5e-4f60-8172-839405a6b7c8"
		srcA    = "2a0a2b3c-4d5e-4f60-8172-839405a6b7c8"
		srcB    = "3b0a2b3c-4d5e-4f60-8172-839405a6b7c8"
	)
	props := []notion.Property{{Name: "Name", Type: notion.TypeTitle}, {Name: "Email", Type: notion.TypeEmail}}
	f := start(t, notion.Options{Databases: append(notion.DefaultDatabases(), notion.Database{
		ID: multiID, Title: "People",
		DataSources: []notion.DataSource{
			{ID: srcA, Name: "Leads", Properties: props, KeyProperty: "Email"},
			{ID: srcB, Name: "Partners", Properties: append(props, notion.Property{Name: "Tier", Type: notion.TypeNumber})},
		},
	})})
	v := map[string]string{"Notion-Version": notion.DataSourcesVersion}

	d := f.do("GET", "/v1/databases/"+multiID, "", v)
	list, _ := d.body["data_sources"].([]any)
	if d.status != 200 || len(list) != 2 || list[1].(map[string]any)["id"] != srcB || list[1].(map[string]any)["name"] != "Partners" {
		t.Fatalf("database: %d %s", d.status, d.raw)
	}
	ds := f.do("GET", "/v1/data_sources/"+srcB, "", v)
	dsProps, _ := ds.body["properties"].(map[string]any)
	if ds.status != 200 || ds.str("object") != "data_source" || dsProps["Tier"] == nil || ds.body["parent"].(map[string]any)["database_id"] != multiID {
		t.Fatalf("data source: %d %s", ds.status, ds.raw)
	}

	a := f.do("POST", "/v1/pages", `{"parent":{"type":"data_source_id","data_source_id":"`+srcB+`"},"properties":{"Name":{"title":`+text("Ann")+`},"Tier":{"number":2}}}`, v)
	parent, _ := a.body["parent"].(map[string]any)
	if a.status != 200 || parent["type"] != "data_source_id" || parent["data_source_id"] != srcB || parent["database_id"] != multiID {
		t.Fatalf("create under data source: %d %s", a.status, a.raw)
	}
	pageID := a.str("id")
	// Tier belongs to the other data source's schema only.
	notionError(t, f.do("POST", "/v1/pages", `{"parent":{"data_source_id":"`+srcA+`"},"properties":{"Tier":{"number":2}}}`, v), 400, "validation_error", "Tier is not a property that exists")

	q := f.do("POST", "/v1/data_sources/"+srcB+"/query", `{"filter":{"property":"Tier","number":{"equals":2}}}`, v)
	res, _ := q.body["results"].([]any)
	if q.status != 200 || len(res) != 1 || res[0].(map[string]any)["id"] != pageID {
		t.Fatalf("query data source: %d %s", q.status, q.raw)
	}
	if q := f.do("POST", "/v1/data_sources/"+srcA+"/query", `{}`, v); q.status != 200 || len(q.body["results"].([]any)) != 0 {
		t.Fatalf("query other data source: %d %s", q.status, q.raw)
	}
	notionError(t, f.do("POST", "/v1/data_sources/"+multiID+"/query", `{}`, v), 404, "object_not_found", "data_source")

	// Database-level calls fail on a database with two data sources.
	notionError(t, f.do("POST", "/v1/pages", `{"parent":{"database_id":"`+multiID+`"},"properties":{}}`, v), 400, "validation_error", "multiple data sources")
	notionError(t, f.call("POST", "/v1/pages", `{"parent":{"database_id":"`+multiID+`"},"properties":{}}`), 400, "validation_error", "multiple data sources")
	notionError(t, f.call("GET", "/v1/databases/"+multiID, ""), 400, "validation_error", "multiple data sources")
	notionError(t, f.call("POST", "/v1/databases/"+multiID+"/query", `{}`), 400, "validation_error", "multiple data sources")
	// The data source endpoints do not exist before 2025-09-03.
	notionError(t, f.call("POST", "/v1/data_sources/"+srcA+"/query", `{}`), 400, "invalid_request_url", "Invalid request URL.")

	// A single-source database: the old calls work as before, and the page
	// parent follows the version asked.
	old := f.create(`{"Name":{"title":` + text("Bo") + `}}`)
	if old.status != 200 || old.body["parent"].(map[string]any)["type"] != "database_id" {
		t.Fatalf("old create: %d %s", old.status, old.raw)
	}
	got := f.do("GET", "/v1/pages/"+old.str("id"), "", v)
	if p := got.body["parent"].(map[string]any); p["data_source_id"] != notion.DataSourceID(dbID) || p["database_id"] != dbID {
		t.Fatalf("page at 2025-09-03: %s", got.raw)
	}
	if q := f.call("POST", "/v1/databases/"+dbID+"/query", `{}`); q.status != 200 || len(q.body["results"].([]any)) != 1 {
		t.Fatalf("old query: %d %s", q.status, q.raw)
	}
	if q := f.do("POST", "/v1/data_sources/"+notion.DataSourceID(dbID)+"/query", `{}`, v); q.status != 200 || len(q.body["results"].([]any)) != 1 {
		t.Fatalf("implicit data source query: %d %s", q.status, q.raw)
	}
	if n := len(f.s.Pages(multiID)); n != 1 {
		t.Fatalf("Pages(database) = %d, want 1", n)
	}
}
