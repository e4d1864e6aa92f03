package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/server"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

// TestConflictReview: with on_conflict: review, an update to a record that
// someone changed in HubSpot since Sluice wrote it is not written; a
// conflict escalation shows both versions; retrying it overwrites, and an
// update nobody interfered with goes through untouched.
func TestConflictReview(t *testing.T) {
	hs, err := hubspotsim.New(hubspotsim.Options{Seed: 4, Tokens: []string{hsToken}, RateLimit: -1, SearchRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	hsURL := simtest.Start(t, hs).URL
	cfg := strings.Replace(fmt.Sprintf(consistencyConfig, filepath.Join(t.TempDir(), "k.db"), hsURL, hsToken),
		"type: hubspot\n", "type: hubspot\n    on_conflict: review\n", 1)
	c := parseConfig(t, cfg)
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() { cancel(); <-done; srv.Close() }()
	h := &harness{t: t, url: "http://" + ln.Addr().String()}
	capture := func(email, first string) string {
		req, _ := http.NewRequest("POST", h.url+"/v1/sources/forms/events", strings.NewReader(fmt.Sprintf(`{"email":%q,"first":%q}`, email, first)))
		req.Header.Set("Content-Type", "application/json")
		code, res := h.do(req)
		if code != 202 {
			t.Fatalf("capture: %d %v", code, res)
		}
		return res["event_id"].(string)
	}
	firstname := func(email string) string {
		for _, r := range hs.Records("contacts") {
			if r["email"] == email {
				return r["firstname"]
			}
		}
		return ""
	}
	h.waitState(capture("k1@example.com", "Ann"), "delivered")
	h.waitState(capture("k2@example.com", "Bob"), "delivered")
	var id string
	for _, r := range hs.Records("contacts") {
		if r["email"] == "k1@example.com" {
			id = r["hs_object_id"]
		}
	}
	hsCall(t, "PATCH", hsURL+"/crm/v3/objects/contacts/"+id, `{"properties":{"firstname":"Changed In HubSpot"}}`)

	// Nobody touched k2: its update goes through.
	h.waitState(capture("k2@example.com", "Bobby"), "delivered")
	if got := firstname("k2@example.com"); got != "Bobby" {
		t.Fatalf("k2 firstname = %q", got)
	}
	// k1 was changed: its update is held for review.
	det := h.waitState(capture("k1@example.com", "Annie"), "escalated")
	escs := det["escalations"].([]any)
	esc := escs[0].(map[string]any)
	if esc["kind"] != "conflict_review" || !strings.Contains(fmt.Sprint(esc["last_error"]), "Changed In HubSpot") || !strings.Contains(fmt.Sprint(esc["last_error"]), "Annie") {
		t.Fatalf("escalation does not show both versions: %v", esc)
	}
	if got := firstname("k1@example.com"); got != "Changed In HubSpot" {
		t.Fatalf("the change was overwritten without review: %q", got)
	}
	// The person chooses Sluice's version.
	if code, out := h.admin("POST", "/v1/escalations/"+esc["id"].(string)+"/retry", ""); code != 200 {
		t.Fatalf("retry: %d %v", code, out)
	}
	h.waitState(det["event"].(map[string]any)["id"].(string), "delivered")
	if got := firstname("k1@example.com"); got != "Annie" {
		t.Fatalf("after retry firstname = %q, want Annie", got)
	}
}
