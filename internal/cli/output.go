package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// writeRaw prints a JSON answer as the server sent it, ending with one
// newline, so --json output can be piped to jq.
func writeRaw(w io.Writer, raw []byte) {
	raw = bytes.TrimRight(raw, "\n")
	w.Write(raw)
	io.WriteString(w, "\n")
}

// table writes aligned columns; the first row is the header. Cells are
// folded to one line so a multi-line platform error cannot break the
// layout, and on a terminal the widest columns are shortened (with "…")
// until a row fits its width, so lines do not wrap into each other.
func table(w io.Writer, indent string, rows [][]string) {
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = make([]string, len(r))
		for j, c := range r {
			cells[i][j] = oneLine(c)
			if cells[i][j] == "" {
				cells[i][j] = "-"
			}
		}
	}
	if width := termWidth(w); width > 0 {
		fit(cells, width-len(indent))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range cells {
		fmt.Fprintln(tw, indent+strings.Join(r, "\t"))
	}
	tw.Flush()
}

// minColumn is the narrowest a column is shortened to.
const minColumn = 8

// fit shortens the widest column but the first, one character at a time,
// until the columns (two spaces apart) fit width or every column is at
// minColumn.
func fit(rows [][]string, width int) {
	var widths []int
	for _, r := range rows {
		for j, c := range r {
			if j >= len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], utf8.RuneCountInString(c))
		}
	}
	total := func() int {
		n := 2 * (len(widths) - 1)
		for _, w := range widths {
			n += w
		}
		return n
	}
	// The first column is an ID or a name to copy: it is never shortened.
	for total() > width && len(widths) > 1 {
		widest := 1
		for j := 2; j < len(widths); j++ {
			if widths[j] > widths[widest] {
				widest = j
			}
		}
		if widths[widest] <= minColumn {
			break
		}
		widths[widest]--
	}
	for _, r := range rows {
		for j := range r {
			r[j] = truncate(r[j], widths[j])
		}
	}
}

// termWidth is the width of the terminal w writes to, 0 when w is not a
// terminal (a pipe or a file gets full lines). $COLUMNS, when set, wins.
var termWidth = func(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// fmtTime shows a time in UTC to the second, with how long ago (or how
// soon) it is beside it: "2026-12-07 12:00:00Z (5m ago)"; zero is "-".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z") + " (" + relative(t, timeNow()) + ")"
}

// timeNow is the clock relative times are measured from.
var timeNow = time.Now

// relative says how far t is from now in its largest unit: "12s ago",
// "5m ago", "3h ago", "2d ago", "in 4m", "now".
func relative(t, now time.Time) string {
	d := now.Sub(t)
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, ""
	}
	var s string
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	if suffix == "" {
		return "in " + s
	}
	return s + suffix
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 1 {
		return s
	}
	return string(r[:n-1]) + "…"
}

func itoaOrDash(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// indentJSON pretty-prints raw with prefix on every line; raw that is not
// JSON is returned as text.
func indentJSON(raw json.RawMessage, prefix string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, prefix, "  "); err != nil {
		return prefix + string(raw)
	}
	return prefix + b.String()
}

// decodeList reads a JSON array of strings, tolerating null and absence.
func decodeList(raw json.RawMessage) []string {
	var out []string
	_ = json.Unmarshal(raw, &out)
	return out
}

// stateOrder lists event and delivery states in pipeline order, so counts
// read the way work flows; unknown states follow alphabetically.
var stateOrder = []string{"rejected", "held", "waiting", "pending", "inflight", "delivering", "succeeded", "delivered", "escalated", "cancelled", "discarded"}

func sortedStates(m map[string]int64) []string {
	rank := map[string]int{}
	for i, s := range stateOrder {
		rank[s] = i + 1
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := rank[keys[i]], rank[keys[j]]
		if ri == 0 {
			ri = len(stateOrder) + 1
		}
		if rj == 0 {
			rj = len(stateOrder) + 1
		}
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	return keys
}
