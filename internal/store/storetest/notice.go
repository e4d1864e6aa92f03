package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// exerciseNotices checks the notice queue: a platform's retry (same
// source and key) is not stored twice, due notices come earliest first,
// updates round-trip every mutable field, and pruning takes only done
// notices older than the cutoff.
func exerciseNotices(t *testing.T, open Opener) {
	d := open(t)
	ex := d.Executor()
	notice := func(id, source, key string, next time.Time) *store.HookNotice {
		return &store.HookNotice{ID: id, Source: source, Platform: "notion", Key: key, Type: "page.properties_updated", Object: "page",
			RecordID: "page-" + id, OccurredAt: t0, State: store.NoticePending, NextAt: next, CreatedAt: t0, UpdatedAt: t0}
	}
	if next, err := ex.HookNoticeNextDue(ctx(t)); err != nil || !next.IsZero() {
		t.Fatalf("empty queue: next due %v, %v", next, err)
	}
	if b, err := ex.HookNoticeBacklog(ctx(t)); err != nil || b.Pending != 0 || b.Escalated != 0 || !b.Oldest.IsZero() {
		t.Fatalf("empty queue: backlog %+v, %v", b, err)
	}
	add := func(n *store.HookNotice) (string, bool) {
		t.Helper()
		var existing string
		var inserted bool
		inTx(t, d, func(tx store.ExecutorTx) error {
			var err error
			existing, inserted, err = tx.HookNoticeAdd(ctx(t), n)
			return err
		})
		return existing, inserted
	}
	if _, ok := add(notice("n1", "pages", "notion:ev1", t0.Add(2*time.Second))); !ok {
		t.Fatal("first notice not inserted")
	}
	if _, ok := add(notice("n2", "pages", "notion:ev2", t0)); !ok {
		t.Fatal("second notice not inserted")
	}
	if _, ok := add(notice("n3", "other", "notion:ev1", t0.Add(time.Hour))); !ok {
		t.Fatal("the same key on another source is another notice")
	}
	existing, ok := add(notice("n4", "pages", "notion:ev1", t0))
	if ok || existing != "n1" {
		t.Fatalf("retry of ev1: inserted=%v existing=%q, want the stored n1", ok, existing)
	}
	if _, err := ex.HookNoticeGet(ctx(t), "n4"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the retry was stored: %v", err)
	}
	due, err := ex.HookNoticeListDue(ctx(t), t0.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].ID != "n2" || due[1].ID != "n1" {
		t.Fatalf("due at t0+1m: %v, want n2, n1", noticeIDs(due))
	}
	if next, err := ex.HookNoticeNextDue(ctx(t)); err != nil || !next.Equal(t0) {
		t.Fatalf("next due %v, %v; want %v", next, err, t0)
	}
	got := due[1]
	if got.Source != "pages" || got.Key != "notion:ev1" || got.RecordID != "page-n1" || got.Object != "page" || !got.OccurredAt.Equal(t0) ||
		got.State != store.NoticePending || !got.EscalatedAt.IsZero() {
		t.Fatalf("read back %+v", got)
	}
	got.Attempts, got.LastError, got.NextAt, got.EscalatedAt, got.UpdatedAt = 3, "notion answered 502", t0.Add(time.Hour), t0.Add(time.Minute), t0.Add(time.Minute)
	inTx(t, d, func(tx store.ExecutorTx) error {
		if err := tx.HookNoticeUpdate(ctx(t), got); err != nil {
			return err
		}
		// Read inside the transaction: the gate re-reads what it changes.
		in, err := tx.HookNoticeGet(ctx(t), "n1")
		if err != nil {
			return err
		}
		if in.Attempts != 3 {
			t.Errorf("read inside the transaction: attempts %d, want 3", in.Attempts)
		}
		return nil
	})
	back, err := ex.HookNoticeGet(ctx(t), "n1")
	if err != nil {
		t.Fatal(err)
	}
	if back.Attempts != 3 || back.LastError != "notion answered 502" || !back.NextAt.Equal(t0.Add(time.Hour)) || !back.EscalatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("update round trip: %+v", back)
	}
	if due, _ := ex.HookNoticeListDue(ctx(t), t0.Add(time.Minute), 10); len(due) != 1 || due[0].ID != "n2" {
		t.Fatalf("after backing n1 off: due %v, want n2", noticeIDs(due))
	}
	n2, _ := ex.HookNoticeGet(ctx(t), "n2")
	n2.State, n2.UpdatedAt = store.NoticeDone, t0.Add(time.Minute)
	inTx(t, d, func(tx store.ExecutorTx) error { return tx.HookNoticeUpdate(ctx(t), n2) })
	if b, err := ex.HookNoticeBacklog(ctx(t)); err != nil || b.Pending != 2 || b.Escalated != 1 || !b.Oldest.Equal(t0) {
		t.Fatalf("backlog with n1 (escalated) and n3 pending: %+v, %v", b, err)
	}
	if due, _ := ex.HookNoticeListDue(ctx(t), t0.Add(24*time.Hour), 10); len(due) != 2 || due[0].ID != "n1" || due[1].ID != "n3" {
		t.Fatalf("a done notice is never due: %v", noticeIDs(due))
	}
	if _, ok := add(notice("n5", "pages", "notion:ev2", t0)); ok {
		t.Fatal("a retry of a done notice was stored again")
	}
	inTx(t, d, func(tx store.ExecutorTx) error {
		err := tx.HookNoticeUpdate(ctx(t), &store.HookNotice{ID: "missing", State: store.NoticeDone, UpdatedAt: t0})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of a missing notice: %v, want ErrNotFound", err)
		}
		return nil
	})
	if all, err := ex.HookNoticeList(ctx(t), &store.HookNoticeListParams{Source: "pages"}); err != nil || len(all) != 2 {
		t.Fatalf("list of pages: %v %v, want n1 and n2", noticeIDs(all), err)
	}
	if pending, err := ex.HookNoticeList(ctx(t), &store.HookNoticeListParams{Source: "pages", State: store.NoticePending}); err != nil ||
		len(pending) != 1 || pending[0].ID != "n1" || pending[0].LastError != "notion answered 502" {
		t.Fatalf("pending of pages: %v %v, want n1", noticeIDs(pending), err)
	}
	var pruned int
	inTx(t, d, func(tx store.ExecutorTx) error {
		var err error
		pruned, err = tx.HookNoticePrune(ctx(t), t0.Add(time.Minute), 10) // n2 changed at exactly the cutoff: kept
		return err
	})
	if pruned != 0 {
		t.Fatalf("pruned %d notices changed at the cutoff", pruned)
	}
	inTx(t, d, func(tx store.ExecutorTx) error {
		var err error
		pruned, err = tx.HookNoticePrune(ctx(t), t0.Add(2*time.Minute), 10)
		return err
	})
	if pruned != 1 {
		t.Fatalf("pruned %d, want the one done notice", pruned)
	}
	if _, err := ex.HookNoticeGet(ctx(t), "n2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("done notice still there: %v", err)
	}
	if _, err := ex.HookNoticeGet(ctx(t), "n1"); err != nil {
		t.Fatalf("pending notice pruned: %v", err)
	}
}

func noticeIDs(ns []*store.HookNotice) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}
