package events

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// validJSON is a structured praktik.started event written by hand, so that
// the cases below can break it in ways encoding/json never would.
const validJSON = `{
  "specversion": "1.0",
  "id": "bif-jobcenter-000017",
  "source": "/departments/bif",
  "type": "dk.kk.jobogfamilie.praktik.started.v1",
  "subject": "F-1001",
  "time": "2025-05-01T09:30:00+02:00",
  "data": {"praktikId": "P-17", "personId": "person_42", "employer": "12345678", "hoursPerWeek": 10}
}`

// withMember returns validJSON with one more top-level member.
func withMember(member string) string {
	return strings.Replace(validJSON, `"specversion": "1.0",`, `"specversion": "1.0", `+member+`,`, 1)
}

// without returns validJSON without the member of that name.
func without(name string) string {
	var out []string
	for _, line := range strings.Split(validJSON, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), `"`+name+`"`) {
			out = append(out, line)
		}
	}
	s := strings.Join(out, "\n")
	// Keep the JSON valid when the last member went.
	return strings.Replace(s, ",\n}", "\n}", 1)
}

// withData returns validJSON with another data member.
func withData(data string) string {
	return strings.Replace(validJSON, `{"praktikId": "P-17", "personId": "person_42", "employer": "12345678", "hoursPerWeek": 10}`, data, 1)
}

func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

func TestParseStructured(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		in       string
		pointers []string // nil: parses
		detail   string
	}{
		{name: "valid", in: validJSON},
		{name: "valid with json content type", in: withMember(`"datacontenttype": "application/json"`)},
		{name: "valid with json content type and charset", in: withMember(`"datacontenttype": "application/json; charset=utf-8"`)},
		{name: "valid with extensions", in: withMember(`"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "retries": 2, "replayed": false`)},
		{name: "valid with dataschema", in: withMember(`"dataschema": "https://jobogfamilie.kk.dk/schemas/dk.kk.jobogfamilie.praktik.started.v1.json"`)},
		{name: "valid with surrogate pair", in: withMember(`"note": "\ud83d\ude00"`)},
		{name: "valid with escaped characters", in: withData(`{"praktikId": "P\u002d17", "personId": "person_42", "employer": "12345678", "hoursPerWeek": 10}`)},
		{name: "valid data nested to the limit", in: withData(nested(MaxDepth - 1))},

		{name: "empty", in: "", pointers: []string{""}, detail: "end of JSON"},
		{name: "white space only", in: " \n", pointers: []string{""}},
		{name: "not JSON", in: "specversion=1.0", pointers: []string{""}, detail: "invalid JSON"},
		{name: "truncated", in: validJSON[:len(validJSON)-3], pointers: []string{"/data"}},
		{name: "trailing comma", in: strings.Replace(validJSON, "10}", "10,}", 1), pointers: []string{"/data"}},
		{name: "array", in: "[" + validJSON + "]", pointers: []string{""}, detail: "JSON object"},
		{name: "string", in: `"event"`, pointers: []string{""}},
		{name: "null", in: "null", pointers: []string{""}},
		{name: "trailing value", in: validJSON + "{}", pointers: []string{""}, detail: "after the JSON value"},
		{name: "trailing garbage", in: validJSON + " x", pointers: []string{""}, detail: "after the JSON value"},
		{name: "trailing white space is fine", in: validJSON + " \n\t"},
		{name: "invalid UTF-8 in a value", in: strings.Replace(validJSON, "P-17", "P-\xff17", 1), pointers: []string{"/data/praktikId"}, detail: "UTF-8"},
		{name: "invalid UTF-8 in a key", in: withMember("\"n\xc3\": 1"), pointers: []string{""}, detail: "UTF-8"},
		{name: "lone high surrogate", in: withMember(`"note": "\ud800"`), pointers: []string{"/note"}, detail: "surrogate"},
		{name: "lone low surrogate", in: withMember(`"note": "a\udc00b"`), pointers: []string{"/note"}, detail: "surrogate"},
		{name: "reversed surrogate pair", in: withMember(`"note": "\ude00\ud83d"`), pointers: []string{"/note"}},
		{name: "literal replacement character is fine", in: withMember(`"note": "�\ufffd"`)},
		{name: "duplicate attribute", in: withMember(`"id": "other"`), pointers: []string{"/id"}, detail: "duplicate"},
		{name: "duplicate data member", in: withData(`{"praktikId": "P-17", "personId": "person_42", "employer": "12345678", "hoursPerWeek": 10, "hoursPerWeek": 40}`),
			pointers: []string{"/data/hoursPerWeek"}, detail: "duplicate"},
		{name: "duplicate member deep in data", in: withData(`{"a": [{"b": 1}, {"c": 1, "c": 2}]}`), pointers: []string{"/data/a/1/c"}},
		{name: "same key in sibling objects is fine", in: withData(`{"a": {"x": 1}, "b": {"x": 1}}`)},
		{name: "too deep", in: withData(nested(MaxDepth)), pointers: []string{"/data" + strings.Repeat("/a", MaxDepth-1)}, detail: "deeper"},
		{name: "very deep", in: strings.Repeat("[", 100000), pointers: []string{strings.Repeat("/0", MaxDepth)}},
		{name: "id a number", in: strings.Replace(validJSON, `"bif-jobcenter-000017"`, `17`, 1), pointers: []string{"/id"}, detail: "string"},
		{name: "time a number", in: strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `1746084600`, 1), pointers: []string{"/time"}},
		{name: "specversion a number", in: strings.Replace(validJSON, `"1.0"`, `1.0`, 1), pointers: []string{"/specversion"}},
		{name: "subject null", in: strings.Replace(validJSON, `"F-1001"`, `null`, 1), pointers: []string{"/subject"}},
		{name: "source an object", in: strings.Replace(validJSON, `"/departments/bif"`, `{"dept": "bif"}`, 1), pointers: []string{"/source"}},
		{name: "specversion 0.3", in: strings.Replace(validJSON, `"1.0"`, `"0.3"`, 1), pointers: []string{"/specversion"}},
		{name: "specversion 1", in: strings.Replace(validJSON, `"1.0"`, `"1"`, 1), pointers: []string{"/specversion"}},
		{name: "missing specversion", in: without("specversion"), pointers: []string{"/specversion"}, detail: "missing"},
		{name: "missing id", in: without("id"), pointers: []string{"/id"}, detail: "missing"},
		{name: "missing source", in: without("source"), pointers: []string{"/source"}},
		{name: "missing type", in: without("type"), pointers: []string{"/type"}},
		{name: "missing subject", in: without("subject"), pointers: []string{"/subject"}},
		{name: "missing time", in: without("time"), pointers: []string{"/time"}},
		{name: "missing data", in: without("data"), pointers: []string{"/data"}},
		{name: "missing several", in: without("time")[:0] + `{"specversion": "1.0", "data": {}}`,
			pointers: []string{"/id", "/source", "/type", "/subject", "/time"}},
		{name: "empty id", in: strings.Replace(validJSON, `"bif-jobcenter-000017"`, `""`, 1), pointers: []string{"/id"}, detail: "empty"},
		{name: "id with surrounding space", in: strings.Replace(validJSON, `"bif-jobcenter-000017"`, `" e1"`, 1), pointers: []string{"/id"}, detail: "white space"},
		{name: "type with trailing space", in: strings.Replace(validJSON, `started.v1"`, `started.v1 "`, 1), pointers: []string{"/type"}},
		{name: "time without zone", in: strings.Replace(validJSON, `+02:00"`, `"`, 1), pointers: []string{"/time"}, detail: "RFC 3339"},
		{name: "time as a date", in: strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"2025-05-01"`, 1), pointers: []string{"/time"}},
		{name: "time with one-digit hour", in: strings.Replace(validJSON, `T09:30`, `T9:30`, 1), pointers: []string{"/time"}},
		{name: "time with comma fraction", in: strings.Replace(validJSON, `09:30:00+`, `09:30:00,5+`, 1), pointers: []string{"/time"}},
		{name: "time with ten fraction digits", in: strings.Replace(validJSON, `09:30:00+`, `09:30:00.1234567891+`, 1), pointers: []string{"/time"}},
		{name: "time with offset of a day", in: strings.Replace(validJSON, `+02:00`, `+24:00`, 1), pointers: []string{"/time"}},
		{name: "time in lower case", in: strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"2025-05-01t09:30:00z"`, 1)},
		{name: "time with lower-case t and an offset", in: strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"2025-05-01t09:30:00.25+02:00"`, 1)},
		{name: "time with a space for T", in: strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"2025-05-01 09:30:00Z"`, 1), pointers: []string{"/time"}},
		{name: "time with nanoseconds", in: strings.Replace(validJSON, `09:30:00+`, `09:30:00.123456789+`, 1)},
		{name: "time before year 1 in UTC", in: strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"0000-01-01T00:30:00+01:00"`, 1), pointers: []string{"/time"}},
		{name: "time after year 9999 in UTC", in: strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"9999-12-31T23:30:00-01:00"`, 1), pointers: []string{"/time"}},
		{name: "time zero", in: strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"0001-01-01T00:00:00Z"`, 1), pointers: []string{"/time"}},
		{name: "source not a URI", in: strings.Replace(validJSON, `"/departments/bif"`, `"%zz"`, 1), pointers: []string{"/source"}},
		{name: "dataschema relative", in: withMember(`"dataschema": "praktik.json"`), pointers: []string{"/dataschema"}},
		{name: "data_base64", in: withMember(`"data_base64": "e30="`), pointers: []string{"/data_base64"}},
		{name: "data_base64 instead of data", in: strings.Replace(without("data"), `"specversion": "1.0",`, `"specversion": "1.0", "data_base64": "e30=",`, 1),
			pointers: []string{"/data_base64", "/data"}},
		{name: "text content type", in: withMember(`"datacontenttype": "text/plain"`), pointers: []string{"/datacontenttype"}},
		{name: "json content type in latin-1", in: withMember(`"datacontenttype": "application/json; charset=latin1"`), pointers: []string{"/datacontenttype"}},
		{name: "cloudevents content type", in: withMember(`"datacontenttype": "application/cloudevents+json"`), pointers: []string{"/datacontenttype"}},
		{name: "data an array", in: withData(`[{"praktikId": "P-17"}]`), pointers: []string{"/data"}, detail: "object"},
		{name: "data a string", in: withData(`"{\"praktikId\": \"P-17\"}"`), pointers: []string{"/data"}},
		{name: "data null", in: withData(`null`), pointers: []string{"/data"}},
		{name: "extension name with upper case", in: withMember(`"traceParent": "x"`), pointers: []string{"/traceParent"}},
		{name: "extension name too long", in: withMember(`"abcdefghijklmnopqrstu": "x"`), pointers: []string{"/abcdefghijklmnopqrstu"}},
		{name: "extension name needing escapes", in: withMember(`"a/b": "x"`), pointers: []string{"/a~1b"}},
		{name: "extension an object", in: withMember(`"trace": {"id": 1}`), pointers: []string{"/trace"}},
		{name: "extension a fraction", in: withMember(`"weight": 1.5`), pointers: []string{"/weight"}},
		{name: "extension beyond 32 bits", in: withMember(`"big": 4294967296`), pointers: []string{"/big"}},
		{name: "extension null", in: withMember(`"nothing": null`), pointers: []string{"/nothing"}},
		{name: "extension too long", in: withMember(`"note": "` + strings.Repeat("x", 1025) + `"`), pointers: []string{"/note"}},
		{name: "CloudEvents 0.3 attribute", in: withMember(`"schemaurl": "https://x"`), pointers: []string{"/schemaurl"}, detail: "0.3"},
		{name: "CloudEvents 0.3 encoding", in: withMember(`"datacontentencoding": "base64"`), pointers: []string{"/datacontentencoding"}, detail: "0.3"},
		{name: "problems of several attributes together", in: strings.Replace(withMember(`"datacontenttype": "text/xml"`), `"1.0"`, `"0.3"`, 1),
			pointers: []string{"/specversion", "/datacontenttype"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := ParseStructured([]byte(tc.in))
			if tc.pointers == nil {
				if err != nil {
					t.Fatalf("ParseStructured: %v", err)
				}
				if ev.ID() == "" || len(ev.Data()) == 0 {
					t.Errorf("parsed event lacks id or data: %v", ev)
				}
				return
			}
			e := asError(t, err, KindMalformed, tc.pointers...)
			if tc.detail != "" && !strings.Contains(detailAt(e, tc.pointers[0]), tc.detail) {
				t.Errorf("detail at %q = %q, want it to mention %q", tc.pointers[0], detailAt(e, tc.pointers[0]), tc.detail)
			}
		})
	}
}

func TestParseStructuredKeepsWhatWasSent(t *testing.T) {
	t.Parallel()
	ev, err := ParseStructured([]byte(withMember(`"traceparent": "00-abc-01", "retries": 2, "replayed": true`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(ev.Data()); got != `{"praktikId":"P-17","personId":"person_42","employer":"12345678","hoursPerWeek":10}` {
		t.Errorf("data %s, want it compacted and otherwise as sent", got)
	}
	if ev.DataContentType() != "application/json" {
		t.Errorf("datacontenttype %q, want application/json", ev.DataContentType())
	}
	ext := ev.Extensions()
	if ext["traceparent"] != "00-abc-01" || ext["retries"] != int32(2) || ext["replayed"] != true {
		t.Errorf("extensions %v", ext)
	}
	if got := ev.Time().UTC().Format("15:04"); got != "07:30" {
		t.Errorf("time %v, want 07:30 UTC", ev.Time())
	}
}

// A time in lower case ("t", "z", RFC 3339 section 5.6) is the same event
// as in upper case: one content hash, and marshalled alike, with "T" and
// "Z", the form every reader of the stream parses.
func TestLowerCaseTimeIsTheSameEvent(t *testing.T) {
	t.Parallel()
	parse := func(at string) cloudevents.Event {
		t.Helper()
		ev, err := ParseStructured([]byte(strings.Replace(validJSON, `"2025-05-01T09:30:00+02:00"`, `"`+at+`"`, 1)))
		if err != nil {
			t.Fatalf("%s: %v", at, err)
		}
		return ev
	}
	upper := parse("2025-05-01T07:30:00.5Z")
	want, err := Marshal(upper)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(want), `"time":"2025-05-01T07:30:00.5Z"`) {
		t.Fatalf("marshalled %s", want)
	}
	for _, at := range []string{"2025-05-01t07:30:00.5z", "2025-05-01t07:30:00.5Z", "2025-05-01T07:30:00.5z", "2025-05-01t09:30:00.5+02:00"} {
		ev := parse(at)
		if ContentHash(ev) != ContentHash(upper) {
			t.Errorf("%s: another content hash than its upper-case form", at)
		}
		if got, err := Marshal(ev); err != nil || string(got) != string(want) {
			t.Errorf("%s: marshalled %s, %v; want %s", at, got, err, want)
		}
	}
}

// Heads reads type and source of a body that is readable JSON, however
// broken its events are otherwise, and nothing of a body that is not.
func TestHeads(t *testing.T) {
	t.Parallel()
	broken := strings.Replace(without("time"), `"/departments/bif"`, `"/depart\u006dents/sof"`, 1)
	want := Head{Type: "dk.kk.jobogfamilie.praktik.started.v1", Source: "/departments/sof"}
	if got, ok := Heads([]byte(broken), false); !ok || len(got) != 1 || got[0] != want {
		t.Errorf("structured: %v %v, want %v", got, ok, want)
	}
	got, ok := Heads(batch(validJSON, `[1]`, `{"type": 7, "source": "/departments/suf"}`, broken), true)
	if !ok || len(got) != 4 || got[1] != (Head{}) || got[2] != (Head{Source: "/departments/suf"}) || got[3] != want {
		t.Errorf("batch: %v %v", got, ok)
	}
	for _, unreadable := range []struct {
		body  string
		batch bool
	}{
		{`{"type": "x", "type": "y"}`, false},
		{`{"type": "x"`, false},
		{"{\"type\": \"\xff\"}", false},
		{validJSON, true},
		{"[" + validJSON + ",]", true},
	} {
		if got, ok := Heads([]byte(unreadable.body), unreadable.batch); ok {
			t.Errorf("%q (batch %v): %v, want unreadable", unreadable.body, unreadable.batch, got)
		}
	}
	h := http.Header{"Ce-Type": {"dk.kk.jobogfamilie.praktik.started.v1"}, "Ce-Source": {"/departments/%73of"}}
	if got := BinaryHead(h); got != want {
		t.Errorf("binary: %v, want %v", got, want)
	}
	h["ce-source"] = []string{"/departments/bif"}
	if got := BinaryHead(h); got != (Head{Type: want.Type}) {
		t.Errorf("binary, ce-source twice: %v, want no source", got)
	}
}

// batch joins events into a batch body.
func batch(events ...string) []byte { return []byte("[" + strings.Join(events, ",") + "]") }

func TestParseBatch(t *testing.T) {
	t.Parallel()
	many := func(n int) []byte {
		evs := make([]string, n)
		for i := range evs {
			evs[i] = strings.Replace(validJSON, "bif-jobcenter-000017", fmt.Sprintf("e-%d", i), 1)
		}
		return batch(evs...)
	}
	cases := []struct {
		name     string
		in       []byte
		n        int
		pointers []string
		detail   string
	}{
		{name: "one event", in: batch(validJSON), n: 1},
		{name: "two events", in: batch(validJSON, validJSON), n: 2},
		{name: "the most events", in: many(MaxBatch), n: MaxBatch},
		{name: "too many events", in: many(MaxBatch + 1), pointers: []string{""}, detail: "at most 500"},
		{name: "empty", in: []byte(`[]`), pointers: []string{""}, detail: "at least one"},
		{name: "not an array", in: []byte(validJSON), pointers: []string{""}, detail: "array"},
		{name: "nothing", in: nil, pointers: []string{""}},
		{name: "not JSON", in: []byte(`[{`), pointers: []string{"/0"}},
		{name: "trailing data", in: append(batch(validJSON), ']'), pointers: []string{""}},
		{name: "element not an object", in: batch(validJSON, `"event"`), pointers: []string{"/1"}},
		{name: "problems named by index", in: batch(validJSON, without("time"), withMember(`"data_base64": "e30="`)),
			pointers: []string{"/1/time", "/2/data_base64"}},
		{name: "duplicate inside an element", in: batch(validJSON, validJSON, validJSON, withData(`{"x": 1, "x": 2}`)),
			pointers: []string{"/3/data/x"}},
		{name: "too deep inside an element", in: batch(withData(nested(MaxDepth))), pointers: []string{"/0/data" + strings.Repeat("/a", MaxDepth-1)}},
		{name: "element nested to the limit", in: batch(withData(nested(MaxDepth - 1))), n: 1},
		{name: "invalid UTF-8 inside an element", in: batch(validJSON, strings.Replace(validJSON, "F-1001", "F-\xc3", 1)), pointers: []string{"/1/subject"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, err := ParseBatch(tc.in)
			if tc.pointers == nil {
				if err != nil {
					t.Fatalf("ParseBatch: %v", err)
				}
				if len(evs) != tc.n {
					t.Errorf("%d events, want %d", len(evs), tc.n)
				}
				return
			}
			e := asError(t, err, KindMalformed, tc.pointers...)
			if tc.detail != "" && !strings.Contains(detailAt(e, tc.pointers[0]), tc.detail) {
				t.Errorf("detail %q, want it to mention %q", detailAt(e, tc.pointers[0]), tc.detail)
			}
		})
	}
}

// binaryHeaders is the binary-mode form of validJSON.
func binaryHeaders() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", "bif-jobcenter-000017")
	h.Set("Ce-Source", "/departments/bif")
	h.Set("Ce-Type", praktikType)
	h.Set("Ce-Subject", "F-1001")
	h.Set("Ce-Time", "2025-05-01T09:30:00+02:00")
	return h
}

const binaryBody = `{"praktikId": "P-17", "personId": "person_42", "employer": "12345678", "hoursPerWeek": 10}`

func TestFromBinary(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		mutate   func(h http.Header)
		body     string
		pointers []string
		detail   string
	}{
		{name: "valid", mutate: func(h http.Header) {}},
		{name: "valid with charset", mutate: func(h http.Header) { h.Set("Content-Type", "application/json; charset=UTF-8") }},
		{name: "valid with extension", mutate: func(h http.Header) { h.Set("Ce-Traceparent", "00-abc-01") }},
		{name: "valid with headers not canonicalised", mutate: func(h http.Header) {
			h.Del("Ce-Id")
			h["ce-id"] = []string{"bif-jobcenter-000017"}
		}},
		{name: "valid percent-encoded", mutate: func(h http.Header) { h.Set("Ce-Source", "%2Fdepartments%2Fbif") }},
		{name: "other headers ignored", mutate: func(h http.Header) { h.Set("Authorization", "Bearer dev-bif"); h.Set("X-Purpose", "test") }},

		{name: "missing ce-id", mutate: func(h http.Header) { h.Del("Ce-Id") }, pointers: []string{"/id"}, detail: "missing"},
		{name: "missing ce-time and ce-subject", mutate: func(h http.Header) { h.Del("Ce-Time"); h.Del("Ce-Subject") }, pointers: []string{"/time", "/subject"}},
		{name: "missing ce-specversion", mutate: func(h http.Header) { h.Del("Ce-Specversion") }, pointers: []string{"/specversion"}},
		{name: "specversion 0.3", mutate: func(h http.Header) { h.Set("Ce-Specversion", "0.3") }, pointers: []string{"/specversion"}},
		{name: "time malformed", mutate: func(h http.Header) { h.Set("Ce-Time", "yesterday") }, pointers: []string{"/time"}},
		{name: "id twice", mutate: func(h http.Header) { h.Add("Ce-Id", "other") }, pointers: []string{"/id"}, detail: "once"},
		{name: "id in two spellings", mutate: func(h http.Header) { h["ce-id"] = []string{"other"} }, pointers: []string{"/id"}, detail: "once"},
		{name: "bad percent-encoding", mutate: func(h http.Header) { h.Set("Ce-Subject", "F%zz") }, pointers: []string{"/subject"}, detail: "percent"},
		{name: "percent-encoded invalid UTF-8", mutate: func(h http.Header) { h.Set("Ce-Subject", "F%ff") }, pointers: []string{"/subject"}},
		{name: "ce-datacontenttype", mutate: func(h http.Header) { h.Set("Ce-Datacontenttype", "application/json") }, pointers: []string{"/datacontenttype"}},
		{name: "ce-data_base64", mutate: func(h http.Header) { h.Set("Ce-Data_base64", "e30=") }, pointers: []string{"/data_base64"}, detail: "not accepted"},
		{name: "ce-data", mutate: func(h http.Header) { h.Set("Ce-Data", "x") }, pointers: []string{"/data"}, detail: "not an extension"},
		{name: "ce-schemaurl", mutate: func(h http.Header) { h.Set("Ce-Schemaurl", "https://x") }, pointers: []string{"/schemaurl"}, detail: "0.3"},
		{name: "ce-datacontentencoding", mutate: func(h http.Header) { h.Set("Ce-Datacontentencoding", "base64") }, pointers: []string{"/datacontentencoding"}, detail: "0.3"},
		{name: "ce- name longer than 20", mutate: func(h http.Header) { h.Set("Ce-Abcdefghijklmnopqrstu", "x") }, pointers: []string{"/abcdefghijklmnopqrstu"}},
		{name: "no content type", mutate: func(h http.Header) { h.Del("Content-Type") }, pointers: []string{"/datacontenttype"}},
		{name: "text content type", mutate: func(h http.Header) { h.Set("Content-Type", "text/plain") }, pointers: []string{"/datacontenttype"}},
		{name: "structured content type", mutate: func(h http.Header) { h.Set("Content-Type", "application/cloudevents+json") }, pointers: []string{"/datacontenttype"}},
		{name: "two content types", mutate: func(h http.Header) { h.Add("Content-Type", "application/json") }, pointers: []string{"/datacontenttype"}},
		{name: "empty body", mutate: func(h http.Header) {}, body: " ", pointers: []string{"/data"}},
		{name: "body an array", mutate: func(h http.Header) {}, body: `[]`, pointers: []string{"/data"}},
		{name: "body with duplicate member", mutate: func(h http.Header) {}, body: `{"a": 1, "a": 1}`, pointers: []string{"/data/a"}},
		{name: "body with trailing data", mutate: func(h http.Header) {}, body: `{} {}`, pointers: []string{"/data"}},
		{name: "body too deep", mutate: func(h http.Header) {}, body: nested(MaxDepth), pointers: []string{"/data" + strings.Repeat("/a", MaxDepth-1)}},
		{name: "body with lone surrogate", mutate: func(h http.Header) {}, body: `{"a": "\udfff"}`, pointers: []string{"/data/a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := binaryHeaders()
			tc.mutate(h)
			body := tc.body
			if body == "" {
				body = binaryBody
			}
			ev, err := FromBinary(h, []byte(body))
			if tc.pointers == nil {
				if err != nil {
					t.Fatalf("FromBinary: %v", err)
				}
				if _, err := testValidator.Validate(ev); err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			e := asError(t, err, KindMalformed, tc.pointers...)
			if tc.detail != "" && !strings.Contains(detailAt(e, tc.pointers[0]), tc.detail) {
				t.Errorf("detail %q, want it to mention %q", detailAt(e, tc.pointers[0]), tc.detail)
			}
		})
	}
}

// TestStringsStrict: invalid UTF-8 and unpaired surrogate escapes, which
// decoders silently turn into U+FFFD, are refused; pairs are not.
func TestStringsStrict(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		`"plain"`:               false,
		`"\ufffd"`:              false,
		`"\ud83d\ude00"`:        false,
		`"\\ud800"`:             false, // an escaped backslash, then text
		`"\ud800"`:              true,
		`"\ud800\u0041"`:        true,
		`"\udc00"`:              true,
		`"\ud83d\ude00\ud800"`:  true,
		"\"\xff\"":              true,
		`, "\ud800\\ude00"`:     true,
		`"a\"\ud83d\udc4d\"b"`:  false,
		`"\u00e6\u00f8\u00e5"`:  false,
		`"\uD83D\uDE00"`:        false,
		`"\uDBFF\uDFFF"`:        false,
		`"\uDBFF\uE000"`:        true,
		`"\uD7FF\uDC00"`:        true,
		`"\uDBFF"`:              true,
		`"\ud83d\ude00\ud83d"`:  true,
		`"\ud83d\ude00\u0041"`:  false,
		`"\ud83d\ude00\ud83d\`:  true,
		`"\ud83d\ude00\ude00"`:  true,
		`"\ud83d\ude00x\ude00"`: true,
	}
	for in, want := range cases {
		if got := len(checkJSON([]byte(in), "", MaxDepth)) > 0; got != want {
			t.Errorf("checkJSON(%s) refused = %v, want %v", in, got, want)
		}
	}
}
