package sqldest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	msqlite "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

// sqlite is the SQLite dialect, through the pure-Go modernc.org/sqlite.
type sqlite struct{}

func (sqlite) name() string       { return "sqlite" }
func (sqlite) defaultConns() int  { return 1 }
func (sqlite) maxParams() int     { return 32766 } // SQLITE_MAX_VARIABLE_NUMBER
func (sqlite) maxIdentBytes() int { return 0 }

func (sqlite) placeholder(int) string { return "?" }

// sameName compares names as SQLite does: ASCII case-insensitively.
func (sqlite) sameName(a, b string) bool { return strings.EqualFold(a, b) }

// open adds, unless the DSN sets them, a busy timeout (a second writer
// waits for the lock instead of failing at once) and immediate write
// transactions (a batch takes the write lock at BEGIN, so it cannot fail
// half-way on a lock upgrade).
func (sqlite) open(dsn string, _ egress.Policy) (*sql.DB, []string, error) {
	q := ""
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		q = dsn[i+1:]
	}
	params, err := url.ParseQuery(q)
	if err != nil {
		return nil, nil, errors.New("options.dsn: the query part of the SQLite DSN does not parse; the value is not shown")
	}
	var add []string
	busy := params.Has("_busy_timeout") || params.Has("_timeout")
	for _, p := range params["_pragma"] {
		busy = busy || strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), "busy_timeout")
	}
	if !busy {
		add = append(add, "_pragma=busy_timeout%285000%29")
	}
	if !params.Has("_txlock") {
		add = append(add, "_txlock=immediate")
	}
	if len(add) > 0 {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + strings.Join(add, "&")
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil { // only when the driver is not registered
		return nil, nil, errors.New("options.driver: the sqlite driver is not available")
	}
	return db, []string{dsn}, nil
}

// arg keeps SQLite's own types: whole numbers become INTEGER (so "42" and
// not "42.0" lands in a TEXT column), objects and lists JSON text.
func (sqlite) arg(v any) (any, error) {
	switch v := v.(type) {
	case nil, string, bool, int, int64, []byte:
		return v, nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) <= 1<<53 {
			return int64(v), nil
		}
		return v, nil
	case float32:
		return float64(v), nil
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, nil
		}
		if f, err := v.Float64(); err == nil {
			return f, nil
		}
		return v.String(), nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode a %T as JSON: %w", v, err)
	}
	return string(b), nil
}

// The catalog queries, through the table-valued pragma functions, which
// take the table (and schema) as bound parameters. A rowid alias (INTEGER
// PRIMARY KEY) has no index of its own, so a single-column primary key is
// read from table_info.
const (
	sqliteColumns        = `SELECT name FROM pragma_table_info(?)`
	sqliteColumnsIn      = `SELECT name FROM pragma_table_info(?, ?)`
	sqlitePrimaryKey     = `SELECT name FROM pragma_table_info(?) WHERE pk > 0`
	sqlitePrimaryKeyIn   = `SELECT name FROM pragma_table_info(?, ?) WHERE pk > 0`
	sqliteUniqueIndex    = `SELECT name FROM pragma_index_list(?) WHERE "unique" AND NOT partial`
	sqliteUniqueIndexIn  = `SELECT name FROM pragma_index_list(?, ?) WHERE "unique" AND NOT partial`
	sqliteIndexColumns   = `SELECT coalesce(name, '') FROM pragma_index_info(?)`
	sqliteIndexColumnsIn = `SELECT coalesce(name, '') FROM pragma_index_info(?, ?)`
)

func (sqlite) inspect(ctx context.Context, q querier, t tableName) (tableInfo, error) {
	var info tableInfo
	list := func(plain, in string, name string) ([]string, error) {
		if t.schema == "" {
			return queryStrings(ctx, q, plain, name)
		}
		return queryStrings(ctx, q, in, name, t.schema)
	}
	var err error
	if info.columns, err = list(sqliteColumns, sqliteColumnsIn, t.name); err != nil || len(info.columns) == 0 {
		return info, err
	}
	info.exists = true
	pk, err := list(sqlitePrimaryKey, sqlitePrimaryKeyIn, t.name)
	if err != nil {
		return info, err
	}
	if len(pk) == 1 {
		info.unique = append(info.unique, pk[0])
	}
	indexes, err := list(sqliteUniqueIndex, sqliteUniqueIndexIn, t.name)
	if err != nil {
		return info, err
	}
	for _, ix := range indexes {
		// An expression column has no name.
		cols, err := list(sqliteIndexColumns, sqliteIndexColumnsIn, ix)
		if err != nil {
			return info, err
		}
		if len(cols) == 1 && cols[0] != "" {
			info.unique = append(info.unique, cols[0])
		}
	}
	return info, nil
}

// SQLite's primary result codes (the low byte of the extended code).
const (
	sqliteError      = 1
	sqlitePerm       = 3
	sqliteBusy       = 5
	sqliteLocked     = 6
	sqliteReadonly   = 8
	sqliteCorrupt    = 11
	sqliteCantOpen   = 14
	sqliteTooBig     = 18
	sqliteConstraint = 19
	sqliteMismatch   = 20
	sqliteAuth       = 23
	sqliteRange      = 25
	sqliteNotADB     = 26
)

var sqliteCodeNames = map[int]string{
	1: "SQLITE_ERROR", 3: "SQLITE_PERM", 5: "SQLITE_BUSY", 6: "SQLITE_LOCKED", 7: "SQLITE_NOMEM",
	8: "SQLITE_READONLY", 9: "SQLITE_INTERRUPT", 10: "SQLITE_IOERR", 11: "SQLITE_CORRUPT",
	13: "SQLITE_FULL", 14: "SQLITE_CANTOPEN", 17: "SQLITE_SCHEMA", 18: "SQLITE_TOOBIG",
	19: "SQLITE_CONSTRAINT", 20: "SQLITE_MISMATCH", 23: "SQLITE_AUTH", 25: "SQLITE_RANGE", 26: "SQLITE_NOTADB",
	275: "SQLITE_CONSTRAINT_CHECK", 787: "SQLITE_CONSTRAINT_FOREIGNKEY", 1299: "SQLITE_CONSTRAINT_NOTNULL",
	1555: "SQLITE_CONSTRAINT_PRIMARYKEY", 2067: "SQLITE_CONSTRAINT_UNIQUE", 3091: "SQLITE_CONSTRAINT_DATATYPE",
}

// sqliteDrift are the SQLITE_ERROR messages that mean the table is not
// what the destination expects.
var sqliteDrift = []string{"no such table", "no such column", "has no column named", "unknown database", "ON CONFLICT clause does not match"}

// modernc's messages are "<generic text>: <message> (<code>)".
var (
	sqliteCodeSuffix = regexp.MustCompile(` \(\d+\)$`)
	sqlitePrefixes   = []string{"SQL logic error: ", "constraint failed: ", "datatype mismatch: ", "attempt to write a readonly database: "}
)

// classify reads a modernc.org/sqlite error. SQLite runs in-process and a
// failed statement is rolled back before the error returns, so nothing was
// applied, except that a COMMIT failing on anything but a lock may leave
// its outcome unknown.
func (sqlite) classify(err error, committing bool) (*connector.Error, bool) {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return nil, false
	}
	code := se.Code()
	primary := code & 0xff
	msg := sqliteCodeSuffix.ReplaceAllString(se.Error(), "")
	for _, p := range sqlitePrefixes {
		if rest, ok := strings.CutPrefix(msg, p); ok && rest != "" {
			msg = rest
			break
		}
	}
	name := sqliteCodeNames[code]
	if name == "" {
		name = sqliteCodeNames[primary]
	}
	if name == "" {
		name = "SQLITE_" + strconv.Itoa(code)
	}
	out := &connector.Error{Code: name, Message: msg + " (" + name + ")"}
	switch primary {
	case sqliteError:
		out.Class = connector.Permanent
		for _, d := range sqliteDrift {
			if strings.Contains(msg, d) {
				out.Class = connector.Drift
			}
		}
	case sqliteConstraint, sqliteMismatch, sqliteTooBig, sqliteRange:
		out.Class = connector.Permanent
	case sqliteReadonly, sqlitePerm, sqliteAuth, sqliteCantOpen:
		// The file cannot be opened or written: every write would fail
		// until someone fixes the path or its permissions.
		out.Class = connector.Auth
	case sqliteNotADB, sqliteCorrupt:
		// Not the database the destination was set up for.
		out.Class = connector.Drift
	default: // BUSY, LOCKED, IOERR, FULL, NOMEM, INTERRUPT, SCHEMA, ...
		out.Class = connector.Retryable
		out.Sent = committing && primary != sqliteBusy && primary != sqliteLocked
	}
	return out, true
}
