package audit_test

import (
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestEmptyFamilyIsRefused: family= given empty is a malformed family
// (400), not no filter: it would widen the access log of one family to
// every family's entries, and a replay of one family to a replay of
// every family, recorded as such.
func TestEmptyFamilyIsRefused(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	s.Post(events.SOF, "FAM-E1", testenv.Enrolment())
	s.WaitApplied(s.Post(events.SOF, "FAM-E1", &events.CaseworkerAssigned{EmployeeID: "E1001"}).Sequence)
	if r := s.Get("/v1/families/FAM-E1", "dev-coordinator", nil); r.Status != 200 {
		t.Fatalf("overview: %d %s", r.Status, r.Raw)
	}
	for _, path := range []string{"/v1/audit/access-log?family=", "/v1/audit/events?family=", "/v1/audit/events?family=&type=family.enrolled"} {
		if r := s.Get(path, "dev-auditor", nil); r.Status != 400 {
			t.Errorf("GET %s: %d %.300s; want 400", path, r.Status, r.Raw)
		}
	}
	if got := testenv.StreamMessages(t, s.SA.Store.JS, eventstore.AccessLogStream, "access.bulk.audit"); len(got) != 0 {
		t.Errorf("a refused replay was recorded as a read of every family: %s", got)
	}
}
