package pipeline_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// storeWrites are the store methods that change state or the audit log.
// Only package pipeline (and the store itself) may call them: that is the
// writer rule of docs/adr/0010-one-writer.md. The SLA watcher's breach and
// cursor tables are the control layer's own bookkeeping and not listed.
var storeWrites = map[string]bool{
	"EventInsert": true, "EventUpdate": true, "EventRecordPut": true, "EventPrune": true,
	"DeliveryInsert": true, "DeliveryClaim": true, "DeliveryUpdate": true,
	"IdentityPut": true, "EscalationInsert": true, "EscalationUpdate": true,
	"AuditAppend": true, "AuditPrune": true,
	"ReconciliationInsert": true, "ReconciliationUpdate": true,
	"DestinationStatePut": true, "TicketUpdate": true, "TicketNoteInsert": true,
}

// writerAllowed are the directories (relative to the module root) whose
// non-test code may call storeWrites.
func writerAllowed(dir string) bool {
	return dir == "internal/pipeline" || dir == "internal/store" || strings.HasPrefix(dir, "internal/store/")
}

// parseModule parses every Go file of the module, test files included.
func parseModule(t *testing.T) map[string]*ast.File {
	t.Helper()
	root := filepath.Join("..", "..")
	files := map[string]*ast.File{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || n == "node_modules" || (strings.HasPrefix(n, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found only %d Go files from %s; is the module root where the test expects it?", len(files), root)
	}
	return files
}

// TestOnlyThePipelineWrites fails when code outside package pipeline and
// the store calls a store method that changes state or appends to the
// audit log: such a write would skip redaction, truncation, the audit
// vocabulary and the transition's re-read.
func TestOnlyThePipelineWrites(t *testing.T) {
	t.Parallel()
	var bad []string
	for path, f := range parseModule(t) {
		if strings.HasSuffix(path, "_test.go") || writerAllowed(filepath.ToSlash(filepath.Dir(path))) {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && storeWrites[sel.Sel.Name] {
				bad = append(bad, path+": calls "+sel.Sel.Name)
			}
			return true
		})
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s; state changes and audit entries go through a pipeline.Gate method", b)
	}
}

// TestNoActionLiterals fails when an audit entry is built, or its action
// compared, with a string literal instead of an audit.Action constant.
func TestNoActionLiterals(t *testing.T) {
	t.Parallel()
	var bad []string
	for path, f := range parseModule(t) {
		if strings.HasPrefix(path, "internal/audit/") && !strings.HasSuffix(path, "_test.go") {
			continue // where the constants are defined
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CompositeLit:
				if !isAuditEntry(x.Type) {
					return true
				}
				for _, el := range x.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Action" && !isConstant(kv.Value) {
						bad = append(bad, path+": audit entry with action "+render(kv.Value))
					}
				}
			case *ast.BinaryExpr:
				if x.Op != token.EQL && x.Op != token.NEQ {
					return true
				}
				for _, pair := range [][2]ast.Expr{{x.X, x.Y}, {x.Y, x.X}} {
					if sel, ok := pair[0].(*ast.SelectorExpr); ok && sel.Sel.Name == "Action" {
						if lit, ok := pair[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							bad = append(bad, path+": compares an action with "+lit.Value)
						}
					}
				}
			}
			return true
		})
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s; use an audit.Action constant", b)
	}
}

func isAuditEntry(e ast.Expr) bool {
	if u, ok := e.(*ast.UnaryExpr); ok {
		e = u.X
	}
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && ((pkg.Name == "store" && sel.Sel.Name == "AuditEntry") || (pkg.Name == "audit" && sel.Sel.Name == "Entry"))
}

// isConstant accepts audit.ActionX, a variable or call (checked by the
// compiler to be an audit.Action), and rejects literals and strings built
// by concatenation or conversion.
func isConstant(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return false
	case *ast.BinaryExpr:
		return false
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.SelectorExpr); ok && id.Sel.Name == "Action" {
			return false // audit.Action("...")
		}
	}
	return true
}

func render(e ast.Expr) string {
	if lit, ok := e.(*ast.BasicLit); ok {
		return lit.Value
	}
	return strconv.Quote("<expression>")
}

// storeWriters are the store types through which a package could write.
var storeWriters = map[string]bool{"Driver": true, "Executor": true, "ExecutorTx": true, "Committer": true, "TicketStore": true}

// TestTicketWorkflowCannotWrite fails when the ticket workflow (package
// ticket) names a store type it could write through: its changes go
// through the gate's port (ticket.Gate, ticket.Tx), so the gate stays the
// one writer even if a method of the port is named like no store write.
func TestTicketWorkflowCannotWrite(t *testing.T) {
	t.Parallel()
	var bad []string
	n := 0
	for path, f := range parseModule(t) {
		if !strings.HasPrefix(path, "internal/ticket/") || strings.HasSuffix(path, "_test.go") {
			continue
		}
		n++
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "store" && storeWriters[sel.Sel.Name] {
				bad = append(bad, path+": names store."+sel.Sel.Name)
			}
			return true
		})
	}
	if n == 0 {
		t.Fatal("no files of internal/ticket found")
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s; the ticket workflow writes only through the gate", b)
	}
}
