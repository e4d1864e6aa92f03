package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/ticket"
)

type ticketsData struct {
	Q       url.Values
	Items   []*ticket.Ticket
	Next    string
	Kinds   []string
	Dests   []string
	Bulk    *ticket.BulkResult
	BulkReq url.Values
	// Groups are the open escalations' failure groups (same destination,
	// kind, platform status and code), largest first.
	Groups []*pipeline.EscalationGroup
	// Group is the failure group the list is narrowed to, if any.
	Group        string
	GroupActions []string
}

// groupsShown is how many failure groups the Escalations page lists.
const groupsShown = 20

// groupActions are the actions a whole failure group can take.
var groupActions = []string{ticket.BulkRetry, ticket.BulkRerender, ticket.BulkResolve, ticket.BulkDiscard}

func (k *Console) ticketFilter(q url.Values) (*store.TicketListParams, error) {
	p := &store.TicketListParams{Status: q.Get("status"), Kind: q.Get("kind"), Destination: q.Get("destination"), Owner: q.Get("owner"),
		GroupID: q.Get("group"), BeforeID: q.Get("before"), Limit: pageSize + 1}
	if p.Status == "" {
		p.Status = store.EscalationOpen
	}
	if p.Status == "any" {
		p.Status = ""
	}
	if q.Get("overdue") == "on" {
		p.Status, p.DueBefore = store.EscalationOpen, k.c.Now()
	}
	return p, nil
}

func (k *Console) destNames() []string {
	out := make([]string, 0, len(k.c.Config().Destinations))
	for n := range k.c.Config().Destinations {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// tickets lists escalations as work items: overdue first, then by due time
// (within the page; pages follow creation order, newest first).
func (k *Console) tickets(w http.ResponseWriter, r *http.Request, u *user) error {
	d, err := k.ticketsPage(r, r.URL.Query(), false)
	if err != nil {
		return err
	}
	k.render(w, r, http.StatusOK, "tickets", u, d)
	return nil
}

func (k *Console) ticketsPage(r *http.Request, q url.Values, conflictsOnly bool) (*ticketsData, error) {
	p, err := k.ticketFilter(q)
	if err != nil {
		return nil, err
	}
	if conflictsOnly {
		p.Kind = "conflict_review"
	}
	items, err := k.c.Tickets.List(r.Context(), p)
	if err != nil {
		return nil, err
	}
	d := &ticketsData{Q: q, Dests: k.destNames(), Group: q.Get("group"), GroupActions: groupActions,
		Kinds: []string{"permanent_error", "retries_exhausted", "hold_expired", "conflict_review", "conflict_error", "auth_error", "drift_error", "config_error"}}
	if !conflictsOnly {
		// Open failures only: a group is a matter to work off now.
		if d.Groups, err = k.c.Ops.EscalationGroupList(r.Context(), store.EscalationGroupListParams{Status: store.EscalationOpen,
			Kind: q.Get("kind"), Destination: q.Get("destination"), GroupID: q.Get("group"), Limit: groupsShown}); err != nil {
			return nil, err
		}
	}
	if len(items) > pageSize {
		items = items[:pageSize]
		next := url.Values{}
		for key, v := range q {
			next[key] = v
		}
		next.Set("before", items[pageSize-1].ID)
		d.Next = "?" + next.Encode()
	}
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Overdue != items[j].Overdue {
			return items[i].Overdue
		}
		return items[i].DueAt.Before(items[j].DueAt)
	})
	d.Items = items
	return d, nil
}

type ticketData struct {
	T       *ticket.Ticket
	Version string
	Payload []fieldSpec
	Event   *store.Event
}

func (k *Console) ticketData(r *http.Request, u *user, id string) (*ticketData, error) {
	t, err := k.c.Tickets.Get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	d := &ticketData{T: t, Version: t.UpdatedAt.UTC().Format(time.RFC3339Nano)}
	if t.DeliveryID != "" {
		dl, err := k.c.Read.DeliveryGetByID(r.Context(), t.DeliveryID)
		if err != nil {
			return nil, err
		}
		payload := map[string]any{}
		_ = json.Unmarshal(dl.Payload, &payload)
		var flow *pipeline.Flow
		if ev, err := k.c.Read.EventGetByID(r.Context(), t.EventID); err == nil {
			d.Event, flow = ev, k.c.Plan().Flow(ev.Flow)
		}
		sens := sensitiveFields(flow)
		flat := map[string]any{}
		flatten("", payload, flat)
		for name, v := range flat {
			s := fieldSpec{Name: name, Present: true, Sensitive: sens[name]}
			switch x := v.(type) {
			case string:
				s.Value, s.Type = x, "string"
			case float64:
				s.Value, s.Type = fmt.Sprint(x), "number"
			case bool:
				s.Value, s.Type = fmt.Sprint(x), "boolean"
			default:
				b, _ := json.Marshal(x)
				s.Value = string(b)
				if _, ok := x.([]any); ok {
					s.Type = "array"
				}
			}
			if s.Sensitive && !u.Admin() {
				s.Value = masked
			}
			d.Payload = append(d.Payload, s)
		}
		sort.Slice(d.Payload, func(i, j int) bool { return d.Payload[i].Name < d.Payload[j].Name })
	}
	return d, nil
}

func (k *Console) ticket(w http.ResponseWriter, r *http.Request, u *user) error {
	d, err := k.ticketData(r, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	k.render(w, r, http.StatusOK, "ticket", u, d)
	return nil
}

// formVersion is the version of the ticket the form was made from. The
// gate compares it with the ticket inside its write transaction, so a
// second operator's save never silently undoes the first's.
func formVersion(r *http.Request) (time.Time, error) {
	v, err := time.Parse(time.RFC3339Nano, r.PostForm.Get("version"))
	if err != nil {
		return time.Time{}, badRequest("the form has no version; reload the escalation")
	}
	return v, nil
}

func (k *Console) ticketAction(w http.ResponseWriter, r *http.Request, u *user) error {
	id := r.PathValue("id")
	if err := r.ParseForm(); err != nil {
		return badRequest("malformed form")
	}
	ctx, f, actor := r.Context(), r.PostForm, u.Actor()
	var ok string
	var err error
	switch f.Get("op") {
	case "assign":
		v, verr := formVersion(r)
		if verr != nil {
			return verr
		}
		err, ok = tkErr(k.c.Tickets.AssignIf(ctx, id, f.Get("owner"), actor, v)), "assigned"
	case "ack":
		err, ok = tkErr(k.c.Tickets.Acknowledge(ctx, id, actor)), "acked"
	case "note":
		if strings.TrimSpace(f.Get("text")) == "" {
			return badRequest("the note is empty")
		}
		err, ok = tkErr(k.c.Tickets.AddNote(ctx, id, f.Get("text"), actor)), "noted"
	case "retry":
		_, err = k.c.Ops.EscalationRetry(ctx, id, actor)
		ok = "retried"
	case "patch-retry":
		ver, verr := formVersion(r)
		if verr != nil {
			return verr
		}
		// derr, not err: a shadowed err here once swallowed the patch's own
		// failure and showed "patched".
		d, derr := k.ticketData(r, u, id)
		if derr != nil {
			return derr
		}
		fields := map[string]any{}
		for _, s := range d.Payload {
			v, present := f["f."+s.Name]
			if !present || len(v) == 0 || v[0] == s.Value {
				continue
			}
			pv, perr := s.parse(v[0])
			if perr != nil {
				return badRequest(perr.Error())
			}
			fields[s.Name] = pv
		}
		if nf := strings.TrimSpace(f.Get("new_field")); nf != "" {
			fields[nf] = f.Get("new_value")
		}
		if len(fields) == 0 {
			return badRequest("nothing changed")
		}
		err, ok = tkErr(k.c.Tickets.PatchRetryIf(ctx, id, fields, actor, ver, "")), "patched"
	case "resolve":
		_, err = k.c.Ops.EscalationResolve(ctx, id, strings.TrimSpace(f.Get("note")), actor)
		ok = "resolved"
	case "discard":
		_, err = k.c.Ops.EscalationDiscard(ctx, id, strings.TrimSpace(f.Get("reason")), actor)
		ok = "discarded"
	default:
		return badRequest("unknown action")
	}
	if err != nil {
		return err
	}
	k.changed()
	http.Redirect(w, r, "/ui/tickets/"+url.PathEscape(id)+"?ok="+ok, http.StatusSeeOther)
	return nil
}

func tkErr(_ *ticket.Ticket, err error) error { return err }

// ticketsBulk runs a bulk retry, resolve or discard: a dry run first (what
// would be done, how many), then the real one on request.
func (k *Console) ticketsBulk(w http.ResponseWriter, r *http.Request, u *user) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("malformed form")
	}
	f := r.PostForm
	p := ticket.BulkParams{Action: f.Get("action"), Note: strings.TrimSpace(f.Get("note")), DryRun: f.Get("op") != "apply", Actor: u.Actor(),
		Filter: ticket.Filter{Status: store.EscalationOpen, Kind: f.Get("kind"), Destination: f.Get("destination"), Group: f.Get("group")}}
	res, err := k.c.Tickets.Bulk(r.Context(), p)
	if err != nil {
		return err
	}
	if !p.DryRun {
		k.changed()
	}
	q := url.Values{"kind": {f.Get("kind")}, "destination": {f.Get("destination")}}
	if g := f.Get("group"); g != "" {
		// A group's action: show the group and its members with the result.
		q = url.Values{"group": {g}}
	}
	d, err := k.ticketsPage(r, q, false)
	if err != nil {
		return err
	}
	d.Bulk, d.BulkReq = res, f
	k.render(w, r, http.StatusOK, "tickets", u, d)
	return nil
}
