package cli_test

import (
	"strings"
	"testing"
)

func TestReplayAndBulkAreDryRunsUnlessApplied(t *testing.T) {
	t.Parallel()
	s := start(t)
	r := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret,
		"--data", `{"contact":{"email":"again@example.com"},"company":"Acme"}`)
	id := eventID(t, r.out)
	s.waitState(t, id, "delivered")

	r = s.mustRun(t, 0, "replay", "deliver", "--destination", "sink", "--received-after", "1h")
	contains(t, "replay dry run", r.out, "dry run: replay from deliver: 1 events examined, 1 would be replayed",
		"delivered -> delivering: 1", "deliveries: sink 1", id, "would_replay", "crm->sink", "run again with --apply")
	s.waitState(t, id, "delivered")
	r = s.mustRun(t, 0, "replay", "deliver", "--apply")
	contains(t, "replay", r.out, "replay from deliver: 1 events examined, 1 replayed", id, "replayed")
	s.waitState(t, id, "delivered")
	r = s.mustRun(t, 0, "events", "show", id)
	contains(t, "timeline", r.out, "replayed from deliver by admin:ops")

	r = s.mustRun(t, 1, "replay", "rewind")
	contains(t, "bad stage", r.err, "400 Bad Request (bad_request)", "stage must be normalize or deliver")
	r = s.mustRun(t, 1, "replay", "deliver", "--received-after", "yesterday")
	contains(t, "bad time", r.err, "--received-after", "neither an RFC 3339 time")

	r = s.mustRun(t, 0, "escalations", "bulk", "retry", "--destination", "sink")
	contains(t, "bulk dry run", r.out, "dry run: retry would affect 0 of 0 matching escalations (0 skipped); filter: status=open destination=sink")
	r = s.mustRun(t, 1, "escalations", "bulk", "resolve")
	contains(t, "bulk resolve without note", r.err, "needs --note")
	r = s.mustRun(t, 0, "escalations", "tickets", "--overdue")
	contains(t, "tickets", r.out, "no tickets")
	r = s.mustRun(t, 1, "escalations", "ticket", "esc_nope")
	contains(t, "missing ticket", r.err, "404 Not Found")
	r = s.mustRun(t, 1, "escalations", "assign", "esc_nope")
	contains(t, "assign without owner", r.err, "give an OWNER or --clear")
	r = s.mustRun(t, 1, "escalations", "note", "esc_nope", "looking")
	contains(t, "note on a missing ticket", r.err, "404 Not Found")
	r = s.mustRun(t, 1, "escalations", "patch-retry", "esc_nope")
	contains(t, "patch-retry without fields", r.err, "nothing to patch")
}

// TestRerenderAndGroupsCommands: the re-render and failure-group verbs
// reach the API and say plainly when there is nothing to do; a filter
// naming an unknown destination is an error, not an empty list.
func TestRerenderAndGroupsCommands(t *testing.T) {
	t.Parallel()
	s := start(t)
	r := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret,
		"--data", `{"contact":{"email":"rr@example.com"},"company":"Acme"}`)
	id := eventID(t, r.out)
	s.waitState(t, id, "delivered")
	r = s.mustRun(t, 0, "replay", "deliver", "--rerender", "--state", "delivered")
	contains(t, "rerender dry run", r.out, "dry run: replay from deliver with re-render (config "+s.version[:12]+")",
		"1 events examined, 0 would be replayed", id, "skipped", "no pending or escalated delivery to re-render")
	r = s.mustRun(t, 1, "replay", "normalize", "--rerender")
	contains(t, "rerender from normalize", r.err, "400 Bad Request", "rerender applies to the deliver stage only")
	r = s.mustRun(t, 0, "escalations", "groups")
	contains(t, "groups", r.out, "no failure groups")
	r = s.mustRun(t, 1, "escalations", "list", "--destination", "nope")
	contains(t, "unknown destination", r.err, "400 Bad Request", `no destination named "nope"`)
	r = s.mustRun(t, 0, "escalations", "bulk", "rerender", "--group", "sink:permanent_error:400:")
	contains(t, "group dry run", r.out, "dry run: rerender would affect 0 of 0 matching escalations", "group=sink:permanent_error:400:")
	r = s.mustRun(t, 1, "escalations", "rerender", "esc_nope")
	contains(t, "rerender missing", r.err, "404 Not Found")
}

// TestHoldsBulkAndResubmit: a bulk patch-and-release is a dry run until
// --apply and then releases every matching held record; a rejected record
// is edited and resubmitted (no longer 409), refused while still invalid,
// and audited as resubmitted.
func TestHoldsBulkAndResubmit(t *testing.T) {
	t.Parallel()
	s := start(t)
	var held []string
	for _, e := range []string{"h1@example.com", "h2@example.com"} {
		r := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret, "--data", `{"contact":{"email":"`+e+`"}}`)
		id := eventID(t, r.out)
		s.waitState(t, id, "held")
		held = append(held, id)
	}
	r := s.mustRun(t, 0, "holds", "bulk", "company=Acme", "--release", "--flow", "leads", "--missing", "company")
	contains(t, "holds bulk dry run", r.out, "dry run: of 2 held records, 2 would be patched and 2 released (0 skipped); filter: flow=leads missing=company",
		held[0], held[1], "would_release", "run again with --apply")
	s.waitState(t, held[0], "held")
	r = s.mustRun(t, 1, "holds", "bulk", "--flow", "nope", "--release")
	contains(t, "unknown flow", r.err, "400 Bad Request", `no flow named "nope"`)
	r = s.mustRun(t, 0, "holds", "bulk", "company=Acme", "--release", "--flow", "leads", "--apply")
	contains(t, "holds bulk", r.out, "of 2 held records: 2 patched, 2 released, 0 skipped, 0 failed")
	for _, id := range held {
		s.waitState(t, id, "delivered")
	}

	r = s.mustRun(t, 1, "send", "--source", "forms", "--secret", testSecret, "--data", `{"contact":{"email":"neg@example.com"},"company":"Acme","amount":-5}`)
	id := eventID(t, r.out)
	s.waitState(t, id, "rejected")
	r = s.mustRun(t, 1, "holds", "patch", id, "amount=5")
	contains(t, "patch a rejected record", r.err, "409 Conflict", "edit and resubmit it instead")
	r = s.mustRun(t, 1, "events", "resubmit", id, "amount=-1")
	contains(t, "still invalid", r.err, "422 Unprocessable Entity", "amount")
	s.waitState(t, id, "rejected")
	r = s.mustRun(t, 0, "events", "resubmit", id, "amount=5")
	contains(t, "resubmit", r.out, "resubmitted "+id+": now delivering (edited amount)")
	s.waitState(t, id, "delivered")
	r = s.mustRun(t, 0, "events", "show", id)
	contains(t, "resubmit audited", r.out, "resubmitted", "edited by admin:ops and resubmitted: rejected -> delivering; fields: amount")
}

// TestIDPrefixes: an event or escalation is found by a unique prefix of
// its ID, with or without the kind and in either case; an ambiguous prefix
// is a clear error naming two matches; a prefix nothing has is "no ID".
func TestIDPrefixes(t *testing.T) {
	t.Parallel()
	s := start(t)
	var ids []string
	for _, e := range []string{"p1@example.com", "p2@example.com"} {
		r := s.mustRun(t, 0, "send", "--source", "forms", "--secret", testSecret, "--data", `{"contact":{"email":"`+e+`"},"company":"Acme"}`)
		ids = append(ids, eventID(t, r.out))
	}
	for _, id := range ids {
		s.waitState(t, id, "delivered")
	}
	// The longest common prefix of the two IDs is ambiguous; one more
	// character of either is unique.
	n := 0
	for n < len(ids[0]) && ids[0][n] == ids[1][n] {
		n++
	}
	r := s.mustRun(t, 0, "events", "show", ids[1][:n+1])
	contains(t, "unique prefix", r.out, ids[1])
	r = s.mustRun(t, 0, "events", "show", strings.ToLower(strings.TrimPrefix(ids[0][:n+1], "evt_")))
	contains(t, "prefix without kind, lower case", r.out, ids[0])
	r = s.mustRun(t, 1, "events", "show", ids[0][:n])
	contains(t, "ambiguous prefix", r.err, "is ambiguous", ids[0], ids[1], "give more characters")
	r = s.mustRun(t, 1, "events", "show", "evt_00000")
	contains(t, "no match", r.err, "no evt ID starts with evt_00000")
}
