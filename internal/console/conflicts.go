package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
)

func (k *Console) conflicts(w http.ResponseWriter, r *http.Request, u *user) error {
	d, err := k.ticketsPage(r, r.URL.Query(), true)
	if err != nil {
		return err
	}
	k.render(w, r, http.StatusOK, "conflicts", u, d)
	return nil
}

// conflictField is one row of the side-by-side view.
type conflictField struct {
	Name       string
	Ours       string
	Theirs     string
	HasTheirs  bool
	Differs    bool
	ours, thrs any
}

type conflictData struct {
	Ticket   *ticketData
	Fields   []conflictField
	Readable bool // the destination could be read back
	Note     string
}

func show(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (k *Console) conflictData(r *http.Request, u *user, id string) (*conflictData, error) {
	td, err := k.ticketData(r, u, id)
	if err != nil {
		return nil, err
	}
	if td.T.Kind != "conflict_review" || td.T.DeliveryID == "" {
		return nil, &userError{code: http.StatusNotFound, msg: "escalation " + id + " is not a conflict"}
	}
	dl, err := k.c.Read.DeliveryGetByID(r.Context(), td.T.DeliveryID)
	if err != nil {
		return nil, err
	}
	ours := map[string]any{}
	_ = json.Unmarshal(dl.Payload, &ours)
	var theirs map[string]any
	d := &conflictData{Ticket: td}
	if k.c.Lookup != nil {
		found, ok, err := k.c.Lookup(r.Context(), dl.Destination, dl.RecordKey)
		if err != nil {
			d.Note = "Could not read the destination's version: " + err.Error()
		} else if ok {
			theirs, d.Readable = found, true
		} else {
			d.Note = "The destination has no such record now (or cannot be read back); applying writes ours."
		}
	}
	var sens map[string]bool
	if td.Event != nil {
		sens = sensitiveFields(k.c.Plan().Flow(td.Event.Flow))
	}
	names := map[string]bool{}
	for n := range ours {
		names[n] = true
	}
	for n := range theirs {
		// Only fields Sluice writes: the destination's own bookkeeping
		// (ids, timestamps) is not ours to settle.
		if _, ok := ours[n]; ok {
			names[n] = true
		}
	}
	for n := range names {
		tv, has := theirs[n]
		f := conflictField{Name: n, Ours: show(ours[n]), Theirs: show(tv), HasTheirs: has, ours: ours[n], thrs: tv}
		f.Differs = has && f.Ours != f.Theirs
		if !u.Admin() && sens[n] {
			f.Ours, f.Theirs = masked, masked
		}
		d.Fields = append(d.Fields, f)
	}
	sort.Slice(d.Fields, func(i, j int) bool {
		if d.Fields[i].Differs != d.Fields[j].Differs {
			return d.Fields[i].Differs
		}
		return d.Fields[i].Name < d.Fields[j].Name
	})
	return d, nil
}

func (k *Console) conflict(w http.ResponseWriter, r *http.Request, u *user) error {
	d, err := k.conflictData(r, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	k.render(w, r, http.StatusOK, "conflict", u, d)
	return nil
}

// conflictApply settles a conflict field by field: each field keeps ours,
// takes theirs, or takes an edited value. The choice is written to the
// ticket's notes (field names and sides, not values), then the payload is
// patched and written (a person's retry of a conflict overwrites), all
// through the gate and audited with the actor.
func (k *Console) conflictApply(w http.ResponseWriter, r *http.Request, u *user) error {
	id := r.PathValue("id")
	if err := r.ParseForm(); err != nil {
		return badRequest("malformed form")
	}
	version, err := formVersion(r)
	if err != nil {
		return err
	}
	d, err := k.conflictData(r, u, id)
	if err != nil {
		return err
	}
	fields := map[string]any{}
	var choices []string
	for _, f := range d.Fields {
		switch c := r.PostForm.Get("c." + f.Name); c {
		case "", "ours":
			choices = append(choices, f.Name+"=ours")
		case "theirs":
			if !f.HasTheirs {
				return badRequest(fmt.Sprintf("%s: the destination has no value to keep", f.Name))
			}
			fields[f.Name] = f.thrs
			choices = append(choices, f.Name+"=theirs")
		case "edited":
			v := r.PostForm.Get("e." + f.Name)
			var typed any = v
			if _, isNum := f.ours.(float64); isNum {
				spec := fieldSpec{Name: f.Name, Type: "number"}
				if typed, err = spec.parse(v); err != nil {
					return badRequest(err.Error())
				}
			}
			fields[f.Name] = typed
			choices = append(choices, f.Name+"=edited")
		default:
			return badRequest(fmt.Sprintf("%s: choose ours, theirs or edited", f.Name))
		}
	}
	// The choices, the patch and the retry are one transaction, checked
	// against the version the operator looked at.
	note := "conflict settled field by field: " + strings.Join(choices, ", ")
	if _, err := k.c.Tickets.PatchRetryIf(r.Context(), id, fields, u.Actor(), version, note); err != nil {
		return err
	}
	k.changed()
	http.Redirect(w, r, "/ui/tickets/"+url.PathEscape(id)+"?ok=applied", http.StatusSeeOther)
	return nil
}

var _ = store.EscalationOpen
