package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
)

const fuzzConfig = `store: %q
admin_tokens: [{name: ops, token: ops-token-0123456789, role: admin}]
sources: {forms: {allow_unsigned: true}}
entities:
  lead:
    key: email
    schema: {type: object, properties: {email: {type: string, format: email}, amount: {type: number, minimum: 0}}}
flows:
  leads:
    source: forms
    entity: lead
    require: [company]
    normalize: {fields: {email: {from: email, type: email}, company: {from: company}, amount: {from: amount, type: number}}}
    routes: {out: {destination: nowhere, when: 'amount == nil || amount >= 0'}}
destinations:
  nowhere: {type: http, allow_private_network: true, options: {url: "http://127.0.0.1:1/x"}, max_attempts: 1}
delivery: {poll_interval: 1h, lease: 5s}
`

// FuzzAdminAPI sends arbitrary filters, hold patches, bulk and replay
// requests to the admin API (in process, no network): whatever the input,
// the answer is a JSON document and never a 500. `.ci/run` runs it with a
// time budget; as a unit test it runs the seeds.
func FuzzAdminAPI(f *testing.F) {
	c, err := config.Parse(fmt.Appendf(nil, fuzzConfig, filepath.Join(f.TempDir(), "s.db")), os.LookupEnv)
	if err != nil {
		f.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	call := func(method, target string, body []byte) *httptest.ResponseRecorder {
		// A target a client could not send (spaces, control bytes) is not
		// an input the server can receive: send it percent-encoded.
		var b strings.Builder
		for i := 0; i < len(target); i++ {
			if c := target[i]; c <= ' ' || c >= 0x7f {
				fmt.Fprintf(&b, "%%%02X", c)
			} else {
				b.WriteByte(c)
			}
		}
		target = b.String()
		req := httptest.NewRequest(method, target, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer ops-token-0123456789")
		rec := httptest.NewRecorder()
		srv.Handler.ServeHTTP(rec, req)
		return rec
	}
	rec := call("POST", "/v1/sources/forms/events", []byte(`{"email":"held@example.com"}`))
	var held struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &held); err != nil || held.EventID == "" {
		f.Fatalf("seed a held event: %d %s", rec.Code, rec.Body)
	}
	f.Add(uint8(0), "state=held&limit=5&source=forms", []byte(nil))
	f.Add(uint8(0), "limit=0&before=%00", []byte(nil))
	f.Add(uint8(1), "owner=ana&overdue=true&limit=1000", []byte(nil))
	f.Add(uint8(2), "status=open&kind=permanent_error", []byte(nil))
	f.Add(uint8(3), "", []byte(`{"fields":{"company":"Acme","amount":-1}}`))
	f.Add(uint8(3), "", []byte(`{"fields":{"email":null,"nested":{"a":[1,{"b":2}]}}}`))
	f.Add(uint8(4), "", []byte(`{"action":"retry","destination":"nowhere","kind":"permanent_error","apply":true}`))
	f.Add(uint8(4), "", []byte(`{"action":"discard","reason":"x","ids":["esc_1"],"limit":-5}`))
	f.Add(uint8(5), "", []byte(`{"mode":"normalize","state":"rejected","apply":true,"limit":3}`))
	f.Add(uint8(5), "", []byte(`{"mode":"deliver","destination":"nowhere","since":"not a time"}`))
	f.Fuzz(func(t *testing.T, which uint8, query string, body []byte) {
		var rec *httptest.ResponseRecorder
		switch which % 6 {
		case 0:
			rec = call("GET", "/v1/events?"+query, nil)
		case 1:
			rec = call("GET", "/v1/tickets?"+query, nil)
		case 2:
			rec = call("GET", "/v1/escalations?"+query, nil)
		case 3:
			rec = call("PATCH", "/v1/holds/"+held.EventID, body)
		case 4:
			rec = call("POST", "/v1/tickets/bulk", body)
		case 5:
			rec = call("POST", "/v1/replay", body)
		}
		if rec.Code >= 500 {
			t.Fatalf("%d on which=%d query=%q body=%q: %s", rec.Code, which%6, query, body, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON (%d): %q", rec.Code, rec.Body)
		}
	})
}

// FuzzConfigReload feeds arbitrary YAML through what a reload runs before
// anything changes (parse, validate, compile the plan and connectors): it
// must answer with errors, never panic.
func FuzzConfigReload(f *testing.F) {
	for _, p := range []string{"../../examples/sluice.yaml", "../../examples/two-way.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(fmt.Appendf(nil, fuzzConfig, "x.db"))
	f.Add([]byte("sources: {s: {allow_unsigned: true, quota: {requests_per_second: -1}}}\ntls: {cert_file: a}\nadmin_listen: ':1'\n"))
	f.Add([]byte("flows: {f: {source: s, normalize: {fields: {x: {expr: 'count(1..9, # > 1)'}}}}}"))
	env := func(k string) (string, bool) { return "value-" + k + "-0123456789abcdef", true }
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data, env)
		if err != nil {
			return
		}
		c.Dir = t.TempDir()
		if c.Validate() != nil {
			return
		}
		if strings.Contains(c.Store, "postgres") {
			return
		}
		_ = server.Check(c)
	})
}
