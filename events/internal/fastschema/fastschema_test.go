package fastschema

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestIsDateIsTimeParse holds IsDate to what jsonschema v6 does for format
// "date": time.Parse("2006-01-02", s).
func TestIsDateIsTimeParse(t *testing.T) {
	t.Parallel()
	check := func(y, m, d int) {
		b := fmt.Appendf(nil, "%04d-%02d-%02d", y, m, d)
		_, err := time.Parse("2006-01-02", string(b))
		if got := IsDate(b); got != (err == nil) {
			t.Fatalf("IsDate(%s) = %v, time.Parse: %v", b, got, err)
		}
	}
	// Every month and day of the years of the leap rule's cases ...
	for _, y := range []int{0, 1, 4, 100, 400, 1600, 1900, 2000, 2023, 2024, 2100, 2400, 9996, 9999} {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				check(y, m, d)
			}
		}
	}
	// ... and the days around the ends of February and of the year in every
	// year, which is all the year decides.
	for y := range 10000 {
		for _, md := range [][2]int{{1, 0}, {1, 1}, {2, 28}, {2, 29}, {2, 30}, {12, 31}, {12, 32}, {13, 1}} {
			check(y, md[0], md[1])
		}
	}
	for _, s := range []string{"", "2024-01-0", "2024-01-011", "+024-01-01", "-024-01-01", "2024/01/01", "2024-01-01 ",
		" 2024-01-01", "2024-1-01", "2024-01-1", "२०२४-01-01", "2024-0a-01", "20240-1-01"} {
		_, err := time.Parse("2006-01-02", s)
		if got := IsDate([]byte(s)); got != (err == nil) {
			t.Errorf("IsDate(%q) = %v, time.Parse: %v", s, got, err)
		}
	}
}

// FuzzRuneCount holds runeCount to utf8.RuneCount on valid UTF-8.
func FuzzRuneCount(f *testing.F) {
	for _, s := range []string{"", "abc", "æøå", "a€b😀c", strings.Repeat("Ære være ", 10)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if utf8.ValidString(s) && runeCount([]byte(s)) != utf8.RuneCountInString(s) {
			t.Fatalf("%q: runeCount %d, utf8 %d", s, runeCount([]byte(s)), utf8.RuneCountInString(s))
		}
	})
}

