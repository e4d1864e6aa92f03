package sqldest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// TestFeedKeysetOrderAndTies reads a table's changes page by page in
// (updated, id) order on both databases: rows that share one stamp are
// split across pages by their ID and none is skipped or repeated, and a
// soft-deleted row is a delete change.
func TestFeedKeysetOrderAndTies(t *testing.T) {
	backends(t, func(t *testing.T, b *backend) {
		stampType := "TEXT"
		if b.driver == "postgres" {
			stampType = "TIMESTAMPTZ"
		}
		table := b.table(t, fmt.Sprintf(`id TEXT PRIMARY KEY, name TEXT, gone BOOLEAN NOT NULL DEFAULT false, changed %s`, stampType))
		base := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		stamp := func(sec int) any {
			if b.driver == "postgres" {
				return base.Add(time.Duration(sec) * time.Second)
			}
			return base.Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano)
		}
		// Five rows at one stamp, one later, one deleted later still.
		for i := range 5 {
			b.exec(t, fmt.Sprintf(`INSERT INTO %q (id, name, changed) VALUES (%s, %s, %s)`, table, b.ph(1), b.ph(2), b.ph(3)),
				fmt.Sprintf("r%d", i), fmt.Sprintf("R%d", i), stamp(1))
		}
		b.exec(t, fmt.Sprintf(`INSERT INTO %q (id, name, changed) VALUES ('r9', 'later', %s)`, table, b.ph(1)), stamp(2))
		b.exec(t, fmt.Sprintf(`INSERT INTO %q (id, name, gone, changed) VALUES ('r8', 'gone', true, %s)`, table, b.ph(1)), stamp(3))

		c := b.open(t, map[string]any{"table": table, "key_column": "id"})
		f, err := c.OpenFeed(map[string]any{"updated_column": "changed", "deleted_column": "gone"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		since := connector.Position{}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("feed does not end: %v", got)
			}
			page, err := f.Changes(ctx(t), since, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range page.Changes {
				tag := ch.RecordID
				if ch.Deleted {
					tag += "(deleted)"
				}
				got = append(got, tag)
				if !since.Before(connector.PositionOf(ch)) {
					t.Fatalf("change %s at %v is not after %v", ch.RecordID, ch.ModifiedAt, since)
				}
			}
			if !page.More {
				break
			}
			since = connector.PositionOf(page.Changes[len(page.Changes)-1])
		}
		want := "[r0 r1 r2 r3 r4 r9 r8(deleted)]"
		if fmt.Sprint(got) != want {
			t.Fatalf("changes = %v, want %s", got, want)
		}
		// From a stamp on, only later changes.
		page, err := f.Changes(ctx(t), connector.Position{At: base.Add(2 * time.Second)}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Changes) != 2 || page.Changes[0].RecordID != "r9" {
			t.Fatalf("changes from stamp 2 = %+v", page.Changes)
		}
		if _, err := c.OpenFeed(map[string]any{"updated_colum": "changed"}); err == nil {
			t.Fatal("unknown feed option accepted")
		}
		if _, err := c.OpenFeed(map[string]any{}); err == nil {
			t.Fatal("feed without updated_column accepted")
		}
	})
}
