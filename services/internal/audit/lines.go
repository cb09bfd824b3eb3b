package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// Stored is one message of a stream as JetStream stored it.
type Stored struct {
	Sequence   uint64
	Subject    string
	RecordedAt time.Time
	Data       []byte
}

// AppendLine appends the JSON Lines form of a stored message to dst: the
// stored JSON object exactly as it is stored, with "sequence" and
// "recordedAt" (the JetStream timestamp, RFC 3339 in UTC) added as its
// last members, and a newline. Nothing of the CloudEvent is decoded and
// encoded again, so every attribute and the data keep their bytes, and a
// replay costs little more than reading the stream.
//
// A stored message that cannot be written that way (possible by a direct
// NATS publish, which the projector quarantines) is still written, so that
// an auditor sees everything the stream holds: as
// {"sequence","recordedAt","natsSubject","event":<the stored JSON>} when it
// is JSON but not an object, or an object that already has a member named
// sequence or recordedAt (the CloudEvents "sequence" extension), and as
// {"sequence","recordedAt","natsSubject","raw":"<base64>"} when it is not
// JSON at all. JSON that spans several lines is compacted first: a line is
// one message.
func AppendLine(dst []byte, s Stored) []byte {
	body := bytes.TrimSpace(s.Data)
	sh := scanJSON(body)
	if sh.object && !sh.collides {
		if sh.multiline {
			var buf bytes.Buffer
			_ = json.Compact(&buf, body)
			body = buf.Bytes()
		}
		dst = append(dst, body[:len(body)-1]...)
		if len(bytes.TrimSpace(body[1:len(body)-1])) > 0 {
			dst = append(dst, ',')
		}
		dst = appendMeta(dst, s)
		return append(dst, '}', '\n')
	}
	dst = append(dst, '{')
	dst = appendMeta(dst, s)
	dst = append(dst, `,"natsSubject":`...)
	dst = strconv.AppendQuote(dst, s.Subject)
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

func appendMeta(dst []byte, s Stored) []byte {
	dst = append(dst, `"sequence":`...)
	dst = strconv.AppendUint(dst, s.Sequence, 10)
	dst = append(dst, `,"recordedAt":"`...)
	dst = s.RecordedAt.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}
