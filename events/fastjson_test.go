package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"kk.dk/jobogfamilie/events/internal/jsonscan"
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

func checkFastCanonical(t *testing.T, doc []byte) bool {
	t.Helper()
	fast, ok := jsonscan.Canonical(doc)
	if !ok {
		return false
	}
	slow, sok := slowCanonical(doc)
	if !sok || !bytes.Equal(fast, slow) {
		t.Fatalf("jsonscan.Canonical(%q) = %s, the general way %s (%v)", doc, fast, slow, sok)
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
		c := checkFastCanonical(t, ev.Data())
		if c {
			fast++
		}
		if _, verr := testValidator.Validate(ev); verr == nil {
			// Every event the catalog accepts takes the fast way, unless
			// it holds text the fast way leaves to the general one.
			plain := !strings.ContainsAny(string(ev.Data()), "\\<>&") && isASCII(ev.Data())
			if plain && !c {
				t.Errorf("a valid event did not take the fast way: %s", s)
			}
			n++
		}
	}
	if n < 35 || fast < 35 {
		t.Fatalf("%d valid seed events, %d of all took the fast way", n, fast)
	}
	for _, doc := range []string{
		`{"b":1,"a":{"z":[1,2,{"y":null,"x":true}],"a b":"c","a":"d"}}`,
		` { "a" : [ ] , "b" : { } } `,
		`{"a":1,"a":2}`, `{"a":"\u00e6"}`, `{"a":"<"}`, `{"a":01}`, `{"a":1e400}`, `{"a":-0.5E+3}`,
		`[1,2]`, `"x"`, `{"a":1} x`, `{"a":`, `{"a b":1,"a":2,"a!":3}`, `{"a":"æ"}`,
	} {
		checkFastCanonical(t, []byte(doc))
	}
	if _, ok := jsonscan.Canonical([]byte(`{"a":1,"a":2}`)); ok {
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
			checkFastCanonical(t, ev.Data())
		}
	})
}
