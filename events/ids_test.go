package events

import "testing"

// TestValidID: an id is IDPattern without the plain CPR shape (whatever
// its digits, as DOMAIN.md says) and without a CPR number in it.
func TestValidID(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"F-1001", true},
		{"person_42", true},
		{"12345678", true},     // a CVR number
		{"12345678901", true},  // eleven digits: not the shape
		{"123456789", true},    // nine digits
		{"99999-91234", true},  // hyphen elsewhere
		{"999999--1234", true}, // two hyphens
		{"F1234567890", true},  // not a date, not the shape as a whole
		{"1234567890", false},  // the shape, not a date
		{"999999-1234", false}, // the shape with hyphen, not a date
		{"0101901234", false},  // a CPR number
		{"010190-1234", false}, // a CPR number with hyphen
		{"F0101901234", false}, // holds a CPR number
		{"", false},            // empty
		{"family.1001", false}, // not IDPattern
		{"1234567890 ", false}, // not IDPattern
	} {
		if got := ValidID(c.s); got != c.want {
			t.Errorf("ValidID(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}
