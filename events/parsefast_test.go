package events

import (
	"net/url"
	"regexp"
	"testing"
)

// timeRegexp is the pattern rfc3339Shape implements by hand.
var timeRegexp = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`)

var shapeSeeds = []string{
	"2024-05-01T09:30:00Z", "2024-05-01T09:30:00.123456789Z", "2024-05-01T09:30:00.1234567890Z",
	"2024-05-01T09:30:00+02:00", "2024-05-01T09:30:00-23:59", "2024-05-01T09:30:00+24:00", "2024-05-01T09:30:00+19:60",
	"2024-05-01T09:30:00.Z", "2024-05-01T9:30:00Z", "2024-05-01 09:30:00Z", "2024-05-01T09:30:00", "2024-05-01T09:30:00z",
	"2024-05-01T09:30:00+0200", "2024-05-01T09:30:00,5Z", "", "/", "/departments/bif", "//x", "/a b", "/a/./b", "/x:y", "x",
	"/departments/bif/system_1", "/%41", "/ä",
}

func FuzzRFC3339Shape(f *testing.F) {
	for _, s := range shapeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := rfc3339Shape(s), timeRegexp.MatchString(s); got != want {
			t.Fatalf("rfc3339Shape(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}

func FuzzSimplePath(f *testing.F) {
	for _, s := range shapeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !simplePath(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil || u.String() != s || u.Path != s || u.RawPath != "" {
			t.Fatalf("simplePath(%q) but url.Parse gives %#v, %v", s, u, err)
		}
	})
}
