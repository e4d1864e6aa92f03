package normalize

import (
	"errors"
	"fmt"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
)

// Expression limits. expr-lang bounds memory per run (vm.MemoryBudget) but
// not time: a nested count over a 48 KB array ran for 8.7 s inside an
// intake request. Every expression Sluice compiles therefore also gets
//   - a size limit at compile time (MaxExprNodes AST nodes), and
//   - a cost limit at run time: each step of a predicate or closure (count,
//     filter, map, all, any, sortBy, ...) spends one unit of MaxExprSteps,
//     and the wall clock is checked against ExprDeadline every 1024 steps.
//
// A breach fails the evaluation with ErrExprBudget; the record is then
// rejected (a computed field) or refused by the route (a when condition),
// with the reason in its problems.
const (
	MaxExprNodes = 5000
	MaxExprSteps = 1_000_000
	ExprDeadline = 250 * time.Millisecond
)

// ErrExprBudget is returned when an evaluation spends its budget.
var ErrExprBudget = errors.New("expression exceeded its budget")

// budgetVar is the environment entry that carries one evaluation's Budget.
const budgetVar = "__sluice_budget"

// Budget is the cost allowance of one evaluation; put it in the
// environment with NewBudgetEnv. Not safe for concurrent use (one
// evaluation runs on one goroutine).
type Budget struct {
	steps    int
	deadline time.Time
}

// NewBudget starts a budget now.
func NewBudget() *Budget { return &Budget{deadline: time.Now().Add(ExprDeadline)} }

func (b *Budget) spend() error {
	b.steps++
	if b.steps > MaxExprSteps {
		return fmt.Errorf("%w: more than %d steps", ErrExprBudget, MaxExprSteps)
	}
	if b.steps&1023 == 0 && time.Now().After(b.deadline) {
		return fmt.Errorf("%w: ran longer than %s", ErrExprBudget, ExprDeadline)
	}
	return nil
}

// ExprOptions are the options every expression is compiled with: the node
// limit, and the patch that makes each closure step spend the budget found
// in the environment (an environment without one runs unmetered).
func ExprOptions() []expr.Option {
	return []expr.Option{
		expr.MaxNodes(MaxExprNodes),
		expr.Optimize(false), // the optimizer may rewrite a predicate after the patch below and drop its meter
		expr.Patch(budgetPatch{}),
		expr.Function(tickFunc, func(args ...any) (any, error) {
			if b, ok := args[0].(*Budget); ok && b != nil {
				if err := b.spend(); err != nil {
					return nil, err
				}
			}
			return args[1], nil
		}),
	}
}

const tickFunc = "__sluice_tick"

// budgetPatch wraps every closure body in a call that spends one step.
type budgetPatch struct{}

func (budgetPatch) Visit(node *ast.Node) {
	c, ok := (*node).(*ast.PredicateNode)
	if !ok {
		return
	}
	if call, ok := c.Node.(*ast.CallNode); ok {
		if id, ok := call.Callee.(*ast.IdentifierNode); ok && id.Value == tickFunc {
			return // already patched (patches may run more than once)
		}
	}
	body := c.Node
	tick := &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: tickFunc},
		Arguments: []ast.Node{&ast.IdentifierNode{Value: budgetVar}, body},
	}
	tick.SetType(body.Type())
	c.Node = tick
}

// WithBudget returns env (a record) with a fresh budget added, copying the
// top level so the caller's map is not changed.
func WithBudget(env map[string]any) map[string]any {
	out := make(map[string]any, len(env)+1)
	for k, v := range env {
		out[k] = v
	}
	out[budgetVar] = NewBudget()
	return out
}
