// Package simrun starts the platform simulators together, each on its own
// loopback listener, for `sluice sim`, the demo, the chaos test and the sync
// benchmarks. It fixes the credentials and IDs a config uses to talk to
// them, so a config written against `sluice sim` works unchanged.
package simrun

import (
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
	sheetssim "github.com/sluicehq/sluice/internal/sim/sheets"
	slacksim "github.com/sluicehq/sluice/internal/sim/slack"
)

// Credentials and IDs the simulators accept.
const (
	HubSpotToken  = "pat-sim-hubspot-00000000"
	AirtableToken = "patSimAirtable.0000000000"
	NotionToken   = "secret_simnotion000000000"
	SlackToken    = "xoxb-sim-slack-000000000"
	SheetsToken   = "ya29.sim-sheets-000000000"
	// SheetsID is the spreadsheet the simulator starts with; its "Leads" tab
	// has the header email, name, company, amount, phone.
	SheetsID     = "1SluiceSimLeadsSheet000000000000000000000000"
	AirtableBase = airtablesim.DefaultBaseID
	NotionDB     = notionsim.DefaultDatabaseID
	SlackChannel = slacksim.LeadsChannel
	// NotionMultiDB is a second Notion database, "People", holding two data
	// sources (Notion-Version 2025-09-03): NotionLeadsSource (Name, Email,
	// Amount, keyed by Email) and NotionPartnersSource (Name, Email, Tier).
	// Database-level calls on it fail, as on Notion.
	NotionMultiDB        = "5e1d0c2b-7a3f-4b8e-9c6d-2f1e0a9b8c7d"
	NotionLeadsSource    = "6f2e1d3c-8b4a-4c9f-8d7e-3a2b1c0d9e8f"
	NotionPartnersSource = "7a3f2e4d-9c5b-4dab-9e8f-4b3c2d1e0f9a"
)

// NotionDatabases are the Notion simulator's databases: the default
// single-source "Contacts" (NotionDB) and the two-source NotionMultiDB.
func NotionDatabases() []notionsim.Database {
	people := []notionsim.Property{{Name: "Name", Type: notionsim.TypeTitle}, {Name: "Email", Type: notionsim.TypeEmail}}
	return append(notionsim.DefaultDatabases(), notionsim.Database{
		ID: NotionMultiDB, Title: "People",
		DataSources: []notionsim.DataSource{
			{ID: NotionLeadsSource, Name: "Leads", KeyProperty: "Email",
				Properties: append(people, notionsim.Property{Name: "Amount", Type: notionsim.TypeNumber})},
			{ID: NotionPartnersSource, Name: "Partners",
				Properties: append(append([]notionsim.Property(nil), people...), notionsim.Property{Name: "Tier", Type: notionsim.TypeNumber})},
		},
	})
}

// Platforms lists the simulated platforms in start order.
var Platforms = []string{"hubspot", "airtable", "notion", "slack", "sheets"}

// Options configure a Set.
type Options struct {
	// Seed makes faults repeatable; 0 picks one.
	Seed uint64
	// Faults are injected into every simulator from the start.
	Faults sim.Faults
	// Unlimited lifts the platforms' rate limits (for tests that are not
	// about rate limits); by default every documented limit is enforced.
	Unlimited bool
	// Addrs fixes listen addresses by platform; default 127.0.0.1:0.
	Addrs map[string]string
	// SlackTokenTTL, when positive, turns on Slack token rotation: the
	// Slack simulator issues access tokens valid this long from
	// oauth.v2.access (refresh token SlackRefreshToken, single use), and
	// DestinationsYAML gives the Slack destination a slack_rotation
	// credential instead of a static token.
	SlackTokenTTL time.Duration
}

// Slack token rotation credentials of the simulator (Options.SlackTokenTTL).
const (
	SlackRefreshToken = "xoxe-1-sim-refresh-0000"
	SlackClientID     = "sim-client-1"
	SlackClientSecret = "sim-client-secret-1"
)

// Set is the running simulators.
type Set struct {
	HubSpot  *hubspotsim.Server
	Airtable *airtablesim.Server
	Notion   *notionsim.Server
	Slack    *slacksim.Server
	Sheets   *sheetssim.Server
	// URL is each platform's base URL.
	URL map[string]string
	// rotating: the Slack destination uses an expiring credential.
	rotating bool
	running  []*sim.Running
	bases    map[string]*sim.Base
}

// Start starts every simulator.
func Start(o Options) (*Set, error) {
	lim := 0
	if o.Unlimited {
		lim = -1
	}
	s := &Set{URL: map[string]string{}, bases: map[string]*sim.Base{}}
	var err error
	if s.HubSpot, err = hubspotsim.New(hubspotsim.Options{Seed: o.Seed, Faults: o.Faults, Tokens: []string{HubSpotToken}, RateLimit: lim, SearchRate: lim}); err != nil {
		return nil, err
	}
	if s.Airtable, err = airtablesim.New(airtablesim.Options{Seed: o.Seed + 1, Faults: o.Faults, Tokens: []string{AirtableToken}, RateLimit: lim, TokenRateLimit: lim}); err != nil {
		return nil, err
	}
	if s.Notion, err = notionsim.New(notionsim.Options{Seed: o.Seed + 2, Faults: o.Faults, Tokens: []string{NotionToken}, RateLimit: lim, Databases: NotionDatabases()}); err != nil {
		return nil, err
	}
	so := slacksim.Options{Seed: o.Seed + 3, Faults: o.Faults, Tokens: []string{SlackToken}, PostLimit: lim, UpdateLimit: lim, HistoryLimit: lim}
	if o.SlackTokenTTL > 0 {
		s.rotating = true
		so.OAuthRefreshTokens, so.OAuthClientID, so.OAuthClientSecret, so.OAuthTTL = []string{SlackRefreshToken}, SlackClientID, SlackClientSecret, o.SlackTokenTTL
	}
	if s.Slack, err = slacksim.New(so); err != nil {
		return nil, err
	}
	book := sheetssim.Spreadsheet{ID: SheetsID, Title: "Leads", Sheets: []sheetssim.Sheet{{Title: "Leads", Header: []string{"email", "name", "company", "amount", "phone"}}}}
	if s.Sheets, err = sheetssim.New(sheetssim.Options{Seed: o.Seed + 4, Faults: o.Faults, Tokens: []string{SheetsToken}, ReadsPerMinute: lim, WritesPerMinute: lim,
		ProjectReadsPerMinute: lim, ProjectWritesPerMinute: lim, Spreadsheets: []sheetssim.Spreadsheet{book}}); err != nil {
		return nil, err
	}
	s.bases = map[string]*sim.Base{"hubspot": s.HubSpot.Base, "airtable": s.Airtable.Base, "notion": s.Notion.Base, "slack": s.Slack.Base, "sheets": s.Sheets.Base}
	handlers := map[string]http.Handler{"hubspot": s.HubSpot, "airtable": s.Airtable, "notion": s.Notion, "slack": s.Slack, "sheets": s.Sheets}
	for _, p := range Platforms {
		addr := "127.0.0.1:0"
		if a := o.Addrs[p]; a != "" {
			addr = a
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("simulator %s: listen %s: %w", p, addr, err)
		}
		r := sim.Serve(ln, handlers[p])
		s.running = append(s.running, r)
		s.URL[p] = r.URL
	}
	return s, nil
}

// Close stops every simulator.
func (s *Set) Close() {
	for _, r := range s.running {
		r.Close()
	}
}

// SetFaults replaces the faults of every simulator.
func (s *Set) SetFaults(f sim.Faults) error {
	for _, p := range Platforms {
		if err := s.bases[p].SetFaults(f); err != nil {
			return err
		}
	}
	return nil
}

// Stats returns each simulator's statistics.
func (s *Set) Stats() map[string]sim.Stats {
	out := map[string]sim.Stats{}
	for _, p := range Platforms {
		out[p] = s.bases[p].Stats()
	}
	return out
}

// Keys returns the business keys stored on each platform, one entry per
// stored record, so a caller can count records and spot duplicates.
func (s *Set) Keys() map[string][]string {
	out := map[string][]string{}
	for _, r := range s.HubSpot.Records("contacts") {
		out["hubspot"] = append(out["hubspot"], r["email"])
	}
	for _, r := range s.Airtable.Records(AirtableBase, "Contacts") {
		out["airtable"] = append(out["airtable"], fmt.Sprint(r.Fields["Email"]))
	}
	for _, p := range s.Notion.Pages(NotionDB) {
		out["notion"] = append(out["notion"], fmt.Sprint(p.Properties["Email"]))
	}
	for _, m := range s.Slack.Messages(SlackChannel) {
		out["slack"] = append(out["slack"], m.RecordKey())
	}
	for _, r := range s.Sheets.Records(SheetsID, "Leads") {
		out["sheets"] = append(out["sheets"], fmt.Sprint(r.Values["email"]))
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// LeadFlowYAML is the config fragment (entities, flows and destinations)
// of a lead flow over all five simulated platforms: the CRM (HubSpot)
// first, then Airtable, Notion and Sheets after it, and Slack only for
// deals of at least slackMin. The payload is
// {"contact":{"email","name"},"company","amount"}.
func (s *Set) LeadFlowYAML(source string, slackMin int, fast bool, maxAttempts int) string {
	return fmt.Sprintf(`entities:
  lead:
    key: email
    schema:
      type: object
      required: [email, company]
      properties:
        email: {type: string, format: email}
        company: {type: string, minLength: 1}
        amount: {type: number, minimum: 0}
flows:
  leads:
    source: %s
    entity: lead
    normalize:
      fields:
        email: {from: contact.email, type: email}
        name: {from: contact.name, trim: true}
        company: {from: company, trim: true}
        amount: {from: amount, type: number}
    routes:
%s`, source, RoutesYAML("      ", slackMin)) + s.DestinationsYAML(fast, maxAttempts)
}

// RoutesYAML is the routes block of the lead flow (indented by indent):
// canonical fields email, name, company, amount.
func RoutesYAML(indent string, slackMin int) string {
	lines := fmt.Sprintf(`crm:
  destination: hubspot
  map: {fields: {email: {from: email}, firstname: {from: name}, company: {from: company}}}
table:
  destination: airtable
  after: [crm]
  map: {fields: {Email: {from: email}, Name: {from: name}, Company: {from: company}}}
wiki:
  destination: notion
  after: [crm]
  map: {fields: {Email: {from: email}, Name: {from: name}, Amount: {from: amount}}}
sheet:
  destination: sheets
  after: [crm]
  map: {fields: {email: {from: email}, name: {from: name}, company: {from: company}, amount: {from: amount}}}
alert:
  destination: slack
  after: [crm]
  when: 'amount != nil && amount >= %d'
`, slackMin)
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(lines, "\n"), "\n") {
		b.WriteString(indent + l + "\n")
	}
	return b.String()
}

// DestinationsYAML is the destinations block for the five simulators. fast
// lifts the connectors' own rate limits, for simulators started with
// Unlimited; otherwise each connector keeps to the documented limits.
func (s *Set) DestinationsYAML(fast bool, maxAttempts int) string {
	hubRate, atRate, notionRate, slackRate, sheetRate := "", "", "", "", ""
	if fast {
		hubRate, atRate, notionRate, slackRate, sheetRate = ", rate_per_10s: 100000", ", rate_per_second: 1000", ", rate_per_second: 1000",
			", rate_per_second: 1000", ", writes_per_minute: 1000000, reads_per_minute: 1000000"
	}
	// The simulators listen on loopback, which the egress guard refuses
	// unless the destination allows private networks.
	retry := fmt.Sprintf(`    allow_private_network: true
    max_attempts: %d
    retry_base: 20ms
    retry_max: 1s
    breaker: {failures: 5, open_for: 3s}
`, maxAttempts)
	return "destinations:\n" +
		fmt.Sprintf("  hubspot:\n    type: hubspot\n    options: {base_url: %q, token: %q, object: contacts, lookup_properties: [email, firstname, company], timeout: 2s%s}\n", s.URL["hubspot"], HubSpotToken, hubRate) + retry +
		fmt.Sprintf("  airtable:\n    type: airtable\n    options: {base_url: %q, token: %q, base_id: %q, table: Contacts, key_field: Email, timeout: 2s%s}\n", s.URL["airtable"], AirtableToken, AirtableBase, atRate) + retry +
		fmt.Sprintf("  notion:\n    type: notion\n    options: {base_url: %q, token: %q, database_id: %q, key_property: Email, timeout: 2s%s}\n", s.URL["notion"], NotionToken, NotionDB, notionRate) + retry +
		s.slackYAML(slackRate) + retry +
		fmt.Sprintf("  sheets:\n    type: sheets\n    options: {base_url: %q, token: %q, spreadsheet_id: %q, sheet: Leads, key_column: email, timeout: 2s%s}\n", s.URL["sheets"], SheetsToken, SheetsID, sheetRate) + retry
}

// slackYAML is the Slack destination: a static bot token, or with
// rotation a slack_rotation credential against the simulator.
func (s *Set) slackYAML(rate string) string {
	auth := fmt.Sprintf("token: %q, ", SlackToken)
	cred := ""
	if s.rotating {
		auth = ""
		cred = fmt.Sprintf("    credential: {kind: slack_rotation, token_url: %q, client_id: %q, client_secret: %q, refresh_token: %q}\n",
			s.URL["slack"]+"/api/oauth.v2.access", SlackClientID, SlackClientSecret, SlackRefreshToken)
	}
	return fmt.Sprintf("  slack:\n    type: slack\n%s    options: {base_url: %q, %schannel: %q, text: \"Big deal: {{.company}} ({{.email}}), {{.amount}}\", timeout: 2s%s}\n",
		cred, s.URL["slack"], auth, SlackChannel, rate)
}
