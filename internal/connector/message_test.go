package connector

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanMessage(t *testing.T) {
	if got := CleanMessage("  a\x00b\xffc  ", 100); got != "ab\uFFFDc" {
		t.Fatalf("got %q", got)
	}
	long := strings.Repeat("é", 100) // 2 bytes each
	got := CleanMessage(long, 51)
	if len(got) > 51 || !utf8.ValidString(got) {
		t.Fatalf("cut %d bytes, valid=%v", len(got), utf8.ValidString(got))
	}
}
