package cli

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestRelativeTimes(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{now, "now"},
		{now.Add(-12 * time.Second), "12s ago"},
		{now.Add(-5 * time.Minute), "5m ago"},
		{now.Add(-3 * time.Hour), "3h ago"},
		{now.Add(-72 * time.Hour), "3d ago"},
		{now.Add(4 * time.Minute), "in 4m"},
	} {
		if got := relative(c.at, now); got != c.want {
			t.Errorf("relative(%s) = %q, want %q", c.at, got, c.want)
		}
	}
}

func TestTableFitsWidth(t *testing.T) {
	rows := [][]string{
		{"ID", "STATE", "REASON"},
		{"evt_01KBX0000000000000000000", "escalated", strings.Repeat("the destination refused the record ", 4)},
	}
	fit(rows, 60)
	for _, r := range rows {
		n := 2 * (len(r) - 1)
		for _, c := range r {
			n += utf8.RuneCountInString(c)
		}
		if n > 60 {
			t.Fatalf("row %q is %d wide, want at most 60", r, n)
		}
	}
	if !strings.HasSuffix(rows[1][2], "…") || rows[1][0] != "evt_01KBX0000000000000000000" {
		t.Fatalf("the widest column should be shortened first: %q", rows[1])
	}
}
