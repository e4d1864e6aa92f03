package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/store"
)

// exerciseSLA runs the conformance suite of the optional store.SLAStore
// capability; every driver implements it.
func exerciseSLA(t *testing.T, open Opener) {
	slaOf := func(t *testing.T, d store.Driver) store.SLAStore {
		t.Helper()
		s, ok := d.Executor().(store.SLAStore)
		if !ok {
			t.Fatalf("%s executor does not implement store.SLAStore", d.Name())
		}
		return s
	}

	t.Run("queue ages per flow and destination", func(t *testing.T) {
		d := open(t)
		// Event IDs begin with the time received, as id.New makes them:
		// the oldest event of a flow is its first by ID.
		ids := map[string]string{}
		inTx(t, d, func(tx store.ExecutorTx) error {
			for i, e := range []struct {
				id, flow string
				state    store.EventState
				at       time.Duration
			}{
				{"evt_1", "leads", store.EventDelivering, 0},
				{"evt_2", "leads", store.EventDelivering, -3 * time.Minute},
				{"evt_3", "leads", store.EventHeld, -time.Hour},
				{"evt_4", "deals", store.EventDelivering, -time.Minute},
				{"evt_5", "deals", store.EventDelivered, -2 * time.Hour},
			} {
				ids[e.id] = id.New("evt", t0.Add(e.at))
				ev := event(ids[e.id], "", fmt.Sprintf("k%d@x", i), e.state)
				ev.Flow, ev.ReceivedAt = e.flow, t0.Add(e.at)
				if _, _, err := tx.EventInsert(ctx(t), ev); err != nil {
					return err
				}
			}
			for _, dl := range []*store.Delivery{
				delivery("dlv_1", ids["evt_1"], "crm", "a", store.DeliveryPending, t0.Add(time.Minute)),
				delivery("dlv_2", ids["evt_2"], "crm", "b", store.DeliveryPending, t0.Add(-time.Minute)),
				delivery("dlv_3", ids["evt_4"], "crm", "c", store.DeliveryInflight, t0),
				delivery("dlv_4", ids["evt_4"], "sheet", "c", store.DeliveryPending, t0),
			} {
				if dl.ID == "dlv_2" {
					dl.CreatedAt = t0.Add(-10 * time.Minute)
				}
				if err := tx.DeliveryInsert(ctx(t), dl); err != nil {
					return err
				}
			}
			return nil
		})
		s := slaOf(t, d)
		flows := []string{"leads", "deals", "gone", "leads"} // a flow with nothing, a repeat
		got, err := s.EventAgeByFlow(ctx(t), &store.QueueAgeParams{State: store.EventDelivering, Names: flows})
		if err != nil {
			t.Fatal(err)
		}
		want := []store.QueueAge{{Name: "deals", Count: 1, Oldest: t0.Add(-time.Minute)}, {Name: "leads", Count: 2, Oldest: t0.Add(-3 * time.Minute)}}
		checkAges(t, "delivering", got, want)
		got, err = s.EventAgeByFlow(ctx(t), &store.QueueAgeParams{State: store.EventHeld, Names: flows})
		if err != nil {
			t.Fatal(err)
		}
		checkAges(t, "held", got, []store.QueueAge{{Name: "leads", Count: 1, Oldest: t0.Add(-time.Hour)}})
		// Only the names asked for are read.
		got, err = s.EventAgeByFlow(ctx(t), &store.QueueAgeParams{State: store.EventDelivering, Names: []string{"deals"}})
		if err != nil {
			t.Fatal(err)
		}
		checkAges(t, "delivering, deals only", got, want[:1])
		// Counting stops at the limit and says so; the oldest stays exact.
		got, err = s.EventAgeByFlow(ctx(t), &store.QueueAgeParams{State: store.EventDelivering, Names: flows, CountLimit: 1})
		if err != nil {
			t.Fatal(err)
		}
		checkAges(t, "delivering, counted to 1", got, []store.QueueAge{
			{Name: "deals", Count: 1, Capped: true, Oldest: t0.Add(-time.Minute)},
			{Name: "leads", Count: 1, Capped: true, Oldest: t0.Add(-3 * time.Minute)}})
		got, err = s.EventAgeByFlow(ctx(t), &store.QueueAgeParams{State: store.EventDelivering, Names: flows, CountLimit: 3})
		if err != nil {
			t.Fatal(err)
		}
		checkAges(t, "delivering, counted to 3", got, want)
		// States without an index of their open events are refused.
		if got, err = s.EventAgeByFlow(ctx(t), &store.QueueAgeParams{State: store.EventRejected, Names: flows}); err == nil {
			t.Fatalf("rejected events: %v, want an error", got)
		}
		if _, err = s.EventAgeByFlow(ctx(t), &store.QueueAgeParams{State: store.EventHeld, CountLimit: -1}); err == nil {
			t.Fatal("negative count limit: want an error")
		}
		dests := []string{"crm", "sheet", "none"}
		got, err = s.DeliveryAgeByDestination(ctx(t), &store.QueueAgeParams{Names: dests})
		if err != nil {
			t.Fatal(err)
		}
		checkAges(t, "pending deliveries", got, []store.QueueAge{
			{Name: "crm", Count: 2, Oldest: t0.Add(-10 * time.Minute), NextAt: t0.Add(-time.Minute)},
			{Name: "sheet", Count: 1, Oldest: t0, NextAt: t0},
		})
		got, err = s.DeliveryAgeByDestination(ctx(t), &store.QueueAgeParams{Names: dests, CountLimit: 2})
		if err != nil {
			t.Fatal(err)
		}
		checkAges(t, "pending deliveries, counted to 2", got, []store.QueueAge{
			{Name: "crm", Count: 2, Capped: true, Oldest: t0.Add(-10 * time.Minute), NextAt: t0.Add(-time.Minute)},
			{Name: "sheet", Count: 1, Oldest: t0, NextAt: t0},
		})
		if _, err = s.DeliveryAgeByDestination(ctx(t), &store.QueueAgeParams{State: store.EventHeld, Names: dests}); err == nil {
			t.Fatal("delivery ages with an event state: want an error")
		}
		// A delivery that leaves pending leaves the ages: crm's oldest
		// (dlv_2) is claimed, the next oldest is dlv_1.
		inTx(t, d, func(tx store.ExecutorTx) error {
			dl, err := tx.DeliveryGetByID(ctx(t), "dlv_2")
			if err != nil {
				return err
			}
			dl.State = store.DeliverySucceeded
			return tx.DeliveryUpdate(ctx(t), dl)
		})
		got, err = s.DeliveryAgeByDestination(ctx(t), &store.QueueAgeParams{Names: []string{"crm"}})
		if err != nil {
			t.Fatal(err)
		}
		checkAges(t, "pending deliveries after one succeeded", got, []store.QueueAge{
			{Name: "crm", Count: 1, Oldest: t0, NextAt: t0.Add(time.Minute)},
		})
	})

	t.Run("escalations in creation order", func(t *testing.T) {
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			if _, _, err := tx.EventInsert(ctx(t), event("evt_e", "", "e@x", store.EventEscalated)); err != nil {
				return err
			}
			for _, id := range []string{"esc_03", "esc_01", "esc_05", "esc_02", "esc_04"} {
				if err := tx.EscalationInsert(ctx(t), &store.Escalation{ID: id, EventID: "evt_e", Kind: "k", Reason: "r", Status: store.EscalationOpen, CreatedAt: t0, UpdatedAt: t0}); err != nil {
					return err
				}
			}
			return nil
		})
		s := slaOf(t, d)
		ids := func(p store.EscalationListCreatedParams) string {
			t.Helper()
			es, err := s.EscalationListCreated(ctx(t), &p)
			if err != nil {
				t.Fatal(err)
			}
			out := ""
			for _, e := range es {
				out += e.ID + " "
			}
			return out
		}
		if got := ids(store.EscalationListCreatedParams{AfterID: "esc_01", BeforeID: "esc_05"}); got != "esc_02 esc_03 esc_04 " {
			t.Fatalf("after esc_01 before esc_05: %q", got)
		}
		if got := ids(store.EscalationListCreatedParams{AfterID: "esc_02", Limit: 2}); got != "esc_03 esc_04 " {
			t.Fatalf("after esc_02, limit 2: %q", got)
		}
		if got := ids(store.EscalationListCreatedParams{}); got != "esc_01 esc_02 esc_03 esc_04 esc_05 " {
			t.Fatalf("all: %q", got)
		}
	})

	t.Run("breach opens once, updates, resolves once, reopens", func(t *testing.T) {
		d := open(t)
		s := slaOf(t, d)
		b := &store.SLABreach{ID: "sla_1", Key: "sla:leads:delivery", Kind: "deliver_within", Subject: "leads",
			Details: json.RawMessage(`{"count":3}`), OpenedAt: t0}
		if ok, err := s.SLABreachOpen(ctx(t), b); err != nil || !ok {
			t.Fatalf("first open: %v %v", ok, err)
		}
		dup := *b
		dup.ID = "sla_2"
		if ok, err := s.SLABreachOpen(ctx(t), &dup); err != nil || ok {
			t.Fatalf("second open of an open key: %v %v, want not opened", ok, err)
		}
		other := &store.SLABreach{ID: "sla_3", Key: "sla:crm:queue_depth", Kind: "queue_depth", Subject: "crm", OpenedAt: t0.Add(time.Second)}
		if ok, err := s.SLABreachOpen(ctx(t), other); err != nil || !ok {
			t.Fatalf("open another key: %v %v", ok, err)
		}
		if err := s.SLABreachUpdate(ctx(t), &store.SLABreachUpdateParams{Key: b.Key, Details: json.RawMessage(`{"count":7}`), Now: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		list, err := s.SLABreachList(ctx(t), &store.SLABreachListParams{})
		if err != nil || len(list) != 2 {
			t.Fatalf("open list: %v %v", list, err)
		}
		got := list[1] // newest first
		if got.ID != "sla_1" || got.Key != b.Key || got.Kind != b.Kind || got.Subject != "leads" || string(got.Details) != `{"count":7}` ||
			!got.OpenedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(time.Minute)) || !got.ResolvedAt.IsZero() {
			t.Fatalf("open breach read back: %+v", got)
		}
		if string(list[0].Details) != `{}` {
			t.Fatalf("empty details stored as %q, want {}", list[0].Details)
		}

		if ok, err := s.SLABreachResolve(ctx(t), &store.SLABreachResolveParams{Key: b.Key, Now: t0.Add(2 * time.Minute)}); err != nil || !ok {
			t.Fatalf("resolve: %v %v", ok, err)
		}
		if ok, err := s.SLABreachResolve(ctx(t), &store.SLABreachResolveParams{Key: b.Key, Now: t0.Add(3 * time.Minute)}); err != nil || ok {
			t.Fatalf("second resolve: %v %v, want not resolved", ok, err)
		}
		if err := s.SLABreachUpdate(ctx(t), &store.SLABreachUpdateParams{Key: b.Key, Details: json.RawMessage(`{}`), Now: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of a resolved key: %v, want ErrNotFound", err)
		}
		again := &store.SLABreach{ID: "sla_4", Key: b.Key, Kind: b.Kind, Subject: "leads", OpenedAt: t0.Add(time.Hour)}
		if ok, err := s.SLABreachOpen(ctx(t), again); err != nil || !ok {
			t.Fatalf("reopen after resolve: %v %v", ok, err)
		}
		resolved, err := s.SLABreachList(ctx(t), &store.SLABreachListParams{Status: "resolved"})
		if err != nil || len(resolved) != 1 || resolved[0].ID != "sla_1" || !resolved[0].ResolvedAt.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("resolved list: %+v %v", resolved, err)
		}
		all, err := s.SLABreachList(ctx(t), &store.SLABreachListParams{Status: "all", Limit: 2})
		if err != nil || len(all) != 2 || all[0].ID != "sla_4" {
			t.Fatalf("all, limit 2: %+v %v", all, err)
		}
		var pe *store.ParamError
		if _, err := s.SLABreachList(ctx(t), &store.SLABreachListParams{Status: "bogus"}); !errors.As(err, &pe) || pe.Field != "Status" {
			t.Fatalf("unknown status: %v, want a ParamError naming Status", err)
		}
		if err := s.SLABreachUpdate(ctx(t), &store.SLABreachUpdateParams{Details: json.RawMessage(`{}`), Now: t0}); !errors.As(err, &pe) || pe.Field != "Key" {
			t.Fatalf("update without key: %v, want a ParamError naming Key", err)
		}
	})

	t.Run("concurrent opens of one key: exactly one wins", func(t *testing.T) {
		d := open(t)
		s := slaOf(t, d)
		const n = 8
		var wg sync.WaitGroup
		wins := make(chan string, n)
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("sla_c%d", i)
				ok, err := s.SLABreachOpen(ctx(t), &store.SLABreach{ID: id, Key: "destination_paused:crm", Kind: "destination_paused", Subject: "crm", OpenedAt: t0})
				if err != nil {
					errs <- err
				}
				if ok {
					wins <- id
				}
			}()
		}
		wg.Wait()
		close(wins)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(wins) != 1 {
			t.Fatalf("%d opens won, want 1", len(wins))
		}
	})

	t.Run("alert cursor compare-and-set", func(t *testing.T) {
		d := open(t)
		s := slaOf(t, d)
		if _, err := s.AlertCursorGet(ctx(t), "escalations"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unset cursor: %v, want ErrNotFound", err)
		}
		steps := []struct {
			from, to string
			want     bool
		}{
			{"", "esc_1", true},
			{"", "esc_2", false}, // already set
			{"esc_1", "esc_3", true},
			{"esc_1", "esc_4", false}, // someone moved it
		}
		for _, st := range steps {
			ok, err := s.AlertCursorAdvance(ctx(t), &store.AlertCursorAdvanceParams{Name: "escalations", From: st.from, To: st.to, Now: t0})
			if err != nil || ok != st.want {
				t.Fatalf("advance %q -> %q: %v %v, want %v", st.from, st.to, ok, err, st.want)
			}
		}
		if v, err := s.AlertCursorGet(ctx(t), "escalations"); err != nil || v != "esc_3" {
			t.Fatalf("cursor: %q %v, want esc_3", v, err)
		}
	})
}

func checkAges(t *testing.T, what string, got []*store.QueueAge, want []store.QueueAge) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d: %+v", what, len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.Name || g.Count != w.Count || g.Capped != w.Capped || !g.Oldest.Equal(w.Oldest) || !g.NextAt.Equal(w.NextAt) {
			t.Fatalf("%s[%d] = %+v, want %+v", what, i, *g, w)
		}
	}
}
