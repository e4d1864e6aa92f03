package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// ticketsOf is the driver's store.TicketStore, or a failed test.
func ticketsOf(t *testing.T, ex store.Executor) store.TicketStore {
	t.Helper()
	ts, ok := ex.(store.TicketStore)
	if !ok {
		t.Fatalf("%T does not implement store.TicketStore", ex)
	}
	return ts
}

// exerciseTickets runs the conformance suite of store.TicketStore.
func exerciseTickets(t *testing.T, open Opener) {
	// seed: two sources, two destinations, three kinds, created an hour
	// apart: esc_1 (t0) .. esc_4 (t0+3h).
	seed := func(t *testing.T, d store.Driver) {
		t.Helper()
		inTx(t, d, func(tx store.ExecutorTx) error {
			other := event("evt_2", "", "b@x", store.EventEscalated)
			other.Source = "other"
			for _, e := range []*store.Event{event("evt_1", "", "a@x", store.EventEscalated), other, event("evt_3", "", "c@x", store.EventEscalated)} {
				if _, _, err := tx.EventInsert(ctx(t), e); err != nil {
					return err
				}
			}
			for _, dl := range []*store.Delivery{
				delivery("dlv_1", "evt_1", "crm", "a@x", store.DeliveryEscalated, t0),
				delivery("dlv_2", "evt_2", "sheet", "b@x", store.DeliveryEscalated, t0),
				delivery("dlv_3", "evt_3", "crm", "c@x", store.DeliveryEscalated, t0),
			} {
				if err := tx.DeliveryInsert(ctx(t), dl); err != nil {
					return err
				}
			}
			for i, e := range []*store.Escalation{
				{ID: "esc_1", EventID: "evt_1", DeliveryID: "dlv_1", Kind: "permanent_error"},
				{ID: "esc_2", EventID: "evt_2", DeliveryID: "dlv_2", Kind: "retries_exhausted"},
				{ID: "esc_3", EventID: "evt_3", DeliveryID: "dlv_3", Kind: "permanent_error"},
				{ID: "esc_4", EventID: "evt_3", Kind: "hold_expired"},
			} {
				at := t0.Add(time.Duration(i) * time.Hour)
				e.Reason, e.Status, e.CreatedAt, e.UpdatedAt = "r", store.EscalationOpen, at, at
				if err := tx.EscalationInsert(ctx(t), e); err != nil {
					return err
				}
			}
			return nil
		})
	}
	ids := func(ts []*store.Ticket) string {
		s := ""
		for _, x := range ts {
			s += x.ID + " "
		}
		return s
	}

	t.Run("get joins source and destination; unset ticket fields are zero", func(t *testing.T) {
		d := open(t)
		seed(t, d)
		ts := ticketsOf(t, d.Executor())
		got, err := ts.TicketGetByID(ctx(t), "esc_2")
		if err != nil {
			t.Fatal(err)
		}
		if got.Source != "other" || got.Destination != "sheet" || got.Kind != "retries_exhausted" || got.EventID != "evt_2" ||
			got.Owner != "" || !got.AcknowledgedAt.IsZero() || !got.DueAt.IsZero() || !got.CreatedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("ticket: %+v", got)
		}
		held, err := ts.TicketGetByID(ctx(t), "esc_4")
		if err != nil || held.Destination != "" || held.Source != "src" {
			t.Fatalf("event-level ticket: %+v %v", held, err)
		}
		if _, err := ts.TicketGetByID(ctx(t), "esc_nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing ticket: %v, want ErrNotFound", err)
		}
	})

	t.Run("update sets only what it is given and survives escalation updates", func(t *testing.T) {
		d := open(t)
		seed(t, d)
		owner, by := "admin:ana", "admin:bo"
		ack, due := t0.Add(5*time.Minute), t0.Add(24*time.Hour)
		inTx(t, d, func(tx store.ExecutorTx) error {
			return ticketsOf(t, tx).TicketUpdate(ctx(t), &store.TicketUpdateParams{ID: "esc_1", Owner: &owner, AcknowledgedAt: &ack, AcknowledgedBy: &by, DueAt: &due, Now: ack})
		})
		ts := ticketsOf(t, d.Executor())
		got, _ := ts.TicketGetByID(ctx(t), "esc_1")
		if got.Owner != owner || got.AcknowledgedBy != by || !got.AcknowledgedAt.Equal(ack) || !got.DueAt.Equal(due) || !got.UpdatedAt.Equal(ack) {
			t.Fatalf("after update: %+v", got)
		}
		other := "admin:cy"
		inTx(t, d, func(tx store.ExecutorTx) error {
			return ticketsOf(t, tx).TicketUpdate(ctx(t), &store.TicketUpdateParams{ID: "esc_1", Owner: &other, Now: ack})
		})
		got, _ = ts.TicketGetByID(ctx(t), "esc_1")
		if got.Owner != other || got.AcknowledgedBy != by || !got.DueAt.Equal(due) {
			t.Fatalf("partial update changed other fields: %+v", got)
		}
		// The escalation's own update must not clobber ticket columns.
		e, _ := d.Executor().EscalationGetByID(ctx(t), "esc_1")
		e.Status, e.Actor, e.Note = store.EscalationResolved, "admin:cy", "done"
		inTx(t, d, func(tx store.ExecutorTx) error { return tx.EscalationUpdate(ctx(t), e) })
		got, _ = ts.TicketGetByID(ctx(t), "esc_1")
		if got.Status != store.EscalationResolved || got.Owner != other || !got.AcknowledgedAt.Equal(ack) {
			t.Fatalf("after escalation update: %+v", got)
		}
		zero := time.Time{}
		inTx(t, d, func(tx store.ExecutorTx) error {
			return ticketsOf(t, tx).TicketUpdate(ctx(t), &store.TicketUpdateParams{ID: "esc_1", AcknowledgedAt: &zero, Now: ack})
		})
		if got, _ = ts.TicketGetByID(ctx(t), "esc_1"); !got.AcknowledgedAt.IsZero() {
			t.Fatalf("acknowledged_at not cleared: %v", got.AcknowledgedAt)
		}
		err := ts.TicketUpdate(ctx(t), &store.TicketUpdateParams{ID: "esc_nope", Owner: &owner, Now: t0})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update missing: %v, want ErrNotFound", err)
		}
	})

	t.Run("list filters, newest first, pages", func(t *testing.T) {
		d := open(t)
		seed(t, d)
		owner := "admin:ana"
		due1, due3 := t0.Add(10*time.Hour), t0.Add(20*time.Hour)
		inTx(t, d, func(tx store.ExecutorTx) error {
			ts := ticketsOf(t, tx)
			if err := ts.TicketUpdate(ctx(t), &store.TicketUpdateParams{ID: "esc_1", DueAt: &due1, Now: t0}); err != nil {
				return err
			}
			return ts.TicketUpdate(ctx(t), &store.TicketUpdateParams{ID: "esc_3", Owner: &owner, DueAt: &due3, Now: t0})
		})
		e, _ := d.Executor().EscalationGetByID(ctx(t), "esc_2")
		e.Status = store.EscalationDiscarded
		inTx(t, d, func(tx store.ExecutorTx) error { return tx.EscalationUpdate(ctx(t), e) })
		ts := ticketsOf(t, d.Executor())
		for _, c := range []struct {
			name string
			p    store.TicketListParams
			want string
		}{
			{"all", store.TicketListParams{}, "esc_4 esc_3 esc_2 esc_1 "},
			{"status", store.TicketListParams{Status: store.EscalationOpen}, "esc_4 esc_3 esc_1 "},
			{"kind", store.TicketListParams{Kind: "permanent_error"}, "esc_3 esc_1 "},
			{"destination", store.TicketListParams{Destination: "crm"}, "esc_3 esc_1 "},
			{"source", store.TicketListParams{Source: "src"}, "esc_4 esc_3 esc_1 "},
			{"owner", store.TicketListParams{Owner: owner}, "esc_3 "},
			{"event", store.TicketListParams{EventID: "evt_3"}, "esc_4 esc_3 "},
			{"delivery", store.TicketListParams{DeliveryID: "dlv_3"}, "esc_3 "},
			{"created after is inclusive", store.TicketListParams{CreatedAfter: t0.Add(time.Hour)}, "esc_4 esc_3 esc_2 "},
			{"created before is exclusive", store.TicketListParams{CreatedBefore: t0.Add(time.Hour)}, "esc_1 "},
			{"window", store.TicketListParams{CreatedAfter: t0.Add(time.Hour), CreatedBefore: t0.Add(3 * time.Hour)}, "esc_3 esc_2 "},
			{"combined", store.TicketListParams{Status: store.EscalationOpen, Kind: "permanent_error", Destination: "crm", Source: "src"}, "esc_3 esc_1 "},
			{"due before (unset due never matches)", store.TicketListParams{DueBefore: due3}, "esc_1 "},
			{"due before, later", store.TicketListParams{DueBefore: due3.Add(time.Millisecond)}, "esc_3 esc_1 "},
			{"page", store.TicketListParams{BeforeID: "esc_3", Limit: 1}, "esc_2 "},
			{"nothing", store.TicketListParams{Destination: "nowhere"}, ""},
		} {
			got, err := ts.TicketList(ctx(t), &c.p)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if ids(got) != c.want {
				t.Errorf("%s: got %q, want %q", c.name, ids(got), c.want)
			}
		}
	})

	t.Run("notes append in order, per ticket", func(t *testing.T) {
		d := open(t)
		seed(t, d)
		inTx(t, d, func(tx store.ExecutorTx) error {
			ts := ticketsOf(t, tx)
			for i, text := range []string{"looking", "asked the CRM team"} {
				n := &store.TicketNote{EscalationID: "esc_1", At: t0.Add(time.Duration(i) * time.Minute), Actor: "admin:ana", Text: text}
				if err := ts.TicketNoteInsert(ctx(t), n); err != nil {
					return err
				}
				if n.Seq == 0 {
					return fmt.Errorf("note %d: no seq assigned", i)
				}
			}
			return ts.TicketNoteInsert(ctx(t), &store.TicketNote{EscalationID: "esc_2", At: t0, Actor: "system", Text: "other"})
		})
		ns, err := ticketsOf(t, d.Executor()).TicketNoteList(ctx(t), "esc_1")
		if err != nil || len(ns) != 2 {
			t.Fatalf("notes: %v %v", ns, err)
		}
		if ns[0].Text != "looking" || ns[1].Text != "asked the CRM team" || ns[0].Seq >= ns[1].Seq ||
			!ns[1].At.Equal(t0.Add(time.Minute)) || ns[0].Actor != "admin:ana" || ns[0].EscalationID != "esc_1" {
			t.Fatalf("notes: %+v %+v", ns[0], ns[1])
		}
		if ns, _ := ticketsOf(t, d.Executor()).TicketNoteList(ctx(t), "esc_3"); len(ns) != 0 {
			t.Fatalf("notes of a ticket without any: %v", ns)
		}
		err = ticketsOf(t, d.Executor()).TicketNoteInsert(ctx(t), &store.TicketNote{EscalationID: "esc_nope", At: t0, Actor: "a", Text: "x"})
		if err == nil {
			t.Fatal("note on a missing ticket was accepted")
		}
	})

	t.Run("tickets: conditional update, a note outside a transaction", func(t *testing.T) {
		d := open(t)
		seed(t, d)
		ts := ticketsOf(t, d.Executor())
		got, err := ts.TicketGetByID(ctx(t), "esc_1")
		if err != nil {
			t.Fatal(err)
		}
		read := got.UpdatedAt
		owner := "admin:ana"
		if err := ts.TicketUpdate(ctx(t), &store.TicketUpdateParams{ID: "esc_1", Owner: &owner, Now: read.Add(time.Second), IfUpdatedAt: read}); err != nil {
			t.Fatalf("update at the version read: %v", err)
		}
		if err := ts.TicketUpdate(ctx(t), &store.TicketUpdateParams{ID: "esc_1", Owner: &owner, Now: read.Add(2 * time.Second), IfUpdatedAt: read}); !errors.Is(err, store.ErrStale) {
			t.Fatalf("update at an old version: %v, want ErrStale", err)
		}
		if err := ts.TicketUpdate(ctx(t), &store.TicketUpdateParams{ID: "esc_nope", Owner: &owner, Now: read, IfUpdatedAt: read}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("conditional update of a missing ticket: %v, want ErrNotFound", err)
		}
		var pe *store.ParamError
		if err := ts.TicketUpdate(ctx(t), &store.TicketUpdateParams{Owner: &owner, Now: read}); !errors.As(err, &pe) || pe.Field != "ID" {
			t.Fatalf("update without ID: %v, want a ParamError naming ID", err)
		}
		n := &store.TicketNote{EscalationID: "esc_1", At: t0, Actor: "admin:ana", Text: "outside a transaction"}
		if err := ts.TicketNoteInsert(ctx(t), n); err != nil || n.Seq == 0 {
			t.Fatalf("note outside a transaction: seq %d, %v", n.Seq, err)
		}
		if ns, err := ts.TicketNoteList(ctx(t), "esc_1"); err != nil || len(ns) != 1 || ns[0].Seq != n.Seq {
			t.Fatalf("notes: %+v %v", ns, err)
		}
	})
}
