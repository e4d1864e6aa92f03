package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
)

// deleteConfig is the two-way config where HubSpot's poll also lists
// archived contacts and the HubSpot -> Airtable flow routes deletes.
var deleteConfig = strings.NewReplacer(
	"options: {properties: [firstname]}", "options: {properties: [firstname], archived: true}",
	"  crm_to_table:\n    source: hubspot_contacts\n", "  crm_to_table:\n    source: hubspot_contacts\n    on_delete: route\n",
).Replace(twoWayConfig)

func TestPollDeleteEventRoutedToTheOtherSide(t *testing.T) {
	if deleteConfig == twoWayConfig {
		t.Fatal("deleteConfig did not change the base config")
	}
	tw := startTwoWayWith(t, deleteConfig)
	hsBase := tw.hsURL + "/crm/v3/objects/contacts"
	var ids []string
	for i := range 3 {
		res := tw.call("POST", hsBase, twoWayHubSpotToken, map[string]any{"properties": map[string]any{
			"email": fmt.Sprintf("del%d@x.co", i), "firstname": fmt.Sprintf("Del%d", i)}})
		ids = append(ids, res["id"].(string))
	}
	tw.settle()
	if n := len(tw.airtableNames()); n != 3 {
		t.Fatalf("airtable has %d records after the first sync, want 3", n)
	}
	// Someone deletes (archives) a contact in HubSpot.
	tw.call("DELETE", hsBase+"/"+ids[1], twoWayHubSpotToken, nil)
	tw.settle()
	at := tw.airtableNames()
	if _, ok := at["del1@x.co"]; ok || len(at) != 2 {
		t.Fatalf("airtable after the HubSpot archive: %v, want del1 gone and 2 left", at)
	}
	if n := tw.events(); n != 4 {
		tw.dump()
		t.Fatalf("events = %d, want 3 creates and 1 delete", n)
	}
	res := tw.call("GET", tw.adminTo+"/v1/events?limit=1000", "ops-token-0123456789", nil)
	var del map[string]any
	for _, e := range res["events"].([]any) {
		if ev := e.(map[string]any); ev["record_key"] == "del1@x.co" {
			det := tw.call("GET", tw.adminTo+"/v1/events/"+ev["id"].(string), "ops-token-0123456789", nil)
			if strings.Contains(fmt.Sprint(det["timeline"]), "delete of del1@x.co") {
				del = ev
			}
		}
	}
	if del == nil || del["state"] != "delivered" {
		t.Fatalf("no delivered delete event for del1@x.co: %v", del)
	}
	// Re-reading the archived list (the overlap window) captures nothing
	// more, and nothing loops.
	tw.settle()
	if n := tw.events(); n != 4 {
		t.Fatalf("events after an idle sync = %d, want 4", n)
	}
	if s := tw.at.Stats(); s.DuplicatesByKey != 0 {
		t.Fatalf("airtable duplicates: %+v", s)
	}
	// The contact comes back in HubSpot (created anew): it is created
	// again in Airtable, not written to the deleted record's ID.
	tw.call("POST", hsBase, twoWayHubSpotToken, map[string]any{"properties": map[string]any{"email": "del1@x.co", "firstname": "Back"}})
	tw.settle()
	if got := tw.airtableNames()["del1@x.co"]; got != "Back" {
		t.Fatalf("airtable name after the contact came back = %q (%v)", got, tw.airtableNames())
	}
}

func TestPollDeleteIgnoredByDefault(t *testing.T) {
	tw := startTwoWayWith(t, strings.Replace(twoWayConfig, "options: {properties: [firstname]}", "options: {properties: [firstname], archived: true}", 1))
	hsBase := tw.hsURL + "/crm/v3/objects/contacts"
	res := tw.call("POST", hsBase, twoWayHubSpotToken, map[string]any{"properties": map[string]any{"email": "keep@x.co", "firstname": "Keep"}})
	tw.settle()
	tw.call("DELETE", hsBase+"/"+res["id"].(string), twoWayHubSpotToken, nil)
	tw.settle()
	if got := tw.airtableNames()["keep@x.co"]; got != "Keep" {
		t.Fatalf("airtable lost the record although the flow ignores deletes: %v", tw.airtableNames())
	}
	// The delete is recorded, not lost: an event that wrote nothing.
	if n := tw.events(); n != 2 {
		t.Fatalf("events = %d, want the create and the ignored delete", n)
	}
	evs := tw.call("GET", tw.adminTo+"/v1/events?limit=1000", "ops-token-0123456789", nil)["events"].([]any)
	found := false
	for _, e := range evs {
		ev := e.(map[string]any)
		det := tw.call("GET", tw.adminTo+"/v1/events/"+ev["id"].(string), "ops-token-0123456789", nil)
		if strings.Contains(fmt.Sprint(det["timeline"]), "on_delete: ignore") {
			found = ev["state"] == "delivered"
		}
	}
	if !found {
		t.Fatal("no settled event says the delete was ignored")
	}
}

// TestCheckRefusesDeletesToADestinationThatCannotDelete: a route that
// would send deletes to a webhook destination fails `sluice check` with the
// setting's path.
func TestCheckRefusesDeletesToADestinationThatCannotDelete(t *testing.T) {
	raw := `
sources:
  crm: {poll: {destination: crm, options: {archived: true}}}
entities:
  contact: {key: email}
flows:
  contacts:
    source: crm
    entity: contact
    on_delete: route
    normalize: {fields: {email: {from: fields.email}}}
    routes:
      hook: {destination: hook}
      crm_copy: {destination: crm, on_delete: ignore}
destinations:
  crm: {type: hubspot, options: {token: pat-na1-00000000-0000-0000-0000-000000000000, object: contacts}}
  hook: {type: http, options: {url: "https://example.com/hook"}}
`
	c := parseConfig(t, raw)
	err := server.Check(c)
	if err == nil || !strings.Contains(err.Error(), "flows.contacts.on_delete") || !strings.Contains(err.Error(), "cannot delete") {
		t.Fatalf("check = %v, want the flow's on_delete refused for the http route", err)
	}
	if strings.Contains(err.Error(), "crm_copy") {
		t.Fatalf("check refused the route that ignores deletes: %v", err)
	}
	c.Flows["contacts"].Routes["hook"].OnDelete = config.OnDeleteIgnore
	if err := server.Check(c); err != nil {
		t.Fatalf("check with the http route ignoring deletes: %v", err)
	}
}
