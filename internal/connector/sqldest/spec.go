package sqldest

import "github.com/sluicehq/sluice/internal/connector"

// Spec declares the options of type "sql". It drives Open's decoding,
// `sluice check` and the options table of docs/connectors.md; Options
// holds the same fields for Go callers of New.
var Spec = connector.Spec{
	Kind:  Kind,
	Title: "SQL table (PostgreSQL, SQLite)",
	Doc: "Upserts one row per record into a table (INSERT ... ON CONFLICT on the key column), " +
		"values sent as text for the column's type to parse.",
	Options: []connector.Option{
		{Name: "driver", Type: connector.String, Required: true, Enum: Drivers,
			Doc: "The database."},
		{Name: "dsn", Type: connector.String, Required: true, Secret: true,
			Doc: "The connection string. For postgres a URL or key=value string as libpq takes it (values are sent as text without prepared statements, which also works behind PgBouncer); for sqlite a file path or file: URI (busy_timeout(5000) and _txlock=immediate are added unless set)."},
		{Name: "table", Type: connector.String, Required: true,
			Doc: "The table written to, optionally schema-qualified (`crm.contacts`). Each part is quoted, so it is matched exactly (case-sensitively on postgres)."},
		{Name: "key_column", Type: connector.String, Required: true,
			Doc: "The column holding the record key. It must have a unique constraint (or unique index, or be the primary key) of its own, checked on first use."},
		{Name: "id_column", Type: connector.String, DefaultDoc: "the key",
			Doc: "A column (typically a generated primary key) whose value is returned as the external ID instead of the key."},
		{Name: "columns", Type: connector.StringMap, DefaultDoc: "every field to its namesake column",
			Doc: "Payload fields mapped to columns. When set, only the fields it lists are written. A field mapped to key_column is ignored: the key column always takes the record key."},
		{Name: "max_open_conns", Type: connector.Int, Min: connector.AtLeast(0), DefaultDoc: "4 for postgres, 1 for sqlite",
			Doc: "Bounds the connections, and so the writes in flight. SQLite takes one writer at a time; more connections only wait for its lock."},
	},
}

func init() { connector.RegisterSpec(&Spec) }
