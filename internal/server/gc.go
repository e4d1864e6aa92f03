package server

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent is the garbage collector's target a server runs with
// unless GOGC is set: the heap may grow to five times what is live before a
// collection. Sluice's live heap is small and does not grow with the queue
// (about 6 MiB, with a million deliveries queued), while every event
// allocates, so at Go's default of 100 a loaded server collected several
// times a second and the collector was most of the CPU intake and delivery
// spend outside the store. At 400 it collects a quarter as often for about
// 20 MiB more memory (docs/adr/0041-gc-target.md).
const DefaultGCPercent = 400

// TuneGC sets the collector's target to DefaultGCPercent unless the
// operator chose one with GOGC (or a memory limit with GOMEMLIMIT, which
// is theirs to balance against GOGC), and returns a func that restores the
// previous target. `sluice serve` and `sluice bench` call it; libraries
// and tests that embed a server keep the process's setting.
func TuneGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prev := debug.SetGCPercent(DefaultGCPercent)
	return func() { debug.SetGCPercent(prev) }
}
