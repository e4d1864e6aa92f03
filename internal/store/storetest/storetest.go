// Package storetest is the conformance suite of the store seam. Every driver
// (storesqlite, storepg) runs Exercise against a fresh database; the rest of
// Sluice may rely on exactly what it checks and nothing more.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

// Opener returns a driver over a new, empty database, closed by t.Cleanup.
type Opener func(t *testing.T) store.Driver

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// inTx runs fn in a committed transaction.
func inTx(t *testing.T, d store.Driver, fn func(tx store.ExecutorTx) error) {
	t.Helper()
	tx, err := d.Begin(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func event(id, idem, key string, state store.EventState) *store.Event {
	return &store.Event{ID: id, Source: "src", Flow: "flow", IdemKey: idem, RecordKey: key, State: state, ContentType: "application/json",
		Raw: []byte(`{"a":1}`), Canonical: json.RawMessage(`{"email":"` + key + `"}`), ConfigVersion: "cfg-" + id, ReceivedAt: t0, UpdatedAt: t0}
}

func delivery(id, eventID, dest, key string, state store.DeliveryState, next time.Time) *store.Delivery {
	return &store.Delivery{ID: id, EventID: eventID, Route: "r", Destination: dest, RecordKey: key, State: state,
		Payload: json.RawMessage(`{"k":"` + key + `"}`), NextAt: next, CreatedAt: t0, UpdatedAt: t0}
}

// Exercise runs the whole conformance suite against a driver: every
// Executor method, each feature's group (SLA, replay, retention, tickets,
// source baselines) as a subtest. A driver's test calls only this.
func Exercise(t *testing.T, open Opener) {
	t.Run("core", func(t *testing.T) { exerciseCore(t, open) })
	t.Run("sla", func(t *testing.T) { exerciseSLA(t, open) })
	t.Run("replay", func(t *testing.T) { exerciseReplay(t, open) })
	t.Run("retention", func(t *testing.T) { exerciseRetention(t, open) })
	t.Run("tickets", func(t *testing.T) { exerciseTickets(t, open) })
	t.Run("baselines", func(t *testing.T) { exerciseBaselines(t, open) })
	t.Run("groups", func(t *testing.T) { exerciseGroups(t, open) })
	t.Run("crud", func(t *testing.T) { exerciseCRUD(t, open) })
	t.Run("notices", func(t *testing.T) { exerciseNotices(t, open) })
	t.Run("settle serializes", func(t *testing.T) { exerciseSettleSerializes(t, open) })
	t.Run("sweep", func(t *testing.T) { exerciseSweep(t, open) })
	t.Run("poll identity", func(t *testing.T) { exercisePollIdentity(t, open) })
}

// exerciseBaselines checks the source baseline store: absent until put,
// a put with fewer learned payloads does not replace a fuller one.
func exerciseBaselines(t *testing.T, open Opener) {
	d := open(t)
	ex := d.Executor()
	if _, err := ex.SourceBaselineGet(ctx(t), "forms"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing baseline: %v", err)
	}
	put := func(n int, shape string) {
		t.Helper()
		if err := ex.SourceBaselinePut(ctx(t), &store.SourceBaseline{Source: "forms", Learned: n, Shape: json.RawMessage(shape), UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	put(10, `{"email":{"string":10}}`)
	put(5, `{"other":{"string":5}}`)
	b, err := ex.SourceBaselineGet(ctx(t), "forms")
	if err != nil || b.Learned != 10 || string(b.Shape) != `{"email":{"string":10}}` || !b.UpdatedAt.Equal(t0) {
		t.Fatalf("baseline: %+v %v", b, err)
	}
	put(20, `{"email":{"string":20}}`)
	if b, _ := ex.SourceBaselineGet(ctx(t), "forms"); b.Learned != 20 {
		t.Fatalf("fuller baseline not saved: %+v", b)
	}
}

func exerciseCore(t *testing.T, open Opener) {
	t.Run("event insert, idempotency, get, list, update", func(t *testing.T) {
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			id, ins, err := tx.EventInsert(ctx(t), event("evt_01", "idem-1", "a@x", store.EventDelivering))
			if err != nil || !ins || id != "evt_01" {
				return fmt.Errorf("first insert: %q %v %v", id, ins, err)
			}
			id, ins, err = tx.EventInsert(ctx(t), event("evt_02", "idem-1", "a@x", store.EventDelivering))
			if err != nil || ins || id != "evt_01" {
				return fmt.Errorf("duplicate insert: %q %v %v, want evt_01 not inserted", id, ins, err)
			}
			_, ins, err = tx.EventInsert(ctx(t), event("evt_03", "", "b@x", store.EventHeld))
			if err != nil || !ins {
				return fmt.Errorf("insert without idempotency key: %v %v", ins, err)
			}
			_, ins, err = tx.EventInsert(ctx(t), event("evt_04", "", "b@x", store.EventRejected))
			if err != nil || !ins {
				return fmt.Errorf("second insert without idempotency key: %v %v", ins, err)
			}
			return nil
		})
		ex := d.Executor()
		e, err := ex.EventGetByID(ctx(t), "evt_01")
		if err != nil || e.RecordKey != "a@x" || string(e.Raw) != `{"a":1}` || !e.ReceivedAt.Equal(t0) || e.ConfigVersion != "cfg-evt_01" {
			t.Fatalf("get: %+v %v", e, err)
		}
		if _, err := ex.EventGetByID(ctx(t), "evt_nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get missing: %v, want ErrNotFound", err)
		}
		if st, err := ex.EventStateGet(ctx(t), "evt_04"); err != nil || st != store.EventRejected {
			t.Fatalf("state: %q %v, want %q", st, err, store.EventRejected)
		}
		if _, err := ex.EventStateGet(ctx(t), "evt_nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("state of a missing event: %v, want ErrNotFound", err)
		}
		all, err := ex.EventList(ctx(t), &store.EventListParams{})
		if err != nil || len(all) != 3 || all[0].ID != "evt_04" {
			t.Fatalf("list: %d events, first %v, err %v (want 3, newest first)", len(all), all, err)
		}
		held, _ := ex.EventList(ctx(t), &store.EventListParams{State: store.EventHeld})
		if len(held) != 1 || held[0].ID != "evt_03" {
			t.Fatalf("list held: %v", held)
		}
		page, _ := ex.EventList(ctx(t), &store.EventListParams{BeforeID: "evt_04", Limit: 1})
		if len(page) != 1 || page[0].ID != "evt_03" {
			t.Fatalf("page: %v", page)
		}
		until := t0.Add(time.Hour)
		key := "c@x"
		inTx(t, d, func(tx store.ExecutorTx) error {
			return tx.EventUpdate(ctx(t), &store.EventUpdateParams{ID: "evt_03", State: store.EventHeld, Missing: json.RawMessage(`["company"]`), HoldUntil: &until, RecordKey: &key, Now: t0})
		})
		e, _ = ex.EventGetByID(ctx(t), "evt_03")
		if string(e.Missing) != `["company"]` || !e.HoldUntil.Equal(until) || e.RecordKey != "c@x" {
			t.Fatalf("after update: %+v", e)
		}
		byKey, err := ex.EventListHeldByKey(ctx(t), "flow", "c@x")
		if err != nil || len(byKey) != 1 {
			t.Fatalf("held by key: %v %v", byKey, err)
		}
		exp, _ := ex.EventListHoldExpired(ctx(t), t0.Add(2*time.Hour), 10)
		if len(exp) != 1 || exp[0].ID != "evt_03" {
			t.Fatalf("hold expired: %v", exp)
		}
		if exp, _ := ex.EventListHoldExpired(ctx(t), t0, 10); len(exp) != 0 {
			t.Fatalf("hold expired too early: %v", exp)
		}
		counts, _ := ex.EventCountByState(ctx(t))
		if counts[string(store.EventDelivering)] != 1 || counts[string(store.EventHeld)] != 1 || counts[string(store.EventRejected)] != 1 {
			t.Fatalf("counts: %v", counts)
		}
		err = ex.EventUpdate(ctx(t), &store.EventUpdateParams{ID: "evt_nope", State: store.EventHeld, Now: t0})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update missing: %v", err)
		}
	})

	t.Run("claim respects readiness, per-key order and leases", func(t *testing.T) {
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			for _, e := range []string{"evt_1", "evt_2"} {
				if _, _, err := tx.EventInsert(ctx(t), event(e, "", "k", store.EventDelivering)); err != nil {
					return err
				}
			}
			for _, dl := range []*store.Delivery{
				delivery("d1", "evt_1", "crm", "k1", store.DeliveryPending, t0),
				delivery("d2", "evt_1", "crm", "k1", store.DeliveryPending, t0),                // same key, later: must wait for d1
				delivery("d3", "evt_1", "crm", "k2", store.DeliveryPending, t0.Add(time.Hour)), // not ready yet
				delivery("d4", "evt_2", "crm", "k3", store.DeliveryWaiting, t0),                // waiting on a dependency
				delivery("d5", "evt_2", "other", "k1", store.DeliveryPending, t0),              // other destination: independent
			} {
				if err := tx.DeliveryInsert(ctx(t), dl); err != nil {
					return err
				}
			}
			return nil
		})
		var got []*store.Delivery
		inTx(t, d, func(tx store.ExecutorTx) error {
			var err error
			got, err = tx.DeliveryClaim(ctx(t), &store.DeliveryClaimParams{Destination: "crm", Owner: "w1", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
			return err
		})
		if len(got) != 1 || got[0].ID != "d1" || got[0].State != store.DeliveryInflight || got[0].Attempts != 1 || got[0].LeaseOwner != "w1" {
			t.Fatalf("claim: %+v, want only d1 in flight", got)
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			again, err := tx.DeliveryClaim(ctx(t), &store.DeliveryClaimParams{Destination: "crm", Owner: "w2", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
			if err == nil && len(again) != 0 {
				err = fmt.Errorf("second claim got %v; d2 must wait while d1 is in flight", again)
			}
			return err
		})
		exp, err := d.Executor().DeliveryListLeaseExpired(ctx(t), t0.Add(2*time.Minute), 10)
		if err != nil || len(exp) != 1 || exp[0].ID != "d1" {
			t.Fatalf("lease expired: %v %v", exp, err)
		}
		d1 := got[0]
		d1.State, d1.ExternalID, d1.UpdatedAt = store.DeliverySucceeded, "ext-1", t0
		inTx(t, d, func(tx store.ExecutorTx) error { return tx.DeliveryUpdate(ctx(t), d1) })
		inTx(t, d, func(tx store.ExecutorTx) error {
			next, err := tx.DeliveryClaim(ctx(t), &store.DeliveryClaimParams{Destination: "crm", Owner: "w2", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
			if err == nil && (len(next) != 1 || next[0].ID != "d2") {
				err = fmt.Errorf("after d1 succeeded, claim got %v, want d2", next)
			}
			return err
		})
		nr, err := d.Executor().DeliveryNextReady(ctx(t), "crm")
		if err != nil || !nr.Equal(t0.Add(time.Hour)) {
			t.Fatalf("next ready: %v %v", nr, err)
		}
		ds, _ := d.Executor().DeliveryListByEvent(ctx(t), "evt_1")
		if len(ds) != 3 || ds[0].ID != "d1" || ds[0].ExternalID != "ext-1" {
			t.Fatalf("list by event: %v", ds)
		}
		counts, _ := d.Executor().DeliveryCountByState(ctx(t))
		if counts[string(store.DeliverySucceeded)] != 1 || counts[string(store.DeliveryInflight)] != 1 || counts[string(store.DeliveryWaiting)] != 1 {
			t.Fatalf("counts: %v", counts)
		}
	})

	t.Run("claim returns each delivery's identity", func(t *testing.T) {
		// The engine sends with the identity the claim returned, looking up
		// nothing else (store.Delivery.Identity): the one the key's previous
		// delivery wrote when it succeeded must be in it.
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			if _, _, err := tx.EventInsert(ctx(t), event("evt_1", "", "k", store.EventDelivering)); err != nil {
				return err
			}
			for _, dl := range []*store.Delivery{
				delivery("d1", "evt_1", "crm", "k1", store.DeliveryPending, t0),
				delivery("d2", "evt_1", "crm", "k1", store.DeliveryPending, t0), // after d1
				delivery("d3", "evt_1", "crm", "k2", store.DeliveryPending, t0), // no identity
				delivery("d4", "evt_1", "crm", "k3", store.DeliveryPending, t0), // identity of another destination only
			} {
				if err := tx.DeliveryInsert(ctx(t), dl); err != nil {
					return err
				}
			}
			return tx.IdentityPut(ctx(t), &store.IdentityPutParams{Destination: "sheet", RecordKey: "k3", ExternalID: "s-3", Now: t0})
		})
		claim := func() map[string]string {
			t.Helper()
			got := map[string]string{}
			inTx(t, d, func(tx store.ExecutorTx) error {
				ds, err := tx.DeliveryClaim(ctx(t), &store.DeliveryClaimParams{Destination: "crm", Owner: "w", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
				for _, dl := range ds {
					got[dl.ID] = dl.Identity
				}
				return err
			})
			return got
		}
		if got := claim(); len(got) != 3 || got["d1"] != "" || got["d3"] != "" || got["d4"] != "" {
			t.Fatalf("first claim: identities %v, want d1, d3 and d4 without one", got)
		}
		// d1 succeeds and writes the identity in one transaction, as
		// pipeline.DeliverySucceeded does.
		inTx(t, d, func(tx store.ExecutorTx) error {
			d1, err := tx.DeliveryGetByID(ctx(t), "d1")
			if err != nil {
				return err
			}
			d1.State, d1.ExternalID, d1.UpdatedAt = store.DeliverySucceeded, "ext-1", t0
			if err := tx.DeliveryUpdate(ctx(t), d1); err != nil {
				return err
			}
			return tx.IdentityPut(ctx(t), &store.IdentityPutParams{Destination: "crm", RecordKey: "k1", ExternalID: "ext-1", Now: t0})
		})
		if got := claim(); len(got) != 1 || got["d2"] != "ext-1" {
			t.Fatalf("claim after d1 succeeded: identities %v, want d2 with ext-1", got)
		}
		// Written earlier in the claim's own transaction: seen too.
		inTx(t, d, func(tx store.ExecutorTx) error {
			if err := tx.DeliveryInsert(ctx(t), delivery("d5", "evt_1", "crm", "k5", store.DeliveryPending, t0)); err != nil {
				return err
			}
			if err := tx.IdentityPut(ctx(t), &store.IdentityPutParams{Destination: "crm", RecordKey: "k5", ExternalID: "ext-5", Now: t0}); err != nil {
				return err
			}
			ds, err := tx.DeliveryClaim(ctx(t), &store.DeliveryClaimParams{Destination: "crm", Owner: "w", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
			if err == nil && (len(ds) != 1 || ds[0].ID != "d5" || ds[0].Identity != "ext-5") {
				err = fmt.Errorf("claim in the writing transaction: %+v, want d5 with ext-5", ds)
			}
			return err
		})
		// Only the claim reads it.
		if dl, err := d.Executor().DeliveryGetByID(ctx(t), "d2"); err != nil || dl.Identity != "" {
			t.Fatalf("delivery by id: %+v %v, want no identity", dl, err)
		}
	})

	t.Run("identities upsert", func(t *testing.T) {
		d := open(t)
		ex := d.Executor()
		if _, err := ex.IdentityGet(ctx(t), "crm", "k"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing identity: %v", err)
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			return tx.IdentityPut(ctx(t), &store.IdentityPutParams{Destination: "crm", RecordKey: "k", ExternalID: "1", Now: t0})
		})
		inTx(t, d, func(tx store.ExecutorTx) error {
			return tx.IdentityPut(ctx(t), &store.IdentityPutParams{Destination: "crm", RecordKey: "k", ExternalID: "2", Now: t0})
		})
		if id, err := ex.IdentityGet(ctx(t), "crm", "k"); err != nil || id != "2" {
			t.Fatalf("identity = %q %v, want 2", id, err)
		}
	})

	t.Run("identities by external id and poll cursors", func(t *testing.T) {
		d := open(t)
		ex := d.Executor()
		if _, err := ex.IdentityGetByExternalID(ctx(t), "crm", "101"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing identity by external id: %v", err)
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			return tx.IdentityPut(ctx(t), &store.IdentityPutParams{Destination: "crm", RecordKey: "a@x.co", ExternalID: "101", Now: t0})
		})
		inTx(t, d, func(tx store.ExecutorTx) error {
			return tx.IdentityPut(ctx(t), &store.IdentityPutParams{Destination: "sheet", RecordKey: "a@x.co", ExternalID: "101", Now: t0})
		})
		if k, err := ex.IdentityGetByExternalID(ctx(t), "crm", "101"); err != nil || k != "a@x.co" {
			t.Fatalf("identity by external id = %q %v", k, err)
		}
		if _, err := ex.PollCursorGet(ctx(t), "contacts"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing cursor: %v", err)
		}
		now := time.Now()
		inTx(t, d, func(tx store.ExecutorTx) error { return tx.PollCursorPut(ctx(t), "contacts", `{"at":"1"}`, now) })
		// A rolled-back transaction does not move the cursor.
		tx, err := d.Begin(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.PollCursorPut(ctx(t), "contacts", `{"at":"2"}`, now); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if c, err := ex.PollCursorGet(ctx(t), "contacts"); err != nil || c != `{"at":"1"}` {
			t.Fatalf("cursor = %q %v, want the committed one", c, err)
		}
		inTx(t, d, func(tx store.ExecutorTx) error { return tx.PollCursorPut(ctx(t), "contacts", `{"at":"3"}`, now) })
		if ok, err := ex.DeliveryInFlight(ctx(t), "crm", "a@x.co"); err != nil || ok {
			t.Fatalf("delivery in flight with none: %v %v", ok, err)
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			if _, _, err := tx.EventInsert(ctx(t), event("evt_u", "", "a@x.co", store.EventDelivering)); err != nil {
				return err
			}
			if err := tx.DeliveryInsert(ctx(t), delivery("dlv_u1", "evt_u", "crm", "a@x.co", store.DeliverySucceeded, now)); err != nil {
				return err
			}
			return tx.DeliveryInsert(ctx(t), delivery("dlv_u2", "evt_u", "sheet", "a@x.co", store.DeliveryInflight, now))
		})
		if ok, err := ex.DeliveryInFlight(ctx(t), "crm", "a@x.co"); err != nil || ok {
			t.Fatalf("a succeeded delivery counted as in flight: %v %v", ok, err)
		}
		if ok, err := ex.DeliveryInFlight(ctx(t), "sheet", "a@x.co"); err != nil || !ok {
			t.Fatalf("delivery in flight not found: %v %v", ok, err)
		}
		if _, err := ex.SyncBaselineGet(ctx(t), "crm", "a@x.co"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing baseline: %v", err)
		}
		for _, name := range []string{"Ann", "Annie"} {
			inTx(t, d, func(tx store.ExecutorTx) error {
				return tx.SyncBaselinePut(ctx(t), &store.SyncBaseline{Destination: "crm", RecordKey: "a@x.co", ExternalID: "101",
					Fields: json.RawMessage(`{"firstname":"` + name + `"}`), SyncedAt: now})
			})
		}
		b, err := ex.SyncBaselineGet(ctx(t), "crm", "a@x.co")
		if err != nil || b.ExternalID != "101" || !strings.Contains(string(b.Fields), "Annie") || !b.SyncedAt.Equal(now.Truncate(time.Millisecond)) && b.SyncedAt.Sub(now).Abs() > time.Millisecond {
			t.Fatalf("baseline = %+v %v", b, err)
		}
		if c, err := ex.PollCursorGet(ctx(t), "contacts"); err != nil || c != `{"at":"3"}` {
			t.Fatalf("cursor = %q %v, want the last committed", c, err)
		}
	})

	t.Run("writes a poll may read back", func(t *testing.T) {
		d := open(t)
		ex := d.Executor()
		at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
		inTx(t, d, func(tx store.ExecutorTx) error {
			if _, _, err := tx.EventInsert(ctx(t), event("evt_w", "", "a@x.co", store.EventDelivering)); err != nil {
				return err
			}
			for _, w := range []struct {
				id, dest, key string
				state         store.DeliveryState
				updated       int
				fallbackFor   string
			}{
				{"dlv_w1", "crm", "a@x.co", store.DeliverySucceeded, 1, ""},
				{"dlv_w2", "crm", "a@x.co", store.DeliverySucceeded, 2, ""},
				{"dlv_wx", "crm", "b@x.co", store.DeliverySucceeded, 3, ""}, // another record
				{"dlv_wy", "sheet", "a@x.co", store.DeliveryPending, 3, ""}, // another destination
				{"dlv_w3", "crm", "a@x.co", store.DeliverySucceeded, 5, ""},
				{"dlv_wf", "crm", "a@x.co", store.DeliverySucceeded, 6, "dlv_x"}, // a fallback copy
				{"dlv_we", "crm", "a@x.co", store.DeliveryEscalated, 6, ""},      // never written
				{"dlv_w4", "crm", "a@x.co", store.DeliveryPending, 7, ""},        // applied, answer lost
				{"dlv_w5", "crm", "a@x.co", store.DeliveryWaiting, 7, ""},
			} {
				dl := delivery(w.id, "evt_w", w.dest, w.key, w.state, at(w.updated))
				dl.UpdatedAt, dl.FallbackFor = at(w.updated), w.fallbackFor
				if err := tx.DeliveryInsert(ctx(t), dl); err != nil {
					return err
				}
			}
			return nil
		})
		for _, c := range []struct {
			since int
			want  string
		}{
			{3, "dlv_w2 dlv_w3 dlv_w4 dlv_w5"}, // the last confirmed before, those after, the unsettled
			{10, "dlv_w3 dlv_w4 dlv_w5"},
			{0, "dlv_w1 dlv_w2 dlv_w3 dlv_w4 dlv_w5"}, // none confirmed before: all
		} {
			ws, err := ex.DeliveryListWritesSince(ctx(t), "crm", "a@x.co", at(c.since))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				got = append(got, w.ID)
			}
			if strings.Join(got, " ") != c.want {
				t.Fatalf("writes since %ds = %v, want %s", c.since, got, c.want)
			}
		}
		if ws, err := ex.DeliveryListWritesSince(ctx(t), "crm", "nobody@x.co", at(0)); err != nil || len(ws) != 0 {
			t.Fatalf("writes of a record never written = %v %v", ws, err)
		}
	})

	t.Run("operations round-trip on events and deliveries", func(t *testing.T) {
		d := open(t)
		ex := d.Executor()
		now := time.Now()
		inTx(t, d, func(tx store.ExecutorTx) error {
			del := event("evt_del", "idem-del", "a@x.co", store.EventDelivering)
			del.Operation = store.OpDelete
			if _, _, err := tx.EventInsert(ctx(t), del); err != nil {
				return err
			}
			if _, _, err := tx.EventInsert(ctx(t), event("evt_up", "idem-up", "a@x.co", store.EventDelivering)); err != nil {
				return err
			}
			dd := delivery("dlv_del", "evt_del", "crm", "a@x.co", store.DeliverySucceeded, now)
			dd.Operation = store.OpDelete
			if err := tx.DeliveryInsert(ctx(t), delivery("dlv_up", "evt_up", "crm", "a@x.co", store.DeliverySucceeded, now)); err != nil {
				return err
			}
			return tx.DeliveryInsert(ctx(t), dd)
		})
		if e, err := ex.EventGetByID(ctx(t), "evt_del"); err != nil || e.Operation != store.OpDelete {
			t.Fatalf("delete event = %+v %v", e, err)
		}
		if e, err := ex.EventGetByID(ctx(t), "evt_up"); err != nil || e.Operation != store.OpUpsert {
			t.Fatalf("upsert event = %+v %v", e, err)
		}
		last, err := ex.DeliveryLatestSucceeded(ctx(t), "crm", "a@x.co")
		if err != nil || last.ID != "dlv_del" || last.Operation != store.OpDelete {
			t.Fatalf("latest succeeded = %+v %v, want the delete", last, err)
		}
		if ds, err := ex.DeliveryListByEvent(ctx(t), "evt_up"); err != nil || len(ds) != 1 || ds[0].Operation != store.OpUpsert {
			t.Fatalf("upsert deliveries = %+v %v", ds, err)
		}
	})

	t.Run("hook tokens", func(t *testing.T) {
		d := open(t)
		ex := d.Executor()
		if ts, err := ex.HookTokenList(ctx(t), "pages"); err != nil || len(ts) != 0 {
			t.Fatalf("tokens before any = %v %v", ts, err)
		}
		t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		for i, tok := range []string{"secret_first", "secret_second", "secret_first"} {
			inTx(t, d, func(tx store.ExecutorTx) error {
				return tx.HookTokenAdd(ctx(t), &store.HookToken{Source: "pages", Platform: "notion", Token: tok, ReceivedAt: t0.Add(time.Duration(i) * time.Minute)})
			})
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			return tx.HookTokenAdd(ctx(t), &store.HookToken{Source: "other", Platform: "notion", Token: "secret_other", ReceivedAt: t0})
		})
		ts, err := ex.HookTokenList(ctx(t), "pages")
		if err != nil {
			t.Fatal(err)
		}
		// The repeat of the first token neither duplicates nor re-dates it.
		if len(ts) != 2 || ts[0].Token != "secret_second" || ts[1].Token != "secret_first" || !ts[1].ReceivedAt.Equal(t0) || ts[0].Platform != "notion" {
			t.Fatalf("tokens = %+v", ts)
		}
	})

	t.Run("escalations", func(t *testing.T) {
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			if _, _, err := tx.EventInsert(ctx(t), event("evt_e", "", "k", store.EventEscalated)); err != nil {
				return err
			}
			return tx.EscalationInsert(ctx(t), &store.Escalation{ID: "esc_1", EventID: "evt_e", Kind: "permanent_error", Reason: "r", LastError: "400 bad", LastStatus: 400, Status: store.EscalationOpen, CreatedAt: t0, UpdatedAt: t0})
		})
		ex := d.Executor()
		open, _ := ex.EscalationList(ctx(t), &store.EscalationListParams{Status: store.EscalationOpen})
		if len(open) != 1 || open[0].LastStatus != 400 {
			t.Fatalf("open: %v", open)
		}
		e := open[0]
		e.Status, e.Actor, e.Note = store.EscalationResolved, "admin:ops", "fixed"
		inTx(t, d, func(tx store.ExecutorTx) error { return tx.EscalationUpdate(ctx(t), e) })
		got, err := ex.EscalationGetByID(ctx(t), "esc_1")
		if err != nil || got.Status != store.EscalationResolved || got.Actor != "admin:ops" {
			t.Fatalf("after update: %+v %v", got, err)
		}
		if open, _ := ex.EscalationList(ctx(t), &store.EscalationListParams{Status: store.EscalationOpen}); len(open) != 0 {
			t.Fatalf("still open: %v", open)
		}
	})

	t.Run("audit chain appends, verifies, detects tampering by the driver's own reads", func(t *testing.T) {
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			for i := 0; i < 5; i++ {
				if err := tx.AuditAppend(ctx(t), &store.AuditEntry{At: t0, EventID: "evt_a", Actor: "system", Action: audit.Actions()[i]}); err != nil {
					return err
				}
			}
			return nil
		})
		rep, err := audit.Verify(ctx(t), d.Executor())
		if err != nil || rep.Entries != 5 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		es, _ := d.Executor().AuditListByEvent(ctx(t), "evt_a")
		if len(es) != 5 || es[0].Seq != 1 || es[4].PrevHash != es[3].Hash {
			t.Fatalf("entries: %+v", es)
		}
	})

	t.Run("audit entries of a large transaction, read back inside it, and appends outside one chain in order", func(t *testing.T) {
		d := open(t)
		// 85 = 64 + 16 + 4 + 1: every multi-row INSERT size a driver may use.
		var queued []*store.AuditEntry
		inTx(t, d, func(tx store.ExecutorTx) error {
			queued = queued[:0]
			for i := range 85 {
				e := &store.AuditEntry{At: t0.Add(time.Duration(i) * time.Millisecond), EventID: "evt_big", Actor: "system", Action: audit.ActionState, Attempt: i}
				queued = append(queued, e)
				if err := tx.AuditAppend(ctx(t), e); err != nil {
					return err
				}
				if i == 40 {
					// A read inside the transaction sees what it appended.
					es, err := tx.AuditListByEvent(ctx(t), "evt_big")
					if err != nil {
						return err
					}
					if len(es) != 41 || es[40].Attempt != 40 {
						t.Errorf("inside the transaction: %d entries, want 41", len(es))
					}
				}
			}
			return nil
		})
		if last := queued[len(queued)-1]; last.Seq != 85 || last.Hash == "" {
			t.Fatalf("after commit the entry has no chain position: %+v", last)
		}
		for i := range 2 {
			if err := d.Executor().AuditAppend(ctx(t), &store.AuditEntry{At: t0, EventID: "evt_big", Actor: "system", Action: audit.ActionState, Attempt: 100 + i}); err != nil {
				t.Fatal(err)
			}
		}
		es, err := d.Executor().AuditListByEvent(ctx(t), "evt_big")
		if err != nil || len(es) != 87 {
			t.Fatalf("entries: %d %v", len(es), err)
		}
		for i, e := range es {
			if e.Seq != int64(i+1) || (i > 0 && e.PrevHash != es[i-1].Hash) || (i < 85 && e.Attempt != i) {
				t.Fatalf("entry %d: %+v", i, e)
			}
		}
		if rep, err := audit.Verify(ctx(t), d.Executor()); err != nil || rep.Entries != 87 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})

	t.Run("rolled back transaction leaves nothing", func(t *testing.T) {
		d := open(t)
		tx, err := d.Begin(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		tx.EventInsert(ctx(t), event("evt_rb", "", "k", store.EventHeld))
		tx.AuditAppend(ctx(t), &store.AuditEntry{At: t0, EventID: "evt_rb", Actor: "system", Action: audit.ActionCaptured})
		tx.Rollback()
		if _, err := d.Executor().EventGetByID(ctx(t), "evt_rb"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rolled back event visible: %v", err)
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			return tx.AuditAppend(ctx(t), &store.AuditEntry{At: t0, Actor: "system", Action: audit.ActionState})
		})
		if rep, err := audit.Verify(ctx(t), d.Executor()); err != nil || rep.Entries != 1 {
			t.Fatalf("chain after rollback: %+v %v", rep, err)
		}
	})

	t.Run("destination state", func(t *testing.T) {
		d := open(t)
		st, err := d.Executor().DestinationStateGet(ctx(t), "crm")
		if err != nil || st.Paused {
			t.Fatalf("default state: %+v %v", st, err)
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			return tx.DestinationStatePut(ctx(t), &store.DestinationState{Name: "crm", Paused: true, Reason: "auth", UpdatedAt: t0})
		})
		st, _ = d.Executor().DestinationStateGet(ctx(t), "crm")
		if !st.Paused || st.Reason != "auth" {
			t.Fatalf("state: %+v", st)
		}
	})

	t.Run("group commit: concurrent units, one failing, the rest commit", func(t *testing.T) {
		d := open(t)
		c := store.NewCommitter(d, 64)
		defer c.Close()
		var wg sync.WaitGroup
		errs := make([]error, 50)
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.Do(ctx(t), func(ctx context.Context, tx store.ExecutorTx) error {
					if _, _, err := tx.EventInsert(ctx, event(fmt.Sprintf("evt_g%02d", i), "", "k", store.EventHeld)); err != nil {
						return err
					}
					if i == 13 {
						return errors.New("unit 13 refuses")
					}
					return tx.AuditAppend(ctx, &store.AuditEntry{At: t0, EventID: fmt.Sprintf("evt_g%02d", i), Actor: "system", Action: audit.ActionCaptured})
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if (i == 13) != (err != nil) {
				t.Fatalf("unit %d: err %v", i, err)
			}
		}
		if _, err := d.Executor().EventGetByID(ctx(t), "evt_g13"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("failed unit's write persisted: %v", err)
		}
		all, _ := d.Executor().EventList(ctx(t), &store.EventListParams{Limit: 1000})
		if len(all) != 49 {
			t.Fatalf("%d events, want 49", len(all))
		}
		if rep, err := audit.Verify(ctx(t), d.Executor()); err != nil || rep.Entries != 49 {
			t.Fatalf("audit: %+v %v", rep, err)
		}
	})
}
