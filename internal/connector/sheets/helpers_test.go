package sheets_test

import (
	sheetssim "github.com/sluicehq/sluice/internal/sim/sheets"
)

const (
	token  = "ya29.a0AfB_test-access-token-0123456789"
	bookID = "1xSluiceTestSpreadsheetID"
)

func leadsBook() sheetssim.Spreadsheet {
	return sheetssim.Spreadsheet{ID: bookID, Title: "CRM", Sheets: []sheetssim.Sheet{
		{Title: "Leads", Header: []string{"email", "name", "score", "notes"}},
	}}
}

// countKey counts the rows of Leads whose email is key.
func countKey(s *sheetssim.Server, key string) int {
	n := 0
	for _, r := range s.Records(bookID, "Leads") {
		if r.Values["email"] == key {
			n++
		}
	}
	return n
}
