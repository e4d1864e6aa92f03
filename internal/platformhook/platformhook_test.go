package platformhook_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/platformhook"
)

func TestParseHubSpot(t *testing.T) {
	body := `[
	 {"eventId":1001,"subscriptionId":7,"portalId":62515,"occurredAt":1764000000123,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":101,"changeSource":"CRM","propertyName":"email","propertyValue":"a@x.co"},
	 {"eventId":1002,"occurredAt":1764000000200,"subscriptionType":"contact.creation","objectId":102,"changeSource":"CRM"},
	 {"eventId":1003,"occurredAt":1764000000300,"subscriptionType":"contact.deletion","objectId":103,"changeSource":"CRM"}]`
	n, err := platformhook.Parse("hubspot", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Changes) != 3 {
		t.Fatalf("changes = %d, want 3", len(n.Changes))
	}
	c := n.Changes[0]
	if c.EventID != "1001" || c.RecordID != "101" || c.Object != "contact" || c.Fields["email"] != "a@x.co" || c.Deleted ||
		!c.At.Equal(time.UnixMilli(1764000000123)) {
		t.Fatalf("propertyChange = %+v", c)
	}
	if n.Changes[1].Deleted || n.Changes[1].Fields == nil {
		t.Fatalf("creation = %+v", n.Changes[1])
	}
	if !n.Changes[2].Deleted || n.Changes[2].RecordID != "103" {
		t.Fatalf("deletion = %+v", n.Changes[2])
	}
}

func TestParseSlack(t *testing.T) {
	n, err := platformhook.Parse("slack", []byte(`{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`))
	if err != nil || n.Challenge != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("challenge: %+v, %v", n, err)
	}
	n, err = platformhook.Parse("slack", []byte(`{"type":"event_callback","event_id":"Ev01","event_time":1764000000,
	  "event":{"type":"message","channel":"C1","user":"U1","text":"hi","ts":"1764000000.000100"}}`))
	if err != nil || len(n.Changes) != 1 {
		t.Fatalf("event: %+v, %v", n, err)
	}
	if c := n.Changes[0]; c.EventID != "Ev01" || c.RecordID != "1764000000.000100" || c.Fields["text"] != "hi" || c.Deleted || c.WrittenBy != "" {
		t.Fatalf("message = %+v", c)
	}
	// Sluice's own post names its delivery in the message metadata; an
	// edit of it (message_changed) is someone's change, whoever posted it.
	n, _ = platformhook.Parse("slack", []byte(`{"type":"event_callback","event_id":"Ev03","event_time":1764000002,
	  "event":{"type":"message","channel":"C1","bot_id":"B1","text":"New lead","ts":"1764000002.000100",
	    "metadata":{"event_type":"sluice_record","event_payload":{"delivery_id":"dlv_1","destination":"slack","record_key":"a@x.co"}}}}`))
	if c := n.Changes[0]; c.WrittenBy != "dlv_1" {
		t.Fatalf("Sluice's post = %+v", c)
	}
	n, _ = platformhook.Parse("slack", []byte(`{"type":"event_callback","event_id":"Ev04","event_time":1764000003,
	  "event":{"type":"message","subtype":"message_changed","channel":"C1","ts":"1764000003.000000",
	    "message":{"ts":"1764000002.000100","text":"Edited","metadata":{"event_type":"sluice_record","event_payload":{"delivery_id":"dlv_1"}}}}}`))
	if c := n.Changes[0]; c.WrittenBy != "" || c.RecordID != "1764000002.000100" {
		t.Fatalf("edit of Sluice's post = %+v", c)
	}
	n, _ = platformhook.Parse("slack", []byte(`{"type":"event_callback","event_id":"Ev02","event_time":1764000001,
	  "event":{"type":"message","subtype":"message_deleted","channel":"C1","deleted_ts":"1764000000.000100","ts":"1764000001.000000"}}`))
	if c := n.Changes[0]; !c.Deleted || c.RecordID != "1764000000.000100" {
		t.Fatalf("deletion = %+v", c)
	}
}

func TestParseNotion(t *testing.T) {
	n, err := platformhook.Parse("notion", []byte(`{"verification_token":"secret_tok"}`))
	if err != nil || n.VerificationToken != "secret_tok" {
		t.Fatalf("handshake: %+v %v", n, err)
	}
	n, err = platformhook.Parse("notion", []byte(`{"id":"ev-1","timestamp":"2026-12-07T10:00:00.000Z","type":"page.properties_updated",
	  "entity":{"id":"pg-1","type":"page"},"attempt_number":1}`))
	if err != nil || len(n.Changes) != 1 || !n.Changes[0].Fetch || n.Changes[0].RecordID != "pg-1" {
		t.Fatalf("update: %+v %v", n, err)
	}
	n, _ = platformhook.Parse("notion", []byte(`{"id":"ev-2","timestamp":"2026-12-07T10:00:00Z","type":"page.deleted","entity":{"id":"pg-1","type":"page"}}`))
	if !n.Changes[0].Deleted || n.Changes[0].Fetch {
		t.Fatalf("delete: %+v", n)
	}
	n, _ = platformhook.Parse("notion", []byte(`{"id":"ev-3","timestamp":"2026-12-07T10:00:00Z","type":"comment.created","entity":{"id":"c-1","type":"comment"}}`))
	if len(n.Changes) != 0 {
		t.Fatalf("comment: %+v", n)
	}
}

func TestParseAirtable(t *testing.T) {
	n, err := platformhook.Parse("airtable", []byte(`{"base":{"id":"appX"},"webhook":{"id":"achY"},"timestamp":"2026-12-07T10:00:00.000Z"}`))
	if err != nil || n.Ping == nil || n.Ping.Base != "appX" || n.Ping.Webhook != "achY" {
		t.Fatalf("ping: %+v %v", n, err)
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	for _, c := range []struct{ kind, body string }{
		{"hubspot", `{"not":"an array"}`},
		{"hubspot", `[{"eventId":1,"subscriptionType":"contact.creation"}]`},
		{"hubspot", `[{"eventId":1,"objectId":2,"subscriptionType":"contact.propertyChange","occurredAt":1}]`},
		{"slack", `{"type":"url_verification"}`},
		{"slack", `{"type":"block_actions"}`},
		{"notion", `{"id":"x","type":"page.created","entity":{"id":"p"},"timestamp":"yesterday"}`},
		{"airtable", `{"base":{"id":"app"}}`},
		{"airtable", `not json`},
	} {
		if _, err := platformhook.Parse(c.kind, []byte(c.body)); !errors.Is(err, platformhook.ErrMalformed) {
			t.Errorf("%s %s: err = %v, want ErrMalformed", c.kind, c.body, err)
		}
	}
}

// FuzzParse: no body panics any platform's parser, and every failure is
// ErrMalformed.
func FuzzParse(f *testing.F) {
	f.Add("hubspot", []byte(`[{"eventId":1,"objectId":2,"subscriptionType":"contact.propertyChange","propertyName":"a","propertyValue":1,"occurredAt":1}]`))
	f.Add("slack", []byte(`{"type":"event_callback","event_id":"E","event_time":1,"event":{"type":"message","subtype":"message_changed","message":{"ts":"1.2"}}}`))
	f.Add("notion", []byte(`{"id":"e","type":"page.created","entity":{"id":"p","type":"page"},"timestamp":"2026-01-01T00:00:00Z"}`))
	f.Add("airtable", []byte(`{"base":{"id":"a"},"webhook":{"id":"b"}}`))
	f.Fuzz(func(t *testing.T, kind string, body []byte) {
		switch kind {
		case "hubspot", "slack", "notion", "airtable":
		default:
			return
		}
		n, err := platformhook.Parse(kind, body)
		if err != nil {
			if !errors.Is(err, platformhook.ErrMalformed) {
				t.Fatalf("err = %v, not ErrMalformed", err)
			}
			return
		}
		for _, c := range n.Changes {
			if c.RecordID == "" || c.EventID == "" {
				t.Fatalf("change without IDs: %+v", c)
			}
		}
	})
}
