package audit_test

import (
	"net/http"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestHeadReadsNoFamily: a HEAD of a read of family data is answered 405
// (Allow: GET) before anything is read or recorded. Answered as a GET
// without its body it would put a read in the access log, and in the
// citizen's access report, that showed nothing but the length of the
// family's data; every read of family data is a GET, recorded once.
func TestHeadReadsNoFamily(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam = "FAM-HEAD"
	s.Post(events.SOF, fam, testenv.Enrolment())
	s.WaitApplied(s.Post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"}).Sequence)
	entries := func() int {
		return len(testenv.StreamMessages(t, s.SA.Store.JS, eventstore.AccessLogStream, "access.>"))
	}
	before := entries()
	for _, rd := range []struct{ path, token string }{
		{"/v1/families", "dev-coordinator"},
		{"/v1/families/" + fam, "dev-coordinator"},
		{"/v1/families/" + fam + "/timeline", "dev-coordinator"},
		{"/v1/families/" + fam + "/timeline/stream", "dev-coordinator"},
		{"/v1/audit/events?family=" + fam, "dev-auditor"},
		{"/v1/audit/events", "dev-auditor"},
		{"/v1/audit/families/" + fam + "/timeline", "dev-auditor"},
		{"/v1/privacy/families/" + fam + "/access-report", "dev-dpo"},
		{"/v1/privacy/due", "dev-dpo"},
		{"/v1/evaluation?suppress=false", "dev-analyst"},
	} {
		// A HEAD answered as a GET of the stream would never end.
		r, err := testenv.TryWith(&http.Client{Timeout: 5 * time.Second}, s.SA.URL(), "HEAD", rd.path, rd.token, nil, nil)
		if err != nil {
			t.Errorf("HEAD %s: %v", rd.path, err)
			continue
		}
		if r.Status != 405 || r.Header.Get("Allow") != "GET" {
			t.Errorf("HEAD %s: %d, Allow %q; want 405, Allow GET", rd.path, r.Status, r.Header.Get("Allow"))
		}
	}
	if got := entries(); got != before {
		t.Errorf("HEAD requests wrote %d access-log entries", got-before)
	}
	// GET still reads, once.
	if r := s.Get("/v1/families/"+fam, "dev-coordinator", nil); r.Status != 200 {
		t.Fatalf("GET overview: %d %s", r.Status, r.Raw)
	}
	if got := entries(); got != before+1 {
		t.Errorf("GET wrote %d access-log entries, want 1", got-before)
	}
}
