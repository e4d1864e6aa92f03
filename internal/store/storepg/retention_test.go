package storepg_test

import (
	"context"
	"testing"
)

func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	d := open(t, freshSchema(t), 2)
	v, n, err := d.SchemaVersion(context.Background())
	if err != nil || v < "0006_scaleout" || n < 6 {
		t.Fatalf("schema version %q (%d applied), %v; want at least 0006_scaleout", v, n, err)
	}
}
