package control

import (
	"context"
	"fmt"
	"testing"
)

func TestSourceDriftFindsNewMissingRetypedAndRenamed(t *testing.T) {
	d := &SourceDrift{Learn: 50, Window: 30}
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		d.Observe(ctx, "forms", map[string]any{"email": fmt.Sprintf("a%d@x.co", i), "phone": "555", "amount": float64(i),
			"company": map[string]any{"name": "Acme"}, "tags": []any{"a"}})
	}
	if f := d.Findings(); len(f) != 0 {
		t.Fatalf("findings while learning: %v", f)
	}
	// Traffic as before: no drift.
	for i := 0; i < 10; i++ {
		d.Observe(ctx, "forms", map[string]any{"email": "b@x.co", "phone": "555", "amount": 3.0, "company": map[string]any{"name": "Acme"}, "tags": []any{}})
	}
	if f := d.Findings(); len(f) != 0 {
		t.Fatalf("findings on unchanged traffic: %v", f)
	}
	// The sender renames phone to phone_number, sends amount as a string,
	// stops sending company and adds utm_source.
	for i := 0; i < 30; i++ {
		d.Observe(ctx, "forms", map[string]any{"email": "c@x.co", "phone_number": "555", "amount": "3", "utm_source": "ads", "tags": []any{"x"}})
	}
	got := map[string]string{}
	for _, f := range d.Findings() {
		got[f.Field] = f.Kind
		if f.Detail == "" || f.Source != "forms" {
			t.Errorf("finding without detail: %+v", f)
		}
	}
	want := map[string]string{"phone_number": "renamed_field", "amount": "retyped_field", "company": "missing_field",
		"company.name": "missing_field", "utm_source": "new_field"}
	for f, k := range want {
		if got[f] != k {
			t.Errorf("%s: got %q, want %q (all: %v)", f, got[f], k, got)
		}
	}
	if _, ok := got["email"]; ok {
		t.Errorf("email reported although unchanged: %v", got)
	}
	// Findings are reported once.
	n := len(d.Findings())
	for i := 0; i < 10; i++ {
		d.Observe(ctx, "forms", map[string]any{"email": "c@x.co", "phone_number": "555", "amount": "3", "utm_source": "ads", "tags": []any{}})
	}
	if len(d.Findings()) != n {
		t.Fatalf("findings grew on the same drift: %v", d.Findings())
	}
}
