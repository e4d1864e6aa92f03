package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/sim"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
	"github.com/sluicehq/sluice/internal/store"
)

// twoWayEditInAirtable makes a contact in Airtable, syncs it to HubSpot,
// and returns its Airtable and HubSpot IDs.
func twoWayContact(t *testing.T, tw *twoWay, email, name string) (atID, hsID string) {
	t.Helper()
	atBase := tw.atURL + "/v0/" + airtablesim.DefaultBaseID + "/Contacts"
	rec := tw.call("POST", atBase, twoWayAirtableToken, map[string]any{"fields": map[string]any{"Email": email, "Name": name}})
	atID, _ = rec["id"].(string)
	tw.settle()
	for _, r := range tw.hs.Records("contacts") {
		if r["email"] == email {
			hsID = r["hs_object_id"]
		}
	}
	if atID == "" || hsID == "" {
		t.Fatalf("contact not synced: airtable %q, hubspot %q", atID, hsID)
	}
	return atID, hsID
}

// TestEchoOfAWriteAppliedThenAnswered500 is the write HubSpot applied and
// answered with a 500: the delivery goes back to pending for its retry,
// and a poll of HubSpot reads Sluice's own write before Sluice has
// confirmed it. It is Sluice's write (its content is the pending
// delivery's), not a change: suppressed, and the poll's cursor is not held
// behind it.
func TestEchoOfAWriteAppliedThenAnswered500(t *testing.T) {
	tw := startTwoWay(t)
	atID, _ := twoWayContact(t, tw, "ambig@x.co", "Before")
	before := tw.events()

	// Every write to HubSpot is applied and answered 500 from now on.
	if err := tw.hs.SetFaults(sim.Faults{ErrorAfterWrite: 1}); err != nil {
		t.Fatal(err)
	}
	atBase := tw.atURL + "/v0/" + airtablesim.DefaultBaseID + "/Contacts"
	tw.call("PATCH", atBase+"/"+atID, twoWayAirtableToken, map[string]any{"fields": map[string]any{"Name": "Edited"}})
	if _, err := tw.srv.PollNow(context.Background(), "airtable_contacts"); err != nil {
		t.Fatal(err)
	}
	// Wait for HubSpot to hold the write, then pause the destination so
	// the delivery stays pending (applied, unconfirmed) while HubSpot is
	// polled.
	ex := tw.srv.Driver.Executor()
	var d *store.Delivery
	deadline := time.Now().Add(10 * time.Second)
	for paused := false; ; {
		if tw.hubspotNames()["ambig@x.co"] == "Edited" && !paused {
			tw.call("POST", tw.adminTo+"/v1/destinations/crm/pause", "ops-token-0123456789", map[string]any{"reason": "test"})
			paused = true
		}
		if paused {
			writes, err := ex.DeliveryListWritesSince(context.Background(), "crm", "ambig@x.co", time.Now())
			if err != nil || len(writes) == 0 {
				t.Fatal(writes, err)
			}
			if w := writes[len(writes)-1]; w.State == store.DeliveryPending && w.Attempts > 0 {
				d = w
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the write to HubSpot did not end applied and pending")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(d.LastError, "500") {
		t.Fatalf("pending delivery's last error %q, want the 500", d.LastError)
	}

	n, err := tw.srv.PollNow(context.Background(), "hubspot_contacts")
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || tw.events() != before+1 {
		t.Fatalf("poll of HubSpot captured %d (events %d, want %d): Sluice's unconfirmed write taken for a change", n, tw.events(), before+1)
	}
	found := false
	if err := ex.AuditScan(context.Background(), 0, func(e *store.AuditEntry) error {
		if e.Action == audit.ActionEchoSuppressed && strings.Contains(e.Message, "not confirmed yet") {
			found = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("no echo_suppressed entry for the unconfirmed write")
	}
	// The cursor moved past the record: nothing waits for the retry.
	cur, err := tw.srv.Gate.PollCursor(context.Background(), "hubspot_contacts")
	if err != nil || cur == "" {
		t.Fatalf("hubspot cursor %q, %v", cur, err)
	}
	// Once HubSpot answers again, the retry lands and the sides agree.
	if err := tw.hs.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	tw.call("POST", tw.adminTo+"/v1/destinations/crm/resume", "ops-token-0123456789", map[string]any{"reason": "test"})
	tw.settle()
	if hs, at := tw.hubspotNames()["ambig@x.co"], tw.airtableNames()["ambig@x.co"]; hs != "Edited" || at != "Edited" {
		t.Fatalf("hubspot %q, airtable %q, want both Edited", hs, at)
	}
	if n := tw.events(); n != before+1 {
		t.Fatalf("events %d, want %d", n, before+1)
	}
}

// TestEchoReadBeforeALaterWrite: a poll reads a record while it holds
// Sluice's first write; Sluice writes and confirms a second before the
// poll's capture commits. The version read is Sluice's own (an earlier
// write), not a change: suppressed. Read after the second write was
// confirmed, the same version is someone restoring the old value: a
// change.
func TestEchoReadBeforeALaterWrite(t *testing.T) {
	tw := startTwoWay(t)
	atID, hsID := twoWayContact(t, tw, "race@x.co", "First")
	readAt := tw.srv.Gate.Now() // the poll's read of "First" began here
	atBase := tw.atURL + "/v0/" + airtablesim.DefaultBaseID + "/Contacts"
	tw.call("PATCH", atBase+"/"+atID, twoWayAirtableToken, map[string]any{"fields": map[string]any{"Name": "Second"}})
	tw.settle()
	if got := tw.hubspotNames()["race@x.co"]; got != "Second" {
		t.Fatalf("hubspot %q, want Second", got)
	}
	before := tw.events()
	read := pipeline.PolledRecord{RecordID: hsID, ModifiedAt: time.Now().Add(-time.Minute),
		Fields: map[string]any{"email": "race@x.co", "firstname": "First"}}
	same := func(wrote, polled map[string]any) bool { return len(connector.CompareFields(wrote, polled)) == 0 }
	batch := pipeline.PollBatch{Source: "hubspot_contacts", Platform: "hubspot", Object: "contacts", EchoDestination: "crm",
		Records: []pipeline.PolledRecord{read}, SameAsWritten: same, ReadAt: readAt}
	res, err := tw.srv.Gate.CapturePolled(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Captured != 0 || res.Echoes != 1 {
		t.Fatalf("read before the second write: %+v, want one echo and no capture", res)
	}
	batch.ReadAt = tw.srv.Gate.Now()
	res, err = tw.srv.Gate.CapturePolled(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Captured != 1 || tw.events() != before+1 {
		t.Fatalf("read after the second write: %+v, want the restored value captured", res)
	}
}
