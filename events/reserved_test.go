package events

import (
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
