package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestPlatformSourceValidation: every misuse of sources.X.platform is
// named with its field path (golden file testdata/platform.golden).
func TestPlatformSourceValidation(t *testing.T) {
	bad := `
sources:
  h1:
    platform: {kind: hubspot, url: "ftp://x", interval: 5s}
  h2:
    signature: {scheme: hmac-sha256, secrets: [abcdefgh12]}
    allow_unsigned: true
    platform: {kind: hubspot, secrets: [short], destination: at}
  a1:
    platform: {kind: airtable, secrets: ["not base64"]}
  n1:
    poll: {destination: nt}
    platform: {kind: notion, destination: ghost}
  z1:
    platform: {kind: zapier}
entities:
  e: {key: id}
flows:
  f1: {source: h1, entity: e, routes: {r: {destination: at}}}
destinations:
  at: {type: airtable}
  nt: {type: notion}
`
	c, err := Parse([]byte(bad), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	var got strings.Builder
	for _, e := range es {
		if strings.HasPrefix(e.Path, "sources.") {
			got.WriteString(e.Error() + "\n")
		}
	}
	golden := "testdata/platform.golden"
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.WriteFile(golden, []byte(got.String()), 0o644)
	}
	want, _ := os.ReadFile(golden)
	if got.String() != string(want) {
		t.Fatalf("validation errors changed:\n%s\nwant:\n%s", got.String(), want)
	}
}

func TestPlatformSourceValidAndWarned(t *testing.T) {
	good := `
sources:
  crm: {platform: {kind: hubspot, secrets: ["${HS_SECRET}"], url: "https://sluice.example.com/v1/sources/crm/events"}}
  chat: {platform: {kind: slack, secrets: [slack-signing-secret]}}
  pages: {platform: {kind: notion, secrets: ["${NOTION_TOKEN:-}"], destination: nt}}
  base: {platform: {kind: airtable, secrets: ["YWlydGFibGUtbWFjLXNlY3JldC0wMTIz"], destination: at, webhook_id: achX}}
entities:
  e: {key: id}
flows:
  f1: {source: crm, entity: e, routes: {r: {destination: at}}}
  f2: {source: chat, entity: e, routes: {r: {destination: at}}}
  f3: {source: pages, entity: e, routes: {r: {destination: at}}}
  f4: {source: base, entity: e, routes: {r: {destination: at}}}
destinations:
  at: {type: airtable}
  nt: {type: notion}
`
	c, err := Parse([]byte(good), env(map[string]string{"HS_SECRET": "hubspot-client-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ws := c.Warnings()
	if len(ws) != 1 || ws[0].Path != "sources.pages.platform.secrets" || !strings.Contains(ws[0].Message, "NOT YET VERIFIED") {
		t.Fatalf("warnings = %v", ws)
	}
}
