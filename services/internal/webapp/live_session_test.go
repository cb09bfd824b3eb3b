package webapp_test

// How the family page's live view ends: with the session, and without
// holding connections in hidden tabs.

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestLiveReconnectDoesNotKeepSessionAlive: an open live view alone does
// not keep a session from going idle. The page's EventSource reconnects by
// itself (after a dropped stream: a read timeout, a deploy, a network
// change); those reconnects are not the person's activity, so an
// unattended family page is logged out after SessionIdle like any other.
func TestLiveReconnectDoesNotKeepSessionAlive(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	const fam = "FAM-IDLE"
	e.enrol(fam, "E1001")
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	fp := b.open(fam, "Akut henvendelse")
	m := liveURL.FindStringSubmatch(fp.Body)
	if m == nil {
		t.Fatal("no live URL")
	}
	path := strings.ReplaceAll(m[1], "&amp;", "&")
	// The person walks away. The browser's EventSource reconnects by
	// itself every 20 minutes; nobody touches the page. The first
	// reconnect is within the idle limit of the person's last action; from
	// then on the session has gone idle and the reconnects are refused.
	for i, want := range []int{http.StatusOK, http.StatusUnauthorized, http.StatusUnauthorized} {
		e.clock.Add(20 * time.Minute)
		if got := liveStatus(t, b, path); got != want {
			t.Errorf("reconnect after %d min without the person's action: %d, want %d", 20*(i+1), got, want)
		}
	}
	// 61 minutes without any action of the person: idle limit is 30.
	e.clock.Add(time.Minute)
	p := b.get("/app/families")
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/app/login") {
		t.Errorf("after 61 min without a person's action (only EventSource reconnects): GET /app/families = %d %q, want 303 to login", p.Status, p.Location)
	}
}

// liveStatus is the status of a connect to the live view at path with b's
// session; the stream, when it opens, is ended at once.
func liveStatus(t *testing.T, b *browser, path string) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+path, nil)
	c := *b.c
	c.Timeout = 0
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// TestLiveEndsWithReason: when the server ends a live view because the
// session ended or the coordinator is no longer assigned, it says so (an
// event "expired", "forbidden"), also when an entry comes before the next
// heartbeat; after a logout it sends nothing of that entry.
func TestLiveEndsWithReason(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	for _, c := range []struct {
		name, fam, event string
		end              func(b *browser, fam string)
	}{
		{"logout", "FAM-OUT", "expired", func(b *browser, fam string) {
			p := b.get("/app/families")
			if r := b.do("POST", "/app/logout", url.Values{"csrf": {csrf(t, p)}}); r.Status != http.StatusSeeOther {
				t.Fatalf("logout: %d", r.Status)
			}
		}},
		{"unassigned", "FAM-MOVED", "forbidden", func(_ *browser, fam string) {
			e.waitApplied(e.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E2002"}))
		}},
	} {
		e.enrol(c.fam, "E1001")
		b := e.browser()
		b.login("dev-coordinator", "/app/")
		fp := b.open(c.fam, "Akut henvendelse")
		m := liveURL.FindStringSubmatch(fp.Body)
		if m == nil {
			t.Fatalf("%s: no live URL", c.name)
		}
		lines := liveLines(t, b, strings.ReplaceAll(m[1], "&amp;", "&"))
		c.end(b, c.fam)
		e.post(events.SOF, c.fam, &events.GoalSet{GoalID: "G9", Title: "Efter slut", Domain: "education", ExpressedBy: "family"})
		var got []string
		timeout := time.After(10 * time.Second) // before the heartbeat (15 s) would notice
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				got = append(got, l)
			case <-timeout:
				break read
			}
		}
		s := strings.Join(got, "\n")
		if !strings.Contains(s, "event: "+c.event) {
			t.Errorf("%s: the stream ended without an event %q: %q", c.name, c.event, s)
		}
		// After a logout nothing more is sent. An unassignment is seen
		// through the read model's access rows, which the projector may
		// write a batch or so after the entries (readmodel.ApplyOptions.Flush),
		// as for the API's stream; only the event is checked there.
		if c.event == "expired" && strings.Contains(s, "event: entry") {
			t.Errorf("%s: an entry was sent after the view's end: %q", c.name, s)
		}
	}
}

// liveLines opens the live view at path with b's session and hands on
// the lines of the stream after its first, until it ends.
func liveLines(t *testing.T, b *browser, path string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+path, nil)
	c := *b.c
	c.Timeout = 0
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("%s: %d", path, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() {
		t.Fatalf("%s: no stream", path)
	}
	out := make(chan string, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		for sc.Scan() {
			out <- sc.Text()
		}
	}()
	return out
}

// newPlainBrowser is headless Chromium without axe-core.
func newPlainBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath()
	if exe == "" {
		testenv.SkipUnlessCI(t, "no chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

// TestLiveSaysWhenSessionEnds: when the session ends while the family
// page is open (logout in another tab) and an entry arrives before the
// next heartbeat, the page's live region says that the session expired;
// the page does not silently stop being live.
func TestLiveSaysWhenSessionEnds(t *testing.T) {
	ctx := newPlainBrowser(t)
	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t))}
	const fam = "FAM-GONE"
	e.enrol(fam, "E1001")
	base := e.sa.URL()
	run := runner(t, ctx)
	run("login", loginAs(base+"/app/", "dev-coordinator", fam)...)
	run("family", chromedp.Navigate(base+"/app/families/"+fam+"?purpose=Akut+henvendelse"),
		chromedp.WaitReady("#tidslinje[data-live-open]", chromedp.ByQuery))
	// Logged out in another tab (same cookie): the page stays as it is.
	var st int
	run("logout elsewhere", chromedp.Evaluate(`fetch('/app/logout', {method: 'POST', redirect: 'manual',
		body: new URLSearchParams({csrf: document.querySelector('input[name=csrf]').value})}).then(r => r.status)`, &st,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	e.post(events.SOF, fam, &events.MeetingHeld{Kind: "network"})
	err := chromedp.Run(ctx, chromedp.Poll(`document.getElementById('live').textContent.indexOf('udløbet') >= 0`, nil,
		chromedp.WithPollingTimeout(10*time.Second)))
	var region string
	_ = chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('live').textContent`, &region))
	if err != nil {
		t.Errorf("session ended while the page was open; 10 s later the live region says %q, want that the session expired", region)
	}
}

// TestLiveSaysWhenConnectRefused: when a connect of the live view is
// refused (a reconnect after a dropped stream gets 401 once the session
// has ended, 403, an error page), the browser's EventSource gives up; the
// live region then says that the page is no longer live. The refusal is
// made in the browser here (the server's 401 is in
// TestLiveReconnectDoesNotKeepSessionAlive): a dropped stream cannot be
// caused from the test.
func TestLiveSaysWhenConnectRefused(t *testing.T) {
	ctx := newPlainBrowser(t)
	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t))}
	const fam = "FAM-DROP"
	e.enrol(fam, "E1001")
	base := e.sa.URL()
	run := runner(t, ctx)
	run("login", loginAs(base+"/app/", "dev-coordinator", fam)...)
	chromedp.ListenTarget(ctx, func(ev any) {
		if ev, ok := ev.(*fetch.EventRequestPaused); ok {
			go func() {
				_ = chromedp.Run(ctx, fetch.FulfillRequest(ev.RequestID, http.StatusUnauthorized).
					WithResponseHeaders([]*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/plain"}}))
			}()
		}
	})
	run("refuse live", fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: "*/live?*"}}))
	err := chromedp.Run(ctx, chromedp.Navigate(base+"/app/families/"+fam+"?purpose=Akut+henvendelse"),
		chromedp.Poll(`document.getElementById('live').textContent.indexOf('opdateres ikke længere') >= 0`, nil,
			chromedp.WithPollingTimeout(10*time.Second)))
	var region string
	_ = chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('live').textContent`, &region))
	if err != nil {
		t.Errorf("the live view's connect was refused; the live region says %q, want that the page is no longer live", region)
	}
}

// setVisibility makes the page hidden or visible to its script, as
// switching tabs does (headless Chromium keeps every tab visible): it
// overrides document.visibilityState and document.hidden and dispatches
// visibilitychange.
func setVisibility(hidden bool) chromedp.Action {
	state := "visible"
	if hidden {
		state = "hidden"
	}
	return chromedp.Evaluate(`Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => '`+state+`'});
		Object.defineProperty(document, 'hidden', {configurable: true, get: () => `+strconv.FormatBool(hidden)+`});
		document.dispatchEvent(new Event('visibilitychange')); true`, nil)
}

// TestLiveHiddenTabsFreeConnections: every open family page holds one
// EventSource while it is visible. Over HTTP/1.1 (the standalone, make
// run, and deploy/lb's plain listener) a browser keeps at most 6
// connections per host, so 6 family pages holding their streams would
// keep a 7th tab from loading any page of the app. A hidden page closes
// its stream: with 6 family tabs open, 5 of them in the background, a
// 7th tab loads.
func TestLiveHiddenTabsFreeConnections(t *testing.T) {
	ctx := newPlainBrowser(t)
	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t))}
	const fam = "FAM-TABS"
	e.enrol(fam, "E1001")
	base := e.sa.URL()
	if err := chromedp.Run(ctx, chromedp.Navigate(base+"/app/"), chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", "dev-coordinator", chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible(`a[href="/app/families/`+fam+`"]`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		tab, cancel := chromedp.NewContext(ctx)
		t.Cleanup(cancel)
		if err := chromedp.Run(tab, chromedp.Navigate(base+"/app/families/"+fam+"?purpose=Akut+henvendelse"),
			chromedp.WaitReady("#tidslinje[data-live-open]", chromedp.ByQuery)); err != nil {
			t.Fatalf("tab %d: %v", i+1, err)
		}
		if i < 5 { // the person moves on to the next tab
			if err := chromedp.Run(tab, setVisibility(true),
				chromedp.Poll(`!document.getElementById('tidslinje').hasAttribute('data-live-open')`, nil,
					chromedp.WithPollingTimeout(5*time.Second))); err != nil {
				t.Fatalf("tab %d hidden: its live view did not close: %v", i+1, err)
			}
		}
	}
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	tctx, cancel2 := context.WithTimeout(tab, 15*time.Second)
	defer cancel2()
	if err := chromedp.Run(tctx, chromedp.Navigate(base+"/app/families"), chromedp.WaitVisible("h1", chromedp.ByQuery)); err != nil {
		t.Errorf("with 6 family pages open, 5 of them hidden, a 7th tab cannot load /app/families within 15 s: %v", err)
	}
}

// TestLiveHiddenPageCatchesUp: a family page that was hidden, and so held
// no stream, receives the entries applied meanwhile once it is visible
// again, each once, and announces them as new.
func TestLiveHiddenPageCatchesUp(t *testing.T) {
	ctx := newPlainBrowser(t)
	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t))}
	const fam = "FAM-BACK"
	e.enrol(fam, "E1001")
	base := e.sa.URL()
	run := runner(t, ctx)
	run("login", loginAs(base+"/app/", "dev-coordinator", fam)...)
	run("family", chromedp.Navigate(base+"/app/families/"+fam+"?purpose=Akut+henvendelse"),
		chromedp.WaitReady("#tidslinje[data-live-open]", chromedp.ByQuery))
	// One entry while visible, so that the stream's position is past the
	// page's: the catch-up resumes after it, not after the page.
	first := e.post(events.SOF, fam, &events.GoalSet{GoalID: "G2", Title: "Mål to", Domain: "education", ExpressedBy: "family"})
	run("live", chromedp.WaitReady("#e"+strconv.FormatUint(first, 10), chromedp.ByQuery))
	run("hide", setVisibility(true), chromedp.Poll(`!document.getElementById('tidslinje').hasAttribute('data-live-open')`, nil,
		chromedp.WithPollingTimeout(5*time.Second)))
	hidden := e.post(events.SOF, fam, &events.GoalSet{GoalID: "G3", Title: "Mål tre", Domain: "education", ExpressedBy: "family"})
	e.waitApplied(hidden)
	time.Sleep(500 * time.Millisecond)
	var shown bool
	run("while hidden", chromedp.Evaluate(`!!document.getElementById('e`+strconv.FormatUint(hidden, 10)+`')`, &shown))
	if shown {
		t.Errorf("a hidden page received entry %d: its stream is still open", hidden)
	}
	run("show", setVisibility(false), chromedp.WaitReady("#e"+strconv.FormatUint(hidden, 10), chromedp.ByQuery),
		chromedp.WaitReady("#tidslinje[data-live-open]", chromedp.ByQuery))
	var ids []string
	var region string
	run("after", chromedp.Evaluate(`Array.from(document.querySelectorAll('#tidslinje li.new')).map(li => li.id)`, &ids),
		chromedp.Evaluate(`document.getElementById('live').textContent`, &region))
	want := []string{"e" + strconv.FormatUint(hidden, 10), "e" + strconv.FormatUint(first, 10)}
	if !slices.Equal(ids, want) {
		t.Errorf("new entries after the page was visible again %v, want %v (each once)", ids, want)
	}
	if region != "2 nye hændelser" {
		t.Errorf("live region %q, want %q", region, "2 nye hændelser")
	}
}
