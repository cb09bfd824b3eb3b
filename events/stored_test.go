package events_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

func TestDecodeStored(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	ce, err := events.Build(events.BIF, "F1", &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10},
		events.WithTime(at.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := events.Marshal(ce)
	tests := []struct {
		name     string
		subject  string
		data     []byte
		recorded time.Time
		want     string // "" = accepted; else a part of the refusal
	}{
		{"as ingest stores it", "families.F1.bif.praktik.started", data, at, ""},
		{"other family in the subject", "families.F2.bif.praktik.started", data, at, "subject/family mismatch"},
		{"other department in the subject", "families.F1.sof.praktik.started", data, at, "subject/department mismatch"},
		{"other type in the subject", "families.F1.bif.praktik.ended", data, at, "subject/type mismatch"},
		{"not a family subject", "families.F1", data, at, "subject"},
		{"not JSON", "families.F1.bif.praktik.started", []byte("nope"), at, "malformed"},
		{"family of the CPR shape", "families.1234567890.bif.praktik.started",
			bytes.Replace(data, []byte(`"subject":"F1"`), []byte(`"subject":"1234567890"`), 1), at, "subject"},
		{"judged at recording: the event lay too far ahead then", "families.F1.bif.praktik.started", data, at.Add(-72 * time.Hour), "/time"},
		{"judged at recording: a late replay still accepts it", "families.F1.bif.praktik.started", data, at.AddDate(5, 0, 0), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, err := events.DecodeStored(tc.subject, tc.data, tc.recorded)
			if tc.want == "" {
				if err != nil || env.FamilyID != "F1" || env.Spec.Name != "praktik.started" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ee *events.Error
			if err == nil || !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want an *events.Error mentioning %q", err, tc.want)
			}
		})
	}
	owned := strings.Replace(string(data), `"source":"/departments/bif"`, `"source":"/departments/buf"`, 1)
	if _, err := events.DecodeStored("families.F1.buf.praktik.started", []byte(owned), at); err == nil || !strings.Contains(err.Error(), "not owned") {
		t.Fatalf("a type stored by a department that does not own it: %v", err)
	}
}

// TestDecodeStoredWith: an event that carries the opener's extension is
// read with the tokens Open gives in place of its personal fields, held to
// every rule of DecodeStored, and without the extension; any other event
// is read as DecodeStored reads it, without Open.
func TestDecodeStoredWith(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	ce, err := events.Build(events.BIF, "F1", &events.FamilyReferred{Reason: "sealed"}, events.WithID("e1"), events.WithTime(at.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	events.StampSchema(&ce)
	plain, _ := events.Marshal(ce)
	const subject = "families.F1.bif.family.referred"
	keyed := []byte(strings.TrimSuffix(string(plain), "}") + `,"xkey":"k-1","deptref":"R-7"}`)
	errOpen := errors.New("does not open")
	var calls int
	// opener's Open puts token in place of reason, or gives err.
	opener := func(token string, err error) events.Opener {
		return events.Opener{Extension: "xkey", Open: func(spec events.Spec, familyID, eventID, key string, fields []events.Field) error {
			calls++
			if spec.Name != "family.referred" || familyID != "F1" || eventID != "e1" || key != "k-1" ||
				len(fields) != 1 || fields[0].Name != "reason" || string(fields[0].Value) != `"sealed"` {
				t.Errorf("Open(%s, %q, %q, %q, %+v)", spec.Name, familyID, eventID, key, fields)
			}
			if len(fields) == 1 && token != "" {
				fields[0].Token = []byte(token)
			}
			return err
		}}
	}
	decode := func(b []byte, o events.Opener) (events.Envelope, bool, error) {
		calls = 0
		return events.DecodeStoredWith(subject, b, at, o)
	}

	env, opened, err := decode(keyed, opener(`"opened \u00e6"`, nil))
	if err != nil || !opened || calls != 1 {
		t.Fatalf("opened %v, %d calls: %v", opened, calls, err)
	}
	if got := string(env.Event.Data()); got != `{"reason":"opened \u00e6"}` {
		t.Fatalf("data %s: the token in the field's place", got)
	}
	if r := env.Data.(*events.FamilyReferred).Reason; r != "opened æ" {
		t.Fatalf("payload %q", r)
	}
	if exts := env.Event.Extensions(); len(exts) != 1 || exts["deptref"] != "R-7" {
		t.Fatalf("extensions %v: the opener's must not be one", exts)
	}
	// No token: the field as stored.
	if env, opened, err := decode(keyed, opener("", nil)); err != nil || !opened || string(env.Event.Data()) != `{"reason":"sealed"}` {
		t.Fatalf("no token: opened %v, data %s: %v", opened, env.Event.Data(), err)
	}

	// Not keyed: DecodeStored's reading, and Open is not called.
	want, err := events.DecodeStored(subject, plain, at)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []events.Opener{opener(`"x"`, nil), {}, {Extension: "xkey"}} {
		env, opened, err := decode(plain, o)
		if err != nil || opened || calls != 0 || string(env.Event.Data()) != string(want.Event.Data()) || env.ID() != want.ID() {
			t.Fatalf("not keyed: opened %v, %d calls, data %s: %v", opened, calls, env.Event.Data(), err)
		}
	}
	// The zero Opener opens nothing: the extension is one as any other,
	// which the catalog refuses for a name that starts with jf only.
	if env, opened, err := decode(keyed, events.Opener{}); err != nil || opened || env.Event.Extensions()["xkey"] != "k-1" {
		t.Fatalf("zero Opener: opened %v, extensions %v: %v", opened, env.Event.Extensions(), err)
	}

	// Open's error, unchanged.
	if _, opened, err := decode(keyed, opener("", errOpen)); err != errOpen || opened {
		t.Fatalf("Open's error: opened %v: %v", opened, err)
	}
	// A key that is not a JSON string is given as "".
	o := events.Opener{Extension: "xkey", Open: func(_ events.Spec, _, _, key string, _ []events.Field) error {
		if key != "" {
			t.Errorf("key %q", key)
		}
		return errOpen
	}}
	for _, v := range []string{`1`, `true`, `null`, `{"k":"k-1"}`, `["k-1"]`, `1.5`} {
		b := []byte(strings.Replace(string(keyed), `"xkey":"k-1"`, `"xkey":`+v, 1))
		if _, _, err := decode(b, o); err != errOpen {
			t.Fatalf("key %s: %v", v, err)
		}
	}

	// A token is held to every rule: one strict JSON string, then the
	// schema and the content rules.
	var ee *events.Error
	for _, c := range []struct {
		token string
		kind  events.Kind
	}{
		{`"\ud800"`, events.KindMalformed},
		{"\"a\xffb\"", events.KindMalformed},
		{`"a" "b"`, events.KindMalformed},
		{`"a","other":1`, events.KindMalformed},
		{`"a`, events.KindMalformed},
		{`1`, events.KindMalformed},
		{`{"a":"b"}`, events.KindMalformed},
		{" ", events.KindMalformed},
		{`""`, events.KindInvalid},
		{`"CPR 010190-1234"`, events.KindInvalid},
	} {
		_, _, err := decode(keyed, opener(c.token, nil))
		if !errors.As(err, &ee) || ee.Kind != c.kind {
			t.Fatalf("Open gave %q: %v, want kind %v", c.token, err, c.kind)
		}
	}

	// Only the personal fields that hold strings are given to Open, each
	// found by its name, escaped or not, among members of every kind.
	ref, err := events.Build(events.BIF, "F1", &events.FamilyReferred{Reason: "r", Note: "n"}, events.WithID("e1"), events.WithTime(at.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	events.StampSchema(&ref)
	refb, _ := events.Marshal(ref)
	var got []string
	seen := events.Opener{Extension: "xkey", Open: func(_ events.Spec, _, _, _ string, fields []events.Field) error {
		got = got[:0]
		for _, f := range fields {
			got = append(got, f.Name+"="+string(f.Value))
		}
		return nil
	}}
	for _, c := range []struct{ data, want string }{
		{`{"reason":"r","note":"n"}`, `[reason="r" note="n"]`},
		{`{"note":"n","reason":"r"}`, `[note="n" reason="r"]`},
		{`{"reaso\u006e":"r"}`, `[reason="r"]`},
		{`{"reason":"r","note":null}`, `[reason="r"]`},
		{`{"reason":"r \"x\" {[","note":"n"}`, `[reason="r \"x\" {[" note="n"]`},
	} {
		b := []byte(strings.TrimSuffix(strings.Replace(string(refb), `"data":{"reason":"r","note":"n"}`, `"data":`+c.data, 1), "}") + `,"xkey":"k-1"}`)
		got = nil
		_, _, err := events.DecodeStoredWith(subject, b, at, seen)
		if s := fmt.Sprint(got); s != c.want {
			t.Fatalf("data %s: fields %s, want %s (%v)", c.data, s, c.want, err)
		}
	}

	// Open is not called for an event that DecodeStored refuses for what
	// Open needs: a type the catalog does not know, data that is not an
	// object; nor when the subject is not a family's.
	for _, c := range []struct{ subject, from, to string }{
		{subject, `"dk.kk.jobogfamilie.family.referred.v1"`, `"dk.kk.jobogfamilie.family.referred.v9"`},
		{subject, `"data":{"reason":"sealed"}`, `"data":["sealed"]`},
		{"families.F1", "", ""},
	} {
		b := []byte(strings.Replace(string(keyed), c.from, c.to, 1))
		calls = 0
		if _, opened, err := events.DecodeStoredWith(c.subject, b, at, opener(`"x"`, nil)); !errors.As(err, &ee) || opened || calls != 0 {
			t.Fatalf("%s %s: opened %v, %d calls: %v", c.subject, b, opened, calls, err)
		}
	}
}
