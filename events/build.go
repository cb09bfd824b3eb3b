package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/google/uuid"
)

// BuildOption changes an attribute Build would otherwise choose.
type BuildOption func(*buildOptions)

type buildOptions struct {
	id     string
	time   time.Time
	system string
}

// WithID sets the event id, e.g. the id of the record in the department's
// own system, so that a re-sent event is recognised as a duplicate.
func WithID(id string) BuildOption { return func(o *buildOptions) { o.id = id } }

// WithTime sets when the event happened, for events entered after the fact.
func WithTime(t time.Time) BuildOption { return func(o *buildOptions) { o.time = t } }

// WithSystem names the department's system in the source:
// /departments/<dept>/<system>.
func WithSystem(system string) BuildOption { return func(o *buildOptions) { o.system = system } }

// Build makes the CloudEvent of a payload and validates it, so that a
// department system written in Go finds out about a bad event before it
// sends it. The id is a UUID v7 (time-ordered, so ids sort roughly by
// creation) unless WithID is given; the time is now unless WithTime is.
// The error is Validate's.
func Build(dept Department, familyID string, data Payload, opts ...BuildOption) (cloudevents.Event, error) {
	if data == nil {
		return cloudevents.Event{}, &Error{Kind: KindMalformed, Detail: detailFor(KindMalformed),
			Problems: []Problem{{"/" + attrData, "required: the event's data"}}}
	}
	var o buildOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return cloudevents.Event{}, &Error{Kind: KindMalformed, Detail: "cannot make an event id: " + err.Error()}
		}
		o.id = u.String()
	}
	if o.time.IsZero() {
		o.time = time.Now()
	}
	source := "/departments/" + string(dept)
	if o.system != "" {
		source += "/" + o.system
	}
	// The SDK's setters trim white space; refuse it instead, so that the
	// event sent is the one the caller asked for.
	var ps []Problem
	for _, a := range []struct{ name, value string }{{attrID, o.id}, {attrSource, source}, {attrSubject, familyID}} {
		if strings.TrimSpace(a.value) != a.value {
			ps = append(ps, Problem{"/" + a.name, "must not begin or end with white space"})
		}
	}
	if len(ps) > 0 {
		return cloudevents.Event{}, &Error{Kind: KindInvalid, Detail: detailFor(KindInvalid), Problems: ps}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return cloudevents.Event{}, &Error{Kind: KindInvalid, Detail: detailFor(KindInvalid),
			Problems: []Problem{{"/" + attrData, "cannot be encoded as JSON: " + err.Error()}}}
	}

	ev := cloudevents.NewEvent()
	ev.SetID(o.id)
	ev.SetSource(source)
	spec, ok := specOf(data)
	if !ok {
		return cloudevents.Event{}, &Error{Kind: KindInvalid, Detail: detailFor(KindInvalid),
			Problems: []Problem{{"/" + attrData, fmt.Sprintf("%T is no payload type of the catalog", data)}}}
	}
	ev.SetType(spec.Type())
	ev.SetSubject(familyID)
	ev.SetTime(o.time.UTC())
	ev.SetDataContentType(contentTypeJSON)
	ev.DataEncoded = b
	ev.DataBase64 = false
	if _, err := Validate(ev); err != nil {
		return cloudevents.Event{}, err
	}
	return ev, nil
}

// Marshal writes an event in structured mode, the form it is sent in and
// stored in. The result is checked to be JSON, so that an event built by
// hand with broken data cannot be written out.
func Marshal(ev cloudevents.Event) ([]byte, error) {
	if ev.Context == nil {
		return nil, &Error{Kind: KindMalformed, Detail: "not a CloudEvent: no attributes"}
	}
	if b, ok := appendStructured(make([]byte, 0, 256+len(ev.DataEncoded)), ev); ok {
		if marshalCheck != nil {
			marshalCheck(ev, b)
		}
		return b, nil
	}
	return marshalJSON(ev)
}

// marshalJSON is Marshal the library way: the SDK's writer, compacted and
// checked by encoding/json.
func marshalJSON(ev cloudevents.Event) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, &Error{Kind: KindMalformed, Detail: "cannot encode the CloudEvent: " + err.Error()}
	}
	return b, nil
}

// marshalCheck, when set (by tests), is called with every event Marshal
// encodes on its fast path, and what that path wrote.
var marshalCheck func(ev cloudevents.Event, fast []byte)

// StampSchema sets dataschema to the published schema of the event's type,
// which ingest does to every event it stores. An event of a type outside the
// catalog is left alone.
func StampSchema(ev *cloudevents.Event) {
	spec, ok := ByType(ev.Type())
	if !ok || ev.Context == nil {
		return
	}
	if ec, ok := ev.Context.(*event.EventContextV1); ok {
		// What SetDataSchema stores, without parsing the URL every time.
		if u, ok := absoluteURI(spec.SchemaURL()); ok {
			ec.DataSchema = &types.URI{URL: u}
			delete(ev.FieldErrors, "dataschema")
			return
		}
	}
	ev.SetDataSchema(spec.SchemaURL())
}
