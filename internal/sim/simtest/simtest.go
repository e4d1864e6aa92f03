// Package simtest holds the test helpers of the platform simulators. It is
// apart from package sim so that package testing is never linked into the
// sluice binary (a test in cmd/sluice checks it).
package simtest

import (
	"net"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/internal/sim"
)

// Start serves h on a loopback port for the duration of the test.
func Start(tb testing.TB, h http.Handler) *sim.Running {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("sim: listen on loopback: %v", err)
	}
	r := sim.Serve(ln, h)
	tb.Cleanup(func() { _ = r.Close() })
	return r
}
