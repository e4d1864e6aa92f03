package sheets

import "testing"

func TestA1Helpers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ title, quoted string }{
		{"Leads", "Leads"}, {"Sheet1", "Sheet1"}, {"My Leads", "'My Leads'"}, {"It's", "'It''s'"},
		{"AB12", "'AB12'"}, {"R1C1", "'R1C1'"}, {"2024", "'2024'"}, {"Données", "'Données'"},
	} {
		if got := quoteTitle(tc.title); got != tc.quoted {
			t.Errorf("quoteTitle(%q) = %q, want %q", tc.title, got, tc.quoted)
		}
		c := &Conn{sheet: tc.title}
		id := c.rowID(7)
		if got := c.rowOf(id); got != 7 {
			t.Errorf("rowOf(%q) = %d, want 7", id, got)
		}
	}
	for i, want := range map[int]string{0: "A", 25: "Z", 26: "AA", 701: "ZZ", 702: "AAA"} {
		if got := columnName(i); got != want {
			t.Errorf("columnName(%d) = %q, want %q", i, got, want)
		}
	}
	c := &Conn{sheet: "Leads"}
	for id, want := range map[string]int{
		"Leads!7:7": 7, "'Leads'!7:7": 7, "Leads!A7:F7": 7, "Leads!A7": 7,
		"Other!7:7": 0, "Leads!7:9": 0, "7": 0, "": 0, "Leads!x": 0,
	} {
		if got := c.rowOf(id); got != want {
			t.Errorf("rowOf(%q) = %d, want %d", id, got, want)
		}
	}
}
