package events

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"kk.dk/jobogfamilie/events/internal/jsonscan"
)

// DecodeStored takes shortcuts that the general functions do not: it keeps
// the attribute strings it parsed instead of asking the SDK for them
// again, checks the data once, and much of the parsing allocates less.
// The tests here hold those shortcuts to the way without them.

// parseSubjectSplit is ParseSubject as it was written with strings.SplitN.
func parseSubjectSplit(subject string) (SubjectParts, error) {
	tok := strings.SplitN(subject, ".", 4)
	if len(tok) != 4 || tok[0] != SubjectRoot || tok[3] == "" {
		return SubjectParts{}, fmt.Errorf("%w: %q is not families.<familyId>.<dept>.<name>", ErrSubject, subject)
	}
	if !ValidID(tok[1]) {
		return SubjectParts{}, fmt.Errorf("%w: family id %q", ErrSubject, tok[1])
	}
	d, ok := parseEmitter(tok[2])
	if !ok {
		return SubjectParts{}, fmt.Errorf("%w: department %q", ErrSubject, tok[2])
	}
	return SubjectParts{FamilyID: tok[1], Department: d, Name: tok[3]}, nil
}

// decodeStoredSlow is DecodeStored without its shortcuts: the exported
// parser, then Validate, which asks the SDK for every attribute and checks
// the data afresh.
func decodeStoredSlow(subject string, data []byte, recorded time.Time) (Envelope, error) {
	parts, err := parseSubjectSplit(subject)
	if err != nil {
		return Envelope{}, &Error{Kind: KindMalformed, Detail: "subject: " + err.Error()}
	}
	ev, err := ParseStructured(data)
	if err != nil {
		return Envelope{}, err
	}
	env, err := Validator{Now: func() time.Time { return recorded }}.Validate(ev)
	if err != nil {
		return Envelope{}, err
	}
	if detail := storedMismatch(parts, env); detail != "" {
		return Envelope{}, &Error{Kind: KindInvalid, Detail: detail}
	}
	return env, nil
}

// checkDecodeStored fails t unless DecodeStored and decodeStoredSlow give
// the same envelope or the same error for a message.
func checkDecodeStored(t *testing.T, subject string, data []byte) {
	t.Helper()
	got, err := DecodeStored(subject, data, testNow)
	want, wantErr := decodeStoredSlow(subject, data, testNow)
	if (err == nil) != (wantErr == nil) || (err != nil && (err.Error() != wantErr.Error() || !reflect.DeepEqual(err, wantErr))) {
		t.Fatalf("%s %s:\nDecodeStored: %v\n   slow path: %v", subject, data, err, wantErr)
	}
	if err != nil {
		return
	}
	if !reflect.DeepEqual(got.Event, want.Event) || got.Spec.Name != want.Spec.Name || got.Spec.cache != want.Spec.cache ||
		got.Department != want.Department || got.FamilyID != want.FamilyID || !reflect.DeepEqual(got.Data, want.Data) {
		t.Fatalf("%s %s:\nDecodeStored: %#v\n   slow path: %#v", subject, data, got, want)
	}
	if got.Source() != want.Event.Source() || want.Source() != want.Event.Source() {
		t.Fatalf("%s: Source() %q and %q, the SDK's %q", data, got.Source(), want.Source(), want.Event.Source())
	}
}

// checkParsedAttrs fails t unless the attributes parseStructured leaves
// for validate are the ones the SDK gives back, and the members
// jsonscan.CheckMembers finds compact are those compactJSON finds compact.
func checkParsedAttrs(t *testing.T, data []byte) {
	t.Helper()
	var c jsonscan.Checker
	if ps, members := jsonscan.CheckMembers(&c, data, "", MaxDepth); len(ps) == 0 {
		for _, m := range members {
			if m.Compact != compactJSON(m.Raw) {
				t.Fatalf("member %q: compact %v, compactJSON %v: %s", m.Name, m.Compact, compactJSON(m.Raw), data)
			}
		}
	}
	var attrs attrSet
	ev, err := parseStructured(data, &attrs)
	if err != nil {
		return
	}
	source, _ := attrs.get(attrSource)
	schema, _ := attrs.get(attrDataSchema)
	if source != ev.Source() || schema != ev.DataSchema() {
		t.Fatalf("parsed source %q, dataschema %q; the SDK gives %q, %q", source, schema, ev.Source(), ev.DataSchema())
	}
}

// storedSubject is the subject an event is stored under, as well as it can
// be told from the document.
func storedSubject(data []byte) string {
	ev, err := ParseStructured(data)
	if err != nil {
		return "families.F-1001.bif.praktik.started"
	}
	dept, _ := sourceDepartment(ev.Source())
	name, _, _ := splitType(ev.Type())
	return Subject(ev.Subject(), Department(dept), name)
}

func TestDecodeStoredAsTheSlowPath(t *testing.T) {
	seeds := eventSeeds()
	seeds = append(seeds,
		// More members than jsonscan.CheckMembers holds in place.
		withMember(`"a1": "x", "a2": 2, "a3": true, "a4": "x", "a5": "x", "a6": "x", "a7": "x"`),
		withMember(`"a1": "x", "a2": "\u00e6", "a3": "x", "a4": "x", "a5": "x", "a6": "x", "a7": "x", "a8": 1, "a9": 1, "b1": 1, "b2": 1`),
		withMember(`"dataschema": "https://example.com/x.json"`),
		withMember(`"dataschema": "https://jobogfamilie.kk.dk/schemas/dk.kk.jobogfamilie.praktik.ended.v1.json"`),
		withMember(`"dataschema": "https://jobogfamilie.kk.dk/schemas/dk.kk.jobogfamilie.praktik.started.v1.json#"`),
		withMember(`"datacontenttype": "application/json; charset=utf-8"`),
		strings.Replace(validJSON, `"/departments/bif"`, `"/departments/bif/jobcenter"`, 1),
		strings.Replace(validJSON, `"/departments/bif"`, `"/departments/b\u0069f"`, 1),
		strings.Replace(validJSON, `"/departments/bif"`, `"/departments/xyz"`, 1),
		strings.Replace(validJSON, `"/departments/bif"`, `"https://kk.dk/departments/bif"`, 1),
		strings.Replace(validJSON, `"F-1001"`, `"F-\u0031001"`, 1),
		strings.Replace(validJSON, `"bif-jobcenter-000017"`, `"bif-jobcenter-\u0030"`, 1),
		strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"2025-05-01T09:30:00\u002b02:00"`, 1),
		strings.Replace(validJSON, `"1.0"`, `"1\u002e0"`, 1),
		strings.Replace(validJSON, `"id": "bif-jobcenter-000017"`, `"id": 17`, 1),
		strings.Replace(validJSON, `"subject": "F-1001"`, `"subject": ""`, 1),
		strings.Replace(validJSON, "\n", "", -1),
	)
	for _, s := range seeds {
		data := []byte(s)
		checkParsedAttrs(t, data)
		subject := storedSubject(data)
		for _, sub := range []string{subject, strings.Replace(subject, ".bif.", ".sof.", 1), "families.F-1001.bif.praktik.ended",
			"families.F-2.bif.praktik.started", "families.F-1001.bif.", "families..bif.praktik.started", "nope"} {
			checkDecodeStored(t, sub, data)
		}
	}
}

// FuzzDecodeStored holds DecodeStored to the way without its shortcuts.
func FuzzDecodeStored(f *testing.F) {
	for _, s := range eventSeeds() {
		f.Add(storedSubject([]byte(s)), []byte(s))
	}
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		checkParsedAttrs(t, data)
		checkDecodeStored(t, subject, data)
		checkDecodeStored(t, storedSubject(data), data)
	})
}

// FuzzParseSubject holds ParseSubject to strings.SplitN.
func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"families.F-1001.bif.praktik.started", "families.F1.sof.a.b.c", "families.F1.sof.", "families.F1.sof",
		"families..sof.x", "families.F1.xyz.x", "families", "", ".", "...", "families.F 1.bif.x", "x.F1.bif.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		got, err := ParseSubject(subject)
		want, wantErr := parseSubjectSplit(subject)
		if got != want || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("%q: %+v, %v; SplitN %+v, %v", subject, got, err, want, wantErr)
		}
	})
}

// TestParseBatchManyMembers: the events of a batch keep their own members,
// however many, although the checker collects each into the same place.
func TestParseBatchManyMembers(t *testing.T) {
	many := withMember(`"a1": "1", "a2": "2", "a3": "3", "a4": "4", "a5": "5", "a6": "6", "a7": "7", "a8": "8"`)
	other := strings.Replace(strings.Replace(validJSON, "F-1001", "F-2", 1), "P-17", "P-18", 1)
	docs := []string{many, other, validJSON, many}
	evs, err := ParseBatch(batch(docs...))
	if err != nil {
		t.Fatal(err)
	}
	for i, doc := range docs {
		want, err := ParseStructured([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(evs[i], want) {
			t.Errorf("event %d: %v, alone %v", i, evs[i], want)
		}
	}
}

// TestEnvelopeSource: Source is the event's source, however the envelope
// was made.
func TestEnvelopeSource(t *testing.T) {
	ev := mustParse(t, praktikEvent())
	ev.SetSource("/departments/bif/jobcenter")
	env, err := testValidator.Validate(ev)
	if err != nil {
		t.Fatal(err)
	}
	data, err := Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := DecodeStored(env.Subject(), data, testNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Envelope{env, stored, {Event: ev}} {
		if e.Source() != "/departments/bif/jobcenter" {
			t.Errorf("Source() = %q", e.Source())
		}
	}
	if (Envelope{Event: cloudevents.NewEvent()}).Source() != "" {
		t.Error("the source of an event without one")
	}
}

// checkDecodeStoredWith fails t unless DecodeStoredWith reads data with
// an opener's extension added, and an Open that gives every personal
// field back as it is, as DecodeStored reads data: the parse that leaves
// the extension out and puts the fields back must come to the same event,
// or the same refusal.
func checkDecodeStoredWith(t *testing.T, subject string, data []byte) {
	t.Helper()
	i := jsonscan.Space(data, 0)
	if i >= len(data) || data[i] != '{' || strings.Contains(string(data), "xkey") {
		return
	}
	sep := ","
	if j := jsonscan.Space(data, i+1); j < len(data) && data[j] == '}' {
		sep = ""
	}
	keyed := append(append(append([]byte{}, data[:i+1]...), `"xkey":"k-1"`+sep...), data[i+1:]...)
	calls := 0
	o := Opener{Extension: "xkey", Open: func(spec Spec, familyID, eventID, key string, fields []Field) error {
		calls++
		if key != "k-1" {
			t.Errorf("key %q", key)
		}
		// Each field given back as it is: the data then reads as stored.
		for i := range fields {
			fields[i].Token = fields[i].Value
		}
		return nil
	}}
	got, opened, err := DecodeStoredWith(subject, keyed, testNow, o)
	want, wantErr := DecodeStored(subject, data, testNow)
	if opened != (calls == 1) || calls > 1 || (err == nil && !opened) {
		t.Fatalf("%s %s: opened %v, %d calls: %v", subject, keyed, opened, calls, err)
	}
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%s %s:\nDecodeStoredWith: %v\n      DecodeStored: %v", subject, data, err, wantErr)
	}
	if err != nil {
		// Problems that name a byte of the document are a byte apart.
		var e, we *Error
		if !errors.As(err, &e) || !errors.As(wantErr, &we) || e.Kind != we.Kind ||
			(len(jsonscan.Check(data, "", MaxDepth)) == 0 && err.Error() != wantErr.Error()) {
			t.Fatalf("%s %s:\nDecodeStoredWith: %v\n      DecodeStored: %v", subject, data, err, wantErr)
		}
		return
	}
	if !reflect.DeepEqual(got.Event, want.Event) || got.Spec.Name != want.Spec.Name || got.Spec.cache != want.Spec.cache ||
		got.Department != want.Department || got.FamilyID != want.FamilyID || !reflect.DeepEqual(got.Data, want.Data) ||
		got.Source() != want.Source() {
		t.Fatalf("%s %s:\nDecodeStoredWith: %#v\n      DecodeStored: %#v", subject, data, got, want)
	}
}

func TestDecodeStoredWithAsDecodeStored(t *testing.T) {
	for _, s := range eventSeeds() {
		data := []byte(s)
		subject := storedSubject(data)
		for _, sub := range []string{subject, "families.F-1001.bif.praktik.ended", "nope"} {
			checkDecodeStoredWith(t, sub, data)
		}
	}
}

// FuzzDecodeStoredWith holds DecodeStoredWith to DecodeStored.
func FuzzDecodeStoredWith(f *testing.F) {
	for _, s := range eventSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeStoredWith(t, storedSubject(data), data)
	})
}
