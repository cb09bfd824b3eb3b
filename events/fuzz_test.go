package events

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"kk.dk/jobogfamilie/schemas"
)

// checkError fails unless err is an *Error with a known kind and problems
// that each have a JSON pointer and a detail.
func checkError(t *testing.T, err error, kinds ...Kind) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	known := false
	for _, k := range kinds {
		known = known || e.Kind == k
	}
	if !known {
		t.Fatalf("kind %v, want one of %v: %v", e.Kind, kinds, e)
	}
	if len(e.Problems) == 0 && e.Detail == "" {
		t.Fatalf("error says nothing: %#v", e)
	}
	for _, p := range e.Problems {
		if (p.Pointer != "" && !strings.HasPrefix(p.Pointer, "/")) || p.Detail == "" {
			t.Fatalf("problem %+v", p)
		}
	}
	_ = e.Error()
}

// checkParsed holds a parsed event to what the rest of the system relies
// on: it can be written out and read back as the same event, and
// validating it either succeeds or says why in an *Error, the same way
// before and after the round trip.
func checkParsed(t *testing.T, ev cloudevents.Event) {
	t.Helper()
	b, err := Marshal(ev)
	if err != nil {
		t.Fatalf("Marshal of a parsed event: %v", err)
	}
	again, err := ParseStructured(b)
	if err != nil {
		t.Fatalf("ParseStructured(Marshal(ev)) = %v for %s", err, b)
	}
	if ContentHash(again) != ContentHash(ev) {
		t.Fatalf("content hash changed in a round trip: %s", b)
	}
	env, err := testValidator.Validate(ev)
	if err != nil {
		checkError(t, err, KindMalformed, KindInvalid)
	}
	env2, err2 := testValidator.Validate(again)
	if (err == nil) != (err2 == nil) {
		t.Fatalf("Validate before and after a round trip disagree: %v / %v", err, err2)
	}
	if err == nil && !reflect.DeepEqual(env.Data, env2.Data) {
		t.Fatalf("data changed in a round trip: %#v / %#v", env.Data, env2.Data)
	}
}

// eventSeeds are structured events, valid and hostile, that the fuzzers
// start from.
func eventSeeds() []string {
	seeds := []string{
		validJSON,
		withMember(`"datacontenttype": "application/json"`),
		withMember(`"dataschema": "https://jobogfamilie.kk.dk/schemas/dk.kk.jobogfamilie.praktik.started.v1.json"`),
		withMember(`"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "retries": 2, "replayed": false`),
		withMember(`"note": "\ud83d\ude00 \u00e6\u00f8\u00e5 \"quoted\" back\\slash \u0000 \u2028"`),
		withMember(`"note": "\ud800"`),
		withMember(`"note": "\udc00\ud800"`),
		withMember(`"id": "twice"`),
		withMember(`"data_base64": "e30="`),
		withMember(`"datacontenttype": "text/plain"`),
		withMember(`"big": 4294967296, "neg": -2147483648, "frac": 1.5, "exp": 1e2`),
		withMember(`"Upper": 1`),
		withData(`{"praktikId": "P-17", "personId": "person_42", "employer": "12345678", "hoursPerWeek": 10, "hoursPerWeek": 40}`),
		withData(`{"praktikId": "010190-1234", "personId": "0101901234", "employer": "1234567", "hoursPerWeek": 0, "plannedEnd": "2025-02-30"}`),
		withData(`{"praktikId": "P-17", "personId": "person_42", "employer": "12345678", "hoursPerWeek": 1e400}`),
		withData(`{"praktikId": "P-17", "personId": "person_42", "employer": "12345678", "hoursPerWeek": 10.000000000000000000001}`),
		withData(`{"praktikId": "P-17", "personId": "person_42", "employer": "12345678", "hoursPerWeek": -0}`),
		withData(`{"PraktikId": "P-17", "praktikid": "P-18", "personId": "person_42", "employer": "12345678", "hoursPerWeek": 10}`),
		withData(`{"a/b~c": [1, {"d": null}], "": true}`),
		withData(nested(MaxDepth - 1)),
		withData(nested(MaxDepth)),
		withData(`[]`),
		withData(`"x"`),
		withData(`null`),
		strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"1899-12-31T23:59:59.999999999Z"`, 1),
		strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"9999-12-31T23:59:59Z"`, 1),
		strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"0001-01-01T00:00:00Z"`, 1),
		strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"2025-05-01T09:30:00.1234567891234-23:59"`, 1),
		strings.Replace(validJSON, `"/departments/bif"`, `"/departments/bif/job%2Fcenter"`, 1),
		strings.Replace(validJSON, `"/departments/bif"`, `"//evil.example/departments/bif"`, 1),
		strings.Replace(validJSON, `"F-1001"`, `"010190-1234"`, 1),
		strings.Replace(validJSON, `"bif-jobcenter-000017"`, `"id with \"quotes\" and \\ backslash"`, 1),
		strings.Replace(validJSON, `"1.0"`, `"0.3"`, 1),
		without("time"),
		without("data"),
		validJSON + "{}",
		"\xef\xbb\xbf" + validJSON,
		strings.Replace(validJSON, "P-17", "P-\xff", 1),
		"",
		"null",
		"[]",
		`{}`,
		strings.Repeat("[", 10000),
		strings.Repeat(`{"a":`, 10000),
	}
	for _, spec := range AllVersions() {
		if data, ok := schemas.Example(spec.Key()); ok {
			ev := strings.Replace(withData(string(data)), praktikType, spec.Type(), 1)
			seeds = append(seeds, strings.Replace(ev, "/departments/bif", "/departments/"+string(spec.Owners[0]), 1))
		}
	}
	return seeds
}

func FuzzParseStructured(f *testing.F) {
	for _, s := range eventSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseStructured(b)
		if err != nil {
			checkError(t, err, KindMalformed)
			return
		}
		checkParsed(t, ev)
	})
}

func FuzzParseBatch(f *testing.F) {
	seeds := eventSeeds()
	f.Add(batch(seeds...))
	for _, s := range seeds {
		f.Add(batch(s))
		f.Add(batch(validJSON, s))
	}
	f.Add([]byte(`[]`))
	f.Add([]byte(`[[]]`))
	f.Add([]byte(`[null, 1, "x"]`))
	f.Add([]byte(`{"events": []}`))
	f.Add([]byte(`[` + validJSON + `,]`))
	f.Add([]byte(strings.Repeat("[", MaxDepth+2) + strings.Repeat("]", MaxDepth+2)))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := ParseBatch(b)
		if err != nil {
			checkError(t, err, KindMalformed)
			return
		}
		if len(evs) == 0 || len(evs) > MaxBatch {
			t.Fatalf("%d events in a batch", len(evs))
		}
		for _, ev := range evs {
			checkParsed(t, ev)
		}
		if _, err := testValidator.ValidateBatch(evs); err != nil {
			checkError(t, err, KindMalformed, KindInvalid)
		}
	})
}

func FuzzFromBinary(f *testing.F) {
	type seed struct {
		specversion, id, source, typ, subject, tm, contentType, extension string
		body                                                              string
	}
	valid := seed{"1.0", "bif-jobcenter-000017", "/departments/bif", praktikType, "F-1001", "2025-05-01T09:30:00+02:00",
		"application/json", "", binaryBody}
	seeds := []seed{valid}
	add := func(f func(s *seed)) {
		s := valid
		f(&s)
		seeds = append(seeds, s)
	}
	add(func(s *seed) { s.contentType = "application/json; charset=utf-8"; s.extension = "00-abc-01" })
	add(func(s *seed) { s.source = "%2Fdepartments%2Fbif" })
	add(func(s *seed) { s.subject = "F%zz" })
	add(func(s *seed) { s.subject = "%ff%fe" })
	add(func(s *seed) { s.subject = "010190-1234" })
	add(func(s *seed) { s.id = "" })
	add(func(s *seed) { s.id = " padded " })
	add(func(s *seed) { s.specversion = "0.3" })
	add(func(s *seed) { s.tm = "yesterday" })
	add(func(s *seed) { s.tm = "2999-01-01T00:00:00Z" })
	add(func(s *seed) { s.typ = "dk.kk.jobogfamilie.praktik.paused.v1" })
	add(func(s *seed) { s.contentType = "" })
	add(func(s *seed) { s.contentType = "text/plain" })
	add(func(s *seed) { s.contentType = "application/json; charset=latin1; x=\"" })
	add(func(s *seed) { s.body = "" })
	add(func(s *seed) { s.body = `{"a": 1, "a": 2}` })
	add(func(s *seed) { s.body = `{"a": "\ud800"}` })
	add(func(s *seed) { s.body = "{\"a\": \"\xff\"}" })
	add(func(s *seed) { s.body = nested(MaxDepth) })
	add(func(s *seed) { s.body = `{} {}` })
	add(func(s *seed) { s.body = `[1]` })
	for _, s := range seeds {
		f.Add(s.specversion, s.id, s.source, s.typ, s.subject, s.tm, s.contentType, s.extension, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, specversion, id, source, typ, subject, tm, contentType, extension string, body []byte) {
		h := http.Header{}
		for k, v := range map[string]string{
			"Ce-Specversion": specversion, "Ce-Id": id, "Ce-Source": source, "Ce-Type": typ,
			"Ce-Subject": subject, "Ce-Time": tm, "Content-Type": contentType, "Ce-Traceparent": extension,
		} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		ev, err := FromBinary(h, body)
		if err != nil {
			checkError(t, err, KindMalformed)
			return
		}
		checkParsed(t, ev)
	})
}

func FuzzValidate(f *testing.F) {
	at := testNow.Add(-24 * time.Hour).UnixNano()
	data := func(s string) []byte { return []byte(s) }
	f.Add("e-1", "/departments/bif", praktikType, "F-1001", at, "application/json", data(binaryBody))
	f.Add("e-1", "/departments/bif/sys", praktikType, "F-1001", at, "", data(binaryBody))
	f.Add("e 1", "/departments/kff", praktikType+"x", "010190-1234", int64(0), "text/plain", data(`{}`))
	f.Add(strings.Repeat("i", 129), "%zz", "", "", int64(-1<<62), "application/json", data(`[`))
	f.Add("e-1", "https://example.com/departments/bif", praktikType, "F.1", at+int64(48*time.Hour), "application/json", data(`{"a":1,"a":2}`))
	f.Add("e-1", "/departments/bif", praktikType, "F-1001", at, "application/json", data(nested(MaxDepth)))
	f.Add("e-1", "/departments/bif", praktikType, "F-1001", at, "application/json",
		data(`{"praktikId": "P-17", "personId": "person_42", "employer": "12345678", "hoursPerWeek": 1e400}`))
	for _, spec := range AllVersions() {
		if example, ok := schemas.Example(spec.Key()); ok {
			f.Add("e-"+spec.Name, "/departments/"+string(spec.Owners[0]), spec.Type(), "F-1001", at, "application/json", example)
		}
	}
	f.Fuzz(func(t *testing.T, id, source, typ, subject string, unixNano int64, contentType string, data []byte) {
		ev := cloudevents.NewEvent()
		ev.SetID(id)
		ev.SetSource(source)
		ev.SetType(typ)
		ev.SetSubject(subject)
		ev.SetTime(time.Unix(0, unixNano))
		ev.SetDataContentType(contentType)
		ev.DataEncoded = data
		env, err := testValidator.Validate(ev)
		if err != nil {
			checkError(t, err, KindMalformed, KindInvalid)
			return
		}
		if env.Data == nil || env.FamilyID != ev.Subject() || !json.Valid(ev.Data()) {
			t.Fatalf("envelope %+v", env)
		}
		// What Validate accepts, ingest stores and the projector reads back.
		checkParsed(t, ev)
	})
}

// TestEventSeedsCoverEveryVersion: the fuzzers seeded by eventSeeds start
// from a valid event of every version of every type, each with an example
// of its own version.
func TestEventSeedsCoverEveryVersion(t *testing.T) {
	t.Parallel()
	valid := map[string]bool{}
	for _, s := range eventSeeds() {
		if ev, err := ParseStructured([]byte(s)); err == nil {
			if _, err := testValidator.Validate(ev); err == nil {
				valid[ev.Type()] = true
			}
		}
	}
	for _, spec := range AllVersions() {
		if !valid[spec.Type()] {
			t.Errorf("%s: no valid seed event", spec.Type())
		}
	}
}
