package storesqlite

import (
	"context"
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/internal/store"
)

// Every complete capture with a record key asks for held events of its
// flow and key (auto-completion), and almost always finds none. Inside one
// transaction the SQLite driver reads a flow's held keys once, by a walk of
// events_held_key (index only), and answers the other captures of the
// batch from that set, which costs a map lookup instead of a statement.
// This is correct because the transaction sees a fixed snapshot and is the
// only writer of the file (storesqlite.Lock; one write connection): the
// set can go stale only through this transaction's own writes, and those
// that could add a held key (an event inserted held, an update to held or
// of a record key, a replay's record put) add it or drop the cache. A key
// that stops being held stays in the set, which only costs the statement
// it would have cost anyway. A flow with more than heldKeysMax held keys
// is not cached: its captures look up their own key as before.
const heldKeysMax = 1024

// qHeldKeys reads one more than heldKeysMax, to tell "too many".
var qHeldKeys = `SELECT DISTINCT record_key FROM events INDEXED BY events_held_key WHERE state = 'held' AND flow = ? LIMIT ` + strconv.Itoa(heldKeysMax+1)

// heldCache is one transaction's held keys by flow; a nil set means the
// flow has too many to cache.
type heldCache map[string]map[string]bool

// mayBeHeld reports whether flow may have a held event for key, reading
// the flow's held keys on first use in the transaction.
func (x *executor) mayBeHeld(ctx context.Context, flow, key string) (bool, error) {
	if x.held == nil {
		return true, nil // outside a transaction: no snapshot to cache
	}
	keys, ok := (*x.held)[flow]
	if !ok {
		rows, err := x.rowsHot(ctx, x.r, qHeldKeys, flow)
		if err != nil {
			return false, fmt.Errorf("held keys: %w", err)
		}
		keys = map[string]bool{}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return false, fmt.Errorf("held keys: %w", err)
			}
			keys[k] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return false, fmt.Errorf("held keys: %w", err)
		}
		if len(keys) > heldKeysMax {
			keys = nil
		}
		if *x.held == nil {
			*x.held = heldCache{}
		}
		(*x.held)[flow] = keys
	}
	return keys == nil || keys[key], nil
}

// heldInserted records an event inserted in this transaction.
func (x *executor) heldInserted(e *store.Event) {
	if x.held == nil || e.State != store.EventHeld {
		return
	}
	if keys := (*x.held)[e.Flow]; keys != nil {
		keys[e.RecordKey] = true
	}
}

// forgetHeld drops the cache after a write that may have made an event
// held under a key the cache does not know.
func (x *executor) forgetHeld() {
	if x.held != nil {
		*x.held = nil
	}
}

// EventRecordPut overrides the shared statement to keep the held-key
// cache honest: it may hold an event under a new key.
func (x *executor) EventRecordPut(ctx context.Context, p *store.EventRecordPutParams) error {
	x.forgetHeld()
	return x.Queries.EventRecordPut(ctx, p)
}
