package events

import (
	"strings"
	"testing"
	"time"
)

// TestReservedExtensionsRefused: attributes named jf… are the audit
// replay's; an event that brings its own is a 422 that points at them, in
// structured and binary mode, and a stored one does not decode.
func TestReservedExtensionsRefused(t *testing.T) {
	t.Parallel()
	ev := praktikEvent()
	ev["jfsequence"] = "1"
	ev["jfrecordedat"] = "2025-05-01T09:30:00Z"
	ev["region"] = "hovedstaden" // other extensions stay welcome
	_, err := testValidator.Validate(mustParse(t, ev))
	asError(t, err, KindInvalid, "/jfsequence", "/jfrecordedat")

	h := binaryHeaders()
	h.Set("Ce-Jfsequence", "1")
	bev, err := FromBinary(h, []byte(binaryBody))
	if err != nil {
		t.Fatalf("FromBinary: %v", err)
	}
	_, err = testValidator.Validate(bev)
	asError(t, err, KindInvalid, "/jfsequence")

	delete(ev, "jfsequence")
	delete(ev, "jfrecordedat")
	ev["jf"] = true
	_, err = DecodeStored("families.F-1001.bif.praktik.started", encode(t, ev), testNow.Add(-time.Hour))
	asError(t, err, KindInvalid, "/jf")

	delete(ev, "jf")
	if _, err := DecodeStored("families.F-1001.bif.praktik.started", encode(t, ev), testNow.Add(-time.Hour)); err != nil {
		t.Fatalf("without jf… attributes: %v", err)
	}
}

// TestExtensionsIngestAcceptsReadBack: an extension that ingest accepts in
// binary mode is one that every reader of the store can read back; the
// names of the data and of CloudEvents 0.3 are refused at the door, as in
// structured mode, rather than stored as an event nobody can decode.
func TestExtensionsIngestAcceptsReadBack(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		header  string
		refused bool
	}{
		{"Ce-Traceparent", false},
		{"Ce-Region", false},
		{"Ce-Data", true},
		{"Ce-Schemaurl", true},
		{"Ce-Datacontentencoding", true},
	} {
		t.Run(c.header, func(t *testing.T) {
			t.Parallel()
			h := binaryHeaders()
			h.Set(c.header, "x")
			ev, err := FromBinary(h, []byte(binaryBody))
			if c.refused {
				asError(t, err, KindMalformed, "/"+strings.ToLower(strings.TrimPrefix(c.header, "Ce-")))
				return
			}
			if err != nil {
				t.Fatalf("FromBinary: %v", err)
			}
			if _, err := testValidator.Validate(ev); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			StampSchema(&ev)
			stored, err := Marshal(ev)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if _, err := DecodeStored("families.F-1001.bif.praktik.started", stored, testNow); err != nil {
				t.Errorf("stored event does not decode: %v\n%s", err, stored)
			}
		})
	}
}
