package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// Names of the template functions. escape is appended to every printing
// action that does not end in escape or raw, the way html/template inserts
// its escapers, so a record value cannot turn into a Slack control sequence
// ("<!channel>" would notify everyone).
const (
	fnEscape = "escape"
	fnRaw    = "raw"
)

var funcs = template.FuncMap{
	fnEscape: escape,
	fnRaw:    plain,
}

// parseTemplate parses one message template: dot is the record's mapped
// payload, a missing key is an error, and values are escaped for Slack.
func parseTemplate(name, src string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, err
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			addEscaper(tt.Tree.Root)
		}
	}
	return t, nil
}

func addEscaper(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			addEscaper(c)
		}
	case *parse.IfNode:
		addEscaper(n.List)
		addEscaper(n.ElseList)
	case *parse.RangeNode:
		addEscaper(n.List)
		addEscaper(n.ElseList)
	case *parse.WithNode:
		addEscaper(n.List)
		addEscaper(n.ElseList)
	case *parse.ActionNode:
		p := n.Pipe
		if p == nil || len(p.Decl) > 0 || len(p.Cmds) == 0 {
			return // assignments print nothing
		}
		last := p.Cmds[len(p.Cmds)-1]
		if len(last.Args) > 0 {
			if id, ok := last.Args[0].(*parse.IdentifierNode); ok && (id.Ident == fnEscape || id.Ident == fnRaw) {
				return
			}
		}
		p.Cmds = append(p.Cmds, &parse.CommandNode{
			NodeType: parse.NodeCommand,
			Pos:      n.Pos,
			Args:     []parse.Node{parse.NewIdentifier(fnEscape).SetPos(n.Pos)},
		})
	}
}

// plain prints a value: nil (a JSON null) as nothing, numbers in plain
// decimal (an ID of 12345678 must not become 1.2345678e+07).
func plain(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32)
	case json.Number:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape prints a value with the three characters Slack reserves for
// control sequences (mentions, links) escaped, as Slack's formatting
// reference asks.
func escape(v any) string { return slackEscaper.Replace(plain(v)) }

func execute(t *template.Template, data any) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// blocksTemplate is a Block Kit array whose string values are templates;
// keys, numbers and booleans are literal, so whatever a record holds the
// rendered blocks stay well-formed JSON.
type blocksTemplate struct {
	tree  any // map[string]any, []any, *template.Template or a literal
	count int
}

// compileBlocks reads the blocks option: a JSON array of block objects, or
// a string holding one.
func compileBlocks(raw json.RawMessage) (*blocksTemplate, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if s, ok := v.(string); ok {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("not a JSON array of blocks: %w", err)
		}
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be an array of blocks, got %s", jsonKind(v))
	}
	if len(list) > MaxBlocks {
		return nil, fmt.Errorf("%d blocks; Slack takes at most %d in one message", len(list), MaxBlocks)
	}
	for i, b := range list {
		if _, ok := b.(map[string]any); !ok {
			return nil, fmt.Errorf("[%d]: must be a block object, got %s", i, jsonKind(b))
		}
	}
	tree, err := compileNode(v, "")
	if err != nil {
		return nil, err
	}
	return &blocksTemplate{tree: tree, count: len(list)}, nil
}

func compileNode(v any, path string) (any, error) {
	switch v := v.(type) {
	case string:
		t, err := parseTemplate("blocks"+path, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return t, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			c, err := compileNode(e, path+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			c, err := compileNode(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		return v, nil
	}
}

func (b *blocksTemplate) render(data any) (any, error) { return renderNode(b.tree, data) }

func renderNode(n any, data any) (any, error) {
	switch n := n.(type) {
	case *template.Template:
		return execute(n, data)
	case map[string]any:
		out := make(map[string]any, len(n))
		for k, e := range n {
			v, err := renderNode(e, data)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case []any:
		out := make([]any, len(n))
		for i, e := range n {
			v, err := renderNode(e, data)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	default:
		return n, nil
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}
