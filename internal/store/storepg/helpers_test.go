package storepg_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/store/storepg"
)

// baseDSN is the server the tests use: $SLUICE_TEST_POSTGRES. Without it
// the tests skip, except in CI, where a missing database fails the run.
func baseDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("SLUICE_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SLUICE_TEST_POSTGRES is not set; CI must provide PostgreSQL")
		}
		t.Skip("SLUICE_TEST_POSTGRES is not set")
	}
	return dsn
}

// freshSchema creates an empty schema, dropped with everything in it when
// the test ends, and returns a DSN whose search_path is that schema, so
// tests run in parallel and leave nothing behind.
func freshSchema(t *testing.T) string {
	t.Helper()
	base := baseDSN(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "sluice_test_" + hex.EncodeToString(b)
	admin(t, base, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { admin(t, base, `DROP SCHEMA `+schema+` CASCADE`) })
	return withParams(t, base, map[string]string{"search_path": schema})
}

func admin(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to test database: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// withParams adds settings to a URL or key=value DSN.
func withParams(t *testing.T, dsn string, params map[string]string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("SLUICE_TEST_POSTGRES: %v", err)
		}
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		dsn += " " + k + "=" + v
	}
	return dsn
}

// open opens a driver on dsn with a pool of at most conns connections (the
// server's connection limit is shared by every test), closed when the test
// ends, before its schema is dropped.
func open(t *testing.T, dsn string, conns int) *storepg.Driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := storepg.Open(ctx, withParams(t, dsn, map[string]string{"pool_max_conns": strconv.Itoa(conns)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
