package sheets_test

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
	sheetssim "github.com/sluicehq/sluice/internal/sim/sheets"
)

func TestFeedReadsRowsByKey(t *testing.T) {
	e := setup(t, sheetssim.Options{}, nil)
	for i := range 5 {
		e.deliver(lead(fmt.Sprintf("r%d@x.co", 4-i), map[string]any{"name": fmt.Sprintf("R%d", i)}))
	}
	f, err := e.conn.OpenFeed(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	since := connector.Position{}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("feed does not end")
		}
		page, err := f.Changes(ctx(t), since, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.Changes {
			got = append(got, ch.RecordID)
			if ch.Fields["email"] != ch.RecordID || ch.Fields["name"] == nil {
				t.Fatalf("fields = %v", ch.Fields)
			}
		}
		if !page.More {
			break
		}
		since = connector.PositionOf(page.Changes[len(page.Changes)-1])
	}
	if fmt.Sprint(got) != "[r0@x.co r1@x.co r2@x.co r3@x.co r4@x.co]" {
		t.Fatalf("rows = %v", got)
	}
	if _, err := e.conn.OpenFeed(map[string]any{"range": "A:C"}); err == nil {
		t.Fatal("unknown feed option accepted")
	}
}
