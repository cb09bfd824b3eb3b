package shred

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"kk.dk/jobogfamilie/events"
)

// FuzzMembers holds the in-place editor's scanner to events.ScanStored
// (itself held to json.Valid) on every valid object: the same members,
// names unescaped and values as written; on anything else it must not
// panic. Removing a member or erasing the personal fields leaves valid
// JSON.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}], "d":"x\"y\\", "e":true,"f":null,"g":-1.5e3}`,
		`{"data":{"reason":"\u00e6 <>","note":"\\"},"jfkeyid":"F-1.0"}`, `{"\u0061":{}}`, `[1]`, `{"a"}`, `{"a":}`, `{"a":1,}`,
		"{\"reason\":\"x\"\n}", `{"a":"\ud83d\ude00"}`,
	} {
		f.Add([]byte(s))
	}
	spec, _ := events.ByName("family.referred")
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := members(b, 0)
		n := 0
		valid, object := events.ScanStored(b, func(name, value []byte) { n++ })
		if !valid || !object {
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if len(ms) != n {
			t.Fatalf("%q: %d members, want %d", b, len(ms), n)
		}
		i := 0
		events.ScanStored(b, func(name, value []byte) {
			if string(ms[i].name) != string(name) || string(b[ms[i].valStart:ms[i].valEnd]) != string(value) {
				t.Fatalf("%q: member %d is %q=%q, want %q=%q", b, i, ms[i].name, b[ms[i].valStart:ms[i].valEnd], name, value)
			}
			i++
		})
		for i := range ms {
			if out := apply(b, []edit{removal(ms, i)}); !json.Valid(out) {
				t.Fatalf("%q without member %d: %q", b, i, out)
			}
		}
		if out, _ := EraseData(spec, b); !json.Valid(out) {
			t.Fatalf("%q erased: %q", b, out)
		}
	})
}

// TestStringAtAsJSON: stringAt reads a member's string as encoding/json
// does, on the fast path (a plain token) and off it.
func TestStringAtAsJSON(t *testing.T) {
	for _, tok := range []string{
		`""`, `"F1.0"`, `"jfenc:v2:AbC+/9"`, `"æøå"`, `"a\"b"`, `"\u00e6"`, `"tab\there"`,
		"\"raw\ttab\"", "\"bad \xff utf8\"", `"\ud83d\ude00"`, "\"\xed\xa0\x80\"",
	} {
		doc := []byte(`{"v":` + tok + `}`)
		ms, err := members(doc, 0)
		if err != nil || len(ms) != 1 {
			t.Fatalf("%q: %v", doc, err)
		}
		got, ok := stringAt(doc, ms[0])
		var want string
		wantOK := json.Unmarshal([]byte(tok), &want) == nil
		if ok != wantOK || got != want {
			t.Errorf("%q: stringAt %q, %v; encoding/json %q, %v", tok, got, ok, want, wantOK)
		}
		// What events' strict checker passes (valid JSON and UTF-8, no
		// control character in a string) checkedTextAt reads as textAt.
		if json.Valid(doc) && utf8.Valid(doc) && !bytes.ContainsFunc(doc, func(r rune) bool { return r < 0x20 }) {
			text, ok := textAt(doc, ms[0])
			checked, cok := checkedTextAt(doc, ms[0])
			if ok != cok || string(text) != string(checked) {
				t.Errorf("%q: checkedTextAt %q, %v; textAt %q, %v", tok, checked, cok, text, ok)
			}
		}
	}
}
