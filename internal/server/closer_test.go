package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/store"
)

// closerConfig sends every record to a SQL destination on PostgreSQL
// (table t); closerConfig2 removes it and routes to a counting one.
const closerConfig = `
listen: 127.0.0.1:0
store: %s
sources: {s: {allow_unsigned: true}}
entities: {e: {key: k}}
flows: {f: {source: s, entity: e, normalize: {fields: {k: {from: k}}}, routes: {r: {destination: db}}}}
destinations:
  db: {type: sql, allow_private_network: true, options: {driver: postgres, dsn: %q, table: t, key_column: k}}
delivery: {lease: 30s, poll_interval: 20ms}
`

const closerConfig2 = `
listen: 127.0.0.1:0
store: %s
sources: {s: {allow_unsigned: true}}
entities: {e: {key: k}}
flows: {f: {source: s, entity: e, normalize: {fields: {k: {from: k}}}, routes: {r: {destination: other}}}}
destinations:
  other: {type: counting, options: {label: closer}}
delivery: {lease: 30s, poll_interval: 20ms}
`

type closerRig struct {
	srv  *server.Server
	lock *pgx.Conn // holds SHARE on t: the destination's writes wait
	dsn  string
	c2   *config.Config
	// conn is the SQL destination's connector, kept to see whether its
	// pool is open after the reload retired it.
	conn    connector.Connector
	eventID string
	// stop stops Run (it drains the deliveries in flight) and closes the
	// server, once.
	stop func()
}

// newCloserRig runs a server whose only delivery is in flight and stuck:
// its INSERT waits on a lock the test holds on the destination table.
func newCloserRig(t *testing.T) *closerRig {
	// pool_max_conns is pgxpool's; the destination and the test's own
	// connections are plain pgx.
	u, err := url.Parse(pgSchemaDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	dsn := u.String()
	pgExec(t, dsn, `CREATE TABLE t (k text PRIMARY KEY)`)
	db := filepath.Join(t.TempDir(), "sluice.db")
	env := func(string) (string, bool) { return "", false }
	c, err := config.Parse([]byte(fmt.Sprintf(closerConfig, db, dsn)), env)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := config.Parse([]byte(fmt.Sprintf(closerConfig2, db)), env)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	r := &closerRig{srv: srv, dsn: dsn, c2: c2, conn: server.ConnOf(srv, "db")}
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
			srv.Close()
		})
	}
	t.Cleanup(r.stop)
	r.lock, err = pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.lock.Close(context.Background()) })
	if _, err := r.lock.Exec(context.Background(), `BEGIN; LOCK TABLE t IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+ln.Addr().String()+"/v1/sources/s/events", "application/json", strings.NewReader(`{"k":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("send: %d %s", resp.StatusCode, body)
	}
	var ack struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(body, &ack); err != nil || ack.EventID == "" {
		t.Fatalf("send: %s %v", body, err)
	}
	r.eventID = ack.EventID
	// Wait until the delivery's write is blocked by the test's lock.
	// (Asked on another connection: inside the lock's transaction
	// pg_stat_activity is a snapshot taken at its first read.)
	watch, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(context.Background())
	for blocked := 0; blocked == 0; {
		if err := watch.QueryRow(context.Background(),
			`SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, r.lock.PgConn().PID()).Scan(&blocked); err != nil {
			t.Fatal(err)
		}
		if ev, err := srv.Driver.Executor().EventGetByID(context.Background(), r.eventID); err != nil || ev.State != store.EventDelivering {
			t.Fatalf("event while its write should wait on the lock: %+v %v", ev, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return r
}

// reload removes the destination (forced: its delivery is unfinished) and
// returns once the new config is in force, with the reload's answer to
// come on the channel.
func (r *closerRig) reload(t *testing.T) (v1 string, answer chan error) {
	t.Helper()
	v1 = r.srv.Version()
	answer = make(chan error, 1)
	go func() {
		_, err := r.srv.Apply(context.Background(), r.c2, server.ReloadOptions{Actor: "test", Force: true})
		answer <- err
	}()
	for r.srv.Version() == v1 {
		select {
		case err := <-answer:
			t.Fatalf("the reload answered before the new config was in force: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return v1, answer
}

// poolOpen reports whether the retired connector's pool still answers: a
// lookup reads t, which the test's SHARE lock allows.
func (r *closerRig) poolOpen(t *testing.T) bool {
	t.Helper()
	_, _, _, err := r.conn.(connector.Looker).Lookup(context.Background(), "nobody")
	if err != nil && !strings.Contains(err.Error(), "database is closed") {
		t.Fatalf("lookup: %v", err)
	}
	return err == nil
}

// delivered checks the event is delivered and its record is in t once.
func (r *closerRig) delivered(t *testing.T) {
	t.Helper()
	ev, err := r.srv.Driver.Executor().EventGetByID(context.Background(), r.eventID)
	if err != nil || ev.State != store.EventDelivered {
		t.Fatalf("event after the reload: %+v %v", ev, err)
	}
	r.written(t)
}

// written checks the record is in t once.
func (r *closerRig) written(t *testing.T) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), r.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM t WHERE k = 'a'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in t: %d %v", n, err)
	}
}

// TestRemovedSQLDestinationClosedAfterItsDelivery: a reload that removes a
// SQL destination closes its connection pool (connector.Closer), and only
// after the delivery in flight on it finished: while the write waits, the
// new config is in force but the old pool is open and the reload has not
// answered; once the write commits, the delivery is recorded and the pool
// is closed by the time the reload answers.
func TestRemovedSQLDestinationClosedAfterItsDelivery(t *testing.T) {
	r := newCloserRig(t)
	_, answer := r.reload(t)
	if !r.poolOpen(t) {
		t.Fatal("the pool was closed while a delivery on it was in flight")
	}
	select {
	case err := <-answer:
		t.Fatalf("the reload answered (%v) while a delivery on the removed destination was in flight", err)
	default:
	}
	if _, err := r.lock.Exec(context.Background(), `COMMIT`); err != nil {
		t.Fatal(err)
	}
	// The answer comes once the retired worker's attempt committed and the
	// pool is closed.
	if err := <-answer; err != nil {
		t.Fatal(err)
	}
	if r.poolOpen(t) {
		t.Fatal("the removed destination's pool is still open after the reload")
	}
	r.delivered(t)
}

// TestShutdownClosesSQLPool: on stop, the delivery in flight on a SQL
// destination finishes (Run drains it) and Close then closes the pool.
func TestShutdownClosesSQLPool(t *testing.T) {
	r := newCloserRig(t)
	stopped := make(chan struct{})
	go func() { r.stop(); close(stopped) }()
	// Run is draining: the delivery is still waiting on the lock, and the
	// pool stays open under it.
	for !r.draining() {
		time.Sleep(5 * time.Millisecond)
	}
	if !r.poolOpen(t) {
		t.Fatal("the pool was closed while a delivery on it was in flight")
	}
	if _, err := r.lock.Exec(context.Background(), `COMMIT`); err != nil {
		t.Fatal(err)
	}
	<-stopped
	if rep := r.srv.ShutdownReport(); rep.InFlight != 1 || rep.Finished != 1 {
		t.Fatalf("shutdown report: %+v", rep)
	}
	if r.poolOpen(t) {
		t.Fatal("the SQL destination's pool is still open after Close")
	}
	r.written(t)
}

// draining reports whether Run has begun its graceful stop.
func (r *closerRig) draining() bool {
	rec := httptest.NewRecorder()
	r.srv.Handler.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/sources/s/events", strings.NewReader(`{"k":"late"}`)))
	return rec.Code == http.StatusServiceUnavailable
}
