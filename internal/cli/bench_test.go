package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/cli"
)

// TestBenchSmall runs `sluice bench` small, with the liveness faults, and
// checks the report names every figure (the figures themselves are the
// machine's business, not the test's).
func TestBenchSmall(t *testing.T) {
	var out, errOut bytes.Buffer
	env := &cli.Env{Out: &out, Err: &errOut, Getenv: func(string) string { return "" }}
	code := cli.Main(context.Background(), env, []string{"bench", "-n", "200", "-c", "8", "--sink-faults", "429=0.05,500=0.05"})
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"ingest:", "end-to-end:", "ack latency:", "delivery:", "sink requests:", "200 sent, 0 refused"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if code := cli.Main(context.Background(), env, []string{"bench", "--sink-faults", "429"}); code == 0 {
		t.Error("bad --sink-faults accepted")
	}
}
