package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	sheetssim "github.com/sluicehq/sluice/internal/sim/sheets"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

const (
	twoWayHubSpotToken  = "pat-na1-22222222-2222-3333-4444-555555555555"
	twoWayAirtableToken = "patSluiceTwoWay001.0123456789abcdef0123456789abcdef"
)

// twoWayConfig syncs HubSpot contacts and an Airtable table both ways:
// each side is polled and written to the other. Without echo suppression
// every write would come back as a change and loop forever.
const twoWayConfig = `
listen: 127.0.0.1:0
store: %[1]s
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
sources:
  hubspot_contacts:
    poll: {destination: crm, options: {properties: [firstname]}, interval: 1h, overlap: 5s}
  airtable_contacts:
    poll: {destination: table, options: {modified_field: Last modified}, interval: 1h, overlap: 5s}
entities:
  contact:
    key: email
    schema: {type: object, required: [email]}
flows:
  crm_to_table:
    source: hubspot_contacts
    entity: contact
    normalize:
      fields:
        email: {from: fields.email, type: email}
        name: {from: fields.firstname}
    routes:
      table:
        destination: table
        map: {fields: {Email: {from: email}, Name: {from: name}}}
  table_to_crm:
    source: airtable_contacts
    entity: contact
    normalize:
      fields:
        email: {from: fields.Email, type: email}
        name: {from: fields.Name}
    routes:
      crm:
        destination: crm
        map: {fields: {email: {from: email}, firstname: {from: name}}}
destinations:
  crm:
    type: hubspot
    options: {base_url: "%[2]s", token: %[3]s, object: contacts, lookup_properties: [firstname]}
    allow_private_network: true
    on_conflict: review
    retry_base: 10ms
    retry_max: 50ms
  table:
    type: airtable
    options: {base_url: "%[4]s", token: %[5]s, base_id: %[6]s, table: Contacts, key_field: Email, rate_per_second: 100}
    allow_private_network: true
    on_conflict: review
    retry_base: 10ms
    retry_max: 50ms
delivery:
  lease: 5s
  poll_interval: 20ms
`

type twoWay struct {
	t       *testing.T
	srv     *server.Server
	hs      *hubspotsim.Server
	hsURL   string
	at      *airtablesim.Server
	atURL   string
	adminTo string
}

func startTwoWay(t *testing.T) *twoWay {
	t.Helper()
	return startTwoWayWith(t, twoWayConfig)
}

// startTwoWayWith starts the two-way harness on conf, a variant of
// twoWayConfig with the same placeholders.
func startTwoWayWith(t *testing.T, conf string) *twoWay {
	t.Helper()
	hs, err := hubspotsim.New(hubspotsim.Options{Tokens: []string{twoWayHubSpotToken}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	at, err := airtablesim.New(airtablesim.Options{Tokens: []string{twoWayAirtableToken}, Seed: 1, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return startTwoWayOn(t, conf, &twoWay{t: t, hs: hs, hsURL: simtest.Start(t, hs).URL, at: at, atURL: simtest.Start(t, at).URL})
}

// startTwoWayOn starts Sluice on conf against the simulators tw already
// holds (started, perhaps seeded with records).
func startTwoWayOn(t *testing.T, conf string, tw *twoWay) *twoWay {
	t.Helper()
	raw := fmt.Sprintf(conf, filepath.Join(t.TempDir(), "sluice.db"), tw.hsURL, twoWayHubSpotToken,
		tw.atURL, twoWayAirtableToken, airtablesim.DefaultBaseID)
	c := parseConfig(t, raw)
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	tw.srv = srv
	tw.adminTo = "http://" + ln.Addr().String()
	return tw
}

func (tw *twoWay) call(method, url, token string, body any) map[string]any {
	tw.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tw.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		tw.t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// settle polls both sides and waits for the deliveries it started, until a
// round captures nothing new: the sync has converged. It counts events
// rather than trusting one poll's result, because the background poller
// may capture a change first.
func (tw *twoWay) settle() (rounds int) {
	tw.t.Helper()
	before := tw.events()
	for rounds = 1; rounds <= 10; rounds++ {
		for _, src := range []string{"hubspot_contacts", "airtable_contacts"} {
			if _, err := tw.srv.PollNow(context.Background(), src); err != nil {
				tw.t.Fatal(err)
			}
		}
		tw.waitIdle()
		after := tw.events()
		if after == before && rounds >= 2 {
			return rounds
		}
		before = after
	}
	tw.t.Fatalf("two-way sync did not converge in 10 rounds: it loops")
	return 0
}

// waitIdle waits until no event is delivering.
func (tw *twoWay) waitIdle() {
	tw.t.Helper()
	tw.waitIdleFor(15 * time.Second)
}

// waitIdleFor is waitIdle with its own patience.
func (tw *twoWay) waitIdleFor(d time.Duration) {
	tw.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		res := tw.call("GET", tw.adminTo+"/v1/events?state=delivering&limit=1", "ops-token-0123456789", nil)
		if evs, _ := res["events"].([]any); len(evs) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	tw.t.Fatal("deliveries did not finish")
}

// dump logs every event and its timeline, to explain a failed count.
func (tw *twoWay) dump() {
	tw.t.Helper()
	res := tw.call("GET", tw.adminTo+"/v1/events?limit=1000", "ops-token-0123456789", nil)
	for _, e := range res["events"].([]any) {
		ev := e.(map[string]any)
		det := tw.call("GET", tw.adminTo+"/v1/events/"+ev["id"].(string), "ops-token-0123456789", nil)
		tw.t.Logf("%v %v %v %v", ev["source"], ev["state"], ev["record_key"], det["timeline"])
	}
}

// events counts every event Sluice captured, paging through the list
// (newest first, 1,000 at a time).
func (tw *twoWay) events() int {
	tw.t.Helper()
	n, before := 0, ""
	for {
		res := tw.call("GET", tw.adminTo+"/v1/events?limit=1000&before="+before, "ops-token-0123456789", nil)
		evs, _ := res["events"].([]any)
		n += len(evs)
		if len(evs) < 1000 {
			return n
		}
		before, _ = evs[len(evs)-1].(map[string]any)["id"].(string)
	}
}

func (tw *twoWay) hubspotNames() map[string]string {
	out := map[string]string{}
	for _, r := range tw.hs.Records("contacts") {
		out[r["email"]] = r["firstname"]
	}
	return out
}

func (tw *twoWay) airtableNames() map[string]string {
	out := map[string]string{}
	for _, r := range tw.at.Records(airtablesim.DefaultBaseID, "Contacts") {
		email, _ := r.Fields["Email"].(string)
		name, _ := r.Fields["Name"].(string)
		out[email] = name
	}
	return out
}

func TestTwoWaySyncHubSpotAirtableConvergesWithoutLoops(t *testing.T) {
	tw := startTwoWay(t)
	hsBase := tw.hsURL + "/crm/v3/objects/contacts"
	atBase := tw.atURL + "/v0/" + airtablesim.DefaultBaseID + "/Contacts"

	// People create records on both sides.
	for i := range 5 {
		tw.call("POST", hsBase, twoWayHubSpotToken, map[string]any{"properties": map[string]any{
			"email": fmt.Sprintf("hs%d@x.co", i), "firstname": fmt.Sprintf("HS%d", i)}})
	}
	for i := range 5 {
		tw.call("POST", atBase, twoWayAirtableToken, map[string]any{"records": []any{map[string]any{
			"fields": map[string]any{"Email": fmt.Sprintf("at%d@x.co", i), "Name": fmt.Sprintf("AT%d", i)}}}})
	}
	tw.settle()
	hsNames, atNames := tw.hubspotNames(), tw.airtableNames()
	if len(hsNames) != 10 || len(atNames) != 10 {
		t.Fatalf("after the first sync: hubspot %v, airtable %v", hsNames, atNames)
	}
	for email, name := range hsNames {
		if atNames[email] != name {
			t.Fatalf("%s: hubspot %q, airtable %q", email, name, atNames[email])
		}
	}
	// Every captured event is one write to the other side: 10 records, 10
	// writes; their echoes are not captured.
	if n := tw.events(); n != 10 {
		res := tw.call("GET", tw.adminTo+"/v1/events?limit=1000", "ops-token-0123456789", nil)
		for _, e := range res["events"].([]any) {
			ev := e.(map[string]any)
			det := tw.call("GET", tw.adminTo+"/v1/events/"+ev["id"].(string), "ops-token-0123456789", nil)
			t.Logf("%v %v %v", ev["source"], ev["record_key"], det["timeline"])
		}
		t.Fatalf("events after the first sync = %d, want 10 (echoes captured?)", n)
	}

	// An edit on one side reaches the other, once.
	var recID string
	for _, r := range tw.at.Records(airtablesim.DefaultBaseID, "Contacts") {
		if r.Fields["Email"] == "hs1@x.co" {
			recID = r.ID
		}
	}
	tw.call("PATCH", atBase+"/"+recID, twoWayAirtableToken, map[string]any{"fields": map[string]any{"Name": "Edited in Airtable"}})
	tw.settle()
	if got := tw.hubspotNames()["hs1@x.co"]; got != "Edited in Airtable" {
		t.Fatalf("hubspot name = %q after the Airtable edit", got)
	}
	if n := tw.events(); n != 11 {
		t.Fatalf("events after one edit = %d, want 11", n)
	}
	// Quiet: further polls capture and write nothing.
	tw.settle()
	if n := tw.events(); n != 11 {
		t.Fatalf("idle sync captured %d more events: a loop", n-11)
	}
	if tw.hs.Stats().DuplicatesByKey+tw.at.Stats().DuplicatesByKey != 0 {
		t.Fatal("a platform holds duplicate records")
	}
	if res := tw.call("GET", tw.adminTo+"/v1/audit/verify", "ops-token-0123456789", nil); res["ok"] == false || strings.Contains(fmt.Sprint(res["gaps"]), "event") {
		t.Fatalf("audit verify: %v", res)
	}
}

// TestExampleTwoWayConfigChecks keeps examples/two-way.yaml valid.
func TestExampleTwoWayConfigChecks(t *testing.T) {
	raw, err := os.ReadFile("../../examples/two-way.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLUICE_ADMIN_TOKEN": "ops-token-0123456789", "CRM_TOKEN": twoWayHubSpotToken, "AIRTABLE_TOKEN": twoWayAirtableToken}
	c, err := config.Parse(raw, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := server.Check(c); err != nil {
		t.Fatal(err)
	}
}

// TestTwoWayConflictWhenBothSidesChanged edits one record on both sides
// between polls: neither side is overwritten; each direction opens a
// conflict review showing both versions.
func TestTwoWayConflictWhenBothSidesChanged(t *testing.T) {
	t.Run("lookup_properties set", func(t *testing.T) { testTwoWayConflict(t, twoWayConfig) })
	// HubSpot returns only the properties a read asks for; the conflict
	// check asks for those Sluice writes, so it needs no lookup_properties
	// (without that it compared against nothing and overwrote).
	noLookup := strings.Replace(twoWayConfig, ", lookup_properties: [firstname]", "", 1)
	if noLookup == twoWayConfig {
		t.Fatal("the config variant did not drop lookup_properties")
	}
	t.Run("without lookup_properties", func(t *testing.T) { testTwoWayConflict(t, noLookup) })
}

func testTwoWayConflict(t *testing.T, conf string) {
	tw := startTwoWayWith(t, conf)
	hsBase := tw.hsURL + "/crm/v3/objects/contacts"
	atBase := tw.atURL + "/v0/" + airtablesim.DefaultBaseID + "/Contacts"
	created := tw.call("POST", hsBase, twoWayHubSpotToken, map[string]any{"properties": map[string]any{"email": "both@x.co", "firstname": "Both"}})
	tw.settle()
	var recID string
	for _, r := range tw.at.Records(airtablesim.DefaultBaseID, "Contacts") {
		if r.Fields["Email"] == "both@x.co" {
			recID = r.ID
		}
	}
	if recID == "" {
		t.Fatal("record did not reach Airtable")
	}
	tw.call("PATCH", hsBase+"/"+fmt.Sprint(created["id"]), twoWayHubSpotToken, map[string]any{"properties": map[string]any{"firstname": "From HubSpot"}})
	tw.call("PATCH", atBase+"/"+recID, twoWayAirtableToken, map[string]any{"fields": map[string]any{"Name": "From Airtable"}})
	for _, src := range []string{"hubspot_contacts", "airtable_contacts"} {
		if _, err := tw.srv.PollNow(context.Background(), src); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	var escs []any
	for time.Now().Before(deadline) {
		// Poll again: a change to a record Sluice is writing to that side
		// at the moment waits for the next poll.
		for _, src := range []string{"hubspot_contacts", "airtable_contacts"} {
			if _, err := tw.srv.PollNow(context.Background(), src); err != nil {
				t.Fatal(err)
			}
		}
		res := tw.call("GET", tw.adminTo+"/v1/escalations?status=open", "ops-token-0123456789", nil)
		escs, _ = res["escalations"].([]any)
		if len(escs) >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(escs) != 2 {
		t.Fatalf("open escalations = %v, want one conflict per direction", escs)
	}
	for _, e := range escs {
		if k := e.(map[string]any)["kind"]; k != "conflict_review" {
			t.Fatalf("escalation kind = %v, want conflict_review", k)
		}
	}
	if got := tw.hubspotNames()["both@x.co"]; got != "From HubSpot" {
		t.Fatalf("HubSpot overwritten: %q", got)
	}
	if got := tw.airtableNames()["both@x.co"]; got != "From Airtable" {
		t.Fatalf("Airtable overwritten: %q", got)
	}
}

// BenchmarkPollChangeToDelivery measures, with the poll loop running at a
// 5 s interval, how long a contact created in HubSpot takes to appear in
// Airtable (p50/p99 over 20 changes made at random moments), and what the
// two poll sources cost in requests per minute while nothing changes.
// Run with -benchtime=1x; it takes about a minute.
func BenchmarkPollChangeToDelivery(b *testing.B) {
	if testing.Short() {
		b.Skip("runs for a minute")
	}
	for range b.N {
		runPollLatency(b)
	}
}

func runPollLatency(b *testing.B) {
	hs, err := hubspotsim.New(hubspotsim.Options{Tokens: []string{twoWayHubSpotToken}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	at, err := airtablesim.New(airtablesim.Options{Tokens: []string{twoWayAirtableToken}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	hsURL, atURL := simtest.Start(b, hs).URL, simtest.Start(b, at).URL
	raw := fmt.Sprintf(strings.ReplaceAll(twoWayConfig, "interval: 1h", "interval: 5s"), filepath.Join(b.TempDir(), "sluice.db"),
		hsURL, twoWayHubSpotToken, atURL, twoWayAirtableToken, airtablesim.DefaultBaseID)
	c, err := config.Parse([]byte(raw), os.LookupEnv)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() { cancel(); <-done; srv.Close() }()

	// Idle cost first: 30 s with nothing changing.
	time.Sleep(time.Second)
	r0 := hs.Stats().Requests + at.Stats().Requests
	time.Sleep(30 * time.Second)
	idlePerMin := float64(hs.Stats().Requests+at.Stats().Requests-r0) * 2

	const n = 20
	created := map[string]time.Time{}
	arrived := map[string]time.Time{}
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		for i := range n {
			email := fmt.Sprintf("lat%d@x.co", i)
			body := fmt.Sprintf(`{"properties":{"email":%q,"firstname":"L%d"}}`, email, i)
			req, _ := http.NewRequest("POST", hsURL+"/crm/v3/objects/contacts", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+twoWayHubSpotToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			time.Sleep(time.Duration(300+i*97%700) * time.Millisecond)
		}
	}()
	b.ResetTimer()
	deadline := time.Now().Add(60 * time.Second)
	for len(arrived) < n && time.Now().Before(deadline) {
		now := time.Now()
		for _, r := range hs.Records("contacts") {
			if _, ok := created[r["email"]]; !ok {
				created[r["email"]] = now
			}
		}
		for _, r := range at.Records(airtablesim.DefaultBaseID, "Contacts") {
			email, _ := r.Fields["Email"].(string)
			if _, ok := arrived[email]; !ok && email != "" {
				arrived[email] = now
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	if len(arrived) < n {
		b.Fatalf("only %d of %d changes arrived", len(arrived), n)
	}
	var lat []float64
	for email, a := range arrived {
		lat = append(lat, float64(a.Sub(created[email]).Milliseconds()))
	}
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2], "p50_ms")
	b.ReportMetric(lat[len(lat)*99/100], "p99_ms")
	b.ReportMetric(idlePerMin, "idle_requests/min")
}

// TestSheetRowsIntoHubSpot polls a Google Sheet and writes new and changed
// rows to HubSpot: each row once, a changed row again, an unchanged sheet
// nothing.
func TestSheetRowsIntoHubSpot(t *testing.T) {
	const sheetsToken = "ya29.sluice-two-way-test-token"
	hs, err := hubspotsim.New(hubspotsim.Options{Tokens: []string{twoWayHubSpotToken}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := sheetssim.New(sheetssim.Options{Tokens: []string{sheetsToken}, Seed: 1, ReadsPerMinute: -1, WritesPerMinute: -1,
		ProjectReadsPerMinute: -1, ProjectWritesPerMinute: -1,
		Spreadsheets: []sheetssim.Spreadsheet{{ID: "book1", Title: "Leads", Sheets: []sheetssim.Sheet{{Title: "Leads", Header: []string{"email", "name"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	hsURL, shURL := simtest.Start(t, hs).URL, simtest.Start(t, sh).URL
	raw := fmt.Sprintf(`
store: %s
admin_tokens: [{name: ops, token: ops-token-0123456789, role: admin}]
sources:
  sheet_rows:
    poll: {destination: sheet, interval: 1h}
entities:
  contact: {key: email, schema: {type: object, required: [email]}}
flows:
  rows_to_crm:
    source: sheet_rows
    entity: contact
    normalize:
      fields:
        email: {from: fields.email, type: email}
        name: {from: fields.name}
    routes:
      crm:
        destination: crm
        map: {fields: {email: {from: email}, firstname: {from: name}}}
destinations:
  crm:
    type: hubspot
    options: {base_url: "%s", token: %s, object: contacts}
    allow_private_network: true
  sheet:
    type: sheets
    options: {base_url: "%s", token: %s, spreadsheet_id: book1, sheet: Leads, key_column: email}
    allow_private_network: true
`, filepath.Join(t.TempDir(), "sluice.db"), hsURL, twoWayHubSpotToken, shURL, sheetsToken)
	c := parseConfig(t, raw)
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })

	put := func(rng string, rows [][]any) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"values": rows})
		req, _ := http.NewRequest("PUT", shURL+"/v4/spreadsheets/book1/values/"+rng+"?valueInputOption=RAW", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+sheetsToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("PUT %s: %d %s", rng, resp.StatusCode, body)
		}
	}
	// poll runs a poll and returns the events captured so far (the
	// background poller may have taken some of them first).
	poll := func() int {
		t.Helper()
		if _, err := srv.PollNow(context.Background(), "sheet_rows"); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/v1/events?source=sheet_rows&limit=100", nil)
		req.Header.Set("Authorization", "Bearer ops-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res struct {
			Events []any `json:"events"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
		return len(res.Events)
	}
	waitNames := func(want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := map[string]string{}
			for _, r := range hs.Records("contacts") {
				got[r["email"]] = r["firstname"]
			}
			if fmt.Sprint(got) == fmt.Sprint(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("hubspot = %v, want %v", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	put("Leads!A2:B4", [][]any{{"a@x.co", "Ann"}, {"b@x.co", "Bob"}, {"", "no key"}})
	if n := poll(); n != 2 {
		t.Fatalf("first poll: %d events, want 2 (a row without a key is skipped)", n)
	}
	waitNames(map[string]string{"a@x.co": "Ann", "b@x.co": "Bob"})
	if n := poll(); n != 2 {
		t.Fatalf("unchanged sheet: %d events, want still 2", n)
	}
	put("Leads!B3", [][]any{{"Robert"}})
	put("Leads!A5:B5", [][]any{{"c@x.co", "Cy"}})
	if n := poll(); n != 4 {
		t.Fatalf("after one change and one new row: %d events, want 4", n)
	}
	waitNames(map[string]string{"a@x.co": "Ann", "b@x.co": "Robert", "c@x.co": "Cy"})
}
