package audit_test

import (
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestAsOfCopenhagenOffsetUnencoded: a time at Copenhagen's offset
// written into the query as it is, +01:00 unencoded, arrives as a space
// (a '+' in a query string is one); it is read as the '+' it was, by the
// as-of timeline and by the from and to of the other audit reads.
func TestAsOfCopenhagenOffsetUnencoded(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam = "FAM-CPH"
	a := s.Post(events.SOF, fam, testenv.Enrolment())
	s.WaitApplied(a.Sequence)
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := s.lines("/v1/audit/events?family=" + fam)
	at := recordedAtOf(t, objs[0]).Truncate(time.Second).Add(time.Second).In(cph)
	checkFor(t, 3*time.Second, func() error {
		if time.Now().After(at) {
			return nil
		}
		return errNotYet
	})
	plain := at.Format(time.RFC3339) // e.g. 2024-01-15T10:00:00+01:00, never Z
	r := s.Get("/v1/audit/families/"+fam+"/timeline?asOf="+plain, "dev-auditor", nil)
	if r.Status != 200 {
		t.Fatalf("asOf=%s: %d %s", plain, r.Status, r.Raw)
	}
	if got, _ := time.Parse(time.RFC3339Nano, r.Body["asOf"].(string)); !got.Equal(at) {
		t.Errorf("asOf=%s answered asOf %v", plain, r.Body["asOf"])
	}
	if entries, _ := r.Body["entries"].([]any); len(entries) != 1 {
		t.Errorf("asOf=%s: %d entries: %s", plain, len(entries), r.Raw)
	}
	from := at.Add(-time.Hour).Format(time.RFC3339)
	if objs, _ := s.lines("/v1/audit/events?family=" + fam + "&from=" + from + "&to=" + plain); len(objs) != 1 {
		t.Errorf("events from=%s to=%s: %d lines", from, plain, len(objs))
	}
	// A space anywhere else is still no time.
	for _, bad := range []string{"2024-01-15 10:00:00Z", "2024-01-15T10:00:00 0100", "2024-01-15T10:00:00%2001:00%20"} {
		if r := s.Get("/v1/audit/families/"+fam+"/timeline?asOf="+bad, "dev-auditor", nil); r.Status != 400 {
			t.Errorf("asOf=%s: %d %s", bad, r.Status, r.Raw)
		}
	}
}

// TestAsOfFutureIsNow: what is known of a moment still to come is what is
// known now. An asOf after the request is answered as of the request,
// and the answer says so, so that the same view is had again later by
// asking for the asOf it gives; events recorded after the request are in
// no view of it.
func TestAsOfFutureIsNow(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam = "FAM-FUT"
	a := s.Post(events.SOF, fam, testenv.Enrolment())
	s.WaitApplied(a.Sequence)
	future := "2199-01-01T00:00:00Z"
	v := s.asOf(fam, time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC))
	answered := time.Now().UTC()
	if v.AsOf.After(answered) {
		t.Fatalf("asOf=%s answered as of %s, after the answer came (%s)", future, v.AsOf, answered)
	}
	if len(v.Entries) != 1 {
		t.Fatalf("asOf=%s: %+v", future, v.Entries)
	}
	b := s.Post(events.BIF, fam, &events.BenefitGranted{PersonID: "P1", Benefit: "integrationsydelse"})
	s.WaitApplied(b.Sequence)
	again := s.asOf(fam, v.AsOf)
	if len(again.Entries) != len(v.Entries) || again.Overview.TotalEvents != v.Overview.TotalEvents {
		t.Errorf("as of %s again, after a later event: %d entries, was %d", v.AsOf, len(again.Entries), len(v.Entries))
	}
}
