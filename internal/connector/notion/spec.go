package notion

import "github.com/sluicehq/sluice/internal/connector"

// Spec declares the options of type "notion". It drives Open's decoding,
// `sluice check` and the options table of docs/connectors.md; Options
// holds the same fields for Go callers of New.
var Spec = connector.Spec{
	Kind:  Kind,
	Title: "Notion",
	Doc: "Writes records as pages of one database (its data source, Notion-Version 2025-09-03), " +
		"finding a record's page by the key property; values are converted to each property's type.",
	Options: []connector.Option{
		{Name: "token", Type: connector.String, Required: true, Credential: true, Secret: true,
			Doc: "The integration's secret. A `credential:` block on the destination supplies it instead."},
		{Name: "database_id", Type: connector.String, Required: true,
			Doc: "The database pages are written to (dashed or not). The integration must be connected to it."},
		{Name: "data_source_id", Type: connector.String, DefaultDoc: "the database's only data source",
			Doc: "The data source of the database pages are written to. Required when the database has several."},
		{Name: "key_property", Type: connector.String, Required: true,
			Doc: "The property holding the record key, by which pages are found: a title, rich_text, email, phone_number, url or number property."},
		{Name: "properties", Type: connector.StringMap, Enum: Types,
			Doc: "Property names mapped to Notion types. A property not listed is typed by the database schema, fetched once when first needed."},
		{Name: "notion_version", Type: connector.String, Default: DefaultVersion, Enum: Versions,
			Doc: "The Notion-Version header. 2022-06-28 and 2022-02-22 use the legacy database endpoints, which fail once the database has a second data source."},
		{Name: "rate_per_second", Type: connector.Float, Default: float64(DefaultRatePerSecond), Min: connector.AtLeast(0.001),
			Doc: "The steady request rate (Notion's average is 3)."},
		{Name: "timeout", Type: connector.Duration, Default: DefaultTimeout.String(),
			Doc: "Bounds one request."},
		{Name: "base_url", Type: connector.URL, Default: DefaultBaseURL,
			Doc: "The API origin. Point it at a simulator (`sluice sim`) to try a config."},
	},
}

func init() { connector.RegisterSpec(&Spec) }
