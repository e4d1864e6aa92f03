// Package sqldest is the SQL table destination, registered as type "sql": it
// writes mapped records as rows of one table in PostgreSQL (through pgx) or
// SQLite (through the pure-Go modernc.org/sqlite). It owns the upsert by a
// unique key column, so that a retry never creates a duplicate row; the
// per-row outcome of batch writes; the check that the table can take upserts
// at all; and the translation of the databases' errors into
// connector.Error, with the DSN kept out of everything it reports.
//
// Writes:
//   - Deliver upserts one row with INSERT ... ON CONFLICT (key_column) DO
//     UPDATE SET ... RETURNING, in its own implicit transaction. The key
//     column takes the record key; every other column the payload names
//     takes its value. Columns the payload does not name keep their values
//     (or their defaults on insert); a payload value of null writes NULL.
//   - The external ID is the stored key value, or the id_column value when
//     one is configured. The identity map is not needed to find the row: the
//     key does, so Deliver with or without Delivery.ExternalID writes the
//     same row.
//   - DeliverBatch writes up to 100 rows in one transaction: one multi-row
//     upsert statement when the rows allow it, under a savepoint; if that
//     fails on a row's data, it rolls back to the savepoint and writes the
//     rows one by one, each under its own savepoint, so one bad row fails
//     alone and the others commit.
//
// Because every write is an upsert by key, writing the same record again is
// harmless: an ambiguous outcome (the connection lost after COMMIT was sent)
// is resolved by simply writing again, and Lookup is not needed first.
//
// Identifiers (table, columns) are always quoted; values are always bound
// parameters, never interpolated.
package sqldest

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

// Kind is the destination type this package registers.
const Kind = "sql"

func init() { connector.Register(Kind, Open) }

const (
	// BatchSize is the most rows DeliverBatch writes in one transaction.
	BatchSize = 100

	redacted = "[redacted]"
	// maxMessageBytes is how much of a database message becomes
	// Error.Message.
	maxMessageBytes = 1024
)

// Drivers are the databases the connector writes to.
var Drivers = []string{"postgres", "sqlite"}

// Options configure one SQL destination.
type Options struct {
	// Driver is "postgres" or "sqlite"; required.
	Driver string `json:"driver"`
	// DSN is the connection string; required. For postgres, a URL or
	// key=value string as libpq takes it (default_query_exec_mode is ignored:
	// the connector always sends values as text for the column's type to
	// parse, without prepared statements, which also works behind PgBouncer
	// and survives schema changes). For sqlite, a file path or file: URI;
	// busy_timeout(5000) and _txlock=immediate are added unless it sets them.
	// It is never shown in errors, logs or String.
	DSN string `json:"dsn"`
	// Table is the table written to, optionally schema-qualified
	// ("crm.contacts"); required. Each part is quoted, so it is matched
	// exactly (case-sensitively on postgres).
	Table string `json:"table"`
	// KeyColumn holds the record key; required. It must have a unique
	// constraint (or unique index, or be the primary key) of its own, which
	// is checked on first use.
	KeyColumn string `json:"key_column"`
	// IDColumn, when set, is a column (typically a generated primary key)
	// whose value is returned as the external ID instead of the key.
	IDColumn string `json:"id_column"`
	// Columns maps payload fields to columns. When empty, every payload
	// field is written to the column of the same name. When set, only the
	// fields it lists are written; other fields are ignored. A field mapped
	// to key_column is ignored: the key column always takes the record key.
	Columns map[string]string `json:"columns"`
	// MaxOpenConns bounds the connections (and so the writes in flight);
	// default 4 for postgres, 1 for sqlite (SQLite takes one writer at a
	// time; more connections only wait for its lock).
	MaxOpenConns int `json:"max_open_conns"`
	// Egress guards every connection to the destination; Open sets it
	// from the destination's allow_private_network. Configs cannot set it
	// here.
	Egress egress.Policy `json:"-"`
}

// String describes the options without the DSN.
func (o Options) String() string {
	return fmt.Sprintf("sql options: %s table %q by %q, dsn %s", o.Driver, o.Table, o.KeyColumn, redacted)
}

// GoString keeps %#v from printing the DSN.
func (o Options) GoString() string { return o.String() }

// Conn is a SQL table destination. It is safe for concurrent use.
type Conn struct {
	name    string
	dialect dialect
	db      *sql.DB
	secrets []string // strings never to show: the DSN and its password

	table    tableName
	key      string
	id       string            // "" when the key is the external ID
	columns  map[string]string // field -> column; nil writes fields as columns
	fieldFor map[string]string // column -> field, for Lookup

	constraints connector.Constraints

	// ready is set once the table has been checked; a Drift failure clears
	// it, so the check runs again when the destination resumes.
	ready atomic.Bool
	// checking admits one schema check at a time, waiting with the
	// caller's context.
	checking chan struct{}
}

var (
	_ connector.Connector = (*Conn)(nil)
	_ connector.Batcher   = (*Conn)(nil)
	_ connector.Looker    = (*Conn)(nil)
	_ fmt.Stringer        = (*Conn)(nil)
	_ fmt.GoStringer      = (*Conn)(nil)
)

// Open is the connector.Factory for type "sql".
func Open(p connector.Params) (connector.Connector, error) {
	var o Options
	if err := Spec.Decode(p, &o); err != nil {
		return nil, err
	}
	o.Egress = p.Egress()
	return New(p.Name, o)
}

// New validates o and builds the destination. It does no I/O: the database
// is first reached, and the table checked, by the first write or lookup.
func New(name string, o Options) (*Conn, error) {
	var d dialect
	switch o.Driver {
	case "postgres":
		d = postgres{}
	case "sqlite":
		d = sqlite{}
	default:
		return nil, fmt.Errorf("options.driver: %q is not one of %s", o.Driver, strings.Join(Drivers, ", "))
	}
	if o.DSN == "" {
		return nil, errors.New("options.dsn: required")
	}
	c := &Conn{name: name, dialect: d, checking: make(chan struct{}, 1)}

	var err error
	if c.table, err = parseTable(d, o.Table); err != nil {
		return nil, err
	}
	if o.KeyColumn == "" {
		return nil, errors.New("options.key_column: required: name the column that holds the record key")
	}
	if err := checkIdent(d, o.KeyColumn); err != nil {
		return nil, fmt.Errorf("options.key_column: %w", err)
	}
	c.key = o.KeyColumn
	if o.IDColumn != "" {
		if err := checkIdent(d, o.IDColumn); err != nil {
			return nil, fmt.Errorf("options.id_column: %w", err)
		}
		if !d.sameName(o.IDColumn, o.KeyColumn) {
			c.id = o.IDColumn
		}
	}
	if len(o.Columns) > 0 {
		c.columns = make(map[string]string, len(o.Columns))
		c.fieldFor = make(map[string]string, len(o.Columns))
		for _, field := range sortedKeys(o.Columns) {
			col := o.Columns[field]
			if field == "" {
				return nil, errors.New("options.columns: empty field name")
			}
			if err := checkIdent(d, col); err != nil {
				return nil, fmt.Errorf("options.columns.%s: %w", field, err)
			}
			for other, taken := range c.fieldFor {
				if d.sameName(other, col) {
					return nil, fmt.Errorf("options.columns.%s: column %q is also the column of field %q", field, col, taken)
				}
			}
			c.columns[field] = col
			c.fieldFor[col] = field
		}
	}

	conns := o.MaxOpenConns
	switch {
	case conns < 0:
		return nil, errors.New("options.max_open_conns: must not be negative")
	case conns == 0:
		conns = d.defaultConns()
	}

	guard := o.Egress
	if guard.Subject == "" {
		guard.Subject = "destination " + name
	}
	db, secrets, err := d.open(o.DSN, guard)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	c.db = db
	c.secrets = append([]string{o.DSN}, secrets...)
	c.constraints = connector.Constraints{
		BatchSize:   BatchSize,
		Concurrency: conns,
		Upsert:      true,
	}
	return c, nil
}

// Constraints reports no rate limit, batches of 100, as many writes in
// flight as max_open_conns, and upsert by key.
func (c *Conn) Constraints() connector.Constraints { return c.constraints }

// Close closes the connection pool. The engine has finished every attempt
// on it by then, so no statement should be running; if one still is when
// ctx ends, Close returns ctx's error and the pool finishes closing in the
// background (database/sql closes a busy connection when it is released).
func (c *Conn) Close(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- c.db.Close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("sql destination %q: close: %w", c.name, ctx.Err())
	}
}

// String describes the destination without the DSN.
func (c *Conn) String() string {
	return fmt.Sprintf("sql destination %q: %s table %s by %s, dsn %s", c.name, c.dialect.name(), c.table.quoted, quote(c.key), redacted)
}

// GoString keeps %#v from printing the DSN.
func (c *Conn) GoString() string { return c.String() }

// redact removes the DSN and its password from a message that came from a
// driver. Drivers do not put them there, but a message that reaches an
// operator must not depend on that.
func (c *Conn) redact(msg string) string {
	for _, s := range c.secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	if len(msg) > maxMessageBytes {
		cut := maxMessageBytes
		for cut > 0 && msg[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// tableName is a possibly schema-qualified table.
type tableName struct {
	schema, name string
	quoted       string // "schema"."name", ready to put in SQL
}

func parseTable(d dialect, s string) (tableName, error) {
	if s == "" {
		return tableName{}, errors.New("options.table: required")
	}
	parts := strings.Split(s, ".")
	if len(parts) > 2 {
		return tableName{}, fmt.Errorf("options.table: %q has %d dot-separated parts; want table or schema.table", s, len(parts))
	}
	for _, p := range parts {
		if err := checkIdent(d, p); err != nil {
			return tableName{}, fmt.Errorf("options.table: %w", err)
		}
	}
	t := tableName{name: parts[len(parts)-1]}
	if len(parts) == 2 {
		t.schema = parts[0]
		t.quoted = quote(t.schema) + "." + quote(t.name)
	} else {
		t.quoted = quote(t.name)
	}
	return t, nil
}

// String is the table as the user wrote it, for messages.
func (t tableName) String() string {
	if t.schema != "" {
		return t.schema + "." + t.name
	}
	return t.name
}

// checkIdent rejects names that cannot be quoted faithfully: empty, with a
// NUL, with surrounding spaces (almost certainly a typo), or longer than the
// database keeps (PostgreSQL would silently truncate, and then match another
// column than the one named).
func checkIdent(d dialect, s string) error {
	switch {
	case s == "":
		return errors.New("empty name")
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("%q contains a NUL byte", s)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%q has leading or trailing spaces", s)
	case d.maxIdentBytes() > 0 && len(s) > d.maxIdentBytes():
		return fmt.Errorf("%q is longer than %s's %d-byte limit for names", s, d.name(), d.maxIdentBytes())
	}
	return nil
}

// quote makes s an SQL identifier that means exactly s, in both dialects:
// double quotes, with embedded double quotes doubled.
func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare[string])
	return keys
}
