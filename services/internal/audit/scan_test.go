package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzAppendLine holds the scanner to json.Valid and AppendLine to its
// promise: whatever a message holds, its line is a strict CloudEvent on
// one line with the message's sequence and recording time, and a stored
// CloudEvent keeps its bytes. AppendRecordLine's lines are JSON objects
// on one line.
func FuzzAppendLine(f *testing.F) {
	for _, s := range []string{
		`{"specversion":"1.0","id":"a","data":{"x":[1,2.5e-3,true,null,"\u00e6\n"]}}`,
		`{}`, ` {"a":1} `, "{\n\"a\":\r\n1}", `{"sequence":1}`, `{"sequ\u0065nce":1}`, `{"recordedAt":"x","a":{"sequence":2}}`,
		`{"specversion":"1.0","id":"a","source":"/s","type":"t"}`, `{"specversion":"1.0","id":"a","source":"/s","type":"t","jfsequence":"1"}`,
		`{"specversion":"1.0","id":"a","source":"/s","type":"t","\u006afx":1}`, `{"specversion":"1.0","id":"a","source":"/s","type":"t","Ab":1}`,
		`{"specversion":"1.0","id":"a","source":"/s","type":"t","time":"2024-05-01T09:30:00+02:00","x":2147483647,"y":false}`,
		`{"specversion":"1.0","id":"a","source":"/s","type":"t","time":"2024-13-01T09:30:00Z"}`,
		`{"specversion":"1.0","id":"a","source":"/s","type":"t","datacontenttype":"text/plain","data":{}}`,
		`{"specversion":"1.0","id":"a","source":"/s","type":"t","data_base64":"eA=="}`,
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
				if sh.recordCollides != (seq || rec) {
					t.Fatalf("recordCollides %v: %q", sh.recordCollides, body)
				}
			}
			if sh.multiline != bytes.ContainsAny(body, "\n\r") {
				t.Fatalf("multiline %v: %q", sh.multiline, body)
			}
		}
		at := time.Date(2024, 5, 1, 9, 30, 0, 120000000, time.UTC)
		line := AppendLine(nil, Stored{Sequence: 42, Subject: "families.F.sof.x", RecordedAt: at}.with(b))
		if bytes.IndexByte(line, '\n') != len(line)-1 {
			t.Fatalf("not one line: %q", line)
		}
		ev, seq, rec := StrictLine(t, line[:len(line)-1])
		if seq != 42 || !rec.Equal(at) {
			t.Fatalf("jfsequence %d, jfrecordedat %v: %q", seq, rec, line)
		}
		if sh.cloudEvent != (ev.Type() != UnreadableType) {
			t.Fatalf("cloudEvent %v, type %s: %q", sh.cloudEvent, ev.Type(), line)
		}
		if sh.object && sh.cloudEvent && !sh.multiline && !bytes.HasPrefix(line, body[:len(body)-1]) {
			t.Fatalf("stored bytes not kept: %q", line)
		}

		rline := AppendRecordLine(nil, Stored{Sequence: 42, Subject: "families.F.sof.x", RecordedAt: at}.with(b))
		if bytes.IndexByte(rline, '\n') != len(rline)-1 {
			t.Fatalf("not one line: %q", rline)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(rline, &m); err != nil {
			t.Fatalf("line is not a JSON object: %v: %q", err, rline)
		}
		if string(m["sequence"]) != "42" {
			t.Fatalf("sequence %s: %q", m["sequence"], rline)
		}
		if sh.object && !sh.recordCollides && !sh.multiline && !bytes.HasPrefix(rline, body[:len(body)-1]) {
			t.Fatalf("stored bytes not kept: %q", rline)
		}
	})
}

func (s Stored) with(b []byte) Stored {
	s.Data = b
	return s
}
