package storetest

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// exerciseGroups runs the conformance suite of store.GroupStore: failure
// groups counted by group_id with their first and last times, filtered,
// tickets listed by group, and an update moving an escalation between
// groups.
func exerciseGroups(t *testing.T, open Opener) {
	d := open(t)
	inTx(t, d, func(tx store.ExecutorTx) error {
		for i := 1; i <= 4; i++ {
			id := "evt_" + string(rune('0'+i))
			if _, _, err := tx.EventInsert(ctx(t), event(id, "", id+"@x", store.EventEscalated)); err != nil {
				return err
			}
			dest := "crm"
			if i == 4 {
				dest = "sheet"
			}
			if err := tx.DeliveryInsert(ctx(t), delivery("dlv_"+string(rune('0'+i)), id, dest, id+"@x", store.DeliveryEscalated, t0)); err != nil {
				return err
			}
		}
		for i, e := range []*store.Escalation{
			{ID: "esc_1", EventID: "evt_1", DeliveryID: "dlv_1", Kind: "drift_error", LastStatus: 400, Code: "PROPERTY_DOESNT_EXIST", GroupID: "crm:drift_error:400:PROPERTY_DOESNT_EXIST"},
			{ID: "esc_2", EventID: "evt_2", DeliveryID: "dlv_2", Kind: "drift_error", LastStatus: 400, Code: "PROPERTY_DOESNT_EXIST", GroupID: "crm:drift_error:400:PROPERTY_DOESNT_EXIST"},
			{ID: "esc_3", EventID: "evt_3", DeliveryID: "dlv_3", Kind: "drift_error", LastStatus: 400, Code: "PROPERTY_DOESNT_EXIST", GroupID: "crm:drift_error:400:PROPERTY_DOESNT_EXIST"},
			{ID: "esc_4", EventID: "evt_4", DeliveryID: "dlv_4", Kind: "permanent_error", LastStatus: 422, GroupID: "sheet:permanent_error:422:"},
		} {
			at := t0.Add(time.Duration(i) * time.Hour)
			e.Reason, e.Status, e.CreatedAt, e.UpdatedAt = "r", store.EscalationOpen, at, at
			if err := tx.EscalationInsert(ctx(t), e); err != nil {
				return err
			}
		}
		return nil
	})
	ex := d.Executor()
	gs, err := ex.EscalationGroupList(ctx(t), &store.EscalationGroupListParams{Status: store.EscalationOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 {
		t.Fatalf("groups: %d, want 2", len(gs))
	}
	g := gs[0]
	if g.ID != "crm:drift_error:400:PROPERTY_DOESNT_EXIST" || g.Destination != "crm" || g.Kind != "drift_error" || g.LastStatus != 400 ||
		g.Code != "PROPERTY_DOESNT_EXIST" || g.Count != 3 || !g.FirstSeen.Equal(t0) || !g.LastSeen.Equal(t0.Add(2*time.Hour)) || g.NewestID != "esc_3" {
		t.Fatalf("largest group: %+v", g)
	}
	if gs[1].Count != 1 || gs[1].Destination != "sheet" {
		t.Fatalf("second group: %+v", gs[1])
	}
	if gs, _ := ex.EscalationGroupList(ctx(t), &store.EscalationGroupListParams{Destination: "sheet"}); len(gs) != 1 || gs[0].ID != "sheet:permanent_error:422:" {
		t.Fatalf("by destination: %+v", gs)
	}
	if gs, _ := ex.EscalationGroupList(ctx(t), &store.EscalationGroupListParams{Kind: "drift_error", GroupID: g.ID}); len(gs) != 1 || gs[0].Count != 3 {
		t.Fatalf("by kind and id: %+v", gs)
	}
	ts, err := ex.TicketList(ctx(t), &store.TicketListParams{GroupID: g.ID})
	if err != nil || len(ts) != 3 || ts[0].GroupID != g.ID || ts[0].Code != "PROPERTY_DOESNT_EXIST" {
		t.Fatalf("tickets of the group: %v %v", ts, err)
	}
	// A retry that fails differently moves the escalation to another group.
	e, err := ex.EscalationGetByID(ctx(t), "esc_3")
	if err != nil || e.GroupID != g.ID || e.Code != "PROPERTY_DOESNT_EXIST" {
		t.Fatalf("get: %+v %v", e, err)
	}
	e.Kind, e.Reason, e.GroupID, e.Code, e.LastStatus, e.UpdatedAt = "retries_exhausted", "gave up", "crm:retries_exhausted:503:", "", 503, t0.Add(5*time.Hour)
	inTx(t, d, func(tx store.ExecutorTx) error { return tx.EscalationUpdate(ctx(t), e) })
	e, _ = ex.EscalationGetByID(ctx(t), "esc_3")
	if e.Kind != "retries_exhausted" || e.Reason != "gave up" || e.GroupID != "crm:retries_exhausted:503:" || e.Code != "" {
		t.Fatalf("after update: %+v", e)
	}
	if gs, _ := ex.EscalationGroupList(ctx(t), &store.EscalationGroupListParams{GroupID: g.ID}); len(gs) != 1 || gs[0].Count != 2 {
		t.Fatalf("group after the move: %+v", gs)
	}
}
