package sqldest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

func TestUpsertSQL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		o    Options
		cols []string
		n    int
		want string
	}{
		{
			Options{Driver: "postgres", Table: `crm.odd "t"`, KeyColumn: "email"},
			[]string{"email", `full "name"`, "select"}, 2,
			`INSERT INTO "crm"."odd ""t""" ("email", "full ""name""", "select") VALUES ($1, $2, $3), ($4, $5, $6) ` +
				`ON CONFLICT ("email") DO UPDATE SET "full ""name""" = EXCLUDED."full ""name""", "select" = EXCLUDED."select" RETURNING "email"`,
		},
		{
			Options{Driver: "sqlite", Table: "contacts", KeyColumn: "email", IDColumn: "id"},
			[]string{"email"}, 1,
			`INSERT INTO "contacts" ("email") VALUES (?) ON CONFLICT ("email") DO UPDATE SET "email" = EXCLUDED."email" RETURNING "email", "id"`,
		},
	}
	for _, tc := range cases {
		tc.o.DSN = "postgres://h/db"
		if tc.o.Driver == "sqlite" {
			tc.o.DSN = t.TempDir() + "/x.db"
		}
		c, err := New("w", tc.o)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if got := c.upsertSQL(tc.cols, tc.n); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.o.Driver, got, tc.want)
		}
	}
}

func TestPostgresClasses(t *testing.T) {
	t.Parallel()
	cases := map[string]connector.Class{
		"42703": connector.Drift, "42P01": connector.Drift, "3F000": connector.Drift, "3D000": connector.Drift, "42P10": connector.Drift,
		"28P01": connector.Auth, "28000": connector.Auth, "42501": connector.Auth,
		"23502": connector.Permanent, "23505": connector.Permanent, "23514": connector.Permanent, "23503": connector.Permanent,
		"22P02": connector.Permanent, "22001": connector.Permanent, "21000": connector.Permanent, "42804": connector.Permanent,
		"53300": connector.Retryable, "53100": connector.Retryable, "40001": connector.Retryable, "40P01": connector.Retryable,
		"57P01": connector.Retryable, "57P03": connector.Retryable, "08006": connector.Retryable, "55P03": connector.Retryable,
		"25006": connector.Retryable, "XX000": connector.Retryable,
	}
	for code, want := range cases {
		err := fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code, Message: "m", Detail: "Failing row contains (secret data)."})
		ce, ok := postgres{}.classify(err, true)
		if !ok || ce.Class != want || ce.Code != code || ce.Sent {
			t.Errorf("%s: %+v, want %s, not sent (the server answered)", code, ce, want)
		}
		if strings.Contains(ce.Message, "secret data") {
			t.Errorf("%s: the failing row is in the message: %q", code, ce.Message)
		}
	}
	ce, _ := postgres{}.classify(&pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint", Detail: "Key (nick)=(x) already exists."}, false)
	if !strings.Contains(ce.Message, "Key (nick)=(x) already exists.") {
		t.Errorf("a useful detail is missing: %q", ce.Message)
	}
	// An error that is not the server's answer may have followed the
	// statement to the server.
	ce, _ = postgres{}.classify(errors.New("unexpected EOF"), true)
	if ce.Class != connector.Retryable || !ce.Sent || !strings.Contains(ce.Message, "safe: it upserts by key") {
		t.Errorf("lost connection at commit: %+v", ce)
	}
}

func TestOneStatement(t *testing.T) {
	t.Parallel()
	c, err := New("w", Options{Driver: "sqlite", DSN: t.TempDir() + "/x.db", Table: "t", KeyColumn: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	r := func(key string, cols ...string) row {
		return row{key: key, cols: append([]string{"k"}, cols...), args: make([]any, len(cols)+1)}
	}
	cases := []struct {
		name string
		rows []row
		want bool
	}{
		{"one row", []row{r("a", "x")}, false},
		{"same shape", []row{r("a", "x"), r("b", "x")}, true},
		{"different shapes", []row{r("a", "x"), r("b", "y")}, false},
		{"key twice", []row{r("a", "x"), r("a", "x")}, false},
	}
	for _, tc := range cases {
		if got := c.oneStatement(tc.rows); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUpsertManyReturnsPerRowResults(t *testing.T) {
	t.Parallel()
	c, err := New("w", Options{Driver: "sqlite", DSN: t.TempDir() + "/x.db", Table: "t", KeyColumn: "k", IDColumn: "id"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx := context.Background()
	if _, err := c.db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	var rows []row
	for i, k := range []string{"c", "a", "b"} {
		rows = append(rows, row{key: k, cols: []string{"k", "v"}, args: []any{k, fmt.Sprint(i)}})
	}
	res, err := c.upsertMany(ctx, c.db, rows)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"1", "2", "3"} {
		if res[i].Err != nil || res[i].Result.ExternalID != want {
			t.Errorf("row %d (%s): %+v, want ID %s", i, rows[i].key, res[i], want)
		}
	}
}

func TestSQLiteDSNDefaults(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"/data/dest.db":                               "/data/dest.db?_pragma=busy_timeout%285000%29&_txlock=immediate",
		"file:/data/dest.db?mode=rw":                  "file:/data/dest.db?mode=rw&_pragma=busy_timeout%285000%29&_txlock=immediate",
		"file:d.db?_pragma=busy_timeout(100)":         "file:d.db?_pragma=busy_timeout(100)&_txlock=immediate",
		"file:d.db?_txlock=deferred&_busy_timeout=10": "file:d.db?_txlock=deferred&_busy_timeout=10",
	}
	for in, want := range cases {
		db, secrets, err := sqlite{}.open(in, egress.Policy{})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if secrets[0] != want {
			t.Errorf("%s: opened as %s, want %s", in, secrets[0], want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	c := &Conn{secrets: []string{"postgres://u:pw-long@h/db", "pw-long"}}
	if got := c.redact("cannot reach postgres://u:pw-long@h/db (password pw-long)"); got != "cannot reach [redacted] (password [redacted])" {
		t.Errorf("redact = %q", got)
	}
	long := strings.Repeat("é", maxMessageBytes)
	if got := c.redact(long); len(got) > maxMessageBytes+len("…") || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "é") {
		t.Errorf("a long message is not cut cleanly: %d bytes", len(got))
	}
}
