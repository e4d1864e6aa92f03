package storepg

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// counter counts what the driver sends to PostgreSQL: round trips (a
// statement, or a batch of pipelined statements, waited for as one) and
// statements. The benchmark reports them per event (store.RoundTripper),
// which says more than a rate on a machine other work shares.
type counter struct {
	roundTrips, statements atomic.Int64
	reruns                 atomic.Int64 // transactions failed with errRerun

	mu   sync.Mutex
	pids []uint32 // backend process IDs of the pool's connections
}

// connected remembers a pooled connection's backend, for BackendCPU.
func (c *counter) connected(_ context.Context, conn *pgx.Conn) error {
	c.mu.Lock()
	c.pids = append(c.pids, conn.PgConn().PID())
	c.mu.Unlock()
	return nil
}

func (c *counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.roundTrips.Add(1)
	c.statements.Add(1)
	return ctx
}

func (c *counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *counter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	c.roundTrips.Add(1)
	return ctx
}

func (c *counter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.statements.Add(1)
}

func (c *counter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// RoundTrips implements store.RoundTripper.
func (d *Driver) RoundTrips() (roundTrips, statements int64) {
	return d.count.roundTrips.Load(), d.count.statements.Load()
}

// Reruns is how many transactions failed with errRerun so far: a queued
// capture or a settle answered from its claim whose check failed, so the
// committer ran the batch again (capture.go, settle.go).
func (d *Driver) Reruns() int64 { return d.count.reruns.Load() }

// BackendCPU is the CPU time (user+system) the server processes of the
// pool's connections have used, read from /proc: only when PostgreSQL runs
// on this machine (Linux), as in `sluice bench` against a local database;
// ok is false otherwise. Connections the pool has closed are not counted.
func (d *Driver) BackendCPU() (cpu time.Duration, ok bool) {
	d.count.mu.Lock()
	pids := append([]uint32(nil), d.count.pids...)
	d.count.mu.Unlock()
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name (which may hold spaces): state is
		// field 3, utime 14 and stime 15, in clock ticks (100 per second
		// on Linux).
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(postgres") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		cpu += time.Duration(u+st) * 10 * time.Millisecond
		ok = true
	}
	return cpu, ok
}
