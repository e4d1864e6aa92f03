package hubspot_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
)

// clock is a settable simulator clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// drain reads the feed page by page from since, as a poll does.
func drain(t *testing.T, f connector.Feed, since connector.Position, limit int) []connector.Change {
	t.Helper()
	var out []connector.Change
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatalf("feed does not end after %d changes", len(out))
		}
		page, err := f.Changes(ctx(t), since, limit)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Changes...)
		if !page.More {
			return out
		}
		since = connector.PositionOf(page.Changes[len(page.Changes)-1])
	}
}

func TestFeedReadsChangesInStampOrderAcrossTies(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
	e := setup(t, hubspotsim.Options{Now: clk.Now}, nil)
	// Five contacts written in one millisecond, then two later.
	for i := range 5 {
		if _, err := e.conn.Deliver(ctx(t), contact(fmt.Sprintf("tie%d@x.co", i), map[string]any{"firstname": "T"})); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Second)
	for _, k := range []string{"late1@x.co", "late2@x.co"} {
		if _, err := e.conn.Deliver(ctx(t), contact(k, map[string]any{"firstname": "L"})); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Millisecond)
	}
	f, err := e.conn.OpenFeed(map[string]any{"properties": []any{"firstname"}})
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, f, connector.Position{}, 2)
	if len(got) != 7 {
		t.Fatalf("changes = %d, want 7: %+v", len(got), got)
	}
	seen := map[string]bool{}
	for i, ch := range got {
		if seen[ch.RecordID] {
			t.Fatalf("record %s twice", ch.RecordID)
		}
		seen[ch.RecordID] = true
		if i > 0 && !connector.PositionOf(got[i-1]).Before(connector.PositionOf(ch)) {
			t.Fatalf("out of order at %d: %+v then %+v", i, got[i-1], ch)
		}
		if ch.Fields["firstname"] == nil || ch.Fields["email"] == nil {
			t.Fatalf("fields missing: %v", ch.Fields)
		}
	}
	if got[5].Fields["email"] != "late1@x.co" || got[6].Fields["email"] != "late2@x.co" {
		t.Fatalf("later records not last: %v %v", got[5].Fields, got[6].Fields)
	}
	// An update moves the record after everything else.
	clk.Add(time.Second)
	if _, err := e.conn.Deliver(ctx(t), contact("tie0@x.co", map[string]any{"firstname": "Updated"})); err != nil {
		t.Fatal(err)
	}
	after := drain(t, f, connector.PositionOf(got[6]), 10)
	if len(after) != 1 || after[0].Fields["firstname"] != "Updated" {
		t.Fatalf("after the update: %+v", after)
	}
	if _, err := e.conn.OpenFeed(map[string]any{"object": "deals"}); err == nil {
		t.Fatal("unknown feed option accepted")
	}
}
