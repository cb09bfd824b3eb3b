package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// slowCanonical is canonicalJSON without its fast path.
func slowCanonical(b []byte) ([]byte, bool) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, false
	}
	c, err := json.Marshal(v)
	return c, err == nil
}

// checkFastJSON holds the fast encoders to the general ones: where a fast
// one answers, its bytes are exactly the general one's.
func checkFastJSON(t *testing.T, ev cloudevents.Event) (marshalled, canonical bool) {
	t.Helper()
	if ev.Context != nil {
		if fast, ok := fastMarshal(ev); ok {
			slow, err := json.Marshal(ev)
			if err != nil || !bytes.Equal(fast, slow) {
				t.Fatalf("fastMarshal wrote\n%s\njson.Marshal wrote\n%s (%v)", fast, slow, err)
			}
			marshalled = true
		}
	}
	canonical = checkFastCanonical(t, ev.Data())
	return marshalled, canonical
}

func checkFastCanonical(t *testing.T, doc []byte) bool {
	t.Helper()
	fast, ok := fastCanonical(doc)
	if !ok {
		return false
	}
	slow, sok := slowCanonical(doc)
	if !sok || !bytes.Equal(fast, slow) {
		t.Fatalf("fastCanonical(%q) = %s, the general way %s (%v)", doc, fast, slow, sok)
	}
	return true
}

func TestFastJSONMatchesTheGeneralEncoders(t *testing.T) {
	n, fast := 0, 0
	for _, s := range eventSeeds() {
		ev, err := ParseStructured([]byte(s))
		if err != nil {
			continue
		}
		StampSchema(&ev)
		m, c := checkFastJSON(t, ev)
		if m && c {
			fast++
		}
		if _, verr := testValidator.Validate(ev); verr == nil {
			// Every event the catalog accepts takes both fast ways, unless
			// it holds text the fast ways leave to the general ones.
			plain := !strings.ContainsAny(string(ev.Data()), "\\<>&") && isASCII(ev.Data())
			if plain && (!c || (len(ev.Extensions()) == 0 && !m)) {
				t.Errorf("a valid event did not take the fast way (marshal %v, canonical %v): %s", m, c, s)
			}
			n++
		}
	}
	if n < 35 || fast < 35 {
		t.Fatalf("%d valid seed events, %d of all took both fast ways", n, fast)
	}
	for _, doc := range []string{
		`{"b":1,"a":{"z":[1,2,{"y":null,"x":true}],"a b":"c","a":"d"}}`,
		` { "a" : [ ] , "b" : { } } `,
		`{"a":1,"a":2}`, `{"a":"\u00e6"}`, `{"a":"<"}`, `{"a":01}`, `{"a":1e400}`, `{"a":-0.5E+3}`,
		`[1,2]`, `"x"`, `{"a":1} x`, `{"a":`, `{"a b":1,"a":2,"a!":3}`, `{"a":"æ"}`,
	} {
		checkFastCanonical(t, []byte(doc))
	}
	if _, ok := fastCanonical([]byte(`{"a":1,"a":2}`)); ok {
		t.Fatal("duplicate members took the fast way")
	}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func FuzzFastJSON(f *testing.F) {
	for _, s := range eventSeeds() {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"b":1,"a":{"z":[1,2,{"y":null,"x":true}],"a b":"c","a":"d"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastCanonical(t, b)
		if ev, err := ParseStructured(b); err == nil {
			StampSchema(&ev)
			checkFastJSON(t, ev)
			ev.SetExtension("traceparent", "00-"+ev.ID())
			checkFastJSON(t, ev)
		}
	})
}

func BenchmarkMarshalAndHash(b *testing.B) {
	ev, err := ParseStructured([]byte(validJSON))
	if err != nil {
		b.Fatal(err)
	}
	StampSchema(&ev)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := Marshal(ev); err != nil {
				b.Fatal(err)
			}
			ContentHash(ev)
		}
	})
	b.Run("general", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(ev); err != nil {
				b.Fatal(err)
			}
			slowCanonical(ev.Data())
		}
	})
}
