package events

import "errors"

// IDPattern is the pattern every pseudonymous id (familyId, personId, …) matches.
const IDPattern = `^[A-Za-z0-9_-]{1,64}$`

// CPRPattern matches values that look like a Danish CPR number; such values are
// refused wherever an id is expected, so that no CPR number enters the store.
const CPRPattern = `^[0-9]{6}-?[0-9]{4}$`

// ErrSubject is returned for a NATS subject that is not a family event subject.
var ErrSubject = errors.New("events: malformed subject")

// ValidID reports whether s is a well-formed pseudonymous id that does not
// look like a CPR number. Ids are also safe as NATS subject tokens.
//
// Every stored event's subject and ids go through these checks, so they are
// written out by hand; tests fuzz them against IDPattern and CPRPattern.
func ValidID(s string) bool { return idShaped(s) && !LooksLikeCPR(s) }

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

// LooksLikeCPR reports whether s has the shape of a Danish CPR number
// (CPRPattern).
func LooksLikeCPR(s string) bool { return cprShaped(s) }

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
