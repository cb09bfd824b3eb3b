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
	parts, err := ParseSubject(subject)
	if err != nil {
		return Envelope{}, &Error{Kind: KindMalformed, Detail: "subject: " + err.Error()}
	}
	var attrs attrSet
	ev, err := parseStructured(data, &attrs)
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
