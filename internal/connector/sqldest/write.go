package sqldest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/connector"
)

// execer is what a write needs of a pool or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// row is one record ready to upsert: the key column first, then the
// payload's columns in field order.
type row struct {
	key  string
	cols []string
	args []any
}

// shape identifies the column list, so rows can share one statement.
func (r row) shape() string { return strings.Join(r.cols, "\x00") }

// row maps a delivery to its columns and bound values.
func (c *Conn) row(d connector.Delivery) (row, error) {
	if d.RecordKey == "" {
		return row{}, &connector.Error{Class: connector.Permanent, Code: "NO_KEY",
			Message: fmt.Sprintf("the record key is empty; the row is upserted by %s, which needs a value", quote(c.key))}
	}
	keyArg, err := c.dialect.arg(d.RecordKey)
	if err != nil {
		return row{}, &connector.Error{Class: connector.Permanent, Code: "BAD_VALUE", Message: "record key: " + err.Error()}
	}
	r := row{key: d.RecordKey, cols: []string{c.key}, args: []any{keyArg}}
	for _, field := range sortedKeys(d.Payload) {
		col := field
		if c.columns != nil {
			var ok bool
			if col, ok = c.columns[field]; !ok {
				continue
			}
		} else if err := checkIdent(c.dialect, field); err != nil {
			return row{}, &connector.Error{Class: connector.Permanent, Code: "BAD_FIELD",
				Message: "payload field cannot be a column name: " + err.Error()}
		}
		if c.dialect.sameName(col, c.key) {
			continue // the key column takes the record key
		}
		v, err := c.dialect.arg(d.Payload[field])
		if err != nil {
			return row{}, &connector.Error{Class: connector.Permanent, Code: "BAD_VALUE",
				Message: fmt.Sprintf("payload field %q: %v", field, err)}
		}
		r.cols = append(r.cols, col)
		r.args = append(r.args, v)
	}
	return r, nil
}

// upsertSQL is the statement that upserts n rows of cols (the key column
// first) and returns each row's key and, when configured, its ID. With no
// column besides the key, it sets the key to itself so that RETURNING still
// reports an existing row (DO NOTHING would return nothing).
func (c *Conn) upsertSQL(cols []string, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(c.table.quoted)
	b.WriteString(" (")
	for i, col := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(col))
	}
	b.WriteString(") VALUES ")
	p := 0
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			p++
			b.WriteString(c.dialect.placeholder(p))
		}
		b.WriteByte(')')
	}
	b.WriteString(" ON CONFLICT (")
	b.WriteString(quote(c.key))
	b.WriteString(") DO UPDATE SET ")
	set := cols[1:]
	if len(set) == 0 {
		set = cols[:1]
	}
	for i, col := range set {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(col))
		b.WriteString(" = EXCLUDED.")
		b.WriteString(quote(col))
	}
	b.WriteString(" RETURNING ")
	b.WriteString(quote(c.key))
	if c.id != "" {
		b.WriteString(", ")
		b.WriteString(quote(c.id))
	}
	return b.String()
}

// Deliver upserts one row by key, in its own implicit transaction.
// Delivery.ExternalID is not needed: the key finds the row.
func (c *Conn) Deliver(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	r, err := c.row(d)
	if err != nil {
		return connector.Result{}, err
	}
	if err := c.ensure(ctx); err != nil {
		return connector.Result{}, err
	}
	res, err := c.upsertOne(ctx, c.db, r)
	if err != nil {
		return connector.Result{}, c.fail(err, false)
	}
	return res, nil
}

// upsertOne writes one row with q.
func (c *Conn) upsertOne(ctx context.Context, q execer, r row) (connector.Result, error) {
	var key, id any
	dest := []any{&key}
	if c.id != "" {
		dest = append(dest, &id)
	}
	err := q.QueryRowContext(ctx, c.upsertSQL(r.cols, 1), r.args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return connector.Result{}, &connector.Error{Class: connector.Permanent, Code: "NO_ROW",
			Message: fmt.Sprintf("the upsert into %s returned no row (a trigger may have skipped it)", c.table)}
	}
	if err != nil {
		return connector.Result{}, err
	}
	return c.result(r, key, id)
}

// result is the Result of a written row whose key and ID were returned.
func (c *Conn) result(r row, key, id any) (connector.Result, error) {
	if c.id == "" {
		return connector.Result{ExternalID: formatID(key), Message: "upserted"}, nil
	}
	if id == nil {
		return connector.Result{}, &connector.Error{Class: connector.Permanent, Code: "NULL_ID",
			Message: fmt.Sprintf("the row for key %q was written, but its id_column %s is NULL: give the column a default or map a field to it", r.key, quote(c.id))}
	}
	return connector.Result{ExternalID: formatID(id), Message: "upserted"}, nil
}

// DeliverBatch upserts the records by key, 100 per transaction, and
// reports each one's outcome in input order.
func (c *Conn) DeliverBatch(ctx context.Context, ds []connector.Delivery) ([]connector.BatchResult, error) {
	out := make([]connector.BatchResult, len(ds))
	var rows []row
	var at []int
	for i, d := range ds {
		r, err := c.row(d)
		if err != nil {
			out[i].Err = err
			continue
		}
		rows = append(rows, r)
		at = append(at, i)
	}
	if len(rows) == 0 {
		return out, nil
	}
	if err := c.ensure(ctx); err != nil {
		for _, i := range at {
			out[i].Err = err
		}
		return out, nil
	}
	for start := 0; start < len(rows); start += BatchSize {
		end := min(start+BatchSize, len(rows))
		for j, r := range c.writeBatch(ctx, rows[start:end]) {
			out[at[start+j]] = r
		}
	}
	return out, nil
}

// writeBatch writes rows in one transaction: in one statement when it
// can, else (or when that statement fails on a row's data) row by row,
// each under a savepoint so that a failing row is rolled back alone. A
// failure that is not about one row's data (a lost connection, a deadlock)
// rolls the whole transaction back and fails every row, none applied.
func (c *Conn) writeBatch(ctx context.Context, rows []row) []connector.BatchResult {
	out := make([]connector.BatchResult, len(rows))
	failAll := func(err *connector.Error) []connector.BatchResult {
		for i := range out {
			if out[i].Err == nil {
				out[i] = connector.BatchResult{Err: err}
			}
		}
		return out
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return failAll(c.unsent(c.fail(err, false)))
	}
	abort := func(err *connector.Error) []connector.BatchResult {
		_ = tx.Rollback() // the error that made us abort is the one to report
		return failAll(c.unsent(err))
	}

	done := false
	if c.oneStatement(rows) {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT sluice_batch"); err != nil {
			return abort(c.fail(err, false))
		}
		results, err := c.upsertMany(ctx, tx, rows)
		if err == nil {
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT sluice_batch"); err != nil {
				return abort(c.fail(err, false))
			}
			copy(out, results)
			done = true
		} else {
			if !errors.Is(err, errUnmatched) {
				if ce := c.fail(err, false); ce.Class != connector.Permanent {
					return abort(ce)
				}
			}
			// Some row's data is refused (or a key is stored differently,
			// so the results cannot be told apart): undo the statement and
			// find out row by row.
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT sluice_batch"); err != nil {
				return abort(c.fail(err, false))
			}
		}
	}
	if !done {
		for i, r := range rows {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT sluice_row"); err != nil {
				return abort(c.fail(err, false))
			}
			res, err := c.upsertOne(ctx, tx, r)
			if err == nil {
				if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT sluice_row"); err != nil {
					return abort(c.fail(err, false))
				}
				out[i].Result = res
				continue
			}
			ce := c.fail(err, false)
			if ce.Class != connector.Permanent && ce.Class != connector.Drift {
				return abort(ce)
			}
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT sluice_row"); err != nil {
				return abort(c.fail(err, false))
			}
			out[i].Err = ce
		}
	}
	if err := tx.Commit(); err != nil {
		ce := c.fail(err, true)
		for i := range out {
			if out[i].Err == nil {
				out[i] = connector.BatchResult{Err: ce}
			}
		}
	}
	return out
}

// unsent is err for rows of a transaction that was rolled back: whatever
// happened, none of them was applied.
func (c *Conn) unsent(err *connector.Error) *connector.Error {
	if !err.Sent {
		return err
	}
	cp := *err
	cp.Sent = false
	return &cp
}

// oneStatement reports whether rows can be upserted by one statement: more
// than one, all with the same columns, no key twice (PostgreSQL refuses to
// update a row twice in one statement), and within the parameter limit.
func (c *Conn) oneStatement(rows []row) bool {
	if len(rows) < 2 || len(rows)*len(rows[0].cols) > c.dialect.maxParams() {
		return false
	}
	shape := rows[0].shape()
	keys := make(map[string]bool, len(rows))
	for _, r := range rows {
		if keys[r.key] || r.shape() != shape {
			return false
		}
		keys[r.key] = true
	}
	return true
}

// errUnmatched says a multi-row upsert returned keys that could not be
// matched to its rows (the column stores the key differently, say "007" in
// an integer column), so its results cannot be assigned.
var errUnmatched = errors.New("returned keys do not match the rows")

// upsertMany writes rows (same columns, distinct keys) in one statement and
// matches the returned rows to them by key, since RETURNING does not
// promise input order.
func (c *Conn) upsertMany(ctx context.Context, q execer, rows []row) ([]connector.BatchResult, error) {
	args := make([]any, 0, len(rows)*len(rows[0].cols))
	for _, r := range rows {
		args = append(args, r.args...)
	}
	rs, err := q.QueryContext(ctx, c.upsertSQL(rows[0].cols, len(rows)), args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	type returned struct{ key, id any }
	byKey := make(map[string]returned, len(rows))
	for rs.Next() {
		var ret returned
		dest := []any{&ret.key}
		if c.id != "" {
			dest = append(dest, &ret.id)
		}
		if err := rs.Scan(dest...); err != nil {
			return nil, err
		}
		byKey[formatID(ret.key)] = ret
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	out := make([]connector.BatchResult, len(rows))
	for i, r := range rows {
		ret, ok := byKey[r.key]
		if !ok {
			return nil, errUnmatched
		}
		res, err := c.result(r, ret.key, ret.id)
		out[i] = connector.BatchResult{Result: res, Err: err}
	}
	return out, nil
}

// fail translates an error from the database into a *connector.Error
// whose message holds no secret. A Drift failure makes the next use check
// the table again.
func (c *Conn) fail(err error, committing bool) *connector.Error {
	var ce *connector.Error
	if errors.As(err, &ce) {
		return ce
	}
	out, ok := c.dialect.classify(err, committing)
	if !ok {
		out = &connector.Error{Class: connector.Retryable, Message: err.Error(), Sent: committing}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		out.Class, out.Err = connector.Retryable, context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		out.Class, out.Err = connector.Retryable, context.Canceled
	}
	out.Message = c.redact(out.Message)
	if out.Class == connector.Drift {
		c.ready.Store(false)
	}
	return out
}
