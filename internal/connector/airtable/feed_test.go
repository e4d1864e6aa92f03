package airtable_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
)

func TestFeedReadsChangesByLastModifiedTime(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
	e := setup(t, airtablesim.Options{Now: clk.Now}, nil)
	for i := range 4 { // one millisecond: ties broken by record ID
		if _, err := e.conn.Deliver(ctx(t), contact(fmt.Sprintf("a%d@x.co", i), map[string]any{"Name": "A"})); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Second)
	if _, err := e.conn.Deliver(ctx(t), contact("b@x.co", map[string]any{"Name": "B"})); err != nil {
		t.Fatal(err)
	}
	f, err := e.conn.OpenFeed(map[string]any{"modified_field": "Last modified"})
	if err != nil {
		t.Fatal(err)
	}
	var got []connector.Change
	since := connector.Position{}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("feed does not end")
		}
		page, err := f.Changes(ctx(t), since, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Changes...)
		if !page.More {
			break
		}
		since = connector.PositionOf(page.Changes[len(page.Changes)-1])
	}
	if len(got) != 5 || got[4].Fields["Email"] != "b@x.co" {
		t.Fatalf("changes = %+v", got)
	}
	for i := 1; i < len(got); i++ {
		if !connector.PositionOf(got[i-1]).Before(connector.PositionOf(got[i])) {
			t.Fatalf("out of order at %d", i)
		}
	}
	// An edit of an older record comes after the last position.
	clk.Advance(time.Second)
	if _, err := e.conn.Deliver(ctx(t), contact("a0@x.co", map[string]any{"Name": "A edited"})); err != nil {
		t.Fatal(err)
	}
	page, err := f.Changes(ctx(t), connector.PositionOf(got[4]), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Changes) != 1 || page.Changes[0].Fields["Name"] != "A edited" {
		t.Fatalf("after the edit: %+v", page.Changes)
	}
	if _, err := e.conn.OpenFeed(nil); err == nil {
		t.Fatal("feed without modified_field accepted")
	}
}
