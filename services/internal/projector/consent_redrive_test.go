package projector_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
)

// TestStreamGateSeesRedrivenConsent: a consent.withdrawn that an older
// build quarantined is re-driven while a coordinator's timeline stream of
// the family is open. A page read from then on hides the child's BUF
// entries; so does the stream: an entry stored after the re-drive reaches
// it (on the open stream, or on the one a client opens again with
// Last-Event-ID once the re-drive ended it) as "hidden", never with its
// content.
func TestStreamGateSeesRedrivenConsent(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	ctx := context.Background()
	const fam = "FAM-CG-REDRIVE"
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	at := func(min int) events.BuildOption { return events.WithTime(base.Add(time.Duration(min) * time.Minute)) }
	quarantineWithdrawal(t, s, fam, base)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, ch, comments := s.openStream(sctx, fam, "dev-coordinator", "")
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	var from string
	select {
	case c := <-comments:
		if i := strings.LastIndex(c, "from sequence "); i >= 0 {
			from = c[i+len("from sequence "):]
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream sent no first comment")
	}
	if from == "" {
		t.Fatal("the stream's first comment names no sequence")
	}

	if r := s.Do("POST", "/v1/admin/quarantine/redrive", "dev-operator", nil, nil); r.Status != 200 || !strings.Contains(r.Raw, `"movedCount":1`) {
		t.Fatalf("redrive: %d %s", r.Status, r.Raw)
	}
	later := s.post(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 12}, at(4))
	s.WaitApplied(later)
	if p := s.timeline(fam, "order=asc", "dev-coordinator", nil); slices.Contains(names(p), "wellbeing.measured") {
		t.Fatalf("after the re-drive a page read shows the child's entry: %v", names(p))
	}

	last := from
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				// The stream ended: open it again, as a client does.
				if resp, ch, _ = s.openStream(sctx, fam, "dev-coordinator", last); resp.StatusCode != 200 {
					t.Fatalf("stream again: %d", resp.StatusCode)
				}
				continue
			}
			last = strconv.FormatUint(ev.id, 10)
			if ev.id != later {
				continue
			}
			if ev.kind != "hidden" {
				t.Fatalf("the open stream shows the child's entry %d that a page read hides: %s %s", later, ev.kind, ev.raw)
			}
			return
		case <-timeout:
			t.Fatalf("the stream never delivered entry %d", later)
		}
	}
}

// quarantineWithdrawal makes fam a coordinated family whose child C1's
// data-sharing consent was given and then withdrawn, the withdrawal
// stored as an older build judged it: quarantined, not in the timeline,
// and not in the family's folded consents.
func quarantineWithdrawal(t *testing.T, s *system, fam string, base time.Time) {
	t.Helper()
	ctx := context.Background()
	at := func(min int) events.BuildOption { return events.WithTime(base.Add(time.Duration(min) * time.Minute)) }
	coordinatedFamily(t, s, fam, base)
	s.WaitApplied(s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing}, at(2)))
	given, err := projector.ModelValue(ctx, s.SA.Projector, `SELECT consents FROM families WHERE family_id = '`+fam+`'`)
	if err != nil {
		t.Fatal(err)
	}
	withdrawn := s.post(events.SOF, fam, &events.ConsentWithdrawn{PersonID: "C1", Scope: events.ScopeDataSharing}, at(3))
	s.WaitApplied(withdrawn)

	stream, err := s.js.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := stream.GetMsg(ctx, withdrawn)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		stmt string
		args []any
	}{
		{`INSERT INTO quarantine (sequence, subject, reason, raw, recorded_ns)
			SELECT sequence, ?, 'events: invalid: /type: not an event type of the catalog', ?, recorded_ns FROM timeline WHERE sequence = ?`,
			[]any{raw.Subject, raw.Data, withdrawn}},
		{`DELETE FROM timeline WHERE sequence = ?`, []any{withdrawn}},
		{`UPDATE families SET consents = ? WHERE family_id = ?`, []any{given, fam}},
	} {
		if n, err := projector.TamperModel(ctx, s.SA.Projector, c.stmt, c.args...); err != nil || n != 1 {
			t.Fatalf("%s: %d rows, %v", c.stmt, n, err)
		}
	}
}

// TestStreamStoredPageSeesRedrivenConsent: a stream reads the entries
// stored after its position only after a re-drive moved in a consent
// withdrawal and an entry about the child was stored; the page holding
// that entry is judged by the gate as it is after the re-drive, so the
// entry is "hidden", as on a page read.
func TestStreamStoredPageSeesRedrivenConsent(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-CG-REDRIVE-STORED"
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	quarantineWithdrawal(t, s, fam, base)

	// The stream's first stored page waits until the re-drive and the
	// child's entry are applied.
	reached, resume := make(chan struct{}), make(chan struct{})
	var once, resumed sync.Once
	release := func() { resumed.Do(func() { close(resume) }) }
	t.Cleanup(release)
	projector.SetBeforeStoredPage(s.SA.Projector, func() {
		once.Do(func() { close(reached); <-resume })
	})
	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, ch, _ := s.openStream(sctx, fam, "dev-coordinator", "")
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream read no stored page")
	}
	if r := s.Do("POST", "/v1/admin/quarantine/redrive", "dev-operator", nil, nil); r.Status != 200 || !strings.Contains(r.Raw, `"movedCount":1`) {
		t.Fatalf("redrive: %d %s", r.Status, r.Raw)
	}
	later := s.post(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 12},
		events.WithTime(base.Add(4*time.Minute)))
	s.WaitApplied(later)
	release()
	for {
		ev := receive(t, ch, 1)[0]
		if ev.id != later {
			continue
		}
		if ev.kind != "hidden" {
			t.Fatalf("the stream shows the child's entry %d, stored after the re-drive: %s %s", later, ev.kind, ev.raw)
		}
		return
	}
}
