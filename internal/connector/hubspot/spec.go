package hubspot

import "github.com/sluicehq/sluice/internal/connector"

// Spec declares the options of type "hubspot". It drives Open's decoding,
// `sluice check` and the options table of docs/connectors.md; Options
// holds the same fields for Go callers of New.
var Spec = connector.Spec{
	Kind:  Kind,
	Title: "HubSpot CRM",
	Doc: "Writes records to one CRM object type (contacts, companies or deals) through the CRM v3 objects API, " +
		"upserting by a unique property whose value is the record key, so a retry never creates a duplicate. " +
		"Batches of up to 100; a 409 \"already exists\" is resolved by updating the existing record when it carries no other key.",
	Options: []connector.Option{
		{Name: "token", Type: connector.String, Required: true, Credential: true, Secret: true,
			Doc: "Private-app (or OAuth) access token. A `credential:` block on the destination supplies it instead."},
		{Name: "object", Type: connector.String, Required: true, Enum: Objects,
			Doc: "The object type records are written to."},
		{Name: "id_property", Type: connector.String, DefaultDoc: "`email` for contacts; required otherwise",
			Doc: "The unique property (hasUniqueValue) records are upserted and looked up by; its value is the record key."},
		{Name: "date_properties", Type: connector.StringList,
			Doc: "Properties sent as midnight-UTC epoch milliseconds, converted from YYYY-MM-DD or RFC 3339 (the calendar date the value names)."},
		{Name: "multi_checkbox_properties", Type: connector.StringList,
			Doc: "Properties sent as one `;`-joined string, converted from a list of option values."},
		{Name: "lookup_properties", Type: connector.StringList,
			Doc: "Properties read back by lookups and consistency checks besides id_property and the date and multiple-checkbox properties (HubSpot returns only a few default properties unless asked)."},
		{Name: "rate_per_10s", Type: connector.Int, Default: DefaultRatePer10s, Min: connector.AtLeast(1),
			Doc: "The account's request limit per rolling 10 seconds: 100 on Free/Starter, 190 on Professional and Enterprise."},
		{Name: "timeout", Type: connector.Duration, Default: DefaultTimeout.String(),
			Doc: "Bounds one request."},
		{Name: "time_zone", Type: connector.String, Default: "UTC",
			Doc: "The account's time zone (IANA name), where HubSpot resets the daily limit at midnight; it decides how long a DAILY 429 waits."},
		{Name: "base_url", Type: connector.URL, Default: DefaultBaseURL,
			Doc: "The API origin. Point it at a simulator (`sluice sim`) to try a config."},
	},
}

func init() { connector.RegisterSpec(&Spec) }
