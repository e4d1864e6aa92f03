package airtable

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

var (
	_ connector.HookLister    = (*Conn)(nil)
	_ connector.RecordReader  = (*Conn)(nil)
	_ connector.HookRefresher = (*Conn)(nil)
)

// RefreshHook is connector.HookRefresher: POST
// /v0/bases/{base}/webhooks/{id}/refresh, which gives the webhook another
// 7 days from now and answers its new expirationTime (null for a webhook
// that does not expire).
func (c *Conn) RefreshHook(ctx context.Context, webhookID string) (time.Time, error) {
	path := "/v0/bases/" + url.PathEscape(c.baseID) + "/webhooks/" + url.PathEscape(webhookID) + "/refresh"
	resp, err := c.call(ctx, http.MethodPost, path, nil)
	if err != nil {
		return time.Time{}, err
	}
	if resp.status != http.StatusOK {
		return time.Time{}, c.statusError(resp)
	}
	var ans struct {
		ExpirationTime *string `json:"expirationTime"`
	}
	if err := json.Unmarshal(resp.body, &ans); err != nil {
		return time.Time{}, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
			Message: fmt.Sprintf("POST %s: Airtable's answer is not the refresh shape: %v", path, err)}
	}
	if ans.ExpirationTime == nil {
		return time.Time{}, nil
	}
	exp, err := time.Parse(time.RFC3339Nano, *ans.ExpirationTime)
	if err != nil {
		return time.Time{}, &connector.Error{Class: connector.Retryable, Status: resp.status,
			Message: fmt.Sprintf("POST %s: expirationTime %q is not RFC 3339", path, *ans.ExpirationTime)}
	}
	return exp.UTC(), nil
}

// HookOrigin is connector.HookLister: the same origin the table's poll
// feed names.
func (c *Conn) HookOrigin() connector.Origin {
	return connector.Origin{Platform: "airtable", Object: c.baseID + "/" + c.table}
}

// payloadsAnswer is Airtable's list-webhook-payloads answer.
type payloadsAnswer struct {
	Payloads []struct {
		Timestamp         string `json:"timestamp"`
		ChangedTablesByID map[string]struct {
			CreatedRecordsByID map[string]json.RawMessage `json:"createdRecordsById"`
			ChangedRecordsByID map[string]json.RawMessage `json:"changedRecordsById"`
			DestroyedRecordIDs []string                   `json:"destroyedRecordIds"`
		} `json:"changedTablesById"`
	} `json:"payloads"`
	Cursor        int  `json:"cursor"`
	MightHaveMore bool `json:"mightHaveMore"`
}

// HookChanges is connector.HookLister: the webhook's payloads after
// cursor (Airtable's payload number, "" for the first), each created or
// changed record of this table with its current fields (read by record ID
// in one listRecords call: payloads name fields by ID, the flow by name),
// and each destroyed one as a deletion. A record created or changed and
// gone by the time it is read is left out: its destruction is in a later
// payload. When the table is named by ID ("tbl..."), other tables' changes
// are left out; by name, create the webhook with recordChangeScope set to
// the table so its payloads hold no other table.
func (c *Conn) HookChanges(ctx context.Context, webhookID, cursor string) (connector.HookPage, error) {
	start := 1
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 1 {
			return connector.HookPage{}, fmt.Errorf("airtable webhook cursor %q is not a payload number", cursor)
		}
		start = n
	}
	path := "/v0/bases/" + url.PathEscape(c.baseID) + "/webhooks/" + url.PathEscape(webhookID) + "/payloads?cursor=" + strconv.Itoa(start)
	resp, err := c.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return connector.HookPage{}, err
	}
	if resp.status != http.StatusOK {
		return connector.HookPage{}, c.statusError(resp)
	}
	var ans payloadsAnswer
	if err := json.Unmarshal(resp.body, &ans); err != nil || ans.Cursor < start {
		return connector.HookPage{}, &connector.Error{Class: connector.Retryable, Status: resp.status,
			Message: fmt.Sprintf("GET %s: Airtable's answer is not the payloads shape", path)}
	}
	byTable := strings.HasPrefix(c.table, "tbl")
	page := connector.HookPage{Cursor: strconv.Itoa(ans.Cursor), More: ans.MightHaveMore}
	var wanted []string
	for i, p := range ans.Payloads {
		n := start + i
		at, err := time.Parse(time.RFC3339Nano, p.Timestamp)
		if err != nil {
			return connector.HookPage{}, &connector.Error{Class: connector.Retryable,
				Message: fmt.Sprintf("payload %d: timestamp %q is not RFC 3339", n, p.Timestamp)}
		}
		var inPayload []connector.HookChange
		for _, table := range slices.Sorted(mapKeys(p.ChangedTablesByID)) {
			if byTable && table != c.table {
				continue
			}
			tc := p.ChangedTablesByID[table]
			ids := append(slices.Sorted(mapKeys(tc.CreatedRecordsByID)), slices.Sorted(mapKeys(tc.ChangedRecordsByID))...)
			for _, id := range ids {
				inPayload = append(inPayload, connector.HookChange{Change: connector.Change{RecordID: id, ModifiedAt: at.UTC()},
					EventID: webhookID + ":" + strconv.Itoa(n) + ":" + id})
				wanted = append(wanted, id)
			}
			for _, id := range tc.DestroyedRecordIDs {
				inPayload = append(inPayload, connector.HookChange{Change: connector.Change{RecordID: id, ModifiedAt: at.UTC(), Deleted: true},
					EventID: webhookID + ":" + strconv.Itoa(n) + ":" + id})
			}
		}
		// Resuming inside a payload re-reads the whole of it; only its last
		// change moves the cursor past it.
		for j := range inPayload {
			inPayload[j].Cursor = strconv.Itoa(n)
			if j == len(inPayload)-1 {
				inPayload[j].Cursor = strconv.Itoa(n + 1)
			}
		}
		page.Changes = append(page.Changes, inPayload...)
	}
	if len(wanted) == 0 {
		return page, nil
	}
	fields, err := c.readByIDs(ctx, wanted)
	if err != nil {
		return connector.HookPage{}, err
	}
	kept := page.Changes[:0]
	for _, ch := range page.Changes {
		if !ch.Deleted {
			f, ok := fields[ch.RecordID]
			if !ok {
				// Gone since: the change before it takes its cursor (with
				// none, the page's cursor covers it).
				if len(kept) > 0 {
					kept[len(kept)-1].Cursor = ch.Cursor
				}
				continue
			}
			ch.Fields = f
		}
		kept = append(kept, ch)
	}
	page.Changes = kept
	return page, nil
}

func mapKeys[M ~map[string]V, V any](m M) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// readByIDs reads the current fields of records by ID, in chunks, with
// RECORD_ID() in filterByFormula; records not in this table (or gone) are
// absent from the answer.
func (c *Conn) readByIDs(ctx context.Context, ids []string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	path := c.tablePath() + "/listRecords"
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 50)]
		ids = ids[len(chunk):]
		terms := make([]string, len(chunk))
		for i, id := range chunk {
			terms[i] = "RECORD_ID() = " + quote(id)
		}
		offset := ""
		for {
			body := map[string]any{"filterByFormula": "OR(" + strings.Join(terms, ", ") + ")", "pageSize": 100}
			if offset != "" {
				body["offset"] = offset
			}
			resp, err := c.call(ctx, http.MethodPost, path, body)
			if err != nil {
				return nil, err
			}
			if resp.status != http.StatusOK {
				return nil, c.statusError(resp)
			}
			var ans struct {
				Records []atRecord `json:"records"`
				Offset  string     `json:"offset"`
			}
			if err := json.Unmarshal(resp.body, &ans); err != nil {
				return nil, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
					Message: fmt.Sprintf("POST %s: Airtable's answer is not the records shape: %v", path, err)}
			}
			for _, r := range ans.Records {
				out[r.ID] = r.Fields
			}
			if ans.Offset == "" {
				break
			}
			offset = ans.Offset
		}
	}
	return out, nil
}

// ReadRecord is connector.RecordReader: one record by its ID; a record the
// table no longer has is a deletion.
func (c *Conn) ReadRecord(ctx context.Context, recordID string) (connector.Change, error) {
	fields, err := c.readByIDs(ctx, []string{recordID})
	if err != nil {
		return connector.Change{}, err
	}
	f, ok := fields[recordID]
	if !ok {
		return connector.Change{RecordID: recordID, Deleted: true}, nil
	}
	return connector.Change{RecordID: recordID, Fields: f}, nil
}
