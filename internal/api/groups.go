package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/ticket"
)

// registerGroups adds the failure-group routes. A group is every
// escalation with the same destination, kind, platform status and platform
// code (pipeline.GroupKey), so an operator (or the console) sees sixty
// identical refusals as one line and acts on them at once:
//
//	GET  /v1/escalation-groups                  ?status=open&destination=&kind=&limit=
//	GET  /v1/escalation-groups/{id}             ?status=open
//	POST /v1/escalation-groups/{id}/{action}    {"dry_run": true, "note": "..."}
//
// where action is retry, rerender (render again with the config in force,
// then retry), resolve or discard (both need a note); a dry run answers
// the count that would be affected and changes nothing. Group IDs contain
// ':' and may contain other characters: clients path-escape them.
func (a *API) registerGroups(mux *http.ServeMux) {
	mux.Handle("GET /v1/escalation-groups", a.auth(false, a.listGroups))
	mux.Handle("GET /v1/escalation-groups/{id}", a.auth(false, a.getGroup))
	mux.Handle("POST /v1/escalation-groups/{id}/{action}", a.auth(true, a.actOnGroup))
	mux.Handle("POST /v1/escalations/{id}/rerender", a.auth(true, a.rerenderEscalation))
}

// GroupSampleJSON is one member of a failure group shown as an example.
type GroupSampleJSON struct {
	EscalationID string    `json:"escalation_id"`
	EventID      string    `json:"event_id"`
	DeliveryID   string    `json:"delivery_id,omitempty"`
	Source       string    `json:"source"`
	CreatedAt    time.Time `json:"created_at"`
}

// GroupJSON is the wire form of a failure group.
type GroupJSON struct {
	// ID is the group key, "destination:kind:status:code".
	ID          string `json:"id"`
	Destination string `json:"destination,omitempty"`
	Kind        string `json:"kind"`
	// Status is the platform's HTTP status (0: none, e.g. a timeout).
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
	// Count is how many escalations (of the status asked for) share it.
	Count     int       `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Error is the newest member's last error, standing for all.
	Error   string            `json:"error,omitempty"`
	Samples []GroupSampleJSON `json:"samples"`
}

func groupJSON(g *pipeline.EscalationGroup) GroupJSON {
	j := GroupJSON{ID: g.ID, Destination: g.Destination, Kind: g.Kind, Status: g.LastStatus, Code: g.Code, Count: g.Count,
		FirstSeen: g.FirstSeen, LastSeen: g.LastSeen, Error: g.Error, Samples: []GroupSampleJSON{}}
	for _, t := range g.Samples {
		j.Samples = append(j.Samples, GroupSampleJSON{EscalationID: t.ID, EventID: t.EventID, DeliveryID: t.DeliveryID, Source: t.Source, CreatedAt: t.CreatedAt})
	}
	return j
}

func (a *API) listGroups(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	p := store.EscalationGroupListParams{Status: q.Get("status"), Destination: q.Get("destination"), Kind: q.Get("kind"), Limit: limit}
	if !escalationStatusOK(p.Status) {
		return httperr.New(http.StatusBadRequest, "bad_param", "status must be open, resolved or discarded")
	}
	if err := a.knownDestination("destination", p.Destination); err != nil {
		return err
	}
	gs, err := a.Gate.EscalationGroupList(r.Context(), p)
	if err != nil {
		return controlHTTP(err)
	}
	out := make([]GroupJSON, len(gs))
	mask := a.viewerMaskFor(r)
	for i, g := range gs {
		out[i] = groupJSON(g)
		mask.group(&out[i])
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"groups": out})
	return nil
}

func (a *API) getGroup(w http.ResponseWriter, r *http.Request) error {
	status := r.URL.Query().Get("status")
	if !escalationStatusOK(status) {
		return httperr.New(http.StatusBadRequest, "bad_param", "status must be open, resolved or discarded")
	}
	g, err := a.Gate.EscalationGroupGet(r.Context(), r.PathValue("id"), status)
	if err != nil {
		return controlHTTP(err)
	}
	j := groupJSON(g)
	a.viewerMaskFor(r).group(&j)
	httperr.JSON(w, http.StatusOK, map[string]any{"group": j})
	return nil
}

// GroupActionRequest is the body of POST /v1/escalation-groups/{id}/{action}.
type GroupActionRequest struct {
	// DryRun answers what would happen without changing anything.
	DryRun bool `json:"dry_run"`
	// Note says how the matter was settled (resolve) or why it is given up
	// (discard); Reason is accepted for discard too.
	Note   string `json:"note,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func (a *API) actOnGroup(w http.ResponseWriter, r *http.Request) error {
	var b GroupActionRequest
	if r.ContentLength != 0 {
		if err := decode(r, &b); err != nil {
			return err
		}
	}
	action := r.PathValue("action")
	switch action {
	case ticket.BulkRetry, ticket.BulkRerender, ticket.BulkResolve, ticket.BulkDiscard:
	default:
		return httperr.New(http.StatusNotFound, "not_found", fmt.Sprintf("no group action %q: retry, rerender, resolve or discard", action))
	}
	note := b.Note
	if action == ticket.BulkDiscard {
		note = cmpOr(b.Reason, b.Note)
	}
	res, err := a.Tickets.Bulk(r.Context(), ticket.BulkParams{Action: action, Filter: ticket.Filter{Group: r.PathValue("id")},
		Note: note, DryRun: b.DryRun, Actor: actor(r)})
	if err != nil {
		return controlHTTP(err)
	}
	if !b.DryRun && res.Affected > 0 && (action == ticket.BulkRetry || action == ticket.BulkRerender) {
		a.changed()
	}
	httperr.JSON(w, http.StatusOK, res)
	return nil
}

func (a *API) rerenderEscalation(w http.ResponseWriter, r *http.Request) error {
	e, err := a.Gate.EscalationRerender(r.Context(), r.PathValue("id"), actor(r))
	if err != nil {
		return controlHTTP(err)
	}
	a.changed()
	httperr.JSON(w, http.StatusOK, map[string]any{"escalation": escalationJSON(e)})
	return nil
}

// knownDestination refuses a filter naming a destination the config does
// not have, instead of answering an empty list.
func (a *API) knownDestination(param, name string) error {
	if name == "" {
		return nil
	}
	if _, ok := a.Config.Destinations[name]; !ok {
		return httperr.New(http.StatusBadRequest, "bad_param", fmt.Sprintf("%s: no destination named %q", param, name))
	}
	return nil
}

// escalationPayload is what an escalation would send: its delivery's
// payload, or the event's record for an event-level escalation; masked
// for viewers (mask non-nil) like events show. The event read here also
// gives mask its values, so the escalation's text is masked without
// reading it again.
func (a *API) escalationPayload(r *http.Request, e *store.Escalation, mask *viewerMask) (json.RawMessage, error) {
	ev, err := a.Store.EventGetByID(r.Context(), e.EventID)
	if err != nil {
		return nil, err
	}
	doc := ev.Canonical
	if e.DeliveryID != "" {
		ds, err := a.Store.DeliveryListByEvent(r.Context(), e.EventID)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if d.ID == e.DeliveryID {
				doc = d.Payload
			}
		}
	}
	if mask != nil {
		if f := mask.learn(ev); f != nil {
			doc = pipeline.MaskJSON(f.MaskRecord(doc), mask.values(ev.ID))
		}
	}
	return doc, nil
}
