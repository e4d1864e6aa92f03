package sheets

import "github.com/sluicehq/sluice/internal/connector"

// Spec declares the options of type "sheets". It drives Open's decoding,
// `sluice check` and the options table of docs/connectors.md; Options
// holds the same fields for Go callers of New.
var Spec = connector.Spec{
	Kind:  Kind,
	Title: "Google Sheets",
	Doc: "Writes one row per record to a tab whose first row holds the column headers, finding a record's row by the key column; " +
		"values are matched to columns by header.",
	Options: []connector.Option{
		{Name: "token", Type: connector.String, Required: true, Credential: true, Secret: true,
			Doc: "OAuth 2.0 access token with the spreadsheets (or drive) scope. A `credential:` block on the destination (a service account) supplies it instead."},
		{Name: "spreadsheet_id", Type: connector.String, Required: true,
			Doc: "The ID in the spreadsheet's URL (the part after /d/)."},
		{Name: "sheet", Type: connector.String, Required: true,
			Doc: "The tab's title."},
		{Name: "key_column", Type: connector.String, Required: true,
			Doc: "The header of the column holding the record key."},
		{Name: "value_input_option", Type: connector.String, Default: "RAW", Enum: []string{"RAW", "USER_ENTERED"},
			Doc: "RAW stores values as given; USER_ENTERED parses them as if typed (numbers, dates). With USER_ENTERED a string starting with =, +, -, @, a tab, a carriage return or an apostrophe is written as text, so data from a webhook never becomes a formula, except in formula_columns."},
		{Name: "formula_columns", Type: connector.StringList,
			Doc: "Columns whose values may be formulas, written as given with USER_ENTERED. Only for values the mapping builds, never for text copied from a sender."},
		{Name: "writes_per_minute", Type: connector.Int, Default: DefaultPerMinute, Min: connector.AtLeast(0),
			Doc: "The account's write quota per minute."},
		{Name: "reads_per_minute", Type: connector.Int, Default: DefaultPerMinute, Min: connector.AtLeast(0),
			Doc: "The account's read quota per minute."},
		{Name: "timeout", Type: connector.Duration, Default: DefaultTimeout.String(),
			Doc: "Bounds one request."},
		{Name: "cache_ttl", Type: connector.Duration, Default: DefaultCacheTTL.String(),
			Doc: "How long a read of the key column is reused to find rows; `0s` disables the cache."},
		{Name: "base_url", Type: connector.URL, Default: DefaultBaseURL,
			Doc: "The API origin. Point it at a simulator (`sluice sim`) to try a config."},
	},
}

func init() { connector.RegisterSpec(&Spec) }
