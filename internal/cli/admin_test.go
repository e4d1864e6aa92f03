package cli_test

import (
	"database/sql"
	"encoding/json"
	"strings"
	"testing"
)

func TestEventsShow(t *testing.T) {
	t.Parallel()
	s := start(t)
	r := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret,
		"--data", `{"contact":{"email":"show@example.com","name":"Sho"},"company":"Acme"}`)
	id := eventID(t, r.out)
	s.waitState(t, id, "delivered")

	r = s.mustRun(t, 0, "events", "show", id)
	contains(t, "events show", r.out,
		"Event:", id, "State:", "delivered", "forms (flow leads)", "Record key:", "show@example.com", "Config:", s.version,
		"Record\n", `"company": "Acme"`,
		"Deliveries\n", "ROUTE", "DESTINATION", "ATTEMPTS", "EXTERNAL ID", "crm", "sink", "succeeded", "ext-show@example.com",
		"Timeline\n", "TIME", "ACTOR", "ACTION", "OUTCOME", "STATUS", "MESSAGE", "captured", "delivered")

	r = s.mustRun(t, 0, "events", "list", "--state", "delivered", "--source", "forms")
	contains(t, "events list", r.out, "ID", "STATE", id, "show@example.com")

	r = s.mustRun(t, 0, "events", "list", "--json", "--limit", "1")
	var list struct {
		Events []struct{ ID string } `json:"events"`
	}
	if err := json.Unmarshal([]byte(r.out), &list); err != nil || len(list.Events) != 1 {
		t.Fatalf("events list --json: %v\n%s", err, r.out)
	}

	r = s.mustRun(t, 0, "stats")
	contains(t, "stats", r.out, "Events: 1", "delivered", "Deliveries: 1", "succeeded", "Store: ")
}

func TestHoldsPatchRelease(t *testing.T) {
	t.Parallel()
	s := start(t)
	r := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret,
		"--data", `{"contact":{"email":"hold@example.com"}}`)
	id := eventID(t, r.out)

	r = s.mustRun(t, 0, "holds", "list")
	contains(t, "holds list", r.out, id, "held", "company")

	r = s.mustRun(t, 1, "holds", "release", id)
	contains(t, "release error", r.err, "409 Conflict (incomplete)", "missing: company")
	if r.out != "" {
		t.Errorf("error printed to stdout: %q", r.out)
	}

	// A patch the schema or the flow would refuse is refused at once, not
	// accepted as "complete" to fail at release.
	r = s.mustRun(t, 1, "holds", "patch", id, "amount=-5")
	contains(t, "invalid patch", r.err, "422 Unprocessable Entity (invalid)", "amount: minimum")
	r = s.mustRun(t, 1, "holds", "patch", id, "compnay=Initech")
	contains(t, "unknown field", r.err, "422 Unprocessable Entity (invalid)", `compnay: not a field of flow leads's record`)
	r = s.mustRun(t, 0, "holds", "patch", id, "name=Ann")
	contains(t, "patch", r.out, "patched "+id, "name", "still missing: company")
	r = s.mustRun(t, 0, "holds", "patch", id, "--unset", "name")
	contains(t, "unset", r.out, "patched "+id, "name", "still missing: company")
	r = s.mustRun(t, 0, "holds", "patch", id, "company=Initech", "--set-json", `{"amount": 12}`)
	contains(t, "patch", r.out, "amount, company", "complete; release with: sluice holds release "+id)

	r = s.mustRun(t, 0, "holds", "show", id)
	contains(t, "holds show", r.out, `"company": "Initech"`, `"amount": 12`, "patched")
	if strings.Contains(r.out, `"name": "Ann"`) {
		t.Errorf("--unset name left the field:\n%s", r.out)
	}

	r = s.mustRun(t, 0, "holds", "release", id)
	contains(t, "release", r.out, "released "+id+": now delivering")
	s.waitState(t, id, "delivered")

	r = s.mustRun(t, 0, "events", "show", id)
	contains(t, "timeline", r.out, "admin:ops", "patched", "released")
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	s := start(t)

	r := s.mustRun(t, 1, "events", "show", "evt_nope")
	contains(t, "404", r.err, "404 Not Found (not_found)")

	r = s.mustRun(t, 1, "events", "show", "evt_nope", "--json")
	contains(t, "404 --json stdout", r.out, `"kind": "not_found"`)

	r = s.mustRun(t, 1, "events", "list", "--state", "bogus")
	contains(t, "400", r.err, "400 Bad Request (bad_param): state must be one of")

	r = s.mustRun(t, 1, "events", "list", "--token", "wrong-token-value")
	contains(t, "401", r.err, "401 Unauthorized (unauthorized): invalid token")

	r = s.runEnv(t, map[string]string{"SLUICE_SERVER": s.url}, "stats")
	if r.code != 1 {
		t.Fatalf("no token: exit %d", r.code)
	}
	contains(t, "401 without token", r.err, "missing bearer token", "set --token or SLUICE_TOKEN")

	r = s.mustRun(t, 1, "destinations", "pause", "sink", "--token", viewerToken)
	contains(t, "403", r.err, "403 Forbidden (forbidden)", "needs admin")

	r = s.runEnv(t, map[string]string{}, "--help")
	if r.code != 0 {
		t.Fatalf("help: %d %s", r.code, r.err)
	}

	r = s.runEnv(t, map[string]string{"SLUICE_SERVER": "127.0.0.1:1"}, "stats", "--token", adminToken)
	contains(t, "unreachable", r.err, "http://127.0.0.1:1/v1/stats", "--server")
}

func TestDestinationsAndEscalations(t *testing.T) {
	t.Parallel()
	s := start(t)
	r := s.mustRun(t, 0, "destinations", "pause", "sink", "--reason", "maintenance window")
	contains(t, "pause", r.out, "sink (http): paused - maintenance window")
	r = s.mustRun(t, 0, "destinations", "list")
	contains(t, "list", r.out, "NAME", "sink", "http", "paused", "maintenance window")
	r = s.mustRun(t, 0, "destinations", "resume", "sink")
	contains(t, "resume", r.out, "sink (http): active")
	r = s.mustRun(t, 1, "destinations", "pause", "nope")
	contains(t, "pause unknown", r.err, "404 Not Found (not_found)")

	r = s.mustRun(t, 0, "escalations", "list", "--status", "open")
	contains(t, "escalations", r.out, "no escalations")
	r = s.mustRun(t, 1, "escalations", "resolve", "esc_nope", "--note", "fixed by hand")
	contains(t, "resolve", r.err, "404 Not Found")

	r = s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret, "--data", `{"contact":{"email":"gone@example.com"}}`)
	id := eventID(t, r.out)
	r = s.mustRun(t, 0, "holds", "discard", id, "--reason", "test lead")
	contains(t, "discard", r.out, "event "+id+" is discarded")
	r = s.mustRun(t, 1, "events", "discard", id, "--reason", "again")
	contains(t, "discard twice", r.err, "409 Conflict (wrong_state)")
}

func TestAuditVerify(t *testing.T) {
	t.Parallel()
	s := start(t)
	for _, email := range []string{"a@example.com", "b@example.com"} {
		r := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret,
			"--data", `{"contact":{"email":"`+email+`"},"company":"Acme"}`)
		s.waitState(t, eventID(t, r.out), "delivered")
	}
	r := s.mustRun(t, 0, "audit", "verify")
	contains(t, "verify", r.out, "audit log ok: ", "entries checked")

	// Alter one row behind Sluice's back, as an intruder with file access
	// would; the CLI must report it and fail.
	db, err := sql.Open("sqlite", "file:"+s.dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_log SET message = 'nothing to see' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	r = s.mustRun(t, 1, "audit", "verify")
	contains(t, "verify", r.out, "audit log BROKEN at seq 3: content does not match its hash", "2 entries before it verified")
	r = s.mustRun(t, 1, "audit", "verify", "--json")
	if !strings.Contains(r.out, `"ok": false`) {
		t.Errorf("verify --json: %s", r.out)
	}
}
