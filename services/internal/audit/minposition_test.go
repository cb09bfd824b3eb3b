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
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/config"
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
// API does: a read with the position of a write not yet applied waits
// for it and then holds it, a malformed value is a 400, and a position
// the stream never reaches is the coordinator's 503 (with Retry-After and
// the position) after the wait; every answer carries X-Position.
func TestMinPosition(t *testing.T) {
	t.Parallel()
	// NATS of its own, with the admin key: a service may not pause a
	// consumer.
	n := testenv.StartNATS(t)
	s := testenv.StartSystem(t, func(c *config.Config) { n.Use(t, c) })

	// Each family's first event, read with its position while the
	// projector's consumer is paused, so that the event is not yet applied
	// when the reads arrive. The reads served from the read model must
	// wait for it, and answer once the consumer is resumed: one that did
	// not wait would answer without the event (the access report, 404).
	// The whole stream's read is the stream's alone: it holds the write
	// at once, the read model paused or not (X-Last-Sequence).
	for i := range 5 {
		fam := fmt.Sprintf("FAM-MP-%d", i)
		resume := n.PauseProjector(t, s.SA.Config.Instance)
		p := s.Post(events.SOF, fam, testenv.Enrolment())
		seq := strconv.FormatUint(p.Sequence, 10)
		checks := []struct {
			path, token, want string
			waits             bool
		}{
			{"/v1/privacy/families/" + fam + "/access-report", "dev-dpo", `"familyId":"` + fam + `"`, true},
			{"/v1/audit/families/" + fam + "/timeline", "dev-auditor", `"sequence":` + seq, true},
			{"/v1/audit/events?family=" + fam, "dev-auditor", `"jfsequence":"` + seq + `"`, true},
			{"/v1/audit/events?after=" + strconv.FormatUint(p.Sequence-1, 10), "dev-auditor", `"jfsequence":"` + seq + `"`, false},
		}
		replies := make([]testenv.Reply, len(checks))
		errs := make([]error, len(checks))
		done := make([]chan struct{}, len(checks))
		for j, c := range checks {
			done[j] = make(chan struct{})
			go func() {
				defer close(done[j])
				replies[j], errs[j] = s.TryGet(c.path, c.token, minPos(p.Sequence))
			}()
		}
		// While paused: the stream's read answers; a little later, no read
		// of the read model has (each waits up to MinPositionWait).
		for j, c := range checks {
			if !c.waits {
				<-done[j]
			}
		}
		time.Sleep(300 * time.Millisecond)
		for j, c := range checks {
			select {
			case <-done[j]:
				if c.waits {
					t.Errorf("%s with X-Min-Position %d answered while the event was not applied: %d %s",
						c.path, p.Sequence, replies[j].Status, short(replies[j].Raw))
				}
			default:
			}
		}
		resume()
		for j, c := range checks {
			<-done[j]
			r := replies[j]
			if errs[j] != nil || r.Status != 200 || !strings.Contains(r.Raw, c.want) {
				t.Fatalf("%s with X-Min-Position %d: %v %d %s, want %s", c.path, p.Sequence, errs[j], r.Status, short(r.Raw), c.want)
			}
			posHeader := "X-Position"
			if !c.waits {
				posHeader = audit.HeaderLastSequence
			}
			if pos, _ := strconv.ParseUint(r.Header.Get(posHeader), 10, 64); pos < p.Sequence {
				t.Errorf("%s: %s %q, want at least %d", c.path, posHeader, r.Header.Get(posHeader), p.Sequence)
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
