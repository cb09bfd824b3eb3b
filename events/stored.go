package events

import (
	"encoding/json"
	"fmt"
	"time"

	"kk.dk/jobogfamilie/events/internal/jsonscan"
)

// DecodeStored reads an event as stored on the stream: the message's
// subject, its data (a structured CloudEvent) and when the stream recorded
// it. It applies exactly the rules ingest accepts events by, judged at the
// time of recording so that a replay years later decides as the live
// readers did, and also that the subject agrees with the event (family,
// department, type) and the department owns the type. Anything can be
// published to the stream directly, so every reader of it uses this one
// function: ingest's index, the projector and the audit replay.
func DecodeStored(subject string, data []byte, recorded time.Time) (Envelope, error) {
	return decodeStored(subject, data, recorded, nil)
}

// An Opener undoes, while DecodeStoredWith reads an event, what was done
// to the event's personal fields before it was stored (their values
// encrypted): an event that carries the extension attribute Extension
// holds them as stored, and Open gives each back as posted.
type Opener struct {
	// Extension is the name of the top-level member that marks the
	// events to open, an extension attribute: its value is given to
	// Open, and it is never one of the decoded event's extensions.
	Extension string
	// Open opens the personal fields of an event of type spec, stored
	// under family familyID, with id eventID ("" when it has none): for
	// each of fields it sets Token to the JSON string token to put in
	// place of Value, or leaves it nil to keep Value. key is the
	// extension's value when it is a JSON string, else "". fields are
	// the top-level members of the event's data (as stored, held to
	// DecodeStored's strict checks) that spec.Personal names and whose
	// values are JSON strings, in the order written. Each Token is held to DecodeStored's rules for a
	// string (one strict JSON string token), and the event with the
	// tokens in place is then validated as if stored that way.
	Open func(spec Spec, familyID, eventID, key string, fields []Field) error
}

// A Field is a personal field of the data an Opener opens.
type Field struct {
	// Name is the member's name; Value its value's token as stored,
	// quotes included, a slice of the data.
	Name  string
	Value []byte
	// Token is what Open puts in Value's place, nil for nothing.
	Token []byte
	// at is Value's offset in the data.
	at int
}

// DecodeStoredWith is DecodeStored for a stream whose events may carry
// o's extension: the personal fields of such an event are o.Open's,
// which the event is then read and validated with, as if stored that
// way. opened reports that Open was called and gave no error. An error
// of Open is returned unchanged; Open is called only for an event that
// is strict JSON, whose data is an object and whose type is of the
// catalog (another is refused as DecodeStored refuses it).
func DecodeStoredWith(subject string, data []byte, recorded time.Time, o Opener) (env Envelope, opened bool, err error) {
	if o.Extension == "" || o.Open == nil {
		// The zero Opener opens nothing.
		env, err = decodeStored(subject, data, recorded, nil)
		return env, false, err
	}
	op := opening{Opener: o}
	env, err = decodeStored(subject, data, recorded, &op)
	return env, op.opened, err
}

// opening is an Opener at work on one event.
type opening struct {
	Opener
	// family is the family of the event's subject.
	family string
	// opened: Open gave the event's data.
	opened bool
}

// open has Open open the personal fields of data, the data member of an
// event that carries the extension with the value key, when attrs name
// a type of the catalog. It returns the data with Open's tokens in
// place, whether Open was called, the problems of tokens that are not
// strict JSON strings, or Open's error. (The error is returned, not kept
// in op: escape analysis would then have op's Open escape with it.)
func (op *opening) open(attrs *attrSet, key string, data []byte) ([]byte, bool, []Problem, error) {
	typ, _ := attrs.get(attrType)
	spec, ok := ByType(typ)
	if !ok {
		return nil, false, nil, nil
	}
	id, _ := attrs.get(attrID)
	fields := personalFields(spec, data)
	if err := op.Open(spec, op.family, id, key, fields); err != nil {
		return nil, false, nil, err
	}
	op.opened = true
	out, ps := putTokens(data, fields)
	return out, true, ps, nil
}

// personalFields are the top-level members of data, a compact object
// held to the strict checks, that spec.Personal names and whose values
// are JSON strings.
func personalFields(spec Spec, data []byte) []Field {
	if len(spec.Personal) == 0 {
		return nil
	}
	// One allocation: a type has few personal fields.
	fields := make([]Field, 0, len(spec.Personal))
	// Inside the object: a name, its colon, a value, then a comma or
	// the closing brace.
	for i := 1; i < len(data) && data[i] == '"'; {
		s, _ := jsonscan.String(data, i, false)
		name := data[i+1 : s.End-1]
		if s.Escaped {
			// Rare: a name with an escape is compared as its text.
			var n string
			if json.Unmarshal(data[i:s.End], &n) == nil {
				name = []byte(n)
			}
		}
		v := s.End + 1
		end := skipChecked(data, v)
		if data[v] == '"' {
			for _, p := range spec.Personal {
				if len(p) == len(name)+1 && p[1:] == string(name) {
					fields = append(fields, Field{Name: p[1:], Value: data[v:end], at: v})
					break
				}
			}
		}
		i = end + 1
	}
	return fields
}

// skipChecked is the end of the value at b[i] of a compact document that
// the strict checker passed.
func skipChecked(b []byte, i int) int {
	switch b[i] {
	case '"':
		s, _ := jsonscan.String(b, i, false)
		return s.End
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				s, _ := jsonscan.String(b, i, false)
				i = s.End - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	return i
}

// putTokens is data with each field's Token in place of its Value, or
// the problems of tokens that are not one strict JSON string each. With
// no token it is data itself.
func putTokens(data []byte, fields []Field) ([]byte, []Problem) {
	n, put := len(data), false
	var ps []Problem
	for _, f := range fields {
		if f.Token == nil {
			continue
		}
		put = true
		n += len(f.Token) - len(f.Value)
		if p := stringToken(f.Token); p != "" {
			ps = append(ps, Problem{"/" + attrData + "/" + jsonscan.EscapeToken(f.Name), p})
		}
	}
	if !put || ps != nil {
		return data, ps
	}
	out := make([]byte, 0, n)
	at := 0
	for _, f := range fields {
		if f.Token != nil {
			out = append(append(out, data[at:f.at]...), f.Token...)
			at = f.at + len(f.Value)
		}
	}
	return append(out, data[at:]...), nil
}

// decodeStored is DecodeStored that, when op is not nil, has op open the
// data of an event that carries op's extension.
func decodeStored(subject string, data []byte, recorded time.Time, op *opening) (Envelope, error) {
	parts, err := ParseSubject(subject)
	if err != nil {
		return Envelope{}, &Error{Kind: KindMalformed, Detail: "subject: " + err.Error()}
	}
	if op != nil {
		op.family = parts.FamilyID
	}
	var attrs attrSet
	ev, err := parseOpening(data, &attrs, op)
	if err != nil {
		return Envelope{}, err
	}
	env, err := Validator{Now: func() time.Time { return recorded }}.validate(ev, &attrs)
	if err != nil {
		return Envelope{}, err
	}
	if detail := storedMismatch(parts, env); detail != "" {
		return Envelope{}, &Error{Kind: KindInvalid, Detail: detail}
	}
	return env, nil
}

// storedMismatch says how a valid event disagrees with the subject it is
// stored under, or "".
func storedMismatch(parts SubjectParts, env Envelope) string {
	switch {
	case env.FamilyID != parts.FamilyID:
		return fmt.Sprintf("subject/family mismatch: subject names family %q, the event's subject is %q", parts.FamilyID, env.FamilyID)
	case env.Department != parts.Department:
		return fmt.Sprintf("subject/department mismatch: subject names %s, the event's source is %s", parts.Department, env.Department)
	case env.Spec.Name != parts.Name:
		return fmt.Sprintf("subject/type mismatch: subject names %q, the event's type is %q", parts.Name, env.Spec.Name)
	case !env.Spec.OwnedBy(env.Department):
		return fmt.Sprintf("type %s is not owned by department %s", env.Spec.Name, env.Department)
	}
	return ""
}

// stringToken is the problem of tok as one strict JSON string token, or "".
func stringToken(tok []byte) string {
	if len(tok) == 0 || tok[0] != '"' {
		return "must be a JSON string"
	}
	s, p := jsonscan.String(tok, 0, true)
	switch {
	case p != "":
		return p
	case s.End != len(tok):
		return "must be one JSON string"
	}
	return ""
}
