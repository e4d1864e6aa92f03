package airtable

import "github.com/sluicehq/sluice/internal/connector"

// Spec declares the options of type "airtable". It drives Open's decoding,
// `sluice check` and the options table of docs/connectors.md; Options
// holds the same fields for Go callers of New.
var Spec = connector.Spec{
	Kind:  Kind,
	Title: "Airtable",
	Doc: "Writes records to one table of a base, upserting on the key field (performUpsert with fieldsToMergeOn), " +
		"in batches of 10 at Airtable's 5 requests per second per base.",
	Options: []connector.Option{
		{Name: "token", Type: connector.String, Required: true, Credential: true, Secret: true,
			Doc: "Personal access token (or OAuth token) with data.records:read and data.records:write on the base. A `credential:` block on the destination supplies it instead."},
		{Name: "base_id", Type: connector.String, Required: true,
			Doc: "The base (`app…`)."},
		{Name: "table", Type: connector.String, Required: true,
			Doc: "The table's ID (`tbl…`, which survives renames) or name."},
		{Name: "key_field", Type: connector.String, Required: true,
			Doc: "The field that holds the record key: records are upserted on it and looked up by it. A text, number, single select or date field, not a computed one."},
		{Name: "typecast", Type: connector.Bool, Default: false,
			Doc: "Lets Airtable convert values (text to numbers, new select options, which need Creator permission). Off, a value that does not fit fails visibly."},
		{Name: "rate_per_second", Type: connector.Int, Default: DefaultRatePerSecond, Min: connector.AtLeast(1),
			Doc: "Requests per second sent to the base. Destinations on one base share it."},
		{Name: "timeout", Type: connector.Duration, Default: DefaultTimeout.String(),
			Doc: "Bounds one request."},
		{Name: "base_url", Type: connector.URL, Default: DefaultBaseURL,
			Doc: "The API origin. Point it at a simulator (`sluice sim`) to try a config."},
	},
}

func init() { connector.RegisterSpec(&Spec) }
