package sheets

import (
	"fmt"
	"sort"
	"strings"
)

// storedRows renders every stored row of sh (header included), unformatted,
// without trailing empty cells or rows, ignoring faults. s.mu must be held.
func storedRows(sh *sheet) [][]any {
	out := [][]any{}
	for r := 0; r < len(sh.rows); r++ {
		line := []any{}
		if rw := sh.rows[r]; rw != nil {
			end := 0
			for c, x := range rw.cells {
				if !x.empty() {
					end = c + 1
				}
			}
			for _, x := range rw.cells[:end] {
				line = append(line, x.render(renderRaw))
			}
		}
		out = append(out, line)
	}
	for len(out) > 0 && len(out[len(out)-1]) == 0 {
		out = out[:len(out)-1]
	}
	return out
}

// records is GET /_sim/records: every spreadsheet's tabs as rows of
// unformatted values, header first.
func (s *Server) records() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string][][]any{}
	for id, b := range s.books {
		tabs := map[string][][]any{}
		for _, sh := range b.sheets {
			tabs[sh.title] = storedRows(sh)
		}
		out[id] = tabs
	}
	return out
}

func (s *Server) sheetLocked(spreadsheetID, title string) (*sheet, error) {
	b := s.books[spreadsheetID]
	if b == nil {
		return nil, fmt.Errorf("no spreadsheet %q", spreadsheetID)
	}
	sh := b.sheet(title)
	if sh == nil {
		return nil, fmt.Errorf("spreadsheet %q has no sheet %q", spreadsheetID, title)
	}
	return sh, nil
}

// Rows returns the stored rows of a tab, header first, as unformatted
// values (strings, float64, bool), ignoring faults; nil when the tab does
// not exist.
func (s *Server) Rows(spreadsheetID, title string) [][]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, err := s.sheetLocked(spreadsheetID, title)
	if err != nil {
		return nil
	}
	return storedRows(sh)
}

// Record is one data row of a tab keyed by its header cells.
type Record struct {
	// Row is the 1-based row number.
	Row    int
	Values map[string]any
}

// Records returns the non-empty rows below the header of a tab, keyed by
// header cell (columns without a header are left out), in row order,
// ignoring faults.
func (s *Server) Records(spreadsheetID, title string) []Record {
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
	var out []Record
	for r := 1; r < len(sh.rows); r++ {
		if sh.rows[r] == nil {
			continue
		}
		rec := Record{Row: r + 1, Values: map[string]any{}}
		for c, x := range sh.rows[r].cells {
			if x.empty() || c >= len(header) || header[c] == "" {
				continue
			}
			if _, dup := rec.Values[header[c]]; !dup {
				rec.Values[header[c]] = x.render(renderRaw)
			}
		}
		if len(rec.Values) > 0 {
			out = append(out, rec)
		}
	}
	return out
}

// InsertRows inserts n empty rows before 1-based row before, as a person
// (or another program) inserting rows does: every row from there moves
// down n.
func (s *Server) InsertRows(spreadsheetID, title string, before, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, err := s.sheetLocked(spreadsheetID, title)
	if err != nil {
		return err
	}
	if before < 1 || before > sh.rowCount+1 || n < 1 {
		return fmt.Errorf("insert %d rows before row %d: outside the grid of %d rows", n, before, sh.rowCount)
	}
	sh.insertRows(before-1, n)
	return nil
}

// DeleteRows deletes n rows from 1-based row from.
func (s *Server) DeleteRows(spreadsheetID, title string, from, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, err := s.sheetLocked(spreadsheetID, title)
	if err != nil {
		return err
	}
	if from < 1 || n < 1 || from-1+n > sh.rowCount {
		return fmt.Errorf("delete %d rows from row %d: outside the grid of %d rows", n, from, sh.rowCount)
	}
	s.dropKeys(sh.deleteRows(from-1, from-1+n))
	if from == 1 {
		s.rekeyAll(sh)
	}
	return nil
}

// SetValues writes values RAW at the A1 range a1 (its top-left cell is the
// anchor), as a person typing would: no quota, no faults. Go ints and
// floats are numbers, nil leaves a cell as it is and "" clears it.
func (s *Server) SetValues(spreadsheetID, a1 string, values [][]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.books[spreadsheetID]
	if b == nil {
		return fmt.Errorf("no spreadsheet %q", spreadsheetID)
	}
	conv := make([][]any, len(values))
	for i, line := range values {
		conv[i] = make([]any, len(line))
		for j, x := range line {
			conv[i][j] = jsonValue(x)
		}
	}
	v, bd, err := s.resolve(b, a1)
	if err != nil {
		return err
	}
	anchor := fmt.Sprintf("%s!%s%d", quoteTitle(v.sh.title), columnName(bd.c0), bd.r0+1)
	pw, err := s.plan(b, anchor, valueRange{Values: conv}, inputRaw)
	if err != nil {
		return err
	}
	s.apply(spreadsheetID, pw)
	return nil
}

// SheetTitles lists the tabs of a spreadsheet in order.
func (s *Server) SheetTitles(spreadsheetID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.books[spreadsheetID]
	if b == nil {
		return nil
	}
	out := make([]string, len(b.sheets))
	for i, sh := range b.sheets {
		out[i] = sh.title
	}
	return out
}

// SpreadsheetIDs lists the spreadsheets, sorted.
func (s *Server) SpreadsheetIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.books))
	for id := range s.books {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
