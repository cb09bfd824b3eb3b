package events

import (
	"encoding/json"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"kk.dk/jobogfamilie/schemas"
)

// benchEvent is a parsed, valid event of a catalog type carrying the
// type's published example as its data, as ingest and the projector see
// events.
func benchEvent(b *testing.B, name string) cloudevents.Event {
	b.Helper()
	spec, ok := ByName(name)
	if !ok {
		b.Fatalf("no catalog type %s", name)
	}
	// The example of the current version: goal.set's is goal.set.v2's.
	data, ok := schemas.Example(spec.Key())
	if !ok {
		b.Fatalf("no example of %s", spec.Key())
	}
	ev := praktikEvent()
	ev["type"], ev["source"], ev["data"] = spec.Type(), "/departments/"+string(spec.Owners[0]), json.RawMessage(data)
	return mustParse(b, ev)
}

// noFastPathCheck turns TestMain's cross-check of the fast path off for a
// benchmark, which measures Validate as it runs in production.
func noFastPathCheck(b *testing.B) {
	check := fastPathCheck
	fastPathCheck = nil
	b.Cleanup(func() { fastPathCheck = check })
}

func benchValidate(b *testing.B, ev cloudevents.Event) {
	noFastPathCheck(b)
	if _, err := testValidator.Validate(ev); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := testValidator.Validate(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidatePraktikStarted is a typical small event: four ids or
// codes, a number and a date.
func BenchmarkValidatePraktikStarted(b *testing.B) {
	benchValidate(b, benchEvent(b, "praktik.started"))
}

// BenchmarkValidateFamilyEnrolled is the largest event of the catalog:
// arrays of objects with uniqueItems.
func BenchmarkValidateFamilyEnrolled(b *testing.B) {
	benchValidate(b, benchEvent(b, "family.enrolled"))
}

// BenchmarkValidateEveryType validates the example of every catalog type in
// turn; ns/op is per event.
func BenchmarkValidateEveryType(b *testing.B) {
	noFastPathCheck(b)
	var evs []cloudevents.Event
	for _, spec := range Catalog() {
		evs = append(evs, benchEvent(b, spec.Name))
	}
	for _, ev := range evs {
		if _, err := testValidator.Validate(ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := testValidator.Validate(evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDecodeStored reads the example of every catalog type as the
// stream holds it, as the projector, the audit replay and ingest's index
// read every message; ns/op is per event.
func BenchmarkDecodeStored(b *testing.B) {
	noFastPathCheck(b)
	type msg struct {
		subject string
		data    []byte
	}
	var msgs []msg
	recorded := time.Now()
	for _, spec := range Catalog() {
		ev := benchEvent(b, spec.Name)
		StampSchema(&ev)
		data, err := Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		env, err := DecodeStored(Subject(ev.Subject(), spec.Owners[0], spec.Name), data, recorded)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, msg{env.Subject(), data})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m := msgs[i%len(msgs)]
		if _, err := DecodeStored(m.subject, m.data, recorded); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
