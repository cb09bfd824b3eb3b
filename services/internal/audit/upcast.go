package audit

import (
	"bytes"
	"encoding/json"

	"kk.dk/jobogfamilie/events"
)

// ExtStoredType is the extension attribute of an upcast replay line: the
// CloudEvents type the event was stored as, when the line presents it as a
// later version (?upcast=true).
const ExtStoredType = "jfstoredtype"

// AppendUpcastLine appends the replay line of a stored message as the
// latest version of its type: for an event stored as an earlier version,
// the CloudEvent as every read path presents it (events.DecodeLatest: the
// latest type, dataschema and data; every other attribute as stored), with
// jfsequence, jfrecordedat and jfstoredtype; for anything else (an
// unreadable message included) the line AppendLine writes, the stored
// bytes. What is stored is never changed:
// without ?upcast=true, and in the export and its hash chain, a replay
// holds the stored bytes.
func AppendUpcastLine(dst []byte, s Stored) []byte {
	if s.Unreadable != "" || !earlierVersion(s.Data) {
		return AppendLine(dst, s)
	}
	env, err := events.DecodeLatest(s.Subject, s.Data, s.RecordedAt)
	if err != nil || env.StoredType == "" {
		// Not an event the read paths present (the projector quarantines
		// it): the stored bytes, as without upcast.
		return AppendLine(dst, s)
	}
	body, err := events.Marshal(env.Event)
	if err != nil {
		return AppendLine(dst, s)
	}
	body = bytes.TrimSpace(body)
	dst = append(dst, body[:len(body)-1]...)
	dst = append(dst, ',')
	dst = appendExtensions(dst, s)
	dst = append(dst, `,"`+ExtStoredType+`":`...)
	dst = appendJSONString(dst, env.StoredType)
	return append(dst, '}', '\n')
}

// earlierVersion reports whether a stored message names an earlier
// version of a catalog type, read from its type member alone, so that the
// upcast replay decodes only the events it changes.
func earlierVersion(b []byte) bool {
	var typ []byte
	events.ScanStored(b, func(name, value []byte) {
		if string(name) == "type" {
			typ = value
		}
	})
	var t string
	if typ == nil || json.Unmarshal(typ, &t) != nil {
		return false
	}
	spec, ok := events.ByType(t)
	return ok && !spec.IsLatest()
}
