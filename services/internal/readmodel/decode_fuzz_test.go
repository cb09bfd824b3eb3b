package readmodel

import (
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// FuzzDecode feeds the projector's reading of a stored message arbitrary
// subjects and bodies, as anyone with NATS credentials could publish them.
// It must never panic; a message is either a valid catalog event of the
// family its subject names, or quarantined with a reason.
func FuzzDecode(f *testing.F) {
	ce, _ := events.Build(events.BIF, "F1", &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10},
		events.WithTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)))
	valid, _ := events.Marshal(ce)
	f.Add("families.F1.bif.praktik.started", valid)
	f.Add("families.F2.bif.praktik.started", valid)
	f.Add("families.F1.sof.praktik.started", valid)
	f.Add("families.F1", valid)
	f.Add("families.F1.bif.praktik.started", []byte("not json"))
	f.Add("families.F1.bif.praktik.started", []byte(`{"specversion":"1.0"}`))
	f.Add("families.F1.bif.praktik.started", []byte(strings.Repeat("[", 5000)))
	f.Add("families.F1.bif.praktik.started", []byte("\xff\xfe"))
	f.Add("families.*.bif.>", valid)
	recorded := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		m := &Message{seq: 1, subject: subject, raw: data, recorded: recorded}
		m.decode()
		if m.reason == "" {
			parts, err := events.ParseSubject(subject)
			if err != nil {
				t.Fatalf("accepted a message with subject %q: %v", subject, err)
			}
			if m.env.FamilyID != parts.FamilyID || m.env.Data == nil {
				t.Fatalf("accepted an event of family %q under subject %q", m.env.FamilyID, subject)
			}
		}
	})
}
