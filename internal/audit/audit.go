// Package audit owns the integrity of the audit log: how an entry is hashed
// onto the chain, and how the whole chain is verified. Entries are written
// by the store in the same transaction as the state change they record; this
// package makes tampering with any stored row detectable.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// Hash computes the chain hash of e given the previous entry's hash. Every
// stored field takes part, so changing any of them breaks the chain at that
// row. Fields are length-prefixed so no two entries serialize alike.
func Hash(prev string, e *store.AuditEntry) string {
	h := sha256.New()
	var b strings.Builder
	field := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
		b.WriteByte(';')
	}
	field(prev)
	field(strconv.FormatInt(e.Seq, 10))
	field(e.At.UTC().Format(time.RFC3339Nano))
	field(e.EventID)
	field(e.DeliveryID)
	field(e.Route)
	field(strconv.Itoa(e.Attempt))
	field(e.Actor)
	field(e.Action)
	field(e.Outcome)
	field(strconv.Itoa(e.Status))
	field(e.Message)
	field(strconv.FormatInt(e.LatencyMS, 10))
	h.Write([]byte(b.String()))
	return hex.EncodeToString(h.Sum(nil))
}

// BrokenError names the first row where the chain does not hold.
type BrokenError struct {
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", e.Seq, e.Reason)
}

// Report summarises a verification.
type Report struct {
	Entries int64
	LastSeq int64
	// From is the retention checkpoint verification started after: the
	// entries up to it were deleted by retention. 0 means the whole log
	// from its first entry.
	From int64
}

// Verify walks the log and checks that each entry links to its
// predecessor, that its hash matches its content, and that no sequence
// number is missing. It returns a *BrokenError naming the first bad row.
// When retention has deleted the oldest entries, the walk starts at the
// checkpoint (the last deleted entry's seq and hash), which an
// ActionPruned entry later in the chain must attest; if retention moves
// the checkpoint while the walk runs, the walk continues from the new one.
func Verify(ctx context.Context, ex store.Executor) (Report, error) {
	var r Report
	cp, err := checkpoint(ctx, ex)
	if err != nil {
		return r, err
	}
	prev := ""
	var lastSeq int64
	if cp != nil {
		prev, lastSeq, r.From = cp.Hash, cp.Seq, cp.Seq
	}
	attested := cp == nil
	err = ex.AuditScan(ctx, lastSeq, func(e *store.AuditEntry) error {
		if err := CheckLink(lastSeq, prev, e); err != nil {
			// Retention may have deleted the next entries since the walk
			// started: continue from its new checkpoint, if that is
			// exactly where this entry links.
			moved, cerr := checkpoint(ctx, ex)
			if cerr != nil {
				return cerr
			}
			if moved == nil || moved.Seq <= lastSeq || moved.Seq != e.Seq-1 || moved.Hash != e.PrevHash {
				return err
			}
			if err := CheckLink(moved.Seq, moved.Hash, e); err != nil {
				return err
			}
			cp, attested, r.From = moved, false, moved.Seq
		}
		if !attested && attests(e, cp) {
			attested = true
		}
		prev, lastSeq = e.Hash, e.Seq
		r.Entries++
		return nil
	})
	r.LastSeq = lastSeq
	if err == nil && !attested {
		err = &BrokenError{Seq: cp.Seq + 1, Reason: fmt.Sprintf("the chain starts after checkpoint seq %d, which no %s entry attests (checkpoint altered?)", cp.Seq, ActionPruned)}
	}
	return r, err
}
