package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/server"
)

// counting is a connector type that counts how often it is built and
// closed, so the tests can see the lifecycle: built once, reused by a
// reload that keeps the destination, closed once.
var countingBuilt, countingClosed atomic.Int64

var countingSpec = connector.Spec{
	Kind: "counting", Title: "Counting", Doc: "Counts builds (tests only).",
	Options: []connector.Option{
		{Name: "label", Type: connector.String, Required: true, Doc: "Tells configs apart."},
		{Name: "api_key", Type: connector.String, Secret: true, Doc: "A secret."},
	},
}

type countingConn struct{ closed atomic.Bool }

func (c *countingConn) Deliver(_ context.Context, d connector.Delivery) (connector.Result, error) {
	return connector.Result{ExternalID: d.RecordKey, Status: 200}, nil
}
func (c *countingConn) Constraints() connector.Constraints { return connector.Constraints{} }
func (c *countingConn) Close(context.Context) error {
	if c.closed.Swap(true) {
		return errors.New("closed twice")
	}
	countingClosed.Add(1)
	return nil
}

func init() {
	connector.RegisterSpec(&countingSpec)
	connector.Register("counting", func(p connector.Params) (connector.Connector, error) {
		var o struct {
			Label  string `json:"label"`
			APIKey string `json:"api_key"`
		}
		if err := countingSpec.Decode(p, &o); err != nil {
			return nil, err
		}
		countingBuilt.Add(1)
		return &countingConn{}, nil
	})
}

const lifecycleConfig = `
listen: 127.0.0.1:0
store: %s
sources: {s: {allow_unsigned: true}}
entities: {e: {key: k}}
flows: {f: {source: s, entity: e, normalize: {fields: {k: {from: k}}}, routes: {r: {destination: keep}, r2: {destination: change}}}}
destinations:
  keep: {type: counting, options: {label: same}}
  change: {type: counting, options: {label: %s}}
delivery: {lease: 5s, poll_interval: 20ms}
`

// TestConnectorsBuiltOnce: server.New builds each destination's connector
// once (not once to check it and again to run it); a reload builds only
// the destination whose settings changed, keeps the other's connector,
// and closes the one it replaced; Close closes every connector once.
// (Not parallel: it reads package-wide counters.)
func TestConnectorsBuiltOnce(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "sluice.db")
	c, err := config.Parse([]byte(fmt.Sprintf(lifecycleConfig, db, "v1")), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	built0, closed0 := countingBuilt.Load(), countingClosed.Load()
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if n := countingBuilt.Load() - built0; n != 2 {
		t.Fatalf("server.New built %d connectors for 2 destinations", n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()

	c2, err := config.Parse([]byte(fmt.Sprintf(lifecycleConfig, db, "v2")), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	res := applyWhenReady(t, srv, c2)
	if strings.Join(res.Rebuilt, ",") != "change" {
		t.Fatalf("rebuilt %v, want [change]", res.Rebuilt)
	}
	if n := countingBuilt.Load() - built0; n != 3 {
		t.Fatalf("after a reload changing one destination: %d connectors built, want 3", n)
	}
	if n := countingClosed.Load() - closed0; n != 1 {
		t.Fatalf("after the reload: %d connectors closed, want 1 (the replaced one)", n)
	}
	// A reload of the same config builds nothing.
	if _, err := srv.Apply(context.Background(), c2, server.ReloadOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if n := countingBuilt.Load() - built0; n != 3 {
		t.Fatalf("after an unchanged reload: %d connectors built, want 3", n)
	}
	// A refused reload (an option problem) builds nothing and names the option.
	bad, err := config.Parse([]byte(strings.Replace(fmt.Sprintf(lifecycleConfig, db, "v3"), "label: same", "lable: same", 1)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	_, err = srv.Apply(context.Background(), bad, server.ReloadOptions{Actor: "test"})
	var re *server.ReloadError
	if !errors.As(err, &re) || re.Kind != "invalid_config" || !strings.Contains(err.Error(), "destinations.keep.options.lable: unknown option of type counting (did you mean label?)") {
		t.Fatalf("bad reload: %v", err)
	}
	if n := countingBuilt.Load() - built0; n != 3 {
		t.Fatalf("after a refused reload: %d connectors built, want 3", n)
	}
	cancel()
	<-done
	srv.Close()
	if n := countingClosed.Load() - closed0; n != 3 {
		t.Fatalf("after Close: %d connectors closed, want 3", n)
	}
}

func applyWhenReady(t *testing.T, srv *server.Server, c *config.Config) *server.ReloadResult {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := srv.Apply(context.Background(), c, server.ReloadOptions{Actor: "test"})
		var re *server.ReloadError
		if errors.As(err, &re) && re.Kind == "unavailable" && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // Run has not marked the server ready yet
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
}

// TestCheckOptionPaths: `sluice check` reports each option problem of each
// destination at its own field path, and never shows a secret option's
// value.
func TestCheckOptionPaths(t *testing.T) {
	t.Parallel()
	const yaml = `
sources:
  s: {allow_unsigned: true}
  p: {poll: {destination: crm2, options: {propertees: [firstname]}}}
entities: {e: {key: k}}
flows: {f: {source: s, entity: e, normalize: {fields: {k: {from: k}}}, routes: {r: {destination: crm}, r2: {destination: hook}, r3: {destination: db}}}}
destinations:
  crm2: {type: hubspot, options: {token: pat-na1-secret-0123456789, object: contacts}}
  crm: {type: hubspot, options: {token: pat-na1-secret-0123456789, object: tickets, rate_per_10s: fast, tokn: x}}
  hook: {type: http, options: {url: "https://example.com/in", timeout: soon, bearer_token: 12345678}}
  db: {type: sql, options: {driver: sqlite, table: t, key_column: k}}
`
	c, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	err = server.Check(c)
	var es config.Errors
	if !errors.As(err, &es) {
		t.Fatalf("check: %v", err)
	}
	got := map[string]string{}
	for _, e := range es {
		got[e.Path] = e.Message
	}
	want := map[string]string{
		"destinations.crm.options.object":        `"tickets" is not one of contacts, companies, deals`,
		"destinations.crm.options.rate_per_10s":  `want a whole number, got a string ("fast")`,
		"destinations.crm.options.tokn":          "unknown option of type hubspot (did you mean token?)",
		"destinations.hook.options.timeout":      `"soon" is not a duration such as "10s" or "1m30s"`,
		"destinations.hook.options.bearer_token": "want a string, got a number (the value)",
		"destinations.db.options.dsn":            "required (The connection string)",
		"sources.p.poll.options.propertees":      "unknown option",
	}
	for path, msg := range want {
		if got[path] != msg {
			t.Errorf("%s: %q, want %q", path, got[path], msg)
		}
	}
	if len(es) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(es), len(want), err)
	}
	if strings.Contains(err.Error(), "pat-na1-secret") || strings.Contains(err.Error(), "12345678") {
		t.Errorf("check shows a secret:\n%v", err)
	}
}
