package sheets_test

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
	"github.com/sluicehq/sluice/internal/sim/sheets"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

const (
	token = "ya29.test-token"
	book  = "1BookID"
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
	s   *sheets.Server
	url string
}

func leads() sheets.Spreadsheet {
	return sheets.Spreadsheet{ID: book, Title: "CRM", Sheets: []sheets.Sheet{
		{Title: "Leads", Header: []string{"email", "name", "score"}},
		{Title: "My Leads", Header: []string{"id", "note"}},
	}}
}

func start(t *testing.T, o sheets.Options) *fixture {
	t.Helper()
	if o.Tokens == nil {
		o.Tokens = []string{token}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Spreadsheets == nil {
		o.Spreadsheets = []sheets.Spreadsheet{leads()}
	}
	if o.ReadsPerMinute == 0 {
		o.ReadsPerMinute = -1
	}
	if o.WritesPerMinute == 0 {
		o.WritesPerMinute = -1
	}
	s, err := sheets.New(o)
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

func (a answer) errorStatus() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["status"].(string)
	return s
}

func (a answer) errorMessage() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
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

func values(rng string) string {
	return "/v4/spreadsheets/" + book + "/values/" + url.PathEscape(rng)
}

func (f *fixture) mustOK(a answer) answer {
	f.t.Helper()
	if a.status != http.StatusOK {
		f.t.Fatalf("status %d: %s", a.status, a.raw)
	}
	return a
}

func (f *fixture) appendRow(rng string, row ...any) answer {
	f.t.Helper()
	b, _ := json.Marshal(map[string]any{"values": [][]any{row}})
	return f.mustOK(f.call("POST", values(rng)+":append?valueInputOption=RAW&insertDataOption=INSERT_ROWS", string(b)))
}

func TestAuth(t *testing.T) {
	t.Parallel()
	f := start(t, sheets.Options{})
	for _, tc := range []struct{ name, tok, want string }{
		{"missing", "", "Request is missing required authentication credential"},
		{"unknown", "nope", "Request had invalid authentication credentials"},
	} {
		a := f.callAs(tc.tok, "GET", values("Leads!A1"), "")
		if a.status != 401 || a.errorStatus() != "UNAUTHENTICATED" || !strings.HasPrefix(a.errorMessage(), tc.want) {
			t.Fatalf("%s: %d %s", tc.name, a.status, a.raw)
		}
		if a.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: no WWW-Authenticate header", tc.name)
		}
	}
	if err := f.s.SetFaults(sim.Faults{Revoked: true}); err != nil {
		t.Fatal(err)
	}
	if a := f.call("GET", values("Leads!A1"), ""); a.status != 401 || a.errorStatus() != "UNAUTHENTICATED" {
		t.Fatalf("revoked: %d %s", a.status, a.raw)
	}
}

func TestQuotaPerUserAndMinute(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	f := start(t, sheets.Options{WritesPerMinute: 2, ReadsPerMinute: 3, Now: clk.Now})
	for i := 0; i < 2; i++ {
		f.appendRow("Leads!A:C", fmt.Sprintf("a%d@x.io", i))
	}
	a := f.call("POST", values("Leads!A:C")+":append?valueInputOption=RAW", `{"values":[["late@x.io"]]}`)
	if a.status != 429 || a.errorStatus() != "RESOURCE_EXHAUSTED" {
		t.Fatalf("third write: %d %s", a.status, a.raw)
	}
	if !strings.Contains(a.errorMessage(), "limit 'Write requests per minute per user' of service 'sheets.googleapis.com'") {
		t.Fatalf("message: %s", a.errorMessage())
	}
	if a.header.Get("Retry-After") != "" {
		t.Fatal("Google sends no Retry-After")
	}
	if !strings.Contains(a.raw, `"quota_limit":"WriteRequestsPerMinutePerUser"`) || !strings.Contains(a.raw, `"reason":"RATE_LIMIT_EXCEEDED"`) {
		t.Fatalf("details: %s", a.raw)
	}
	// Reads have their own quota.
	f.mustOK(f.call("GET", values("Leads"), ""))
	// Other users have their own quota.
	f.s.Reset()
	clk.Advance(time.Minute)
	if n := len(f.s.Records(book, "Leads")); n != 0 {
		t.Fatalf("reset left %d records", n)
	}
	for i := 0; i < 2; i++ {
		f.appendRow("Leads!A:C", fmt.Sprintf("b%d@x.io", i))
	}
	clk.Advance(59 * time.Second)
	if a := f.call("POST", values("Leads!A:C")+":append?valueInputOption=RAW", `{"values":[["c@x.io"]]}`); a.status != 429 {
		t.Fatalf("inside the minute: %d", a.status)
	}
	clk.Advance(time.Second)
	f.appendRow("Leads!A:C", "d@x.io")
	if got := f.s.Stats().RateLimited; got != 1 {
		t.Fatalf("rate limited %d since the reset, want 1", got)
	}
}

func TestProjectQuota(t *testing.T) {
	t.Parallel()
	f := start(t, sheets.Options{Tokens: []string{token, "other"}, ProjectReadsPerMinute: 2})
	f.mustOK(f.call("GET", values("Leads"), ""))
	f.mustOK(f.callAs("other", "GET", values("Leads"), ""))
	a := f.call("GET", values("Leads"), "")
	if a.status != 429 || !strings.Contains(a.errorMessage(), "limit 'Read requests per minute' of service") {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

func TestRangesAndReads(t *testing.T) {
	t.Parallel()
	f := start(t, sheets.Options{})
	f.appendRow("Leads!A:C", "a@x.io", "Ann", 3)
	f.appendRow("Leads!A:C", "b@x.io", nil, 4.5)
	f.appendRow("'My Leads'!A1", "k1", "it's")
	cases := []struct {
		rng, query string
		wantRange  string
		want       string
	}{
		// Each INSERT_ROWS append grew the grid by a row.
		{"Leads", "", "Leads!A1:Z1002", `[["email","name","score"],["a@x.io","Ann","3"],["b@x.io","","4.5"]]`},
		{"Leads!A:A", "", "Leads!A1:A1002", `[["email"],["a@x.io"],["b@x.io"]]`},
		{"Leads!B2:C", "valueRenderOption=UNFORMATTED_VALUE", "Leads!B2:C1002", `[["Ann",3],["",4.5]]`},
		{"Leads!A:A", "majorDimension=COLUMNS", "Leads!A1:A1002", `[["email","a@x.io","b@x.io"]]`},
		{"Leads!3:3", "", "Leads!A3:Z3", `[["b@x.io","","4.5"]]`},
		{"Leads!C1", "", "Leads!C1", `[["score"]]`},
		{"'My Leads'!A:B", "", "'My Leads'!A1:B1001", `[["id","note"],["k1","it's"]]`},
		{"My Leads", "", "'My Leads'!A1:Z1001", `[["id","note"],["k1","it's"]]`},
		{"A1:B1", "", "Leads!A1:B1", `[["email","name"]]`},
		{"Leads!E5:F9", "", "Leads!E5:F9", `null`},
	}
	for _, tc := range cases {
		path := values(tc.rng)
		if tc.query != "" {
			path += "?" + tc.query
		}
		a := f.mustOK(f.call("GET", path, ""))
		got, _ := json.Marshal(a.body["values"])
		if a.body["range"] != tc.wantRange || string(got) != tc.want {
			t.Errorf("%s %s: range %v values %s, want %s %s", tc.rng, tc.query, a.body["range"], got, tc.wantRange, tc.want)
		}
	}
	for _, rng := range []string{"Nope!A1", "Leads!A1:B2:C3", "Leads!1A", "'Leads", "Leads!A:2"} {
		a := f.call("GET", values(rng), "")
		if a.status != 400 || a.errorStatus() != "INVALID_ARGUMENT" || a.errorMessage() != "Unable to parse range: "+rng {
			t.Errorf("%s: %d %s", rng, a.status, a.raw)
		}
	}
	a := f.mustOK(f.call("GET", "/v4/spreadsheets/"+book+"/values:batchGet?ranges=Leads!1:1&ranges=Leads!A:A&majorDimension=COLUMNS", ""))
	vrs, _ := a.body["valueRanges"].([]any)
	if len(vrs) != 2 {
		t.Fatalf("batchGet: %s", a.raw)
	}
	if a := f.call("GET", "/v4/spreadsheets/nope/values/A1", ""); a.status != 404 || a.errorStatus() != "NOT_FOUND" {
		t.Fatalf("unknown spreadsheet: %d %s", a.status, a.raw)
	}
	if a := f.call("GET", values("Leads")+"?valueRenderOption=PRETTY", ""); a.status != 400 {
		t.Fatalf("bad enum: %d", a.status)
	}
	if a := f.call("GET", values("Leads")+"?bogus=1", ""); a.status != 400 || !strings.Contains(a.errorMessage(), `Unknown name "bogus"`) {
		t.Fatalf("unknown parameter: %d %s", a.status, a.raw)
	}
}

func TestUpdateRules(t *testing.T) {
	t.Parallel()
	f := start(t, sheets.Options{})
	f.appendRow("Leads!A:C", "a@x.io", "Ann", 3)
	if a := f.call("PUT", values("Leads!A2:C2"), `{"values":[["a@x.io","Anna"]]}`); a.status != 400 || a.errorMessage() != "'valueInputOption' is required but not specified" {
		t.Fatalf("no valueInputOption: %d %s", a.status, a.raw)
	}
	a := f.mustOK(f.call("PUT", values("Leads!A2:C2")+"?valueInputOption=RAW", `{"range":"Leads!A2:C2","values":[[null,"Anna","=1+2"]]}`))
	if a.body["updatedRange"] != "Leads!A2:C2" || a.body["updatedCells"] != float64(2) {
		t.Fatalf("update answer: %s", a.raw)
	}
	if got := f.s.Rows(book, "Leads")[1]; fmt.Sprint(got) != "[a@x.io Anna =1+2]" {
		t.Fatalf("row 2 = %v", got)
	}
	f.mustOK(f.call("PUT", values("Leads!A2")+"?valueInputOption=USER_ENTERED", `{"values":[["'00123","","7"]]}`))
	if got := f.s.Rows(book, "Leads")[1]; fmt.Sprintf("%#v", got) != `[]interface {}{"00123", "", 7}` {
		t.Fatalf("USER_ENTERED row 2 = %#v", got)
	}
	for _, tc := range []struct{ rng, body, want string }{
		{"Leads!A2:B2", `{"values":[["a","b","c"]]}`, "Requested writing within range [Leads!A2:B2], but tried writing to column [C]"},
		// The append above grew the grid to 1001 rows.
		{"Leads!A1001", `{"values":[["a"],["b"]]}`, "Range (Leads!A1002) exceeds grid limits. Max rows: 1001, max columns: 26"},
		{"Leads!A2", `{"values":[[["x"]]]}`, "Invalid values[0][0]: list_value {...}"},
		{"Leads!A2", `{"values":[["` + strings.Repeat("x", 50_001) + `"]]}`, "Your input contains more than the maximum of 50000 characters in a single cell."},
		{"Gone!A2", `{"values":[["x"]]}`, "Unable to parse range: Gone!A2"},
		{"Leads!A2", `{"values":[["x"]],"extra":1}`, `Invalid JSON payload received. Unknown name "extra": Cannot find field.`},
	} {
		a := f.call("PUT", values(tc.rng)+"?valueInputOption=RAW", tc.body)
		if a.status != 400 || a.errorStatus() != "INVALID_ARGUMENT" || a.errorMessage() != tc.want {
			t.Errorf("%s: %d %s", tc.rng, a.status, a.errorMessage())
		}
	}
	// Exactly 50,000 characters fit, counted in UTF-16 units.
	f.mustOK(f.call("PUT", values("Leads!B2")+"?valueInputOption=RAW", `{"values":[["`+strings.Repeat("é", 50_000)+`"]]}`))
	if a := f.call("PUT", values("Leads!B2")+"?valueInputOption=RAW", `{"values":[["`+strings.Repeat("😀", 25_001)+`"]]}`); a.status != 400 {
		t.Fatalf("50,002 UTF-16 units accepted: %d", a.status)
	}
}

func TestAppendFindsTable(t *testing.T) {
	t.Parallel()
	f := start(t, sheets.Options{})
	a := f.appendRow("Leads!A:C", "a@x.io", "Ann")
	if a.body["tableRange"] != "Leads!A1:C1" {
		t.Fatalf("tableRange %v", a.body["tableRange"])
	}
	up := a.body["updates"].(map[string]any)
	if up["updatedRange"] != "Leads!A2:B2" || up["updatedRows"] != float64(1) {
		t.Fatalf("updates %v", up)
	}
	f.appendRow("Leads!A1", "b@x.io")
	// A gap after row 3 and data further down: the next append lands in
	// the gap and, with INSERT_ROWS, pushes the rows below down.
	if err := f.s.SetValues(book, "Leads!A6", [][]any{{"far@x.io"}}); err != nil {
		t.Fatal(err)
	}
	a = f.appendRow("Leads!A:C", "c@x.io")
	if up := a.body["updates"].(map[string]any); up["updatedRange"] != "Leads!A4" {
		t.Fatalf("appended at %v", up["updatedRange"])
	}
	recs := f.s.Records(book, "Leads")
	if len(recs) != 4 || recs[3].Row != 7 || recs[3].Values["email"] != "far@x.io" {
		t.Fatalf("records %+v", recs)
	}
	meta := f.mustOK(f.call("GET", "/v4/spreadsheets/"+book, ""))
	first := meta.body["sheets"].([]any)[0].(map[string]any)["properties"].(map[string]any)
	if g := first["gridProperties"].(map[string]any); g["rowCount"] != float64(1003) {
		t.Fatalf("INSERT_ROWS grew the grid to %v rows, want 1003", g["rowCount"])
	}
	// OVERWRITE on an empty sheet writes at the range's start.
	a = f.mustOK(f.call("POST", values("'My Leads'!A1")+":append?valueInputOption=RAW", `{"values":[["x"]]}`))
	if up := a.body["updates"].(map[string]any); up["updatedRange"] != "'My Leads'!A2" {
		t.Fatalf("overwrite append at %v", up["updatedRange"])
	}
}

func TestBatchUpdateIsAtomic(t *testing.T) {
	t.Parallel()
	f := start(t, sheets.Options{})
	f.appendRow("Leads!A:C", "a@x.io", "Ann")
	f.appendRow("Leads!A:C", "b@x.io", "Bob")
	body := `{"valueInputOption":"RAW","data":[
		{"range":"Leads!A2:C2","values":[["a@x.io","Anna"]]},
		{"range":"Nope!A3:C3","values":[["b@x.io","Bobby"]]}]}`
	a := f.call("POST", "/v4/spreadsheets/"+book+"/values:batchUpdate", body)
	if a.status != 400 || a.errorMessage() != "Unable to parse range: Nope!A3:C3" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if got := f.s.Records(book, "Leads")[0].Values["name"]; got != "Ann" {
		t.Fatalf("a failed batch applied its first entry: %v", got)
	}
	body = strings.Replace(body, "Nope!", "Leads!", 1)
	a = f.mustOK(f.call("POST", "/v4/spreadsheets/"+book+"/values:batchUpdate", body))
	if a.body["totalUpdatedCells"] != float64(4) || len(a.body["responses"].([]any)) != 2 {
		t.Fatalf("answer %s", a.raw)
	}
	// partial_batch fails a whole request: nothing is applied.
	if err := f.s.SetFaults(sim.Faults{PartialBatch: 1}); err != nil {
		t.Fatal(err)
	}
	a = f.call("POST", "/v4/spreadsheets/"+book+"/values:batchUpdate", strings.ReplaceAll(body, "Anna", "Zed"))
	if a.status != 503 || a.errorStatus() != "UNAVAILABLE" {
		t.Fatalf("partial fault: %d %s", a.status, a.raw)
	}
	if got := f.s.Records(book, "Leads")[0].Values["name"]; got != "Anna" {
		t.Fatalf("a faulted batch was applied: %v", got)
	}
	a = f.call("POST", values("Leads!A:C")+":append?valueInputOption=RAW", `{"values":[["c@x.io"],["d@x.io"]]}`)
	if a.status != 503 || len(f.s.Records(book, "Leads")) != 2 {
		t.Fatalf("multi-row append under the fault: %d, %d records", a.status, len(f.s.Records(book, "Leads")))
	}
}

func TestRemovedColumnShiftsLeft(t *testing.T) {
	t.Parallel()
	f := start(t, sheets.Options{})
	f.appendRow("Leads!A:C", "a@x.io", "Ann", 3)
	if err := f.s.SetFaults(sim.Faults{RemovedFields: []string{"Leads.name"}}); err != nil {
		t.Fatal(err)
	}
	a := f.mustOK(f.call("GET", values("Leads!1:2"), ""))
	if got, _ := json.Marshal(a.body["values"]); string(got) != `[["email","score"],["a@x.io","3"]]` {
		t.Fatalf("view without name: %s", got)
	}
	f.mustOK(f.call("PUT", values("Leads!B2")+"?valueInputOption=RAW", `{"values":[[9]]}`))
	if err := f.s.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if got := f.s.Records(book, "Leads")[0].Values; got["name"] != "Ann" || got["score"] != float64(9) {
		t.Fatalf("after the fault: %v", got)
	}
}

func TestDuplicatesByKeyAndRowMoves(t *testing.T) {
	t.Parallel()
	f := start(t, sheets.Options{})
	f.appendRow("Leads!A:C", "a@x.io")
	f.appendRow("Leads!A:C", "b@x.io")
	if d := f.s.Stats().DuplicatesByKey; d != 0 {
		t.Fatalf("dups %d", d)
	}
	f.appendRow("Leads!A:C", "a@x.io")
	if d := f.s.Stats().DuplicatesByKey; d != 1 {
		t.Fatalf("dups %d, want 1", d)
	}
	// Insert a row through the API, as another program would.
	a := f.mustOK(f.call("POST", "/v4/spreadsheets/"+book+":batchUpdate",
		`{"requests":[{"insertDimension":{"range":{"sheetId":0,"dimension":"ROWS","startIndex":1,"endIndex":2},"inheritFromBefore":false}}]}`))
	if a.body["spreadsheetId"] != book {
		t.Fatalf("answer %s", a.raw)
	}
	recs := f.s.Records(book, "Leads")
	if recs[0].Row != 3 || recs[0].Values["email"] != "a@x.io" {
		t.Fatalf("after insert: %+v", recs)
	}
	// Deleting the duplicate lets the key be written again without a new
	// duplicate.
	if err := f.s.DeleteRows(book, "Leads", 5, 1); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetValues(book, "Leads!A2", [][]any{{"a@x.io"}}); err != nil {
		t.Fatal(err)
	}
	if d := f.s.Stats().DuplicatesByKey; d != 2 {
		t.Fatalf("dups %d, want 2", d)
	}
	// A reset reloads the initial rows and counts keys from there.
	f.s.Reset()
	f.appendRow("Leads!A:C", "a@x.io")
	if d := f.s.Stats().DuplicatesByKey; d != 0 {
		t.Fatalf("dups after reset %d", d)
	}
}

func TestTimeoutAfterWriteApplies(t *testing.T) {
	t.Parallel()
	f := start(t, sheets.Options{Faults: sim.Faults{TimeoutAfterWrite: 1, Hang: sim.Duration(50 * time.Millisecond)}})
	req, _ := http.NewRequest("POST", f.url+values("Leads!A:C")+":append?valueInputOption=RAW", strings.NewReader(`{"values":[["a@x.io"]]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got an answer (%d), want a dropped connection", resp.StatusCode)
	}
	if n := len(f.s.Records(book, "Leads")); n != 1 {
		t.Fatalf("%d records, want the write applied", n)
	}
}

func TestCreateAndAddSheet(t *testing.T) {
	t.Parallel()
	f := start(t, sheets.Options{Spreadsheets: []sheets.Spreadsheet{}})
	a := f.mustOK(f.call("POST", "/v4/spreadsheets", `{"properties":{"title":"New"},"sheets":[{"properties":{"title":"Data"}}]}`))
	id, _ := a.body["spreadsheetId"].(string)
	if id == "" {
		t.Fatalf("no id: %s", a.raw)
	}
	f.mustOK(f.call("POST", "/v4/spreadsheets/"+id+":batchUpdate", `{"requests":[{"addSheet":{"properties":{"title":"Two words"}}}]}`))
	if got := f.s.SheetTitles(id); fmt.Sprint(got) != "[Data Two words]" {
		t.Fatalf("titles %v", got)
	}
	if a := f.call("POST", "/v4/spreadsheets/"+id+":batchUpdate", `{"requests":[{"addSheet":{"properties":{"title":"Data"}}}]}`); a.status != 400 {
		t.Fatalf("duplicate title: %d", a.status)
	}
	if a := f.call("POST", "/v4/spreadsheets/"+id+":batchUpdate", `{"requests":[{"mergeCells":{}}]}`); a.status != 400 {
		t.Fatalf("unsupported request: %d", a.status)
	}
}

func TestInjectedErrorsUseGoogleShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code   string
		status string
	}{{"403", "PERMISSION_DENIED"}, {"429", "RESOURCE_EXHAUSTED"}, {"500", "INTERNAL"}, {"503", "UNAVAILABLE"}} {
		f := start(t, sheets.Options{Faults: sim.Faults{Errors: map[string]float64{tc.code: 1}}})
		a := f.call("GET", values("Leads"), "")
		if fmt.Sprint(a.status) != tc.code || a.errorStatus() != tc.status {
			t.Errorf("%s: %d %s", tc.code, a.status, a.raw)
		}
	}
	f := start(t, sheets.Options{Faults: sim.Faults{Errors: map[string]float64{"502": 1}}})
	if a := f.call("GET", values("Leads"), ""); a.status != 502 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		t.Fatalf("502: %d %s", a.status, a.header.Get("Content-Type"))
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	for _, sp := range []sheets.Spreadsheet{
		{},
		{ID: "x", Sheets: []sheets.Sheet{{Title: "a"}, {Title: "a"}}},
		{ID: "x", Sheets: []sheets.Sheet{{Title: ""}}},
		{ID: "x", Sheets: []sheets.Sheet{{Title: "a", Rows: [][]any{{[]any{1}}}}}},
	} {
		if _, err := sheets.New(sheets.Options{Spreadsheets: []sheets.Spreadsheet{sp}}); err == nil {
			t.Errorf("%+v accepted", sp)
		}
	}
}

// TestInjected429NamesTheQuotaOfTheRequest: a read refused with an injected
// 429 names the read quota, a write the write quota.
func TestInjected429NamesTheQuotaOfTheRequest(t *testing.T) {
	t.Parallel()
	f := start(t, sheets.Options{Faults: sim.Faults{Errors: map[string]float64{"429": 1}}})
	a := f.call("GET", values("Leads"), "")
	if a.status != 429 || !strings.Contains(a.errorMessage(), "'Read requests per minute per user'") || !strings.Contains(a.raw, `"quota_metric":"sheets.googleapis.com/read_requests"`) {
		t.Fatalf("read: %d %s", a.status, a.raw)
	}
	a = f.call("POST", values("Leads!A:C")+":append?valueInputOption=RAW", `{"values":[["x@x.io"]]}`)
	if a.status != 429 || !strings.Contains(a.errorMessage(), "'Write requests per minute per user'") {
		t.Fatalf("write: %d %s", a.status, a.raw)
	}
}
