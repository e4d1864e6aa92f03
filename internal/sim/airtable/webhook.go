package airtable

import (
	"encoding/json"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
)

// MaxPayloadsPerPage is the most payloads one list call returns (Airtable's
// limit parameter caps at 50).
const MaxPayloadsPerPage = 50

// WebhookLife is how long an Airtable webhook created with a personal
// access or OAuth token lives after its creation or last refresh; past it
// Airtable stops notifying it. Its payloads stay listable.
const WebhookLife = sim.AirtableWebhookLife

// handleRefresh is POST /v0/bases/{base}/webhooks/{webhook}/refresh:
// the webhook lives another WebhookLife from now, notifications resume.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	for _, sub := range s.Hooks.Subscriptions() {
		if sub.ID == r.PathValue("webhook") && (sub.Base == "" || sub.Base == r.PathValue("base")) {
			exp, _ := s.Hooks.Refresh(sub.ID, WebhookLife)
			sim.WriteJSON(w, http.StatusOK, map[string]any{"expirationTime": exp.Format(time.RFC3339Nano)})
			return
		}
	}
	writeNotFound(w)
}

// handleListWebhooks is GET /v0/bases/{base}/webhooks: the base's
// webhooks with their expiry and the cursor of their next payload.
func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request) {
	now := s.Now()
	out := []map[string]any{}
	for _, sub := range s.Hooks.Subscriptions() {
		if sub.Base != "" && sub.Base != r.PathValue("base") {
			continue
		}
		s.mu.Lock()
		next := len(s.payloads[sub.ID]) + 1
		s.mu.Unlock()
		h := map[string]any{"id": sub.ID, "type": "client", "isHookEnabled": true, "notificationUrl": sub.URL,
			"cursorForNextPayload": next, "areNotificationsEnabled": sub.Expires.IsZero() || now.Before(sub.Expires),
			"expirationTime": nil}
		if !sub.Expires.IsZero() {
			h["expirationTime"] = sub.Expires.UTC().Format(time.RFC3339Nano)
		}
		out = append(out, h)
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

// recordChange is one record's change within a base transaction.
type recordChange struct {
	base, table, id  string
	created, deleted bool
	createdTime      time.Time
	cells            map[string]any
}

// payload is one base transaction as a webhook lists it.
type payload struct {
	Timestamp             string                  `json:"timestamp"`
	BaseTransactionNumber int64                   `json:"baseTransactionNumber"`
	PayloadFormat         string                  `json:"payloadFormat"`
	ActionMetadata        map[string]any          `json:"actionMetadata"`
	ChangedTablesByID     map[string]*tableChange `json:"changedTablesById"`
}

type tableChange struct {
	CreatedRecordsByID map[string]createdRecord `json:"createdRecordsById,omitempty"`
	ChangedRecordsByID map[string]changedRecord `json:"changedRecordsById,omitempty"`
	DestroyedRecordIDs []string                 `json:"destroyedRecordIds,omitempty"`
}

type createdRecord struct {
	CreatedTime         string         `json:"createdTime"`
	CellValuesByFieldID map[string]any `json:"cellValuesByFieldId"`
}

type changedRecord struct {
	Current struct {
		CellValuesByFieldID map[string]any `json:"cellValuesByFieldId"`
	} `json:"current"`
}

// recordChange notes rec's change for the current transaction, when a
// webhook could list it. s.mu must be held.
func (s *Server) recordChange(t *tableState, rec *record, deleted bool) {
	if !s.Hooks.Subscribed() {
		return
	}
	s.pending = append(s.pending, recordChange{base: t.baseID, table: t.def.ID, id: rec.id, deleted: deleted,
		createdTime: rec.created, cells: maps.Clone(rec.cells)})
}

// commitTransaction turns the changes of the request just served into one
// payload for every webhook of the base they touched, then notifies them.
func (s *Server) commitTransaction() {
	s.mu.Lock()
	changes := s.pending
	s.pending = nil
	if len(changes) == 0 || changes[0].base == "" {
		s.mu.Unlock()
		return
	}
	s.txn++
	now := s.Now().UTC()
	p := payload{Timestamp: now.Format(time.RFC3339Nano), BaseTransactionNumber: s.txn, PayloadFormat: "v0",
		ActionMetadata:    map[string]any{"source": "publicApi", "sourceMetadata": map[string]any{"user": map[string]any{"id": "usrSluiceSim0001", "permissionLevel": "create"}}},
		ChangedTablesByID: map[string]*tableChange{}}
	base := changes[0].base
	for _, c := range changes {
		tc := p.ChangedTablesByID[c.table]
		if tc == nil {
			tc = &tableChange{}
			p.ChangedTablesByID[c.table] = tc
		}
		switch {
		case c.deleted:
			delete(tc.CreatedRecordsByID, c.id)
			delete(tc.ChangedRecordsByID, c.id)
			tc.DestroyedRecordIDs = append(tc.DestroyedRecordIDs, c.id)
		case c.created:
			if tc.CreatedRecordsByID == nil {
				tc.CreatedRecordsByID = map[string]createdRecord{}
			}
			tc.CreatedRecordsByID[c.id] = createdRecord{CreatedTime: c.createdTime.UTC().Format(time.RFC3339Nano), CellValuesByFieldID: c.cells}
		default:
			if cr, ok := tc.CreatedRecordsByID[c.id]; ok {
				cr.CellValuesByFieldID = c.cells
				tc.CreatedRecordsByID[c.id] = cr
				continue
			}
			if tc.ChangedRecordsByID == nil {
				tc.ChangedRecordsByID = map[string]changedRecord{}
			}
			var ch changedRecord
			ch.Current.CellValuesByFieldID = c.cells
			tc.ChangedRecordsByID[c.id] = ch
		}
	}
	var ids []string
	for _, sub := range s.Hooks.Subscriptions() {
		if sub.Base == "" || sub.Base == base {
			s.payloads[sub.ID] = append(s.payloads[sub.ID], p)
			ids = append(ids, sub.ID)
		}
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	stamp := now.Format(time.RFC3339Nano)
	s.Hooks.Emit(sim.Webhook{Base: base, Body: func(sub sim.Subscription, _ int) []byte {
		b, _ := json.Marshal(map[string]any{"base": map[string]string{"id": base}, "webhook": map[string]string{"id": sub.ID}, "timestamp": stamp})
		return b
	}})
}

// handlePayloads is GET /v0/bases/{base}/webhooks/{webhook}/payloads
// ?cursor=&limit=: the webhook's payloads from cursor (1, the first, by
// default), at most limit (50), with the cursor after them and whether
// more wait.
func (s *Server) handlePayloads(w http.ResponseWriter, r *http.Request) {
	cursor, limit := 1, MaxPayloadsPerPage
	q := r.URL.Query()
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN", "cursor must be a positive integer")
			return
		}
		cursor = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPayloadsPerPage {
			writeError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN", "limit must be between 1 and 50")
			return
		}
		limit = n
	}
	s.mu.Lock()
	all, ok := s.payloads[r.PathValue("webhook")]
	known := ok
	if !known {
		for _, sub := range s.Hooks.Subscriptions() {
			known = known || sub.ID == r.PathValue("webhook")
		}
	}
	var page []payload
	if cursor-1 < len(all) {
		page = append(page, all[cursor-1:min(len(all), cursor-1+limit)]...)
	}
	next := cursor + len(page)
	more := next-1 < len(all)
	s.mu.Unlock()
	if !known {
		writeNotFound(w)
		return
	}
	if page == nil {
		page = []payload{}
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"payloads": page, "cursor": next, "mightHaveMore": more, "payloadFormat": "v0"})
}
