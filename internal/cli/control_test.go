package cli_test

import (
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
