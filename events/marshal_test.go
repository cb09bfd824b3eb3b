package events

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"kk.dk/jobogfamilie/schemas"
)

// checkMarshal holds Marshal's fast path to the library way on ev: the same
// bytes where it takes the event, and no event taken that the library
// refuses. It reports whether the fast path took the event.
func checkMarshal(t *testing.T, ev cloudevents.Event) bool {
	t.Helper()
	fast, ok := appendStructured(nil, ev)
	want, err := marshalJSON(ev)
	switch {
	case ok && err != nil:
		t.Fatalf("the fast path encoded an event the library refuses (%v):\n%s", err, fast)
	case ok && !bytes.Equal(fast, want):
		t.Fatalf("the fast path wrote\n%s\nwhere the library writes\n%s", fast, want)
	}
	return ok
}

// structuredEvent is an event as ingest has it: parsed, then stamped with
// its schema.
func structuredEvent(t testing.TB, ceType string, data []byte, extra string) cloudevents.Event {
	t.Helper()
	body := `{"specversion":"1.0","id":"sof-4711","source":"urn:kk:sof:sensum","type":"` + ceType +
		`","subject":"families/F1","time":"2026-03-01T10:00:00.123456789+01:00","datacontenttype":"application/json"` +
		extra + `,"data":` + string(data) + `}`
	ev, err := ParseStructured([]byte(body))
	if err != nil {
		t.Fatalf("%s: %v", ceType, err)
	}
	StampSchema(&ev)
	return ev
}

// TestMarshalFastPath: every catalog type's example, with and without
// extension attributes, in the form ingest stores, takes the fast path and
// is written as the library writes it.
func TestMarshalFastPath(t *testing.T) {
	for _, spec := range AllVersions() {
		data, ok := schemas.Example(spec.Key())
		if !ok {
			t.Fatalf("no example of %s", spec.Name)
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, data, "", "\t"); err != nil {
			t.Fatal(err)
		}
		for _, extra := range []string{"", `,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","flag":true,"count":-42`} {
			for _, d := range [][]byte{data, indented.Bytes()} {
				if !checkMarshal(t, structuredEvent(t, spec.Type(), d, extra)) {
					t.Errorf("%s: not on the fast path", spec.Type())
				}
			}
		}
	}
}

// TestMarshalFastPathEdges: what the fast path writes itself and what it
// leaves to the library.
func TestMarshalFastPathEdges(t *testing.T) {
	base := func() cloudevents.Event {
		ev := cloudevents.NewEvent()
		ev.SetID("bif-1")
		ev.SetSource("urn:kk:bif:momentum")
		ev.SetType("dk.kk.jobogfamilie.bif.test")
		return ev
	}
	for name, c := range map[string]struct {
		edit func(*cloudevents.Event)
		fast bool
	}{
		"no subject, time, schema or data": {func(*cloudevents.Event) {}, true},
		"data without a content type": {func(ev *cloudevents.Event) {
			ev.DataEncoded = []byte(` {"a" : "<&>` + "\u2028" + `"} `)
		}, true},
		"escaped data": {func(ev *cloudevents.Event) {
			_ = ev.SetData(cloudevents.ApplicationJSON, map[string]string{"x": "æ\"\\\n\u2029"})
		}, true},
		"time":                          {func(ev *cloudevents.Event) { ev.SetTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))) }, true},
		"a subject that needs escaping": {func(ev *cloudevents.Event) { ev.SetSubject("a<b") }, false},
		"an id with a quote":            {func(ev *cloudevents.Event) { ev.SetID(`a"b`) }, false},
		"a non-ASCII extension": {func(ev *cloudevents.Event) {
			ev.SetExtension("note", "ø")
		}, false},
		"a content type with parameters": {func(ev *cloudevents.Event) {
			_ = ev.SetData("application/json; charset=utf-8", []byte(`{}`))
		}, false},
		"base64 data": {func(ev *cloudevents.Event) {
			_ = ev.SetData("application/octet-stream", []byte{1, 2, 3})
		}, false},
		"data that is not JSON": {func(ev *cloudevents.Event) { ev.DataEncoded = []byte(`{"a":`) }, false},
		"data nested past MaxDepth": {func(ev *cloudevents.Event) {
			ev.DataEncoded = bytes.Repeat([]byte("["), MaxDepth+1)
			ev.DataEncoded = append(ev.DataEncoded, bytes.Repeat([]byte("]"), MaxDepth+1)...)
		}, false},
	} {
		ev := base()
		c.edit(&ev)
		if got := checkMarshal(t, ev); got != c.fast {
			t.Errorf("%s: on the fast path %v, want %v", name, got, c.fast)
		}
	}
	if _, err := Marshal(func() cloudevents.Event { ev := base(); ev.DataEncoded = []byte(`{`); return ev }()); err == nil {
		t.Error("Marshal wrote an event whose data is not JSON")
	}
}

func FuzzMarshal(f *testing.F) {
	f.Add([]byte(`{"name":"Anna <b>","n":[1,2.5e3]}`), "families/F1", "trace-1")
	f.Add([]byte(" [ \"\u2028\" , null ] "), "a&b", "ø")
	f.Fuzz(func(t *testing.T, data []byte, subject, ext string) {
		ev := cloudevents.NewEvent()
		ev.SetID("sof-1")
		ev.SetSource("urn:kk:sof:sensum")
		ev.SetType("dk.kk.jobogfamilie.sof.test")
		ev.SetSubject(subject)
		ev.SetExtension("ext", ext)
		ev.SetDataContentType(cloudevents.ApplicationJSON)
		ev.DataEncoded = data
		checkMarshal(t, ev)
	})
}
