package hubspot

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

func TestShareRateConn(t *testing.T) {
	t.Parallel()
	c, err := connector.New("hubspot", connector.Params{Name: "share", Options: map[string]any{"token": "t0k3n", "object": "contacts", "rate_per_10s": 100}, AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	defer connector.Close(context.Background(), c)
	conn := c.(*Conn)
	var _ connector.RateSharer = conn
	conn.ShareRate(4)
	if n, s := conn.writes.Free(), conn.searches.Free(); n != 25 || s != 1 {
		t.Fatalf("shared by 4: %d writes and %d searches per window, want 25 and 1", n, s)
	}
	if got := conn.searches.Every(); got != time.Second {
		t.Fatalf("search window %v, want 1s (4 per second by 4 is one each)", got)
	}
	conn.ShareRate(1)
	if n := conn.writes.Free(); n != 100 {
		t.Fatalf("alone: %d writes per window, want 100", n)
	}
}
