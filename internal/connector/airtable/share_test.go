package airtable

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
	c, err := connector.New("airtable", "share", map[string]any{"token": "t0k3n", "base_id": "appShareRateTest01", "table": "tblContacts000001", "key_field": "Email", "rate_per_second": 8})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := c.(*Conn)
	var _ connector.RateSharer = conn
	conn.ShareRate(4)
	if n := free(conn.win); n != 2 {
		t.Fatalf("8/s shared by 4: %d per second, want 2", n)
	}
	conn.ShareRate(1)
	if n := free(conn.win); n != 8 {
		t.Fatalf("alone: %d per second, want 8", n)
	}
}
