package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryDoesNotLinkTesting fails when package testing (or a test
// helper that imports it) becomes a dependency of the sluice binary:
// test helpers belong in *test packages (sim/simtest), not in the code
// that ships.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps listed only %d packages", len(deps))
	}
	for _, d := range deps {
		if d == "testing" || strings.HasPrefix(d, "testing/") || strings.HasSuffix(d, "test") && strings.Contains(d, "sluice/internal/") {
			t.Errorf("the sluice binary depends on %s", d)
		}
	}
}
