package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/store"
)

var versionRE = regexp.MustCompile(`name="version" value="([^"]+)"`)

func version(t *testing.T, body string) string {
	t.Helper()
	m := versionRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no version in page:\n%s", body)
	}
	return m[1]
}

func heldLead(e *env, email string) string {
	e.t.Helper()
	res := e.capture(map[string]any{"email": email, "name": "Ada", "phone": "+1 555 0100"})
	if res.State != store.EventHeld {
		e.t.Fatalf("capture: %+v", res)
	}
	return res.EventID
}

func TestSecurityHeadersAndSignIn(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := c.get("/ui/signin")
	if r.Code != 200 {
		t.Fatalf("signin page %d", r.Code)
	}
	csp := r.H.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline: %q", csp)
	}
	if r.H.Get("X-Content-Type-Options") != "nosniff" || r.H.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", r.H)
	}
	if strings.Contains(r.Body, "<script>") || strings.Contains(r.Body, " style=") || strings.Contains(r.Body, " onclick=") {
		t.Errorf("inline script or style in page")
	}
	// Signed out: pages redirect to sign-in, actions are refused.
	if r := c.get("/ui/holds"); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Loc, "/ui/signin") {
		t.Fatalf("signed-out GET: %d %s", r.Code, r.Loc)
	}
	if r := c.post("/ui/destinations/hubspot", url.Values{"op": {"pause"}}); r.Code != http.StatusUnauthorized {
		t.Fatalf("signed-out POST: %d", r.Code)
	}
	// A wrong token is refused; a right one gets a session cookie that
	// scripts cannot read and other sites do not send.
	if r := c.post("/ui/signin", url.Values{"token": {"nope"}}); r.Code != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", r.Code)
	}
	r = c.post("/ui/signin", url.Values{"token": {adminToken}})
	ck := r.H.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/ui/"} {
		if !strings.Contains(ck, want) {
			t.Errorf("cookie %q lacks %s", ck, want)
		}
	}
	if strings.Contains(ck, adminToken) {
		t.Fatalf("cookie carries the token")
	}
	for _, p := range []string{"/ui/", "/ui/?period=day", "/ui/?period=week", "/ui/overview/live", "/ui/holds", "/ui/tickets", "/ui/conflicts", "/ui/events", "/ui/destinations"} {
		if r := c.get(p); r.Code != 200 {
			t.Errorf("GET %s: %d %s", p, r.Code, r.Body)
		}
	}
	// Sign-out ends the session server-side.
	if r := c.post("/ui/signout", nil); r.Code != http.StatusSeeOther {
		t.Fatalf("signout: %d", r.Code)
	}
	if r := c.get("/ui/holds"); r.Code != http.StatusSeeOther {
		t.Fatalf("after signout: %d", r.Code)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.signIn(adminToken)
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "", "Origin": "https://evil.example"},
	} {
		r := c.do(http.MethodPost, "/ui/destinations/hubspot", url.Values{"op": {"pause"}}, h)
		if r.Code != http.StatusForbidden {
			t.Fatalf("cross-origin POST %v: %d %s", h, r.Code, r.Body)
		}
	}
	st, _ := e.srv.Driver.Executor().DestinationStateGet(context.Background(), "hubspot")
	if st.Paused {
		t.Fatal("a cross-origin POST paused the destination")
	}
	// Sign-in itself is protected too (login CSRF).
	if r := c.do(http.MethodPost, "/ui/signin", url.Values{"token": {adminToken}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); r.Code != http.StatusForbidden {
		t.Fatalf("cross-site sign-in: %d", r.Code)
	}
}

// TestViewerCannotAct: every action route refuses a viewer, nothing
// changes, and the pages show no action buttons and masked sensitive values.
func TestViewerCannotAct(t *testing.T) {
	e := newEnv(t)
	id := heldLead(e, "viewer@example.com")
	v := e.client()
	v.signIn(viewerToken)
	page := v.get("/ui/holds/" + id)
	if page.Code != 200 {
		t.Fatalf("viewer hold page %d", page.Code)
	}
	if strings.Contains(page.Body, `name="op"`) || strings.Contains(page.Body, "<button type=\"submit\" name") {
		t.Fatal("viewer sees action buttons")
	}
	if strings.Contains(page.Body, "555 0100") || !strings.Contains(page.Body, "••••••") {
		t.Fatal("viewer sees the sensitive phone number")
	}
	if ev := v.get("/ui/events/" + id); strings.Contains(ev.Body, "555 0100") {
		t.Fatal("viewer sees the sensitive phone number on the event page")
	}
	for _, p := range []string{"/ui/", "/ui/holds", "/ui/tickets", "/ui/destinations", "/ui/events"} {
		if r := v.get(p); r.Code != 200 || strings.Contains(r.Body, `name="op"`) {
			t.Errorf("viewer GET %s: %d, buttons=%v", p, r.Code, strings.Contains(r.Body, `name="op"`))
		}
	}
	forged := map[string]url.Values{
		"/ui/holds/" + id:          {"op": {"save-release"}, "f.company": {"Acme"}, "version": {"2026-01-01T00:00:00Z"}},
		"/ui/holds-bulk":           {"op": {"apply"}, "field": {"company"}, "value": {"X"}, "release": {"on"}},
		"/ui/tickets/esc_x":        {"op": {"retry"}},
		"/ui/tickets-bulk":         {"op": {"apply"}, "action": {"retry"}},
		"/ui/conflicts/esc_x":      {"c.company": {"theirs"}},
		"/ui/destinations/hubspot": {"op": {"pause"}},
	}
	for p, f := range forged {
		if r := v.post(p, f); r.Code != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d", p, r.Code)
		}
	}
	if ev := e.event(id); ev.State != store.EventHeld {
		t.Fatalf("viewer changed the hold: %s", ev.State)
	}
	st, _ := e.srv.Driver.Executor().DestinationStateGet(context.Background(), "hubspot")
	if st.Paused {
		t.Fatal("viewer paused a destination")
	}
}

func TestHoldFixReleaseAndValidation(t *testing.T) {
	e := newEnv(t)
	id := heldLead(e, "fix@example.com")
	c := e.client()
	c.signIn(adminToken)
	page := c.get("/ui/holds?missing=company")
	if !strings.Contains(page.Body, id) {
		t.Fatal("held record not listed under missing=company")
	}
	page = c.get("/ui/holds/" + id)
	if !strings.Contains(page.Body, `class="missing"`) || !strings.Contains(page.Body, `id="f-company"`) {
		t.Fatal("missing field not highlighted")
	}
	if !strings.Contains(page.Body, `<select id="f-size"`) || !strings.Contains(page.Body, `id="f-amount" name="f.amount" type="number"`) {
		t.Fatal("inputs are not schema-aware (enum select, number)")
	}
	ver := version(t, page.Body)
	// Server-side validation: a wrong enum and a non-number are refused
	// with what is wrong, nothing is written.
	r := c.post("/ui/holds/"+id, url.Values{"op": {"save"}, "version": {ver}, "f.size": {"huge"}, "f.amount": {"lots"}})
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "size must be one of small, medium, large") || !strings.Contains(r.Body, "amount must be a number") {
		t.Fatalf("invalid save: %d %s", r.Code, r.Body)
	}
	// Discard needs a reason; unknown actions are refused.
	if r := c.post("/ui/holds/"+id, url.Values{"op": {"discard"}}); r.Code != http.StatusBadRequest {
		t.Fatalf("discard without reason: %d", r.Code)
	}
	if r := c.post("/ui/holds/"+id, url.Values{"op": {"explode"}}); r.Code != http.StatusBadRequest {
		t.Fatalf("unknown op: %d", r.Code)
	}
	// Release while incomplete says what is missing.
	if r := c.post("/ui/holds/"+id, url.Values{"op": {"release"}}); r.Code != http.StatusConflict || !strings.Contains(r.Body, "company") {
		t.Fatalf("incomplete release: %d %s", r.Code, r.Body)
	}
	// Two editors load the same version; the first saves, the second is
	// told, and the first's value stands.
	r = c.post("/ui/holds/"+id, url.Values{"op": {"save"}, "version": {ver}, "f.company": {"Acme"}, "f.size": {"small"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("save: %d %s", r.Code, r.Body)
	}
	r = c.post("/ui/holds/"+id, url.Values{"op": {"save"}, "version": {ver}, "f.company": {"Other Inc"}})
	if r.Code != http.StatusConflict || !strings.Contains(r.Body, "changed by someone else") {
		t.Fatalf("second editor: %d %s", r.Code, r.Body)
	}
	if ev := e.event(id); !strings.Contains(string(ev.Canonical), "Acme") {
		t.Fatalf("first save lost: %s", ev.Canonical)
	}
	// Release with the current version: it is delivered to HubSpot.
	page = c.get("/ui/holds/" + id)
	r = c.post("/ui/holds/"+id, url.Values{"op": {"release"}, "version": {version(t, page.Body)}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("release: %d %s", r.Code, r.Body)
	}
	waitFor(t, "the lead in HubSpot", func() bool { return slices.Contains(e.sims.Keys()["hubspot"], "fix@example.com") })
	trail := strings.Join(e.audit(id), "; ")
	for _, want := range []string{"patched by console:ana", "released by console:ana"} {
		if !strings.Contains(trail, want) {
			t.Errorf("audit trail lacks %q: %s", want, trail)
		}
	}
}

func TestBulkPatchAndReleasePreviewThenApply(t *testing.T) {
	e := newEnv(t)
	ids := []string{heldLead(e, "b1@example.com"), heldLead(e, "b2@example.com")}
	c := e.client()
	c.signIn(adminToken)
	f := url.Values{"missing": {"company"}, "field": {"company"}, "value": {"Bulk Co"}, "release": {"on"}, "op": {"preview"}}
	r := c.post("/ui/holds-bulk", f)
	if r.Code != 200 || !strings.Contains(r.Body, "on <strong>2</strong> held records") {
		t.Fatalf("preview: %d %s", r.Code, r.Body)
	}
	for _, id := range ids {
		if e.event(id).State != store.EventHeld {
			t.Fatal("preview changed something")
		}
	}
	f.Set("op", "apply")
	if r := c.post("/ui/holds-bulk", f); r.Code != 200 || !strings.Contains(r.Body, "Done: 2; failed: 0") {
		t.Fatalf("apply: %d %s", r.Code, r.Body)
	}
	waitFor(t, "both leads in HubSpot", func() bool {
		k := e.sims.Keys()["hubspot"]
		return slices.Contains(k, "b1@example.com") && slices.Contains(k, "b2@example.com")
	})
	if r := c.post("/ui/holds-bulk", url.Values{"op": {"preview"}}); r.Code != http.StatusBadRequest {
		t.Fatalf("bulk without field or release: %d", r.Code)
	}
}

func TestDestinationPauseResume(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.signIn(adminToken)
	if r := c.post("/ui/destinations/nowhere", url.Values{"op": {"pause"}}); r.Code != http.StatusNotFound {
		t.Fatalf("unknown destination: %d", r.Code)
	}
	if r := c.post("/ui/destinations/hubspot", url.Values{"op": {"stop"}}); r.Code != http.StatusBadRequest {
		t.Fatalf("unknown op: %d", r.Code)
	}
	if r := c.post("/ui/destinations/hubspot", url.Values{"op": {"pause"}, "reason": {"maintenance"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("pause: %d %s", r.Code, r.Body)
	}
	st, _ := e.srv.Driver.Executor().DestinationStateGet(context.Background(), "hubspot")
	if !st.Paused || st.Reason != "maintenance" {
		t.Fatalf("state %+v", st)
	}
	if r := c.get("/ui/destinations"); !strings.Contains(r.Body, "Resume hubspot") {
		t.Fatal("paused destination has no resume button")
	}
	if r := c.post("/ui/destinations/hubspot", url.Values{"op": {"resume"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("resume: %d", r.Code)
	}
	st, _ = e.srv.Driver.Executor().DestinationStateGet(context.Background(), "hubspot")
	if st.Paused {
		t.Fatal("still paused")
	}
}

// TestSessionsLiveInTheStore: a session made by one console works on
// another console over the same store (a second instance, or this one
// after a restart); the store holds the cookie's hash, never the cookie;
// signing out on one ends it on both.
func TestSessionsLiveInTheStore(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.signIn(adminToken)
	u, _ := url.Parse(e.URL + "/ui/")
	var cookie string
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == "sluice_console" {
			cookie = ck.Value
		}
	}
	if cookie == "" {
		t.Fatal("no session cookie")
	}
	read, _ := e.srv.Driver.Executor().(console.Reader)
	if _, err := read.ConsoleSessionGet(context.Background(), cookie); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the store holds the raw cookie value: %v", err)
	}
	sum := sha256.Sum256([]byte(cookie))
	s, err := read.ConsoleSessionGet(context.Background(), hex.EncodeToString(sum[:]))
	if err != nil || s.Actor != "ana" || s.Role != "admin" {
		t.Fatalf("stored session: %+v %v", s, err)
	}
	// A second console: same store, nothing else shared.
	k, err := console.New(console.Config{Ops: e.srv.Gate, Tickets: e.srv.Tickets, Read: read, Plan: e.srv.Gate.Plan, Config: func() *config.Config { return e.srv.Config }})
	if err != nil {
		t.Fatal(err)
	}
	other := httptest.NewServer(k.Handler())
	defer other.Close()
	c2 := &client{t: t, base: other.URL, hc: &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	withCookie := map[string]string{"Cookie": "sluice_console=" + cookie}
	if r := c2.do(http.MethodGet, "/ui/holds", nil, withCookie); r.Code != http.StatusOK {
		t.Fatalf("the session does not work on the second console: %d %s", r.Code, r.Loc)
	}
	if r := c2.do(http.MethodPost, "/ui/signout", nil, withCookie); r.Code != http.StatusSeeOther {
		t.Fatalf("sign-out on the second console: %d", r.Code)
	}
	if r := c.get("/ui/holds"); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Loc, "/ui/signin") {
		t.Fatalf("signed out on one console, still in on the other: %d %s", r.Code, r.Loc)
	}
}

// TestDestinationsShowBreakerRateAndLastError: the Destinations page shows
// each destination's circuit, rate and queue from the running engine, and
// the latest failure with the platform's status once HubSpot fails.
func TestDestinationsShowBreakerRateAndLastError(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.signIn(adminToken)
	page := c.get("/ui/destinations")
	row := destRow(t, page.Body, "hubspot")
	if !strings.Contains(row, `<span class="badge ok">closed</span>`) || !strings.Contains(row, "/s") || !strings.Contains(row, `<span class="hint">none</span>`) {
		t.Fatalf("healthy hubspot row lacks a closed breaker, a rate or 'none' for last error:\n%s", row)
	}
	if err := e.sims.HubSpot.SetFaults(sim.Faults{Errors: map[string]float64{"503": 1}}); err != nil {
		t.Fatal(err)
	}
	e.capture(map[string]any{"email": "down@example.com", "name": "Dee", "company": "Acme"})
	waitFor(t, "the failure on the Destinations page", func() bool {
		row = destRow(t, c.get("/ui/destinations").Body, "hubspot")
		return strings.Contains(row, "retryable") && strings.Contains(row, "503") && strings.Contains(row, "failed in a row")
	})
	if !strings.Contains(row, "on this instance") {
		t.Errorf("last error does not say where it was seen:\n%s", row)
	}
}

// destRow is the table row of one destination on the Destinations page.
func destRow(t *testing.T, body, name string) string {
	t.Helper()
	i := strings.Index(body, `<tr id="d-`+name+`">`)
	if i < 0 {
		t.Fatalf("no row for %s:\n%s", name, body)
	}
	row := body[i:]
	if j := strings.Index(row, "</tr>"); j >= 0 {
		row = row[:j]
	}
	return row
}

// TestQueuesStopCountingAtTheLimit: past the count limit the Destinations
// and Overview pages show the limit as a lower bound, not a wrong exact
// number; under it they show the exact count.
func TestQueuesStopCountingAtTheLimit(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.signIn(adminToken)
	if r := c.post("/ui/destinations/hubspot", url.Values{"op": {"pause"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("pause: %d %s", r.Code, r.Body)
	}
	for _, who := range []string{"a", "b", "c"} {
		e.capture(map[string]any{"email": who + "@example.com", "name": who, "company": "Acme"})
	}
	console.SetQueueCountLimit(t, 2)
	if row := destRow(t, c.get("/ui/destinations").Body, "hubspot"); !strings.Contains(row, "<td>≥ 2 / 0</td>") {
		t.Errorf("capped destinations row does not say at least 2 waiting:\n%s", row)
	}
	if body := c.get("/ui/").Body; !strings.Contains(body, ">hubspot</a> <span class=\"badge warn\">paused</span></th><td>≥ 2</td><td>0</td>") {
		t.Errorf("capped overview queue row does not say at least 2 waiting:\n%s", body)
	}
	console.SetQueueCountLimit(t, 3)
	if row := destRow(t, c.get("/ui/destinations").Body, "hubspot"); !strings.Contains(row, "<td>3 / 0</td>") {
		t.Errorf("destinations row does not say exactly 3 waiting:\n%s", row)
	}
}
