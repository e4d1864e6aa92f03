package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

const pageSize = 50

type holdsData struct {
	Flows   []string
	Flow    string
	Missing string
	Fields  []string // required fields of the flows, for the missing filter
	Items   []*store.EventSummary
	Next    string
	Preview *bulkPreview
}

type bulkPreview struct {
	Field, Value string
	Release      bool
	Count        int
	IDs          []string
	More         bool
	Done         []string
	Failed       []string
}

func (k *Console) requiredFields() []string {
	set := map[string]bool{}
	for _, name := range k.c.Plan().FlowNames() {
		f := k.c.Plan().Flow(name)
		for _, r := range f.Require {
			set[r] = true
		}
		for _, rt := range f.Routes {
			for _, r := range rt.Require {
				set[r] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (k *Console) holdsFilter(q url.Values) *store.EventSearchParams {
	return &store.EventSearchParams{State: store.EventHeld, Flow: q.Get("flow"), Missing: q.Get("missing"), After: q.Get("after"), Oldest: true, Limit: pageSize}
}

func (k *Console) holds(w http.ResponseWriter, r *http.Request, u *user) error {
	q := r.URL.Query()
	d, err := k.holdsPage(r, q)
	if err != nil {
		return err
	}
	k.render(w, r, http.StatusOK, "holds", u, d)
	return nil
}

func (k *Console) holdsPage(r *http.Request, q url.Values) (*holdsData, error) {
	p := k.holdsFilter(q)
	p.Limit = pageSize + 1
	items, err := k.c.Read.EventSearch(r.Context(), p)
	if err != nil {
		return nil, err
	}
	d := &holdsData{Flows: k.c.Plan().FlowNames(), Flow: p.Flow, Missing: p.Missing, Fields: k.requiredFields()}
	if len(items) > pageSize {
		items = items[:pageSize]
		d.Next = items[pageSize-1].ID
	}
	d.Items = items
	return d, nil
}

type holdData struct {
	Event   *store.Event
	Flow    string
	Fields  []fieldSpec
	Version string
	Escs    []*store.Escalation
	Errors  []string
}

func (k *Console) holdData(r *http.Request, u *user, id string) (*holdData, error) {
	ev, err := k.c.Read.EventGetByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	f := k.c.Plan().Flow(ev.Flow)
	if f == nil {
		return nil, &userError{code: http.StatusConflict, msg: fmt.Sprintf("flow %q of this record is no longer configured", ev.Flow)}
	}
	rec := map[string]any{}
	_ = json.Unmarshal(ev.Canonical, &rec)
	var missing []string
	_ = json.Unmarshal(ev.Missing, &missing)
	specs := k.specs(f, rec, missing)
	if !u.Admin() {
		for i := range specs {
			if specs[i].Sensitive && specs[i].Present {
				specs[i].Value = masked
			}
		}
	}
	escs, err := k.c.Read.EscalationList(r.Context(), &store.EscalationListParams{EventID: ev.ID, Limit: 20})
	if err != nil {
		return nil, err
	}
	return &holdData{Event: ev, Flow: ev.Flow, Fields: specs, Version: ev.UpdatedAt.UTC().Format(time.RFC3339Nano), Escs: escs}, nil
}

func (k *Console) hold(w http.ResponseWriter, r *http.Request, u *user) error {
	d, err := k.holdData(r, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	k.render(w, r, http.StatusOK, "hold", u, d)
	return nil
}

// holdAction is save, save and release, release, or discard of one held
// record. A save carries the version the editor loaded; if someone saved in
// between, the gate refuses and the person is told so.
func (k *Console) holdAction(w http.ResponseWriter, r *http.Request, u *user) error {
	id := r.PathValue("id")
	if err := r.ParseForm(); err != nil {
		return badRequest("malformed form")
	}
	op := r.PostForm.Get("op")
	ctx := r.Context()
	switch op {
	case "save", "save-release":
		d, err := k.holdData(r, u, id)
		if err != nil {
			return err
		}
		version, err := time.Parse(time.RFC3339Nano, r.PostForm.Get("version"))
		if err != nil {
			return badRequest("the form has no version; reload the record")
		}
		fields := map[string]any{}
		var problems []string
		for _, f := range d.Fields {
			raw, ok := r.PostForm["f."+f.Name]
			if !ok || len(raw) == 0 {
				continue
			}
			s := strings.TrimSpace(raw[0])
			if s == "" || (f.Present && s == f.Value) {
				continue
			}
			v, err := f.parse(s)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			fields[f.Name] = v
		}
		if len(problems) > 0 {
			d.Errors = problems
			k.render(w, r, http.StatusUnprocessableEntity, "hold", u, d)
			return nil
		}
		if len(fields) > 0 {
			if _, err := k.c.Ops.HoldPatchIf(ctx, id, fields, u.Actor(), version); err != nil {
				return err
			}
		} else if op == "save" {
			return badRequest("nothing changed")
		}
		if op == "save" {
			http.Redirect(w, r, "/ui/holds/"+url.PathEscape(id)+"?ok=saved", http.StatusSeeOther)
			return nil
		}
		fallthrough
	case "release":
		if _, err := k.c.Ops.HoldRelease(ctx, id, u.Actor()); err != nil {
			return err
		}
		k.changed()
		http.Redirect(w, r, "/ui/events/"+url.PathEscape(id)+"?ok=released", http.StatusSeeOther)
	case "discard":
		if _, err := k.c.Ops.EventDiscard(ctx, id, strings.TrimSpace(r.PostForm.Get("reason")), u.Actor()); err != nil {
			return err
		}
		http.Redirect(w, r, "/ui/holds?ok=discarded", http.StatusSeeOther)
	default:
		return badRequest("unknown action")
	}
	return nil
}

func (k *Console) changed() {
	if k.c.OnChange != nil {
		k.c.OnChange()
	}
}

// bulkLimit caps one bulk action; the preview says when more match.
const bulkLimit = 500

// holdsBulk patches one field on every held record of a filter and
// optionally releases them. "preview" counts and lists without changing
// anything; "apply" runs each record through the same gate methods as the
// single-record form, each audited with the actor.
func (k *Console) holdsBulk(w http.ResponseWriter, r *http.Request, u *user) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("malformed form")
	}
	f := r.PostForm
	q := url.Values{"flow": {f.Get("flow")}, "missing": {f.Get("missing")}}
	p := k.holdsFilter(q)
	p.Limit = bulkLimit + 1
	items, err := k.c.Read.EventSearch(r.Context(), p)
	if err != nil {
		return err
	}
	pv := &bulkPreview{Field: strings.TrimSpace(f.Get("field")), Value: f.Get("value"), Release: f.Get("release") == "on"}
	if len(items) > bulkLimit {
		items, pv.More = items[:bulkLimit], true
	}
	pv.Count = len(items)
	for _, it := range items {
		pv.IDs = append(pv.IDs, it.ID)
	}
	if pv.Field == "" && !pv.Release {
		return badRequest("name a field to set, or tick release")
	}
	if f.Get("op") == "apply" {
		for _, it := range items {
			if err := k.bulkOne(r, u, it, pv); err != nil {
				pv.Failed = append(pv.Failed, it.ID+": "+err.Error())
			} else {
				pv.Done = append(pv.Done, it.ID)
			}
		}
		k.changed()
	}
	d, err := k.holdsPage(r, q)
	if err != nil {
		return err
	}
	d.Preview = pv
	k.render(w, r, http.StatusOK, "holds", u, d)
	return nil
}

func (k *Console) bulkOne(r *http.Request, u *user, it *store.EventSummary, pv *bulkPreview) error {
	if pv.Field != "" {
		flow := k.c.Plan().Flow(it.Flow)
		if flow == nil {
			return fmt.Errorf("flow %q not configured", it.Flow)
		}
		spec := fieldSpec{Name: pv.Field}
		for _, s := range k.specs(flow, nil, nil) {
			if s.Name == pv.Field {
				spec = s
			}
		}
		v, err := spec.parse(pv.Value)
		if err != nil {
			return err
		}
		if _, err := k.c.Ops.HoldPatchIf(r.Context(), it.ID, map[string]any{pv.Field: v}, u.Actor(), it.UpdatedAt); err != nil {
			return err
		}
	}
	if pv.Release {
		if _, err := k.c.Ops.HoldRelease(r.Context(), it.ID, u.Actor()); err != nil {
			return err
		}
	}
	return nil
}
