package notion

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// takeAll takes every slot the window gives within a moment and releases
// them (they come back one interval later); it returns how many it got.
func takeAll(w *window) int {
	n := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := w.acquire(ctx)
		cancel()
		if err != nil {
			return n
		}
		n++
		defer w.release()
	}
}

// free counts the slots available now without using them.
func free(w *window) int {
	n := 0
	for {
		select {
		case <-w.slots:
			n++
			continue
		default:
		}
		break
	}
	for range n {
		w.slots <- struct{}{}
	}
	return n
}

func TestShareRateWindow(t *testing.T) {
	t.Parallel()
	w := newWindow(6, 150*time.Millisecond)
	w.shareRate(3)
	if n := takeAll(w); n != 2 {
		t.Fatalf("6 slots shared by 3: took %d, want 2", n)
	}
	time.Sleep(400 * time.Millisecond)
	if n := takeAll(w); n != 2 {
		t.Fatalf("after the interval: took %d, want 2 again", n)
	}
	w.shareRate(1) // the other instances died
	time.Sleep(400 * time.Millisecond)
	if n := takeAll(w); n != 6 {
		t.Fatalf("alone: took %d, want 6", n)
	}
}

func TestShareRateConn(t *testing.T) {
	t.Parallel()
	c, err := connector.New("notion", "share", map[string]any{"token": "secret_t0k3n", "database_id": "0123456789abcdef0123456789abcdef", "key_property": "Email", "rate_per_second": 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := c.(*Conn)
	var _ connector.RateSharer = conn
	conn.ShareRate(4)
	if n, every := free(conn.limit), conn.limit.every(); n != 1 || every != 4*time.Second/3 {
		t.Fatalf("3/s shared by 4: %d slot every %v, want 1 every 1.333s", n, every)
	}
	conn.ShareRate(1)
	if n, every := free(conn.limit), conn.limit.every(); n != 3 || every != time.Second {
		t.Fatalf("alone: %d every %v, want 3 every 1s", n, every)
	}
}
