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

	// Each read served from the read model, with the position of an event
	// stored while the projector's consumer is paused: it must wait for
	// the event (testenv.NATS.ReadWaiting), and hold it once the consumer
	// is resumed; one that did not wait would answer without it (the
	// access report of a family's first event, 404).
	for i := range 3 {
		fam := fmt.Sprintf("FAM-MP-%d", i)
		for _, c := range []struct {
			path, token string
			data        events.Payload
			want        func(seq string) string
		}{
			{"/v1/privacy/families/" + fam + "/access-report", "dev-dpo", testenv.Enrolment(),
				func(string) string { return `"familyId":"` + fam + `"` }},
			{"/v1/audit/families/" + fam + "/timeline", "dev-auditor", &events.CaseworkerAssigned{EmployeeID: "E1001"},
				func(seq string) string { return `"sequence":` + seq }},
			{"/v1/audit/events?family=" + fam, "dev-auditor", &events.CaseworkerAssigned{EmployeeID: "E1002"},
				func(seq string) string { return `"jfsequence":"` + seq + `"` }},
		} {
			var seq uint64
			r, err := n.ReadWaiting(t, s.SA.Config.Instance, func() uint64 {
				seq = s.Post(events.SOF, fam, c.data).Sequence
				return seq
			}, func(pos uint64) (testenv.Reply, error) { return s.TryGet(c.path, c.token, minPos(pos)) })
			if want := c.want(strconv.FormatUint(seq, 10)); err != nil || r.Status != 200 || !strings.Contains(r.Raw, want) {
				t.Fatalf("%s with X-Min-Position %d: %v %d %s, want %s", c.path, seq, err, r.Status, short(r.Raw), want)
			}
			if pos, _ := strconv.ParseUint(r.Header.Get("X-Position"), 10, 64); pos < seq {
				t.Errorf("%s: X-Position %q, want at least %d", c.path, r.Header.Get("X-Position"), seq)
			}
		}
	}

	// The whole stream's read is the stream's alone: it holds a write at
	// once, the read model paused or not (X-Last-Sequence).
	resume := n.PauseProjector(t, s.SA.Config.Instance)
	seq := s.Post(events.SOF, "FAM-MP-0", &events.CaseworkerAssigned{EmployeeID: "E1003"}).Sequence
	path := "/v1/audit/events?after=" + strconv.FormatUint(seq-1, 10)
	r := s.Get(path, "dev-auditor", minPos(seq))
	resume()
	if r.Status != 200 || !strings.Contains(r.Raw, `"jfsequence":"`+strconv.FormatUint(seq, 10)+`"`) {
		t.Fatalf("%s with X-Min-Position %d, the projector paused: %d %s", path, seq, r.Status, short(r.Raw))
	}
	if last, _ := strconv.ParseUint(r.Header.Get(audit.HeaderLastSequence), 10, 64); last < seq {
		t.Errorf("%s: %s %q, want at least %d", path, audit.HeaderLastSequence, r.Header.Get(audit.HeaderLastSequence), seq)
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
