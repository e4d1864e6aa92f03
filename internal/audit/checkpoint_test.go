package audit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

// fakeLog is an executor over an in-memory chain whose oldest entries
// retention may delete while a scan runs (between two pages).
type fakeLog struct {
	entries     []*audit.Entry
	checkpoints []*audit.Checkpoint
	midScan     func(l *fakeLog) // runs once, after the first entry is handed out
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (l *fakeLog) add(action audit.Action, msg string) *audit.Entry {
	e := &audit.Entry{Seq: int64(len(l.entries) + 1), At: t0, Actor: "system", Action: action, Message: msg}
	if n := len(l.entries); n > 0 {
		e.PrevHash = l.entries[n-1].Hash
	}
	e.Hash = audit.Hash(e.PrevHash, e)
	l.entries = append(l.entries, e)
	return e
}

// prune deletes every stored entry through seq and records the
// checkpoint, attested (or not) by a new entry.
func (l *fakeLog) prune(seq int64, attest bool) {
	var last *audit.Entry
	n := 0
	for _, e := range l.entries {
		if e.Seq <= seq && !e.At.IsZero() {
			last, n = e, n+1
			e.At = time.Time{} // deleted
		}
	}
	cp := &audit.Checkpoint{Seq: last.Seq, Hash: last.Hash, At: t0, Deleted: int64(n)}
	l.checkpoints = append(l.checkpoints, cp)
	if attest {
		l.add(audit.ActionPruned, audit.PrunedMessage(cp, n))
	}
}

func (l *fakeLog) AuditCheckpointGet(context.Context) (*audit.Checkpoint, error) {
	if len(l.checkpoints) == 0 {
		return nil, nil
	}
	return l.checkpoints[len(l.checkpoints)-1], nil
}

func (l *fakeLog) AuditScan(ctx context.Context, after int64, fn func(*audit.Entry) error) error {
	for i := 0; i < len(l.entries); i++ {
		e := l.entries[i]
		if e.Seq <= after || e.At.IsZero() {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
		if l.midScan != nil {
			l.midScan(l)
			l.midScan = nil
		}
	}
	return nil
}

func chain(n int) *fakeLog {
	l := &fakeLog{}
	for i := 0; i < n; i++ {
		l.add(audit.ActionState, "")
	}
	return l
}

func TestVerifyFromCheckpoint(t *testing.T) {
	t.Parallel()
	l := chain(10)
	l.prune(4, true)
	rep, err := audit.Verify(context.Background(), l)
	if err != nil || rep.From != 4 || rep.Entries != 7 || rep.LastSeq != 11 {
		t.Fatalf("%+v %v, want from 4, entries 5..11", rep, err)
	}
}

func TestVerifyFollowsACheckpointMovedMidScan(t *testing.T) {
	t.Parallel()
	l := chain(10)
	l.prune(2, true)
	// The scan hands out seq 3; then retention deletes 4..7.
	l.midScan = func(l *fakeLog) { l.prune(7, true) }
	rep, err := audit.Verify(context.Background(), l)
	if err != nil || rep.From != 7 {
		t.Fatalf("%+v %v, want verified from the new checkpoint 7", rep, err)
	}
}

func TestVerifyRejectsGapsAndUnattestedCheckpoints(t *testing.T) {
	t.Parallel()
	l := chain(10)
	l.prune(2, true)
	l.entries[5].At = time.Time{} // seq 6 deleted by hand
	_, err := audit.Verify(context.Background(), l)
	var be *audit.BrokenError
	if !errors.As(err, &be) || be.Seq != 7 {
		t.Fatalf("gap: %v, want broken at 7", err)
	}

	l = chain(10)
	l.prune(5, false) // a checkpoint nobody attests
	_, err = audit.Verify(context.Background(), l)
	if !errors.As(err, &be) || be.Seq != 6 {
		t.Fatalf("unattested checkpoint: %v, want broken at 6", err)
	}

	// Rows deleted by hand, and a checkpoint written to cover them,
	// copying an older attestation's wording does not help: the
	// attestation names seq and hash.
	l = chain(10)
	l.prune(2, true)
	l.prune(6, false)
	if _, err := audit.Verify(context.Background(), l); !errors.As(err, &be) {
		t.Fatalf("covered deletion: %v, want broken", err)
	}
}

func TestCheckLink(t *testing.T) {
	t.Parallel()
	l := chain(3)
	if err := audit.CheckLink(1, l.entries[0].Hash, l.entries[1]); err != nil {
		t.Fatal(err)
	}
	e := *l.entries[1]
	e.Message = "edited"
	if err := audit.CheckLink(1, l.entries[0].Hash, &e); err == nil {
		t.Fatal("a modified entry passed")
	}
	if err := audit.CheckLink(1, l.entries[0].Hash, l.entries[2]); err == nil {
		t.Fatal("a gap passed")
	}
}

// keyedChain is chain(n) hashed with k.
func keyedChain(n int, k []byte) *fakeLog {
	l := &fakeLog{}
	for i := 0; i < n; i++ {
		e := &audit.Entry{Seq: int64(i + 1), At: t0, Actor: "system", Action: audit.ActionState, Message: fmt.Sprint(i)}
		if i > 0 {
			e.PrevHash = l.entries[i-1].Hash
		}
		e.Hash = audit.HashWith(k, e.PrevHash, e)
		l.entries = append(l.entries, e)
	}
	return l
}

// rechain rewrites entry seq's message and re-chains every entry from it
// on, with key k (nil: plain), as someone with database access would.
func (l *fakeLog) rechain(seq int64, k []byte) {
	for i := seq - 1; i < int64(len(l.entries)); i++ {
		e := l.entries[i]
		if e.Seq == seq {
			e.Message = "rewritten"
		}
		if i > 0 {
			e.PrevHash = l.entries[i-1].Hash
		}
		e.Hash = audit.HashWith(k, e.PrevHash, e)
	}
}

// TestKeyedChainCatchesARechainedRewrite is issue 9 item 15: rewriting a
// row and re-chaining the rows after it passes a plain chain, and is
// caught by a keyed one, whether the forger re-chains with plain hashes or
// with a key of their own.
func TestKeyedChainCatchesARechainedRewrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := []byte("the operator's key, kept outside the database")

	plain := keyedChain(300, nil)
	plain.rechain(149, nil)
	if rep, err := audit.VerifyWith(ctx, plain, nil); err != nil || rep.Keyed {
		t.Fatalf("plain chain: %+v %v (a plain chain cannot tell, and must say it is plain)", rep, err)
	}

	good := keyedChain(300, key)
	rep, err := audit.VerifyWith(ctx, good, key)
	if err != nil || !rep.Keyed || rep.KeyedFrom != 1 || rep.Entries != 300 {
		t.Fatalf("keyed chain: %+v %v", rep, err)
	}
	var be *audit.BrokenError
	for name, forgery := range map[string][]byte{"plain": nil, "another key": []byte("guessed")} {
		l := keyedChain(300, key)
		l.rechain(149, forgery)
		_, err := audit.VerifyWith(ctx, l, key)
		if !errors.As(err, &be) || be.Seq != 149 {
			t.Errorf("re-chained with %s: %v, want broken at 149", name, err)
		}
	}
	if _, err := audit.VerifyWith(ctx, good, nil); !errors.As(err, &be) || be.Seq != 1 {
		t.Errorf("keyed chain without the key: %v, want a broken error naming the key", err)
	}
}
