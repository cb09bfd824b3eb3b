package events

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"kk.dk/jobogfamilie/schemas"
)

// testNow is the fixed clock of the tests; the fixture events happened a
// month before it.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

var testValidator = Validator{Now: func() time.Time { return testNow }}

const praktikType = "dk.kk.jobogfamilie.praktik.started.v1"

// praktikData is the data of a valid praktik.started event.
func praktikData() map[string]any {
	return map[string]any{
		"praktikId":    "P-17",
		"personId":     "person_42",
		"employer":     "12345678",
		"hoursPerWeek": 10,
		"plannedEnd":   "2025-08-31",
	}
}

// praktikEvent is a valid structured praktik.started event as a map, for
// tests to change before encoding it.
func praktikEvent() map[string]any {
	return map[string]any{
		"specversion": "1.0",
		"id":          "bif-jobcenter-000017",
		"source":      "/departments/bif",
		"type":        praktikType,
		"subject":     "F-1001",
		"time":        "2025-05-01T09:30:00+02:00",
		"data":        praktikData(),
	}
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustParse parses a structured event that the test means to be well formed.
func mustParse(t testing.TB, v any) cloudevents.Event {
	t.Helper()
	ev, err := ParseStructured(encode(t, v))
	if err != nil {
		t.Fatalf("ParseStructured: %v", err)
	}
	return ev
}

// asError asserts that err is an *Error of the kind wanted and that its
// problems name exactly the pointers wanted (in any order, each at least
// once).
func asError(t testing.TB, err error, want Kind, pointers ...string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %v at %q", want, pointers)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	if e.Kind != want {
		t.Errorf("kind %v, want %v: %v", e.Kind, want, e)
	}
	sentinel := ErrInvalid
	if want == KindMalformed {
		sentinel = ErrMalformed
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("errors.Is(err, %v sentinel) is false", want)
	}
	got := map[string]bool{}
	for _, p := range e.Problems {
		if p.Detail == "" {
			t.Errorf("problem at %q has no detail", p.Pointer)
		}
		got[p.Pointer] = true
	}
	wantSet := map[string]bool{}
	for _, p := range pointers {
		wantSet[p] = true
	}
	if !maps.Equal(got, wantSet) {
		t.Errorf("pointers %q, want %q (%v)", slices.Sorted(maps.Keys(got)), pointers, e)
	}
	return e
}

func detailAt(e *Error, ptr string) string {
	for _, p := range e.Problems {
		if p.Pointer == ptr {
			return p.Detail
		}
	}
	return ""
}

func TestValidatePraktikStarted(t *testing.T) {
	t.Parallel()
	type mutate func(ev, data map[string]any)
	cases := []struct {
		name     string
		mutate   mutate
		kind     Kind // 0: valid
		pointers []string
		detail   string // a substring of the first pointer's detail
	}{
		{name: "valid", mutate: func(ev, data map[string]any) {}},
		{name: "valid without optional plannedEnd", mutate: func(ev, data map[string]any) { delete(data, "plannedEnd") }},
		{name: "valid fractional hours", mutate: func(ev, data map[string]any) { data["hoursPerWeek"] = 7.5 }},
		{name: "valid source with system", mutate: func(ev, data map[string]any) { ev["source"] = "/departments/bif/jobcenter_2" }},
		{name: "valid dataschema as stamped", mutate: func(ev, data map[string]any) {
			ev["dataschema"] = SchemaBaseURL + praktikType + ".json"
		}},
		{name: "valid time 23h ahead", mutate: func(ev, data map[string]any) {
			ev["time"] = testNow.Add(23 * time.Hour).Format(time.RFC3339)
		}},
		{name: "valid time in 1900", mutate: func(ev, data map[string]any) { ev["time"] = "1900-01-01T00:00:00Z" }},
		{name: "valid id of 128 chars", mutate: func(ev, data map[string]any) { ev["id"] = strings.Repeat("x", 128) }},

		{name: "id too long", mutate: func(ev, data map[string]any) { ev["id"] = strings.Repeat("x", 129) },
			kind: KindInvalid, pointers: []string{"/id"}, detail: "128"},
		{name: "id with inner space", mutate: func(ev, data map[string]any) { ev["id"] = "a b" },
			kind: KindInvalid, pointers: []string{"/id"}, detail: "printable ASCII"},
		{name: "id not ASCII", mutate: func(ev, data map[string]any) { ev["id"] = "hændelse-1" },
			kind: KindInvalid, pointers: []string{"/id"}},
		{name: "id with control character", mutate: func(ev, data map[string]any) { ev["id"] = "a\tb" },
			kind: KindInvalid, pointers: []string{"/id"}},
		{name: "source not under departments", mutate: func(ev, data map[string]any) { ev["source"] = "https://bif.kk.dk/" },
			kind: KindInvalid, pointers: []string{"/source"}},
		{name: "source unknown department", mutate: func(ev, data map[string]any) { ev["source"] = "/departments/kff" },
			kind: KindInvalid, pointers: []string{"/source"}, detail: "unknown department"},
		{name: "source upper-case department", mutate: func(ev, data map[string]any) { ev["source"] = "/departments/BIF" },
			kind: KindInvalid, pointers: []string{"/source"}},
		{name: "source bad system", mutate: func(ev, data map[string]any) { ev["source"] = "/departments/bif/job.center" },
			kind: KindInvalid, pointers: []string{"/source"}},
		{name: "source trailing slash", mutate: func(ev, data map[string]any) { ev["source"] = "/departments/bif/" },
			kind: KindInvalid, pointers: []string{"/source"}},
		{name: "source with query", mutate: func(ev, data map[string]any) { ev["source"] = "/departments/bif?x=1" },
			kind: KindInvalid, pointers: []string{"/source"}},
		{name: "type not in catalog", mutate: func(ev, data map[string]any) { ev["type"] = "dk.kk.jobogfamilie.praktik.paused.v1" },
			kind: KindInvalid, pointers: []string{"/type"}, detail: "catalog"},
		{name: "type of a version this build does not know", mutate: func(ev, data map[string]any) { ev["type"] = "dk.kk.jobogfamilie.praktik.started.v3" },
			kind: KindInvalid, pointers: []string{"/type"}, detail: "version 3 of praktik.started is not known to this build, which knows versions 1 to 2"},
		{name: "data of the other version", mutate: func(ev, data map[string]any) { ev["type"] = "dk.kk.jobogfamilie.praktik.started.v2" },
			kind: KindInvalid, pointers: []string{"/data/employer"}},
		{name: "subject looks like CPR", mutate: func(ev, data map[string]any) { ev["subject"] = "010190-1234" },
			kind: KindInvalid, pointers: []string{"/subject"}, detail: "looks like a CPR number"},
		{name: "subject looks like CPR without dash", mutate: func(ev, data map[string]any) { ev["subject"] = "0101901234" },
			kind: KindInvalid, pointers: []string{"/subject"}, detail: "looks like a CPR number"},
		{name: "subject of the CPR shape, not a date", mutate: func(ev, data map[string]any) { ev["subject"] = "1234567890" },
			kind: KindInvalid, pointers: []string{"/subject"}, detail: "looks like a CPR number"},
		{name: "subject of the CPR shape with hyphen, not a date", mutate: func(ev, data map[string]any) { ev["subject"] = "999999-1234" },
			kind: KindInvalid, pointers: []string{"/subject"}, detail: "looks like a CPR number"},
		{name: "subject not an id", mutate: func(ev, data map[string]any) { ev["subject"] = "family.1001" },
			kind: KindInvalid, pointers: []string{"/subject"}, detail: "familyId"},
		{name: "subject too long", mutate: func(ev, data map[string]any) { ev["subject"] = strings.Repeat("f", 65) },
			kind: KindInvalid, pointers: []string{"/subject"}},
		{name: "time before 1900", mutate: func(ev, data map[string]any) { ev["time"] = "1899-12-31T23:59:59Z" },
			kind: KindInvalid, pointers: []string{"/time"}, detail: "1900"},
		{name: "time more than 24h ahead", mutate: func(ev, data map[string]any) {
			ev["time"] = testNow.Add(24*time.Hour + time.Second).Format(time.RFC3339)
		}, kind: KindInvalid, pointers: []string{"/time"}, detail: "future"},
		{name: "dataschema of another type", mutate: func(ev, data map[string]any) {
			ev["dataschema"] = SchemaBaseURL + "dk.kk.jobogfamilie.praktik.ended.v1.json"
		}, kind: KindInvalid, pointers: []string{"/dataschema"}},

		{name: "data missing required member", mutate: func(ev, data map[string]any) { delete(data, "praktikId") },
			kind: KindInvalid, pointers: []string{"/data/praktikId"}, detail: "required"},
		{name: "data missing two members", mutate: func(ev, data map[string]any) { delete(data, "praktikId"); delete(data, "employer") },
			kind: KindInvalid, pointers: []string{"/data/praktikId", "/data/employer"}},
		{name: "data hours below minimum", mutate: func(ev, data map[string]any) { data["hoursPerWeek"] = 0 },
			kind: KindInvalid, pointers: []string{"/data/hoursPerWeek"}, detail: "at least 1"},
		{name: "data hours above maximum", mutate: func(ev, data map[string]any) { data["hoursPerWeek"] = 38 },
			kind: KindInvalid, pointers: []string{"/data/hoursPerWeek"}, detail: "at most 37"},
		{name: "data hours as string", mutate: func(ev, data map[string]any) { data["hoursPerWeek"] = "10" },
			kind: KindInvalid, pointers: []string{"/data/hoursPerWeek"}, detail: "type"},
		{name: "data employer not a CVR number", mutate: func(ev, data map[string]any) { data["employer"] = "1234567" },
			kind: KindInvalid, pointers: []string{"/data/employer"}, detail: "pattern"},
		{name: "data personId looks like CPR", mutate: func(ev, data map[string]any) { data["personId"] = "311299-9999" },
			kind: KindInvalid, pointers: []string{"/data/personId"}, detail: "looks like a CPR number"},
		{name: "data personId of the CPR shape, not a date", mutate: func(ev, data map[string]any) { data["personId"] = "1234567890" },
			kind: KindInvalid, pointers: []string{"/data/personId"}, detail: "looks like a CPR number"},
		{name: "data praktikId with slash", mutate: func(ev, data map[string]any) { data["praktikId"] = "P/1" },
			kind: KindInvalid, pointers: []string{"/data/praktikId"}},
		{name: "data plannedEnd not a date", mutate: func(ev, data map[string]any) { data["plannedEnd"] = "2025-02-30" },
			kind: KindInvalid, pointers: []string{"/data/plannedEnd"}, detail: "date"},
		{name: "data unknown member", mutate: func(ev, data map[string]any) { data["name"] = "Jens Hansen" },
			kind: KindInvalid, pointers: []string{"/data/name"}, detail: "not a field"},
		{name: "data member name needing pointer escapes", mutate: func(ev, data map[string]any) { data["a/b~c"] = 1 },
			kind: KindInvalid, pointers: []string{"/data/a~1b~0c"}},
		{name: "every problem reported", mutate: func(ev, data map[string]any) {
			ev["subject"] = "010190-1234"
			ev["time"] = "2030-01-01T00:00:00Z"
			ev["id"] = "has space"
			data["hoursPerWeek"] = 0
			data["personId"] = "0101901234"
			delete(data, "employer")
		}, kind: KindInvalid, pointers: []string{"/subject", "/time", "/id", "/data/hoursPerWeek", "/data/personId", "/data/employer"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := praktikEvent()
			tc.mutate(ev, ev["data"].(map[string]any))
			env, err := testValidator.Validate(mustParse(t, ev))
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				p, ok := env.Data.(*PraktikStarted)
				if !ok || p.PraktikID != "P-17" || p.Employer != "12345678" {
					t.Errorf("Data = %#v", env.Data)
				}
				if env.Department != BIF || env.FamilyID != "F-1001" || env.Spec.Name != "praktik.started" {
					t.Errorf("envelope %+v", env)
				}
				return
			}
			e := asError(t, err, tc.kind, tc.pointers...)
			if tc.detail != "" && !strings.Contains(detailAt(e, tc.pointers[0]), tc.detail) {
				t.Errorf("detail at %s = %q, want it to mention %q", tc.pointers[0], detailAt(e, tc.pointers[0]), tc.detail)
			}
		})
	}
}

// sdkEvent makes a valid praktik.started event with the SDK's setters, the
// way a Go client or the projector would hold one, for the cases that
// ParseStructured never lets through.
func sdkEvent(t testing.TB) cloudevents.Event {
	t.Helper()
	ev := cloudevents.NewEvent()
	ev.SetID("e-1")
	ev.SetSource("/departments/bif")
	ev.SetType(praktikType)
	ev.SetSubject("F-1001")
	ev.SetTime(testNow.Add(-time.Hour))
	if err := ev.SetData(cloudevents.ApplicationJSON, praktikData()); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestValidateEventsFromElsewhere(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		mutate   func(ev *cloudevents.Event)
		kind     Kind
		pointers []string
	}{
		{name: "valid", mutate: func(ev *cloudevents.Event) {}},
		{name: "no time", mutate: func(ev *cloudevents.Event) { ev.SetTime(time.Time{}) },
			kind: KindMalformed, pointers: []string{"/time"}},
		{name: "no subject", mutate: func(ev *cloudevents.Event) { ev.SetSubject("") },
			kind: KindMalformed, pointers: []string{"/subject"}},
		{name: "no id", mutate: func(ev *cloudevents.Event) { ev.SetID("") },
			kind: KindMalformed, pointers: []string{"/id"}},
		{name: "no type", mutate: func(ev *cloudevents.Event) { ev.SetType("") },
			kind: KindMalformed, pointers: []string{"/type"}},
		{name: "source that is no URI", mutate: func(ev *cloudevents.Event) { ev.SetSource("%zz") },
			kind: KindMalformed, pointers: []string{"/source"}},
		{name: "specversion 0.3", mutate: func(ev *cloudevents.Event) { ev.SetSpecVersion("0.3") },
			kind: KindMalformed, pointers: []string{"/specversion"}},
		{name: "data as base64", mutate: func(ev *cloudevents.Event) { ev.DataBase64 = true },
			kind: KindMalformed, pointers: []string{"/data_base64"}},
		{name: "no data", mutate: func(ev *cloudevents.Event) { ev.DataEncoded = nil },
			kind: KindMalformed, pointers: []string{"/data"}},
		{name: "data not JSON", mutate: func(ev *cloudevents.Event) { ev.DataEncoded = []byte("praktik") },
			kind: KindMalformed, pointers: []string{"/data"}},
		{name: "data a JSON array", mutate: func(ev *cloudevents.Event) { ev.DataEncoded = []byte(`[1]`) },
			kind: KindMalformed, pointers: []string{"/data"}},
		{name: "data with duplicate member", mutate: func(ev *cloudevents.Event) {
			ev.DataEncoded = []byte(`{"praktikId":"P1","personId":"X","employer":"12345678","hoursPerWeek":10,"hoursPerWeek":40}`)
		}, kind: KindMalformed, pointers: []string{"/data/hoursPerWeek"}},
		{name: "text content type", mutate: func(ev *cloudevents.Event) { ev.SetDataContentType("text/plain") },
			kind: KindMalformed, pointers: []string{"/datacontenttype"}},
		{name: "extension named data", mutate: func(ev *cloudevents.Event) { ev.SetExtension("data", "x") },
			kind: KindMalformed, pointers: []string{"/data"}},
		{name: "extension named Data", mutate: func(ev *cloudevents.Event) { ev.SetExtension("Data", "x") },
			kind: KindMalformed, pointers: []string{"/data"}},
		{name: "extension of CloudEvents 0.3", mutate: func(ev *cloudevents.Event) {
			ev.SetExtension("schemaurl", "https://x")
			ev.SetExtension("datacontentencoding", "base64")
		}, kind: KindMalformed, pointers: []string{"/schemaurl", "/datacontentencoding"}},
		{name: "extension name longer than 20", mutate: func(ev *cloudevents.Event) { ev.SetExtension("abcdefghijklmnopqrstu", "x") },
			kind: KindMalformed, pointers: []string{"/abcdefghijklmnopqrstu"}},
		{name: "extension of an ordinary name", mutate: func(ev *cloudevents.Event) { ev.SetExtension("traceparent", "00-abc-01") }},
		{name: "json content type with charset", mutate: func(ev *cloudevents.Event) {
			ev.SetDataContentType("application/json; charset=UTF-8")
		}},
		{name: "malformed outranks invalid", mutate: func(ev *cloudevents.Event) {
			ev.SetTime(time.Time{})
			ev.SetSubject("010190-1234")
		}, kind: KindMalformed, pointers: []string{"/time", "/subject"}},
		{name: "integer written with a fraction where the schema takes numbers", mutate: func(ev *cloudevents.Event) {
			ev.DataEncoded = []byte(`{"praktikId":"P1","personId":"X","employer":"12345678","hoursPerWeek":10.0}`)
		}},
		{name: "number too large for Go", mutate: func(ev *cloudevents.Event) {
			ev.DataEncoded = []byte(`{"praktikId":"P1","personId":"X","employer":"12345678","hoursPerWeek":1e400}`)
		}, kind: KindInvalid, pointers: []string{"/data/hoursPerWeek"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := sdkEvent(t)
			tc.mutate(&ev)
			_, err := testValidator.Validate(ev)
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			asError(t, err, tc.kind, tc.pointers...)
		})
	}
	t.Run("no context", func(t *testing.T) {
		t.Parallel()
		_, err := Validate(cloudevents.Event{})
		asError(t, err, KindMalformed, "")
	})
}

func TestDecodeIsValidate(t *testing.T) {
	t.Parallel()
	ev := sdkEvent(t)
	a, errA := Validate(ev)
	b, errB := Decode(ev)
	if errA != nil || errB != nil {
		t.Fatalf("Validate: %v, Decode: %v", errA, errB)
	}
	if !reflect.DeepEqual(a.Data, b.Data) || a.Department != b.Department {
		t.Errorf("Decode %+v differs from Validate %+v", b, a)
	}
	ev.SetSubject("010190-1234")
	_, err := Decode(ev)
	asError(t, err, KindInvalid, "/subject")
}

func TestValidateDefaultClock(t *testing.T) {
	t.Parallel()
	ev := sdkEvent(t)
	ev.SetTime(time.Now().Add(48 * time.Hour))
	_, err := Validate(ev)
	asError(t, err, KindInvalid, "/time")
}

func TestValidateBatchPrefixesPointers(t *testing.T) {
	t.Parallel()
	good := sdkEvent(t)
	bad := sdkEvent(t)
	bad.SetSubject("010190-1234")
	worse := sdkEvent(t)
	worse.SetTime(time.Time{})
	envs, err := testValidator.ValidateBatch([]cloudevents.Event{good, good})
	if err != nil || len(envs) != 2 {
		t.Fatalf("ValidateBatch: %d, %v", len(envs), err)
	}
	_, err = testValidator.ValidateBatch([]cloudevents.Event{good, bad, worse})
	asError(t, err, KindMalformed, "/1/subject", "/2/time")

	hours := sdkEvent(t)
	data := praktikData()
	data["hoursPerWeek"] = 0
	if err := hours.SetData(cloudevents.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	_, err = testValidator.ValidateBatch([]cloudevents.Event{good, good, good, hours})
	asError(t, err, KindInvalid, "/3/data/hoursPerWeek")
}

// TestDataRules covers the rules JSON Schema cannot express, on the typed
// payloads, whether or not their schemas exist yet.
func TestDataRules(t *testing.T) {
	t.Parallel()
	absence := func(start, end string, school, sick, auth, unauth int) *SchoolAbsenceNoted {
		return &SchoolAbsenceNoted{ChildID: "C1", PeriodStart: start, PeriodEnd: end, SchoolDays: school,
			AbsentDays: AbsentDays{Sickness: sick, Authorised: auth, Unauthorised: unauth}}
	}
	family := func(members []Member, benefits ...ParentBenefit) *FamilyEnrolled {
		return &FamilyEnrolled{Members: members, CourseStart: "2025-01-06", ChildCaseIDs: []string{"K1"}, ParentBenefits: benefits}
	}
	parent := Member{PersonID: "P1", Role: RoleParent}
	child := Member{PersonID: "C1", Role: RoleChild}
	cases := []struct {
		name     string
		data     Payload
		pointers []string
	}{
		{"absence valid", absence("2025-01-06", "2025-01-31", 20, 2, 1, 3), nil},
		{"absence one-day period", absence("2025-01-06", "2025-01-06", 1, 0, 0, 1), nil},
		{"absence sum equals school days", absence("2025-01-06", "2025-01-31", 6, 2, 1, 3), nil},
		{"absence end before start", absence("2025-01-31", "2025-01-06", 20, 0, 0, 0), []string{"/data/periodEnd"}},
		{"absence sum over school days", absence("2025-01-06", "2025-01-31", 5, 2, 1, 3), []string{"/data/absentDays"}},
		{"absence both rules", absence("2025-02-01", "2025-01-06", 1, 1, 1, 0), []string{"/data/periodEnd", "/data/absentDays"}},
		{"absence sum that would overflow", absence("2025-01-06", "2025-01-31", 20, int(^uint(0)>>1), 1, 1), []string{"/data/absentDays"}},
		{"absence bad dates left to the schema", absence("soon", "later", 20, 0, 0, 0), nil},
		{"makkerpar two people", &MakkerparAssigned{JobConsultantID: "E1", FamilyWorkerID: "E2"}, nil},
		{"makkerpar one person twice", &MakkerparAssigned{JobConsultantID: "E1", FamilyWorkerID: "E1"}, []string{"/data/familyWorkerId"}},
		{"family valid", family([]Member{parent, child}, ParentBenefit{"P1", "kontanthjaelp"}), nil},
		// Without a parent or a child: the catalog's invariant (409), for
		// family.Check, not a shape rule.
		{"family without child", family([]Member{parent}, ParentBenefit{"P1", "kontanthjaelp"}), nil},
		{"family without parent", family([]Member{child}), nil},
		{"family person twice", family([]Member{parent, child, {PersonID: "P1", Role: RoleChild}}, ParentBenefit{"P1", "other"}),
			[]string{"/data/members/2/personId"}},
		{"family benefit of a child", family([]Member{parent, child}, ParentBenefit{"P1", "other"}, ParentBenefit{"C1", "other"}),
			[]string{"/data/parentBenefits/1/personId"}},
		{"family benefit of a stranger", family([]Member{parent, child}, ParentBenefit{"X9", "other"}),
			[]string{"/data/parentBenefits/0/personId"}},
		{"other types have no such rules", &PraktikStarted{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, p := range dataRules(tc.data) {
				got = append(got, p.Pointer)
			}
			if !slices.Equal(got, tc.pointers) {
				t.Errorf("problems at %q, want %q", got, tc.pointers)
			}
		})
	}
}

// TestDataRulesThroughValidate runs the cross-field rules end to end, for
// the types whose schema exists when the test runs.
func TestDataRulesThroughValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		dept     Department
		data     any
		pointers []string
	}{
		{"schoolabsence valid", BUF, map[string]any{"childId": "C1", "periodStart": "2025-01-06", "periodEnd": "2025-01-31",
			"schoolDays": 20, "absentDays": map[string]any{"sickness": 2, "authorised": 1, "unauthorised": 3}}, nil},
		{"schoolabsence period backwards and too many days", BUF, map[string]any{"childId": "C1", "periodStart": "2025-01-31",
			"periodEnd": "2025-01-06", "schoolDays": 5, "absentDays": map[string]any{"sickness": 2, "authorised": 1, "unauthorised": 3}},
			[]string{"/data/periodEnd", "/data/absentDays"}},
		{"makkerpar valid", SOF, map[string]any{"jobConsultantId": "E1", "familyWorkerId": "E2"}, nil},
		{"makkerpar same person", SOF, map[string]any{"jobConsultantId": "E1", "familyWorkerId": "E1"}, []string{"/data/familyWorkerId"}},
		{"makkerpar same person is not reported on top of schema failures", SOF,
			map[string]any{"jobConsultantId": "E1", "familyWorkerId": "E1", "name": "x"}, []string{"/data/name"}},
		{"family.enrolled person twice", SOF, map[string]any{
			"members": []any{map[string]any{"personId": "P1", "role": "parent"}, map[string]any{"personId": "C1", "role": "child"},
				map[string]any{"personId": "P1", "role": "child"}},
			"courseStart": "2025-01-06", "childCaseIds": []any{"K1"},
			"parentBenefits": []any{map[string]any{"personId": "P1", "benefit": "kontanthjaelp"}}},
			[]string{"/data/members/2/personId"}},
		{"family.enrolled valid", SOF, map[string]any{
			"members":     []any{map[string]any{"personId": "P1", "role": "parent"}, map[string]any{"personId": "C1", "role": "child"}},
			"courseStart": "2025-01-06", "childCaseIds": []any{"K1"},
			"parentBenefits": []any{map[string]any{"personId": "P1", "benefit": "kontanthjaelp"}}}, nil},
		{"family.enrolled no child (Check's 409) and a stranger's benefit", SOF, map[string]any{
			"members":     []any{map[string]any{"personId": "P1", "role": "parent"}, map[string]any{"personId": "P3", "role": "parent"}},
			"courseStart": "2025-01-06", "childCaseIds": []any{"K1"},
			"parentBenefits": []any{map[string]any{"personId": "P2", "benefit": "kontanthjaelp"}}},
			[]string{"/data/parentBenefits/0/personId"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := strings.SplitN(tc.name, " ", 2)[0]
			spec, ok := ByName(name + map[string]string{"schoolabsence": ".noted", "makkerpar": ".assigned"}[name])
			if !ok {
				t.Fatalf("no catalog type for case %q", tc.name)
			}
			if _, ok := schemas.Lookup(spec.Type()); !ok {
				t.Skipf("no schema for %s yet", spec.Type())
			}
			ev := praktikEvent()
			ev["type"], ev["source"], ev["data"] = spec.Type(), "/departments/"+string(tc.dept), tc.data
			_, err := testValidator.Validate(mustParse(t, ev))
			if tc.pointers == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			asError(t, err, KindInvalid, tc.pointers...)
		})
	}
}

// TestEveryCatalogTypeHasACompilingSchema: every version of every catalog
// type has a schema, and the loader and compiler settings accept it.
func TestEveryCatalogTypeHasACompilingSchema(t *testing.T) {
	t.Parallel()
	specs := AllVersions()
	if len(specs) < len(Catalog()) || len(specs) == 0 {
		t.Fatalf("%d versions for %d catalog types", len(specs), len(Catalog()))
	}
	for _, spec := range specs {
		if _, ok := schemas.Lookup(spec.Type()); !ok {
			t.Errorf("%s: no schema for %s", spec.Key(), spec.Type())
			continue
		}
		if _, err := compiledSchema(spec.Type()); err != nil {
			t.Errorf("%s: %v", spec.Key(), err)
		}
	}
}

// TestValidateWithoutSchemaIsAnError: data of a type that no schema
// describes is refused at /type, never taken as valid. Every catalog type
// has a schema (TestPayloadsMatchSchemas), so the type is a catalog spec
// under a name no schema file has, checked by validateData as Validate
// checks a catalog type's data; byType is left alone, since the other
// tests read it in parallel.
func TestValidateWithoutSchemaIsAnError(t *testing.T) {
	t.Parallel()
	spec := byType[praktikType]
	spec.typ, spec.cache = TypeOf("test.unschematised", 1), &typeCache{}
	if _, ok := schemas.Lookup(spec.Type()); ok {
		t.Fatalf("%s has a schema", spec.Type())
	}
	raw, err := json.Marshal(praktikData())
	if err != nil {
		t.Fatal(err)
	}
	var ps problems
	if data := validateData(&ps, spec, raw, nil); data != nil {
		t.Errorf("data decoded without a schema: %+v", data)
	}
	e := asError(t, ps.err(), KindInvalid, "/type")
	if len(e.Problems) != 1 || !strings.Contains(e.Problems[0].Detail, "no JSON Schema for type "+spec.Type()) {
		t.Errorf("problems %+v, want one saying there is no JSON Schema for %s", e.Problems, spec.Type())
	}
}

func TestValidateConcurrently(t *testing.T) {
	t.Parallel()
	// A fresh cache entry, so that the first uses race to compile it.
	schemaCache.Delete(praktikType)
	byType[praktikType].cache.compiled.Store(nil)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			ev := sdkEvent(t)
			if _, err := testValidator.Validate(ev); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// TestEveryExampleValidates sends the published example of every type
// through Validate, so that the attribute rules, the schemas and the Go
// types agree for the whole catalog.
func TestEveryExampleValidates(t *testing.T) {
	t.Parallel()
	for _, spec := range AllVersions() {
		t.Run(spec.Key(), func(t *testing.T) {
			t.Parallel()
			data, ok := schemas.Example(spec.Key())
			if !ok {
				t.Skip("no example yet")
			}
			ev := praktikEvent()
			ev["type"], ev["source"], ev["data"] = spec.Type(), "/departments/"+string(spec.Owners[0]), json.RawMessage(data)
			env, err := testValidator.Validate(mustParse(t, ev))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if env.Spec.Name != spec.Name || reflect.TypeOf(env.Data) != reflect.TypeOf(spec.NewData()) {
				t.Errorf("envelope %+v", env)
			}
		})
	}
}

// TestEveryInvalidExampleIsRefused sends the schema package's invalid
// examples through Validate: each must fail as KindInvalid with problems
// that point into data and say something more than "validation failed".
func TestEveryInvalidExampleIsRefused(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("..", "schemas", "testdata", "*", "invalid-*.json"))
	if len(files) == 0 {
		t.Skip("no invalid examples")
	}
	for _, file := range files {
		name := filepath.Base(filepath.Dir(file))
		spec, ok := ByKey(name)
		if !ok {
			continue
		}
		t.Run(name+"/"+filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ev := praktikEvent()
			ev["type"], ev["source"], ev["data"] = spec.Type(), "/departments/"+string(spec.Owners[0]), json.RawMessage(data)
			_, err = testValidator.Validate(mustParse(t, ev))
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid || len(e.Problems) == 0 {
				t.Fatalf("Validate: %v, want KindInvalid problems", err)
			}
			for _, p := range e.Problems {
				if !strings.HasPrefix(p.Pointer, "/data/") || p.Detail == "" || strings.Contains(p.Detail, "validation failed") {
					t.Errorf("problem %+v", p)
				}
			}
		})
	}
}
