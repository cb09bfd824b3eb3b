package webapp_test

import (
	"bufio"
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// liveStream is an open live view of a family page: the ids of its
// "entry" events, in the order they came.
type liveStream struct {
	ids    chan uint64
	cancel context.CancelFunc
}

// openLive opens path (a family page's live URL) with b's session, and
// Last-Event-ID when it is not empty, as the page's EventSource does.
func openLive(t *testing.T, b *browser, path, lastEventID string) *liveStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+path, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	c := *b.c
	c.Timeout = 0 // a stream lives until it is ended
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("%s (Last-Event-ID %q): %d", path, lastEventID, resp.StatusCode)
	}
	ls := &liveStream{ids: make(chan uint64, 100), cancel: cancel}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() { // the stream is open: the view has subscribed
		t.Fatalf("%s: no stream", path)
	}
	go func() {
		defer resp.Body.Close()
		defer close(ls.ids)
		var id uint64
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "id: "):
				id, _ = strconv.ParseUint(strings.TrimPrefix(l, "id: "), 10, 64)
			case l == "event: entry":
				ls.ids <- id
			}
		}
	}()
	return ls
}

// until is the ids the stream sends until it sends last (included).
func (ls *liveStream) until(t *testing.T, last uint64) []uint64 {
	t.Helper()
	var got []uint64
	timeout := time.After(15 * time.Second)
	for {
		select {
		case id, ok := <-ls.ids:
			if !ok {
				t.Fatalf("the stream ended after %v, before %d", got, last)
			}
			got = append(got, id)
			if id == last {
				return got
			}
		case <-timeout:
			t.Fatalf("no entry %d within 15 s; got %v", last, got)
		}
	}
}

var liveURL = regexp.MustCompile(`data-live="([^"]+)"`)

// TestLiveResumesAfterPage: the family page's live view misses nothing
// applied after the page was made. Its URL carries the page's position;
// an entry applied between the page and the stream's connect comes first,
// and a reconnect resumes after its Last-Event-ID. Each entry comes once,
// in stream order, through the consent gate; each connect is one
// access-log entry, as for the API's stream.
func TestLiveResumesAfterPage(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	const fam = "FAM-GAP"
	e.enrol(fam, "E1001")
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	fp := b.open(fam, "Akut henvendelse")
	if fp.Status != http.StatusOK {
		t.Fatalf("family page: %d", fp.Status)
	}
	m := liveURL.FindStringSubmatch(fp.Body)
	if m == nil {
		t.Fatalf("no live URL on the page")
	}
	path := strings.ReplaceAll(m[1], "&amp;", "&")
	onPage := e.sa.Projector.Position() // enrol's events, all on the page
	if want := "/app/families/" + fam + "/live?after=" + strconv.FormatUint(onPage, 10); path != want {
		t.Fatalf("live URL %q, want %q", path, want)
	}

	// Applied after the page, before its stream connects: a goal, and a
	// withdrawal of the child's consent with a BUF entry the gate hides
	// from then on.
	gap := e.post(events.SOF, fam, &events.GoalSet{GoalID: "G2", Title: "Mål to", Domain: "education", ExpressedBy: "family"})
	withdrawn := e.post(events.SOF, fam, &events.ConsentWithdrawn{PersonID: "C1", Scope: events.ScopeDataSharing})
	hidden := e.post(events.BUF, fam, &events.PPRReferred{ChildID: "C1", Reason: "Bekymring for trivsel"})
	e.waitApplied(hidden)
	logged := len(e.accessLog(fam))

	ls := openLive(t, b, path, "")
	later := e.post(events.SOF, fam, &events.GoalSet{GoalID: "G3", Title: "Mål tre", Domain: "education", ExpressedBy: "family"})
	if got, want := ls.until(t, later), []uint64{gap, withdrawn, later}; !slices.Equal(got, want) {
		t.Errorf("first connect sent %v, want %v (the entry hidden by consent, %d, left out)", got, want, hidden)
	}
	ls.cancel()

	// A reconnect (the browser keeps the URL and adds Last-Event-ID)
	// resumes after the last entry it had, not at the page's position.
	last := e.post(events.SOF, fam, &events.GoalSet{GoalID: "G4", Title: "Mål fire", Domain: "education", ExpressedBy: "family"})
	e.waitApplied(last)
	ls = openLive(t, b, path, strconv.FormatUint(withdrawn, 10))
	if got, want := ls.until(t, last), []uint64{later, last}; !slices.Equal(got, want) {
		t.Errorf("reconnect after %d sent %v, want %v", withdrawn, got, want)
	}
	ls.cancel()

	// Without a position, as before: only what is applied from now on.
	ls = openLive(t, b, "/app/families/"+fam+"/live", "")
	now := e.post(events.SOF, fam, &events.GoalSet{GoalID: "G5", Title: "Mål fem", Domain: "education", ExpressedBy: "family"})
	if got, want := ls.until(t, now), []uint64{now}; !slices.Equal(got, want) {
		t.Errorf("connect without a position sent %v, want %v", got, want)
	}
	ls.cancel()

	if got := len(e.accessLog(fam)) - logged; got != 3 {
		t.Errorf("three connects wrote %d access-log entries, want 3", got)
	}

	for _, bad := range []struct{ query, lastEventID string }{
		{"?after=-1", ""}, {"?after=x", ""}, {"?after=", ""}, {"?after=1&after=2", ""}, {"?after=1.5", ""},
		{"?after=1", "x"}, {"", "-3"},
	} {
		req, _ := http.NewRequest("GET", b.base+"/app/families/"+fam+"/live"+bad.query, nil)
		if bad.lastEventID != "" {
			req.Header.Set("Last-Event-ID", bad.lastEventID)
		}
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("live%s, Last-Event-ID %q: %d %s, want a 400 page", bad.query, bad.lastEventID, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if got := len(e.accessLog(fam)) - logged; got != 3 {
		t.Errorf("refused requests were logged: %d access-log entries, want 3", got)
	}
}

// TestLiveScriptOrder: the page's script puts each live entry where the
// timeline's order (time, then sequence, newest first) puts it: an entry
// recorded now but dated before the page's newest entry goes below it, not on
// top, and a new one on top.
func TestLiveScriptOrder(t *testing.T) {
	exe := chromiumPath()
	if exe == "" {
		testenv.SkipUnlessCI(t, "no chromium on PATH (apt-get install chromium, or set JF_CHROMIUM); browser test skipped")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)

	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t))}
	const fam = "FAM-ORDER"
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	at := func(d time.Duration) events.BuildOption { return events.WithTime(t0.Add(d)) }
	enrolled := e.post(events.SOF, fam, &events.FamilyEnrolled{
		Members:     []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart: t0.Format(time.DateOnly), ChildCaseIDs: []string{"CASE1"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	}, at(0))
	assigned := e.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"}, at(time.Minute))
	goal := e.post(events.SOF, fam, &events.GoalSet{GoalID: "G1", Title: "Arbejde", Domain: "employment", ExpressedBy: "family"}, at(2*time.Hour))
	e.waitApplied(goal)
	base := e.sa.URL()
	run := runner(t, ctx)
	run("login", loginAs(base+"/app/", "dev-coordinator", fam)...)
	run("family", chromedp.Navigate(base+"/app/families/"+fam+"?purpose=Akut+henvendelse"),
		chromedp.WaitReady("#tidslinje[data-live-open]", chromedp.ByQuery))

	// Recorded now, dated between the enrolment and the goal.
	old := e.post(events.SOF, fam, &events.GoalSet{GoalID: "G0", Title: "Tidligere mål", Domain: "education", ExpressedBy: "family"}, at(time.Hour))
	now := e.post(events.SOF, fam, &events.GoalSet{GoalID: "G2", Title: "Nyt mål", Domain: "education", ExpressedBy: "family"})
	run("live", chromedp.Poll(`document.getElementById('live').textContent === '2 nye hændelser'`, nil, chromedp.WithPollingTimeout(15*time.Second)))
	var ids []string
	run("order", chromedp.Evaluate(`Array.from(document.querySelectorAll('#tidslinje li')).map(li => li.id)`, &ids))
	var want []string
	for _, seq := range []uint64{now, goal, old, assigned, enrolled} {
		want = append(want, "e"+strconv.FormatUint(seq, 10))
	}
	if !slices.Equal(ids, want) {
		t.Errorf("timeline after the live entries %v, want %v", ids, want)
	}
}
