package httpdest

import "github.com/sluicehq/sluice/internal/connector"

// Spec declares the options of type "http". It drives Open's decoding,
// `sluice check` and the options table of docs/connectors.md; Options
// holds the same fields for Go callers of New.
var Spec = connector.Spec{
	Kind:  Kind,
	Title: "HTTP / webhook",
	Doc: "Sends each record as a JSON body to a URL you choose. URLs and header values are Go templates over the delivery " +
		"(`{{.RecordKey}}`, `{{.ExternalID}}`, `{{.Payload.email}}`); the delivery ID goes in the Idempotency-Key header. " +
		"With lookup_url the destination can find a record by key, which resolves ambiguous retries without duplicates.",
	Options: []connector.Option{
		{Name: "url", Type: connector.URL, Required: true,
			Doc: "Receives new records: an absolute http(s) URL, a template."},
		{Name: "method", Type: connector.String, Default: "POST",
			Doc: "The method for new records."},
		{Name: "update_url", Type: connector.URL, DefaultDoc: "url",
			Doc: "Receives records whose external ID is known. With neither update_url nor update_method, an update is sent exactly like a create."},
		{Name: "update_method", Type: connector.String, DefaultDoc: "method",
			Doc: "The method for records whose external ID is known (PUT, PATCH)."},
		{Name: "headers", Type: connector.StringMap, Secret: true,
			Doc: "Added to every request; values are templates. Values of headers whose name looks like a credential (authorization, token, key, secret, ...) are redacted from errors; the whole map is hidden where options are shown."},
		{Name: "bearer_token", Type: connector.String, Secret: true,
			Doc: "Sent as `Authorization: Bearer <token>`."},
		{Name: "hmac_secret", Type: connector.String, Secret: true,
			Doc: "Signs the body so the receiver can authenticate Sluice: X-Sluice-Signature is `sha256=<hex HMAC-SHA256 of the body>` (the GitHub format) and X-Sluice-Timestamp the send time in unix seconds (not covered by the signature)."},
		{Name: "id_field", Type: connector.String, Default: DefaultIDField,
			Doc: "The field of a JSON response holding the receiver's ID for the record, dotted for nesting (`data.id`). When the response has none, the external ID is the known one, else the record key."},
		{Name: "lookup_url", Type: connector.URL,
			Doc: "Fetched with GET to find a record by key (only `{{.RecordKey}}` is known then): 200 means found (the body, or the single element of a JSON array, is the record), 404 or an empty array means not found."},
		{Name: "timeout", Type: connector.Duration, Default: DefaultTimeout.String(),
			Doc: "Bounds one request."},
		{Name: "rate_per_second", Type: connector.Float, Min: connector.AtLeast(0), DefaultDoc: "unlimited",
			Doc: "The steady request rate the engine keeps to."},
		{Name: "burst", Type: connector.Int, Min: connector.AtLeast(0), DefaultDoc: "1",
			Doc: "The token bucket size of rate_per_second."},
		{Name: "concurrency", Type: connector.Int, Min: connector.AtLeast(0), DefaultDoc: "adaptive, up to 64",
			Doc: "Requests in flight at once."},
	},
}

func init() { connector.RegisterSpec(&Spec) }
