package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// timeRegexp is the pattern rfc3339Shape implements by hand.
var timeRegexp = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`)

var shapeSeeds = []string{
	"2024-05-01T09:30:00Z", "2024-05-01T09:30:00.123456789Z", "2024-05-01T09:30:00.1234567890Z",
	"2024-05-01T09:30:00+02:00", "2024-05-01T09:30:00-23:59", "2024-05-01T09:30:00+24:00", "2024-05-01T09:30:00+19:60",
	"2024-05-01T09:30:00.Z", "2024-05-01T9:30:00Z", "2024-05-01 09:30:00Z", "2024-05-01T09:30:00", "2024-05-01T09:30:00z", "2024-05-01t09:30:00.5Z", "2024-05-01t09:30:00+01:00",
	"2024-05-01T09:30:00+0200", "2024-05-01T09:30:00,5Z", "", "/", "/departments/bif", "//x", "/a b", "/a/./b", "/x:y", "x",
	"/departments/bif/system_1", "/%41", "/ä",
}

func FuzzRFC3339Shape(f *testing.F) {
	for _, s := range shapeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := rfc3339Shape(s), timeRegexp.MatchString(s); got != want {
			t.Fatalf("rfc3339Shape(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}

func FuzzSimplePath(f *testing.F) {
	for _, s := range shapeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !simplePath(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil || u.String() != s || !reflect.DeepEqual(*u, url.URL{Path: s}) {
			t.Fatalf("simplePath(%q) but url.Parse gives %#v, %v", s, u, err)
		}
	})
}

var (
	idRegexp     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	cprRegexp    = regexp.MustCompile(`^[0-9]{6}-?[0-9]{4}$`)
	sourceRegexp = regexp.MustCompile(`^/departments/([^/]*)(?:/([A-Za-z0-9_-]{1,64}))?$`)
)

var idSeeds = []string{
	"", "F1", "F-1001", "person_42", "0101701234", "010170-1234", "010170-123", "01017012345", "a b", "æ",
	strings.Repeat("a", 64), strings.Repeat("a", 65), "/departments/bif", "/departments/bif/jobcenter", "/departments/",
	"/departments/bif/", "/departments/bif/a/b", "/departments/b\nf", "/departments/bif/" + strings.Repeat("x", 65),
	"/departments/\xff", "departments/bif",
}

// FuzzHandWrittenPatterns holds the hand-written id, CPR and source checks
// to the patterns they replace.
func FuzzHandWrittenPatterns(f *testing.F) {
	for _, s := range idSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := idShaped(s), idRegexp.MatchString(s); got != want {
			t.Fatalf("idShaped(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := cprShaped(s), cprRegexp.MatchString(s); got != want {
			t.Fatalf("cprShaped(%q) = %v, the pattern says %v", s, got, want)
		}
		m := sourceRegexp.FindStringSubmatch(s)
		dept, ok := sourceDepartment(s)
		if ok != (m != nil) || (ok && dept != m[1]) {
			t.Fatalf("sourceDepartment(%q) = %q, %v; the pattern says %q", s, dept, ok, m)
		}
	})
}

// FuzzCompactJSON: a document compactJSON calls compact is what
// json.Compact makes of it.
func FuzzCompactJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a": 1}`, `{"a":"b c"}`, `{"a":"\" "}`, `{"a":"\\"," b":2}`, "{\"a\":[1,\n2]}", `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) || !compactJSON(b) {
			return
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil || !bytes.Equal(buf.Bytes(), b) {
			t.Fatalf("compactJSON(%q) but json.Compact gives %q (%v)", b, buf.Bytes(), err)
		}
	})
}

// settersEvent is how assemble built events before it filled the SDK's
// context itself: through the SDK's setters.
func settersEvent(attrs map[string]string, t time.Time) cloudevents.Event {
	ev := cloudevents.NewEvent()
	ev.SetID(attrs["id"])
	ev.SetSource(attrs["source"])
	ev.SetType(attrs["type"])
	ev.SetSubject(attrs["subject"])
	ev.SetTime(t)
	ev.SetDataContentType(contentTypeJSON)
	if s, ok := attrs["dataschema"]; ok {
		ev.SetDataSchema(s)
	}
	return ev
}

// TestAssembleAsTheSetters: the event assemble fills in is the one the
// SDK's setters make of the same attributes.
func TestAssembleAsTheSetters(t *testing.T) {
	for _, source := range []string{"/departments/bif", "/departments/sof/system_1", "/a.b~c", "urn:kk:bif",
		"https://kk.dk/departments/bif?x=1#f", "/departments/b%20f", "departments/bif", "/æ"} {
		for _, schema := range []string{"", "https://schemas.kk.dk/praktik.started.v1.json", "urn:x:y"} {
			attrs := map[string]string{"specversion": "1.0", "id": "ev-1", "source": source,
				"type": "dk.kk.jobogfamilie.praktik.started.v1", "subject": "F1", "time": "2024-05-01T09:30:00.5+02:00"}
			if schema != "" {
				attrs["dataschema"] = schema
			}
			var set attrSet
			for name, v := range attrs {
				set.put(name, v)
			}
			got, ps := assemble("", &set, map[string]any{"traceparent": "00-x"}, []byte(`{}`))
			if len(ps) > 0 {
				if u, err := url.Parse(source); err == nil && u.String() == source {
					t.Errorf("source %q, schema %q: %v", source, schema, ps)
				}
				continue
			}
			tm, _ := time.Parse(time.RFC3339Nano, attrs["time"])
			want := settersEvent(attrs, tm)
			want.SetExtension("traceparent", "00-x")
			if !reflect.DeepEqual(got.Context, want.Context) || len(got.FieldErrors) > 0 {
				t.Errorf("source %q, schema %q:\n got %#v\nwant %#v", source, schema, got.Context, want.Context)
			}
		}
	}
}

// TestProblemsInNameOrder: the problems of the members come in the order
// of the members' names, whatever the order in the document.
func TestProblemsInNameOrder(t *testing.T) {
	_, err := ParseStructured([]byte(`{"type":1,"zz":{},"data":[],"data_base64":"x","id":2,"datacontenttype":"text/plain","source":3}`))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%v", err)
	}
	var got []string
	for _, p := range e.Problems {
		got = append(got, p.Pointer)
	}
	want := []string{"/data", "/data_base64", "/datacontenttype", "/id", "/source", "/type", "/zz"}
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("problems at %v, want them to begin with %v", got, want)
	}
}

// TestStampSchemaAsTheSetter: StampSchema sets what SetDataSchema would.
func TestStampSchemaAsTheSetter(t *testing.T) {
	for _, spec := range Catalog() {
		for range 2 { // the second time from the remembered URL
			stamped := cloudevents.NewEvent()
			stamped.SetType(spec.Type())
			set := stamped.Clone()
			StampSchema(&stamped)
			set.SetDataSchema(spec.SchemaURL())
			if !reflect.DeepEqual(stamped.Context, set.Context) {
				t.Fatalf("%s: %#v, the setter %#v", spec.Name, stamped.Context, set.Context)
			}
		}
	}
}
