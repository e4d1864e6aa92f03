package storetest

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

// exercisePollIdentity checks the identity stored with a poll cursor: none
// without a row, "" on a row the cursor's own put created, kept by later
// cursor puts, and a reset that forgets the position in the same write.
func exercisePollIdentity(t *testing.T, open Opener) {
	d := open(t)
	ex := d.Executor()
	if _, err := ex.PollCursorIdentityGet(ctx(t), "p"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no row: %v", err)
	}
	inTx(t, d, func(tx store.ExecutorTx) error { return tx.PollCursorPut(ctx(t), "p", `{"at":1}`, t0) })
	check := func(wantCursor, wantIdentity string) {
		t.Helper()
		c, err := ex.PollCursorGet(ctx(t), "p")
		if err != nil || c != wantCursor {
			t.Fatalf("cursor %q %v, want %q", c, err, wantCursor)
		}
		id, err := ex.PollCursorIdentityGet(ctx(t), "p")
		if err != nil || id != wantIdentity {
			t.Fatalf("identity %q %v, want %q", id, err, wantIdentity)
		}
	}
	check(`{"at":1}`, "") // a row from before identities: unknown
	inTx(t, d, func(tx store.ExecutorTx) error {
		return tx.PollCursorIdentityPut(ctx(t), &store.PollCursorIdentityPutParams{Source: "p", Identity: "poll of x a", Now: t0})
	})
	check(`{"at":1}`, "poll of x a")
	inTx(t, d, func(tx store.ExecutorTx) error { return tx.PollCursorPut(ctx(t), "p", `{"at":2}`, t0) })
	check(`{"at":2}`, "poll of x a")
	inTx(t, d, func(tx store.ExecutorTx) error {
		return tx.PollCursorIdentityPut(ctx(t), &store.PollCursorIdentityPutParams{Source: "p", Identity: "poll of x b", Reset: true, Now: t0})
	})
	check("", "poll of x b")
	// A source with no row yet gets one, with no position.
	inTx(t, d, func(tx store.ExecutorTx) error {
		return tx.PollCursorIdentityPut(ctx(t), &store.PollCursorIdentityPutParams{Source: "q", Identity: "webhook w of y c", Now: t0})
	})
	if id, err := ex.PollCursorIdentityGet(ctx(t), "q"); err != nil || id != "webhook w of y c" {
		t.Fatalf("new row: %q %v", id, err)
	}
	if c, err := ex.PollCursorGet(ctx(t), "q"); err != nil || c != "" {
		t.Fatalf("new row's cursor: %q %v", c, err)
	}
}
