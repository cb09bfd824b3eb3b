package events

import (
	"fmt"
	"time"
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
// to the event's data before it was stored (its personal fields
// encrypted): an event that carries the extension attribute Extension
// holds its data as stored, and Open turns that into the data as posted.
type Opener struct {
	// Extension is the name of the top-level member that marks the
	// events to open, an extension attribute: its value is given to
	// Open, and it is never one of the decoded event's extensions.
	Extension string
	// Open returns the data of an event of type spec, with id eventID
	// ("" when it has none), as posted. key is the extension's value
	// when it is a JSON string, else "". data is the event's data member
	// as stored, compacted as DecodeStored compacts it: a JSON object
	// held to DecodeStored's strict checks (valid UTF-8, no duplicate
	// names), which Open must not change. What Open returns is held to
	// every rule of DecodeStored in its place.
	Open func(spec Spec, eventID, key string, data []byte) ([]byte, error)
}

// DecodeStoredWith is DecodeStored for a stream whose events may carry
// o's extension: the data of such an event is o.Open's, which the event
// is then read and validated with, as if stored that way. opened reports
// that Open gave the data. An error of Open is returned unchanged; Open
// is called only for an event that is strict JSON, whose data is an
// object and whose type is of the catalog (another is refused as
// DecodeStored refuses it).
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
	// opened: Open gave the event's data.
	opened bool
}

// open has Open open data, the data member of an event that carries the
// extension with the value key, when attrs name a type of the catalog;
// it reports whether Open gave the data, or Open's error. (The error is
// returned, not kept in op: escape analysis would then have op's Open
// escape with it.)
func (op *opening) open(attrs *attrSet, key string, data []byte) ([]byte, bool, error) {
	typ, _ := attrs.get(attrType)
	spec, ok := ByType(typ)
	if !ok {
		return nil, false, nil
	}
	id, _ := attrs.get(attrID)
	out, err := op.Open(spec, id, key, data)
	if err != nil {
		return nil, false, err
	}
	op.opened = true
	return out, true, nil
}

// decodeStored is DecodeStored that, when op is not nil, has op open the
// data of an event that carries op's extension.
func decodeStored(subject string, data []byte, recorded time.Time, op *opening) (Envelope, error) {
	parts, err := ParseSubject(subject)
	if err != nil {
		return Envelope{}, &Error{Kind: KindMalformed, Detail: "subject: " + err.Error()}
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
