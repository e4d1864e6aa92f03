package httpdest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/sluicehq/sluice/internal/connector"
)

// Names of the template functions. urlescape and text are appended to every
// printing action of URL and header templates respectively, the way
// html/template inserts its escapers, so a record value can neither change
// the shape of a URL nor print "<no value>".
const (
	fnURLEscape = "urlescape"
	fnText      = "text"
	fnRaw       = "raw"
)

var funcs = template.FuncMap{
	fnURLEscape: urlEscape,
	fnText:      text,
	// raw opts a URL value out of escaping, for a field that holds a path.
	fnRaw: text,
}

// errNoValue is what a template reports for a missing payload field: writing
// "<no value>" into a URL or header would deliver somewhere wrong silently.
var errNoValue = errors.New("no value (missing field?)")

// parseTemplate parses a URL (esc = fnURLEscape) or header (esc = fnText)
// template and inserts esc at the end of every printing action that does not
// already end in an escaper.
func parseTemplate(name, src, esc string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, err
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if err := checkFields(tt.Tree.Root, true); err != nil {
			return nil, err
		}
		addEscaper(tt.Tree.Root, esc)
	}
	return t, nil
}

// deliveryFields are the names a template may read from the delivery;
// text/template only finds a misspelt field when it executes, which would
// fail every delivery instead of `sluice check`.
var deliveryFields = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[connector.Delivery]()
	for i := range t.NumField() {
		m[t.Field(i).Name] = true
	}
	delete(m, "Raw") // the engine's transport of Payload, not a field to render
	return m
}()

// readsPayload reports whether a template may read the delivery's
// payload: it names Payload anywhere, or uses dot or $ whole (which could
// hand the payload to a function or print it). Conservative: a template
// that passes a nested value around is counted as reading it. A
// connection whose templates read no payload sends the stored JSON as it
// is (connector.RawSender).
func readsPayload(t *template.Template) bool {
	if t == nil {
		return false
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil && nodeReadsPayload(tt.Tree.Root) {
			return true
		}
	}
	return false
}

func nodeReadsPayload(n parse.Node) bool {
	switch n := n.(type) {
	case nil:
		return false
	case *parse.ListNode:
		if n == nil {
			return false
		}
		for _, c := range n.Nodes {
			if nodeReadsPayload(c) {
				return true
			}
		}
		return false
	case *parse.ActionNode:
		return nodeReadsPayload(n.Pipe)
	case *parse.TemplateNode:
		return nodeReadsPayload(n.Pipe)
	case *parse.IfNode:
		return branchReadsPayload(&n.BranchNode)
	case *parse.RangeNode:
		return branchReadsPayload(&n.BranchNode)
	case *parse.WithNode:
		return branchReadsPayload(&n.BranchNode)
	case *parse.PipeNode:
		if n == nil {
			return false
		}
		for _, c := range n.Cmds {
			if nodeReadsPayload(c) {
				return true
			}
		}
		return false
	case *parse.CommandNode:
		for _, a := range n.Args {
			if nodeReadsPayload(a) {
				return true
			}
		}
		return false
	case *parse.ChainNode:
		return slices.Contains(n.Field, "Payload") || nodeReadsPayload(n.Node)
	case *parse.FieldNode:
		return slices.Contains(n.Ident, "Payload")
	case *parse.VariableNode:
		return len(n.Ident) == 1 && n.Ident[0] == "$" || slices.Contains(n.Ident, "Payload")
	case *parse.DotNode:
		return true
	case *parse.TextNode, *parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode,
		*parse.IdentifierNode, *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
		return false
	}
	return true // a node kind not listed here: assume it reads
}

func branchReadsPayload(b *parse.BranchNode) bool {
	return nodeReadsPayload(b.Pipe) || nodeReadsPayload(b.List) || nodeReadsPayload(b.ElseList)
}

// checkFields verifies field references on the delivery: {{.X}} while dot is
// still the delivery (not inside range or with), and {{$.X}} anywhere.
func checkFields(n parse.Node, dotIsDelivery bool) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkFields(c, dotIsDelivery); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkFields(n.Pipe, dotIsDelivery)
	case *parse.TemplateNode:
		return checkFields(n.Pipe, dotIsDelivery)
	case *parse.IfNode:
		return checkBranch(&n.BranchNode, dotIsDelivery, dotIsDelivery)
	case *parse.RangeNode:
		return checkBranch(&n.BranchNode, dotIsDelivery, false)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode, dotIsDelivery, false)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			for _, a := range c.Args {
				if err := checkFields(a, dotIsDelivery); err != nil {
					return err
				}
			}
		}
	case *parse.FieldNode:
		if dotIsDelivery && !deliveryFields[n.Ident[0]] {
			return fmt.Errorf("no field %q in the delivery", n.Ident[0])
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" && len(n.Ident) > 1 && !deliveryFields[n.Ident[1]] {
			return fmt.Errorf("no field %q in the delivery", n.Ident[1])
		}
	}
	return nil
}

func checkBranch(b *parse.BranchNode, dot, inner bool) error {
	if err := checkFields(b.Pipe, dot); err != nil {
		return err
	}
	if err := checkFields(b.List, inner); err != nil {
		return err
	}
	// else runs with dot unchanged.
	return checkFields(b.ElseList, dot)
}

func addEscaper(n parse.Node, esc string) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			addEscaper(c, esc)
		}
	case *parse.IfNode:
		addEscaper(n.List, esc)
		addEscaper(n.ElseList, esc)
	case *parse.RangeNode:
		addEscaper(n.List, esc)
		addEscaper(n.ElseList, esc)
	case *parse.WithNode:
		addEscaper(n.List, esc)
		addEscaper(n.ElseList, esc)
	case *parse.ActionNode:
		p := n.Pipe
		if p == nil || len(p.Decl) > 0 || len(p.Cmds) == 0 {
			return // assignments print nothing
		}
		switch lastIdent(p) {
		case fnURLEscape, fnText, fnRaw, "urlquery":
			return
		}
		p.Cmds = append(p.Cmds, &parse.CommandNode{
			NodeType: parse.NodeCommand,
			Pos:      n.Pos,
			Args:     []parse.Node{parse.NewIdentifier(esc).SetPos(n.Pos)},
		})
	}
}

func lastIdent(p *parse.PipeNode) string {
	cmd := p.Cmds[len(p.Cmds)-1]
	if len(cmd.Args) == 0 {
		return ""
	}
	if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok {
		return id.Ident
	}
	return ""
}

// text prints a template value, refusing nil. Numbers decoded from JSON print
// in plain decimal: an ID of 12345678 must not become 1.2345678e+07.
func text(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", errNoValue
	case string:
		return v, nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), nil
	case json.Number:
		return v.String(), nil
	default:
		return fmt.Sprint(v), nil
	}
}

// urlEscape percent-encodes everything but RFC 3986 unreserved characters,
// which is safe in a path segment and in a query value alike, and encodes "."
// and ".." whole so a record key cannot climb the path.
func urlEscape(v any) (string, error) {
	s, err := text(v)
	if err != nil {
		return "", err
	}
	if s == "." || s == ".." {
		return strings.Repeat("%2E", len(s)), nil
	}
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&15])
	}
	return b.String(), nil
}

// fixedOrigin returns the scheme and host a URL template always renders,
// and errors unless they are literal text: record data must not choose where
// Sluice sends a bearer token. userinfo is returned so its password can be
// redacted.
func fixedOrigin(t *template.Template) (origin string, user *url.Userinfo, err error) {
	nodes := t.Tree.Root.Nodes
	lead := ""
	if len(nodes) > 0 {
		if tn, ok := nodes[0].(*parse.TextNode); ok {
			lead = string(tn.Text)
		}
	}
	scheme, rest, ok := strings.Cut(lead, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "http" && scheme != "https") {
		return "", nil, errors.New("must start with http:// or https://")
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	} else if len(nodes) > 1 {
		return "", nil, errors.New("host must be literal text, followed by / or ? before any {{action}}")
	}
	u, err := url.Parse(scheme + "://" + authority)
	if err != nil || u.Host == "" {
		return "", nil, errors.New("has no valid host")
	}
	return u.Scheme + "://" + u.Host, u.User, nil
}

// literalText is the text a template prints when it has no actions: it
// then prints the same whatever the delivery.
func literalText(t *template.Template) (string, bool) {
	if len(t.Templates()) != 1 || t.Tree == nil || t.Tree.Root == nil {
		return "", false
	}
	var b strings.Builder
	for _, n := range t.Tree.Root.Nodes {
		tn, ok := n.(*parse.TextNode)
		if !ok {
			return "", false
		}
		b.Write(tn.Text)
	}
	return b.String(), true
}
