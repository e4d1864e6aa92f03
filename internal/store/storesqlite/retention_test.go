package storesqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

func TestSchemaVersion(t *testing.T) {
	d, err := storesqlite.Open(context.Background(), filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v, n, err := d.SchemaVersion(context.Background())
	if err != nil || v < "0006_scaleout" || n < 6 {
		t.Fatalf("schema version %q (%d applied), %v; want at least 0006_scaleout", v, n, err)
	}
}
