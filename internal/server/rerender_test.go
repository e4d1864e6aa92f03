package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

// rerenderConfig routes leads to the HubSpot simulator; %[4]s is the name
// the route map gives the phone number (HubSpot has "phone", not
// "mobile_phone").
const rerenderConfig = `
store: %[1]q
admin_tokens: [{name: ops, token: ops-token-0123456789, role: admin}]
sources: {forms: {allow_unsigned: true}}
entities:
  lead: {key: email}
flows:
  leads:
    source: forms
    entity: lead
    normalize:
      fields:
        email: {from: email, type: email}
        firstname: {from: first}
        phone: {from: phone}
    routes:
      crm:
        destination: hubspot
        map:
          fields:
            email: {from: email}
            firstname: {from: firstname}
            %[4]s: {from: phone}
destinations:
  hubspot:
    type: hubspot
    allow_private_network: true
    options: {base_url: %[2]q, token: %[3]q, object: contacts, lookup_properties: [email, firstname, phone]}
    retry_base: 10ms
    retry_max: 50ms
delivery: {poll_interval: 10ms}
`

type rerenderHarness struct {
	h     *harness
	hs    *hubspotsim.Server
	srv   *server.Server
	write func(phoneProp string)
}

// startRerender starts a server on rerenderConfig with the route map
// sending "mobile_phone", which the HubSpot simulator refuses; write
// rewrites the config file (POST /v1/config/reload reads it).
func startRerender(t *testing.T) *rerenderHarness {
	t.Helper()
	hs, err := hubspotsim.New(hubspotsim.Options{Seed: 14, Tokens: []string{hsToken}, RateLimit: -1, SearchRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	hsURL := simtest.Start(t, hs).URL
	dir := t.TempDir()
	path, db := filepath.Join(dir, "sluice.yaml"), filepath.Join(dir, "sluice.db")
	write := func(phoneProp string) {
		if err := os.WriteFile(path, []byte(fmt.Sprintf(rerenderConfig, db, hsURL, hsToken, phoneProp)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("mobile_phone")
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Load = func() (*config.Config, error) { return config.Load(path) }
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return &rerenderHarness{h: &harness{t: t, url: "http://" + ln.Addr().String()}, hs: hs, srv: srv, write: write}
}

func (rh *rerenderHarness) capture(body string) string {
	rh.h.t.Helper()
	req, _ := http.NewRequest("POST", rh.h.url+"/v1/sources/forms/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	code, res := rh.h.do(req)
	if code != 202 {
		rh.h.t.Fatalf("capture: %d %v", code, res)
	}
	return res["event_id"].(string)
}

// TestRerenderAfterMappingFix is issue 14's story: a route map sends a
// field the HubSpot simulator does not have; those records are refused and
// parked (escalated as drift) while records without the field keep landing
// (the destination is not paused); the operator fixes the map with a live
// reload, a dry-run re-render shows old and new payloads and changes
// nothing, the real one re-drives them, and every record is in HubSpot
// exactly once.
func TestRerenderAfterMappingFix(t *testing.T) {
	rh := startRerender(t)
	h, hs, srv, write := rh.h, rh.hs, rh.srv, rh.write
	oldVersion := srv.Version()
	capture := rh.capture
	// Refused records first, so good ones arrive behind them.
	const bad, good = 6, 6
	var badIDs, goodIDs []string
	for i := 0; i < bad; i++ {
		badIDs = append(badIDs, capture(fmt.Sprintf(`{"email":"bad%d@example.com","first":"B%d","phone":"+4930123%04d"}`, i, i, i)))
	}
	for i := 0; i < good; i++ {
		goodIDs = append(goodIDs, capture(fmt.Sprintf(`{"email":"good%d@example.com","first":"G%d"}`, i, i)))
	}
	for _, id := range badIDs {
		det := h.waitState(id, "escalated")
		esc := det["escalations"].([]any)[0].(map[string]any)
		if esc["kind"] != "drift_error" || !strings.Contains(fmt.Sprint(esc["last_error"]), "mobile_phone") {
			t.Fatalf("refused record's escalation: %v", esc)
		}
	}
	// The good records were not held up behind the refused ones.
	for _, id := range goodIDs {
		h.waitState(id, "delivered")
	}
	if _, out := h.admin("GET", "/v1/destinations", ""); strings.Contains(fmt.Sprint(out), "paused:true") {
		t.Fatalf("destination paused for a data error: %v", out)
	}
	if n := len(hs.Records("contacts")); n != good {
		t.Fatalf("%d contacts in HubSpot before the fix, want %d", n, good)
	}

	// The operator fixes the map and reloads.
	write("phone")
	if code, out := h.admin("POST", "/v1/config/reload", ""); code != 200 {
		t.Fatalf("reload: %d %v", code, out)
	}
	newVersion := srv.Version()
	if newVersion == oldVersion {
		t.Fatal("reload did not change the config version")
	}

	// Dry run: old and new payloads, nothing changes.
	code, dry := h.admin("POST", "/v1/replay", `{"stage":"deliver","rerender":true,"dry_run":true}`)
	if code != 200 || dry["replayed"] != float64(bad) || dry["config_version"] != newVersion {
		t.Fatalf("dry run: %d %v", code, dry)
	}
	for _, it := range dry["items"].([]any) {
		item := it.(map[string]any)
		if item["outcome"] != "would_replay" {
			t.Fatalf("dry run item: %v", item)
		}
		pl := item["payloads"].([]any)[0].(map[string]any)
		old, fresh := fmt.Sprint(pl["old"]), fmt.Sprint(pl["new"])
		if !strings.Contains(old, "mobile_phone") || strings.Contains(fresh, "mobile_phone") || !strings.Contains(fresh, "phone:+4930123") || pl["changed"] != true {
			t.Fatalf("dry run payloads: old %s new %s", old, fresh)
		}
	}
	for _, id := range badIDs {
		h.waitState(id, "escalated")
	}
	if n := len(hs.Records("contacts")); n != good {
		t.Fatalf("dry run sent something: %d contacts", n)
	}

	// Apply.
	code, res := h.admin("POST", "/v1/replay", `{"stage":"deliver","rerender":true}`)
	if code != 200 || res["replayed"] != float64(bad) {
		t.Fatalf("rerender: %d %v", code, res)
	}
	for _, id := range badIDs {
		det := h.waitState(id, "delivered")
		for _, e := range det["escalations"].([]any) {
			if e.(map[string]any)["status"] != "resolved" {
				t.Fatalf("escalation left open after the record landed: %v", e)
			}
		}
		var rerendered string
		for _, a := range det["timeline"].([]any) {
			if e := a.(map[string]any); e["action"] == "rerendered" {
				rerendered = fmt.Sprint(e["message"])
			}
		}
		if !strings.Contains(rerendered, newVersion[:12]) || !strings.Contains(rerendered, oldVersion[:12]) {
			t.Fatalf("audit of the re-render does not name both config versions: %q", rerendered)
		}
	}
	// Nothing is left to re-render, and a second apply changes nothing.
	if _, again := h.admin("POST", "/v1/replay", `{"stage":"deliver","rerender":true}`); again["replayed"] != float64(0) {
		t.Fatalf("second rerender: %v", again)
	}
	// Exactly once by effect: every record once, with the phone where it was sent.
	seen := map[string]int{}
	for _, r := range hs.Records("contacts") {
		seen[r["email"]]++
		if strings.HasPrefix(r["email"], "bad") && !strings.HasPrefix(r["phone"], "+4930123") {
			t.Errorf("%s landed without its phone: %v", r["email"], r)
		}
	}
	if len(seen) != bad+good {
		t.Fatalf("%d distinct contacts, want %d: %v", len(seen), bad+good, seen)
	}
	for email, n := range seen {
		if n != 1 {
			t.Errorf("%s is in HubSpot %d times", email, n)
		}
	}
	if _, v := h.admin("GET", "/v1/audit/verify", ""); v["ok"] != true {
		t.Fatalf("audit verify: %v", v)
	}
}

// TestSixtyIdenticalFailuresAreOneGroup: sixty records refused the same
// way (same destination, kind, status and platform code) are one failure
// group with a count, first and last seen and samples; the escalation list
// shows and filters by destination and group; a dry run of the group
// action counts sixty and changes nothing; after the map is fixed, one
// group action re-renders and retries all sixty, which land once each.
func TestSixtyIdenticalFailuresAreOneGroup(t *testing.T) {
	rh := startRerender(t)
	h, hs := rh.h, rh.hs
	const n = 60
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, rh.capture(fmt.Sprintf(`{"email":"g%d@example.com","first":"G","phone":"+4930555%04d"}`, i, i)))
	}
	for _, id := range ids {
		h.waitState(id, "escalated")
	}
	_, out := h.admin("GET", "/v1/escalation-groups", "")
	groups := out["groups"].([]any)
	if len(groups) != 1 {
		t.Fatalf("%d groups, want 1: %v", len(groups), out)
	}
	g := groups[0].(map[string]any)
	gid := g["id"].(string)
	if g["count"] != float64(n) || g["destination"] != "hubspot" || g["kind"] != "drift_error" || g["code"] != "PROPERTY_DOESNT_EXIST" ||
		len(g["samples"].([]any)) != 5 || !strings.Contains(fmt.Sprint(g["error"]), "mobile_phone") || g["first_seen"] == nil || g["last_seen"] == nil {
		t.Fatalf("group: %v", g)
	}
	path := "/v1/escalation-groups/" + url.PathEscape(gid)
	if code, one := h.admin("GET", path, ""); code != 200 || one["group"].(map[string]any)["count"] != float64(n) {
		t.Fatalf("group by id: %d %v", code, one)
	}
	_, list := h.admin("GET", "/v1/escalations?limit=1000&destination=hubspot&group="+url.QueryEscape(gid), "")
	escs := list["escalations"].([]any)
	if len(escs) != n || escs[0].(map[string]any)["destination"] != "hubspot" || escs[0].(map[string]any)["group"] != gid {
		t.Fatalf("escalations of the group: %d %v", len(escs), escs[0])
	}
	if code, bad := h.admin("GET", "/v1/escalations?destination=nope", ""); code != 400 {
		t.Fatalf("unknown destination filter: %d %v", code, bad)
	}
	_, show := h.admin("GET", "/v1/escalations/"+escs[0].(map[string]any)["id"].(string), "")
	if !strings.Contains(fmt.Sprint(show["escalation"].(map[string]any)["payload"]), "mobile_phone") {
		t.Fatalf("escalation show without the payload: %v", show)
	}

	code, dry := h.admin("POST", path+"/rerender", `{"dry_run":true}`)
	if code != 200 || dry["matched"] != float64(n) || dry["affected"] != float64(n) {
		t.Fatalf("dry run: %d %v", code, dry)
	}
	if len(hs.Records("contacts")) != 0 {
		t.Fatal("dry run sent records")
	}
	rh.write("phone")
	if code, out := h.admin("POST", "/v1/config/reload", ""); code != 200 {
		t.Fatalf("reload: %d %v", code, out)
	}
	code, res := h.admin("POST", path+"/rerender", "")
	if code != 200 || res["affected"] != float64(n) || res["failed"] != float64(0) {
		t.Fatalf("group rerender: %d %v", code, res)
	}
	for _, id := range ids {
		h.waitState(id, "delivered")
	}
	seen := map[string]int{}
	for _, r := range hs.Records("contacts") {
		seen[r["email"]]++
	}
	if len(seen) != n {
		t.Fatalf("%d contacts, want %d", len(seen), n)
	}
	for e, c := range seen {
		if c != 1 {
			t.Fatalf("%s is in HubSpot %d times", e, c)
		}
	}
	if _, out := h.admin("GET", "/v1/escalation-groups", ""); len(out["groups"].([]any)) != 0 {
		t.Fatalf("open groups after the fix: %v", out)
	}
	if _, out := h.admin("GET", "/v1/escalation-groups?status=resolved", ""); len(out["groups"].([]any)) != 1 || out["groups"].([]any)[0].(map[string]any)["count"] != float64(n) {
		t.Fatalf("resolved groups: %v", out)
	}
}
