// Package api is the admin JSON API under /v1/: events, holds, escalations,
// destinations and audit verification, for the CLI, the console and scripts.
// Every request carries a bearer token from the config; its name is the
// actor written to the audit log, and viewer tokens may only read.
package api

import (
	"bufio"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/control"
	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// API serves the admin endpoints.
type API struct {
	// Gate is the pipeline every change goes through.
	Gate Pipeline
	// Tickets is the escalation ticket workflow.
	Tickets Tickets
	// Store is what the API reads.
	Store Reader
	// StoreName is the store's dialect, for /v1/stats.
	StoreName string
	Checker   *control.Checker
	// Drift reports source-side schema drift; may be nil.
	Drift *control.SourceDrift
	// SLA says when the SLA watcher last checked; may be nil.
	SLA    SLAStatus
	Config *config.Config
	Log    *slog.Logger
	// OnChange is called after an action that may create ready work.
	OnChange func()
	// Reload, when set, serves POST /v1/config/reload (reload.go).
	Reload Reloader
	// Credentials, when set, serves GET /v1/credentials (credentials.go).
	Credentials CredentialLister
}

type ctxActor struct{}

type ctxRole struct{}

// viewer reports whether the request's token may only read; such readers
// see sensitive fields masked, in records and in bodies.
func viewer(r *http.Request) bool {
	role, _ := r.Context().Value(ctxRole{}).(string)
	return role != "admin"
}

// Register adds the admin routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	read := func(pattern string, h httperr.HandlerFunc) { mux.Handle(pattern, a.auth(false, h)) }
	act := func(pattern string, h httperr.HandlerFunc) { mux.Handle(pattern, a.auth(true, h)) }
	read("GET /v1/events", a.listEvents)
	read("GET /v1/events/{id}", a.getEvent)
	act("POST /v1/events/{id}/discard", a.discardEvent)
	read("GET /v1/holds", a.listHolds)
	read("GET /v1/holds/{id}", a.getEvent)
	act("PATCH /v1/holds/{id}", a.patchHold)
	act("POST /v1/holds/{id}/release", a.releaseHold)
	act("POST /v1/holds/{id}/discard", a.discardEvent)
	read("GET /v1/escalations", a.listEscalations)
	read("GET /v1/escalations/{id}", a.getEscalation)
	act("POST /v1/escalations/{id}/retry", a.retryEscalation)
	act("POST /v1/escalations/{id}/resolve", a.resolveEscalation)
	act("POST /v1/escalations/{id}/discard", a.discardEscalation)
	read("GET /v1/reconciliations", a.listReconciliations)
	read("GET /v1/reconciliations/{id}", a.getReconciliation)
	act("POST /v1/reconciliations/{id}/retry", a.retryReconciliation)
	act("POST /v1/reconciliations/{id}/resolve", a.resolveReconciliation)
	read("GET /v1/destinations", a.listDestinations)
	act("POST /v1/destinations/{name}/pause", a.pauseDestination)
	act("POST /v1/destinations/{name}/resume", a.resumeDestination)
	read("GET /v1/audit/verify", a.verifyAudit)
	act("POST /v1/consistency/check", a.checkConsistency)
	read("GET /v1/stats", a.stats)
	a.registerSLA(mux)   // sla.go: GET /v1/sla
	a.registerDrift(mux) // drift.go: GET /v1/drift
	a.registerTickets(mux)
	a.registerReplay(mux)
	a.registerGroups(mux)
	a.registerHolds(mux)
	a.registerReload(mux)
	a.registerCredentials(mux)
	a.registerHookTokens(mux)
}

// actor is the admin token's name of the current request.
func actor(r *http.Request) string {
	if v, ok := r.Context().Value(ctxActor{}).(string); ok {
		return v
	}
	return "unknown"
}

func (a *API) auth(mutating bool, h httperr.HandlerFunc) http.Handler {
	return httperr.Handle(a.Log, func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			return httperr.New(http.StatusUnauthorized, "unauthorized", "missing bearer token")
		}
		var match *config.AdminToken
		for i := range a.Config.AdminTokens {
			t := &a.Config.AdminTokens[i]
			if subtle.ConstantTimeCompare([]byte(t.Token), []byte(tok)) == 1 {
				match = t
			}
		}
		if match == nil {
			return httperr.New(http.StatusUnauthorized, "unauthorized", "invalid token")
		}
		if mutating && match.Role != "admin" {
			return httperr.New(http.StatusForbidden, "forbidden", fmt.Sprintf("token %q has role %s; this action needs admin", match.Name, match.Role))
		}
		ctx := r.Context()
		ctx = contextWith(ctx, ctxActor{}, "admin:"+match.Name)
		r = r.WithContext(contextWith(ctx, ctxRole{}, match.Role))
		return h(w, r)
	})
}

// toHTTP maps gate errors to client errors.
func toHTTP(err error) error {
	var inc *pipeline.IncompleteError
	var inv *pipeline.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return &httperr.Error{Code: http.StatusNotFound, Kind: "not_found", Msg: err.Error()}
	case errors.Is(err, pipeline.ErrWrongState):
		return &httperr.Error{Code: http.StatusConflict, Kind: "wrong_state", Msg: err.Error()}
	case errors.As(err, &inc):
		return &httperr.Error{Code: http.StatusConflict, Kind: "incomplete", Msg: err.Error(), Details: map[string]any{"missing": inc.Missing}}
	case errors.As(err, &inv):
		return &httperr.Error{Code: http.StatusUnprocessableEntity, Kind: "invalid", Msg: err.Error(), Details: map[string]any{"errors": inv.Problems}}
	}
	return err
}

func decode(r *http.Request, into any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return httperr.New(http.StatusBadRequest, "bad_body", "could not read body")
	}
	if len(body) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return httperr.New(http.StatusBadRequest, "malformed", "malformed JSON body: "+err.Error())
	}
	return nil
}

// beforeParam refuses a page cursor that is not an ID of the listed kind
// (prefix evt, esc, ...): a typo would otherwise page from nowhere and
// answer a silently wrong list.
func beforeParam(before, prefix string) error {
	if before == "" || id.Valid(prefix, before) {
		return nil
	}
	return httperr.New(http.StatusBadRequest, "bad_param", fmt.Sprintf("before must be an ID like %s_01J... (as the previous page's last item), not %q", prefix, before))
}

func limitParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, httperr.New(http.StatusBadRequest, "bad_param", "limit must be an integer from 1 to 1000")
	}
	return n, nil
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	state := store.EventState(q.Get("state"))
	if state != "" && !store.IsEventState(string(state)) {
		return httperr.New(http.StatusBadRequest, "bad_param", "state must be one of rejected, held, delivering, delivered, escalated, discarded")
	}
	return a.eventList(w, r, state)
}

func (a *API) listHolds(w http.ResponseWriter, r *http.Request) error {
	return a.eventList(w, r, store.EventHeld)
}

func (a *API) eventList(w http.ResponseWriter, r *http.Request, state store.EventState) error {
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if err := beforeParam(q.Get("before"), "evt"); err != nil {
		return err
	}
	if src := q.Get("source"); src != "" {
		if _, ok := a.Config.Sources[src]; !ok {
			return httperr.New(http.StatusBadRequest, "bad_param", fmt.Sprintf("source: no source named %q", src))
		}
	}
	evs, err := a.Store.EventList(r.Context(), &store.EventListParams{State: state, Source: q.Get("source"), BeforeID: q.Get("before"), Limit: limit})
	if err != nil {
		return err
	}
	return streamList(w, "events", len(evs), func(i int) any { return eventJSON(evs[i], false) })
}

// streamList writes {"<key>": [items...]} one item at a time, so a page of
// summaries never exists twice in memory (as values and as one encoded
// buffer). Lists carry summaries only; bodies and records are on the
// single-item views.
func streamList(w http.ResponseWriter, key string, n int, item func(i int) any) error {
	httperr.SecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	fmt.Fprintf(bw, "{%q: [", key)
	for i := range n {
		if i > 0 {
			bw.WriteString(",")
		}
		if err := enc.Encode(item(i)); err != nil {
			return nil // headers are sent; the client sees a truncated body
		}
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// EventDetail is GET /v1/events/{id}: the event, its deliveries, its
// escalations and its audit timeline.
type EventDetail struct {
	Event       EventJSON        `json:"event"`
	Deliveries  []DeliveryJSON   `json:"deliveries"`
	Escalations []EscalationJSON `json:"escalations"`
	// Reconciliations are open or settled partial-success tasks.
	Reconciliations []ReconciliationJSON `json:"reconciliations"`
	Timeline        []AuditJSON          `json:"timeline"`
}

func (a *API) getEvent(w http.ResponseWriter, r *http.Request) error {
	ex := a.Store
	ctx := r.Context()
	ev, err := ex.EventGetByID(ctx, r.PathValue("id"))
	if err != nil {
		return toHTTP(err)
	}
	ds, err := ex.DeliveryListByEvent(ctx, ev.ID)
	if err != nil {
		return err
	}
	escs, err := ex.EscalationList(ctx, &store.EscalationListParams{EventID: ev.ID, Limit: 1000})
	if err != nil {
		return err
	}
	recs, err := ex.ReconciliationList(ctx, &store.ReconciliationListParams{EventID: ev.ID, Limit: 1000})
	if err != nil {
		return err
	}
	au, err := ex.AuditListByEvent(ctx, ev.ID)
	if err != nil {
		return err
	}
	det := EventDetail{Event: eventJSON(ev, true), Deliveries: []DeliveryJSON{}, Escalations: []EscalationJSON{}, Reconciliations: []ReconciliationJSON{}, Timeline: []AuditJSON{}}
	for _, x := range recs {
		det.Reconciliations = append(det.Reconciliations, reconciliationJSON(x))
	}
	for _, d := range ds {
		det.Deliveries = append(det.Deliveries, deliveryJSON(d))
	}
	for _, e := range escs {
		det.Escalations = append(det.Escalations, escalationJSON(e))
	}
	for _, e := range au {
		det.Timeline = append(det.Timeline, auditJSON(e))
	}
	if viewer(r) {
		a.maskForViewer(ev, &det)
	}
	httperr.JSON(w, http.StatusOK, det)
	return nil
}

// maskForViewer hides the event's sensitive values from a viewer: fields
// in the record, and the values wherever else they appear (the raw body,
// destination payloads, errors a destination echoed, audit messages).
func (a *API) maskForViewer(ev *store.Event, det *EventDetail) {
	f := a.Gate.Plan().Flow(ev.Flow)
	if f == nil || len(f.Sensitive()) == 0 {
		return
	}
	vals := f.SensitiveValues(ev.Canonical, ev.Raw)
	mask := func(s string) string { return pipeline.MaskValues(s, vals) }
	det.Event.Record = pipeline.MaskJSON(f.MaskRecord(det.Event.Record), vals)
	det.Event.Raw = mask(det.Event.Raw)
	det.Event.Errors = pipeline.MaskJSON(det.Event.Errors, vals)
	for i := range det.Deliveries {
		d := &det.Deliveries[i]
		d.Payload = pipeline.MaskJSON(d.Payload, vals)
		d.LastError = mask(d.LastError)
	}
	for i := range det.Escalations {
		det.Escalations[i].LastError = mask(det.Escalations[i].LastError)
		det.Escalations[i].Reason = mask(det.Escalations[i].Reason)
	}
	for i := range det.Timeline {
		det.Timeline[i].Message = mask(det.Timeline[i].Message)
	}
}

type reasonBody struct {
	Reason string `json:"reason"`
	Note   string `json:"note"`
}

func (a *API) discardEvent(w http.ResponseWriter, r *http.Request) error {
	var b reasonBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if strings.TrimSpace(b.Reason) == "" {
		return httperr.New(http.StatusBadRequest, "missing_field", "reason is required")
	}
	ev, err := a.Gate.EventDiscard(r.Context(), r.PathValue("id"), b.Reason, actor(r))
	if err != nil {
		return toHTTP(err)
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"event": eventJSON(ev, true)})
	return nil
}

func (a *API) patchHold(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Fields map[string]any `json:"fields"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	if len(b.Fields) == 0 {
		return httperr.New(http.StatusBadRequest, "missing_field", "fields is required: {\"fields\": {\"company\": \"Acme\"}}")
	}
	ev, err := a.Gate.HoldPatch(r.Context(), r.PathValue("id"), b.Fields, actor(r))
	if err != nil {
		return toHTTP(err)
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"event": eventJSON(ev, true)})
	return nil
}

func (a *API) releaseHold(w http.ResponseWriter, r *http.Request) error {
	ev, err := a.Gate.HoldRelease(r.Context(), r.PathValue("id"), actor(r))
	if err != nil {
		return toHTTP(err)
	}
	a.changed()
	httperr.JSON(w, http.StatusOK, map[string]any{"event": eventJSON(ev, true)})
	return nil
}

func (a *API) changed() {
	if a.OnChange != nil {
		a.OnChange()
	}
}

func (a *API) listEscalations(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	p := &store.TicketListParams{Status: q.Get("status"), Kind: q.Get("kind"), Destination: q.Get("destination"), GroupID: q.Get("group"),
		Source: q.Get("source"), BeforeID: q.Get("before"), Limit: limit}
	if !escalationStatusOK(p.Status) {
		return httperr.New(http.StatusBadRequest, "bad_param", "status must be open, resolved or discarded")
	}
	if err := a.knownDestination("destination", p.Destination); err != nil {
		return err
	}
	if err := beforeParam(p.BeforeID, "esc"); err != nil {
		return err
	}
	ts, err := a.Tickets.List(r.Context(), p)
	if err != nil {
		return controlHTTP(err)
	}
	out := make([]EscalationJSON, len(ts))
	mask := a.viewerMaskFor(r)
	for i, t := range ts {
		out[i] = escalationJSON(&t.Escalation)
		out[i].Destination = t.Destination
		mask.escalation(&out[i])
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"escalations": out})
	return nil
}

func (a *API) getEscalation(w http.ResponseWriter, r *http.Request) error {
	t, err := a.Tickets.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return controlHTTP(err)
	}
	j := escalationJSON(&t.Escalation)
	j.Destination = t.Destination
	mask := a.viewerMaskFor(r)
	if j.Payload, err = a.escalationPayload(r, &t.Escalation, mask); err != nil {
		return toHTTP(err)
	}
	mask.escalation(&j)
	httperr.JSON(w, http.StatusOK, map[string]any{"escalation": j})
	return nil
}

func (a *API) retryEscalation(w http.ResponseWriter, r *http.Request) error {
	e, err := a.Gate.EscalationRetry(r.Context(), r.PathValue("id"), actor(r))
	if err != nil {
		return toHTTP(err)
	}
	a.changed()
	httperr.JSON(w, http.StatusOK, map[string]any{"escalation": escalationJSON(e)})
	return nil
}

func (a *API) resolveEscalation(w http.ResponseWriter, r *http.Request) error {
	var b reasonBody
	if err := decode(r, &b); err != nil {
		return err
	}
	note := b.Note
	if note == "" {
		note = b.Reason
	}
	if strings.TrimSpace(note) == "" {
		return httperr.New(http.StatusBadRequest, "missing_field", "note is required: say how it was settled")
	}
	e, err := a.Gate.EscalationResolve(r.Context(), r.PathValue("id"), note, actor(r))
	if err != nil {
		return toHTTP(err)
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"escalation": escalationJSON(e)})
	return nil
}

func (a *API) discardEscalation(w http.ResponseWriter, r *http.Request) error {
	var b reasonBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if strings.TrimSpace(b.Reason) == "" {
		return httperr.New(http.StatusBadRequest, "missing_field", "reason is required")
	}
	e, err := a.Gate.EscalationDiscard(r.Context(), r.PathValue("id"), b.Reason, actor(r))
	if err != nil {
		return toHTTP(err)
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"escalation": escalationJSON(e)})
	return nil
}

// DestinationJSON is one destination's operator view.
type DestinationJSON struct {
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Paused    bool      `json:"paused"`
	Reason    string    `json:"reason,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

func (a *API) listDestinations(w http.ResponseWriter, r *http.Request) error {
	names := make([]string, 0, len(a.Config.Destinations))
	for n := range a.Config.Destinations {
		names = append(names, n)
	}
	sort.Strings(names)
	out := []DestinationJSON{}
	for _, n := range names {
		st, err := a.Store.DestinationStateGet(r.Context(), n)
		if err != nil {
			return err
		}
		out = append(out, DestinationJSON{Name: n, Type: a.Config.Destinations[n].Type, Paused: st.Paused, Reason: st.Reason, UpdatedAt: st.UpdatedAt})
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"destinations": out})
	return nil
}

func (a *API) setPaused(w http.ResponseWriter, r *http.Request, paused bool) error {
	name := r.PathValue("name")
	if _, ok := a.Config.Destinations[name]; !ok {
		return httperr.New(http.StatusNotFound, "not_found", fmt.Sprintf("no destination named %q", name))
	}
	var b reasonBody
	if err := decode(r, &b); err != nil {
		return err
	}
	reason := b.Reason
	if reason == "" {
		reason = map[bool]string{true: "paused by operator", false: "resumed by operator"}[paused]
	}
	st, err := a.Gate.DestinationSetPaused(r.Context(), name, paused, actor(r), reason)
	if err != nil {
		return err
	}
	a.changed()
	httperr.JSON(w, http.StatusOK, map[string]any{"destination": DestinationJSON{Name: name, Type: a.Config.Destinations[name].Type, Paused: st.Paused, Reason: st.Reason, UpdatedAt: st.UpdatedAt}})
	return nil
}

func (a *API) pauseDestination(w http.ResponseWriter, r *http.Request) error {
	return a.setPaused(w, r, true)
}

func (a *API) resumeDestination(w http.ResponseWriter, r *http.Request) error {
	return a.setPaused(w, r, false)
}

// guarantee says what a verification proved: a keyed chain cannot have
// been re-chained without the key; a plain one detects edits only.
func guarantee(rep audit.Report) string {
	switch {
	case rep.Keyed && rep.KeyedFrom <= rep.From+1:
		return "keyed: HMAC-SHA256 with " + audit.KeyEnv + "; rewriting and re-chaining without the key is detected"
	case rep.Keyed:
		return fmt.Sprintf("keyed from seq %d (HMAC-SHA256 with %s); entries before it are plain SHA-256: edits are detected, a rewrite that re-chains them is not", rep.KeyedFrom, audit.KeyEnv)
	default:
		return "plain SHA-256: edits are detected, a rewrite that re-chains the rows is not; set " + audit.KeyEnv + " to key the chain"
	}
}

func (a *API) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	rep, err := audit.Verify(r.Context(), a.Store)
	var be *audit.BrokenError
	if errors.As(err, &be) {
		httperr.JSON(w, http.StatusOK, map[string]any{"ok": false, "entries_checked": rep.Entries, "broken_at": be.Seq, "reason": be.Reason})
		return nil
	}
	if err != nil {
		return err
	}
	comp, err := pipeline.VerifyComplete(r.Context(), a.Store)
	if err != nil {
		return err
	}
	ok := len(comp.Gaps) == 0
	out := map[string]any{"ok": ok, "entries_checked": rep.Entries, "last_seq": rep.LastSeq, "events_checked": comp.Events, "guarantee": guarantee(rep)}
	if !ok {
		gaps := comp.Gaps
		if len(gaps) > 100 {
			gaps = gaps[:100]
		}
		out["incomplete_events"] = len(comp.Gaps)
		out["gaps"] = gaps
		out["reason"] = fmt.Sprintf("%d events whose audit trail does not explain their state", len(comp.Gaps))
	}
	httperr.JSON(w, http.StatusOK, out)
	return nil
}

func (a *API) stats(w http.ResponseWriter, r *http.Request) error {
	ex := a.Store
	ev, err := ex.EventCountByState(r.Context())
	if err != nil {
		return err
	}
	ds, err := ex.DeliveryCountByState(r.Context())
	if err != nil {
		return err
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"events": ev, "deliveries": ds, "store": a.StoreName})
	return nil
}

func (a *API) listReconciliations(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", store.ReconciliationOpen, store.ReconciliationResolved:
	default:
		return httperr.New(http.StatusBadRequest, "bad_param", "status must be open or resolved")
	}
	rs, err := a.Store.ReconciliationList(r.Context(), &store.ReconciliationListParams{Status: status, Limit: limit})
	if err != nil {
		return err
	}
	out := make([]ReconciliationJSON, len(rs))
	for i, x := range rs {
		out[i] = reconciliationJSON(x)
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"reconciliations": out})
	return nil
}

func (a *API) getReconciliation(w http.ResponseWriter, r *http.Request) error {
	x, err := a.Store.ReconciliationGetByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return toHTTP(err)
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"reconciliation": reconciliationJSON(x)})
	return nil
}

func (a *API) retryReconciliation(w http.ResponseWriter, r *http.Request) error {
	x, err := a.Gate.ReconciliationRetry(r.Context(), r.PathValue("id"), actor(r))
	if err != nil {
		return toHTTP(err)
	}
	a.changed()
	httperr.JSON(w, http.StatusOK, map[string]any{"reconciliation": reconciliationJSON(x)})
	return nil
}

func (a *API) resolveReconciliation(w http.ResponseWriter, r *http.Request) error {
	var b reasonBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if strings.TrimSpace(b.Note) == "" {
		return httperr.New(http.StatusBadRequest, "missing_field", "note is required: say how it was settled")
	}
	x, err := a.Gate.ReconciliationResolve(r.Context(), r.PathValue("id"), b.Note, actor(r))
	if err != nil {
		return toHTTP(err)
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"reconciliation": reconciliationJSON(x)})
	return nil
}

func (a *API) checkConsistency(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Destination string `json:"destination"`
		Sample      int    `json:"sample"`
		DryRun      bool   `json:"dry_run"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.Sample < 0 {
		return httperr.New(http.StatusBadRequest, "bad_param", "sample must be 0 (all) or positive")
	}
	if b.Destination != "" {
		if _, ok := a.Config.Destinations[b.Destination]; !ok {
			return httperr.New(http.StatusNotFound, "not_found", fmt.Sprintf("no destination named %q", b.Destination))
		}
	}
	reps, err := a.Checker.Check(r.Context(), control.CheckParams{Destination: b.Destination, Sample: b.Sample, DryRun: b.DryRun})
	if err != nil {
		return err
	}
	type out struct {
		control.DestinationReport
		Ratio float64 `json:"ratio"`
	}
	res := make([]out, len(reps))
	for i, rep := range reps {
		res[i] = out{rep, rep.Ratio()}
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"destinations": res})
	return nil
}
