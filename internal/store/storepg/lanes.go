package storepg

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Write lanes: PostgreSQL runs write transactions concurrently, so the
// group committer may run several at once (store.WriteLanes), one lane's
// statements overlapping another's commit. Lanes of one instance are like
// instances on one schema: what makes two instances safe (key locks of the
// claim, the settle's lock of its event, the chain lock taken last at
// seal, re-runs of lost conflicts) makes two lanes safe; every piece of
// state the driver keeps for a transaction (write-behind queue,
// read-ahead, chain head) lives on that transaction. See
// docs/adr/0043-committer-lanes.md.
//
// The DSN's write_lanes parameter sets the number (1 to 8, default 1); it
// is the driver's, not PostgreSQL's, and is removed before connecting.
// The default was 2 until captures and settles stopped waiting for round
// trips inside the batch (docs/adr/0049-postgres-queued-captures.md): a
// transaction is now two round trips and its commit, so a second lane
// mostly splits batches (more commits, more backend CPU per event) and
// makes the lanes queue for the audit chain lock; one lane measured less
// CPU on both sides and no lower rate, with one instance and with two.
// Each lane holds a pooled connection for its transaction, so Open grows
// the default pool by a connection per extra lane, and caps the lanes of a
// DSN that sets pool_max_conns at that less one.

// lanesParam is the DSN parameter naming the number of write lanes.
const lanesParam = "write_lanes"

// defaultLanes is the lanes of a DSN without write_lanes.
const defaultLanes = 1

const maxLanes = 8

// takeLanes removes write_lanes from cfg's run-time settings, where pgx
// puts parameters it does not know, and returns its value.
func takeLanes(cfg *pgxpool.Config) (int, error) {
	v, ok := cfg.ConnConfig.RuntimeParams[lanesParam]
	if !ok {
		return defaultLanes, nil
	}
	delete(cfg.ConnConfig.RuntimeParams, lanesParam)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLanes {
		return 0, fmt.Errorf("open postgres: %s=%q: want a number from 1 to %d", lanesParam, v, maxLanes)
	}
	return n, nil
}

// WriteLanes implements store.WriteLanes.
func (d *Driver) WriteLanes() int { return max(1, d.lanes) }

// explicitMaxConns reports whether dsn sets the pool's size itself.
func explicitMaxConns(dsn string) bool { return strings.Contains(dsn, "pool_max_conns") }
