package events

import (
	"errors"
	"regexp"
)

var (
	idPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	cprPattern = regexp.MustCompile(`^[0-9]{6}-?[0-9]{4}$`)
)

// IDPattern is the pattern every pseudonymous id (familyId, personId, …) matches.
const IDPattern = `^[A-Za-z0-9_-]{1,64}$`

// CPRPattern matches values that look like a Danish CPR number; such values are
// refused wherever an id is expected, so that no CPR number enters the store.
const CPRPattern = `^[0-9]{6}-?[0-9]{4}$`

// ErrSubject is returned for a NATS subject that is not a family event subject.
var ErrSubject = errors.New("events: malformed subject")

// ValidID reports whether s is a well-formed pseudonymous id that does not
// look like a CPR number. Ids are also safe as NATS subject tokens.
func ValidID(s string) bool { return idPattern.MatchString(s) && !cprPattern.MatchString(s) }

// LooksLikeCPR reports whether s has the shape of a Danish CPR number.
func LooksLikeCPR(s string) bool { return cprPattern.MatchString(s) }
