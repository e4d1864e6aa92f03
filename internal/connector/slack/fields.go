package slack

import (
	"sort"
	"strconv"
	"text/template"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.PayloadReader = (*Conn)(nil)

// PayloadFields lists the payload fields the text and blocks templates
// read, so `sluice check` can refuse a template that names a field no route
// to this destination sends (which would fail every message at run time).
func (c *Conn) PayloadFields() []connector.PayloadField {
	var out []connector.PayloadField
	if c.text != nil {
		for _, p := range connector.TemplateFields(c.text) {
			out = append(out, connector.PayloadField{Option: "options.text", Path: p})
		}
	}
	if c.blocks != nil {
		out = blockFields(c.blocks.tree, "options.blocks", out)
	}
	return out
}

func blockFields(n any, at string, out []connector.PayloadField) []connector.PayloadField {
	switch n := n.(type) {
	case *template.Template:
		for _, p := range connector.TemplateFields(n) {
			out = append(out, connector.PayloadField{Option: at, Path: p})
		}
	case map[string]any:
		keys := make([]string, 0, len(n))
		for k := range n {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = blockFields(n[k], at+"."+k, out)
		}
	case []any:
		for i, e := range n {
			out = blockFields(e, at+"["+strconv.Itoa(i)+"]", out)
		}
	}
	return out
}
