package pipeline_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

var (
	pagesDrop    = flag.String("pages-drop", "", "BenchmarkPagesPerEvent: comma-separated indexes to drop before the run (an experiment: what each costs)")
	pagesExec    = flag.String("pages-exec", "", "BenchmarkPagesPerEvent: SQL statements (;-separated) run after -pages-drop, before the run (e.g. an index to try)")
	pagesHistory = flag.Int("pages-history", 100000, "BenchmarkPagesPerEvent: delivered events (with a succeeded delivery each) in the store before the run")
	pagesQueued  = flag.Int("pages-queued", 10000, "BenchmarkPagesPerEvent: pending deliveries of another destination in the store before the run")
	pagesRandom  = flag.Bool("pages-random", true, "BenchmarkPagesPerEvent: random record and idempotency keys (as real e-mail addresses and webhook ids are); false: sequential ones, as the server benchmarks send")
	pagesBy      = flag.Bool("pages-by-btree", false, "BenchmarkPagesPerEvent: log the WAL frames of each phase by table or index")
)

// BenchmarkPagesPerEvent counts what SQLite writes per event on a capture,
// a claim and a settle: the WAL frames (one page each, two pwrites) the
// commits of each phase append, read from the WAL file itself while a
// reader opened before the run keeps any checkpoint from restarting it.
// The count does not depend on the machine's load, only on how many units
// the group committer puts in one commit (the frames of a page dirtied by
// several units of a commit are written once), which it reports too. With
// -pages-by-btree it names the table or index of every frame (dbstat), the
// figure that says what each index costs; -pages-drop repeats the run
// without some indexes. The store holds -pages-history delivered events
// and -pages-queued pending deliveries first, so that an index keyed by
// something other than time (a record key, an idempotency key) is large
// enough to dirty a page per row, as it does in a store in use.
func BenchmarkPagesPerEvent(b *testing.B) {
	ctx := context.Background()
	plan := pipelinetest.Plan(b, cfg)
	path := filepath.Join(b.TempDir(), "pages.db")
	drv, err := storesqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	com := store.NewCommitter(drv, 0)
	defer func() { com.Close(); drv.Close() }()
	side, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer side.Close()
	side.SetMaxOpenConns(1)
	for _, idx := range strings.Split(*pagesDrop, ",") {
		if idx = strings.TrimSpace(idx); idx != "" {
			if _, err := side.ExecContext(ctx, "DROP INDEX "+idx); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, q := range strings.Split(*pagesExec, ";") {
		if q = strings.TrimSpace(q); q != "" {
			if _, err := side.ExecContext(ctx, q); err != nil {
				b.Fatalf("%s: %v", q, err)
			}
		}
	}
	fillPagesHistory(b, side, *pagesHistory, *pagesQueued)
	var pageSize int64
	if err := side.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		b.Fatal(err)
	}
	if _, err := side.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	// The pin: a read transaction begun on an empty WAL holds SQLite's
	// read lock 0, so no checkpoint copies a frame back or restarts the
	// WAL until it ends; every frame of the run stays in the file.
	pin, err := side.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	var n int
	if err := pin.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		b.Fatal(err)
	}
	defer pin.Rollback()

	clk := pipelinetest.NewClock(pipelinetest.Start)
	g := pipeline.New(pipeline.Config{Plan: plan, Driver: drv, Committer: com, Clock: clk.Now})
	b.ResetTimer()
	// After each phase: the frames so far and who owns each page now (a
	// page freed in a later phase and reused by another b-tree is
	// charged to its owner at the end of the phase that wrote it).
	marks := []int64{walFrames(b, path, pageSize)}
	var owners []map[uint32]string
	mark := func() {
		b.StopTimer()
		marks = append(marks, walFrames(b, path, pageSize))
		if *pagesBy {
			owners = append(owners, pageOwners(b, path))
		}
		b.StartTimer()
	}
	capturePhase(b, g)
	mark()
	claimed := claimPhase(b, g)
	mark()
	settlePhase(b, g, claimed)
	mark()
	b.StopTimer()

	frames := readWAL(b, path, pageSize)
	for i, phase := range []string{"capture", "claim", "settle"} {
		fs := frames[marks[i]:marks[i+1]]
		commits := 0
		by := map[string]int{}
		for _, f := range fs {
			if f.commit {
				commits++
			}
			if *pagesBy {
				name := owners[i][f.page]
				if name == "" {
					name = "(free)"
				}
				by[name]++
			}
		}
		b.ReportMetric(float64(len(fs))/float64(b.N), "frames/"+phase)
		b.ReportMetric(float64(b.N)/float64(max(commits, 1)), "events/"+phase+"-commit")
		if *pagesBy {
			keys := make([]string, 0, len(by))
			for k := range by {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { return by[keys[i]] > by[keys[j]] })
			var sb strings.Builder
			for _, k := range keys {
				fmt.Fprintf(&sb, " %s=%.3f", k, float64(by[k])/float64(b.N))
			}
			b.Logf("%s: %d events, %d commits, frames per event by b-tree:%s", phase, b.N, commits, sb.String())
		}
	}
}

// fillPagesHistory inserts delivered events with a succeeded delivery each
// (as many distinct record keys) and queued pending deliveries of another
// destination, all in one transaction.
func fillPagesHistory(b *testing.B, db *sql.DB, history, queued int) {
	b.Helper()
	for _, q := range []string{
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		 INSERT INTO events (id, source, flow, idem_key, record_key, state, content_type, raw, canonical, received_at, updated_at)
		 SELECT printf('evt_0%025d', i), 'forms', 'leads', printf('h%d', i), printf('h%d@example.com', i),
		        'delivered', 'application/json', X'', '{}', i, i FROM n`,
		`INSERT INTO deliveries (id, event_id, route, destination, record_key, state, payload, next_at, created_at, updated_at)
		 SELECT 'dlv_' || substr(id, 5), id, 'crm', 'd', record_key, 'succeeded', '{}', received_at, received_at, received_at
		 FROM events WHERE id LIKE 'evt_0%'`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		 INSERT INTO deliveries (id, event_id, route, destination, record_key, state, payload, next_at, created_at, updated_at)
		 SELECT printf('dlv_q%025d', i), printf('evt_0%025d', 1 + i % max(?, 1)), 'crm', 'queued', printf('q%d@example.com', i),
		        'pending', '{}', 4102444800000, i, i FROM n`,
	} {
		var args []any
		switch {
		case strings.Contains(q, "'queued'"):
			args = []any{queued, history}
		case strings.Contains(q, "WITH"):
			args = []any{history}
		}
		if strings.Contains(q, "'queued'") && queued == 0 {
			continue
		}
		if _, err := db.Exec(q, args...); err != nil {
			b.Fatalf("fill: %v\n%s", err, q)
		}
	}
}

// capturePhase: 64 callers capture b.N events.
func capturePhase(b *testing.B, g *pipeline.Gate) {
	ctx := context.Background()
	fanOut(b.N, func(n int) error {
		i := n + 1
		user, idem := fmt.Sprintf("u%d", i), fmt.Sprintf("bench-%d", i)
		if *pagesRandom {
			user, idem = rand.Text()[:12], rand.Text()
		}
		email := user + "@example.com"
		body := []byte(fmt.Sprintf(`{"email":%q,"company":"Acme %d"}`, email, i%50))
		_, err := g.Capture(ctx, pipeline.CaptureInput{Source: "forms", ContentType: "application/json", Body: body, IdemKey: idem,
			Payload: map[string]any{"email": email, "company": fmt.Sprintf("Acme %d", i%50)}})
		return err
	}, b.Error)
}

// fanOut runs do(0..n-1) on 64 callers; a failing call is reported and
// its caller stops.
func fanOut(n int, do func(i int) error, report func(...any)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := do(int(i)); err != nil {
					report(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// claimPhase: 8 workers claim 32 deliveries at a time until none is left.
func claimPhase(b *testing.B, g *pipeline.Gate) []*store.Delivery {
	ctx := context.Background()
	var mu sync.Mutex
	var out []*store.Delivery
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ds, err := g.ClaimDeliveries(ctx, "d", fmt.Sprintf("w%d", w), time.Hour, 32)
				if err != nil {
					b.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				out = append(out, ds...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(out) != b.N {
		b.Fatalf("claimed %d of %d", len(out), b.N)
	}
	return out
}

// settlePhase: 64 callers settle the claimed deliveries as succeeded.
func settlePhase(b *testing.B, g *pipeline.Gate, ds []*store.Delivery) {
	ctx := context.Background()
	fanOut(len(ds), func(i int) error {
		return g.DeliverySucceeded(ctx, ds[i], "x-"+ds[i].ID, pipeline.Attempt{Status: 200})
	}, b.Error)
}

// walFrames is the number of frames in the WAL file at path.
func walFrames(b *testing.B, path string, pageSize int64) int64 {
	b.Helper()
	st, err := os.Stat(path + "-wal")
	if err != nil {
		b.Fatal(err)
	}
	if st.Size() < 32 {
		return 0
	}
	return (st.Size() - 32) / (24 + pageSize)
}

// walFrame is one frame's header: the page it holds and whether it ends
// a commit (its database size field is set).
type walFrame struct {
	page   uint32
	commit bool
}

// readWAL reads every frame header of the WAL file at path.
func readWAL(b *testing.B, path string, pageSize int64) []walFrame {
	b.Helper()
	data, err := os.ReadFile(path + "-wal")
	if err != nil {
		b.Fatal(err)
	}
	var out []walFrame
	for off := int64(32); off+24+pageSize <= int64(len(data)); off += 24 + pageSize {
		h := data[off : off+24]
		out = append(out, walFrame{page: binary.BigEndian.Uint32(h[0:4]), commit: binary.BigEndian.Uint32(h[4:8]) != 0})
	}
	return out
}

// pageOwners maps each page of the database at path, as of now, to the
// table or index it belongs to (SQLite's dbstat), so a frame can be
// charged to an index. A page freed and reused by another b-tree during
// the run is charged to its last owner; page 1 is the schema's.
func pageOwners(b *testing.B, path string) map[uint32]string {
	b.Helper()
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name, pageno FROM dbstat`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	out := map[uint32]string{}
	for rows.Next() {
		var name string
		var page uint32
		if err := rows.Scan(&name, &page); err != nil {
			b.Fatal(err)
		}
		out[page] = name
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}
