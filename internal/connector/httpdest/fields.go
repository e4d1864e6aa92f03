package httpdest

import (
	"text/template"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.PayloadReader = (*Conn)(nil)

// PayloadFields lists the payload fields ({{.Payload.x}}) the URL and
// header templates read, so `sluice check` can refuse one no route to this
// destination sends; the delivery's own fields are checked when the
// template is parsed.
func (c *Conn) PayloadFields() []connector.PayloadField {
	var out []connector.PayloadField
	add := func(option string, t *template.Template) {
		if t == nil {
			return
		}
		for _, p := range connector.TemplateFields(t) {
			if len(p) > 1 && p[0] == "Payload" {
				out = append(out, connector.PayloadField{Option: option, Path: p[1:]})
			}
		}
	}
	add("options.url", c.create.url)
	if c.hasUpdate {
		add("options.update_url", c.update.url)
	}
	if c.lookup != nil {
		add("options.lookup_url", c.lookup.url)
	}
	for _, h := range c.headers {
		add("options.headers."+h.name, h.value)
	}
	return out
}
