package notion

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// FeedOptions configure polling a Notion database for changed pages (a
// source's poll.options when its poll.destination is a Notion
// destination).
type FeedOptions struct {
	// Trash reports pages moved to the trash as delete changes: one more
	// query per poll ("in_trash": true, data sources only). Default true.
	Trash *bool `json:"trash"`
}

// Feed reads changed pages through the data source query (POST
// /v1/data_sources/{id}/query; before 2025-09-03 the database query)
// filtered on last_edited_time on_or_after the position asked for, sorted
// ascending by it.
//
// Notion keeps last_edited_time to the minute: every edit within one
// minute has the same stamp, so a page edited three times in a minute is
// read three times with one stamp and different content. The feed always
// re-reads the whole minute of the position (the filter is rounded down to
// it), and the poll's idempotency key holds the content's hash, so each
// version is captured once and a re-read of an unchanged page never.
type Feed struct {
	conn  *Conn
	trash bool
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
	f := &Feed{conn: c, trash: c.sources}
	if o.Trash != nil {
		if *o.Trash && !c.sources {
			return nil, fmt.Errorf("options.trash: listing the trash needs notion_version %s or later (data sources)", DataSourcesVersion)
		}
		f.trash = *o.Trash
	}
	return f, nil
}

// Origin is connector.Feed: the database's ID. It must not change while
// Sluice runs (it is part of every polled event's payload, and so of its
// idempotency key), so it never names the data source resolved later.
func (f *Feed) Origin() connector.Origin {
	return connector.Origin{Platform: "notion", Object: f.conn.databaseID}
}

// feedRead bounds how many pages one Changes call reads before it cuts a
// page of changes (Notion answers 100 per request).
const feedRead = 10

// Changes is connector.Feed: the live pages (and, with Trash, the trashed
// ones) edited at or after the minute of since.At, in (stamp, id) order,
// those after since.
func (f *Feed) Changes(ctx context.Context, since connector.Position, limit int) (connector.Page, error) {
	if limit <= 0 {
		limit = 100
	}
	live, cut, err := f.query(ctx, since.At, false, feedRead*limit)
	if err != nil {
		return connector.Page{}, err
	}
	all := live
	if f.trash {
		gone, cutTrash, err := f.query(ctx, since.At, true, feedRead*limit)
		if err != nil {
			return connector.Page{}, err
		}
		all = append(all, gone...)
		cut = cut || cutTrash
	}
	if cut {
		all = withoutLastMinute(all)
	}
	page := connector.PageAfter(all, since, limit)
	if cut && !page.More {
		page.More = len(page.Changes) > 0
	}
	return page, nil
}

// query reads the pages edited on or after from's minute, live or in the
// trash, following next_cursor up to max pages; cut reports that it
// stopped before the end.
func (f *Feed) query(ctx context.Context, from time.Time, trashed bool, max int) (out []connector.Change, cut bool, err error) {
	c := f.conn
	path := "/v1/databases/" + url.PathEscape(c.databaseID) + "/query"
	if c.sources {
		ds, err := c.source(ctx)
		if err != nil {
			return nil, false, err
		}
		path = "/v1/data_sources/" + url.PathEscape(ds) + "/query"
	}
	body := map[string]any{
		"sorts":     []any{map[string]any{"timestamp": "last_edited_time", "direction": "ascending"}},
		"page_size": 100,
	}
	if !from.IsZero() {
		body["filter"] = map[string]any{"timestamp": "last_edited_time",
			"last_edited_time": map[string]any{"on_or_after": from.UTC().Truncate(time.Minute).Format(time.RFC3339)}}
	}
	if trashed {
		body["in_trash"] = true
	}
	for {
		resp, err := c.call(ctx, http.MethodPost, path, body, false)
		if err != nil {
			return nil, false, err
		}
		if resp.status != http.StatusOK {
			return nil, false, c.databaseError(c.statusError(resp))
		}
		var ans struct {
			Results []struct {
				page
				LastEdited string `json:"last_edited_time"`
			} `json:"results"`
			HasMore    bool   `json:"has_more"`
			NextCursor string `json:"next_cursor"`
		}
		if err := decodeJSON(resp.body, &ans); err != nil {
			return nil, false, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
				Message: fmt.Sprintf("POST %s: Notion's answer is not a list of pages: %v", path, err)}
		}
		for _, p := range ans.Results {
			at, err := time.Parse(time.RFC3339Nano, p.LastEdited)
			if err != nil {
				return nil, false, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
					Message: fmt.Sprintf("POST %s: page %s has no last_edited_time", path, p.ID)}
			}
			fields := make(map[string]any, len(p.Properties))
			for name, v := range p.Properties {
				fields[name] = flatValue(v)
			}
			out = append(out, connector.Change{RecordID: p.ID, ModifiedAt: at.UTC(), Deleted: trashed || p.InTrash || p.Archived, Fields: fields})
		}
		if !ans.HasMore || ans.NextCursor == "" {
			return out, false, nil
		}
		if len(out) >= max {
			return out, true, nil
		}
		body["start_cursor"] = ans.NextCursor
	}
}

// withoutLastMinute drops the changes of the latest minute read when a
// read stopped early: Notion orders one minute's pages by its own order,
// not by ID, so part of that minute may be unread, and the keyset cut
// after a later ID would skip it. The next read starts at that minute.
// When every change shares one minute (more than a read's worth of edits
// in one minute) they are kept: progress over a possible skip.
func withoutLastMinute(all []connector.Change) []connector.Change {
	var last time.Time
	for _, ch := range all {
		if ch.ModifiedAt.After(last) {
			last = ch.ModifiedAt
		}
	}
	out := all[:0:0]
	for _, ch := range all {
		if ch.ModifiedAt.Before(last) {
			out = append(out, ch)
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}
