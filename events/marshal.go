package events

import (
	"maps"
	"slices"
	"strconv"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"

	"kk.dk/jobogfamilie/events/internal/jsonscan"
)

// appendStructured appends what json.Marshal writes for ev (the SDK's
// writer, then encoding/json's compaction and HTML escaping), for the
// events ingest stores: CloudEvents 1.0 with JSON data, attributes and
// string extensions that need no escaping, and boolean or integer
// extensions. It reports false for anything else, which Marshal then
// encodes the library way. Its part of the work is the compaction: where
// encoding/json steps through every byte of the encoded event with its
// state machine, jsonscan.AppendCompact reads the data's strings eight
// bytes at a time.
func appendStructured(b []byte, ev cloudevents.Event) ([]byte, bool) {
	ec, ok := ev.Context.(*event.EventContextV1)
	if !ok || ec == nil || ev.DataBase64 || (ec.DataContentType != nil && *ec.DataContentType != contentTypeJSON) {
		return nil, false
	}
	b = append(b, `{"specversion":"1.0"`...)
	b, ok = appendMember(b, "id", ec.ID)
	if !ok {
		return nil, false
	}
	if b, ok = appendMember(b, "source", ec.Source.String()); !ok {
		return nil, false
	}
	if b, ok = appendMember(b, "type", ec.Type); !ok {
		return nil, false
	}
	if ec.Subject != nil {
		if b, ok = appendMember(b, "subject", *ec.Subject); !ok {
			return nil, false
		}
	}
	if ec.DataContentType != nil {
		b, _ = appendMember(b, "datacontenttype", *ec.DataContentType)
	}
	if ec.DataSchema != nil {
		if b, ok = appendMember(b, "dataschema", ec.DataSchema.String()); !ok {
			return nil, false
		}
	}
	if ec.Time != nil {
		b, _ = appendMember(b, "time", ec.Time.String())
	}
	if ev.DataEncoded != nil {
		b = append(b, `,"data":`...)
		if b, ok = jsonscan.AppendCompact(b, ev.DataEncoded); !ok {
			return nil, false
		}
	}
	if len(ec.Extensions) > 0 {
		// In the SDK's order: by name.
		for _, name := range slices.Sorted(maps.Keys(ec.Extensions)) {
			switch v := ec.Extensions[name].(type) {
			case string:
				b, ok = appendMember(b, name, v)
			case bool:
				b, ok = appendName(b, name)
				b = strconv.AppendBool(b, v)
			case int32:
				b, ok = appendName(b, name)
				b = strconv.AppendInt(b, int64(v), 10)
			default:
				ok = false
			}
			if !ok {
				return nil, false
			}
		}
	}
	return append(b, '}'), true
}

// appendMember appends `,"name":"value"` when both are written as they are:
// printable ASCII but for the quote, the backslash and the characters HTML
// escaping rewrites.
func appendMember(b []byte, name, value string) ([]byte, bool) {
	b, ok := appendName(b, name)
	if !ok || !plainString(value) {
		return b, false
	}
	b = append(b, '"')
	b = append(b, value...)
	return append(b, '"'), true
}

// appendName appends `,"name":` when the name is written as it is.
func appendName(b []byte, name string) ([]byte, bool) {
	if !plainString(name) {
		return b, false
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	return append(b, '"', ':'), true
}

func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
