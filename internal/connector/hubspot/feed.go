package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// FeedOptions configure polling HubSpot for changed records (a source's
// poll.options when its poll.destination is a HubSpot destination). The
// feed reads the destination's object type with its token.
type FeedOptions struct {
	// Properties are the properties read for each record; default the
	// destination's id_property and the object's default properties.
	Properties []string `json:"properties"`
	// Archived also reports records archived (deleted) in HubSpot, as
	// delete changes stamped with their archivedAt. HubSpot cannot filter
	// its archived list by date, so each poll pages through all of it
	// (100 per request): worth it for a few thousand archived records,
	// costly beyond. Default false.
	Archived bool `json:"archived"`
}

// maxSearchResults is HubSpot's cap on one search's results: paging past
// it answers 400, so the feed narrows its time window instead.
const maxSearchResults = 10_000

// searchPage is the most results one search request returns.
const searchPage = 200

// Feed reads changed records through CRM search on the object's
// last-modified property (lastmodifieddate for contacts,
// hs_lastmodifieddate for the others), GTE the position asked for, sorted
// ascending. HubSpot's search is eventually consistent: a write appears
// in search some seconds after it is applied, which the poll source's
// overlap window covers.
type Feed struct {
	conn     *Conn
	modified string
	props    []string
	archived bool
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
	f := &Feed{conn: c, modified: "hs_lastmodifieddate", archived: o.Archived}
	if c.object == "contacts" {
		f.modified = "lastmodifieddate"
	}
	f.props = append([]string{c.idProperty}, o.Properties...)
	for i, p := range o.Properties {
		if p == "" {
			return nil, fmt.Errorf("options.properties[%d]: empty property name", i)
		}
	}
	if !slices.Contains(f.props, f.modified) {
		f.props = append(f.props, f.modified)
	}
	return f, nil
}

// Origin is connector.Feed.
func (f *Feed) Origin() connector.Origin {
	return connector.Origin{Platform: "hubspot", Object: f.conn.object}
}

// Changes is connector.Feed. Search filters by time only, so the feed
// reads every record modified at or after since.At (paging with after),
// orders them by (modified, id) itself and returns those after since.
// When more than HubSpot's 10,000-result cap match, it halves the window
// (an upper bound on the modified date) until they fit, and says More.
func (f *Feed) Changes(ctx context.Context, since connector.Position, limit int) (connector.Page, error) {
	if limit <= 0 {
		limit = 100
	}
	var upper time.Time // zero: no upper bound
	span := time.Duration(0)
	for {
		all, total, err := f.search(ctx, since.At, upper)
		if err != nil {
			return connector.Page{}, err
		}
		if total > maxSearchResults {
			if span == 0 {
				span = f.conn.now().Sub(since.At)
			}
			span /= 2
			if span < time.Millisecond {
				return connector.Page{}, &connector.Error{Class: connector.Permanent, Code: "TOO_MANY_AT_ONE_STAMP",
					Message: fmt.Sprintf("more than %d %s share one modification time; HubSpot search cannot page past that", maxSearchResults, f.conn.object)}
			}
			upper = since.At.Add(span)
			continue
		}
		if f.archived {
			gone, err := f.listArchived(ctx, since.At, upper)
			if err != nil {
				return connector.Page{}, err
			}
			all = append(all, gone...)
		}
		page := connector.PageAfter(all, since, limit)
		if !upper.IsZero() && !page.More {
			// The window was narrowed: what lies after it is still to read.
			page.More = len(page.Changes) > 0
		}
		return page, nil
	}
}

// search reads every record modified in [from, upper] (upper zero: no
// bound), following paging up to the result cap; total is HubSpot's count.
func (f *Feed) search(ctx context.Context, from, upper time.Time) ([]connector.Change, int, error) {
	filters := []any{map[string]any{"propertyName": f.modified, "operator": "GTE", "value": strconv.FormatInt(from.UnixMilli(), 10)}}
	if !upper.IsZero() {
		filters = append(filters, map[string]any{"propertyName": f.modified, "operator": "LTE", "value": strconv.FormatInt(upper.UnixMilli(), 10)})
	}
	path := f.conn.objectPath() + "/search"
	var out []connector.Change
	after := ""
	for {
		body := map[string]any{
			"filterGroups": []any{map[string]any{"filters": filters}},
			"sorts":        []any{map[string]any{"propertyName": f.modified, "direction": "ASCENDING"}},
			"properties":   f.props,
			"limit":        searchPage,
		}
		if after != "" {
			body["after"] = after
		}
		resp, err := f.conn.call(ctx, http.MethodPost, path, body, f.conn.searches, f.conn.writes)
		if err != nil {
			return nil, 0, err
		}
		if resp.status != http.StatusOK {
			return nil, 0, f.conn.statusError(resp)
		}
		var ans struct {
			Total   int        `json:"total"`
			Results []hsObject `json:"results"`
			Paging  *struct {
				Next struct {
					After string `json:"after"`
				} `json:"next"`
			} `json:"paging"`
		}
		if err := decodeJSON(resp.body, &ans); err != nil {
			return nil, 0, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
				Message: fmt.Sprintf("POST %s: HubSpot's answer is not the search shape: %v", path, err)}
		}
		if ans.Total > maxSearchResults {
			return nil, ans.Total, nil
		}
		for _, r := range ans.Results {
			ch := connector.Change{RecordID: r.ID, Fields: f.conn.fieldsFromHubSpot(r.Properties)}
			ch.ModifiedAt = modifiedAt(r, f.modified)
			out = append(out, ch)
		}
		if ans.Paging == nil || ans.Paging.Next.After == "" || len(ans.Results) == 0 {
			return out, ans.Total, nil
		}
		after = ans.Paging.Next.After
	}
}

// modifiedAt is the record's last-modified time: the property (epoch
// milliseconds or ISO 8601) or, failing that, updatedAt.
func modifiedAt(r hsObject, prop string) time.Time {
	if p := r.Properties[prop]; p != nil {
		if ms, err := strconv.ParseInt(*p, 10, 64); err == nil {
			return time.UnixMilli(ms).UTC()
		}
		if t, err := time.Parse(time.RFC3339Nano, *p); err == nil {
			return t.UTC()
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, r.UpdatedAt); err == nil {
		return t.UTC()
	}
	return time.Time{}
}

// listArchived reads HubSpot's archived list (GET
// /crm/v3/objects/{type}?archived=true, which has no date filter) and
// returns the records archived in [from, upper] as delete changes.
func (f *Feed) listArchived(ctx context.Context, from, upper time.Time) ([]connector.Change, error) {
	var out []connector.Change
	after := ""
	for {
		q := url.Values{"archived": {"true"}, "limit": {"100"}, "properties": f.props}
		if after != "" {
			q.Set("after", after)
		}
		path := f.conn.objectPath() + "?" + q.Encode()
		resp, err := f.conn.call(ctx, http.MethodGet, path, nil, f.conn.writes)
		if err != nil {
			return nil, err
		}
		if resp.status != http.StatusOK {
			return nil, f.conn.statusError(resp)
		}
		var ans struct {
			Results []struct {
				hsObject
				ArchivedAt string `json:"archivedAt"`
			} `json:"results"`
			Paging *struct {
				Next struct {
					After string `json:"after"`
				} `json:"next"`
			} `json:"paging"`
		}
		if err := decodeJSON(resp.body, &ans); err != nil {
			return nil, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
				Message: fmt.Sprintf("GET %s: HubSpot's answer is not the list shape: %v", f.conn.objectPath(), err)}
		}
		for _, r := range ans.Results {
			at, err := time.Parse(time.RFC3339Nano, r.ArchivedAt)
			if err != nil {
				at = modifiedAt(r.hsObject, f.modified)
			}
			at = at.UTC()
			if at.Before(from) || (!upper.IsZero() && at.After(upper)) {
				continue
			}
			out = append(out, connector.Change{RecordID: r.ID, ModifiedAt: at, Deleted: true, Fields: f.conn.fieldsFromHubSpot(r.Properties)})
		}
		if ans.Paging == nil || ans.Paging.Next.After == "" || len(ans.Results) == 0 {
			return out, nil
		}
		after = ans.Paging.Next.After
	}
}
