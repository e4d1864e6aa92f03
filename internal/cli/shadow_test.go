package cli_test

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// candidate turns testConfig's text into a config that holds leads
// without a name, maps the crm payload to three fields and adds a route
// for big deals.
func candidate(t *testing.T, text string) string {
	t.Helper()
	out := strings.Replace(text, "    hold_ttl: 1h\n", "    hold_ttl: 1h\n    require: [name]\n", 1)
	out = strings.Replace(out, `      crm:
        destination: sink
  hooked:`, `      crm:
        destination: sink
        map:
          fields:
            email: {from: email}
            company: {from: company}
            name: {from: name}
            tier: {expr: 'source.amount != nil && source.amount > 1000 ? "big" : "small"'}
      big:
        destination: sink
        when: 'amount != nil && amount > 1000'
  hooked:`, 1)
	if out == text || !strings.Contains(out, "require: [name]") || !strings.Contains(out, "big:") {
		t.Fatal("candidate config: replacements did not apply")
	}
	p := filepath.Join(t.TempDir(), "candidate.yaml")
	if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func rowCounts(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var parts []string
	for _, table := range []string{"events", "deliveries", "audit_log", "escalations"} {
		var n string
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, table+"="+n)
	}
	return strings.Join(parts, " ")
}

// TestShadowRun judges stored events with a candidate config, through the
// admin API and straight from the store file opened read-only: the
// expected differences are printed, the exit code says whether anything
// would change, and the store is unchanged byte for byte.
func TestShadowRun(t *testing.T) {
	s := start(t)
	send := func(data string) string {
		r := s.run(t, "send", "--source", "forms", "--secret", testSecret, "--data", data)
		return eventID(t, r.out)
	}
	big := send(`{"contact":{"email":"big@example.com","name":"Bea"},"company":"Acme","amount":5000}`)
	noName := send(`{"contact":{"email":"anon@example.com"},"company":"Acme"}`)
	rejected := send(`{"contact":{"email":"not-an-email"},"company":"Acme"}`)
	s.waitState(t, big, "delivered")
	s.waitState(t, noName, "delivered")
	s.waitState(t, rejected, "rejected")
	cand := candidate(t, s.config)
	same := filepath.Join(t.TempDir(), "same.yaml")
	if err := os.WriteFile(same, []byte(s.config), 0o600); err != nil {
		t.Fatal(err)
	}
	expect := func(what, out string) {
		t.Helper()
		contains(t, what, out,
			big+" (forms): accepted, routes or fields change",
			"  routes added: big",
			"  route crm field amount: 5000 -> (absent)",
			`  route crm field tier: (absent) -> "big"`,
			noName+" (forms): accepted -> held",
			"  held, missing: name",
			"3 events judged by config ",
			"2 would change (now rejected 0, held 1, accepted 0; routes added 1, removed 0; fields differing 2)")
		if strings.Contains(out, rejected) {
			t.Errorf("%s: the rejected event is rejected by both configs, yet listed:\n%s", what, out)
		}
	}

	r := s.mustRun(t, 1, "check", "-c", cand, "--against", "10", "--server", s.url)
	expect("shadow run via the API", r.out)
	s.mustRun(t, 0, "check", "-c", same, "--against", "10", "--server", s.url)

	s.stop()
	sum, rows := fileSum(t, s.dbPath), rowCounts(t, s.dbPath)
	r = s.mustRun(t, 1, "check", "-c", cand, "--against", "10", "--store", s.dbPath)
	expect("shadow run on the store", r.out)
	t.Logf("sluice check --against 10 --store:\n%s", r.out)
	contains(t, "shadow run header", r.out, "shadow run over the last 3 events of "+s.dbPath+" (read-only; nothing is written or sent)")
	r = s.mustRun(t, 0, "check", "-c", same, "--against", "2", "--store", s.dbPath)
	contains(t, "unchanged config", r.out, "2 events judged by config "+s.version, ": 0 would change")
	if got := fileSum(t, s.dbPath); got != sum {
		t.Fatalf("the store file changed during the shadow runs")
	}
	if got := rowCounts(t, s.dbPath); got != rows {
		t.Fatalf("row counts changed: %s -> %s", rows, got)
	}

	// Usage and config errors exit 2.
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte(strings.Replace(s.config, "destination: sink", "destination: nowhere", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.mustRun(t, 2, "check", "-c", broken, "--against", "10", "--store", s.dbPath)
	s.mustRun(t, 2, "check", "-c", same, "--against", "10", "--store", filepath.Join(t.TempDir(), "missing.db"))
	s.mustRun(t, 2, "check", "-c", same, "--against", "10", "--store", s.dbPath, "--server", s.url)
}
