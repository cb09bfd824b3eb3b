package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"kk.dk/jobogfamilie/events/internal/jsonscan"
)

// The rules for what text may hold, wherever it enters: no CPR number
// (ContainsCPR) in any attribute, extension or string of the data, object
// keys included; no control character in an attribute, and none but tab and
// newline in the data's text; numbers without exponent. The schemas cannot
// say this for every string, and a client's schema validator would not
// fold the notations the detector knows.

// Details of the content rules; values are never echoed, since what was
// refused may be a CPR number.
const (
	detailCPR         = "holds what looks like a CPR number (DDMMYY-SSSS in any notation); CPR numbers must not be stored"
	detailCPRShape    = "looks like a CPR number; use a pseudonymous id" // an id of CPRPattern, whatever its digits
	detailAttrControl = "must not contain control characters"
	detailControl     = "must not contain control characters (tab and newline are allowed)"
	detailExponent    = "write numbers without exponent (10, not 1e1)"
	// detailExtensionName starts the refusal of an extension's name, which
	// is reported at the event: a pointer with the name would repeat it.
	detailExtensionName = "an extension's name "
)

// attrProblem returns why an attribute's value is refused, or "".
func attrProblem(v string) string {
	if _, bad := AttributeControlIn(v); bad {
		return detailAttrControl
	}
	if ContainsCPR(v) {
		return detailCPR
	}
	return ""
}

// checkAttrContent holds every attribute of ev to the content rules: the
// context attributes as given (src and schema as validation read them) and
// every extension, name and value. It returns the names it refused, whose
// other checks are then skipped so that no message repeats the value.
func checkAttrContent(ps *problems, ev cloudevents.Event, src, schema string) map[string]bool {
	var refused map[string]bool
	check := func(name, v string) {
		if d := attrProblem(v); d != "" {
			ps.add(KindInvalid, "/"+jsonscan.EscapeToken(name), d)
			if refused == nil {
				refused = map[string]bool{}
			}
			refused[name] = true
		}
	}
	check(attrID, ev.ID())
	check(attrSource, src)
	check(attrType, ev.Type())
	check(attrSubject, ev.Subject())
	check(attrDataSchema, schema)
	check(attrDataContentType, ev.DataContentType())
	exts := ev.Extensions()
	names := make([]string, 0, len(exts))
	for name := range exts {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if d := attrProblem(name); d != "" {
			// At the event: a pointer with the name would repeat it.
			ps.add(KindInvalid, "", detailExtensionName+d)
			continue
		}
		switch v := exts[name].(type) {
		case string:
			check(name, v)
		case int32:
			check(name, strconv.FormatInt(int64(v), 10))
		case int:
			check(name, strconv.Itoa(v))
		case int64:
			check(name, strconv.FormatInt(v, 10))
		case bool:
		default:
			check(name, fmt.Sprint(v))
		}
	}
	return refused
}

// checkDataContent holds every string (object keys too) and number of a
// syntactically valid JSON document to the content rules, with pointers
// under base.
func checkDataContent(raw []byte, base string) []Problem {
	var stack [8]jsonscan.PathElem
	w := contentWalker{b: raw, base: base, path: stack[:0]}
	w.value()
	return w.ps
}

type contentWalker struct {
	b    []byte
	i    int
	ps   []Problem
	base string
	// path leads to the value being read: member names (decoded) or
	// array indexes (key nil). A pointer is made of it only for a
	// problem, which is rare.
	path []jsonscan.PathElem
}

func (w *contentWalker) ptr() string {
	return jsonscan.Pointer(w.base, w.path)
}

func (w *contentWalker) fail(detail string) {
	w.ps = append(w.ps, Problem{w.ptr(), detail})
}

func (w *contentWalker) ws() { w.i = jsonscan.Space(w.b, w.i) }

// value walks the value at w.i. It returns false on anything that is not
// JSON, which checkJSON has reported already, or when it is nested deeper
// than checkJSON allows.
func (w *contentWalker) value() bool {
	w.ws()
	if w.i >= len(w.b) || len(w.path) >= jsonscan.MaxCheckDepth {
		return false
	}
	switch c := w.b[w.i]; {
	case c == '{':
		w.i++
		for {
			w.ws()
			if w.i < len(w.b) && w.b[w.i] == '}' {
				w.i++
				return true
			}
			key, ok := w.str()
			if !ok {
				return false
			}
			// A pointer with a refused name in it would repeat it: point
			// at the object, for what the member holds too.
			d := textProblem(key)
			if d != "" {
				w.fail("a member name " + d)
			} else {
				w.path = append(w.path, jsonscan.PathElem{Key: key})
			}
			w.ws()
			if w.i >= len(w.b) || w.b[w.i] != ':' {
				return false
			}
			w.i++
			if !w.value() {
				return false
			}
			if d == "" {
				w.path = w.path[:len(w.path)-1]
			}
			w.ws()
			if w.i < len(w.b) && w.b[w.i] == ',' {
				w.i++
			}
		}
	case c == '[':
		w.i++
		for idx := 0; ; idx++ {
			w.ws()
			if w.i < len(w.b) && w.b[w.i] == ']' {
				w.i++
				return true
			}
			w.path = append(w.path, jsonscan.PathElem{Idx: idx})
			if !w.value() {
				return false
			}
			w.path = w.path[:len(w.path)-1]
			w.ws()
			if w.i < len(w.b) && w.b[w.i] == ',' {
				w.i++
			}
		}
	case c == '"':
		s, ok := w.str()
		if !ok {
			return false
		}
		if d := textProblem(s); d != "" {
			w.fail(d)
		}
		return true
	case c == '-' || ('0' <= c && c <= '9'):
		end, _, problem := jsonscan.Number(w.b, w.i)
		if problem != "" {
			return false
		}
		if bytes.ContainsAny(w.b[w.i:end], "eE") {
			w.fail(detailExponent)
		}
		w.i = end
		return true
	default:
		for w.i < len(w.b) && 'a' <= w.b[w.i] && w.b[w.i] <= 'z' {
			w.i++
		}
		return true
	}
}

// str reads the string at w.i: its raw bytes when it has no escapes,
// decoded otherwise.
func (w *contentWalker) str() ([]byte, bool) {
	if w.i >= len(w.b) || w.b[w.i] != '"' {
		return nil, false
	}
	start := w.i
	escaped := false
	for w.i++; w.i < len(w.b); w.i++ {
		switch w.b[w.i] {
		case '\\':
			escaped = true
			w.i++
		case '"':
			w.i++
			if !escaped {
				return w.b[start+1 : w.i-1], true
			}
			var s string
			if err := json.Unmarshal(w.b[start:w.i], &s); err != nil {
				return nil, false
			}
			return []byte(s), true
		}
	}
	return nil, false
}

// textProblem returns why a string of the data is refused, or "". Most
// strings are short ASCII with few digits, which it clears without a copy.
func textProblem(b []byte) string {
	digits, plain := 0, true
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			digits++
		case c < 0x20 || c >= 0x7F:
			plain = false
		}
	}
	if plain && digits < 10 {
		return ""
	}
	s := string(b)
	if _, bad := ControlIn(s); bad {
		return detailControl
	}
	if ContainsCPR(s) {
		return detailCPR
	}
	return ""
}
