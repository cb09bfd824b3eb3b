package erasure_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestDueMinPosition: GET /v1/privacy/due honours X-Min-Position as the
// coordinator API does: a family whose period ended, stored while the
// projector's consumer is paused, is listed by a read with its position,
// which waits until it is applied; a malformed value is a 400; a position
// the stream never reaches is the coordinator's 503 after the wait; every
// answer of the API carries X-Position.
func TestDueMinPosition(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	s := testenv.StartSystem(t, func(c *config.Config) { c.RetentionYears = 1; n.Use(t, c) })
	old := time.Now().UTC().AddDate(-2, 0, 0)
	for i := range 5 {
		fam := fmt.Sprintf("F-DUE-%d", i)
		var p testenv.Posted
		r, err := n.ReadWaiting(t, "", func() uint64 {
			p = s.Post(events.SOF, fam, &events.FamilyReferred{Reason: "henvisning"}, events.WithTime(old))
			return p.Sequence
		}, func(pos uint64) (testenv.Reply, error) {
			return s.TryGet("/v1/privacy/due", dpo, map[string]string{readmodel.HeaderMinPosition: strconv.FormatUint(pos, 10)})
		})
		if err != nil || r.Status != 200 || !strings.Contains(r.Raw, `"familyId":"`+fam+`"`) {
			t.Fatalf("due with X-Min-Position %d: %v %d %s, want %s listed", p.Sequence, err, r.Status, r.Raw, fam)
		}
		if pos, _ := strconv.ParseUint(r.Header.Get("X-Position"), 10, 64); pos < p.Sequence {
			t.Errorf("due: X-Position %q, want at least %d", r.Header.Get("X-Position"), p.Sequence)
		}
	}
	for _, bad := range []string{"soon", "-1"} {
		r := s.Get("/v1/privacy/due", dpo, map[string]string{readmodel.HeaderMinPosition: bad})
		if r.Status != 400 || !strings.Contains(r.Raw, readmodel.HeaderMinPosition) || r.Header.Get("X-Position") == "" {
			t.Errorf("due with X-Min-Position %q: %d %v %s, want 400 naming the header, with X-Position", bad, r.Status, r.Header, r.Raw)
		}
	}
	if r := s.Do("POST", "/v1/privacy/families/F-DUE-0/erase", coord, []byte(`{"reason":"Art. 17"}`), nil); r.Status != 403 || r.Header.Get("X-Position") == "" {
		t.Errorf("erase as coordinator: %d %v, want 403 with X-Position", r.Status, r.Header)
	}

	// The client starts its clock first, so it cannot see less than the
	// wait; a wait that never ends is bounded by the request's minute.
	const never = 1_000_000
	hdr := map[string]string{readmodel.HeaderMinPosition: strconv.Itoa(never)}
	client := &http.Client{Timeout: time.Minute}
	want, err := testenv.TryWith(client, s.SA.URL(), "GET", "/v1/families", "dev-auditor", nil, hdr)
	if err != nil || want.Status != 503 {
		t.Fatalf("the coordinator API's answer: %v %d %s", err, want.Status, want.Raw)
	}
	start := time.Now()
	r, err := testenv.TryWith(client, s.SA.URL(), "GET", "/v1/privacy/due", dpo, nil, hdr)
	if err != nil {
		t.Fatalf("no answer for an unreached position: %v", err)
	}
	if r.Status != 503 || r.Body["position"] != float64(never) || r.Body["type"] != want.Body["type"] ||
		r.Header.Get("Retry-After") != want.Header.Get("Retry-After") || r.Header.Get("X-Position") == "" {
		t.Errorf("due with an unreached position: %d %v %s, want as the coordinator API: %v %s", r.Status, r.Header, r.Raw, want.Header, want.Raw)
	}
	if d := time.Since(start); d < readmodel.MinPositionWait {
		t.Errorf("answered after %s, before the %s wait", d, readmodel.MinPositionWait)
	}
}
