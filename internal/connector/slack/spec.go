package slack

import "github.com/sluicehq/sluice/internal/connector"

// Spec declares the options of type "slack". It drives Open's decoding,
// `sluice check` and the options table of docs/connectors.md; Options
// holds the same fields for Go callers of New.
var Spec = connector.Spec{
	Kind:  Kind,
	Title: "Slack",
	Doc: "Posts one message per record to a channel (chat.postMessage) and updates it (chat.update) when the record changes; " +
		"the message carries the record key in its metadata, by which the channel history is searched.",
	Options: []connector.Option{
		{Name: "token", Type: connector.String, Required: true, Credential: true, Secret: true,
			Doc: "Bot token (`xoxb-…`) with chat:write and the history scope of the channel (channels:history, groups:history). A `credential:` block on the destination supplies it instead."},
		{Name: "channel", Type: connector.String, Required: true,
			Doc: "The channel's ID (`C…`, `G…` or `D…`), not its name: conversations.history and chat.update take only IDs."},
		{Name: "text", Type: connector.String, DefaultDoc: "text or blocks is required",
			Doc: "A Go text/template over the record's mapped payload (`New lead {{.email}} from {{.company}}`). A missing key fails the delivery; values are escaped for Slack (&, <, >) unless piped to raw. With blocks it is the notification fallback."},
		{Name: "blocks", Type: connector.Any,
			Doc: "A Block Kit array (or a string holding its JSON) whose string values are templates like text; at most 50 blocks."},
		{Name: "rate_per_second", Type: connector.Float, Default: DefaultRatePerSecond, Min: connector.AtLeast(0),
			Doc: "The posting pace (Slack's per-channel limit is about 1 per second)."},
		{Name: "timeout", Type: connector.Duration, Default: DefaultTimeout.String(),
			Doc: "Bounds one request."},
		{Name: "lookup_pages", Type: connector.Int, Default: DefaultLookupPages, Min: connector.AtLeast(1),
			Doc: "The most history pages a lookup reads."},
		{Name: "history_page_size", Type: connector.Int, Default: DefaultHistoryPageSize, Min: connector.AtLeast(1), Max: connector.AtMost(MaxHistoryPageSize),
			Doc: "Messages per history page. Non-Marketplace apps created since May 2025 get at most 15."},
		{Name: "history_per_minute", Type: connector.Int, Default: DefaultHistoryPerMinute, Min: connector.AtLeast(1),
			Doc: "Paces conversations.history (Tier 3). Non-Marketplace apps created since May 2025 get 1."},
		{Name: "base_url", Type: connector.URL, Default: DefaultBaseURL,
			Doc: "The API origin. Point it at a simulator (`sluice sim`) to try a config."},
	},
}

func init() { connector.RegisterSpec(&Spec) }
