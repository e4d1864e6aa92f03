package sheets

import (
	"strconv"
	"strings"
)

// Formulas returns, for a tab, the cells that hold formulas, as
// "<header>@<row>" -> formula text: what a test checks to prove that data
// written with USER_ENTERED stayed text. Faults are ignored.
func (s *Server) Formulas(spreadsheetID, title string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, err := s.sheetLocked(spreadsheetID, title)
	if err != nil {
		return nil
	}
	var header []string
	for c := 0; c < sh.colCount; c++ {
		header = append(header, strings.TrimSpace(sh.get(0, c).formatted()))
	}
	out := map[string]string{}
	for r := 1; r < len(sh.rows); r++ {
		if sh.rows[r] == nil {
			continue
		}
		for c, x := range sh.rows[r].cells {
			if x.kind == 'f' && c < len(header) {
				out[header[c]+"@"+strconv.Itoa(r+1)] = x.s
			}
		}
	}
	return out
}
