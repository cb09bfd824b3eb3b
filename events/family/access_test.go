package family_test

import (
	"slices"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

func TestCanRead(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		seq      []events.Envelope
		employee string
		want     bool
	}{
		{"unassigned employee cannot read", h(enrolled(), caseworker("E1")), "E9", false},
		{"nobody can read a family without assignments", h(enrolled()), "E1", false},
		{"empty employee id cannot read", h(enrolled()), "", false},
		{"caseworker can read", h(enrolled(), caseworker("E1")), "E1", true},
		{"replaced caseworker cannot read", h(enrolled(), caseworker("E1"), caseworker("E2")), "E1", false},
		{"new caseworker can read", h(enrolled(), caseworker("E1"), caseworker("E2")), "E2", true},
		{"job consultant of the makkerpar can read", h(enrolled(), makkerpar("E1", "E2")), "E1", true},
		{"family worker of the makkerpar can read", h(enrolled(), makkerpar("E1", "E2")), "E2", true},
		{"replaced makkerpar cannot read", h(enrolled(), makkerpar("E1", "E2"), makkerpar("E3", "E4")), "E2", false},
		{"member of a new makkerpar can read", h(enrolled(), makkerpar("E1", "E2"), makkerpar("E3", "E1")), "E1", true},
		{"team member can read", h(enrolled(), joined("E1")), "E1", true},
		{"team member who left cannot read", h(enrolled(), joined("E1"), left("E1")), "E1", false},
		{"team member who rejoined can read", h(enrolled(), joined("E1"), left("E1"), joined("E1")), "E1", true},
		{"caseworker who leaves the team is still caseworker", h(enrolled(), caseworker("E1"), joined("E1"), left("E1")), "E1", true},
		{"access stays after the course ended", h(enrolled(), caseworker("E1"), ended()), "E1", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := fold(t, tc.seq...)
			if got := s.CanRead(tc.employee); got != tc.want {
				t.Fatalf("CanRead(%q) = %v", tc.employee, got)
			}
			if got := slices.Contains(s.Assigned(), tc.employee); got != tc.want {
				t.Fatalf("Assigned() = %v", s.Assigned())
			}
		})
	}
}

func TestAssigned(t *testing.T) {
	t.Parallel()
	t.Run("sorted and without duplicates", func(t *testing.T) {
		t.Parallel()
		s := fold(t, enrolled(), joined("E5"), caseworker("E3"), makkerpar("E4", "E1"), joined("E3"), joined("E2"), left("E2"))
		if got, want := s.Assigned(), []string{"E1", "E3", "E4", "E5"}; !slices.Equal(got, want) {
			t.Fatalf("Assigned() = %v, want %v", got, want)
		}
	})
	t.Run("a State not made by New has nobody assigned", func(t *testing.T) {
		t.Parallel()
		var s family.State
		if got := s.Assigned(); got == nil || len(got) != 0 || s.CanRead("E1") {
			t.Fatalf("Assigned() = %#v", got)
		}
	})
	t.Run("empty but not nil", func(t *testing.T) {
		t.Parallel()
		if got := fold(t, enrolled()).Assigned(); got == nil || len(got) != 0 {
			t.Fatalf("Assigned() = %#v", got)
		}
	})
}
