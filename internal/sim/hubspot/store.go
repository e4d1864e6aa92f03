package hubspot

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// record is one stored CRM object.
type record struct {
	id       string
	seq      int64
	props    map[string]string
	created  time.Time
	updated  time.Time
	archived bool
	// archivedAt is when it was archived (zero while live).
	archivedAt time.Time
	// indexed is what search sees until visibleAt (the SearchLag knob); nil
	// means search does not see the record yet.
	indexed   map[string]string
	visibleAt time.Time
}

// store holds one object type's records and its unique-value indexes.
type store struct {
	byID   map[string]*record
	unique map[string]map[string]string // property -> key(value) -> id
}

func newStore() *store {
	return &store{byID: map[string]*record{}, unique: map[string]map[string]string{}}
}

// uniqueKey is how a unique value is compared: e-mails case-insensitively.
func uniqueKey(prop, v string) string {
	if prop == "email" {
		return strings.ToLower(v)
	}
	return v
}

// findUnique returns the live record holding value for a unique property.
func (st *store) findUnique(prop, value string) *record {
	id, ok := st.unique[prop][uniqueKey(prop, value)]
	if !ok {
		return nil
	}
	return st.byID[id]
}

// itemError is the failure of one write, reported either as a whole
// response or as one entry of a batch's errors.
type itemError struct {
	status   int
	category string
	message  string
	context  map[string][]string
}

func validationError(errs []propError) *itemError {
	return &itemError{status: http.StatusBadRequest, category: "VALIDATION_ERROR", message: propErrorsMessage(errs)}
}

// changes validates props for t. Errors for every bad property are
// reported together, as HubSpot does.
func (s *Server) changes(t *ObjectType, props map[string]any) ([]change, *itemError) {
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	removed := func(name string) bool { return s.Removed(t.Name, name) }
	var out []change
	var errs []propError
	for _, n := range names {
		c, perr := normalize(t, n, props[n], removed)
		if perr != nil {
			errs = append(errs, *perr)
			continue
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, validationError(errs)
	}
	return out, nil
}

// conflict checks that applying cs to rec (nil for a new record) leaves
// every unique value unique.
func (s *Server) conflict(t *ObjectType, st *store, rec *record, cs []change) *itemError {
	for _, c := range cs {
		p, _ := t.property(c.name)
		if !p.Unique || c.clear {
			continue
		}
		other := st.findUnique(c.name, c.value)
		if other != nil && other != rec {
			return &itemError{
				status: http.StatusConflict, category: "CONFLICT",
				message: fmt.Sprintf("%s already exists. Existing ID: %s", t.Singular, other.id),
			}
		}
	}
	return nil
}

// create validates and stores a new record. s.mu must be held.
func (s *Server) create(t *ObjectType, props map[string]any, extra ...change) (*record, *itemError) {
	cs, ierr := s.changes(t, props)
	if ierr != nil {
		return nil, ierr
	}
	cs = append(cs, extra...)
	st := s.stores[t.Name]
	if ierr := s.conflict(t, st, nil, cs); ierr != nil {
		return nil, ierr
	}
	now := s.Now()
	s.nextID++
	rec := &record{id: strconv.FormatInt(s.nextID+100, 10), seq: s.nextID, props: map[string]string{}, created: now}
	st.byID[rec.id] = rec
	s.apply(t, st, rec, cs, now)
	s.emitWrite(t, rec, nil)
	return rec, nil
}

// update validates and applies props to rec. s.mu must be held.
func (s *Server) update(t *ObjectType, rec *record, props map[string]any) *itemError {
	cs, ierr := s.changes(t, props)
	if ierr != nil {
		return ierr
	}
	st := s.stores[t.Name]
	if ierr := s.conflict(t, st, rec, cs); ierr != nil {
		return ierr
	}
	before := clone(rec.props)
	s.apply(t, st, rec, cs, s.Now())
	s.emitWrite(t, rec, before)
	return nil
}

// apply writes validated changes, keeps the unique indexes and the search
// view current. s.mu must be held.
func (s *Server) apply(t *ObjectType, st *store, rec *record, cs []change, now time.Time) {
	oldKey := s.dedupeKey(t, rec)
	if s.searchLag > 0 && !rec.visibleAt.IsZero() && !now.Before(rec.visibleAt) {
		// The previous write is indexed by now: it is what search keeps
		// seeing until this one is. A new record stays unindexed.
		rec.indexed = clone(rec.props)
	}
	for _, c := range cs {
		p, _ := t.property(c.name)
		if p.Unique {
			if old, ok := rec.props[c.name]; ok {
				delete(st.unique[c.name], uniqueKey(c.name, old))
			}
		}
		if c.clear {
			delete(rec.props, c.name)
			continue
		}
		rec.props[c.name] = c.value
		if p.Unique {
			if st.unique[c.name] == nil {
				st.unique[c.name] = map[string]string{}
			}
			st.unique[c.name][uniqueKey(c.name, c.value)] = rec.id
		}
	}
	rec.updated = now
	rec.visibleAt = now.Add(s.searchLag)
	if s.lagJitter > 0 {
		s.writes++
		rec.visibleAt = rec.visibleAt.Add(time.Duration((s.writes*7919)%1000) * s.lagJitter / 1000)
	}
	if old, cur := oldKey, s.dedupeKey(t, rec); old != cur {
		s.KeyRemoved(old)
		s.KeyAdded(cur)
	}
}

// dedupeKey is rec's business key for the duplicate count ("" for none).
func (s *Server) dedupeKey(t *ObjectType, rec *record) string {
	if t.DedupeKey == "" || rec.archived || rec.props[t.DedupeKey] == "" {
		return ""
	}
	return t.Name + ":" + uniqueKey(t.DedupeKey, rec.props[t.DedupeKey])
}

// archive removes rec from its indexes; it stays listed as archived.
func (s *Server) archive(t *ObjectType, rec *record) {
	s.KeyRemoved(s.dedupeKey(t, rec))
	st := s.stores[t.Name]
	for name, v := range rec.props {
		if p, _ := t.property(name); p.Unique {
			delete(st.unique[name], uniqueKey(name, v))
		}
	}
	rec.archived = true
	rec.updated = s.Now()
	rec.archivedAt = rec.updated
	s.emitDeletion(t, rec)
}

// searchView is what search sees of rec now: its properties, an older
// version while a write is not yet indexed, or nil when it is not indexed
// at all.
func (s *Server) searchView(rec *record, now time.Time) map[string]string {
	if rec.archived {
		return nil
	}
	if s.searchLag <= 0 || !now.Before(rec.visibleAt) {
		return rec.props
	}
	return rec.indexed
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// lookup finds a live record by id, or by a unique idProperty's value.
// s.mu must be held.
func (s *Server) lookup(t *ObjectType, id, idProperty string) (*record, *itemError) {
	st := s.stores[t.Name]
	if idProperty != "" && idProperty != "hs_object_id" {
		p, ok := t.property(idProperty)
		if !ok || s.Removed(t.Name, idProperty) {
			return nil, validationError([]propError{newPropError(idProperty, "PROPERTY_DOESNT_EXIST", "Property %q does not exist", idProperty)})
		}
		if !p.Unique {
			return nil, &itemError{status: http.StatusBadRequest, category: "VALIDATION_ERROR",
				message: fmt.Sprintf("%s is not a unique property and cannot be used as idProperty", idProperty)}
		}
		if rec := st.findUnique(idProperty, id); rec != nil {
			return rec, nil
		}
		return nil, nil
	}
	if rec, ok := st.byID[id]; ok && !rec.archived {
		return rec, nil
	}
	return nil, nil
}

// objectJSON is a record as the API returns it.
type objectJSON struct {
	ID                 string             `json:"id"`
	Properties         map[string]*string `json:"properties"`
	CreatedAt          string             `json:"createdAt"`
	UpdatedAt          string             `json:"updatedAt"`
	Archived           bool               `json:"archived"`
	ArchivedAt         string             `json:"archivedAt,omitempty"`
	New                *bool              `json:"new,omitempty"`
	ObjectWriteTraceID string             `json:"objectWriteTraceId,omitempty"`
}

// toJSON renders rec with the properties in want (nil: every stored
// property), plus the system properties. A wanted property with no value is
// null, as HubSpot returns it.
func (s *Server) toJSON(t *ObjectType, rec *record, props map[string]string, want []string) objectJSON {
	out := objectJSON{
		ID: rec.id, CreatedAt: formatTime(rec.created), UpdatedAt: formatTime(rec.updated),
		Archived: rec.archived, Properties: map[string]*string{},
	}
	if rec.archived {
		out.ArchivedAt = formatTime(rec.archivedAt)
	}
	str := func(v string) *string { return &v }
	if want == nil {
		for k, v := range props {
			out.Properties[k] = str(v)
		}
	} else {
		for _, k := range want {
			if v, ok := props[k]; ok {
				out.Properties[k] = str(v)
			} else {
				out.Properties[k] = nil
			}
		}
	}
	out.Properties["hs_object_id"] = str(rec.id)
	out.Properties["createdate"] = str(formatTime(rec.created))
	if t.Modified != "" {
		out.Properties[t.Modified] = str(formatTime(rec.updated))
	}
	return out
}

// records is GET /_sim/records: every record of every type, archived ones
// flagged, in creation order.
func (s *Server) records() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]objectJSON{}
	for name, st := range s.stores {
		t := s.types[name]
		recs := make([]*record, 0, len(st.byID))
		for _, r := range st.byID {
			recs = append(recs, r)
		}
		sort.Slice(recs, func(i, j int) bool { return recs[i].seq < recs[j].seq })
		list := make([]objectJSON, 0, len(recs))
		for _, r := range recs {
			list = append(list, s.toJSON(t, r, r.props, nil))
		}
		out[name] = list
	}
	return out
}

// Records returns the live records of one object type in creation order,
// each as its properties (system properties included), for tests.
func (s *Server) Records(objectType string) []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stores[objectType]
	t := s.types[objectType]
	if st == nil {
		return nil
	}
	recs := make([]*record, 0, len(st.byID))
	for _, r := range st.byID {
		if !r.archived {
			recs = append(recs, r)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].seq < recs[j].seq })
	out := make([]map[string]string, 0, len(recs))
	for _, r := range recs {
		j := s.toJSON(t, r, r.props, nil)
		m := make(map[string]string, len(j.Properties))
		for k, v := range j.Properties {
			if v != nil {
				m[k] = *v
			}
		}
		out = append(out, m)
	}
	return out
}
