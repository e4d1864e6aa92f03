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
}

// Verify walks the whole log and checks that each entry links to its
// predecessor, that its hash matches its content, and that no sequence
// number is missing. It returns a *BrokenError naming the first bad row.
func Verify(ctx context.Context, ex store.Executor) (Report, error) {
	var r Report
	prev := ""
	var lastSeq int64
	err := ex.AuditScan(ctx, 0, func(e *store.AuditEntry) error {
		if lastSeq != 0 && e.Seq != lastSeq+1 {
			return &BrokenError{Seq: e.Seq, Reason: fmt.Sprintf("sequence gap after %d (row deleted?)", lastSeq)}
		}
		if e.PrevHash != prev {
			return &BrokenError{Seq: e.Seq, Reason: "prev_hash does not match the previous entry's hash"}
		}
		if got := Hash(prev, e); got != e.Hash {
			return &BrokenError{Seq: e.Seq, Reason: "content does not match its hash (row modified)"}
		}
		prev, lastSeq = e.Hash, e.Seq
		r.Entries++
		return nil
	})
	r.LastSeq = lastSeq
	return r, err
}
