package server_test

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
)

// TestCheckNamesDestinationsNeedingPrivateNetwork: `sluice check` refuses a
// destination or alert channel whose URL points at loopback or a private
// address without allow_private_network, and names it; metadata addresses
// are refused even with the option.
func TestCheckNamesDestinationsNeedingPrivateNetwork(t *testing.T) {
	t.Parallel()
	const yaml = `
sources: {s: {allow_unsigned: true}}
entities: {e: {key: k}}
flows: {f: {source: s, entity: e, normalize: {fields: {k: {from: k}}}, routes: {r: {destination: crm}, r2: {destination: meta}, r3: {destination: ok}, r4: {destination: lan}}}}
destinations:
  crm: {type: http, options: {url: "http://127.0.0.1:9000/in"}}
  lan: {type: http, options: {url: "http://0x0a000005/in"}}
  meta: {type: http, allow_private_network: true, options: {url: "http://169.254.169.254/latest"}}
  ok: {type: http, allow_private_network: true, options: {url: "http://localhost:9000/in"}}
alerts:
  channels:
    - {type: webhook, name: ops, url: "http://192.168.1.20/hook", secret: "a-long-enough-secret-value"}
`
	c, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	err = server.Check(c)
	if err == nil {
		t.Fatal("check passed")
	}
	msg := err.Error()
	for _, want := range []string{
		"destinations.crm.options.url: destination crm: refusing to connect to 127.0.0.1 (loopback); set allow_private_network: true",
		"destinations.lan.options.url: destination lan: refusing to connect to 10.0.0.5 (resolved from 0x0a000005) (private network); set allow_private_network: true",
		"destinations.meta.options.url: destination meta: refusing to connect to 169.254.169.254 (cloud metadata address); never allowed",
		"alerts.channels[0]: alert channel ops: refusing to connect to 192.168.1.20 (private network); set allow_private_network: true",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "destinations.ok") {
		t.Errorf("destination ok allows private networks:\n%s", msg)
	}
}
