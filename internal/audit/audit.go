// Package audit owns the audit log's vocabulary and integrity: the entry
// type, the closed set of actions a writer may record (Action), how an entry
// is hashed onto the chain, and how the whole chain is verified. It is a
// leaf: the store persists entries (store.AuditEntry is Entry) and calls
// Hash when it appends; the pipeline, the only writer, names every entry
// with an Action constant. Nothing here knows which database is behind; the
// store is reached through the Log port.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Entry is one line of the append-only, hash-chained audit log. Seq,
// PrevHash and Hash are assigned by the store when the entry is appended.
type Entry struct {
	Seq        int64
	At         time.Time
	EventID    string
	DeliveryID string
	Route      string
	Attempt    int
	Actor      string
	Action     Action
	// Outcome qualifies the action: the state it led to, a class, an ID.
	// It is open text (unlike Action) because it often names data.
	Outcome   string
	Status    int
	Message   string
	LatencyMS int64
	PrevHash  string
	Hash      string
}

// Checkpoint is where the remaining audit chain starts after retention:
// the sequence number and hash of the last deleted entry. The first
// remaining entry has Seq+1 and links to Hash, so verification starts here
// instead of at the (deleted) beginning.
type Checkpoint struct {
	Seq  int64
	Hash string
	// At is the deleted entry's time; Deleted counts entries removed by
	// the batch that wrote this checkpoint; CreatedAt is when.
	At        time.Time
	Deleted   int64
	CreatedAt time.Time
}

// Log is the port Verify reads the stored chain through; every store
// executor implements it.
type Log interface {
	// AuditScan calls fn for every entry after afterSeq, in order.
	AuditScan(ctx context.Context, afterSeq int64, fn func(*Entry) error) error
	// AuditCheckpointGet returns the retention checkpoint, nil if no entry
	// was ever deleted.
	AuditCheckpointGet(ctx context.Context) (*Checkpoint, error)
}

// KeyEnv names the environment variable holding the audit chain key. When
// it is set, new entries are chained with HMAC-SHA256 under that key (their
// hash starts with KeyedPrefix), so rewriting rows and re-chaining them is
// detected by anyone who verifies with the key, unless the rewriter had it.
// The key is never stored in the database.
const KeyEnv = "SLUICE_AUDIT_KEY"

// KeyedPrefix marks the hash of an entry chained with the key.
const KeyedPrefix = "k1:"

var (
	keyOnce sync.Once
	envKey  []byte
)

// key is the process's chain key from KeyEnv, nil when unset.
func key() []byte {
	keyOnce.Do(func() {
		if k := os.Getenv(KeyEnv); k != "" {
			envKey = []byte(k)
		}
	})
	return envKey
}

// Keyed reports whether this process chains and verifies with a key.
func Keyed() bool { return key() != nil }

// Hash computes the chain hash of e given the previous entry's hash, with
// the process's key (KeyEnv) when one is set. Every stored field takes
// part, so changing any of them breaks the chain at that row. Fields are
// length-prefixed so no two entries serialize alike.
func Hash(prev string, e *Entry) string { return HashWith(key(), prev, e) }

// HashWith is Hash under an explicit key; nil means plain SHA-256.
func HashWith(k []byte, prev string, e *Entry) string {
	if k == nil {
		h := sha256.New()
		h.Write([]byte(serialize(prev, e)))
		return hex.EncodeToString(h.Sum(nil))
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte(serialize(prev, e)))
	return KeyedPrefix + hex.EncodeToString(m.Sum(nil))
}

// serialize is the canonical byte form of an entry linked to prev.
func serialize(prev string, e *Entry) string {
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
	field(string(e.Action))
	field(e.Outcome)
	field(strconv.Itoa(e.Status))
	field(e.Message)
	field(strconv.FormatInt(e.LatencyMS, 10))
	return b.String()
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
	// Keyed is true when the entries from KeyedFrom on were verified with
	// the key (HMAC): they cannot have been re-chained without it. Entries
	// before KeyedFrom (written before a key was set) are only plain
	// SHA-256, which detects edits but not a rewrite that re-chains.
	Keyed     bool
	KeyedFrom int64
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
func Verify(ctx context.Context, log Log) (Report, error) { return VerifyWith(ctx, log, key()) }

// VerifyWith is Verify under an explicit key (nil: no key). With a key,
// once a keyed entry is seen every later one must be keyed, so a rewrite
// that re-chains recent rows with plain hashes is caught.
func VerifyWith(ctx context.Context, log Log, k []byte) (Report, error) {
	var r Report
	cp, err := checkpoint(ctx, log)
	if err != nil {
		return r, err
	}
	prev := ""
	var lastSeq int64
	if cp != nil {
		prev, lastSeq, r.From = cp.Hash, cp.Seq, cp.Seq
	}
	attested := cp == nil
	err = log.AuditScan(ctx, lastSeq, func(e *Entry) error {
		keyed := strings.HasPrefix(e.Hash, KeyedPrefix)
		switch {
		case keyed && k == nil:
			return &BrokenError{Seq: e.Seq, Reason: "entry is chained with a key; set " + KeyEnv + " to verify it"}
		case !keyed && r.Keyed:
			return &BrokenError{Seq: e.Seq, Reason: "plain hash after keyed entries (re-chained without the key?)"}
		case keyed && !r.Keyed:
			r.Keyed, r.KeyedFrom = true, e.Seq
		}
		if err := checkLink(k, lastSeq, prev, e); err != nil {
			// Retention may have deleted the next entries since the walk
			// started: continue from its new checkpoint, if that is
			// exactly where this entry links.
			moved, cerr := checkpoint(ctx, log)
			if cerr != nil {
				return cerr
			}
			if moved == nil || moved.Seq <= lastSeq || moved.Seq != e.Seq-1 || moved.Hash != e.PrevHash {
				return err
			}
			if err := checkLink(k, moved.Seq, moved.Hash, e); err != nil {
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
