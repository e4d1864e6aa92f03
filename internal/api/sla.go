package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/store"
)

// SLABreachJSON is the wire form of an open item of the control layer: an
// SLA breach or a paused destination (see control.SLAWatcher).
type SLABreachJSON struct {
	ID      string `json:"id"`
	Key     string `json:"key"`
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	// Details are the measurements when last checked and the threshold
	// (control.BreachDetails).
	Details    json.RawMessage `json:"details"`
	OpenedAt   time.Time       `json:"opened_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	ResolvedAt time.Time       `json:"resolved_at,omitzero"`
}

func slaBreachJSON(b *store.SLABreach) SLABreachJSON {
	d := b.Details
	if len(d) == 0 {
		d = json.RawMessage(`{}`)
	}
	return SLABreachJSON{ID: b.ID, Key: b.Key, Kind: b.Kind, Subject: b.Subject, Details: d,
		OpenedAt: b.OpenedAt, UpdatedAt: b.UpdatedAt, ResolvedAt: b.ResolvedAt}
}

// registerSLA adds GET /v1/sla: open breaches (?status=resolved or all for
// history), newest first.
func (a *API) registerSLA(mux *http.ServeMux) {
	mux.Handle("GET /v1/sla", a.auth(false, a.listSLA))
}

func (a *API) listSLA(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "":
		status = "open"
	case "open", "resolved", "all":
	default:
		return httperr.New(http.StatusBadRequest, "bad_param", "status must be open, resolved or all")
	}
	bs, err := a.Store.SLABreachList(r.Context(), &store.SLABreachListParams{Status: status, Limit: limit})
	if err != nil {
		return err
	}
	out := make([]SLABreachJSON, len(bs))
	for i, b := range bs {
		out[i] = slaBreachJSON(b)
	}
	ans := map[string]any{"breaches": out}
	// When the watcher last judged, so an empty list is read as "checked,
	// nothing open" or "not checked yet", not guessed.
	if a.SLA != nil {
		if at := a.SLA.LastCheck(); !at.IsZero() {
			ans["checked_at"] = at.Format(timeFormat)
		} else {
			ans["checked_at"] = nil
		}
	}
	httperr.JSON(w, http.StatusOK, ans)
	return nil
}

// timeFormat is how answers write a time outside a struct field.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// SLAStatus is the SLA watcher of this process (control.SLAWatcher).
type SLAStatus interface {
	// LastCheck is when it last finished a check; zero before the first.
	LastCheck() time.Time
}
