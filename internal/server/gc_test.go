package server_test

import (
	"runtime/debug"
	"testing"

	"github.com/sluicehq/sluice/internal/server"
)

// gcPercent reads the collector's target without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestTuneGCSetsTheTargetAndRestoresIt(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	before := gcPercent()
	restore := server.TuneGC()
	if got := gcPercent(); got != server.DefaultGCPercent {
		t.Errorf("target after TuneGC = %d, want %d", got, server.DefaultGCPercent)
	}
	restore()
	if got := gcPercent(); got != before {
		t.Errorf("target after restore = %d, want %d", got, before)
	}
}

func TestTuneGCLeavesTheOperatorsChoice(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("GOGC", "")
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv(env, map[string]string{"GOGC": "150", "GOMEMLIMIT": "512MiB"}[env])
			before := gcPercent()
			restore := server.TuneGC()
			defer restore()
			if got := gcPercent(); got != before {
				t.Errorf("%s set: target = %d, want it left at %d", env, got, before)
			}
		})
	}
}
