package airtable

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// FeedOptions configure polling an Airtable table for changed records (a
// source's poll.options when its poll.destination is an Airtable
// destination).
type FeedOptions struct {
	// ModifiedField is a field of type "Last modified time" in the table;
	// required. Airtable's API exposes a record's modification time only
	// through such a field (LAST_MODIFIED_TIME() cannot be sorted on).
	ModifiedField string `json:"modified_field"`
}

// Feed reads the records modified at or after a time with filterByFormula
// on the modified field, sorted by it, and orders ties by record ID itself.
type Feed struct {
	conn     *Conn
	modified string
}

var (
	_ connector.FeedOpener = (*Conn)(nil)
	_ connector.Feed       = (*Feed)(nil)
)

// OpenFeed is connector.FeedOpener.
func (c *Conn) OpenFeed(options map[string]any) (connector.Feed, error) {
	var o FeedOptions
	if err := connector.DecodeOptions(options, &o); err != nil {
		return nil, err
	}
	if o.ModifiedField == "" {
		return nil, fmt.Errorf("options.modified_field: required: name a \"Last modified time\" field of table %s", c.table)
	}
	return &Feed{conn: c, modified: o.ModifiedField}, nil
}

// Origin is connector.Feed.
func (f *Feed) Origin() connector.Origin {
	return connector.Origin{Platform: "airtable", Object: f.conn.baseID + "/" + f.conn.table}
}

// Changes is connector.Feed: every record whose modified field is not
// before since.At (pages of 100 through Airtable's offset), in (modified,
// id) order, those after since.
func (f *Feed) Changes(ctx context.Context, since connector.Position, limit int) (connector.Page, error) {
	if limit <= 0 {
		limit = 100
	}
	formula := "NOT(IS_BEFORE({" + f.modified + "}, " + quote(since.At.UTC().Format(time.RFC3339Nano)) + "))"
	if since.At.IsZero() {
		formula = "TRUE()"
	}
	path := f.conn.tablePath() + "/listRecords"
	var all []connector.Change
	offset := ""
	for {
		body := map[string]any{"filterByFormula": formula, "pageSize": 100,
			"sort": []any{map[string]any{"field": f.modified, "direction": "asc"}}}
		if offset != "" {
			body["offset"] = offset
		}
		resp, err := f.conn.call(ctx, http.MethodPost, path, body)
		if err != nil {
			return connector.Page{}, err
		}
		if resp.status != http.StatusOK {
			return connector.Page{}, f.conn.statusError(resp)
		}
		var ans struct {
			Records []atRecord `json:"records"`
			Offset  string     `json:"offset"`
		}
		if err := json.Unmarshal(resp.body, &ans); err != nil {
			return connector.Page{}, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
				Message: fmt.Sprintf("POST %s: Airtable's answer is not the records shape: %v", path, err)}
		}
		for _, r := range ans.Records {
			raw, _ := r.Fields[f.modified].(string)
			at, err := time.Parse(time.RFC3339Nano, raw)
			if err != nil {
				return connector.Page{}, &connector.Error{Class: connector.Drift, Code: "NO_MODIFIED_TIME",
					Message: fmt.Sprintf("record %s has no time in field %q: is it a \"Last modified time\" field?", r.ID, f.modified)}
			}
			all = append(all, connector.Change{RecordID: r.ID, ModifiedAt: at.UTC(), Fields: r.Fields})
		}
		if ans.Offset == "" || len(all) >= 10*limit {
			break
		}
		offset = ans.Offset
	}
	page := connector.PageAfter(all, since, limit)
	if len(all) >= 10*limit && !page.More {
		page.More = len(page.Changes) > 0
	}
	return page, nil
}
