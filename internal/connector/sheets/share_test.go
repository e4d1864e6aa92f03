package sheets

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
)

func TestShareRateConn(t *testing.T) {
	t.Parallel()
	c, err := connector.New("sheets", connector.Params{Name: "share", Options: map[string]any{"token": "ya29.t0k3n", "spreadsheet_id": "1AbCdEfGhIjKlMnOp", "sheet": "Leads", "key_column": "email", "writes_per_minute": 60, "reads_per_minute": 300}, AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	defer connector.Close(context.Background(), c)
	conn := c.(*Conn)
	var _ connector.RateSharer = conn
	conn.ShareRate(4)
	if w, r := conn.writes.Free(), conn.reads.Free(); w != 15 || r != 75 {
		t.Fatalf("shared by 4: %d writes and %d reads per minute, want 15 and 75", w, r)
	}
	conn.ShareRate(1)
	if w, r := conn.writes.Free(), conn.reads.Free(); w != 60 || r != 300 {
		t.Fatalf("alone: %d writes and %d reads per minute, want 60 and 300", w, r)
	}
}
