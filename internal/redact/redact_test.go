package redact_test

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/redact"
)

// TestConfiguredURLPathsAndQueriesAreMasked: a receiver echoed a secret URL
// path and it was stored in last_error as is.
func TestConfiguredURLPathsAndQueriesAreMasked(t *testing.T) {
	c := &config.Config{Destinations: map[string]*config.Destination{
		"zap":  {Type: "http", Options: map[string]any{"url": "https://hooks.example.com/hooks/catch/123/SECRETPATHabc987/?key=QUERYSECRET42&x=1"}},
		"crm":  {Type: "hubspot", Options: map[string]any{"base_url": "https://user:PASSWORDxyz@api.example.com/v3"}},
		"sink": {Type: "http", Options: map[string]any{"url": "http://127.0.0.1:9/in"}},
	}}
	r := redact.New(redact.FromConfig(c)...)
	for _, tc := range []struct{ in, leak string }{
		{`404 from https://hooks.example.com/hooks/catch/123/SECRETPATHabc987/?key=QUERYSECRET42&x=1`, "SECRETPATH"},
		{`{"error":"no hook at /hooks/catch/123/SECRETPATHabc987/"}`, "SECRETPATH"},
		{`unknown hook SECRETPATHabc987`, "SECRETPATH"},
		{`bad key QUERYSECRET42`, "QUERYSECRET42"},
		{`key=QUERYSECRET42&x=1 refused`, "QUERYSECRET42"},
		{`auth failed for PASSWORDxyz`, "PASSWORDxyz"},
	} {
		got := r.String(tc.in)
		if strings.Contains(got, tc.leak) || !strings.Contains(got, redact.Mask) {
			t.Errorf("%q -> %q", tc.in, got)
		}
	}
	// Short paths identify nothing and stay readable.
	if got := r.String("POST /in failed"); got != "POST /in failed" {
		t.Errorf("short path masked: %q", got)
	}
}
