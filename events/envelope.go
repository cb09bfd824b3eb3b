package events

import (
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Envelope is a validated catalog event: the CloudEvent as stored, plus what
// is derived from it. Ingest, the projector and the family model all work on
// envelopes, so the rules for reading an event live here only.
type Envelope struct {
	// Event is the CloudEvent, with every attribute as stored.
	Event cloudevents.Event
	// Spec is the event's catalog entry.
	Spec Spec
	// Department emitted it (from source /departments/<dept>[/<system>]).
	Department Department
	// FamilyID is the CloudEvent subject.
	FamilyID string
	// Data is the typed payload, e.g. *PraktikStarted.
	Data Payload
	// StoredType is the CloudEvents type as stored when Upcast read the
	// event as a later version than it was stored in (Event, Spec and Data
	// are then the latest version's); "" when the event is as stored.
	StoredType string
	// source is Event.Source() as validation read it, "" in an envelope
	// made elsewhere.
	source string
}

// Source is the CloudEvent source, Event.Source(). The SDK writes that
// afresh from a parsed URL on every call; an envelope that Validate,
// Decode or DecodeStored made keeps the string it checked instead (so it
// does not follow later changes to Event).
func (e Envelope) Source() string {
	if e.source != "" {
		return e.source
	}
	return e.Event.Source()
}

// ID is the CloudEvent id.
func (e Envelope) ID() string { return e.Event.ID() }

// Time is when the event happened (may lie before events stored earlier).
func (e Envelope) Time() time.Time { return e.Event.Time() }

// Subject is the NATS subject the event is stored under.
func (e Envelope) Subject() string { return Subject(e.FamilyID, e.Department, e.Spec.Name) }

// Kind classifies why an event was refused, so that transports can map it
// to a status code without parsing messages.
type Kind int

const (
	// KindMalformed: not JSON, not a CloudEvent, a missing or ill-typed
	// required attribute (HTTP 400).
	KindMalformed Kind = iota + 1
	// KindInvalid: a well-formed CloudEvent whose values break the rules:
	// unknown type, schema failure, ids that are malformed or look like CPR
	// numbers (HTTP 422).
	KindInvalid
)

func (k Kind) String() string {
	switch k {
	case KindMalformed:
		return "malformed"
	case KindInvalid:
		return "invalid"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Problem is one field-level failure; Pointer is a JSON pointer into the
// structured CloudEvent ("/data/hoursPerWeek", "/subject").
type Problem struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// Error is every rejection this package returns: parsing, attribute checks
// and schema validation. Use errors.As to get it; errors.Is matches
// ErrMalformed or ErrInvalid by kind.
type Error struct {
	Kind     Kind
	Detail   string
	Problems []Problem
}

// Sentinels for errors.Is on an *Error's kind.
var (
	ErrMalformed = &Error{Kind: KindMalformed}
	ErrInvalid   = &Error{Kind: KindInvalid}
)

func (e *Error) Error() string {
	s := "events: " + e.Kind.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	for i, p := range e.Problems {
		if i == 3 {
			s += fmt.Sprintf(" (and %d more)", len(e.Problems)-3)
			break
		}
		s += fmt.Sprintf("; %s: %s", p.Pointer, p.Detail)
	}
	return s
}

// Is matches sentinels of the same kind.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Problems == nil && t.Detail == "" && t.Kind == e.Kind
}
