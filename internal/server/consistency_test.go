package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

const hsToken = "pat-na1-consistency-0000-0000-000000000000"

const consistencyConfig = `
store: %q
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
    routes:
      crm: {destination: hubspot}
destinations:
  hubspot:
    type: hubspot
    allow_private_network: true
    options: {base_url: %q, token: %q, object: contacts, lookup_properties: [email, firstname]}
delivery: {poll_interval: 10ms}
`

// TestConsistencyCheck delivers records to the HubSpot simulator, changes
// one and deletes another behind Sluice's back, and expects the check to
// find both, open reconciliation tasks, report the ratio, and a retry to
// put Sluice's version back.
func TestConsistencyCheck(t *testing.T) {
	hs, err := hubspotsim.New(hubspotsim.Options{Seed: 3, Tokens: []string{hsToken}, RateLimit: -1, SearchRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	hsURL := simtest.Start(t, hs).URL
	c, err := config.Parse(fmt.Appendf(nil, consistencyConfig, filepath.Join(t.TempDir(), "c.db"), hsURL, hsToken), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
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

	var ids []string
	for i := 0; i < 5; i++ {
		body := fmt.Sprintf(`{"email":"p%d@example.com","first":"Person%d"}`, i, i)
		req, _ := http.NewRequest("POST", h.url+"/v1/sources/forms/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		code, res := h.do(req)
		if code != 202 {
			t.Fatalf("capture: %d %v", code, res)
		}
		ids = append(ids, res["event_id"].(string))
	}
	for _, id := range ids {
		h.waitState(id, "delivered")
	}
	check := func() []any {
		code, out := h.admin("POST", "/v1/consistency/check", `{"destination":"hubspot"}`)
		if code != 200 {
			t.Fatalf("check: %d %v", code, out)
		}
		return out["destinations"].([]any)
	}
	rep := check()[0].(map[string]any)
	if rep["checked"].(float64) != 5 || rep["consistent"].(float64) != 5 {
		t.Fatalf("clean check: %v", rep)
	}

	// Someone edits p1 and deletes p2 in HubSpot directly.
	var p1, p2 string
	for _, r := range hs.Records("contacts") {
		switch r["email"] {
		case "p1@example.com":
			p1 = r["hs_object_id"]
		case "p2@example.com":
			p2 = r["hs_object_id"]
		}
	}
	if p1 == "" || p2 == "" {
		t.Fatalf("records not found in the simulator: %v", hs.Records("contacts"))
	}
	hsCall(t, "PATCH", hsURL+"/crm/v3/objects/contacts/"+p1, `{"properties":{"firstname":"Edited"}}`)
	hsCall(t, "DELETE", hsURL+"/crm/v3/objects/contacts/"+p2, ``)

	rep = check()[0].(map[string]any)
	if rep["consistent"].(float64) != 3 || len(rep["findings"].([]any)) != 2 || rep["ratio"].(float64) != 0.6 {
		t.Fatalf("check after tampering: %v", rep)
	}
	resp, _ := http.Get(h.url + "/metrics")
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(mb), `sluice_consistency_ratio{destination="hubspot"} 0.6`) {
		t.Fatal("consistency ratio metric missing")
	}
	_, list := h.admin("GET", "/v1/reconciliations?status=open", "")
	recs := list["reconciliations"].([]any)
	if len(recs) != 2 {
		t.Fatalf("open tasks: %v", recs)
	}
	for _, r := range recs {
		id := r.(map[string]any)["id"].(string)
		if code, out := h.admin("POST", "/v1/reconciliations/"+id+"/retry", ""); code != 200 {
			t.Fatalf("retry %s: %d %v", id, code, out)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep = check()[0].(map[string]any)
		if rep["consistent"].(float64) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not consistent after retries: %v", rep)
		}
		time.Sleep(100 * time.Millisecond)
	}
	n := 0
	for _, r := range hs.Records("contacts") {
		if strings.HasSuffix(r["email"], "@example.com") {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("%d contacts in HubSpot after repair, want 5 (no duplicates)", n)
	}
}

func hsCall(t *testing.T, method, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+hsToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e map[string]any
		json.Unmarshal(b, &e)
		t.Fatalf("%s %s: %d %v", method, url, resp.StatusCode, e)
	}
}
