package sqldest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// FeedOptions configure polling a table for changed rows (a source's
// poll.options when its poll.destination is a SQL destination).
type FeedOptions struct {
	// Table is read for changes; default the destination's table.
	Table string `json:"table"`
	// IDColumn identifies a row in the feed (its record ID); default the
	// destination's id_column, else its key_column. Ties between rows with
	// the same updated_column value are broken by it.
	IDColumn string `json:"id_column"`
	// UpdatedColumn holds the row's last-modified time; required. It must
	// be set on every insert and update (a trigger or the writer's job).
	// PostgreSQL: a timestamp column (an index on (updated_column,
	// id_column) keeps polls cheap). SQLite: RFC 3339 / SQL datetime text
	// or unix seconds; compared through julianday(), so not indexed.
	UpdatedColumn string `json:"updated_column"`
	// DeletedColumn, when set, marks soft-deleted rows: a row where it is
	// not NULL, 0 or false becomes a delete change.
	DeletedColumn string `json:"deleted_column"`
}

// stamper is how a dialect compares and binds the modification stamp.
type stamper interface {
	stampExpr(quotedCol string) string
	// stampParam is the n-th parameter, bound with stampArg, as a stamp.
	stampParam(n int) string
	stampArg(t time.Time) any
}

func (postgres) stampExpr(col string) string { return col }
func (postgres) stampParam(n int) string     { return "$" + strconv.Itoa(n) + "::timestamptz" }
func (postgres) stampArg(t time.Time) any    { return t.UTC() }

// SQLite keeps times as text or numbers; julianday() compares any of the
// forms it understands by value rather than by spelling.
func (sqlite) stampExpr(col string) string {
	return "julianday(CASE WHEN typeof(" + col + ") IN ('integer','real') THEN datetime(" + col + ", 'unixepoch') ELSE " + col + " END)"
}
func (sqlite) stampParam(int) string    { return "julianday(?)" }
func (sqlite) stampArg(t time.Time) any { return t.UTC().Format("2006-01-02 15:04:05.000000000") }

// Feed reads changed rows of a table in (updated_column, id_column) order.
type Feed struct {
	conn    *Conn
	table   tableName
	id      string
	updated string
	deleted string
	// ownTable is true when the feed reads the table the destination
	// writes, whose columns then carry the destination's field names.
	ownTable bool
}

var (
	_ connector.FeedOpener = (*Conn)(nil)
	_ connector.Feed       = (*Feed)(nil)
)

// OpenFeed is connector.FeedOpener: a feed over the destination's
// database with the same credentials.
func (c *Conn) OpenFeed(options map[string]any) (connector.Feed, error) {
	var o FeedOptions
	if err := connector.DecodeOptions(options, &o); err != nil {
		return nil, err
	}
	f := &Feed{conn: c, table: c.table, id: c.key, ownTable: true}
	if c.id != "" {
		f.id = c.id
	}
	if o.Table != "" {
		t, err := parseTable(c.dialect, o.Table)
		if err != nil {
			return nil, fmt.Errorf("options.table: %w", err)
		}
		f.table, f.ownTable = t, t.quoted == c.table.quoted
	}
	if o.IDColumn != "" {
		if err := checkIdent(c.dialect, o.IDColumn); err != nil {
			return nil, fmt.Errorf("options.id_column: %w", err)
		}
		f.id = o.IDColumn
	}
	if o.UpdatedColumn == "" {
		return nil, fmt.Errorf("options.updated_column: required: name the column that holds each row's last-modified time")
	}
	if err := checkIdent(c.dialect, o.UpdatedColumn); err != nil {
		return nil, fmt.Errorf("options.updated_column: %w", err)
	}
	f.updated = o.UpdatedColumn
	if o.DeletedColumn != "" {
		if err := checkIdent(c.dialect, o.DeletedColumn); err != nil {
			return nil, fmt.Errorf("options.deleted_column: %w", err)
		}
		f.deleted = o.DeletedColumn
	}
	return f, nil
}

// Origin is connector.Feed.
func (f *Feed) Origin() connector.Origin {
	return connector.Origin{Platform: "sql", Object: f.table.String()}
}

// Changes is connector.Feed: a keyset read after since.
func (f *Feed) Changes(ctx context.Context, since connector.Position, limit int) (connector.Page, error) {
	if limit <= 0 {
		limit = 100
	}
	d := f.conn.dialect
	st, ok := d.(stamper)
	if !ok {
		return connector.Page{}, fmt.Errorf("sql feed: dialect %s cannot compare stamps", d.name())
	}
	upd := st.stampExpr(quote(f.updated))
	q := fmt.Sprintf("SELECT * FROM %s WHERE %s IS NOT NULL AND (%s > %s OR (%s = %s AND %s > %s)) ORDER BY %s, %s LIMIT %d",
		f.table.quoted, quote(f.updated), upd, st.stampParam(1), upd, st.stampParam(2), quote(f.id), d.placeholder(3),
		upd, quote(f.id), limit+1)
	at := st.stampArg(since.At)
	rows, err := f.conn.db.QueryContext(ctx, q, at, at, since.ID)
	if err != nil {
		return connector.Page{}, f.conn.fail(err, false)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return connector.Page{}, f.conn.fail(err, false)
	}
	var page connector.Page
	for rows.Next() {
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return connector.Page{}, f.conn.fail(err, false)
		}
		ch := connector.Change{Fields: make(map[string]any, len(types))}
		for i, t := range types {
			col := t.Name()
			switch {
			case d.sameName(col, f.id):
				ch.RecordID = formatID(vals[i])
			case d.sameName(col, f.updated):
				ts, err := parseStamp(vals[i])
				if err != nil {
					return connector.Page{}, &connector.Error{Class: connector.Drift, Code: "BAD_STAMP",
						Message: fmt.Sprintf("table %s column %s: %v", f.table.quoted, quote(f.updated), err)}
				}
				ch.ModifiedAt = ts
			case f.deleted != "" && d.sameName(col, f.deleted):
				ch.Deleted = truthy(vals[i])
			}
			field := col
			if f.ownTable {
				if mapped, ok := f.conn.fieldFor[col]; ok {
					field = mapped // the destination's own rows read back under payload names, as Lookup does
				}
			}
			ch.Fields[field] = readValue(vals[i], t.DatabaseTypeName())
		}
		if len(page.Changes) == limit {
			page.More = true
			break
		}
		page.Changes = append(page.Changes, ch)
	}
	if err := rows.Err(); err != nil {
		return connector.Page{}, f.conn.fail(err, false)
	}
	return page, nil
}

// parseStamp reads a modification stamp in any form the databases hand
// back: a time, SQL or RFC 3339 text, or unix seconds (milliseconds when
// the number is too large to be seconds).
func parseStamp(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v.UTC(), nil
	case []byte:
		return parseStamp(string(v))
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
				return t.UTC(), nil
			}
		}
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			return parseStamp(n)
		}
		return time.Time{}, fmt.Errorf("%q is not a time", v)
	case int64:
		return parseStamp(float64(v))
	case float64:
		if v > 1e12 {
			return time.UnixMilli(int64(v)).UTC(), nil
		}
		sec := int64(v)
		return time.Unix(sec, int64((v-float64(sec))*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%T is not a time", v)
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case int64:
		return v != 0
	case float64:
		return v != 0
	case string:
		s := strings.ToLower(strings.TrimSpace(v))
		return s != "" && s != "0" && s != "false" && s != "f"
	case []byte:
		return truthy(string(v))
	}
	return true
}
