package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"kk.dk/jobogfamilie/schemas"
)

func praktik() *PraktikStarted {
	return &PraktikStarted{PraktikID: "P-17", PersonID: "person_42", Employer: "12345678", HoursPerWeek: 10, PlannedEnd: "2025-08-31"}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	before := time.Now().UTC()
	ev, err := Build(BIF, "F-1001", praktik())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	id, err := uuid.Parse(ev.ID())
	if err != nil || id.Version() != 7 {
		t.Errorf("id %q is not a UUID v7", ev.ID())
	}
	if ev.Source() != "/departments/bif" || ev.Type() != praktikType || ev.Subject() != "F-1001" {
		t.Errorf("attributes %v", ev)
	}
	if ev.DataContentType() != "application/json" || ev.DataSchema() != "" {
		t.Errorf("datacontenttype %q, dataschema %q", ev.DataContentType(), ev.DataSchema())
	}
	if tm := ev.Time(); tm.Before(before) || tm.After(time.Now()) || tm.Location() != time.UTC {
		t.Errorf("time %v, want now in UTC", tm)
	}
	var got PraktikStarted
	if err := json.Unmarshal(ev.Data(), &got); err != nil || got != *praktik() {
		t.Errorf("data %s", ev.Data())
	}
	other, _ := Build(BIF, "F-1001", praktik())
	if other.ID() == ev.ID() {
		t.Error("two builds made the same id")
	}
}

func TestBuildOptions(t *testing.T) {
	t.Parallel()
	at := time.Date(2019, 3, 4, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	ev, err := Build(BIF, "F-1001", praktik(), WithID("jc-4711"), WithTime(at), WithSystem("jobcenter"))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if ev.ID() != "jc-4711" || ev.Source() != "/departments/bif/jobcenter" || !ev.Time().Equal(at) {
		t.Errorf("attributes %v", ev)
	}
}

func TestBuildRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		dept     Department
		family   string
		data     Payload
		opts     []BuildOption
		kind     Kind
		pointers []string
	}{
		{"no data", BIF, "F1", nil, nil, KindMalformed, []string{"/data"}},
		{"schema failure", BIF, "F1", &PraktikStarted{PraktikID: "P1", PersonID: "X", Employer: "12345678"}, nil,
			KindInvalid, []string{"/data/hoursPerWeek"}},
		{"CPR number as family", BIF, "010190-1234", praktik(), nil, KindInvalid, []string{"/subject"}},
		{"empty family", BIF, "", praktik(), nil, KindMalformed, []string{"/subject"}},
		{"family with white space", BIF, " F1", praktik(), nil, KindInvalid, []string{"/subject"}},
		{"id with white space", BIF, "F1", praktik(), []BuildOption{WithID("e1 ")}, KindInvalid, []string{"/id"}},
		{"unknown department", Department("kff"), "F1", praktik(), nil, KindInvalid, []string{"/source"}},
		{"bad system", BIF, "F1", praktik(), []BuildOption{WithSystem("job/center")}, KindInvalid, []string{"/source"}},
		{"time too far ahead", BIF, "F1", praktik(), []BuildOption{WithTime(time.Now().Add(25 * time.Hour))}, KindInvalid, []string{"/time"}},
		{"time before 1900", BIF, "F1", praktik(), []BuildOption{WithTime(time.Date(1899, 1, 1, 0, 0, 0, 0, time.UTC))}, KindInvalid, []string{"/time"}},
		{"cross-field rule", SOF, "F1", &MakkerparAssigned{JobConsultantID: "E1", FamilyWorkerID: "E1"}, nil,
			KindInvalid, []string{"/data/familyWorkerId"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.data != nil {
				if _, ok := schemas.Lookup(TypeOf(tc.data.EventName(), 1)); !ok {
					t.Skip("no schema yet")
				}
			}
			_, err := Build(tc.dept, tc.family, tc.data, tc.opts...)
			asError(t, err, tc.kind, tc.pointers...)
		})
	}
}

// TestRoundTrip is the life of an event: a department builds it, sends it
// structured, ingest parses, validates and stamps it, the projector reads
// it back. Every step must see the same event.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, spec := range AllVersions() {
		t.Run(spec.Key(), func(t *testing.T) {
			t.Parallel()
			example, ok := schemas.Example(spec.Key())
			if !ok {
				t.Skip("no example yet")
			}
			data := spec.NewData()
			if err := json.Unmarshal(example, data); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2025, 5, 1, 9, 30, 0, 123456789, time.UTC)
			ev, err := Build(spec.Owners[0], "F-1001", data, WithTime(at), WithSystem("sys1"))
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			b, err := Marshal(ev)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			parsed, err := ParseStructured(b)
			if err != nil {
				t.Fatalf("ParseStructured(%s): %v", b, err)
			}
			env, err := Validate(parsed)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !reflect.DeepEqual(env.Data, data) {
				t.Errorf("data %#v, want %#v", env.Data, data)
			}
			if env.ID() != ev.ID() || !env.Time().Equal(at) || env.Department != spec.Owners[0] || env.FamilyID != "F-1001" {
				t.Errorf("envelope %+v", env)
			}
			if ContentHash(parsed) != ContentHash(ev) {
				t.Error("content hash changed in the round trip")
			}

			StampSchema(&parsed)
			stored, err := Marshal(parsed)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(stored), `"dataschema":"`+spec.SchemaURL()+`"`) {
				t.Errorf("stored event lacks its dataschema: %s", stored)
			}
			read, err := ParseStructured(stored)
			if err != nil {
				t.Fatalf("ParseStructured(stored): %v", err)
			}
			env2, err := Decode(read)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(env2.Data, data) || env2.Event.DataSchema() != spec.SchemaURL() {
				t.Errorf("decoded %+v", env2)
			}
			if ContentHash(read) != ContentHash(ev) {
				t.Error("stamping the schema changed the content hash")
			}
		})
	}
}

func TestMarshalRefusesBrokenEvents(t *testing.T) {
	t.Parallel()
	ev := sdkEvent(t)
	ev.DataEncoded = []byte(`{"a":`)
	if _, err := Marshal(ev); err == nil {
		t.Error("Marshal wrote an event with broken data")
	}
	var e *Error
	_, err := Marshal(ev)
	if !errors.As(err, &e) {
		t.Errorf("error %T is not an *Error", err)
	}
}

func TestStampSchemaLeavesUnknownTypes(t *testing.T) {
	t.Parallel()
	ev := sdkEvent(t)
	ev.SetType("dk.kk.jobogfamilie.unknown.v1")
	StampSchema(&ev)
	if ev.DataSchema() != "" {
		t.Errorf("dataschema %q on a type outside the catalog", ev.DataSchema())
	}
}
