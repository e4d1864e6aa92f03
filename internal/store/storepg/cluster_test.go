package storepg_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
)

// named opens a driver whose sessions carry application_name app, so a
// test can end them from outside with pg_terminate_backend, as a crash or
// a network failure would.
func named(t *testing.T, dsn, app string) *storepg.Driver {
	t.Helper()
	return open(t, withParams(t, dsn, map[string]string{"application_name": app}), 2)
}

func appName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// terminate ends every session of app and returns how many it ended.
func terminate(t *testing.T, app string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func within(t *testing.T, c <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(d):
		t.Fatalf("%s: nothing within %v", what, d)
	}
}

func quiet(t *testing.T, c <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-c:
		t.Fatalf("%s: unexpected", what)
	case <-time.After(d):
	}
}

func TestNotifyListen(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	app := appName("listen")
	listener, sender := named(t, dsn, app), open(t, dsn, 2)
	other := open(t, freshSchema(t), 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	wake, err := listener.Listen(ctx, "work")
	if err != nil {
		t.Fatal(err)
	}
	otherWake, err := other.Listen(ctx, "work")
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Notify(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	within(t, wake, 3*time.Second, "wake-up after notify")
	quiet(t, otherWake, 300*time.Millisecond, "wake-up in another schema")

	// Many notifications while nobody reads coalesce into at most two
	// wake-ups (one pending, one being delivered).
	for i := 0; i < 20; i++ {
		if err := sender.Notify(ctx, "work"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	got := 0
	for done := false; !done; {
		select {
		case <-wake:
			got++
		case <-time.After(300 * time.Millisecond):
			done = true
		}
	}
	if got < 1 || got > 2 {
		t.Fatalf("20 notifications gave %d wake-ups, want 1 or 2", got)
	}

	// The listening session dies: the listener reconnects, wakes once for
	// what it may have missed, and hears later notifications.
	if n := terminate(t, app); n < 1 {
		t.Fatalf("terminated %d sessions of %s", n, app)
	}
	within(t, wake, 5*time.Second, "wake-up after reconnecting")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := sender.Notify(ctx, "work"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
		case <-time.After(200 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("no wake-up after reconnection")
			}
			continue
		}
		break
	}

	cancel()
	deadline = time.Now().Add(5 * time.Second)
	for range wake {
		if time.Now().After(deadline) {
			t.Fatal("wake channel not closed after ctx ended")
		}
	}
}

func TestLead(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	appA, appB := appName("leada"), appName("leadb")
	a, b := named(t, dsn, appA), named(t, dsn, appB)
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()

	lostA, err := a.Lead(ctxA, "maintenance")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		lost <-chan struct{}
		err  error
	}
	gotB := make(chan result, 1)
	go func() {
		lost, err := b.Lead(ctxB, "maintenance")
		gotB <- result{lost, err}
	}()
	select {
	case r := <-gotB:
		t.Fatalf("b leads while a holds the leadership: %v", r.err)
	case <-time.After(1500 * time.Millisecond):
	}
	// Another name is another leadership.
	octx, ocancel := context.WithTimeout(context.Background(), 5*time.Second)
	if _, err := b.Lead(octx, "other"); err != nil {
		t.Fatalf("lead of another name: %v", err)
	}
	ocancel()

	// a's session dies (as when its process is killed): a learns it lost,
	// and b takes over within seconds.
	if n := terminate(t, appA); n < 1 {
		t.Fatalf("terminated %d sessions of %s", n, appA)
	}
	within(t, lostA, 5*time.Second, "a notices its lost leadership")
	var r result
	select {
	case r = <-gotB:
	case <-time.After(5 * time.Second):
		t.Fatal("b did not take over")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	quiet(t, r.lost, 200*time.Millisecond, "b's leadership lost")

	// a stands again and waits; b steps down cleanly; a leads.
	gotA := make(chan result, 1)
	go func() {
		lost, err := a.Lead(ctxA, "maintenance")
		gotA <- result{lost, err}
	}()
	time.Sleep(700 * time.Millisecond)
	cancelB()
	within(t, r.lost, 5*time.Second, "b's lost after its ctx ended")
	select {
	case r = <-gotA:
		if r.err != nil {
			t.Fatal(r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a did not take over after b stepped down")
	}

	// Lead returns ctx's error when ctx ends first.
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := b.Lead(c, "maintenance"); err == nil {
		t.Fatal("lead returned without the leadership and without an error")
	}
}

func TestInstances(t *testing.T) {
	t.Parallel()
	d := open(t, freshSchema(t), 2)
	ctx := context.Background()
	beat := func(id string, ttl time.Duration) int {
		t.Helper()
		n, err := d.InstanceBeat(ctx, &store.InstanceBeatParams{ID: id, Info: "test", TTL: ttl, Forget: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := beat("a", 3*time.Second); n != 1 {
		t.Fatalf("alone: %d", n)
	}
	if n := beat("b", 3*time.Second); n != 2 {
		t.Fatalf("two: %d", n)
	}
	if n := beat("c", 3*time.Second); n != 3 {
		t.Fatalf("three: %d", n)
	}
	if err := d.InstanceLeave(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if n := beat("a", 3*time.Second); n != 2 {
		t.Fatalf("after c left: %d", n)
	}
	time.Sleep(600 * time.Millisecond)
	// b has not beaten for 600ms: with a 500ms TTL it is dead; a counts
	// itself even if its own row were older.
	if n := beat("a", 500*time.Millisecond); n != 1 {
		t.Fatalf("after b went silent: %d", n)
	}
}
