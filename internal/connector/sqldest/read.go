package sqldest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// ensure checks, once, that the table can take the upserts: it exists, has
// the key column (and id_column and the mapped columns), and the key column
// has a unique constraint of its own for ON CONFLICT to use. Anything
// missing is Drift, which pauses the destination; the check runs again
// after any Drift failure.
func (c *Conn) ensure(ctx context.Context) error {
	if c.ready.Load() {
		return nil
	}
	select {
	case c.checking <- struct{}{}:
	case <-ctx.Done():
		return &connector.Error{Class: connector.Retryable, Err: ctx.Err(),
			Message: fmt.Sprintf("waiting for the check of table %s: %v", c.table.quoted, ctx.Err())}
	}
	defer func() { <-c.checking }()
	if c.ready.Load() {
		return nil
	}
	info, err := c.dialect.inspect(ctx, c.db, c.table)
	if err != nil {
		return c.fail(err, false)
	}
	if err := c.checkTable(info); err != nil {
		return err
	}
	c.ready.Store(true)
	return nil
}

func (c *Conn) checkTable(info tableInfo) error {
	drift := func(code, format string, args ...any) error {
		return &connector.Error{Class: connector.Drift, Code: code, Message: fmt.Sprintf(format, args...)}
	}
	if !info.exists {
		return drift("NO_TABLE", "table %s does not exist (or this user cannot see it)", c.table.quoted)
	}
	has := func(col string) bool {
		return slices.ContainsFunc(info.columns, func(have string) bool { return c.dialect.sameName(have, col) })
	}
	if !has(c.key) {
		return drift("NO_COLUMN", "table %s has no key_column %s", c.table.quoted, quote(c.key))
	}
	if c.id != "" && !has(c.id) {
		return drift("NO_COLUMN", "table %s has no id_column %s", c.table.quoted, quote(c.id))
	}
	var missing []string
	for _, field := range sortedKeys(c.columns) {
		if col := c.columns[field]; !has(col) {
			missing = append(missing, fmt.Sprintf("%s (field %q)", quote(col), field))
		}
	}
	if len(missing) > 0 {
		return drift("NO_COLUMN", "table %s has no column %s named in options.columns", c.table.quoted, strings.Join(missing, ", "))
	}
	if !slices.ContainsFunc(info.unique, func(u string) bool { return c.dialect.sameName(u, c.key) }) {
		return drift("NO_UNIQUE", "key_column %s of table %s has no unique constraint of its own, so rows cannot be upserted by it "+
			"(a primary key or UNIQUE constraint or index on exactly that column, not partial or deferrable): add one, e.g. "+
			"CREATE UNIQUE INDEX ON %s (%s)", quote(c.key), c.table.quoted, c.table.quoted, quote(c.key))
	}
	return nil
}

// Lookup reads the row whose key column equals recordKey and returns its
// external ID and its columns as fields: under the payload field names of
// options.columns (only those columns, the key and the ID), or, without a
// mapping, every column under its own name.
func (c *Conn) Lookup(ctx context.Context, recordKey string) (string, map[string]any, bool, error) {
	if recordKey == "" {
		return "", nil, false, nil
	}
	if err := c.ensure(ctx); err != nil {
		return "", nil, false, err
	}
	keyArg, err := c.dialect.arg(recordKey)
	if err != nil {
		return "", nil, false, &connector.Error{Class: connector.Permanent, Code: "BAD_VALUE", Message: "record key: " + err.Error()}
	}
	rows, err := c.db.QueryContext(ctx, c.lookupSQL(), keyArg)
	if err != nil {
		return "", nil, false, c.fail(err, false)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", nil, false, c.fail(err, false)
		}
		return "", nil, false, nil
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return "", nil, false, c.fail(err, false)
	}
	vals := make([]any, len(types))
	ptrs := make([]any, len(types))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", nil, false, c.fail(err, false)
	}
	idCol := cmp.Or(c.id, c.key)
	var externalID string
	fields := make(map[string]any, len(types))
	for i, t := range types {
		col := t.Name()
		if c.dialect.sameName(col, idCol) && externalID == "" {
			externalID = formatID(vals[i])
		}
		field := col
		if f, ok := c.fieldFor[col]; ok {
			field = f
		}
		fields[field] = readValue(vals[i], t.DatabaseTypeName())
	}
	if err := rows.Close(); err != nil {
		return "", nil, false, c.fail(err, false)
	}
	return externalID, fields, true, nil
}

// lookupSQL selects the row by key: every column, or with a mapping the
// key, the ID and the mapped columns.
func (c *Conn) lookupSQL() string {
	list := "*"
	if c.columns != nil {
		cols := []string{c.key}
		if c.id != "" {
			cols = append(cols, c.id)
		}
		for _, field := range sortedKeys(c.columns) {
			col := c.columns[field]
			if !slices.ContainsFunc(cols, func(have string) bool { return c.dialect.sameName(have, col) }) {
				cols = append(cols, col)
			}
		}
		quoted := make([]string, len(cols))
		for i, col := range cols {
			quoted[i] = quote(col)
		}
		list = strings.Join(quoted, ", ")
	}
	return "SELECT " + list + " FROM " + c.table.quoted + " WHERE " + quote(c.key) + " = " + c.dialect.placeholder(1)
}

// formatID is the external ID for a key or ID column value.
func formatID(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// readValue makes a column value JSON-compatible: text for bytes and
// times, JSON columns decoded.
func readValue(v any, dbType string) any {
	switch v := v.(type) {
	case []byte:
		if t := strings.ToUpper(dbType); t == "JSON" || t == "JSONB" {
			var decoded any
			if err := json.Unmarshal(v, &decoded); err == nil {
				return decoded
			}
		}
		return string(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	}
	return v
}
