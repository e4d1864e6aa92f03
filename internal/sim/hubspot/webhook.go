package hubspot

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/sim"
)

// PortalID and AppID are what the simulator's webhook events carry.
const (
	PortalID = 62515
	AppID    = 54321
)

// hookEvent is one HubSpot webhook subscription event.
type hookEvent struct {
	EventID          int64  `json:"eventId"`
	SubscriptionID   int    `json:"subscriptionId"`
	PortalID         int    `json:"portalId"`
	AppID            int    `json:"appId"`
	OccurredAt       int64  `json:"occurredAt"`
	SubscriptionType string `json:"subscriptionType"`
	AttemptNumber    int    `json:"attemptNumber"`
	ObjectID         int64  `json:"objectId"`
	PropertyName     string `json:"propertyName,omitempty"`
	PropertyValue    string `json:"propertyValue,omitempty"`
	ChangeSource     string `json:"changeSource"`
}

// emitWrite sends the webhooks of one write to rec: contact.creation when
// created, then one propertyChange per writable property whose value
// changed (before is nil for a creation). One write is one request, an
// array of events, as HubSpot batches them. s.mu must be held.
func (s *Server) emitWrite(t *ObjectType, rec *record, before map[string]string) {
	if !s.Hooks.Subscribed() {
		return
	}
	object := strings.ToLower(t.Singular)
	id, _ := strconv.ParseInt(rec.id, 10, 64)
	at := rec.updated.UnixMilli()
	var evs []hookEvent
	if before == nil {
		evs = append(evs, s.hookEvent(object+".creation", id, at))
	}
	names := make([]string, 0, len(rec.props))
	for name := range rec.props {
		names = append(names, name)
	}
	for name := range before {
		if _, ok := rec.props[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if p, ok := t.property(name); !ok || p.ReadOnly || name == t.Modified {
			continue
		}
		if old, had := before[name]; had && old == rec.props[name] {
			continue
		}
		e := s.hookEvent(object+".propertyChange", id, at)
		e.PropertyName, e.PropertyValue = name, rec.props[name]
		evs = append(evs, e)
	}
	s.send(evs)
}

// emitDeletion sends object.deletion for an archived record. s.mu held.
func (s *Server) emitDeletion(t *ObjectType, rec *record) {
	if !s.Hooks.Subscribed() {
		return
	}
	id, _ := strconv.ParseInt(rec.id, 10, 64)
	s.send([]hookEvent{s.hookEvent(strings.ToLower(t.Singular)+".deletion", id, rec.updated.UnixMilli())})
}

func (s *Server) hookEvent(typ string, id, at int64) hookEvent {
	s.eventID++
	return hookEvent{EventID: s.eventID, SubscriptionID: 1, PortalID: PortalID, AppID: AppID, OccurredAt: at,
		SubscriptionType: typ, ObjectID: id, ChangeSource: "API"}
}

// send queues evs as one request; a subscription with Events gets only
// the types it names (and nothing when none is left). attemptNumber
// counts from 0, as HubSpot's does.
func (s *Server) send(evs []hookEvent) {
	if len(evs) == 0 {
		return
	}
	s.Hooks.Emit(sim.Webhook{Body: func(sub sim.Subscription, attempt int) []byte {
		var out []hookEvent
		for _, e := range evs {
			if len(sub.Events) > 0 && !wanted(sub, e.SubscriptionType) {
				continue
			}
			e.AttemptNumber = attempt - 1
			out = append(out, e)
		}
		if len(out) == 0 {
			return nil
		}
		b, _ := json.Marshal(out)
		return b
	}})
}

func wanted(sub sim.Subscription, typ string) bool {
	for _, e := range sub.Events {
		if e == typ {
			return true
		}
	}
	return false
}
