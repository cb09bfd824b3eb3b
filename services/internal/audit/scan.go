package audit

import (
	"bytes"

	"kk.dk/jobogfamilie/events"
)

// shape is what AppendLine needs to know of a stored message.
type shape struct {
	valid     bool // one JSON value, as json.Valid decides
	object    bool // ... and it is an object
	multiline bool // ... with a line break in its white space
	// recordCollides: the object has a member named sequence or
	// recordedAt (AppendRecordLine adds them).
	recordCollides bool
	// cloudEvent: the object is a CloudEvent that the SDKs' strict readers
	// accept, without attributes named jf… (AppendLine adds them).
	cloudEvent bool
}

// scanJSON validates b as json.Valid does (a fuzz test holds it to that)
// and tells its shape, in one pass of the catalog's scanner: a replay
// checks every message of the stream before splicing it into a line.
func scanJSON(b []byte) shape {
	var sh shape
	var ce ceCheck
	valid, object := events.ScanStored(b, func(name, value []byte) {
		if string(name) == "sequence" || string(name) == "recordedAt" {
			sh.recordCollides = true
		}
		ce.member(name, value)
	})
	if !valid {
		return shape{}
	}
	sh.valid, sh.object = true, object
	// Valid JSON has line breaks only in its white space.
	// (IndexByte is vectorised; ContainsAny builds a set per call.)
	sh.multiline = bytes.IndexByte(b, '\n') >= 0 || bytes.IndexByte(b, '\r') >= 0
	sh.cloudEvent = object && ce.ok()
	return sh
}
