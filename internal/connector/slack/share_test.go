package slack

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

func TestShareRateConn(t *testing.T) {
	t.Parallel()
	c, err := connector.New("slack", connector.Params{Name: "share", Options: map[string]any{"token": "xoxb-t0k3n", "channel": "C0123456789", "text": "hi {{.email}}", "rate_per_second": 1}, AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	defer connector.Close(context.Background(), c)
	conn := c.(*Conn)
	var _ connector.RateSharer = conn
	conn.ShareRate(4)
	if n, every := conn.posts.Free(), conn.posts.Every(); n != 1 || every != 4*time.Second {
		t.Fatalf("1 post/s shared by 4: %d every %v, want 1 every 4s", n, every)
	}
	if n := conn.history.Free(); n != DefaultHistoryPerMinute/4 {
		t.Fatalf("history shared by 4: %d, want %d", n, DefaultHistoryPerMinute/4)
	}
	conn.ShareRate(1)
	if every := conn.posts.Every(); every != time.Second {
		t.Fatalf("alone: a post every %v, want 1s", every)
	}
}
