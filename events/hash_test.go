package events

import (
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

func TestContentHash(t *testing.T) {
	t.Parallel()
	parse := func(s string) cloudevents.Event {
		t.Helper()
		ev, err := ParseStructured([]byte(s))
		if err != nil {
			t.Fatalf("ParseStructured: %v", err)
		}
		return ev
	}
	// change returns validJSON as a map with a change made.
	change := func(f func(ev, data map[string]any)) cloudevents.Event {
		ev := praktikEvent()
		delete(ev["data"].(map[string]any), "plannedEnd")
		f(ev, ev["data"].(map[string]any))
		return mustParse(t, ev)
	}
	base := parse(validJSON)
	baseHash := ContentHash(base)
	binary, err := FromBinary(binaryHeaders(), []byte(binaryBody))
	if err != nil {
		t.Fatal(err)
	}
	same := []struct {
		name string
		ev   cloudevents.Event
	}{
		{"the binary form", binary},
		{"after Marshal and ParseStructured", func() cloudevents.Event {
			b, err := Marshal(base)
			if err != nil {
				t.Fatal(err)
			}
			return parse(string(b))
		}()},
		{"with dataschema stamped", func() cloudevents.Event { ev := base.Clone(); StampSchema(&ev); return ev }()},
		{"with datacontenttype spelled out", parse(withMember(`"datacontenttype": "application/json; charset=utf-8"`))},
		{"with an extension", parse(withMember(`"traceparent": "00-abc-01"`))},
		{"with data members in another order and white space", parse(withData(`{ "hoursPerWeek" : 10,
			"employer": "12345678", "personId": "person_42", "praktikId": "P-17" }`))},
		{"with escapes in data strings", parse(withData(`{"praktikId": "P\u002d17", "personId": "person\u005f42", "employer": "12345678", "hoursPerWeek": 10}`))},
		{"as a map", change(func(ev, data map[string]any) {})},
		{"with time in UTC", change(func(ev, data map[string]any) { ev["time"] = "2025-05-01T07:30:00Z" })},
		{"with time in another zone", change(func(ev, data map[string]any) { ev["time"] = "2025-05-01T08:30:00.000+01:00" })},
	}
	for _, tc := range same {
		t.Run("same "+tc.name, func(t *testing.T) {
			t.Parallel()
			if ContentHash(tc.ev) != baseHash {
				t.Error("content hash differs")
			}
		})
	}
	differ := []struct {
		name string
		ev   cloudevents.Event
	}{
		{"id", change(func(ev, data map[string]any) { ev["id"] = "bif-jobcenter-000018" })},
		{"source", change(func(ev, data map[string]any) { ev["source"] = "/departments/bif/jobcenter" })},
		{"type", change(func(ev, data map[string]any) { ev["type"] = "dk.kk.jobogfamilie.praktik.ended.v1" })},
		{"subject", change(func(ev, data map[string]any) { ev["subject"] = "F-1002" })},
		{"time by a nanosecond", change(func(ev, data map[string]any) { ev["time"] = "2025-05-01T07:30:00.000000001Z" })},
		{"a data value", change(func(ev, data map[string]any) { data["hoursPerWeek"] = 11 })},
		{"a data member more", change(func(ev, data map[string]any) { data["plannedEnd"] = "2025-08-31" })},
		{"a data member less", change(func(ev, data map[string]any) { delete(data, "personId") })},
		// Numbers count as written; a client resending an event resends
		// the same bytes, and anything else is not obviously the same.
		{"a number written otherwise", parse(withData(`{"praktikId": "P-17", "personId": "person_42", "employer": "12345678", "hoursPerWeek": 10.0}`))},
		{"a value moved between fields", change(func(ev, data map[string]any) { data["praktikId"], data["personId"] = "person_42", "P-17" })},
	}
	for _, tc := range differ {
		t.Run("different "+tc.name, func(t *testing.T) {
			t.Parallel()
			if ContentHash(tc.ev) == baseHash {
				t.Error("content hash is the same")
			}
		})
	}
}

// TestContentHashFieldsDoNotRunTogether guards the length prefixes: moving
// characters from one attribute to the next must change the hash.
func TestContentHashFieldsDoNotRunTogether(t *testing.T) {
	t.Parallel()
	a, b := sdkEvent(t), sdkEvent(t)
	a.SetID("e-1")
	a.SetSubject("F1")
	b.SetID("e-")
	b.SetSubject("1F1")
	if ContentHash(a) == ContentHash(b) {
		t.Error("hash ignores where one attribute ends")
	}
}

func TestContentHashOfBrokenEvents(t *testing.T) {
	t.Parallel()
	empty := ContentHash(cloudevents.Event{})
	if empty == ContentHash(sdkEvent(t)) {
		t.Error("an event without attributes hashes like a full one")
	}
	a, b := sdkEvent(t), sdkEvent(t)
	a.DataEncoded = []byte(`{"a":`)
	b.DataEncoded = []byte(`{"a": `)
	if ContentHash(a) == ContentHash(b) {
		t.Error("data that is not JSON is not hashed as is")
	}
	c, d := sdkEvent(t), sdkEvent(t)
	c.SetTime(time.Time{})
	d.SetTime(time.Unix(0, 0))
	if ContentHash(c) == ContentHash(d) {
		t.Error("an event without time hashes like one with a time")
	}
}
