package notion

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

func TestShareRateConn(t *testing.T) {
	t.Parallel()
	c, err := connector.New("notion", connector.Params{Name: "share", Options: map[string]any{"token": "secret_t0k3n", "database_id": "0123456789abcdef0123456789abcdef", "key_property": "Email", "rate_per_second": 3}, AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	defer connector.Close(context.Background(), c)
	conn := c.(*Conn)
	var _ connector.RateSharer = conn
	conn.ShareRate(4)
	if n, every := conn.limit.Free(), conn.limit.Every(); n != 1 || every != 4*time.Second/3 {
		t.Fatalf("3/s shared by 4: %d slot every %v, want 1 every 1.333s", n, every)
	}
	conn.ShareRate(1)
	if n, every := conn.limit.Free(), conn.limit.Every(); n != 3 || every != time.Second {
		t.Fatalf("alone: %d every %v, want 3 every 1s", n, every)
	}
}
