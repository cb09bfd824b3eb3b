package readmodel

import "errors"

// familyError is a failure of one family's rows. Its text names the
// family, for the log; OperatorError leaves it out.
type familyError struct {
	what, id string
	err      error
}

func (e *familyError) Error() string { return e.what + " " + e.id + ": " + e.err.Error() }
func (e *familyError) Unwrap() error { return e.err }

// familyErr is err, of what was done with the rows of family id.
func familyErr(what, id string, err error) error { return &familyError{what: what, id: id, err: err} }

// OperatorError is err's text for the operator, who sees no family data
// (CONTRACT.md): each family a failure names is left out (Redacted), the
// rest (what failed, and why: a full disk, say) is kept.
func OperatorError(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	for e := err; e != nil; {
		var fe *familyError
		if !errors.As(e, &fe) {
			break
		}
		s = replaceID(s, fe.id, Redacted)
		e = fe.err
	}
	return s
}
