package events

import "errors"

// IDPattern is the pattern every pseudonymous id (familyId, personId, …) matches.
const IDPattern = `^[A-Za-z0-9_-]{1,64}$`

// CPRPattern is the pattern the catalog's JSON Schemas use to keep CPR
// numbers out of id fields (in a "not"), for clients that validate with the
// schemas themselves. Ingest goes further with ContainsCPR (cpr.go), which
// knows the other notations.
const CPRPattern = `^[0-9]{6}-?[0-9]{4}$`

// ErrSubject is returned for a NATS subject that is not a family event subject.
var ErrSubject = errors.New("events: malformed subject")

// ValidID reports whether s is a well-formed pseudonymous id (IDPattern)
// that neither has the plain CPR shape (CPRPattern, whatever its digits:
// DOMAIN.md refuses such a value wherever an id is expected, as the
// schemas do for the ids in data) nor holds a CPR number (ContainsCPR).
// Ids are also safe as NATS subject tokens.
//
// Every stored event's subject and ids go through these checks, so they are
// written out by hand; tests fuzz idShaped against IDPattern.
func ValidID(s string) bool { return idShaped(s) && !cprShaped(s) && !ContainsCPR(s) }

// idShaped reports whether s matches IDPattern.
func idShaped[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// cprShaped is CPRPattern written out, the matcher of the schemas' pattern.
func cprShaped[T string | []byte](s T) bool {
	switch len(s) {
	case 10:
		return digits(s)
	case 11:
		return s[6] == '-' && digits(s[:6]) && digits(s[7:])
	}
	return false
}

func digits[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
