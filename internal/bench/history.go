package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// PrefillSQLite builds a SQLite store at path (migrated like any other)
// holding history: delivered events, each with one succeeded delivery to
// the bench's destination, and queued events whose delivery waits for a
// retry ten years from now (a destination's backlog that claims must step
// over; BenchmarkHistory caches the store, and a retry due an hour after
// the build made later runs drain the whole backlog instead). It writes rows directly, in bulk, without audit entries: it makes
// a store to measure against, not one to verify.
func PrefillSQLite(ctx context.Context, path string, delivered, queued int) error {
	drv, err := storesqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	drv.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	now := time.Now().UnixMilli()
	later := time.Now().AddDate(10, 0, 0).UnixMilli()
	const chunk = 100000
	fill := func(offset, n int, eventState, deliveryState string, nextAt int64) error {
		for start := 0; start < n; start += chunk {
			m := min(chunk, n-start)
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			q := strings.NewReplacer("$OFF", strconv.Itoa(offset+start), "$COUNT", strconv.Itoa(m), "$NOW", strconv.FormatInt(now, 10),
				"$EST", eventState, "$DST", deliveryState, "$NEXT", strconv.FormatInt(nextAt, 10)).Replace(`
WITH RECURSIVE n(i) AS (SELECT $OFF UNION ALL SELECT i + 1 FROM n WHERE i < $OFF + $COUNT - 1)
INSERT INTO events (id, source, flow, idem_key, record_key, state, content_type, raw, canonical, received_at, updated_at)
SELECT printf('hist-%09d', i), 'forms', 'leads', printf('hist-%09d', i), printf('h%d@history.example', i), '$EST',
       'application/json', printf('{"contact":{"email":"h%d@history.example","name":"History"},"company":"Acme","amount":%d}', i, i % 500),
       printf('{"amount":%d,"company":"Acme","email":"h%d@history.example","name":"History"}', i % 500, i), $NOW, $NOW
FROM n;
WITH RECURSIVE n(i) AS (SELECT $OFF UNION ALL SELECT i + 1 FROM n WHERE i < $OFF + $COUNT - 1)
INSERT INTO deliveries (id, event_id, route, destination, record_key, state, payload, attempts, next_at, external_id, last_status, created_at, updated_at)
SELECT printf('hist-d-%09d', i), printf('hist-%09d', i), 'out', 'sink', printf('h%d@history.example', i), '$DST',
       printf('{"amount":%d,"company":"Acme","email":"h%d@history.example","name":"History"}', i % 500, i), 1, $NEXT,
       CASE WHEN '$DST' = 'succeeded' THEN printf('ext-%d', i) ELSE '' END, 200, $NOW, $NOW
FROM n;`)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				tx.Rollback()
				return fmt.Errorf("prefill: %w", err)
			}
			if err := tx.Commit(); err != nil {
				return err
			}
		}
		return nil
	}
	if err := fill(0, delivered, "delivered", "succeeded", now); err != nil {
		return err
	}
	if err := fill(delivered, queued, "delivering", "pending", later); err != nil {
		return err
	}
	// No ANALYZE: Sluice never runs it, so a real store has no statistics
	// and the planner's choices here must be the ones it makes there (with
	// statistics it found the lease index that, without, it walked past).
	_, err = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// copyFile copies a prepared store so each run starts from the same one.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	// Flush the copy before the run: otherwise the kernel writes a
	// freshly copied gigabyte back during it, and every commit's sync
	// waits behind that write-back (ingest measured 55% of the empty
	// store's rate instead of the store's own cost).
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// peakRSS is this process's peak resident set (VmHWM) in bytes, 0 where
// /proc is not available.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
