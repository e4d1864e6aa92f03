package server_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestListFiltersAreValidated: a list filter the server cannot honour (a
// page cursor that is not an ID, an unknown source or destination, a time
// that does not parse) is a 400 naming the parameter, never a silently
// wrong or empty list.
func TestListFiltersAreValidated(t *testing.T) {
	h := start(t)
	for _, c := range []struct{ path, want string }{
		{"/v1/events?before=yesterday", "before must be an ID like evt_"},
		{"/v1/events?before=esc_01J00000000000000000000000", "before must be an ID like evt_"},
		{"/v1/holds?before=12", "before must be an ID like evt_"},
		{"/v1/events?source=nope", `source: no source named "nope"`},
		{"/v1/escalations?before=evt_01J00000000000000000000000", "before must be an ID like esc_"},
		{"/v1/escalations?destination=nope", `no destination named "nope"`},
		{"/v1/tickets?before=x", "before must be an ID like esc_"},
		{"/v1/tickets?destination=nope", `no destination named "nope"`},
		{"/v1/tickets?created_after=yesterday", "created_after must be an RFC 3339 time"},
		{"/v1/escalation-groups?status=closed", "status must be open, resolved or discarded"},
	} {
		code, out := h.admin("GET", c.path, "")
		if code != 400 || !strings.Contains(fmt.Sprint(out), c.want) {
			t.Errorf("%s: %d %v, want 400 with %q", c.path, code, out, c.want)
		}
	}
	if code, out := h.admin("GET", "/v1/events?before=evt_01J00000000000000000000000&source=forms", ""); code != 200 {
		t.Fatalf("valid filters refused: %d %v", code, out)
	}
}
