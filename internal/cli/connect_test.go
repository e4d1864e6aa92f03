package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/sluicehq/sluice/internal/cli"
	"github.com/sluicehq/sluice/internal/simrun"
)

// TestCheckConnect: `sluice check --connect` tries every destination
// against the simulators and says per destination what it tried or why it
// failed: the five platforms with good credentials and a SQL table pass;
// a HubSpot token the platform refuses, and a HubSpot property that does
// not exist, fail with their reason; an HTTP destination with nothing to
// read is skipped; a missing SQL table and an Airtable key field the table
// lacks fail as schema mismatches. Any failure makes the exit code 1; the refused token
// is never printed.
func TestCheckConnect(t *testing.T) {
	set, err := simrun.Start(simrun.Options{Seed: 7, Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "dest.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE leads (email TEXT PRIMARY KEY, company TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	const badToken = "pat-na1-refused-0123456789"
	good := "store: " + filepath.Join(dir, "s.db") + "\nsources: {web: {allow_unsigned: true}}\n" + set.LeadFlowYAML("web", 0, true, 3) +
		fmt.Sprintf("  db:\n    type: sql\n    options: {driver: sqlite, dsn: %q, table: leads, key_column: email}\n", dbPath) +
		"  hook:\n    type: http\n    allow_private_network: true\n    options: {url: \"http://127.0.0.1:1/in\"}\n"
	bad := good +
		fmt.Sprintf("  badtable:\n    type: sql\n    options: {driver: sqlite, dsn: %q, table: no_such_table, key_column: email}\n", dbPath) +
		fmt.Sprintf("  badfield:\n    type: airtable\n    allow_private_network: true\n    options: {base_url: %q, token: %q, base_id: %q, table: Contacts, key_field: NoSuchField}\n", set.URL["airtable"], simrun.AirtableToken, simrun.AirtableBase) +
		fmt.Sprintf("  badtoken:\n    type: hubspot\n    allow_private_network: true\n    options: {base_url: %q, token: %q, object: contacts}\n", set.URL["hubspot"], badToken) +
		fmt.Sprintf("  badslack:\n    type: slack\n    allow_private_network: true\n    options: {base_url: %q, token: %q, channel: C0NOSUCHCH, text: hi}\n", set.URL["slack"], simrun.SlackToken) +
		fmt.Sprintf("  badslacktoken:\n    type: slack\n    allow_private_network: true\n    options: {base_url: %q, token: \"xoxb-refused-0123456789\", channel: %q, text: hi}\n", set.URL["slack"], simrun.SlackChannel) +
		fmt.Sprintf("  badprop:\n    type: hubspot\n    allow_private_network: true\n    options: {base_url: %q, token: %q, object: contacts, lookup_properties: [no_such_property]}\n", set.URL["hubspot"], simrun.HubSpotToken)

	run := func(text string) (int, string) {
		t.Helper()
		cfg := filepath.Join(dir, "sluice.yaml")
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		code := cli.Main(context.Background(), &cli.Env{Out: &out, Err: &errb, Getenv: func(string) string { return "" }}, []string{"check", "--connect", "-c", cfg})
		return code, out.String() + errb.String()
	}

	code, out := run(good)
	if code != 0 {
		t.Fatalf("good config: exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"destinations.hubspot (hubspot): ok: credentials and 3 properties of contacts",
		"destinations.airtable (airtable): ok: credentials and key field",
		"destinations.notion (notion): ok: credentials and key field",
		"destinations.slack (slack): ok: credentials (auth.test) and channel history",
		"destinations.sheets (sheets): ok: credentials and key field",
		"destinations.db (sql): ok: credentials and key field",
		"destinations.hook (http): skipped: cannot be tried without writing",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("good config: output lacks %q:\n%s", want, out)
		}
	}

	code, out = run(bad)
	if code != 1 {
		t.Fatalf("bad config: exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		"destinations.hubspot (hubspot): ok",
		"destinations.badtoken (hubspot): FAILED: credentials refused: auth (HTTP 401)",
		"destinations.badprop (hubspot): FAILED: schema mismatch: drift (HTTP 200): contacts has no property no_such_property",
		"destinations.badslack (slack): FAILED: schema mismatch: drift (HTTP 200): conversations.history: channel_not_found",
		"destinations.badslacktoken (slack): FAILED: credentials refused: auth (HTTP 200): auth.test: invalid_auth",
		"destinations.badtable (sql): FAILED: schema mismatch: drift: table \"no_such_table\" does not exist",
		"destinations.badfield (airtable): FAILED: schema mismatch: drift (HTTP 422): The formula for filtering records is invalid: Unknown field names: NoSuchField",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("bad config: output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, badToken) || strings.Contains(out, "xoxb-refused-0123456789") {
		t.Errorf("output shows the refused token:\n%s", out)
	}
}
