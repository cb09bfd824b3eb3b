package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"kk.dk/jobogfamilie/services/internal/eventstore"
)

// Stored is one message of a stream as JetStream stored it.
type Stored struct {
	Sequence   uint64
	Subject    string
	RecordedAt time.Time
	Data       []byte
	// Erased names the personal fields that read as erased (package
	// shred); the line says so in ExtErased.
	Erased []string
	// Unreadable says, when it is known, why the message could not be
	// read as an event (a key that does not open its personal fields, or
	// a personal field published in the clear around ingest): its line is
	// an unreadable one, whatever its shape, and says so in ExtReason.
	Unreadable string
}

// The extension attributes a replay line adds to a stored CloudEvent. The
// prefix jf is reserved for them: ingest refuses events that carry an
// attribute named jf…, so only a direct NATS publish can collide.
const (
	// ExtSequence is the stream sequence, as a decimal String: a CloudEvents
	// Integer is a signed 32-bit number, and a stream sequence is uint64.
	ExtSequence = "jfsequence"
	// ExtRecordedAt is the JetStream timestamp, when the stream stored the
	// message: a CloudEvents Timestamp (RFC 3339 in UTC).
	ExtRecordedAt = "jfrecordedat"
	// ExtNATSSubject is the NATS subject of an unreadable message.
	ExtNATSSubject = "jfnatssubject"
	// ExtErased names, comma-separated, the personal fields of an erased
	// family's event, which read as the tombstone "[slettet]".
	ExtErased = "jferased"
	// ExtReason says why a message is unreadable, when the replay knows
	// (an encrypted event and no master key, or a key that does not open).
	ExtReason = "jfreason"
)

// The attributes of the CloudEvent a replay writes for a stored message
// that is not a CloudEvent it can pass on as it is.
const (
	UnreadableType   = "dk.kk.jobogfamilie.audit.unreadable.v1"
	UnreadableSource = "/audit"
)

// UnreadableID is the id of the CloudEvent a replay writes for the
// unreadable message at seq of FAMILY_EVENTS: unique within
// UnreadableSource, and the same in every replay.
func UnreadableID(seq uint64) string {
	return eventstore.FamilyStream + "/" + strconv.FormatUint(seq, 10)
}

// AppendLine appends the replay line of a stored message of FAMILY_EVENTS
// to dst: a CloudEvent in the JSON format that the CloudEvents SDKs' strict
// readers accept, and a newline.
//
// A stored CloudEvent is written exactly as it is stored, with the
// extension attributes jfsequence (the stream sequence, a String) and
// jfrecordedat (the JetStream timestamp, RFC 3339 in UTC) added as its last
// members. Nothing of it is decoded and encoded again, so every attribute
// and the data keep their bytes, and a replay costs little more than
// reading the stream. JSON that spans several lines is compacted first: a
// line is one message.
//
// A stored message that cannot be written that way (possible by a direct
// NATS publish, which the projector quarantines: not JSON, JSON but not a
// CloudEvent as strict readers take it, a CloudEvent that has an
// attribute named jf…, or one that every reader refuses, which
// s.Unreadable says, such as a personal field in the clear) is still
// written, so that an auditor sees everything the stream holds, as a
// CloudEvent of type UnreadableType from UnreadableSource with the id
// UnreadableID, time jfrecordedat, jfsequence, jfrecordedat,
// jfnatssubject, jfreason when s.Unreadable is set, and as data the
// stored JSON (compacted when it spans several lines) or, when it is not
// JSON, data_base64 of the stored bytes.
func AppendLine(dst []byte, s Stored) []byte {
	body := trimJSONSpace(s.Data)
	sh := scanJSON(body)
	if sh.object && sh.cloudEvent && s.Unreadable == "" {
		return extendObject(dst, body, sh, s, appendExtensions)
	}
	dst = append(dst, `{"specversion":"1.0","id":`...)
	dst = strconv.AppendQuote(dst, UnreadableID(s.Sequence))
	dst = append(dst, `,"source":"`+UnreadableSource+`","type":"`+UnreadableType+`","time":`...)
	dst = appendTime(dst, s.RecordedAt)
	dst = append(dst, ',')
	dst = appendExtensions(dst, s)
	dst = append(dst, `,"`+ExtNATSSubject+`":`...)
	dst = appendJSONString(dst, s.Subject)
	if s.Unreadable != "" {
		dst = append(dst, `,"`+ExtReason+`":`...)
		dst = appendJSONString(dst, s.Unreadable)
	}
	if sh.valid {
		dst = append(dst, `,"datacontenttype":"application/json","data":`...)
		dst = append(dst, oneLine(body, sh)...)
	} else {
		dst = append(dst, `,"datacontenttype":"application/octet-stream","data_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, s.Data)
		dst = append(dst, '"')
	}
	return append(dst, '}', '\n')
}

// AppendRecordLine appends the JSON Lines form of a stored message of a
// stream of records that are not CloudEvents (ACCESS_LOG) to dst: the
// stored JSON object as it is stored with "sequence" (a number) and
// "recordedAt" added as its last members, or, for a message that is not a
// JSON object or already has one of these members,
// {"sequence","recordedAt","natsSubject","event":<the stored JSON>}, and
// {"sequence","recordedAt","natsSubject","raw":"<base64>"} when it is not
// JSON at all.
func AppendRecordLine(dst []byte, s Stored) []byte {
	body := trimJSONSpace(s.Data)
	sh := scanJSON(body)
	if sh.object && !sh.recordCollides {
		return extendObject(dst, body, sh, s, appendRecordMeta)
	}
	dst = append(dst, '{')
	dst = appendRecordMeta(dst, s)
	dst = append(dst, `,"natsSubject":`...)
	dst = appendJSONString(dst, s.Subject)
	if sh.valid {
		var buf bytes.Buffer
		_ = json.Compact(&buf, body)
		dst = append(dst, `,"event":`...)
		dst = append(dst, buf.Bytes()...)
	} else {
		dst = append(dst, `,"raw":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, s.Data)
		dst = append(dst, '"')
	}
	return append(dst, '}', '\n')
}

// oneLine is valid JSON body on one line: as it is, or compacted when it
// has line breaks in its white space.
// trimJSONSpace is b without JSON's white space around it (space, tab,
// line feed, carriage return): other white space, which bytes.TrimSpace
// would take off too, leaves a stored message that is not JSON as it is.
func trimJSONSpace(b []byte) []byte { return bytes.Trim(b, " \t\n\r") }

// extendObject appends the JSON object body on one line, with the members
// add writes for s after its own, and a newline.
func extendObject(dst, body []byte, sh shape, s Stored, add func([]byte, Stored) []byte) []byte {
	body = oneLine(body, sh)
	dst = append(dst, body[:len(body)-1]...)
	if len(trimJSONSpace(body[1:len(body)-1])) > 0 {
		dst = append(dst, ',')
	}
	dst = add(dst, s)
	return append(dst, '}', '\n')
}

func oneLine(body []byte, sh shape) []byte {
	if !sh.multiline {
		return body
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, body)
	return buf.Bytes()
}

func appendExtensions(dst []byte, s Stored) []byte {
	dst = append(dst, `"`+ExtSequence+`":"`...)
	dst = strconv.AppendUint(dst, s.Sequence, 10)
	dst = append(dst, `","`+ExtRecordedAt+`":`...)
	dst = appendTime(dst, s.RecordedAt)
	if len(s.Erased) > 0 {
		dst = append(dst, `,"`+ExtErased+`":`...)
		dst = appendJSONString(dst, strings.Join(s.Erased, ","))
	}
	return dst
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

func appendRecordMeta(dst []byte, s Stored) []byte {
	dst = append(dst, `"sequence":`...)
	dst = strconv.AppendUint(dst, s.Sequence, 10)
	dst = append(dst, `,"recordedAt":`...)
	return appendTime(dst, s.RecordedAt)
}

// appendJSONString appends v as a JSON string. A NATS subject is printable
// ASCII without spaces, but a line must be JSON whatever the server sent.
func appendJSONString(dst []byte, v string) []byte {
	b, _ := json.Marshal(v)
	return append(dst, b...)
}
