package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/redact"
)

// ConnectResult is the outcome of trying one destination (`sluice check
// --connect`).
type ConnectResult struct {
	Destination string `json:"destination"`
	Type        string `json:"type"`
	// Status is "ok", "failed" or "skipped".
	Status string `json:"status"`
	// Checked says what an ok probe tried; Message why a probe failed or
	// was skipped, with the error class (auth, drift, retryable) that a
	// delivery would have met. Secrets are redacted.
	Checked string `json:"checked,omitempty"`
	Message string `json:"message,omitempty"`
}

// Failed reports whether any destination failed its probe.
func Failed(rs []ConnectResult) bool {
	for _, r := range rs {
		if r.Status == "failed" {
			return true
		}
	}
	return false
}

// Connect runs the lifecycle's connect step for every destination of c,
// which must pass Check: it builds the connector, asks it to try its
// credentials and schema without writing (connector.Probe), and closes
// it. Destinations are tried concurrently, each bounded by timeout. A
// destination with a credential block is skipped: trying it would spend
// a single-use refresh token that the running server holds.
func Connect(ctx context.Context, c *config.Config, timeout time.Duration) []ConnectResult {
	red := secrets(c)
	names := sortedNames(c.Destinations)
	out := make([]ConnectResult, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		d := c.Destinations[name]
		out[i] = ConnectResult{Destination: name, Type: d.Type}
		if d.Credential != nil {
			out[i].Status, out[i].Message = "skipped", "has a credential block: trying it would refresh (and rotate) a token the server holds; `sluice credentials` shows its state"
			continue
		}
		wg.Add(1)
		go func(r *ConnectResult, d config.Destination) {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			checked, err := probe(pctx, r.Destination, d)
			switch {
			case errors.Is(err, connector.ErrNotProbed):
				r.Status, r.Message = "skipped", err.Error()
			case err != nil:
				r.Status, r.Message = "failed", redactAll(red, describeProbeError(err))
			default:
				r.Status, r.Checked = "ok", checked
			}
		}(&out[i], *d)
	}
	wg.Wait()
	return out
}

func probe(ctx context.Context, name string, d config.Destination) (string, error) {
	conn, err := connector.New(d.Type, connector.Params{Name: name, Options: d.Options, AllowPrivateNetwork: d.AllowPrivateNetwork})
	if err != nil {
		return "", err
	}
	defer closeAll([]connector.Connector{conn})
	return connector.Probe(ctx, conn)
}

// describeProbeError says what a failed probe means for deliveries.
func describeProbeError(err error) string {
	var ce *connector.Error
	if !errors.As(err, &ce) {
		return err.Error()
	}
	what := map[connector.Class]string{
		connector.Auth:      "credentials refused",
		connector.Drift:     "schema mismatch",
		connector.Retryable: "unreachable or failing",
		connector.Permanent: "refused",
		connector.Conflict:  "refused",
	}[ce.Class]
	return fmt.Sprintf("%s: %s", what, ce.Error())
}

func redactAll(secrets []string, s string) string {
	return redact.New(secrets...).String(s)
}
