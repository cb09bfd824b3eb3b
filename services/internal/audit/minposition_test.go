package audit_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// short is the start of an answer, for a message.
func short(raw string) string {
	if len(raw) > 300 {
		return raw[:300] + "…"
	}
	return raw
}

func minPos(n uint64) map[string]string {
	return map[string]string{readmodel.HeaderMinPosition: strconv.FormatUint(n, 10)}
}

// TestMinPosition: the reads of the auditor and privacy APIs that are
// served from the read model honour X-Min-Position as the coordinator
// API does: a read with the position of a write just made holds it, a
// malformed value is a 400, and a position the stream never reaches is
// the coordinator's 503 (with Retry-After and the position) after the
// wait; every answer carries X-Position.
func TestMinPosition(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)

	// Each family's first event, read at once with its position: the
	// access report checks the family in the read model.
	for i := range 5 {
		fam := fmt.Sprintf("FAM-MP-%d", i)
		p := s.Post(events.SOF, fam, testenv.Enrolment())
		r := s.Get("/v1/privacy/families/"+fam+"/access-report", "dev-dpo", minPos(p.Sequence))
		if r.Status != 200 || !strings.Contains(r.Raw, `"familyId":"`+fam+`"`) {
			t.Fatalf("access report of %s with X-Min-Position %d: %d %s", fam, p.Sequence, r.Status, r.Raw)
		}
		if pos, _ := strconv.ParseUint(r.Header.Get("X-Position"), 10, 64); pos < p.Sequence {
			t.Errorf("access report of %s: X-Position %q, want at least %d", fam, r.Header.Get("X-Position"), p.Sequence)
		}
		r = s.Get("/v1/audit/families/"+fam+"/timeline", "dev-auditor", minPos(p.Sequence))
		if r.Status != 200 || !strings.Contains(r.Raw, `"sequence":`+strconv.FormatUint(p.Sequence, 10)) {
			t.Fatalf("as-of timeline of %s with X-Min-Position %d: %d %s", fam, p.Sequence, r.Status, r.Raw)
		}
		for _, path := range []string{"/v1/audit/events?family=" + fam, "/v1/audit/events?after=" + strconv.FormatUint(p.Sequence-1, 10)} {
			r = s.Get(path, "dev-auditor", minPos(p.Sequence))
			if r.Status != 200 || !strings.Contains(r.Raw, `"jfsequence":"`+strconv.FormatUint(p.Sequence, 10)+`"`) {
				t.Fatalf("%s with X-Min-Position %d: %d %s", path, p.Sequence, r.Status, r.Raw)
			}
		}
	}

	reads := []struct{ path, token string }{
		{"/v1/families/FAM-MP-0", "dev-auditor"}, // the coordinator API's answer, to compare with
		{"/v1/audit/events", "dev-auditor"},
		{"/v1/audit/events?family=FAM-MP-0", "dev-auditor"},
		{"/v1/audit/families/FAM-MP-0/timeline", "dev-auditor"},
		{"/v1/privacy/families/FAM-MP-0/access-report", "dev-dpo"},
	}
	for _, rd := range reads {
		for _, bad := range []string{"soon", "-1", "1.5"} {
			r := s.Get(rd.path, rd.token, map[string]string{readmodel.HeaderMinPosition: bad})
			if r.Status != 400 || !strings.Contains(r.Raw, readmodel.HeaderMinPosition) || r.Header.Get("X-Position") == "" {
				t.Errorf("%s with X-Min-Position %q: %d %s, want 400 naming the header, with X-Position", rd.path, bad, r.Status, short(r.Raw))
			}
		}
	}

	// A position the stream never reaches: each read waits, then answers
	// 503. The client starts its clock first, so it cannot see less than
	// the wait; a wait that never ends is bounded by the request's minute.
	const never = 1_000_000
	replies := make([]testenv.Reply, len(reads))
	waited := make([]time.Duration, len(reads))
	var wg sync.WaitGroup
	for i, rd := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			r, err := testenv.TryWith(&http.Client{Timeout: time.Minute}, s.SA.URL(), "GET", rd.path, rd.token, nil, minPos(never))
			if err != nil {
				t.Errorf("%s: no answer for an unreached position: %v", rd.path, err)
			}
			replies[i], waited[i] = r, time.Since(start)
		}()
	}
	wg.Wait()
	want := replies[0]
	if want.Status != 503 {
		t.Fatalf("the coordinator API's answer: %d %s", want.Status, want.Raw)
	}
	for i, r := range replies {
		path := reads[i].path
		if r.Status != 503 || r.Body["position"] != float64(never) || r.Body["type"] != want.Body["type"] ||
			r.Header.Get("Retry-After") != want.Header.Get("Retry-After") || r.Header.Get("X-Position") == "" ||
			r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s with an unreached position: %d %v %s, want as the coordinator API: %d %v %s",
				path, r.Status, r.Header, short(r.Raw), want.Status, want.Header, want.Raw)
		}
		if waited[i] < readmodel.MinPositionWait {
			t.Errorf("%s answered after %s, before the %s wait", path, waited[i], readmodel.MinPositionWait)
		}
	}
}
