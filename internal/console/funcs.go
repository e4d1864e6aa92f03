package console

import (
	"html/template"
	"strconv"
	"strings"
	"time"
)

func itoa(n int) string { return strconv.Itoa(n) }

var funcs = template.FuncMap{
	"ago":  ago,
	"join": strings.Join,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"flash": func(code string) string { return flashes[code] },
	"short": func(s string) string {
		if len(s) > 14 {
			return s[:4] + "…" + s[len(s)-8:]
		}
		return s
	},
	"add":  func(a, b int) int { return a + b },
	"list": func(s ...string) []string { return s },
}
