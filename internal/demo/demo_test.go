package demo

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestDemoOnce(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), Options{Listen: "127.0.0.1:0", Dir: t.TempDir(), Once: true, Out: &out, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{"Every event ended where it should.", "no duplicates: true", "Audit chain: ok=true"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
