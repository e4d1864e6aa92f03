package normalize

import (
	"bytes"
	"encoding/json"
	"testing"
)

// representative exercises every type, [*] paths, nested output, defaults,
// expressions and passthrough; the fuzz target and the concurrency test
// share it.
var representative = Mapping{
	Passthrough: true,
	Fields: map[string]Field{
		"email":           {From: "email", Type: "email"},
		"phone":           {From: "phone", Type: "phone"},
		"first":           {From: "first", Trim: true},
		"last":            {From: "last", Trim: true, Type: "string"},
		"age":             {From: "age", Type: "integer"},
		"score":           {From: "score", Type: "number", Default: 0},
		"active":          {From: "active", Type: "boolean"},
		"signed_up":       {From: "signed_up", Type: "datetime", Formats: []string{"02.01.2006"}},
		"dob":             {From: "dob", Type: "date"},
		"city":            {From: "contact.city", Lower: true},
		"first_item":      {From: "items[0].sku", Upper: true},
		"skus":            {From: "items[*].sku", Type: "string"},
		"prices":          {From: "items[*].price", Type: "number"},
		"extra":           {From: "extra", Type: "object"},
		"anything":        {From: "meta"},
		"properties.utm":  {From: "utm", Default: "direct"},
		"properties.full": {Expr: `trim((first ?? "") + " " + (last ?? ""))`},
		"count":           {Expr: `source?.items == nil ? nil : len(source.items)`, Type: "integer"},
	},
}

// FuzzApply feeds arbitrary JSON to a fixed mapping: Apply must not panic,
// its output must marshal, and it must be deterministic.
func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"email":"a@b.co","items":[{"sku":"x","price":"1"}]}`))
	m, err := Compile(representative)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, useNumber := range []bool{false, true} {
			d := json.NewDecoder(bytes.NewReader(data))
			if useNumber {
				d.UseNumber()
			}
			var payload any
			if d.Decode(&payload) != nil {
				return
			}
			out, probs := m.Apply(payload)
			got, err := json.Marshal(out)
			if err != nil {
				t.Fatalf("output %#v does not marshal: %v", out, err)
			}
			for _, p := range probs {
				if p.Field == "" || p.Message == "" {
					t.Fatalf("empty problem %q", p)
				}
			}
			again, probs2 := m.Apply(payload)
			got2, _ := json.Marshal(again)
			if !bytes.Equal(got, got2) || len(probs) != len(probs2) {
				t.Fatalf("not deterministic:\n%s\n%s", got, got2)
			}
		}
	})
}
