package audit

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// attributeNamePattern is the CloudEvents rule for attribute names, which
// the JavaScript SDK enforces and the Go SDK does not (it takes upper case
// and folds it).
var attributeNamePattern = regexp.MustCompile(`^[a-z0-9]+$`)

// StrictLine holds one replay line to the Go CloudEvents SDK's strict
// reader (UnmarshalJSON, which checks extension names and values, then
// Validate) and to the attribute name rule, and returns the event with the
// stream sequence and recording time it carries in jfsequence and
// jfrecordedat.
func StrictLine(t testing.TB, line []byte) (event.Event, uint64, time.Time) {
	t.Helper()
	var ev event.Event
	if err := ev.UnmarshalJSON(line); err != nil {
		t.Fatalf("not a CloudEvent for the Go SDK: %v: %s", err, line)
	}
	if err := ev.Validate(); err != nil {
		t.Fatalf("not a valid CloudEvent for the Go SDK: %v: %s", err, line)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(line, &top); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, line)
	}
	for name := range top {
		if !attributeNamePattern.MatchString(name) && name != "data" && name != "data_base64" {
			t.Fatalf("attribute name %q: %s", name, line)
		}
	}
	seqText, ok := ev.Extensions()[ExtSequence].(string)
	if !ok {
		t.Fatalf("%s is not a String: %s", ExtSequence, line)
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil || strconv.FormatUint(seq, 10) != seqText {
		t.Fatalf("%s %q is not a decimal stream sequence: %s", ExtSequence, seqText, line)
	}
	atText, ok := ev.Extensions()[ExtRecordedAt].(string)
	if !ok {
		t.Fatalf("%s is not a String: %s", ExtRecordedAt, line)
	}
	at, err := time.Parse(time.RFC3339Nano, atText)
	if err != nil || at.Location() != time.UTC {
		t.Fatalf("%s %q is not an RFC 3339 time in UTC: %s", ExtRecordedAt, atText, line)
	}
	return ev, seq, at
}

// TestNonJSONSpaceIsUnreadable: a stored message whose only fault is
// white space around it that JSON does not allow (form feed, vertical tab,
// no-break space, next line) is not JSON as stored, and the projector
// quarantines it: its replay line is an unreadable one.
func TestNonJSONSpaceIsUnreadable(t *testing.T) {
	t.Parallel()
	ce := `{"specversion":"1.0","id":"e1","source":"/departments/sof","type":"x","subject":"F1"}`
	for _, tail := range []string{"\f", "\v", "\u00a0", "\u0085"} {
		data := []byte(ce + tail)
		line := AppendLine(nil, Stored{Sequence: 7, Subject: "families.F1.sof.x", RecordedAt: time.Unix(0, 0), Data: data})
		if !strings.Contains(string(line), UnreadableType) {
			t.Errorf("stored %q, not JSON, written as a readable event: %s", data, line)
		}
	}
	if line := AppendLine(nil, Stored{Sequence: 7, Subject: "families.F1.sof.x", RecordedAt: time.Unix(0, 0), Data: []byte(" \t" + ce + "\r\n")}); strings.Contains(string(line), UnreadableType) {
		t.Errorf("JSON with its own white space around it written as unreadable: %s", line)
	}
}
