package ingest_test

import (
	"strings"
	"testing"
)

// An attribute that holds a CPR number or a control character is refused
// with 422 and its pointer, in every mode, also when the same value breaks
// the attribute's form as well (a source that is no URI reference, a
// subject that ends in white space, an extension name that is no
// CloudEvents name): the content rules decide first, as README's table has
// it, and the answer never repeats the value.
func TestAttributeContentIs422WhateverItsForm(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	structured := func(id, source, subject, ext string) []byte {
		if ext != "" {
			ext = `,` + ext
		}
		return []byte(`{"specversion":"1.0","id":"` + id + `","source":"` + source + `","type":"dk.kk.jobogfamilie.family.referred.v1","subject":"` + subject +
			`","time":"2024-01-01T09:00:00Z","data":{"reason":"r"}` + ext + `}`)
	}
	tests := []struct {
		name, ctype string
		body        []byte
		hdr         map[string]string
		pointer     string
	}{
		{"CPR with a space in source", "application/cloudevents+json",
			structured("ac-1", "/departments/sof/010190 1234", "AC1", ""), nil, "/source"},
		{"CPR with an en dash in source", "application/cloudevents+json",
			structured("ac-2", "/departments/sof/010190\u20131234", "AC1", ""), nil, "/source"},
		{"CPR in full-width digits in source", "application/cloudevents+json",
			structured("ac-3", "/departments/sof/\uff10\uff11\uff10\uff11\uff19\uff10\uff11\uff12\uff13\uff14", "AC1", ""), nil, "/source"},
		{"NUL in source", "application/cloudevents+json",
			structured("ac-4", `/departments/sof/a\u0000`, "AC1", ""), nil, "/source"},
		{"CR at the end of subject", "application/cloudevents+json",
			structured("ac-5", "/departments/sof", `AC1\r`, ""), nil, "/subject"},
		{"NEL at the end of subject", "application/cloudevents+json",
			structured("ac-6", "/departments/sof", `AC1\u0085`, ""), nil, "/subject"},
		{"CPR with a space at the start of subject", "application/cloudevents+json",
			structured("ac-7", "/departments/sof", " 0101901234", ""), nil, "/subject"},
		{"CPR in an extension name with a hyphen", "application/cloudevents+json",
			structured("ac-8", "/departments/sof", "AC1", `"x010190-1234":"v"`), nil, ""},
		{"CPR as an integer extension beyond 32 bits", "application/cloudevents+json",
			structured("ac-13", "/departments/sof", "AC1", `"ref":3112991234`), nil, "/ref"},
		{"CPR with a space in source, in a batch", "application/cloudevents-batch+json",
			batchOf(structured("ac-9", "/departments/sof", "AC1", ""), structured("ac-10", "/departments/sof/010190 1234", "AC1", "")), nil, "/1/source"},
		{"CPR with a space in ce-source", "application/json", []byte(`{"reason":"r"}`),
			map[string]string{"ce-specversion": "1.0", "ce-id": "ac-11", "ce-source": "/departments/sof/010190%201234",
				"ce-type": "dk.kk.jobogfamilie.family.referred.v1", "ce-subject": "AC1", "ce-time": "2024-01-01T09:00:00Z"}, "/source"},
		{"CPR in a ce- extension value too long", "application/json", []byte(`{"reason":"r"}`),
			map[string]string{"ce-specversion": "1.0", "ce-id": "ac-14", "ce-source": "/departments/sof",
				"ce-type": "dk.kk.jobogfamilie.family.referred.v1", "ce-subject": "AC1", "ce-time": "2024-01-01T09:00:00Z",
				"ce-ref": strings.Repeat("x", 1024) + " 0101901234"}, "/ref"},
		{"CPR in an extension value too long", "application/cloudevents+json",
			structured("ac-15", "/departments/sof", "AC1", `"ref":"`+strings.Repeat("x", 1024)+` 0101901234"`), nil, "/ref"},
		{"CPR in a ce- extension name", "application/json", []byte(`{"reason":"r"}`),
			map[string]string{"ce-specversion": "1.0", "ce-id": "ac-12", "ce-source": "/departments/sof",
				"ce-type": "dk.kk.jobogfamilie.family.referred.v1", "ce-subject": "AC1", "ce-time": "2024-01-01T09:00:00Z",
				"ce-x010190-1234": "v"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post("sof", "dev-sof", tc.ctype, tc.body, tc.hdr)
			if r.Status != 422 || !strings.HasSuffix(r.Body["type"].(string), "/invalid-event") {
				t.Fatalf("status %d, want 422 invalid-event: %s", r.Status, r.Raw)
			}
			if tc.pointer != "" && !strings.Contains(r.Raw, `"pointer":"`+tc.pointer+`"`) {
				t.Errorf("want pointer %s: %s", tc.pointer, r.Raw)
			}
			for _, v := range []string{"1234", "\u0085", `\r`, `\u0000`} {
				if strings.Contains(r.Raw, v) {
					t.Errorf("the answer repeats the refused value (%q): %s", v, r.Raw)
				}
			}
		})
	}
	if got := h.lastSeq(); got != 0 {
		t.Fatalf("the stream holds %d messages, want none", got)
	}
}
