package family_test

import (
	"testing"
	"time"

	"kk.dk/jobogfamilie/events/family"
)

// TestMomentUnencodedOffset: a time at Copenhagen's offset written into a
// URL as it is arrives with a space for the '+' of its offset (a query
// string reads '+' as a space); ParseMoment and ParseInstant read it as
// the '+' it was. A space anywhere else is still no time.
func TestMomentUnencodedOffset(t *testing.T) {
	want := time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)
	for _, parse := range []struct {
		name string
		f    func(string) (time.Time, error)
	}{{"ParseMoment", family.ParseMoment}, {"ParseInstant", family.ParseInstant}} {
		for _, v := range []string{"2024-05-01T11:30:00+02:00", "2024-05-01T11:30:00 02:00", "2024-05-01T11:30:00.000 02:00", "2024-05-01T09:30:00Z"} {
			if got, err := parse.f(v); err != nil || !got.Equal(want) {
				t.Errorf("%s(%q) = %v, %v; want %v", parse.name, v, got, err, want)
			}
		}
		for _, v := range []string{"2024-05-01 11:30:00Z", "2024-05-01T11:30:00 0200", "2024-05-01T11:30:00 02:00 ",
			" 2024-05-01T11:30:00 02:00", "2024-05-01 11:30:00 02:00", "2024-05-01 02:00", " 02:00", "2300-01-01T00:00:00 01:00"} {
			if got, err := parse.f(v); err == nil {
				t.Errorf("%s(%q) = %v, want an error", parse.name, v, got)
			}
		}
	}
	if _, err := family.ParseInstant("2024-05-01"); err == nil {
		t.Error("ParseInstant reads a date")
	}
	if got, err := family.ParseMoment("2024-05-01"); err != nil || !got.Equal(time.Date(2024, 4, 30, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseMoment(2024-05-01) = %v, %v", got, err)
	}
}
