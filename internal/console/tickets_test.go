package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/store"
)

func TestTicketActionsAndVersionCheck(t *testing.T) {
	e := newEnv(t)
	esc := e.conflict("ticket@example.com")
	c := e.client()
	c.signIn(adminToken)
	list := c.get("/ui/tickets")
	if !strings.Contains(list.Body, esc) {
		t.Fatal("escalation not listed")
	}
	page := c.get("/ui/tickets/" + esc)
	ver := version(t, page.Body)
	p := "/ui/tickets/" + esc
	for _, tc := range []struct {
		form url.Values
		code int
		want string
	}{
		{url.Values{"op": {"note"}, "text": {" "}}, http.StatusBadRequest, "the note is empty"},
		{url.Values{"op": {"discard"}}, http.StatusBadRequest, "reason"},
		{url.Values{"op": {"assign"}, "owner": {"bo"}}, http.StatusBadRequest, "no version"},
		{url.Values{"op": {"patch-retry"}, "version": {ver}}, http.StatusBadRequest, "nothing changed"},
		{url.Values{"op": {"frobnicate"}}, http.StatusBadRequest, "unknown action"},
	} {
		r := c.post(p, tc.form)
		if r.Code != tc.code || !strings.Contains(r.Body, tc.want) {
			t.Errorf("%v: %d %s", tc.form, r.Code, r.Body)
		}
	}
	if r := c.post("/ui/tickets/esc_nope", url.Values{"op": {"ack"}}); r.Code != http.StatusNotFound {
		t.Errorf("unknown ticket: %d", r.Code)
	}
	// Two operators assign from the same page: the second is told.
	if r := c.post(p, url.Values{"op": {"assign"}, "owner": {"ana"}, "version": {ver}}); r.Code != http.StatusSeeOther {
		t.Fatalf("assign: %d %s", r.Code, r.Body)
	}
	if r := c.post(p, url.Values{"op": {"assign"}, "owner": {"bo"}, "version": {ver}}); r.Code != http.StatusConflict || !strings.Contains(r.Body, "changed by someone else") {
		t.Fatalf("second assign: %d %s", r.Code, r.Body)
	}
	if r := c.post(p, url.Values{"op": {"ack"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("ack: %d %s", r.Code, r.Body)
	}
	if r := c.post(p, url.Values{"op": {"note"}, "text": {"asked sales"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("note: %d", r.Code)
	}
	page = c.get(p)
	if !strings.Contains(page.Body, "asked sales") || !strings.Contains(page.Body, "<strong>ana</strong>") {
		t.Fatalf("ticket page lacks note or owner")
	}
	// Bulk: a dry run counts, the real run resolves.
	r := c.post("/ui/tickets-bulk", url.Values{"action": {"resolve"}, "note": {"handled"}, "kind": {"conflict_review"}, "op": {"dry-run"}})
	if r.Code != 200 || !strings.Contains(r.Body, "Dry run: would resolve 1 of 1") {
		t.Fatalf("bulk dry run: %d %s", r.Code, r.Body)
	}
	if r := c.post("/ui/tickets-bulk", url.Values{"action": {"resolve"}, "kind": {"conflict_review"}, "op": {"apply"}}); r.Code != http.StatusBadRequest {
		t.Fatalf("bulk resolve without note: %d", r.Code)
	}
	r = c.post("/ui/tickets-bulk", url.Values{"action": {"resolve"}, "note": {"handled"}, "kind": {"conflict_review"}, "op": {"apply"}})
	if r.Code != 200 || !strings.Contains(r.Body, "resolve: 1 done") {
		t.Fatalf("bulk apply: %d %s", r.Code, r.Body)
	}
	if r := c.post(p, url.Values{"op": {"retry"}}); r.Code != http.StatusConflict {
		t.Fatalf("retry of a resolved ticket: %d", r.Code)
	}
	trail := strings.Join(e.audit(e.ticketEvent(esc)), "; ")
	for _, want := range []string{"ticket_assigned by console:ana", "ticket_acknowledged by console:ana", "ticket_noted by console:ana"} {
		if !strings.Contains(trail, want) {
			t.Errorf("trail lacks %q: %s", want, trail)
		}
	}
}

func TestConflictPerField(t *testing.T) {
	e := newEnv(t)
	esc := e.conflict("conflict@example.com")
	c := e.client()
	c.signIn(adminToken)
	page := c.get("/ui/conflicts/" + esc)
	if page.Code != 200 || !strings.Contains(page.Body, "Acme Europe") || !strings.Contains(page.Body, "Acme Global") || !strings.Contains(page.Body, "Ada L.") {
		t.Fatalf("conflict page does not show both versions: %s", page.Body)
	}
	ver := version(t, page.Body)
	if r := c.post("/ui/conflicts/"+esc, url.Values{"version": {ver}, "c.company": {"mine"}}); r.Code != http.StatusBadRequest {
		t.Fatalf("bad choice: %d", r.Code)
	}
	// Keep their first name, an edited company, our email.
	r := c.post("/ui/conflicts/"+esc, url.Values{"version": {ver}, "c.firstname": {"theirs"}, "c.company": {"edited"}, "e.company": {"Acme Worldwide"}, "c.email": {"ours"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("apply: %d %s", r.Code, r.Body)
	}
	waitFor(t, "the merged record in HubSpot", func() bool {
		h := e.hubspot("conflict@example.com")
		return h["company"] == "Acme Worldwide" && h["firstname"] == "Ada L."
	})
	trail := strings.Join(e.audit(e.ticketEvent(esc)), "; ")
	for _, want := range []string{"ticket_noted by console:ana", "payload_patched by console:ana"} {
		if !strings.Contains(trail, want) {
			t.Errorf("trail lacks %q: %s", want, trail)
		}
	}
	if p := c.get("/ui/tickets/" + esc); !strings.Contains(p.Body, "firstname=theirs") {
		t.Error("the per-field choice is not on the ticket")
	}
}

// TestFailureGroupsAndGroupActions: three leads HubSpot refuses with the
// same 400 become one failure group on the Escalations page (count,
// first/last seen, the platform's error, samples); a viewer sees it
// without actions; an admin's dry run counts what a retry of the group
// would do and changes nothing, the real run retries all three, and they
// land once HubSpot accepts them.
func TestFailureGroupsAndGroupActions(t *testing.T) {
	e := newEnv(t)
	if err := e.sims.HubSpot.SetFaults(sim.Faults{Errors: map[string]float64{"400": 1}}); err != nil {
		t.Fatal(err)
	}
	emails := []string{"g1@example.com", "g2@example.com", "g3@example.com"}
	for _, em := range emails {
		e.capture(map[string]any{"email": em, "name": "Gee", "company": "Acme"})
	}
	var group string
	waitFor(t, "three escalations in one group", func() bool {
		ts, err := e.srv.Tickets.List(context.Background(), &store.TicketListParams{Status: store.EscalationOpen, Kind: "permanent_error", Limit: 10})
		if err != nil || len(ts) != 3 {
			return false
		}
		group = ts[0].GroupID
		return ts[1].GroupID == group && ts[2].GroupID == group
	})
	if err := e.sims.HubSpot.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	viewer := e.client()
	viewer.signIn(viewerToken)
	vp := viewer.get("/ui/tickets")
	if !strings.Contains(vp.Body, "Failure groups") || !strings.Contains(vp.Body, "hubspot · permanent_error · 400") || strings.Contains(vp.Body, `class="group-act"`) {
		t.Fatalf("viewer's escalations page: group missing or actions shown:\n%s", vp.Body)
	}
	if r := viewer.post("/ui/tickets-bulk", url.Values{"group": {group}, "action": {"retry"}, "op": {"apply"}}); r.Code != http.StatusForbidden {
		t.Fatalf("viewer's group action: %d", r.Code)
	}
	c := e.client()
	c.signIn(adminToken)
	page := c.get("/ui/tickets")
	for _, want := range []string{"hubspot · permanent_error · 400", `<td>3</td>`, `name="group" value="` + group + `"`, "Act on the whole group"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("escalations page lacks %q", want)
		}
	}
	r := c.post("/ui/tickets-bulk", url.Values{"group": {group}, "action": {"resolve"}, "op": {"dry-run"}})
	if r.Code != http.StatusBadRequest {
		t.Errorf("group resolve without a note: %d", r.Code)
	}
	r = c.post("/ui/tickets-bulk", url.Values{"group": {group}, "action": {"retry"}, "op": {"dry-run"}})
	if r.Code != 200 || !strings.Contains(r.Body, "dry run: would retry 3 of 3 open") || !strings.Contains(r.Body, "Apply retry to 3") {
		t.Fatalf("group dry run: %d %s", r.Code, r.Body)
	}
	if ts, _ := e.srv.Tickets.List(context.Background(), &store.TicketListParams{Status: store.EscalationOpen, GroupID: group, Limit: 10}); len(ts) != 3 {
		t.Fatalf("the dry run changed something: %d open", len(ts))
	}
	r = c.post("/ui/tickets-bulk", url.Values{"group": {group}, "action": {"retry"}, "op": {"apply"}})
	if r.Code != 200 || !strings.Contains(r.Body, "retry: 3 done") {
		t.Fatalf("group retry: %d %s", r.Code, r.Body)
	}
	for _, em := range emails {
		waitFor(t, em+" in HubSpot", func() bool { return e.hubspot(em) != nil })
	}
}
