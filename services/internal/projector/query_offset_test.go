package projector_test

import (
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestQueryTimeUnencodedOffset: a time at Copenhagen's offset written
// into the query as it is (from=2024-05-01T11:00:00+02:00) arrives with a
// space for the '+' (a query string reads '+' as a space); the coordinator
// timeline's from and to and the evaluation's asOf, knownAt, from and to
// read it as the '+' it was, as the audit service does. A space anywhere
// else is still no time, and the 400 says what the parameter takes.
func TestQueryTimeUnencodedOffset(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-CPH"
	enrolled := time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)
	s.post(events.SOF, fam, testenv.Enrolment(), events.WithTime(enrolled))
	s.WaitApplied(s.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"}))

	p := s.timeline(fam, "from=2024-05-01T11:00:00+02:00&to=2024-05-01T12:00:00+02:00", "dev-coordinator", nil)
	if len(p.Entries) != 1 || !p.Entries[0].Time.Equal(enrolled) {
		t.Errorf("timeline from 11:00+02:00 to 12:00+02:00: %+v, want the enrolment alone", p.Entries)
	}

	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	knownAt := time.Now().Add(-time.Second).Truncate(time.Second).In(cph)
	a := s.exactEvaluation("asOf=2024-05-01T12:00:00+02:00&knownAt=" + knownAt.Format(time.RFC3339))
	if want := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC); !a.AsOf.Equal(want) {
		t.Errorf("asOf=2024-05-01T12:00:00+02:00 answered asOf %v, want %v", a.AsOf, want)
	}
	if !a.KnownAt.Equal(knownAt) {
		t.Errorf("knownAt=%s answered knownAt %v", knownAt.Format(time.RFC3339), a.KnownAt)
	}
	if r := s.Get("/v1/evaluation/series?from=2024-01-01T00:00:00+01:00&to=2024-06-01T00:00:00+02:00", "dev-analyst", nil); r.Status != 200 {
		t.Errorf("series from=2024-01-01T00:00:00+01:00: %d %s", r.Status, r.Raw)
	}

	const (
		momentDetail  = " must be an RFC 3339 time (2024-05-01T09:30:00Z) or a date (2024-05-01, a day in Copenhagen)"
		evalDetail    = " must be a date (YYYY-MM-DD) or an RFC 3339 time within the years 1900–2200"
		knownAtDetail = "knownAt must be an RFC 3339 time within the years 1900–2200"
	)
	for _, tc := range []struct{ path, detail string }{
		{"/v1/families/" + fam + "/timeline?from=2024-05-01T11:00:00%2002:00%20", "from" + momentDetail},
		{"/v1/families/" + fam + "/timeline?to=2024-05-01%2011:00:00+02:00", "to" + momentDetail},
		{"/v1/families/" + fam + "/timeline?from=2024-05-01T11:00:00+0200", "from" + momentDetail},
		{"/v1/evaluation?asOf=2024-05-01+02:00", "asOf" + evalDetail},
		{"/v1/evaluation?knownAt=2024-05-01T11:00:00%2002:00%20", knownAtDetail},
		{"/v1/evaluation?knownAt=2300-01-01T00:00:00+01:00", knownAtDetail},
		{"/v1/evaluation/series?from=2024-01-01T00:00:00+0100&to=2024-06-01", "from" + evalDetail},
	} {
		token := "dev-analyst"
		if tc.path[4] == 'f' {
			token = "dev-coordinator"
		}
		r := s.Get(tc.path, token, nil)
		if r.Status != 400 || r.Body["detail"] != tc.detail {
			t.Errorf("%s: %d %s, want 400 %q", tc.path, r.Status, r.Raw, tc.detail)
		}
	}
}
