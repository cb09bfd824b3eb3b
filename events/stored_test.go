package events_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

func TestDecodeStored(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	ce, err := events.Build(events.BIF, "F1", &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10},
		events.WithTime(at.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := events.Marshal(ce)
	tests := []struct {
		name     string
		subject  string
		data     []byte
		recorded time.Time
		want     string // "" = accepted; else a part of the refusal
	}{
		{"as ingest stores it", "families.F1.bif.praktik.started", data, at, ""},
		{"other family in the subject", "families.F2.bif.praktik.started", data, at, "subject/family mismatch"},
		{"other department in the subject", "families.F1.sof.praktik.started", data, at, "subject/department mismatch"},
		{"other type in the subject", "families.F1.bif.praktik.ended", data, at, "subject/type mismatch"},
		{"not a family subject", "families.F1", data, at, "subject"},
		{"not JSON", "families.F1.bif.praktik.started", []byte("nope"), at, "malformed"},
		{"judged at recording: the event lay too far ahead then", "families.F1.bif.praktik.started", data, at.Add(-72 * time.Hour), "/time"},
		{"judged at recording: a late replay still accepts it", "families.F1.bif.praktik.started", data, at.AddDate(5, 0, 0), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, err := events.DecodeStored(tc.subject, tc.data, tc.recorded)
			if tc.want == "" {
				if err != nil || env.FamilyID != "F1" || env.Spec.Name != "praktik.started" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ee *events.Error
			if err == nil || !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want an *events.Error mentioning %q", err, tc.want)
			}
		})
	}
	owned := strings.Replace(string(data), `"source":"/departments/bif"`, `"source":"/departments/buf"`, 1)
	if _, err := events.DecodeStored("families.F1.buf.praktik.started", []byte(owned), at); err == nil || !strings.Contains(err.Error(), "not owned") {
		t.Fatalf("a type stored by a department that does not own it: %v", err)
	}
}
