package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	sheetssim "github.com/sluicehq/sluice/internal/sim/sheets"
)

const (
	twoWayHubSpotToken  = "pat-na1-22222222-2222-3333-4444-555555555555"
	twoWayAirtableToken = "patSluiceDemoTwoWay.0123456789abcdef0123456789abcdef"
	twoWaySheetsToken   = "ya29.sluice-demo-two-way"
	twoWayAdminToken    = "demo-two-way-0123456789"
)

// twoWayConfig syncs HubSpot contacts and an Airtable table both ways and
// brings new rows of a Google Sheet into both, all polled.
const twoWayConfig = `
store: %[1]s
admin_tokens: [{name: demo, token: %[2]s, role: admin}]
sources:
  hubspot_contacts: {poll: {destination: crm, options: {properties: [firstname]}, interval: 1h}}
  airtable_contacts: {poll: {destination: table, options: {modified_field: Last modified}, interval: 1h}}
  sheet_rows: {poll: {destination: sheet, interval: 1h}}
entities:
  contact: {key: email, schema: {type: object, required: [email]}}
flows:
  crm_to_table:
    source: hubspot_contacts
    entity: contact
    normalize: {fields: {email: {from: fields.email, type: email}, name: {from: fields.firstname}}}
    routes: {table: {destination: table, map: {fields: {Email: {from: email}, Name: {from: name}}}}}
  table_to_crm:
    source: airtable_contacts
    entity: contact
    normalize: {fields: {email: {from: fields.Email, type: email}, name: {from: fields.Name}}}
    routes: {crm: {destination: crm, map: {fields: {email: {from: email}, firstname: {from: name}}}}}
  rows_to_crm:
    source: sheet_rows
    entity: contact
    normalize: {fields: {email: {from: fields.email, type: email}, name: {from: fields.name}}}
    # Both sides of the two-way pair: Sluice's own write into one of them
    # is an echo there and is not relayed on.
    routes:
      crm: {destination: crm, map: {fields: {email: {from: email}, firstname: {from: name}}}}
      table: {destination: table, map: {fields: {Email: {from: email}, Name: {from: name}}}}
destinations:
  crm:
    type: hubspot
    options: {base_url: "%[3]s", token: %[4]s, object: contacts}
    allow_private_network: true
    on_conflict: review
    retry_base: 10ms
    retry_max: 100ms
  table:
    type: airtable
    options: {base_url: "%[5]s", token: %[6]s, base_id: %[7]s, table: Contacts, key_field: Email, rate_per_second: 100}
    allow_private_network: true
    on_conflict: review
    retry_base: 10ms
    retry_max: 100ms
  sheet:
    type: sheets
    options: {base_url: "%[8]s", token: %[9]s, spreadsheet_id: book1, sheet: Leads, key_column: email}
    allow_private_network: true
delivery: {poll_interval: 20ms}
`

// twoWayRun is the two-way part of the demo: people create and edit
// contacts in HubSpot and Airtable and add rows to a sheet; Sluice polls
// all three until nothing new comes. It reports whether both sides match,
// every sheet row reached both and the number of captures (and so of
// writes) is exactly the number of real changes: no loop.
func twoWayRun(ctx context.Context, o Options) (bool, error) {
	hs, err := hubspotsim.New(hubspotsim.Options{Tokens: []string{twoWayHubSpotToken}, Seed: 7})
	if err != nil {
		return false, err
	}
	at, err := airtablesim.New(airtablesim.Options{Tokens: []string{twoWayAirtableToken}, Seed: 7, RateLimit: -1})
	if err != nil {
		return false, err
	}
	sh, err := sheetssim.New(sheetssim.Options{Tokens: []string{twoWaySheetsToken}, Seed: 7, ReadsPerMinute: -1, WritesPerMinute: -1,
		ProjectReadsPerMinute: -1, ProjectWritesPerMinute: -1,
		Spreadsheets: []sheetssim.Spreadsheet{{ID: "book1", Title: "Leads", Sheets: []sheetssim.Sheet{{Title: "Leads", Header: []string{"email", "name"}}}}}})
	if err != nil {
		return false, err
	}
	hsSrv, atSrv, shSrv := httptest.NewServer(hs), httptest.NewServer(at), httptest.NewServer(sh)
	defer hsSrv.Close()
	defer atSrv.Close()
	defer shSrv.Close()
	raw := fmt.Sprintf(twoWayConfig, filepath.Join(o.Dir, "sluice-demo-two-way.db"), twoWayAdminToken,
		hsSrv.URL, twoWayHubSpotToken, atSrv.URL, twoWayAirtableToken, airtablesim.DefaultBaseID, shSrv.URL, twoWaySheetsToken)
	c, err := config.Parse([]byte(raw), func(string) (string, bool) { return "", false })
	if err != nil {
		return false, err
	}
	if err := c.Validate(); err != nil {
		return false, err
	}
	srv, err := server.New(ctx, c, o.Log)
	if err != nil {
		return false, err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return false, err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, ln) }()
	defer func() { stop(); <-done }()
	admin := &client{base: "http://" + ln.Addr().String(), token: twoWayAdminToken, http: &http.Client{Timeout: 10 * time.Second}}

	call := func(method, url, token string, body any) (map[string]any, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			return nil, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, raw)
		}
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return out, nil
	}
	events := func() (int, error) {
		_, res, err := admin.admin("GET", "/v1/events?limit=1000", "")
		evs, _ := res["events"].([]any)
		return len(evs), err
	}
	idle := func() error {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			_, res, err := admin.admin("GET", "/v1/events?state=delivering&limit=1", "")
			if err != nil {
				return err
			}
			if evs, _ := res["events"].([]any); len(evs) == 0 {
				return nil
			}
		}
		return fmt.Errorf("two-way demo: deliveries did not finish")
	}
	// settle polls every source until a round captures nothing new.
	settle := func() error {
		before := -1
		for round := 1; round <= 10; round++ {
			for _, src := range []string{"sheet_rows", "hubspot_contacts", "airtable_contacts"} {
				if _, err := srv.PollNow(ctx, src); err != nil {
					return err
				}
			}
			if err := idle(); err != nil {
				return err
			}
			n, err := events()
			if err != nil {
				return err
			}
			if n == before {
				return nil
			}
			before = n
		}
		return fmt.Errorf("two-way demo: the sync did not converge in 10 rounds (a loop)")
	}

	hsBase := hsSrv.URL + "/crm/v3/objects/contacts"
	atBase := atSrv.URL + "/v0/" + airtablesim.DefaultBaseID + "/Contacts"
	changes := 0
	var hsIDs []string
	for i := range 5 {
		res, err := call("POST", hsBase, twoWayHubSpotToken, map[string]any{"properties": map[string]any{
			"email": fmt.Sprintf("hubspot%d@demo.example", i), "firstname": fmt.Sprintf("HubSpot %d", i)}})
		if err != nil {
			return false, err
		}
		hsIDs = append(hsIDs, fmt.Sprint(res["id"]))
		changes++
	}
	var atIDs []string
	for i := range 5 {
		res, err := call("POST", atBase, twoWayAirtableToken, map[string]any{"records": []any{map[string]any{
			"fields": map[string]any{"Email": fmt.Sprintf("airtable%d@demo.example", i), "Name": fmt.Sprintf("Airtable %d", i)}}}})
		if err != nil {
			return false, err
		}
		if recs, _ := res["records"].([]any); len(recs) == 1 {
			atIDs = append(atIDs, fmt.Sprint(recs[0].(map[string]any)["id"]))
		}
		changes++
	}
	rows := [][]any{{"email", "name"}, {"sheet0@demo.example", "Sheet 0"}, {"sheet1@demo.example", "Sheet 1"}, {"sheet2@demo.example", "Sheet 2"}}
	if _, err := call("PUT", shSrv.URL+"/v4/spreadsheets/book1/values/Leads!A1:B4?valueInputOption=RAW", twoWaySheetsToken, map[string]any{"values": rows}); err != nil {
		return false, err
	}
	changes += 3
	if err := settle(); err != nil {
		return false, err
	}
	// One edit on each side after the first sync.
	if _, err := call("PATCH", hsBase+"/"+hsIDs[0], twoWayHubSpotToken, map[string]any{"properties": map[string]any{"firstname": "Edited in HubSpot"}}); err != nil {
		return false, err
	}
	if len(atIDs) > 0 {
		if _, err := call("PATCH", atBase+"/"+atIDs[0], twoWayAirtableToken, map[string]any{"fields": map[string]any{"Name": "Edited in Airtable"}}); err != nil {
			return false, err
		}
	}
	changes += 2
	if err := settle(); err != nil {
		return false, err
	}

	hsNames := map[string]string{}
	for _, r := range hs.Records("contacts") {
		hsNames[r["email"]] = r["firstname"]
	}
	atNames := map[string]string{}
	for _, r := range at.Records(airtablesim.DefaultBaseID, "Contacts") {
		email, _ := r.Fields["Email"].(string)
		name, _ := r.Fields["Name"].(string)
		atNames[email] = name
	}
	ok := true
	mismatches := 0
	for email, name := range atNames {
		if hsNames[email] != name {
			mismatches++
		}
	}
	for email, name := range hsNames {
		if atNames[email] != name {
			mismatches++
		}
	}
	for _, r := range rows[1:] {
		if hsNames[r[0].(string)] != r[1].(string) {
			mismatches++
		}
	}
	captured, err := events()
	if err != nil {
		return false, err
	}
	dups := hs.Stats().DuplicatesByKey + at.Stats().DuplicatesByKey
	fmt.Fprintf(o.Out, "\nTwo-way sync (HubSpot contacts <-> Airtable table, Google Sheet rows -> both), polled:\n")
	fmt.Fprintf(o.Out, "  HubSpot %d contacts, Airtable %d records; %d differ between the sides\n", len(hsNames), len(atNames), mismatches)
	fmt.Fprintf(o.Out, "  %d real changes, %d captured (each one write to the other side, sheet rows to both; echoes of Sluice's own writes suppressed)\n", changes, captured)
	if mismatches > 0 || captured != changes || dups > 0 || len(atNames) != 13 || len(hsNames) != 13 {
		fmt.Fprintf(o.Out, "  FAILED: sides differ, a write looped or a record was duplicated (%d duplicates)\n", dups)
		ok = false
	}
	return ok, nil
}
