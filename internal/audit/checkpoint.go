package audit

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
)

// ActionPruned is the audit action of a retention batch that deleted the
// oldest audit entries. Its message attests the checkpoint it left (see
// PrunedMessage): the checkpoint row is outside the chain, the attestation
// is inside it, so a checkpoint moved by hand to cover deleted rows is
// detected.
const ActionPruned = "audit_pruned"

// PrunedMessage is the message of an ActionPruned entry for checkpoint cp.
func PrunedMessage(cp *store.AuditCheckpoint, n int) string {
	return fmt.Sprintf("retention deleted %d audit entries through %s; %s", n, cp.At.UTC().Format("2006-01-02T15:04:05.000Z"), attestation(cp))
}

func attestation(cp *store.AuditCheckpoint) string {
	return fmt.Sprintf("chain continues after seq %d hash %s", cp.Seq, cp.Hash)
}

// CheckLink checks that e follows the entry (prevSeq, prevHash): the next
// sequence number, linked to that hash, with a hash that matches its
// content. prevSeq 0 means e is the first entry of the log. Retention runs
// it on every entry before deleting it, so it never removes the evidence
// of tampering.
func CheckLink(prevSeq int64, prevHash string, e *store.AuditEntry) error {
	if prevSeq != 0 && e.Seq != prevSeq+1 {
		return &BrokenError{Seq: e.Seq, Reason: fmt.Sprintf("sequence gap after %d (row deleted?)", prevSeq)}
	}
	if e.PrevHash != prevHash {
		return &BrokenError{Seq: e.Seq, Reason: "prev_hash does not match the previous entry's hash"}
	}
	if got := Hash(prevHash, e); got != e.Hash {
		return &BrokenError{Seq: e.Seq, Reason: "content does not match its hash (row modified)"}
	}
	return nil
}

// checkpoint reads the retention checkpoint where the chain now starts;
// nil when nothing was ever deleted or the store has no retention.
func checkpoint(ctx context.Context, ex store.Executor) (*store.AuditCheckpoint, error) {
	rs, ok := ex.(store.RetentionStore)
	if !ok {
		return nil, nil
	}
	cp, err := rs.AuditCheckpointGet(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	return cp, nil
}

// attests reports whether e is the retention entry that vouches for cp.
func attests(e *store.AuditEntry, cp *store.AuditCheckpoint) bool {
	return e.Action == ActionPruned && strings.HasSuffix(e.Message, attestation(cp))
}
