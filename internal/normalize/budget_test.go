package normalize_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/sluicehq/sluice/internal/normalize"
)

// TestExpressionCostIsBounded: a nested count over a 48 KB array took 8.7 s.
// Evaluation now stops at the step budget with a clear problem, quickly.
func TestExpressionCostIsBounded(t *testing.T) {
	m, err := normalize.Compile(normalize.Mapping{Fields: map[string]normalize.Field{
		"items": {From: "items", Type: "array"},
		"dups":  {Expr: `count(items, {let x = #; count(items, # == x) > 1})`, Type: "integer"},
		"n":     {Expr: `len(items)`, Type: "integer"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	items := make([]any, 12000) // ~48 KB as JSON: 144M comparisons unbounded
	for i := range items {
		items[i] = float64(i % 7)
	}
	out, probs := m.Apply(map[string]any{"items": items})
	if len(probs) != 1 || probs[0].Field != "dups" || !strings.Contains(probs[0].Message, "expression exceeded its budget") {
		t.Fatalf("want one budget problem on dups, got %v", probs)
	}
	if out["n"] != int64(12000) {
		t.Fatalf("cheap expressions still run: %v", out["n"])
	}
	// A small input stays well inside the budget.
	out, probs = m.Apply(map[string]any{"items": []any{1.0, 2.0, 2.0}})
	if len(probs) != 0 || out["dups"] != int64(2) {
		t.Fatalf("small input: %v %v", out, probs)
	}
}

// TestExpressionSizeIsBounded: a huge expression is refused at compile time.
func TestExpressionSizeIsBounded(t *testing.T) {
	big := strings.Repeat("1 + ", normalize.MaxExprNodes) + "1"
	_, err := normalize.Compile(normalize.Mapping{Fields: map[string]normalize.Field{"x": {Expr: big}}})
	if err == nil {
		t.Fatal("want a compile error")
	}
	// The step budget is not tied to the environment's shape: a condition
	// compiled with the same options and run with WithBudget is metered too.
	prog, err := expr.Compile(`count(a, {let x = #; count(a, # == x) > 1}) > 0`, append([]expr.Option{expr.AsBool(), expr.AllowUndefinedVariables()}, normalize.ExprOptions()...)...)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]any, 5000)
	for i := range a {
		a[i] = i
	}
	_, err = expr.Run(prog, normalize.WithBudget(map[string]any{"a": a}))
	if !errors.Is(err, normalize.ErrExprBudget) && (err == nil || !strings.Contains(err.Error(), "exceeded its budget")) {
		t.Fatalf("want a budget error, got %v", err)
	}
}
