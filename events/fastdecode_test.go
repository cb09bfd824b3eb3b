package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events/internal/jsonscan"
)

// stdDecode is the decoding decodePlain stands in for (validateData's).
func stdDecode(spec Spec, data []byte) (Payload, error) {
	v := spec.NewData()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return v, dec.Decode(v)
}

// sameAsStd fails t when decodePlain accepts data and encoding/json does
// not, or decodes it to another value.
func sameAsStd(t *testing.T, spec Spec, data []byte) bool {
	t.Helper()
	got := spec.NewData()
	ok := jsonscan.DecodePlain(data, got)
	// The way validateData takes, with the plan the Spec keeps.
	kept := spec.NewData()
	if spec.decodePlain(data, kept) != ok || (ok && !reflect.DeepEqual(kept, got)) {
		t.Fatalf("%s: Spec.decodePlain does not agree with decodePlain on %s", spec.Name, data)
	}
	if !ok {
		return false
	}
	want, err := stdDecode(spec, data)
	if err != nil {
		t.Fatalf("%s: decodePlain accepts what encoding/json refuses (%v): %s", spec.Name, err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: decodePlain gives %#v, encoding/json %#v, for %s", spec.Name, got, want, data)
	}
	return true
}

// TestDecodePlainEveryType: every catalog payload type has a plan, and
// every valid example of the schema package decodes the plain way, to the
// value encoding/json gives.
func TestDecodePlainEveryType(t *testing.T) {
	for _, spec := range Catalog() {
		if jsonscan.PlanFor(reflect.TypeOf(spec.NewData()).Elem()) == nil {
			t.Errorf("%s: no plain decoding for %T", spec.Name, spec.NewData())
		}
	}
	n := 0
	for _, ex := range testdataExamples(t) {
		if ps := checkJSON(ex.data, "", MaxDepth-1); len(ps) > 0 {
			continue
		}
		ok := sameAsStd(t, ex.spec, ex.data)
		if ex.valid && !ok {
			t.Errorf("%s: the valid example %s does not decode the plain way", ex.spec.Name, ex.file)
		}
		if ok {
			n++
		}
	}
	if n < len(Catalog()) {
		t.Errorf("only %d examples decoded the plain way", n)
	}
}

// FuzzDecodePlain: whatever decodePlain accepts, encoding/json decodes
// without error to the same value.
func FuzzDecodePlain(f *testing.F) {
	catalog := addDataSeeds(f)
	f.Fuzz(func(t *testing.T, typ uint, data []byte) {
		sameAsStd(t, catalog[typ%uint(len(catalog))], data)
	})
}

// TestDecodeData: a stored row's data decodes as json.Unmarshal decodes
// it, the plain way or not (an unknown member is ignored, as json.Unmarshal
// ignores it), and what json.Unmarshal refuses is an error.
func TestDecodeData(t *testing.T) {
	spec, ok := ByName("schoolabsence.noted")
	if !ok {
		t.Fatal("schoolabsence.noted is not in the catalog")
	}
	plain := `{"childId":"C1","periodStart":"2025-01-01","periodEnd":"2025-01-31","schoolDays":20,"absentDays":{"sickness":1,"authorised":0,"unauthorised":2}}`
	for _, data := range []string{plain, strings.Replace(plain, `"childId"`, `"note":"x","childId"`, 1)} {
		got, err := spec.DecodeData([]byte(data))
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		want := spec.NewData()
		if err := json.Unmarshal([]byte(data), want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: DecodeData gives %#v, json.Unmarshal %#v", data, got, want)
		}
	}
	if _, err := spec.DecodeData([]byte(`{"schoolDays":"20"}`)); err == nil {
		t.Error("DecodeData accepts a string for an int")
	}
}
