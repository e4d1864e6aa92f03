package sqldest_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for the admin connection

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/sqldest"
)

// backend is one real database the tests write to, with an admin
// connection that sets tables up and checks what the connector did.
type backend struct {
	driver string
	dsn    string
	admin  *sql.DB
	// serialPK is the column definition of a generated integer key.
	serialPK string
}

// backends runs f once per database: a SQLite file in a temporary
// directory, and the PostgreSQL of SLUICE_TEST_POSTGRES.
func backends(t *testing.T, f func(t *testing.T, b *backend)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, sqliteBackend(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, postgresBackend(t))
	})
}

func sqliteBackend(t *testing.T) *backend {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dest.db")
	admin, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	// One admin connection: SQLite checks "duplicate column name" in ALTER
	// TABLE against the connection's cached schema, which a second admin
	// connection could hold from before an earlier ALTER.
	admin.SetMaxOpenConns(1)
	t.Cleanup(func() { admin.Close() })
	return &backend{driver: "sqlite", dsn: path, admin: admin, serialPK: "INTEGER PRIMARY KEY AUTOINCREMENT"}
}

// postgresDSN is SLUICE_TEST_POSTGRES. Unset, the test is skipped, except
// in CI (CI set), where it fails: a missing database must not pass a run.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("SLUICE_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SLUICE_TEST_POSTGRES is not set; in CI the PostgreSQL tests must run")
		}
		t.Skip("SLUICE_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return dsn
}

func postgresBackend(t *testing.T) *backend {
	t.Helper()
	dsn := postgresDSN(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("SLUICE_TEST_POSTGRES: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		// Set but unreachable fails, in CI or not: someone asked for it.
		t.Fatalf("SLUICE_TEST_POSTGRES is set but PostgreSQL is unreachable: %v", err)
	}
	return &backend{driver: "postgres", dsn: dsn, admin: admin, serialPK: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"}
}

// ph is the n-th parameter placeholder in the backend's SQL.
func (b *backend) ph(n int) string {
	if b.driver == "postgres" {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// exec runs admin SQL, failing the test on error.
func (b *backend) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := b.admin.ExecContext(ctx(t), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// table creates a table with a name unique to this test, columns as given
// (an SQL column list), and drops it when the test ends. It returns the
// name, unquoted.
func (b *backend) table(t *testing.T, columns string) string {
	t.Helper()
	return b.tableWith(t, columns, "")
}

// tableWith is table with table options after the column list (STRICT).
func (b *backend) tableWith(t *testing.T, columns, options string) string {
	t.Helper()
	name := fmt.Sprintf("sluice_sqldest_%016x", rand.Uint64())
	b.exec(t, fmt.Sprintf("CREATE TABLE %q (%s) %s", name, columns, options))
	t.Cleanup(func() { _, _ = b.admin.Exec(fmt.Sprintf("DROP TABLE IF EXISTS %q", name)) })
	return name
}

// count is how many rows of table have keyCol = key.
func (b *backend) count(t *testing.T, table, keyCol, key string) int {
	t.Helper()
	var n int
	q := fmt.Sprintf("SELECT count(*) FROM %q WHERE %q = %s", table, keyCol, b.ph(1))
	if err := b.admin.QueryRowContext(ctx(t), q, key).Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}

// value reads one column of the row with keyCol = key.
func (b *backend) value(t *testing.T, table, keyCol, key, col string) any {
	t.Helper()
	var v any
	q := fmt.Sprintf("SELECT %q FROM %q WHERE %q = %s", col, table, keyCol, b.ph(1))
	if err := b.admin.QueryRowContext(ctx(t), q, key).Scan(&v); err != nil {
		t.Fatalf("value of %s for %s: %v", col, key, err)
	}
	if bs, ok := v.([]byte); ok {
		return string(bs)
	}
	return v
}

// open builds a connector through the registry, as a config would, with
// the backend's driver and DSN unless opts say otherwise.
func (b *backend) open(t *testing.T, opts map[string]any) *sqldest.Conn {
	t.Helper()
	c, err := connector.New("sql", connector.Params{Name: "warehouse", Options: b.options(opts), AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = connector.Close(context.Background(), c) })
	return c.(*sqldest.Conn)
}

func (b *backend) options(opts map[string]any) map[string]any {
	o := map[string]any{"driver": b.driver, "dsn": b.dsn}
	for k, v := range opts {
		o[k] = v
	}
	return o
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func delivery(key string, payload map[string]any) connector.Delivery {
	return connector.Delivery{ID: "dlv-" + key, EventID: "evt-" + key, Route: "warehouse", RecordKey: key, Payload: payload, Attempt: 1}
}

// classified asserts err is a *connector.Error of class want and that no
// secret leaked into it.
func classified(t *testing.T, err error, want connector.Class, secrets ...string) *connector.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want class %s", want)
	}
	var ce *connector.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want a *connector.Error", err, err)
	}
	if ce.Class != want {
		t.Fatalf("class = %s (%v), want %s", ce.Class, ce, want)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(ce.Error(), s) {
			t.Fatalf("a secret leaked into the error: %v", ce)
		}
	}
	return ce
}
