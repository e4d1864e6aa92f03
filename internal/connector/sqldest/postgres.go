package sqldest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

// postgres is the PostgreSQL dialect, through pgx's database/sql driver.
type postgres struct{}

func (postgres) name() string       { return "postgres" }
func (postgres) defaultConns() int  { return 4 }
func (postgres) maxParams() int     { return 65535 }
func (postgres) maxIdentBytes() int { return 63 } // NAMEDATALEN - 1

func (postgres) placeholder(n int) string { return "$" + strconv.Itoa(n) }

// sameName compares quoted names, which PostgreSQL matches exactly.
func (postgres) sameName(a, b string) bool { return a == b }

func (postgres) open(dsn string, guard egress.Policy) (*sql.DB, []string, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors quote the connection string.
		return nil, nil, errors.New("options.dsn: not a valid PostgreSQL connection string (URL or key=value); the value is not shown because it may hold a password")
	}
	// Exec mode sends every parameter as text with no prepared statement:
	// the column's own input function parses the value (so "1.5" into an
	// integer column is an error, not a silent rounding), nothing is cached
	// that a schema change could invalidate, and it works through PgBouncer.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	// Every connection (and TLS fallback) passes the egress guard with
	// the address pgx resolved, at connect time.
	cfg.DialFunc = guard.DialContext
	var secrets []string
	if len(cfg.Password) >= 3 { // shorter would redact ordinary words
		secrets = append(secrets, cfg.Password)
	}
	return stdlib.OpenDB(*cfg), secrets, nil
}

// arg sends scalars as their text form, which the column's type parses as
// it would a literal; objects and lists as JSON (for json, jsonb or text
// columns).
func (postgres) arg(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case json.Number:
		return v.String(), nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	case []byte:
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode a %T as JSON: %w", v, err)
	}
	return string(b), nil
}

// The catalog queries. to_regclass resolves the quoted name the way the
// INSERT will (search_path for an unqualified name) and is NULL, not an
// error, when there is no such table. An index can be an ON CONFLICT
// arbiter for one column when it is unique, immediate, not partial and its
// only key column is that column (INCLUDE columns do not count).
const (
	pgTableOID = `SELECT to_regclass($1)::oid::bigint`
	pgColumns  = `SELECT attname FROM pg_catalog.pg_attribute
		WHERE attrelid = $1::bigint::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum`
	pgUnique = `SELECT a.attname FROM pg_catalog.pg_index i
		JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = $1::bigint::oid AND i.indisunique AND i.indimmediate
		  AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = 1`
)

func (postgres) inspect(ctx context.Context, q querier, t tableName) (tableInfo, error) {
	var info tableInfo
	rows, err := q.QueryContext(ctx, pgTableOID, t.quoted)
	if err != nil {
		return info, err
	}
	var oid sql.NullInt64
	if rows.Next() {
		err = rows.Scan(&oid)
	}
	if cerr := rows.Close(); err == nil {
		err = firstErr(rows.Err(), cerr)
	}
	if err != nil || !oid.Valid {
		return info, err
	}
	info.exists = true
	if info.columns, err = queryStrings(ctx, q, pgColumns, oid.Int64); err != nil {
		return info, err
	}
	info.unique, err = queryStrings(ctx, q, pgUnique, oid.Int64)
	return info, err
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// classify reads a pgx error. A PgError is the server's answer: the
// statement (and, outside a batch, its transaction) did not take effect, so
// the write was not applied whatever its class. Any other error may have
// come after the statement reached the server unless pgx says it is safe to
// retry (nothing was sent).
func (postgres) classify(err error, committing bool) (*connector.Error, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.Detail != "" && !strings.HasPrefix(pe.Detail, "Failing row contains") {
			// "Key (email)=(a@b.c) already exists." helps; the whole
			// failing row is long and may hold data nobody asked to see.
			msg += ": " + pe.Detail
		}
		msg += " (SQLSTATE " + pe.Code + ")"
		return &connector.Error{Class: pgClass(pe), Code: pe.Code, Message: msg}, true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		// Its own text names the user and database; the cause names the
		// address and what went wrong.
		inner := ce.Unwrap()
		msg := "connect to PostgreSQL"
		if inner != nil {
			msg += ": " + inner.Error()
		}
		return &connector.Error{Class: connector.Retryable, Message: msg}, true
	}
	sent := !pgconn.SafeToRetry(err)
	msg := err.Error()
	if strings.HasPrefix(msg, "failed to encode args") {
		// A value pgx cannot put in the column's type, found before
		// sending.
		return &connector.Error{Class: connector.Permanent, Message: msg}, true
	}
	if committing && sent {
		msg = "the connection failed after COMMIT was sent, so the batch may or may not have been applied (writing it again is safe: it upserts by key): " + msg
	}
	return &connector.Error{Class: connector.Retryable, Message: msg, Sent: sent}, true
}

// pgClass maps a SQLSTATE to its class.
func pgClass(pe *pgconn.PgError) connector.Class {
	code := pe.Code
	switch code {
	case "42703", // undefined_column
		"42P01", // undefined_table
		"3F000", // invalid_schema_name
		"3D000", // invalid_catalog_name: the database itself is gone
		"42P10": // invalid_column_reference: no unique index matches ON CONFLICT
		return connector.Drift
	case "28000", // invalid_authorization_specification (e.g. no such role)
		"28P01", // invalid_password
		"42501": // insufficient_privilege: no INSERT/UPDATE/SELECT grant
		return connector.Auth
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03", // lock_not_available
		"57014", // query_canceled (statement_timeout)
		"25006": // read_only_sql_transaction: a standby, mid-failover
		return connector.Retryable
	case "0A000": // feature_not_supported; only a stale cached plan is transient
		if strings.Contains(pe.Message, "cached plan") {
			return connector.Retryable
		}
		return connector.Permanent
	}
	switch code[:2] {
	case "08", // connection_exception
		"53", // insufficient_resources: too many connections, disk full, out of memory
		"57", // operator_intervention: admin shutdown, crash shutdown, cannot connect now
		"58", // system_error (I/O)
		"XX": // internal_error
		return connector.Retryable
	case "21", // cardinality_violation: one statement would update a row twice
		"22", // data_exception: bad value for the column's type
		"23", // integrity_constraint_violation: not null, check, unique on another column, foreign key
		"42", // syntax_error_or_access_rule_violation: e.g. datatype_mismatch
		"54": // program_limit_exceeded: e.g. a row too big for an index
		return connector.Permanent
	}
	return connector.Retryable
}
