package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

func replayOf(t *testing.T, ex store.Executor) store.ReplayStore {
	t.Helper()
	rs, ok := ex.(store.ReplayStore)
	if !ok {
		t.Fatalf("%T does not implement store.ReplayStore", ex)
	}
	return rs
}

// exerciseReplay runs the conformance suite of store.ReplayStore.
func exerciseReplay(t *testing.T, open Opener) {
	seed := func(t *testing.T, d store.Driver) {
		t.Helper()
		inTx(t, d, func(tx store.ExecutorTx) error {
			for i, s := range []struct {
				src, flow string
				state     store.EventState
			}{
				{"src", "flow", store.EventRejected},
				{"src", "flow", store.EventHeld},
				{"other", "flow2", store.EventRejected},
				{"src", "flow", store.EventDelivered},
				{"src", "flow3", store.EventRejected},
			} {
				e := event("evt_"+string(rune('1'+i)), "", "k", s.state)
				e.Source, e.Flow = s.src, s.flow
				e.ReceivedAt = t0.Add(time.Duration(i) * time.Hour)
				if _, _, err := tx.EventInsert(ctx(t), e); err != nil {
					return err
				}
			}
			return nil
		})
	}
	ids := func(es []*store.Event) string {
		s := ""
		for _, e := range es {
			s += e.ID + " "
		}
		return s
	}

	t.Run("list for replay filters and pages in arrival order", func(t *testing.T) {
		d := open(t)
		seed(t, d)
		rs := replayOf(t, d.Executor())
		for _, c := range []struct {
			name string
			p    store.EventReplayListParams
			want string
		}{
			{"all", store.EventReplayListParams{}, "evt_1 evt_2 evt_3 evt_4 evt_5 "},
			{"source", store.EventReplayListParams{Source: "src"}, "evt_1 evt_2 evt_4 evt_5 "},
			{"one state", store.EventReplayListParams{States: []store.EventState{store.EventRejected}}, "evt_1 evt_3 evt_5 "},
			{"states", store.EventReplayListParams{States: []store.EventState{store.EventHeld, store.EventDelivered}}, "evt_2 evt_4 "},
			{"flows", store.EventReplayListParams{Flows: []string{"flow2", "flow3"}}, "evt_3 evt_5 "},
			{"received after is inclusive", store.EventReplayListParams{ReceivedAfter: t0.Add(3 * time.Hour)}, "evt_4 evt_5 "},
			{"received before is exclusive", store.EventReplayListParams{ReceivedBefore: t0.Add(time.Hour)}, "evt_1 "},
			{"combined", store.EventReplayListParams{Source: "src", States: []store.EventState{store.EventRejected}, Flows: []string{"flow"}, ReceivedBefore: t0.Add(10 * time.Hour)}, "evt_1 "},
			{"page", store.EventReplayListParams{AfterID: "evt_2", Limit: 2}, "evt_3 evt_4 "},
			{"nothing", store.EventReplayListParams{Source: "nope"}, ""},
		} {
			got, err := rs.EventListForReplay(ctx(t), &c.p)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if ids(got) != c.want {
				t.Errorf("%s: got %q, want %q", c.name, ids(got), c.want)
			}
		}
		got, _ := rs.EventListForReplay(ctx(t), &store.EventReplayListParams{Source: "other"})
		if len(got) != 1 || string(got[0].Raw) != `{"a":1}` || got[0].ContentType != "application/json" || !got[0].ReceivedAt.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("event not read in full: %+v", got)
		}
	})

	t.Run("record put replaces the verdict", func(t *testing.T) {
		d := open(t)
		seed(t, d)
		now := t0.Add(time.Hour)
		until := now.Add(time.Hour)
		inTx(t, d, func(tx store.ExecutorTx) error {
			return replayOf(t, tx).EventRecordPut(ctx(t), &store.EventRecordPutParams{ID: "evt_1", State: store.EventHeld, RecordKey: "new@x",
				Canonical: json.RawMessage(`{"email":"new@x"}`), Missing: json.RawMessage(`["company"]`), HoldUntil: until, Now: now})
		})
		e, err := d.Executor().EventGetByID(ctx(t), "evt_1")
		if err != nil || e.State != store.EventHeld || e.RecordKey != "new@x" || string(e.Canonical) != `{"email":"new@x"}` ||
			e.Problems != nil || string(e.Missing) != `["company"]` || !e.HoldUntil.Equal(until) || !e.UpdatedAt.Equal(now) ||
			string(e.Raw) != `{"a":1}` || !e.ReceivedAt.Equal(t0) {
			t.Fatalf("after put: %+v %v", e, err)
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			return replayOf(t, tx).EventRecordPut(ctx(t), &store.EventRecordPutParams{ID: "evt_1", State: store.EventRejected, RecordKey: "",
				Problems: json.RawMessage(`[{"field":"email","message":"bad"}]`), Now: now})
		})
		e, _ = d.Executor().EventGetByID(ctx(t), "evt_1")
		if e.State != store.EventRejected || e.Canonical != nil || e.Missing != nil || e.Problems == nil || !e.HoldUntil.IsZero() {
			t.Fatalf("after second put: %+v", e)
		}
		if held, _ := d.Executor().EventListHoldExpired(ctx(t), until.Add(time.Hour), 10); len(held) != 0 {
			t.Fatalf("cleared hold deadline still listed: %v", held)
		}
		err = replayOf(t, d.Executor()).EventRecordPut(ctx(t), &store.EventRecordPutParams{ID: "evt_nope", State: store.EventHeld, Now: now})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("put missing: %v, want ErrNotFound", err)
		}
	})

	t.Run("payload put only in the states given", func(t *testing.T) {
		d := open(t)
		seed(t, d)
		inTx(t, d, func(tx store.ExecutorTx) error {
			for _, dl := range []*store.Delivery{
				delivery("dlv_p", "evt_4", "crm", "k", store.DeliveryPending, t0),
				delivery("dlv_i", "evt_4", "crm", "k", store.DeliveryInflight, t0),
				delivery("dlv_e", "evt_4", "crm", "k", store.DeliveryEscalated, t0),
			} {
				if err := tx.DeliveryInsert(ctx(t), dl); err != nil {
					return err
				}
			}
			return nil
		})
		now := t0.Add(time.Minute)
		open := []store.DeliveryState{store.DeliveryPending, store.DeliveryWaiting, store.DeliveryEscalated}
		for _, c := range []struct {
			id   string
			want bool
		}{{"dlv_p", true}, {"dlv_i", false}, {"dlv_e", true}, {"dlv_nope", false}} {
			var ok bool
			inTx(t, d, func(tx store.ExecutorTx) error {
				var err error
				ok, err = replayOf(t, tx).DeliveryPayloadPut(ctx(t), &store.DeliveryPayloadPutParams{ID: c.id, Payload: json.RawMessage(`{"v":2}`), States: open, Now: now})
				return err
			})
			if ok != c.want {
				t.Errorf("%s: put = %v, want %v", c.id, ok, c.want)
			}
			if c.id == "dlv_nope" {
				continue
			}
			got, err := d.Executor().DeliveryGetByID(ctx(t), c.id)
			if err != nil {
				t.Fatal(err)
			}
			changed := string(got.Payload) == `{"v":2}` && got.UpdatedAt.Equal(now)
			if changed != c.want || string(got.State) == "" {
				t.Errorf("%s after put: payload %s updated %v state %s", c.id, got.Payload, got.UpdatedAt, got.State)
			}
		}
	})
}
