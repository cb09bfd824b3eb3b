package readmodel

import (
	"strings"
	"testing"
)

// TestColumnDiffWithholdsPersonalValues: a difference in a column that may
// hold a family's personal data names the column (and the JSON pointer
// within it) with the length and a keyed hash of each side, never the
// values; every other column quotes both.
func TestColumnDiffWithholdsPersonalValues(t *testing.T) {
	const secret, other = "Bekymring om barnets trivsel", "Anden tekst"
	personal := map[string]bool{}
	for _, tbl := range digestTables {
		cols := columns[tbl.tag]
		if len(cols) != tbl.cols {
			t.Fatalf("%s: %d column names for %d columns", tbl.tag, len(cols), tbl.cols)
		}
		for i, col := range cols {
			d := columnDiff(tbl, i, []byte(secret), []byte(other))
			if !strings.HasPrefix(d, col.name+" differs") {
				t.Errorf("%s.%s: %q does not name the column", tbl.tag, col.name, d)
			}
			quotes := strings.Contains(d, secret) || strings.Contains(d, other)
			if col.personal {
				personal[tbl.tag+"."+col.name] = true
				if quotes || !strings.Contains(d, "live 28 bytes #") || !strings.Contains(d, "replay 11 bytes #") {
					t.Errorf("%s.%s (personal): %q", tbl.tag, col.name, d)
				}
			} else if !strings.Contains(d, `live "`+secret+`", replay "`+other+`"`) {
				t.Errorf("%s.%s: %q does not quote both values", tbl.tag, col.name, d)
			}
		}
	}
	for _, c := range []string{"timeline.title", "timeline.data", "families.overview", "families.consents", "quarantine.reason", "quarantine.raw"} {
		if !personal[c] {
			t.Errorf("%s is not marked personal", c)
		}
	}

	// Within JSON: the pointer, not the values.
	timeline, families := digestTables[1], digestTables[2]
	d := columnDiff(timeline, 8, []byte(`{"reason":"`+secret+`"}`), []byte(`{"reason":"`+other+`"}`))
	if strings.Contains(d, secret) || strings.Contains(d, other) || !strings.HasPrefix(d, "data differs at /reason: live 30 bytes #") {
		t.Errorf("data: %q", d)
	}
	d = columnDiff(families, 2, []byte(`{"goals":[]}`), []byte(`{"goals":[{"description":"`+secret+`"}]}`))
	if strings.Contains(d, secret) || !strings.HasPrefix(d, "overview differs at /goals/0: live (absent), replay ") {
		t.Errorf("overview: %q", d)
	}
	// A refused message is not located by its member names.
	quarantine := digestTables[4]
	d = columnDiff(quarantine, 3, []byte(`{"`+secret+`":1}`), []byte(`{"`+other+`":1}`))
	if strings.Contains(d, secret) || strings.Contains(d, other) || !strings.HasPrefix(d, "raw differs: live ") {
		t.Errorf("raw: %q", d)
	}

	// The same value has the same fingerprint, another value another.
	if a, b, c := fingerprint(secret), fingerprint(secret), fingerprint(other); a != b || a == c {
		t.Errorf("fingerprints %s %s %s", a, b, c)
	}
}
