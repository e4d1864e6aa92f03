package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// exerciseCRUD checks the plain record queries every driver shares
// (internal/store/sqlstore) where the core suite does not: reconciliations
// end to end, identity paging, missing rows, times round-tripping at
// millisecond precision in UTC, and params refused before the database.
func exerciseCRUD(t *testing.T, open Opener) {
	t.Run("reconciliations", func(t *testing.T) {
		d := open(t)
		ex := d.Executor()
		at := t0.Add(1500 * time.Millisecond)
		inTx(t, d, func(tx store.ExecutorTx) error {
			for _, id := range []string{"evt_r1", "evt_r2"} {
				if _, _, err := tx.EventInsert(ctx(t), event(id, "", "k-"+id, store.EventDelivering)); err != nil {
					return err
				}
			}
			for i, r := range []*store.Reconciliation{
				{ID: "rec_1", EventID: "evt_r1", Status: store.ReconciliationOpen, Summary: json.RawMessage(`{"ok":["crm"]}`), CreatedAt: at, UpdatedAt: at},
				{ID: "rec_2", EventID: "evt_r2", Status: store.ReconciliationOpen, Summary: json.RawMessage(`{}`), CreatedAt: at, UpdatedAt: at},
				{ID: "rec_3", EventID: "evt_r2", Status: store.ReconciliationResolved, Summary: json.RawMessage(`{}`), Actor: "admin:a", Note: "n", CreatedAt: at, UpdatedAt: at},
			} {
				if err := tx.ReconciliationInsert(ctx(t), r); err != nil {
					return fmt.Errorf("insert %d: %w", i, err)
				}
			}
			return nil
		})
		got, err := ex.ReconciliationGetByID(ctx(t), "rec_1")
		if err != nil || got.EventID != "evt_r1" || string(got.Summary) != `{"ok":["crm"]}` || !got.CreatedAt.Equal(at) ||
			got.CreatedAt.Location() != time.UTC || !got.UpdatedAt.Equal(at) {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := ex.ReconciliationGetByID(ctx(t), "rec_none"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing reconciliation: %v, want ErrNotFound", err)
		}
		ids := func(rs []*store.Reconciliation) (out []string) {
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		for _, c := range []struct {
			p    store.ReconciliationListParams
			want string
		}{
			{store.ReconciliationListParams{}, "[rec_3 rec_2 rec_1]"},
			{store.ReconciliationListParams{Status: store.ReconciliationOpen}, "[rec_2 rec_1]"},
			{store.ReconciliationListParams{EventID: "evt_r2"}, "[rec_3 rec_2]"},
			{store.ReconciliationListParams{EventID: "evt_r2", Status: store.ReconciliationOpen}, "[rec_2]"},
			{store.ReconciliationListParams{Limit: 1}, "[rec_3]"},
		} {
			rs, err := ex.ReconciliationList(ctx(t), &c.p)
			if err != nil || fmt.Sprint(ids(rs)) != c.want {
				t.Errorf("list %+v = %v %v, want %s", c.p, ids(rs), err, c.want)
			}
		}
		var pe *store.ParamError
		if _, err := ex.ReconciliationList(ctx(t), &store.ReconciliationListParams{Status: "opne"}); !errors.As(err, &pe) || pe.Field != "Status" {
			t.Fatalf("unknown status: %v, want a ParamError naming Status", err)
		}
		later := at.Add(time.Hour)
		got.Status, got.Actor, got.Note, got.Summary, got.UpdatedAt = store.ReconciliationResolved, "admin:b", "settled", json.RawMessage(`{"ok":["crm","sheet"]}`), later
		inTx(t, d, func(tx store.ExecutorTx) error { return tx.ReconciliationUpdate(ctx(t), got) })
		again, err := ex.ReconciliationGetByID(ctx(t), "rec_1")
		if err != nil || again.Status != store.ReconciliationResolved || again.Actor != "admin:b" || again.Note != "settled" ||
			string(again.Summary) != `{"ok":["crm","sheet"]}` || !again.UpdatedAt.Equal(later) || !again.CreatedAt.Equal(at) {
			t.Fatalf("after update: %+v %v", again, err)
		}
		tx, err := d.Begin(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.ReconciliationUpdate(ctx(t), &store.Reconciliation{ID: "rec_none", Status: store.ReconciliationResolved, Summary: json.RawMessage(`{}`), UpdatedAt: later}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of a missing reconciliation: %v, want ErrNotFound", err)
		}
	})

	t.Run("identity list pages in key order", func(t *testing.T) {
		d := open(t)
		ex := d.Executor()
		inTx(t, d, func(tx store.ExecutorTx) error {
			for i, k := range []string{"c", "a", "d", "b"} {
				if err := tx.IdentityPut(ctx(t), &store.IdentityPutParams{Destination: "crm", RecordKey: k, ExternalID: fmt.Sprint(i), Now: t0}); err != nil {
					return err
				}
			}
			return tx.IdentityPut(ctx(t), &store.IdentityPutParams{Destination: "sheet", RecordKey: "a", ExternalID: "x", Now: t0})
		})
		var keys []string
		after := ""
		for range 10 {
			page, err := ex.IdentityList(ctx(t), &store.IdentityListParams{Destination: "crm", AfterKey: after, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range page {
				if i.Destination != "crm" || !i.UpdatedAt.Equal(t0) {
					t.Fatalf("identity %+v", i)
				}
				keys = append(keys, i.RecordKey)
			}
			if len(page) < 3 {
				break
			}
			after = page[len(page)-1].RecordKey
		}
		if fmt.Sprint(keys) != "[a b c d]" {
			t.Fatalf("paged keys %v, want [a b c d]", keys)
		}
		var pe *store.ParamError
		if _, err := ex.IdentityList(ctx(t), &store.IdentityListParams{}); !errors.As(err, &pe) || pe.Field != "Destination" {
			t.Fatalf("list without destination: %v, want a ParamError naming Destination", err)
		}
	})

	t.Run("escalation update of a missing row, bad status", func(t *testing.T) {
		d := open(t)
		tx, err := d.Begin(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.EscalationUpdate(ctx(t), &store.Escalation{ID: "esc_none", Status: store.EscalationResolved, UpdatedAt: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of a missing escalation: %v, want ErrNotFound", err)
		}
		if _, err := tx.EscalationGetByID(ctx(t), "esc_none"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing escalation: %v, want ErrNotFound", err)
		}
		var pe *store.ParamError
		if _, err := tx.EscalationList(ctx(t), &store.EscalationListParams{Status: "closed"}); !errors.As(err, &pe) || pe.Field != "Status" {
			t.Fatalf("unknown status: %v, want a ParamError naming Status", err)
		}
	})

	t.Run("destination state round trip", func(t *testing.T) {
		d := open(t)
		ex := d.Executor()
		at := t0.Add(250 * time.Millisecond)
		inTx(t, d, func(tx store.ExecutorTx) error {
			return tx.DestinationStatePut(ctx(t), &store.DestinationState{Name: "crm", Paused: true, Reason: "auth", UpdatedAt: at})
		})
		st, err := ex.DestinationStateGet(ctx(t), "crm")
		if err != nil || !st.Paused || st.Reason != "auth" || !st.UpdatedAt.Equal(at) || st.UpdatedAt.Location() != time.UTC {
			t.Fatalf("paused: %+v %v", st, err)
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			return tx.DestinationStatePut(ctx(t), &store.DestinationState{Name: "crm", Paused: false, UpdatedAt: at.Add(time.Second)})
		})
		if st, err := ex.DestinationStateGet(ctx(t), "crm"); err != nil || st.Paused || st.Reason != "" || !st.UpdatedAt.Equal(at.Add(time.Second)) {
			t.Fatalf("resumed: %+v %v", st, err)
		}
	})

	t.Run("replay writes refuse bad params before the database", func(t *testing.T) {
		d := open(t)
		ex := d.Executor()
		var pe *store.ParamError
		if _, err := ex.DeliveryPayloadPut(ctx(t), &store.DeliveryPayloadPutParams{ID: "dlv_1", Payload: json.RawMessage(`{}`),
			States: []store.DeliveryState{store.DeliveryPending, "pnding"}, Now: t0}); !errors.As(err, &pe) || pe.Field != "States" {
			t.Fatalf("unknown state: %v, want a ParamError naming States", err)
		}
		if err := ex.EventRecordPut(ctx(t), &store.EventRecordPutParams{State: store.EventHeld, Now: t0}); !errors.As(err, &pe) || pe.Field != "ID" {
			t.Fatalf("record put without ID: %v, want a ParamError naming ID", err)
		}
	})

	t.Run("credentials: absent, refreshed, listed, kept when fn does not write", func(t *testing.T) {
		d := open(t)
		cs, ok := d.(store.Credentials)
		if !ok {
			t.Fatalf("%T does not implement store.Credentials", d)
		}
		if _, found, err := cs.CredentialGet(ctx(t), "crm"); err != nil || found {
			t.Fatalf("absent credential: found %v, %v", found, err)
		}
		exp := t0.Add(30*time.Minute + 7*time.Millisecond)
		put := func(name string, c store.Credential, write bool) {
			t.Helper()
			err := cs.CredentialRefresh(ctx(t), name, func(cur store.Credential, found bool) (store.Credential, bool, error) {
				return c, write, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		put("crm", store.Credential{Name: "ignored", Kind: "oauth_refresh", Seed: "s1", Sealed: []byte{1, 2, 3}, ExpiresAt: exp, RefreshedAt: t0, Refreshes: 1}, true)
		put("sheet", store.Credential{Kind: "google_service_account", Seed: "s2"}, true)
		c, found, err := cs.CredentialGet(ctx(t), "crm")
		if err != nil || !found || c.Name != "crm" || c.Seed != "s1" || string(c.Sealed) != "\x01\x02\x03" || !c.ExpiresAt.Equal(exp) ||
			c.ExpiresAt.Location() != time.UTC || !c.RefreshedAt.Equal(t0) || c.Refreshes != 1 || !c.FailedAt.IsZero() {
			t.Fatalf("stored credential: %+v %v %v", c, found, err)
		}
		var seen store.Credential
		var seenFound bool
		err = cs.CredentialRefresh(ctx(t), "crm", func(cur store.Credential, found bool) (store.Credential, bool, error) {
			seen, seenFound = cur, found
			cur.Failure, cur.FailedAt = "revoked", t0.Add(time.Hour)
			return cur, false, errors.New("token endpoint said no")
		})
		if err == nil || err.Error() != "token endpoint said no" || !seenFound || seen.Seed != "s1" {
			t.Fatalf("refresh that does not write: %v (saw %+v %v)", err, seen, seenFound)
		}
		list, err := cs.CredentialList(ctx(t))
		if err != nil || len(list) != 2 || list[0].Name != "crm" || list[1].Name != "sheet" || list[0].Failure != "" ||
			!list[1].ExpiresAt.IsZero() || len(list[1].Sealed) != 0 {
			t.Fatalf("list: %+v %v", list, err)
		}
	})
}
