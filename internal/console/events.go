package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

type eventsData struct {
	Q      url.Values
	States []string
	Flows  []string
	Items  []*store.EventSummary
	Next   string
}

// parseWhen reads a datetime-local or RFC 3339 input (UTC).
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, badRequest("times are YYYY-MM-DDTHH:MM (UTC)")
}

func (k *Console) events(w http.ResponseWriter, r *http.Request, u *user) error {
	q := r.URL.Query()
	from, err := parseWhen(q.Get("from"))
	if err != nil {
		return err
	}
	to, err := parseWhen(q.Get("to"))
	if err != nil {
		return err
	}
	p := &store.EventSearchParams{ID: strings.TrimSpace(q.Get("id")), State: store.EventState(q.Get("state")), Flow: q.Get("flow"),
		RecordKey: strings.TrimSpace(q.Get("key")), From: from, To: to, After: q.Get("before"), Limit: pageSize + 1}
	items, err := k.c.Read.EventSearch(r.Context(), p)
	if err != nil {
		return err
	}
	d := &eventsData{Q: q, Flows: k.c.Plan().FlowNames(), States: store.Strings(store.EventStates)}
	if len(items) > pageSize {
		items = items[:pageSize]
		next := url.Values{}
		for key, v := range q {
			next[key] = v
		}
		next.Set("before", items[pageSize-1].ID)
		d.Next = "/ui/events?" + next.Encode()
	}
	d.Items = items
	k.render(w, r, http.StatusOK, "events", u, d)
	return nil
}

type eventData struct {
	Event      *store.Event
	Record     string
	Deliveries []*store.Delivery
	Audit      []*store.AuditEntry
	Escs       []*store.Escalation
	Recs       []*store.Reconciliation
	Holdable   bool
}

func (k *Console) event(w http.ResponseWriter, r *http.Request, u *user) error {
	ctx := r.Context()
	ev, err := k.c.Read.EventGetByID(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	d := &eventData{Event: ev, Holdable: ev.State == store.EventHeld}
	if len(ev.Canonical) > 0 {
		rec := map[string]any{}
		if json.Unmarshal(ev.Canonical, &rec) == nil {
			b, _ := json.MarshalIndent(maskRecord(u, k.c.Plan().Flow(ev.Flow), rec), "", "  ")
			d.Record = string(b)
		}
	}
	if d.Deliveries, err = k.c.Read.DeliveryListByEvent(ctx, ev.ID); err != nil {
		return err
	}
	if d.Audit, err = k.c.Read.AuditListByEvent(ctx, ev.ID); err != nil {
		return err
	}
	if d.Escs, err = k.c.Read.EscalationList(ctx, &store.EscalationListParams{EventID: ev.ID, Limit: 100}); err != nil {
		return err
	}
	if d.Recs, err = k.c.Read.ReconciliationList(ctx, &store.ReconciliationListParams{EventID: ev.ID, Limit: 100}); err != nil {
		return err
	}
	k.render(w, r, http.StatusOK, "event", u, d)
	return nil
}
