package events

import (
	"regexp"
	"strings"
	"testing"
)

var patternSamples = []string{
	"", "a", "A-z_09", "-", "ab-", "-ab", "0123456789", "012345-6789", "012345-678", "01234-56789",
	"x0123456789", "0123456789x", "x0123456789x", "01234567890", "1234567890123",
	"tlf 012345-6789.", "012345 6789", "nr.0123456789", "123456-12345", "1123456-1234",
	"2024-05-01", "2024-5-01", "20240501", "2024-05-011", "12345678", "1234567", "123456789",
	"kk-sof", "kk-", "Kk", "a\xffb", "æøå", "0123456789\n", "\n0123456789", "012345-\u00e66789",
	strings.Repeat("a", 64), strings.Repeat("a", 65), "a" + strings.Repeat("-", 63), "a" + strings.Repeat("-", 64),
	"123456-1234-123456-1234", "12345612345-1234", "x123456-1234\xff",
}

// TestPatternMatchers: each hand-written matcher answers as the regexp of
// its pattern.
func TestPatternMatchers(t *testing.T) {
	for pattern, match := range patternMatchers {
		re := regexp.MustCompile(pattern)
		for _, s := range patternSamples {
			if got, want := match([]byte(s)), re.MatchString(s); got != want {
				t.Errorf("%s on %q: %v, regexp %v", pattern, s, got, want)
			}
		}
	}
}

func FuzzPatternMatchers(f *testing.F) {
	for _, s := range patternSamples {
		f.Add(s)
	}
	res := map[string]*regexp.Regexp{}
	for pattern := range patternMatchers {
		res[pattern] = regexp.MustCompile(pattern)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for pattern, match := range patternMatchers {
			if got, want := match([]byte(s)), res[pattern].MatchString(s); got != want {
				t.Errorf("%s on %q: %v, regexp %v", pattern, s, got, want)
			}
		}
	})
}
