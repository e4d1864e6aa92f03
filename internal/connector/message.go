package connector

import (
	"strings"
	"unicode/utf8"
)

// CleanMessage makes a platform's message storable in an Error, the audit
// log and both databases: valid UTF-8, no NUL bytes (PostgreSQL refuses
// them), trimmed, and at most max bytes cut on a rune boundary. Connectors
// redact their own credentials first.
func CleanMessage(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimSpace(s[:cut])
}
