package connector

import (
	"text/template"
	"text/template/parse"
)

// PayloadField is one payload field a connector's option reads: Option is
// the option's path ("options.text", "options.blocks[0].text.text") and
// Path the field's names from the payload's top level ({{.deal.amount}} is
// ["deal", "amount"]).
type PayloadField struct {
	Option string
	Path   []string
}

// PayloadReader is implemented by connectors whose options hold templates
// over the delivery's payload (Slack's text and blocks). text/template only
// finds a misspelt field when it executes, which fails every delivery; the
// list lets `sluice check` compare the fields read with the fields each
// route sends.
type PayloadReader interface {
	PayloadFields() []PayloadField
}

// TemplateFields lists the field paths t reads from its data: {{.a.b}}
// while dot is still the data (not inside range or with, whose dot is
// something else), and {{$.a.b}} anywhere. Fields of variables other than
// $ are not followed.
func TemplateFields(t *template.Template) [][]string {
	var out [][]string
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walkFields(tt.Tree.Root, true, &out)
		}
	}
	return out
}

func walkFields(n parse.Node, dotIsData bool, out *[][]string) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkFields(c, dotIsData, out)
		}
	case *parse.ActionNode:
		walkFields(n.Pipe, dotIsData, out)
	case *parse.TemplateNode:
		walkFields(n.Pipe, dotIsData, out)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, dotIsData, dotIsData, out)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, dotIsData, false, out)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, dotIsData, false, out)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			for _, a := range c.Args {
				walkFields(a, dotIsData, out)
			}
		}
	case *parse.ChainNode:
		walkFields(n.Node, dotIsData, out)
	case *parse.FieldNode:
		if dotIsData {
			*out = append(*out, append([]string(nil), n.Ident...))
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" && len(n.Ident) > 1 {
			*out = append(*out, append([]string(nil), n.Ident[1:]...))
		}
	}
}

func walkBranch(b *parse.BranchNode, dot, inner bool, out *[][]string) {
	walkFields(b.Pipe, dot, out)
	walkFields(b.List, inner, out)
	walkFields(b.ElseList, dot, out) // else runs with dot unchanged
}
