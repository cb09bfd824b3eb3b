package events

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestContentRules: every place text enters a structured or binary event
// is held to the CPR and control-character rules, and numbers to the
// no-exponent rule, each answered with its pointer.
func TestContentRules(t *testing.T) {
	t.Parallel()
	const base = `{"specversion":"1.0","id":"ID","source":"SRC","type":"dk.kk.jobogfamilie.praktik.started.v1","subject":"SUB","time":"2024-01-15T09:00:00Z"EXT,"data":{"praktikId":"PR1","personId":"P1","employer":"12345678","hoursPerWeek":HOURS,"plannedEnd":"2024-06-30"}}`
	// build fills in base: the pairs given first, the defaults for the
	// placeholders left.
	build := func(pairs ...string) string {
		s := strings.NewReplacer(pairs...).Replace(base)
		return strings.NewReplacer("ID", "e1", "SRC", "/departments/bif", "SUB", "F1", "EXT", "", "HOURS", "10").Replace(s)
	}
	for _, c := range []struct {
		name, doc, pointer string
	}{
		{"valid", build(), ""},
		{"valid extension", build("EXT", `,"ref":"9999991234"`), ""},
		{"id", build("ID", "0101901234"), "/id"},
		{"id with hyphen", build("ID", "010190-1234"), "/id"},
		{"source system", build("SRC", "/departments/bif/0101901234"), "/source"},
		{"subject", build("SUB", "F0101901234"), "/subject"},
		{"extension", build("EXT", `,"cpr":"0101901234"`), "/cpr"},
		{"integer extension", build("EXT", `,"cpr":1501901234`), "/cpr"},
		{"extension control", build("EXT", `,"note":"a\u0007b"`), "/note"},
		{"subject control", build("SUB", `F1\u0000`), "/subject"},
		{"data en dash", strings.Replace(build(), `"PR1"`, `"010190–1234"`, 1), "/data/praktikId"},
		{"data NUL", strings.Replace(build(), `"12345678"`, `"1234\u00005678"`, 1), "/data/employer"},
		{"exponent", build("HOURS", "1e1"), "/data/hoursPerWeek"},
		{"exponent upper", build("HOURS", "10E0"), "/data/hoursPerWeek"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ev, err := ParseStructured([]byte(c.doc))
			if err == nil {
				_, err = Validate(ev)
			}
			if c.pointer == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid {
				t.Fatalf("got %v, want an invalid event at %s", err, c.pointer)
			}
			found := false
			for _, p := range e.Problems {
				found = found || p.Pointer == c.pointer
				if strings.Contains(p.Detail, "0101") || strings.Contains(p.Pointer, "0101") {
					t.Errorf("the answer repeats the value: %+v", p)
				}
			}
			if !found {
				t.Errorf("problems %+v, want one at %s", e.Problems, c.pointer)
			}
		})
	}

	t.Run("binary header", func(t *testing.T) {
		t.Parallel()
		h := http.Header{}
		for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": "b1", "ce-source": "/departments/bif", "ce-type": "dk.kk.jobogfamilie.praktik.started.v1", "ce-subject": "F1", "ce-time": "2024-01-15T09:00:00Z", "ce-cpr": "010190 1234", "Content-Type": "application/json"} {
			h.Set(k, v)
		}
		ev, err := FromBinary(h, []byte(`{"praktikId":"PR1","personId":"P1","employer":"12345678","hoursPerWeek":10}`))
		if err == nil {
			_, err = Validate(ev)
		}
		var e *Error
		if !errors.As(err, &e) || len(e.Problems) != 1 || e.Problems[0].Pointer != "/cpr" {
			t.Fatalf("got %v, want one problem at /cpr", err)
		}
	})
}

// TestPNumberAndTheCPRRule: a P-number is an id, and DOMAIN.md refuses any
// id that may be a CPR number. The detector refuses a P-number whose first
// six digits read as a date (DDMMYY), and only that one.
func TestPNumberAndTheCPRRule(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pNumber string
		refused bool
	}{
		{"1000123456", false}, // month 00: no date
		{"1013456789", false}, // month 13
		{"1032000001", false}, // day 10, month 32
		{"1012345678", true},  // 10 December (19)34 or (20)34
		{"1001000000", true},  // 10 January (19)00
		{"3102991234", false}, // 31 February
	} {
		t.Run(c.pNumber, func(t *testing.T) {
			t.Parallel()
			doc := `{"specversion":"1.0","id":"p1","source":"/departments/bif","type":"dk.kk.jobogfamilie.praktik.started.v2","subject":"F1","time":"2024-01-15T09:00:00Z","data":{"praktikId":"PR1","personId":"P1","employer":{"cvr":"12345678","pNumber":"` + c.pNumber + `"},"hoursPerWeek":10}}`
			ev, err := ParseStructured([]byte(doc))
			if err == nil {
				_, err = Validate(ev)
			}
			if !c.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid || len(e.Problems) != 1 ||
				e.Problems[0].Pointer != "/data/employer/pNumber" || e.Problems[0].Detail != detailCPR {
				t.Fatalf("got %v, want one CPR problem at /data/employer/pNumber", err)
			}
		})
	}
}

// TestFreeTextCPRNotations: a CPR number in a free-text field is refused in
// every notation the catalog names, whichever Unicode dash, white space or
// invisible character stands between the digits.
func TestFreeTextCPRNotations(t *testing.T) {
	t.Parallel()
	for name, note := range map[string]string{
		"plain hyphen":                     "ring 010190-1234",
		"U+058A Armenian hyphen":           "ring 010190\u058a1234",
		"U+2E3A two-em dash":               "ring 010190\u2e3a1234",
		"U+301C wave dash":                 "ring 010190\u301c1234",
		"tab":                              "ring 010190\t1234",
		"newline":                          "ring 010190\n1234",
		"U+FE00 variation selector":        "ring 0101\ufe00901234",
		"U+034F combining grapheme joiner": "ring 0101\u034f901234",
		"U+3164 Hangul filler":             "ring 0101\u3164901234",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ev := praktikEvent()
			ev["type"] = "dk.kk.jobogfamilie.evaluation.recorded.v1"
			ev["source"] = "/departments/sof"
			ev["data"] = map[string]any{"kind": "midway", "note": note}
			_, err := testValidator.Validate(mustParse(t, ev))
			e := asError(t, err, KindInvalid, "/data/note")
			if d := detailAt(e, "/data/note"); d != detailCPR {
				t.Errorf("detail at /data/note = %q, want %q", d, detailCPR)
			}
		})
	}
}
