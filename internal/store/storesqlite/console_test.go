package storesqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

func TestConsoleConformance(t *testing.T) {
	storetest.ExerciseConsole(t, func(t *testing.T) store.Driver {
		d, err := storesqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	})
}
