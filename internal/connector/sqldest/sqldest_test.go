package sqldest_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/sqldest"
	"github.com/sluicehq/sluice/internal/egress"
)

func TestRegisteredWithConstraints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		opts map[string]any
		want connector.Constraints
	}{
		{map[string]any{"driver": "sqlite", "dsn": filepath.Join(dir, "a.db")}, connector.Constraints{BatchSize: 100, Concurrency: 1, Upsert: true}},
		{map[string]any{"driver": "postgres", "dsn": "postgres://u@127.0.0.1:1/db"}, connector.Constraints{BatchSize: 100, Concurrency: 4, Upsert: true}},
		{map[string]any{"driver": "postgres", "dsn": "host=127.0.0.1 port=1", "max_open_conns": 16}, connector.Constraints{BatchSize: 100, Concurrency: 16, Upsert: true}},
	}
	for _, tc := range cases {
		tc.opts["table"], tc.opts["key_column"] = "contacts", "email"
		c, err := connector.New("sql", connector.Params{Name: "warehouse", Options: tc.opts, AllowPrivateNetwork: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { connector.Close(context.Background(), c) })
		if got := c.Constraints(); got != tc.want {
			t.Errorf("%s: constraints = %+v, want %+v", tc.opts["driver"], got, tc.want)
		}
		if _, ok := c.(connector.Batcher); !ok {
			t.Error("not a Batcher")
		}
		if _, ok := c.(connector.Looker); !ok {
			t.Error("not a Looker")
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	base := func() map[string]any {
		return map[string]any{"driver": "sqlite", "dsn": "/tmp/never-opened.db", "table": "contacts", "key_column": "email"}
	}
	cases := []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"unknown key", func(o map[string]any) { o["key_colum"] = "x" }, `options.key_colum: unknown option`},
		{"no driver", func(o map[string]any) { delete(o, "driver") }, `options.driver: required: one of postgres, sqlite`},
		{"bad driver", func(o map[string]any) { o["driver"] = "mysql" }, "options.driver"},
		{"no dsn", func(o map[string]any) { delete(o, "dsn") }, "options.dsn: required"},
		{"no table", func(o map[string]any) { delete(o, "table") }, "options.table: required"},
		{"three-part table", func(o map[string]any) { o["table"] = "db.crm.contacts" }, "options.table"},
		{"empty schema", func(o map[string]any) { o["table"] = ".contacts" }, "options.table: empty name"},
		{"no key column", func(o map[string]any) { delete(o, "key_column") }, "options.key_column: required"},
		{"key column with spaces", func(o map[string]any) { o["key_column"] = "email " }, "options.key_column"},
		{"NUL in id column", func(o map[string]any) { o["id_column"] = "i\x00d" }, "options.id_column"},
		{"two fields, one column", func(o map[string]any) { o["columns"] = map[string]any{"a": "col", "b": "COL"} }, "options.columns.b"},
		{"empty column", func(o map[string]any) { o["columns"] = map[string]any{"a": ""} }, "options.columns.a: empty name"},
		{"negative conns", func(o map[string]any) { o["max_open_conns"] = -1 }, "options.max_open_conns"},
		{"postgres name too long", func(o map[string]any) {
			o["driver"], o["dsn"], o["key_column"] = "postgres", "postgres://h/db", strings.Repeat("k", 64)
		}, "63-byte limit"},
		{"bad postgres dsn", func(o map[string]any) { o["driver"], o["dsn"] = "postgres", "postgres://u:pw@h:port/db" }, "options.dsn: not a valid PostgreSQL connection string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := base()
			tc.change(o)
			_, err := connector.New("sql", connector.Params{Name: "warehouse", Options: o, AllowPrivateNetwork: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDSNNeverShown(t *testing.T) {
	t.Parallel()
	const password = "Hunter2-sluice-secret"
	bad := "postgres://admin:" + password + "@db.internal:notaport/crm"
	_, err := connector.New("sql", connector.Params{Name: "w", Options: map[string]any{"driver": "postgres", "dsn": bad, "table": "t", "key_column": "k"}, AllowPrivateNetwork: true})
	if err == nil || strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "db.internal") {
		t.Fatalf("parse error shows the DSN: %v", err)
	}

	good := "postgres://admin:" + password + "@127.0.0.1:1/crm?sslmode=disable&connect_timeout=2"
	o := sqldest.Options{Driver: "postgres", DSN: good, Table: "crm.contacts", KeyColumn: "email", Egress: egress.For("destination w", true)}
	c, err := sqldest.New("w", o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o)} {
		if strings.Contains(s, password) || strings.Contains(s, good) {
			t.Fatalf("the DSN shows in %q", s)
		}
	}
	// Connection refused: classified, and no DSN in the message.
	_, err = c.Deliver(ctx(t), delivery("a@example.com", map[string]any{"name": "A"}))
	ce := classified(t, err, connector.Retryable, password, good)
	if ce.Sent {
		t.Fatal("a refused connection sent nothing; Sent must be false")
	}
	if !strings.Contains(ce.Message, "refused") {
		t.Fatalf("message %q does not say the connection was refused", ce.Message)
	}
}

func TestFirstUseChecks(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b *backend) {
		cases := []struct {
			name    string
			columns string
			opts    map[string]any
			code    string
			want    string
		}{
			{"no table", "", nil, "NO_TABLE", "does not exist"},
			{"no key column", "mail TEXT PRIMARY KEY", nil, "NO_COLUMN", `key_column "email"`},
			{"no id column", "email TEXT PRIMARY KEY", map[string]any{"id_column": "id"}, "NO_COLUMN", `id_column "id"`},
			{"no mapped column", "email TEXT PRIMARY KEY, name TEXT", map[string]any{"columns": map[string]any{"name": "name", "age": "age_years"}}, "NO_COLUMN", `"age_years" (field "age")`},
			{"no unique constraint", "email TEXT, name TEXT", nil, "NO_UNIQUE", "no unique constraint"},
			{"composite primary key only", "email TEXT, name TEXT, PRIMARY KEY (email, name)", nil, "NO_UNIQUE", "no unique constraint"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				table := "sluice_sqldest_missing_" + fmt.Sprint(rand.Uint64())
				if tc.columns != "" {
					table = b.table(t, tc.columns)
				}
				opts := map[string]any{"table": table, "key_column": "email"}
				for k, v := range tc.opts {
					opts[k] = v
				}
				c := b.open(t, opts)
				_, err := c.Deliver(ctx(t), delivery("a@example.com", map[string]any{"name": "A"}))
				ce := classified(t, err, connector.Drift)
				if ce.Code != tc.code || !strings.Contains(ce.Message, tc.want) {
					t.Fatalf("drift %s %q, want %s containing %q", ce.Code, ce.Message, tc.code, tc.want)
				}
				_, _, _, err = c.Lookup(ctx(t), "a@example.com")
				classified(t, err, connector.Drift)
				rs, err := c.DeliverBatch(ctx(t), []connector.Delivery{delivery("a@example.com", nil), delivery("b@example.com", nil)})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					classified(t, r.Err, connector.Drift)
				}
			})
		}

		t.Run("a partial unique index does not count; a unique index does", func(t *testing.T) {
			t.Parallel()
			table := b.table(t, "email TEXT, name TEXT")
			b.exec(t, fmt.Sprintf("CREATE UNIQUE INDEX %q ON %q (email) WHERE name IS NOT NULL", table+"_partial", table))
			c := b.open(t, map[string]any{"table": table, "key_column": "email"})
			_, err := c.Deliver(ctx(t), delivery("a@example.com", map[string]any{"name": "A"}))
			if ce := classified(t, err, connector.Drift); ce.Code != "NO_UNIQUE" {
				t.Fatalf("code %s, want NO_UNIQUE", ce.Code)
			}
			b.exec(t, fmt.Sprintf("CREATE UNIQUE INDEX %q ON %q (email)", table+"_email", table))
			if _, err := c.Deliver(ctx(t), delivery("a@example.com", map[string]any{"name": "A"})); err != nil {
				t.Fatalf("after adding the index: %v", err)
			}
		})
	})
}

func TestPermanentErrors(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b *backend) {
		table := b.table(t, contactsDDL)
		c := b.open(t, map[string]any{"table": table, "key_column": "email"})
		if _, err := c.Deliver(ctx(t), delivery("taken@example.com", map[string]any{"name": "T", "nickname": "tee"})); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name    string
			payload map[string]any
			want    string
		}{
			{"not null", map[string]any{"name": nil}, "name"},
			{"check", map[string]any{"name": "N", "score": float64(-1)}, "score"},
			{"unique on another column", map[string]any{"name": "N", "nickname": "tee"}, "nickname"},
		}
		for _, tc := range cases {
			_, err := c.Deliver(ctx(t), delivery("new@example.com", tc.payload))
			ce := classified(t, err, connector.Permanent)
			if !strings.Contains(ce.Message, tc.want) || ce.Code == "" || ce.Sent {
				t.Fatalf("%s: %+v, want the database's message naming %q, its code, not sent", tc.name, ce, tc.want)
			}
		}
		if n := b.count(t, table, "email", "new@example.com"); n != 0 {
			t.Fatalf("refused writes left %d rows", n)
		}

		// A value the column's type refuses. SQLite checks types in STRICT
		// tables only.
		typed := b.tableWith(t, "email TEXT PRIMARY KEY, score INTEGER", map[string]string{"sqlite": "STRICT"}[b.driver])
		c = b.open(t, map[string]any{"table": typed, "key_column": "email"})
		for _, v := range []any{"many", 1.5} {
			_, err := c.Deliver(ctx(t), delivery("typed@example.com", map[string]any{"score": v}))
			ce := classified(t, err, connector.Permanent)
			t.Logf("%v into an integer column: %v", v, ce)
		}
		if _, err := c.Deliver(ctx(t), delivery("typed@example.com", map[string]any{"score": "42"})); err != nil {
			t.Fatalf("\"42\" into an integer column: %v", err)
		}
		if got := b.value(t, typed, "email", "typed@example.com", "score"); fmt.Sprint(got) != "42" {
			t.Fatalf("score = %v, want 42", got)
		}

		// Payload problems found before any I/O.
		_, err := c.Deliver(ctx(t), delivery("", map[string]any{"score": 1}))
		if ce := classified(t, err, connector.Permanent); ce.Code != "NO_KEY" {
			t.Fatalf("empty key: code %s, want NO_KEY", ce.Code)
		}
	})
}

func TestIDColumn(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b *backend) {
		table := b.table(t, "id "+b.serialPK+", email TEXT NOT NULL UNIQUE, name TEXT")
		c := b.open(t, map[string]any{"table": table, "key_column": "email", "id_column": "id"})
		res, err := c.Deliver(ctx(t), delivery("a@example.com", map[string]any{"name": "A"}))
		if err != nil {
			t.Fatal(err)
		}
		if res.ExternalID != "1" {
			t.Fatalf("external ID %q, want the generated id 1", res.ExternalID)
		}
		d := delivery("a@example.com", map[string]any{"name": "A2"})
		d.ExternalID = res.ExternalID
		if res2, err := c.Deliver(ctx(t), d); err != nil || res2.ExternalID != "1" {
			t.Fatalf("update = %+v %v, want external ID 1", res2, err)
		}
		rs, err := c.DeliverBatch(ctx(t), []connector.Delivery{
			delivery("b@example.com", map[string]any{"name": "B"}),
			delivery("a@example.com", map[string]any{"name": "A3"}),
			delivery("c@example.com", map[string]any{"name": "C"}),
		})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for i, r := range rs {
			if r.Err != nil {
				t.Fatalf("item %d: %v", i, r.Err)
			}
			ids[r.Result.ExternalID] = true
		}
		if rs[1].Result.ExternalID != "1" || len(ids) != 3 {
			t.Fatalf("batch IDs %+v: want the existing row's 1 and two new ones", rs)
		}
		id, fields, found, err := c.Lookup(ctx(t), "a@example.com")
		if err != nil || !found || id != "1" || fields["name"] != "A3" {
			t.Fatalf("lookup = %q %v %v %v, want id 1 with name A3", id, fields, found, err)
		}
	})
}

func TestMappingQuotingAndSchemas(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b *backend) {
		schema := "main"
		if b.driver == "postgres" {
			schema = fmt.Sprintf(`sluice "schema" %x`, rand.Uint32())
			qs := `"` + strings.ReplaceAll(schema, `"`, `""`) + `"`
			b.exec(t, "CREATE SCHEMA "+qs)
			t.Cleanup(func() { _, _ = b.admin.Exec("DROP SCHEMA " + qs + " CASCADE") })
		}
		name := fmt.Sprintf(`odd "table" %x`, rand.Uint32())
		quoted := `"` + strings.ReplaceAll(schema, `"`, `""`) + `"."` + strings.ReplaceAll(name, `"`, `""`) + `"`
		b.exec(t, "CREATE TABLE "+quoted+` ("E-Mail ""addr""" TEXT PRIMARY KEY, "Full Name" TEXT, "select" TEXT, other TEXT)`)
		t.Cleanup(func() { _, _ = b.admin.Exec("DROP TABLE IF EXISTS " + quoted) })

		c := b.open(t, map[string]any{"table": schema + "." + name, "key_column": `E-Mail "addr"`,
			"columns": map[string]any{"email": `E-Mail "addr"`, "name": "Full Name", "kind": "select"}})
		res, err := c.Deliver(ctx(t), delivery("a@example.com", map[string]any{"email": "ignored: the key column takes the record key", "name": "Ada", "kind": "x", "unmapped": "ignored"}))
		if err != nil {
			t.Fatal(err)
		}
		if res.ExternalID != "a@example.com" {
			t.Fatalf("external ID %q", res.ExternalID)
		}
		id, fields, found, err := c.Lookup(ctx(t), "a@example.com")
		want := map[string]any{"email": "a@example.com", "name": "Ada", "kind": "x"}
		if err != nil || !found || id != "a@example.com" || fmt.Sprint(fields) != fmt.Sprint(want) {
			t.Fatalf("lookup = %q %v %v %v, want %v", id, fields, found, err, want)
		}

		// Without a mapping, a payload field is a column name, quoted: an
		// injection attempt is only an unknown column.
		table := b.table(t, contactsDDL)
		c = b.open(t, map[string]any{"table": table, "key_column": "email"})
		evil := fmt.Sprintf(`n"); DROP TABLE %q; --`, table)
		_, err = c.Deliver(ctx(t), delivery("b@example.com", map[string]any{"name": "B", evil: "boom"}))
		classified(t, err, connector.Drift)
		if _, err := c.Deliver(ctx(t), delivery("b@example.com", map[string]any{"name": "B"})); err != nil {
			t.Fatalf("the table did not survive: %v", err)
		}
	})
}

func TestBatchShapes(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b *backend) {
		t.Run("same key twice: in order, last wins", func(t *testing.T) {
			t.Parallel()
			table := b.table(t, contactsDDL)
			c := b.open(t, map[string]any{"table": table, "key_column": "email"})
			rs, err := c.DeliverBatch(ctx(t), []connector.Delivery{
				delivery("a@example.com", map[string]any{"name": "first"}),
				delivery("b@example.com", map[string]any{"name": "B"}),
				delivery("a@example.com", map[string]any{"name": "second"}),
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rs {
				if r.Err != nil {
					t.Fatalf("item %d: %v", i, r.Err)
				}
			}
			if got := b.value(t, table, "email", "a@example.com", "name"); got != "second" {
				t.Fatalf("name = %v, want second", got)
			}
		})

		t.Run("mixed columns, invalid items, several transactions", func(t *testing.T) {
			t.Parallel()
			table := b.table(t, contactsDDL)
			c := b.open(t, map[string]any{"table": table, "key_column": "email"})
			var ds []connector.Delivery
			for i := range 250 {
				p := map[string]any{"name": fmt.Sprintf("N%d", i)}
				if i%3 == 0 {
					p["score"] = float64(i)
				}
				ds = append(ds, delivery(fmt.Sprintf("n%d@example.com", i), p))
			}
			ds[7].RecordKey = ""
			ds[120].Payload["score"] = float64(-5) // the check fails in the second transaction
			rs, err := c.DeliverBatch(ctx(t), ds)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rs {
				switch i {
				case 7:
					if ce := classified(t, r.Err, connector.Permanent); ce.Code != "NO_KEY" {
						t.Fatalf("item 7: %v", ce)
					}
				case 120:
					classified(t, r.Err, connector.Permanent)
				default:
					if r.Err != nil || r.Result.ExternalID != ds[i].RecordKey {
						t.Fatalf("item %d: %+v", i, r)
					}
				}
			}
			var n int
			if err := b.admin.QueryRowContext(ctx(t), fmt.Sprintf("SELECT count(*) FROM %q", table)).Scan(&n); err != nil || n != 248 {
				t.Fatalf("%d rows (%v), want 248", n, err)
			}
		})

		t.Run("key stored differently from the record key", func(t *testing.T) {
			t.Parallel()
			table := b.table(t, "n INTEGER PRIMARY KEY, name TEXT")
			c := b.open(t, map[string]any{"table": table, "key_column": "n"})
			rs, err := c.DeliverBatch(ctx(t), []connector.Delivery{
				delivery("007", map[string]any{"name": "bond"}),
				delivery("8", map[string]any{"name": "eight"}),
			})
			if err != nil {
				t.Fatal(err)
			}
			if rs[0].Err != nil || rs[1].Err != nil || rs[0].Result.ExternalID != "7" || rs[1].Result.ExternalID != "8" {
				t.Fatalf("results %+v, want external IDs 7 and 8", rs)
			}
			id, _, found, err := c.Lookup(ctx(t), "007")
			if err != nil || !found || id != "7" {
				t.Fatalf("lookup 007 = %q %v %v, want 7", id, found, err)
			}
		})
	})
}

func TestPayloadValues(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b *backend) {
		jsonType := map[string]string{"sqlite": "TEXT", "postgres": "JSONB"}[b.driver]
		table := b.table(t, "k TEXT PRIMARY KEY, flag BOOLEAN, ratio REAL, label TEXT, attrs "+jsonType)
		c := b.open(t, map[string]any{"table": table, "key_column": "k"})
		payload := map[string]any{"flag": true, "ratio": 0.25, "label": float64(42), "attrs": map[string]any{"tier": "gold", "tags": []any{"a"}}}
		if _, err := c.Deliver(ctx(t), delivery("k1", payload)); err != nil {
			t.Fatal(err)
		}
		_, fields, _, err := c.Lookup(ctx(t), "k1")
		if err != nil {
			t.Fatal(err)
		}
		if fields["label"] != "42" || fields["ratio"] != 0.25 {
			t.Fatalf("label %#v ratio %#v, want \"42\" and 0.25", fields["label"], fields["ratio"])
		}
		attrs := fmt.Sprint(fields["attrs"])
		if b.driver == "postgres" && attrs != "map[tags:[a] tier:gold]" || b.driver == "sqlite" && attrs != `{"tags":["a"],"tier":"gold"}` {
			t.Fatalf("attrs read back as %#v", fields["attrs"])
		}
		// null writes NULL; a field left out keeps its value.
		if _, err := c.Deliver(ctx(t), delivery("k1", map[string]any{"label": nil})); err != nil {
			t.Fatal(err)
		}
		if _, fields, _, _ = c.Lookup(ctx(t), "k1"); fields["label"] != nil || fields["ratio"] != 0.25 {
			t.Fatalf("after a null label: %v", fields)
		}
	})
}

// A row locked by another transaction holds the connector's write until
// the test decides what happens to it.
func lockRow(t *testing.T, b *backend, table, key string) *sql.Tx {
	t.Helper()
	tx, err := b.admin.BeginTx(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	if _, err := tx.ExecContext(ctx(t), fmt.Sprintf("SELECT 1 FROM %q WHERE email = $1 FOR UPDATE", table), key); err != nil {
		t.Fatal(err)
	}
	return tx
}

// waitBlocked waits until a backend other than the admin's waits on a lock
// while writing to table, and returns its pid.
func waitBlocked(t *testing.T, b *backend, table string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var pid int
		err := b.admin.QueryRowContext(ctx(t), `SELECT pid FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid() LIMIT 1`, table).Scan(&pid)
		if err == nil {
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the connector's write never waited on the lock")
	return 0
}

func TestPostgresFailures(t *testing.T) {
	t.Parallel()
	b := postgresBackend(t)
	cfg, err := pgx.ParseConfig(b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	hostport := fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)

	t.Run("a role that does not exist is auth", func(t *testing.T) {
		t.Parallel()
		// The test server may trust every local connection, so a wrong
		// password for a real role would be accepted; a role that does not
		// exist is refused under every auth method: 28000 under trust,
		// 28P01 under password/scram (which hides whether the role exists).
		const password = "not-the-password-9f3a"
		dsn := fmt.Sprintf("postgres://sluice_no_such_role_%x:%s@%s/%s?sslmode=disable", rand.Uint32(), password, hostport, url.PathEscape(cfg.Database))
		c := b.open(t, map[string]any{"dsn": dsn, "table": "contacts", "key_column": "email"})
		_, err := c.Deliver(ctx(t), delivery("a@example.com", map[string]any{"name": "A"}))
		ce := classified(t, err, connector.Auth, dsn, password)
		if ce.Code != "28000" && ce.Code != "28P01" {
			t.Fatalf("code %s, want 28000 or 28P01", ce.Code)
		}
		_, _, _, err = c.Lookup(ctx(t), "a@example.com")
		classified(t, err, connector.Auth, dsn, password)
	})

	t.Run("a database that does not exist is drift", func(t *testing.T) {
		t.Parallel()
		dsn := fmt.Sprintf("postgres://%s@%s/sluice_no_such_db_%x?sslmode=disable", url.PathEscape(cfg.User), hostport, rand.Uint32())
		c := b.open(t, map[string]any{"dsn": dsn, "table": "contacts", "key_column": "email"})
		_, err := c.Deliver(ctx(t), delivery("a@example.com", nil))
		if ce := classified(t, err, connector.Drift, dsn); ce.Code != "3D000" {
			t.Fatalf("code %s, want 3D000", ce.Code)
		}
	})

	t.Run("deadlock is retryable, and the batch is not applied", func(t *testing.T) {
		t.Parallel()
		table := b.table(t, contactsDDL)
		c := b.open(t, map[string]any{"table": table, "key_column": "email"})
		for _, k := range []string{"k1@example.com", "k2@example.com"} {
			if _, err := c.Deliver(ctx(t), delivery(k, map[string]any{"name": "before"})); err != nil {
				t.Fatal(err)
			}
		}
		tx := lockRow(t, b, table, "k2@example.com")
		// Only the connector's backend runs the deadlock check in time, so
		// it is the victim.
		if _, err := tx.ExecContext(ctx(t), "SET LOCAL deadlock_timeout = '60s'"); err != nil {
			t.Skipf("cannot set deadlock_timeout (needs superuser): %v", err)
		}
		var rs []connector.BatchResult
		var wg sync.WaitGroup
		wg.Go(func() {
			rs, _ = c.DeliverBatch(ctx(t), []connector.Delivery{
				delivery("k1@example.com", map[string]any{"name": "after"}),
				delivery("k2@example.com", map[string]any{"name": "after"}),
			})
		})
		waitBlocked(t, b, table)
		if _, err := tx.ExecContext(ctx(t), fmt.Sprintf("UPDATE %q SET name = 'admin' WHERE email = 'k1@example.com'", table)); err != nil {
			t.Fatalf("the admin transaction was the victim: %v", err)
		}
		wg.Wait()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			ce := classified(t, r.Err, connector.Retryable)
			if ce.Code != "40P01" || ce.Sent {
				t.Fatalf("item %d: %+v, want 40P01, not applied", i, ce)
			}
		}
		if got := b.value(t, table, "email", "k2@example.com", "name"); got != "before" {
			t.Fatalf("k2 = %v: the failed batch was partly applied", got)
		}
	})

	t.Run("administrator shutdown is retryable", func(t *testing.T) {
		t.Parallel()
		table := b.table(t, contactsDDL)
		c := b.open(t, map[string]any{"table": table, "key_column": "email"})
		if _, err := c.Deliver(ctx(t), delivery("k@example.com", map[string]any{"name": "before"})); err != nil {
			t.Fatal(err)
		}
		tx := lockRow(t, b, table, "k@example.com")
		errc := make(chan error, 1)
		go func() {
			_, err := c.Deliver(ctx(t), delivery("k@example.com", map[string]any{"name": "after"}))
			errc <- err
		}()
		pid := waitBlocked(t, b, table)
		if _, err := tx.ExecContext(ctx(t), "SELECT pg_terminate_backend($1)", pid); err != nil {
			t.Skipf("cannot terminate a backend: %v", err)
		}
		ce := classified(t, <-errc, connector.Retryable)
		t.Logf("terminated mid-statement: %+v", ce)
		if ce.Code != "57P01" && !ce.Sent {
			t.Fatalf("%+v: want 57P01 from the server, or a lost connection marked Sent", ce)
		}
		_ = tx.Rollback()
		// The pool replaces the connection.
		if _, err := c.Deliver(ctx(t), delivery("k@example.com", map[string]any{"name": "after"})); err != nil {
			t.Fatalf("after the shutdown: %v", err)
		}
	})

	t.Run("a timeout mid-statement is retryable and ambiguous", func(t *testing.T) {
		t.Parallel()
		table := b.table(t, contactsDDL)
		c := b.open(t, map[string]any{"table": table, "key_column": "email"})
		if _, err := c.Deliver(ctx(t), delivery("k@example.com", map[string]any{"name": "before"})); err != nil {
			t.Fatal(err)
		}
		tx := lockRow(t, b, table, "k@example.com")
		short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := c.Deliver(short, delivery("k@example.com", map[string]any{"name": "after"}))
		cancel()
		ce := classified(t, err, connector.Retryable)
		if !ce.Sent || !errors.Is(ce, context.DeadlineExceeded) {
			t.Fatalf("%+v: a timeout after sending must be Sent and wrap the deadline", ce)
		}
		_ = tx.Rollback()
		if _, err := c.Deliver(ctx(t), delivery("k@example.com", map[string]any{"name": "after"})); err != nil {
			t.Fatal(err)
		}
		if n := b.count(t, table, "email", "k@example.com"); n != 1 {
			t.Fatalf("%d rows after the retry, want 1", n)
		}
	})
}

func TestSQLiteFailures(t *testing.T) {
	t.Parallel()
	b := sqliteBackend(t)
	table := b.table(t, contactsDDL)

	t.Run("a read-only database is auth", func(t *testing.T) {
		t.Parallel()
		c := b.open(t, map[string]any{"dsn": "file:" + b.dsn + "?mode=ro", "table": table, "key_column": "email"})
		_, err := c.Deliver(ctx(t), delivery("a@example.com", map[string]any{"name": "A"}))
		if ce := classified(t, err, connector.Auth, b.dsn); !strings.HasPrefix(ce.Code, "SQLITE_READONLY") {
			t.Fatalf("code %s", ce.Code)
		}
	})

	t.Run("a file that cannot be opened is auth", func(t *testing.T) {
		t.Parallel()
		dsn := filepath.Join(t.TempDir(), "no", "such", "dir.db")
		c := b.open(t, map[string]any{"dsn": dsn, "table": table, "key_column": "email"})
		_, err := c.Deliver(ctx(t), delivery("a@example.com", nil))
		if ce := classified(t, err, connector.Auth, dsn); ce.Code != "SQLITE_CANTOPEN" {
			t.Fatalf("code %s", ce.Code)
		}
	})

	t.Run("a file that is not a database is drift", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "notes.txt")
		if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
			t.Fatal(err)
		}
		c := b.open(t, map[string]any{"dsn": path, "table": table, "key_column": "email"})
		_, err := c.Deliver(ctx(t), delivery("a@example.com", nil))
		if ce := classified(t, err, connector.Drift, path); ce.Code != "SQLITE_NOTADB" {
			t.Fatalf("code %s", ce.Code)
		}
	})

	t.Run("a locked database past the deadline is retryable, not applied", func(t *testing.T) {
		t.Parallel()
		b := sqliteBackend(t)
		table := b.table(t, contactsDDL)
		conn, err := b.admin.Conn(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx(t), "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		c := b.open(t, map[string]any{"table": table, "key_column": "email"})
		short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err = c.Deliver(short, delivery("locked@example.com", map[string]any{"name": "L"}))
		cancel()
		ce := classified(t, err, connector.Retryable)
		if ce.Sent {
			t.Fatalf("%+v: SQLite rolls a failed statement back; nothing was applied", ce)
		}
		if _, err := conn.ExecContext(ctx(t), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Deliver(ctx(t), delivery("locked@example.com", map[string]any{"name": "L"})); err != nil {
			t.Fatal(err)
		}
	})
}
