package connector

import (
	"context"
	"errors"
)

// Prober is implemented by connectors that can try their credentials and
// the destination's schema without writing anything: the connect step of
// the lifecycle (build, validate, connect, run, close), which `sluice
// check --connect` runs. Probe returns an *Error: Auth when the
// credentials are refused, Drift when the schema lacks what the options
// name (a property, a field, a column), Retryable when the platform could
// not be reached. What it returns is what it checked, for the report.
type Prober interface {
	Probe(ctx context.Context) (checked string, err error)
}

// ProbeKey is the record key Probe looks up on connectors without a
// Prober of their own: a key no record has.
const ProbeKey = "sluice-connect-probe-0000"

// ErrNotProbed says a connector has no way to try its destination without
// writing (an HTTP destination without lookup_url).
var ErrNotProbed = errors.New("cannot be tried without writing: nothing to read")

// Probe tries c's credentials and schema. A Prober probes itself; a Looker
// looks up ProbeKey, which reads through the same request, credentials
// and key field (property, column) as the lookups before every ambiguous
// retry, so a wrong token or a key field the destination lacks shows here
// rather than on the first delivery. Anything else is ErrNotProbed.
func Probe(ctx context.Context, c Connector) (string, error) {
	if p, ok := c.(Prober); ok {
		return p.Probe(ctx)
	}
	if l, ok := c.(Looker); ok {
		if _, _, _, err := l.Lookup(ctx, ProbeKey); err != nil {
			return "", err
		}
		return "credentials and key field (lookup by key)", nil
	}
	return "", ErrNotProbed
}
