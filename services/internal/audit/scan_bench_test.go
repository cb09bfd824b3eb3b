package audit

import (
	"bytes"
	"encoding/json"
	"testing"
)

// storedSample is a message as ingest stores it.
var storedSample = []byte(`{"specversion":"1.0","id":"bif-praktik-2024-0042","source":"/departments/bif","type":"dk.kk.jobogfamilie.praktik.started.v1","subject":"TB1-001","datacontenttype":"application/json","dataschema":"https://jobogfamilie.kk.dk/schemas/dk.kk.jobogfamilie.praktik.started.v1.json","time":"2024-12-02T08:00:00Z","data":{"praktikId":"PR-2024-0042","personId":"TB1-001-P1","employer":"12345678","hoursPerWeek":15,"startDate":"2024-12-02","note":"Praktik i køkkenet på plejecentret"}}`)

// shapeByLibrary is scanJSON the library way: json.Valid, then a token
// decode of the top-level members.
func shapeByLibrary(b []byte) shape {
	if !json.Valid(b) {
		return shape{}
	}
	sh := shape{valid: true, multiline: bytes.ContainsAny(b, "\n\r")}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, _ := dec.Token(); t != json.Delim('{') {
		return sh
	}
	sh.object = true
	var ce ceCheck
	for dec.More() {
		t, _ := dec.Token()
		name, _ := t.(string)
		var raw json.RawMessage
		_ = dec.Decode(&raw)
		if name == "sequence" || name == "recordedAt" {
			sh.recordCollides = true
		}
		ce.member([]byte(name), raw)
	}
	sh.cloudEvent = ce.ok()
	return sh
}

// BenchmarkScanJSON measures the replay's scan of a stored message against
// the library way of finding the same shape.
func BenchmarkScanJSON(b *testing.B) {
	if got, want := scanJSON(storedSample), shapeByLibrary(storedSample); got != want || !got.cloudEvent {
		b.Fatalf("scanJSON %+v, the library way %+v", got, want)
	}
	b.Run("scanJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			scanJSON(storedSample)
		}
	})
	b.Run("library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			shapeByLibrary(storedSample)
		}
	})
}
