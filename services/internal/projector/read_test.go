package projector_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/projector"
)

// TestPaginationWhileAppending walks a family's timeline page by page
// while events (some backfilled into the middle) keep arriving: every entry
// that existed before the walk is seen exactly once, nothing twice, and the
// pages are in order.
func TestPaginationWhileAppending(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-PAGE"
	s.enrol(fam, "E1001")
	// The entries are the child's BUF events: the coordinator sees them
	// only under the child's data-sharing consent.
	s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing})
	base := time.Now().UTC().Add(-48 * time.Hour)
	var last uint64
	for i := range 120 {
		last = s.post(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: float64(i)},
			events.WithTime(base.Add(time.Duration(i)*time.Minute)))
	}
	s.WaitApplied(last)
	before := map[uint64]bool{}
	for _, e := range s.timeline(fam, "limit=500", "dev-coordinator", nil).Entries {
		before[e.Sequence] = true
	}
	if len(before) < 120 {
		t.Fatalf("the coordinator sees %d entries before the walk, not the 120 posted: the walk would page through nothing", len(before))
	}

	for _, order := range []string{"desc", "asc"} {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Alternately newer than everything and in the middle.
				at := time.Now().UTC()
				if i%2 == 1 {
					at = base.Add(time.Duration(i%120)*time.Minute + 30*time.Second)
				}
				if _, err := s.tryPost(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "KIDSCREEN", Score: 1}, events.WithTime(at)); err != nil {
					t.Errorf("append %d while paging: %v", i, err)
					return
				}
			}
		}()
		seen := map[uint64]int{}
		var prev *entry
		q := "limit=7&order=" + order
		for pages := 0; ; pages++ {
			if pages > 200 {
				t.Fatal("pagination does not end")
			}
			p := s.timeline(fam, q, "dev-coordinator", nil)
			for i := range p.Entries {
				e := p.Entries[i]
				seen[e.Sequence]++
				if prev != nil {
					less := prev.Time.Before(e.Time) || prev.Time.Equal(e.Time) && prev.Sequence < e.Sequence
					if less != (order == "asc") {
						t.Fatalf("%s: %d@%s after %d@%s", order, e.Sequence, e.Time, prev.Sequence, prev.Time)
					}
				}
				prev = &e
			}
			if p.NextCursor == nil {
				break
			}
			q = "cursor=" + url.QueryEscape(*p.NextCursor)
			time.Sleep(2 * time.Millisecond) // let appends interleave
		}
		close(stop)
		wg.Wait()
		for seq, n := range seen {
			if n != 1 {
				t.Errorf("%s: entry %d seen %d times", order, seq, n)
			}
		}
		for seq := range before {
			if seen[seq] != 1 {
				t.Errorf("%s: entry %d that existed before the walk seen %d times", order, seq, seen[seq])
			}
		}
	}
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	id   uint64
	kind string // the event: line; "" for an entry
	data entry
	raw  string // the data: line
}

// openStream opens the family's timeline stream; events arrive on the
// returned channel, which closes when the stream ends.
func (s *system) openStream(ctx context.Context, fam, token, lastID string) (*http.Response, <-chan sseEvent, <-chan string) {
	s.T.Helper()
	return openStreamAt(s.T, ctx, s.SA.URL(), fam, token, lastID)
}

// openStreamAt is openStream on the server at base.
func openStreamAt(t testing.TB, ctx context.Context, base, fam, token, lastID string) (*http.Response, <-chan sseEvent, <-chan string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/families/"+fam+"/timeline/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan sseEvent, 100)
	comments := make(chan string, 100)
	if resp.StatusCode != 200 {
		resp.Body.Close()
		close(ch)
		return resp, ch, comments
	}
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.id, _ = strconv.ParseUint(line[4:], 10, 64)
			case strings.HasPrefix(line, "event: "):
				ev.kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.raw = line[6:]
				_ = json.Unmarshal([]byte(line[6:]), &ev.data)
			case strings.HasPrefix(line, ":"):
				select {
				case comments <- line:
				default:
				}
			case line == "" && (ev.id != 0 || ev.kind != ""):
				ch <- ev
				ev = sseEvent{}
			}
		}
	}()
	return resp, ch, comments
}

func receive(t *testing.T, ch <-chan sseEvent, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended after %d of %d events", len(out), n)
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("got %d of %d events", len(out), n)
		}
	}
	return out
}

// TestStream: live delivery, heartbeats, resume with Last-Event-ID, and
// the end of the stream when the coordinator is unassigned.
func TestStream(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	projector.SetHeartbeat(s.SA.Projector, 50*time.Millisecond)
	const fam = "FAM-SSE"
	s.WaitApplied(s.enrol(fam, "E1001"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, ch, comments := s.openStream(ctx, fam, "dev-coordinator", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("X-Position") == "" {
		t.Fatalf("stream: %d %v", resp.StatusCode, resp.Header)
	}
	var posted []uint64
	for i := range 3 {
		posted = append(posted, s.post(events.BIF, fam, &events.EmploymentStarted{PersonID: "P1", Kind: "small-job", HoursPerWeek: float64(i + 1)}))
	}
	got := receive(t, ch, 3)
	for i, ev := range got {
		if ev.id != posted[i] || ev.data.Sequence != posted[i] || !strings.HasPrefix(ev.data.Title, "Ansættelse startet") {
			t.Errorf("event %d: %+v, want sequence %d", i, ev, posted[i])
		}
	}
	checkFor(t, 5*time.Second, func() error {
		for {
			select {
			case c := <-comments:
				if strings.HasPrefix(c, ": heartbeat") {
					return nil
				}
			default:
				return fmt.Errorf("no heartbeat yet")
			}
		}
	})
	cancel()

	// Missed while disconnected, then resumed.
	missed := []uint64{
		s.post(events.SUF, fam, &events.HealthAssessed{PersonID: "P1"}),
		s.post(events.BUF, fam, &events.PPRReferred{ChildID: "C1", Reason: "Trivsel"}),
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	_, ch2, _ := s.openStream(ctx2, fam, "dev-coordinator", strconv.FormatUint(posted[2], 10))
	got = receive(t, ch2, 2)
	if got[0].id != missed[0] || got[1].id != missed[1] {
		t.Errorf("resumed with %d, %d; want %v", got[0].id, got[1].id, missed)
	}
	live := s.post(events.SOF, fam, &events.MeetingHeld{Kind: "family"})
	if got := receive(t, ch2, 1); got[0].id != live {
		t.Errorf("live after resume: %d, want %d", got[0].id, live)
	}
	// Resume from 0 replays the family's whole stream in order.
	ctx3, cancel3 := context.WithCancel(context.Background())
	defer cancel3()
	_, ch3, _ := s.openStream(ctx3, fam, "dev-coordinator", "0")
	all := receive(t, ch3, 8)
	for i := 1; i < len(all); i++ {
		if all[i].id <= all[i-1].id {
			t.Errorf("replay out of order: %d after %d", all[i].id, all[i-1].id)
		}
	}
	cancel3()

	// Unassigned: the stream ends at the next event.
	s.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1002"})
	select {
	case _, ok := <-ch2:
		for ok {
			_, ok = <-ch2
		}
	case <-time.After(10 * time.Second):
		t.Error("stream of an unassigned coordinator did not end")
	}
	if r, _, _ := s.openStream(context.Background(), fam, "dev-coordinator", ""); r.StatusCode != 403 {
		t.Errorf("unassigned coordinator opened the stream: %d", r.StatusCode)
	}
	if r, _, _ := s.openStream(context.Background(), fam, "dev-coordinator-2", "x"); r.StatusCode != 400 {
		t.Errorf("bad Last-Event-ID: %d", r.StatusCode)
	}
}

// TestPoisonMessages: what a department system could publish straight onto
// NATS lands in quarantine and is counted, and the projector goes on.
func TestPoisonMessages(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	ctx := context.Background()
	s.WaitApplied(s.enrol("F1", "E1001"))
	valid, err := events.Build(events.SOF, "F2", &events.FamilyReferred{Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	validJSON, _ := events.Marshal(valid)
	unknown := strings.Replace(string(validJSON), "family.referred", "family.vanished", 1)
	schemaFail := strings.Replace(string(validJSON), `"reason":"x"`, `"reason":17`, 1)
	for _, m := range []struct{ subject, data string }{
		{"families.F1.sof.family.referred", "not json"},
		{"families.F1.sof.family.vanished", unknown},
		{"families.F2.sof.family.referred", schemaFail},
		{"families.F3.sof.family.referred", string(validJSON)}, // subject names another family
		{"families.F2.bif.family.referred", string(validJSON)}, // subject names another department
		{"families.F2.sof.praktik.started", string(validJSON)}, // subject names another type
	} {
		if _, err := s.js.Publish(ctx, m.subject, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	last := s.post(events.SOF, "F1", &events.MeetingHeld{Kind: "team"})
	p := s.timeline("F1", "", "dev-coordinator", minPos(last))
	if len(p.Entries) != 3 || p.Entries[0].Sequence != last {
		t.Fatalf("valid events after poison: %+v", p.Entries)
	}
	rows, err := projector.Quarantined(ctx, s.SA.Projector)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("quarantined %d: %+v", len(rows), rows)
	}
	for _, want := range []string{"malformed", "not an event type of the catalog", "/data/reason", "subject/family mismatch",
		"subject/department mismatch", "subject/type mismatch"} {
		found := false
		for _, r := range rows {
			found = found || strings.Contains(r.Reason, want)
		}
		if !found {
			t.Errorf("no quarantine reason mentions %q: %+v", want, rows)
		}
	}
	if rows[0].Raw != "not json" || rows[0].Subject != "families.F1.sof.family.referred" || rows[0].Sequence == 0 {
		t.Errorf("first quarantined: %+v", rows[0])
	}
	r := s.Get("/metrics", "", nil)
	if !strings.Contains(r.Raw, "jf_projector_quarantined_total 6") {
		t.Errorf("metric: %s", grep(r.Raw, "jf_projector_quarantined"))
	}
	if !strings.Contains(r.Raw, "jf_projector_events_applied_total 3") || !strings.Contains(r.Raw, "jf_projector_lag") {
		t.Errorf("metrics: %s", grep(r.Raw, "jf_projector"))
	}
	// The quarantine advanced the checkpoint: the position is the stream's.
	if got := s.SA.Projector.Position(); got != last {
		t.Errorf("position %d, want %d", got, last)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestFamiliesListLogged: GET /v1/families tells which families exist,
// with status and counts, so it is in the access log before it is sent,
// as the web app's list of the same families is, with X-Purpose: a
// coordinator's list one entry for each family listed, an auditor's,
// which covers every family, one entry on access.bulk.audit. A
// coordinator without families gets an empty list and leaves no entry.
func TestFamiliesListLogged(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	s.enrol("FAM-L1", "E1001")
	s.WaitApplied(s.enrol("FAM-L2", "E1001"))
	purpose := map[string]string{"X-Purpose": "Tilsyn og revision"}
	for _, tok := range []string{"dev-coordinator", "dev-auditor"} {
		r := s.Get("/v1/families", tok, purpose)
		if r.Status != 200 || !strings.Contains(r.Raw, `"FAM-L1"`) || !strings.Contains(r.Raw, `"enrolled"`) {
			t.Fatalf("%s: GET /v1/families: %d %s", tok, r.Status, r.Raw)
		}
	}
	if r := s.Get("/v1/families", "dev-coordinator-2", nil); r.Status != 200 || r.Raw != "{\"families\":[]}\n" {
		t.Fatalf("a coordinator without families: %d %q", r.Status, r.Raw)
	}
	if r := s.Get("/v1/families", "dev-coordinator", map[string]string{"X-Purpose": "Opkald om 010190-1234"}); r.Status != 422 {
		t.Errorf("a purpose with a CPR number: %d %s", r.Status, r.Raw)
	}
	for _, fam := range []string{"FAM-L1", "FAM-L2"} {
		got := s.accessEntries("access." + fam)
		if len(got) != 1 || got[0].FamilyID != fam || got[0].EmployeeID != "E1001" || got[0].Kind != "coordinator" ||
			got[0].Endpoint != "GET /v1/families" || got[0].Purpose != "Tilsyn og revision" {
			t.Errorf("%s: access log %+v, want the coordinator's list", fam, got)
		}
	}
	bulk := s.accessEntries("access.bulk.audit")
	if len(bulk) != 1 || bulk[0].FamilyID != "*" || bulk[0].Kind != "auditor" || bulk[0].Endpoint != "GET /v1/families" ||
		bulk[0].Purpose != "Tilsyn og revision" {
		t.Errorf("access.bulk.audit: %+v, want the auditor's list", bulk)
	}
	for _, e := range s.accessEntries("access.>") {
		if e.EmployeeID == "E1002" {
			t.Errorf("an empty list is logged: %+v", e)
		}
	}
}

// TestAccessLog: every read of a family lands on ACCESS_LOG, with its
// purpose, before the data is sent.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	ctx := context.Background()
	const fam = "FAM-LOG"
	s.WaitApplied(s.enrol(fam, "E1001"))
	purpose := map[string]string{"X-Purpose": "Forberedelse af netværksmøde"}
	if r := s.Get("/v1/families/"+fam, "dev-coordinator", purpose); r.Status != 200 {
		t.Fatal(r.Status, r.Raw)
	}
	if r := s.Get("/v1/families/"+fam+"/timeline?limit=5", "dev-auditor", nil); r.Status != 200 {
		t.Fatal(r.Status, r.Raw)
	}
	sctx, cancel := context.WithCancel(ctx)
	resp, _, _ := s.openStream(sctx, fam, "dev-coordinator", "")
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	cancel()
	// Refused reads are not logged as reads.
	if r := s.Get("/v1/families/"+fam, "dev-coordinator-2", nil); r.Status != 403 {
		t.Fatal(r.Status)
	}
	if r := s.Get("/v1/families/"+fam, "dev-coordinator", map[string]string{"X-Purpose": strings.Repeat("x", 201)}); r.Status != 400 {
		t.Errorf("long purpose: %d", r.Status)
	}

	type logged struct {
		Time       time.Time
		FamilyID   string
		Principal  string
		Kind       string
		EmployeeID string
		Endpoint   string
		Purpose    string
	}
	var got []logged
	checkFor(t, 5*time.Second, func() error {
		cons, err := s.js.OrderedConsumer(ctx, eventstore.AccessLogStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"access." + fam}})
		if err != nil {
			return err
		}
		got = nil
		for {
			m, err := cons.Next(jetstream.FetchMaxWait(200 * time.Millisecond))
			if err != nil {
				break
			}
			var l logged
			if err := json.Unmarshal(m.Data(), &l); err != nil {
				return err
			}
			got = append(got, l)
		}
		if len(got) != 3 {
			return fmt.Errorf("%d entries: %+v", len(got), got)
		}
		return nil
	})
	if g := got[0]; g.FamilyID != fam || g.Principal != "coordinator E1001" || g.Kind != "coordinator" || g.EmployeeID != "E1001" ||
		g.Endpoint != "GET /v1/families/"+fam || g.Purpose != "Forberedelse af netværksmøde" || time.Since(g.Time) > time.Minute {
		t.Errorf("overview read: %+v", g)
	}
	if g := got[1]; g.Kind != "auditor" || g.Endpoint != "GET /v1/families/"+fam+"/timeline?limit=5" || g.Purpose != "" {
		t.Errorf("timeline read: %+v", g)
	}
	if g := got[2]; g.Endpoint != "GET /v1/families/"+fam+"/timeline/stream" {
		t.Errorf("stream read: %+v", g)
	}
}
