package audit

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzAppendLine holds the scanner to json.Valid and AppendLine to its
// promise: whatever a message holds, its line is one JSON object on one
// line, and a stored JSON object keeps its bytes.
func FuzzAppendLine(f *testing.F) {
	for _, s := range []string{
		`{"specversion":"1.0","id":"a","data":{"x":[1,2.5e-3,true,null,"\u00e6\n"]}}`,
		`{}`, ` {"a":1} `, "{\n\"a\":\r\n1}", `{"sequence":1}`, `{"sequ\u0065nce":1}`, `{"recordedAt":"x","a":{"sequence":2}}`,
		`[1,2]`, `"s"`, `-0.5E+7`, `01`, `{"a":}`, `{"a" 1}`, `{"a":1,}`, `[1,]`, "\"\x01\"", `"\x"`, `"\u12"`,
		`tru`, `nul`, `{"a":1}{}`, ``, `   `, "\xff", `{"\xff":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		body := bytes.TrimSpace(b)
		sh := scanJSON(body)
		if sh.valid != json.Valid(body) {
			t.Fatalf("scanJSON valid %v, json.Valid %v: %q", sh.valid, !sh.valid, body)
		}
		if sh.valid {
			var top map[string]json.RawMessage
			isObject := json.Unmarshal(body, &top) == nil
			if sh.object != isObject {
				t.Fatalf("object %v: %q", sh.object, body)
			}
			if isObject {
				_, seq := top["sequence"]
				_, rec := top["recordedAt"]
				if sh.collides != (seq || rec) {
					t.Fatalf("collides %v: %q", sh.collides, body)
				}
			}
			if sh.multiline != bytes.ContainsAny(body, "\n\r") {
				t.Fatalf("multiline %v: %q", sh.multiline, body)
			}
		}
		line := AppendLine(nil, Stored{Sequence: 42, Subject: "families.F.sof.x"}.with(b))
		if bytes.IndexByte(line, '\n') != len(line)-1 {
			t.Fatalf("not one line: %q", line)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line is not a JSON object: %v: %q", err, line)
		}
		if string(m["sequence"]) != "42" {
			t.Fatalf("sequence %s: %q", m["sequence"], line)
		}
		if sh.object && !sh.collides && !sh.multiline && !bytes.HasPrefix(line, body[:len(body)-1]) {
			t.Fatalf("stored bytes not kept: %q", line)
		}
	})
}

func (s Stored) with(b []byte) Stored {
	s.Data = b
	return s
}
