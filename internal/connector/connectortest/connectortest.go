// Package connectortest is the conformance suite every platform connector
// passes against its simulator: create, update through the identity map,
// lookup and read-back, each error class, batch partial failure and the
// ambiguous outcome (a write applied but never answered). A connector that
// passes it can be trusted by the delivery engine to classify failures
// correctly and never to duplicate a record on retry.
package connectortest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/sim"
)

// Sim is what the suite needs from a simulator.
type Sim interface {
	SetFaults(sim.Faults) error
}

// Harness adapts one connector and its simulator to the suite.
type Harness struct {
	// New starts a fresh simulator (seeded, no faults, generous rate limits)
	// and returns a connector pointed at it. Both are closed by t.Cleanup.
	New func(t *testing.T) (connector.Connector, Sim)
	// Payload is the destination-format record for key; variant changes the
	// value of Field so updates can be told apart.
	Payload func(key string, variant int) map[string]any
	// Field is a payload field that reads back with the value written.
	Field string
	// Count is how many records the simulator holds for key.
	Count func(s Sim, key string) int
	// FieldValue is the value of Field in a record read back by Lookup
	// (platforms return values in their own shape).
	FieldValue func(fields map[string]any) any
	// ExpectedValue is what FieldValue returns after writing variant.
	ExpectedValue func(key string, variant int) any
	// DriftField, when set, is a field whose removal on the platform makes a
	// write fail as connector.Drift. Empty for platforms that ignore unknown
	// fields.
	DriftField string
	// Key makes a record key unique to one subtest.
	Key func(t *testing.T, n int) string
	// AtomicBatch says the platform applies a batch request all or nothing
	// (Google Sheets): under a partial fault every item of a failed request
	// fails retryably and none is written, instead of some of each.
	AtomicBatch bool
	// RevokedStatus is the HTTP status the platform answers a revoked token
	// with; 0 means 401. Slack says it in a 200 body.
	RevokedStatus int
}

func delivery(key string, payload map[string]any, attempt int) connector.Delivery {
	return connector.Delivery{ID: fmt.Sprintf("dlv-%s-%d", key, attempt), EventID: "evt-" + key, Route: "r", RecordKey: key, Payload: payload, Attempt: attempt}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func class(t *testing.T, err error, want connector.Class) *connector.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want class %s", want)
	}
	var ce *connector.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *connector.Error", err)
	}
	if ce.Class != want {
		t.Fatalf("class %s (%v), want %s", ce.Class, ce, want)
	}
	return ce
}

// Exercise runs the suite.
func Exercise(t *testing.T, h Harness) {
	key := func(t *testing.T, n int) string {
		if h.Key != nil {
			return h.Key(t, n)
		}
		return fmt.Sprintf("k%d-%d@conformance.example", n, time.Now().UnixNano()%1e9)
	}

	t.Run("create, update via identity map, lookup, read-back", func(t *testing.T) {
		c, s := h.New(t)
		k := key(t, 1)
		res, err := c.Deliver(ctx(t), delivery(k, h.Payload(k, 1), 1))
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if res.ExternalID == "" {
			t.Fatal("create returned no external ID")
		}
		if n := h.Count(s, k); n != 1 {
			t.Fatalf("after create: %d records for key, want 1", n)
		}
		d := delivery(k, h.Payload(k, 2), 1)
		d.ID = "dlv-update-" + k
		d.ExternalID = res.ExternalID
		res2, err := c.Deliver(ctx(t), d)
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if res2.ExternalID != res.ExternalID {
			t.Fatalf("update changed external ID %q -> %q", res.ExternalID, res2.ExternalID)
		}
		if n := h.Count(s, k); n != 1 {
			t.Fatalf("after update: %d records for key, want 1", n)
		}
		lk, ok := c.(connector.Looker)
		if !ok {
			t.Fatal("connector does not implement connector.Looker")
		}
		id, fields, found, err := lk.Lookup(ctx(t), k)
		if err != nil || !found || id != res.ExternalID {
			t.Fatalf("lookup = %q %v %v, want %q found", id, found, err, res.ExternalID)
		}
		if got, want := h.FieldValue(fields), h.ExpectedValue(k, 2); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("read-back %s = %v, want %v", h.Field, got, want)
		}
		_, _, found, err = lk.Lookup(ctx(t), key(t, 99))
		if err != nil || found {
			t.Fatalf("lookup of an unknown key: found=%v err=%v", found, err)
		}
	})

	t.Run("delete by ID and by key; a record already gone is deleted", func(t *testing.T) {
		c, _ := h.New(t)
		del, ok := c.(connector.Deleter)
		if !ok {
			t.Skip("connector cannot delete (routes refuse on_delete: route at check time)")
		}
		lk := c.(connector.Looker)
		for i, byID := range []bool{true, false} {
			k := key(t, 40+i)
			res, err := c.Deliver(ctx(t), delivery(k, h.Payload(k, 1), 1))
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			d := delivery(k, h.Payload(k, 1), 1)
			d.ID, d.Op = "dlv-delete-"+k, connector.OpDelete
			if byID {
				d.ExternalID = res.ExternalID
			}
			if _, err := del.Delete(ctx(t), d); err != nil {
				t.Fatalf("delete (by id %v): %v", byID, err)
			}
			if _, _, found, err := lk.Lookup(ctx(t), k); err != nil || found {
				t.Fatalf("lookup after delete (by id %v): found=%v err=%v", byID, found, err)
			}
			// Again: a retry after an ambiguous outcome, or an echo.
			if _, err := del.Delete(ctx(t), d); err != nil {
				t.Fatalf("second delete (by id %v): %v", byID, err)
			}
		}
	})

	t.Run("update without identity map does not duplicate", func(t *testing.T) {
		c, s := h.New(t)
		k := key(t, 2)
		if _, err := c.Deliver(ctx(t), delivery(k, h.Payload(k, 1), 1)); err != nil {
			t.Fatal(err)
		}
		d := delivery(k, h.Payload(k, 2), 1)
		d.ID, d.Ambiguous = "dlv-again-"+k, true
		if _, err := c.Deliver(ctx(t), d); err != nil {
			t.Fatal(err)
		}
		if n := h.Count(s, k); n != 1 {
			t.Fatalf("%d records for key, want 1", n)
		}
	})

	errorCases := []struct {
		name   string
		faults sim.Faults
		want   connector.Class
		status int
	}{
		{"500 is retryable", sim.Faults{Errors: map[string]float64{"500": 1}}, connector.Retryable, 500},
		{"503 is retryable", sim.Faults{Errors: map[string]float64{"503": 1}}, connector.Retryable, 503},
		{"429 is retryable", sim.Faults{Errors: map[string]float64{"429": 1}}, connector.Retryable, 429},
		{"revoked token is auth", sim.Faults{Revoked: true}, connector.Auth, 401},
	}
	if h.RevokedStatus != 0 {
		errorCases[3].status = h.RevokedStatus
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := h.New(t)
			if err := s.SetFaults(tc.faults); err != nil {
				t.Fatal(err)
			}
			k := key(t, 3)
			_, err := c.Deliver(ctx(t), delivery(k, h.Payload(k, 1), 1))
			ce := class(t, err, tc.want)
			if ce.Status != tc.status {
				t.Fatalf("status %d, want %d", ce.Status, tc.status)
			}
			if n := h.Count(s, k); n != 0 {
				t.Fatalf("a refused write left %d records", n)
			}
		})
	}

	if h.DriftField != "" {
		t.Run("removed field is drift", func(t *testing.T) {
			c, s := h.New(t)
			if err := s.SetFaults(sim.Faults{RemovedFields: []string{h.DriftField}}); err != nil {
				t.Fatal(err)
			}
			k := key(t, 4)
			_, err := c.Deliver(ctx(t), delivery(k, h.Payload(k, 1), 1))
			class(t, err, connector.Drift)
		})
	}

	t.Run("ambiguous outcome is resolved by lookup, not duplicated", func(t *testing.T) {
		c, s := h.New(t)
		if err := s.SetFaults(sim.Faults{TimeoutAfterWrite: 1, Hang: sim.Duration(3 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		k := key(t, 5)
		short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := c.Deliver(short, delivery(k, h.Payload(k, 1), 1))
		cancel()
		ce := class(t, err, connector.Retryable)
		if !ce.Sent {
			t.Fatal("a timeout after sending must be marked Sent (ambiguous)")
		}
		if err := s.SetFaults(sim.Faults{}); err != nil {
			t.Fatal(err)
		}
		lk := c.(connector.Looker)
		id, _, found, err := lk.Lookup(ctx(t), k)
		if err != nil || !found {
			t.Fatalf("the applied write is not found by key: %v %v", found, err)
		}
		d := delivery(k, h.Payload(k, 2), 2)
		d.Ambiguous, d.ExternalID = true, id
		if _, err := c.Deliver(ctx(t), d); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if n := h.Count(s, k); n != 1 {
			t.Fatalf("%d records for key after the retry, want 1", n)
		}
	})

	t.Run("batch partial failure is reported per item", func(t *testing.T) {
		c, s := h.New(t)
		b, ok := c.(connector.Batcher)
		if !ok || c.Constraints().BatchSize <= 1 {
			t.Skip("connector does not batch")
		}
		if err := s.SetFaults(sim.Faults{PartialBatch: 0.5}); err != nil {
			t.Fatal(err)
		}
		n := min(c.Constraints().BatchSize, 10)
		var ds []connector.Delivery
		for i := 0; i < n; i++ {
			k := key(t, 100+i)
			ds = append(ds, delivery(k, h.Payload(k, 1), 1))
		}
		res, err := b.DeliverBatch(ctx(t), ds)
		if err != nil {
			t.Fatalf("batch: %v", err)
		}
		if len(res) != n {
			t.Fatalf("%d results for %d items", len(res), n)
		}
		succeeded, failed := 0, 0
		for i, r := range res {
			want := 1
			if r.Err != nil {
				class(t, r.Err, connector.Retryable)
				failed++
				want = 0
			} else {
				succeeded++
			}
			if got := h.Count(s, ds[i].RecordKey); got != want {
				t.Fatalf("item %d: %d records, want %d (err %v)", i, got, want, r.Err)
			}
		}
		switch {
		case h.AtomicBatch && succeeded != 0 && failed != 0:
			t.Fatalf("atomic batch gave %d ok and %d failed; want all or nothing", succeeded, failed)
		case !h.AtomicBatch && (succeeded == 0 || failed == 0):
			t.Fatalf("partial fault at 0.5 gave %d ok and %d failed; want some of each", succeeded, failed)
		}
	})
}

// CheckSpec fails t unless spec describes exactly the config-settable
// fields of the options struct opts (its json-tagged fields): the same
// names, types that decode into the fields, defaults of the option's own
// type that pass its checks, and a doc line for every option. It keeps a
// connector's Spec, and so its docs and `sluice check`, true to the struct
// New reads.
func CheckSpec(t *testing.T, spec *connector.Spec, opts any) {
	t.Helper()
	if spec.Kind == "" || spec.Title == "" || spec.Doc == "" {
		t.Errorf("spec %q: Kind, Title and Doc are required", spec.Kind)
	}
	fields := map[string]reflect.Type{}
	rt := reflect.TypeOf(opts)
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	seen := map[string]bool{}
	for _, o := range spec.Options {
		if seen[o.Name] {
			t.Errorf("option %s: declared twice", o.Name)
		}
		seen[o.Name] = true
		ft, ok := fields[o.Name]
		if !ok {
			t.Errorf("option %s: the options struct has no field with json tag %q", o.Name, o.Name)
			continue
		}
		if want := goKinds[o.Type]; want != nil && !slices.Contains(want, ft.Kind()) {
			t.Errorf("option %s: type %s, but the field is a %s", o.Name, o.Type, ft)
		}
		if strings.TrimSpace(o.Doc) == "" {
			t.Errorf("option %s: no doc", o.Name)
		}
		if o.Default != nil {
			one := connector.Spec{Kind: spec.Kind, Options: []connector.Option{o}}
			got, err := one.Normalize(connector.Params{Options: map[string]any{o.Name: o.Default}})
			if err != nil {
				t.Errorf("option %s: default %v fails the option's own checks: %v", o.Name, o.Default, err)
			} else if !reflect.DeepEqual(got[o.Name], o.Default) {
				t.Errorf("option %s: default %#v is not of the option's Go type (reads as %#v)", o.Name, o.Default, got[o.Name])
			}
		}
		if o.Default != nil && o.DefaultDoc != "" {
			t.Errorf("option %s: both Default and DefaultDoc", o.Name)
		}
	}
	for name := range fields {
		if !seen[name] {
			t.Errorf("field with json tag %q has no option in the spec", name)
		}
	}
}

var goKinds = map[connector.Type][]reflect.Kind{
	connector.String:     {reflect.String},
	connector.URL:        {reflect.String},
	connector.Duration:   {reflect.String},
	connector.Int:        {reflect.Int, reflect.Int64},
	connector.Float:      {reflect.Float64},
	connector.Bool:       {reflect.Bool},
	connector.StringList: {reflect.Slice},
	connector.StringMap:  {reflect.Map},
	connector.Any:        {reflect.Slice, reflect.Interface, reflect.Map},
}
