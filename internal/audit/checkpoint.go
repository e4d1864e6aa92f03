package audit

import (
	"context"
	"fmt"
	"strings"
)

// PrunedMessage is the message of an ActionPruned entry for checkpoint cp.
// The checkpoint row is outside the chain, the attestation is inside it, so
// a checkpoint moved by hand to cover deleted rows is detected.
func PrunedMessage(cp *Checkpoint, n int) string {
	return fmt.Sprintf("retention deleted %d audit entries through %s; %s", n, cp.At.UTC().Format("2006-01-02T15:04:05.000Z"), attestation(cp))
}

func attestation(cp *Checkpoint) string {
	return fmt.Sprintf("chain continues after seq %d hash %s", cp.Seq, cp.Hash)
}

// CheckLink checks that e follows the entry (prevSeq, prevHash): the next
// sequence number, linked to that hash, with a hash that matches its
// content. prevSeq 0 means e is the first entry of the log. Retention runs
// it on every entry before deleting it, so it never removes the evidence
// of tampering.
func CheckLink(prevSeq int64, prevHash string, e *Entry) error {
	return checkLink(key(), prevSeq, prevHash, e)
}

// checkLink is CheckLink under key k: a keyed entry is checked with it, a
// plain one as plain SHA-256 (Verify decides whether plain is acceptable).
func checkLink(k []byte, prevSeq int64, prevHash string, e *Entry) error {
	if prevSeq != 0 && e.Seq != prevSeq+1 {
		return &BrokenError{Seq: e.Seq, Reason: fmt.Sprintf("sequence gap after %d (row deleted?)", prevSeq)}
	}
	if e.PrevHash != prevHash {
		return &BrokenError{Seq: e.Seq, Reason: "prev_hash does not match the previous entry's hash"}
	}
	if !strings.HasPrefix(e.Hash, KeyedPrefix) {
		k = nil
	}
	if got := HashWith(k, prevHash, e); got != e.Hash {
		return &BrokenError{Seq: e.Seq, Reason: "content does not match its hash (row modified)"}
	}
	return nil
}

// checkpoint reads the retention checkpoint where the chain now starts;
// nil when nothing was ever deleted.
func checkpoint(ctx context.Context, log Log) (*Checkpoint, error) {
	cp, err := log.AuditCheckpointGet(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	return cp, nil
}

// attests reports whether e is the retention entry that vouches for cp.
func attests(e *Entry, cp *Checkpoint) bool {
	return e.Action == ActionPruned && strings.HasSuffix(e.Message, attestation(cp))
}
