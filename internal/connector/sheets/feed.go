package sheets

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// FeedOptions configure polling a sheet for new and changed rows (a
// source's poll.options when its poll.destination is a Sheets
// destination). Sheets keeps no modification time per row, so the feed has
// no options: it reads the whole sheet each poll and every row is a change
// whose version is its content. The poll source captures a row again only
// when its content differs from a version already captured (the event's
// idempotency key carries the content hash).
type FeedOptions struct{}

// Feed reads every row of the sheet, keyed by the key column.
type Feed struct{ conn *Conn }

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
	return &Feed{conn: c}, nil
}

// Origin is connector.Feed.
func (f *Feed) Origin() connector.Origin {
	return connector.Origin{Platform: "sheets", Object: f.conn.spreadsheetID + "/" + f.conn.sheet}
}

// Changes is connector.Feed. Rows have no stamp (ModifiedAt is zero), so
// the keyset is the key column's value: rows come in key order after
// since.ID. Rows without a key are skipped (they cannot be told apart from
// one poll to the next); of two rows with one key, the first wins.
func (f *Feed) Changes(ctx context.Context, since connector.Position, limit int) (connector.Page, error) {
	if limit <= 0 {
		limit = 100
	}
	vrs, err := f.conn.batchGet(ctx, quoteTitle(f.conn.sheet))
	if err != nil {
		return connector.Page{}, err
	}
	rows := vrs[0].Values
	if len(rows) == 0 {
		return connector.Page{}, nil
	}
	header := headerOf(rows[0])
	kc, err := f.conn.column(header, f.conn.keyColumn)
	if err != nil {
		return connector.Page{}, err
	}
	seen := map[string]bool{}
	var all []connector.Change
	for _, row := range rows[1:] {
		if kc >= len(row) {
			continue
		}
		key := keyText(row[kc])
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		all = append(all, connector.Change{RecordID: key, ModifiedAt: time.Time{}, Fields: fields(header, row)})
	}
	return connector.PageAfter(all, since, limit), nil
}
