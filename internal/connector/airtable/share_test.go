package airtable

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
)

func TestShareRateConn(t *testing.T) {
	t.Parallel()
	c, err := connector.New("airtable", connector.Params{Name: "share", Options: map[string]any{"token": "t0k3n", "base_id": "appShareRateTest01", "table": "tblContacts000001", "key_field": "Email", "rate_per_second": 8}, AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	defer connector.Close(context.Background(), c)
	conn := c.(*Conn)
	var _ connector.RateSharer = conn
	conn.ShareRate(4)
	if n := conn.win.Free(); n != 2 {
		t.Fatalf("8/s shared by 4: %d per second, want 2", n)
	}
	conn.ShareRate(1)
	if n := conn.win.Free(); n != 8 {
		t.Fatalf("alone: %d per second, want 8", n)
	}
}
