package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
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
// layout.
func table(w io.Writer, indent string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = oneLine(c)
			if cells[i] == "" {
				cells[i] = "-"
			}
		}
		fmt.Fprintln(tw, indent+strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// fmtTime shows a time in UTC to the second; zero is "-".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
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
