package webapp_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// axePath is axe-core as `npm ci` in testdata/axe installs it (pinned in
// its package-lock.json).
var axePath = filepath.Join("testdata", "axe", "node_modules", "axe-core", "axe.min.js")

// chromiumPath is the headless browser: JF_CHROMIUM, else chromium on
// PATH.
func chromiumPath() string {
	if p := os.Getenv("JF_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts headless Chromium (no sandbox: CI runs as root) or
// skips the test when it or axe-core is missing.
func newBrowser(t *testing.T) (context.Context, string) {
	t.Helper()
	exe := chromiumPath()
	if exe == "" {
		testenv.SkipUnlessCI(t, "no chromium on PATH (apt-get install chromium, or set JF_CHROMIUM); browser test skipped")
	}
	axe, err := os.ReadFile(axePath)
	if err != nil {
		testenv.SkipUnlessCI(t, "axe-core not installed (npm ci --prefix services/internal/webapp/testdata/axe); browser test skipped")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx, string(axe)
}

// axeRun runs axe-core with the rules of WCAG 2.1 A and AA.
const axeRun = `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}).then(r =>
	JSON.stringify({passes: r.passes.length, violations: r.violations.map(v => ({id: v.id, help: v.help,
		nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))}))`

// checkA11y injects axe-core into the current page and fails on any
// WCAG 2.1 A/AA violation.
func checkA11y(t *testing.T, ctx context.Context, axe, name string) {
	t.Helper()
	var res string
	await := func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }
	if err := chromedp.Run(ctx, chromedp.Evaluate(axe+";0", nil), chromedp.Evaluate(axeRun, &res, await)); err != nil {
		t.Fatalf("axe on %s: %v", name, err)
	}
	var out struct {
		Passes     int
		Violations []struct {
			ID, Help string
			Nodes    []string
		}
	}
	if err := json.Unmarshal([]byte(res), &out); err != nil {
		t.Fatalf("axe on %s: %v: %s", name, err, res)
	}
	// axe that checked nothing would also report no violations.
	if out.Passes < 5 {
		t.Errorf("axe on %s passed only %d rules: %s", name, out.Passes, res)
	}
	for _, v := range out.Violations {
		t.Errorf("%s: WCAG violation %s (%s): %s", name, v.ID, v.Help, strings.Join(v.Nodes, "; "))
	}
}

// TestBrowser drives the app in headless Chromium as a coordinator would:
// login → families → purpose → family page → filter → a live event →
// logout, then an auditor's access log and evaluation, with axe-core's
// WCAG 2.1 A/AA rules on every page.
func TestBrowser(t *testing.T) {
	ctx, axe := newBrowser(t)
	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t))}
	e.enrol("FAM-UI", "E1001")
	e.waitApplied(e.post(events.BIF, "FAM-UI", &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10}))
	base := e.sa.URL()
	text := func(sel string) string {
		var s string
		if err := chromedp.Run(ctx, chromedp.Text(sel, &s, chromedp.ByQuery)); err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	run := runner(t, ctx)

	run("login page", chromedp.Navigate(base+"/app/"), chromedp.WaitVisible("#token", chromedp.ByID))
	checkA11y(t, ctx, axe, "login")
	run("login", chromedp.SendKeys("#token", "dev-coordinator", chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible(`a[href="/app/families/FAM-UI"]`, chromedp.ByQuery))
	if h := text("h1"); h != "Mine familier" {
		t.Errorf("families heading %q", h)
	}
	checkA11y(t, ctx, axe, "families")
	run("open family", chromedp.Click(`a[href="/app/families/FAM-UI"]`, chromedp.ByQuery), chromedp.WaitVisible("#p1", chromedp.ByID))
	checkA11y(t, ctx, axe, "purpose")
	run("purpose", chromedp.Click(`label[for="p1"]`, chromedp.ByQuery), chromedp.SendKeys("#text", "møde på torsdag", chromedp.ByID),
		chromedp.Submit("#text", chromedp.ByID), chromedp.WaitVisible("#tidslinje", chromedp.ByID))
	if p := text(".purpose strong"); p != "Opfølgning på Familiens Plan: møde på torsdag" {
		t.Errorf("purpose shown %q", p)
	}
	checkA11y(t, ctx, axe, "family")

	run("filter", chromedp.SetValue("#department", "buf", chromedp.ByID), chromedp.Submit("#department", chromedp.ByID),
		chromedp.WaitVisible("#skjult", chromedp.ByID))
	if s := text("#skjult"); !strings.Contains(s, "1 hændelse passer til filteret; 5 er skjult af filteret") {
		t.Errorf("filter count %q", s)
	}
	checkA11y(t, ctx, axe, "family, filtered")

	// A live event: the page is open, unfiltered; the event arrives
	// through ingest and is announced in the live region.
	run("unfiltered", chromedp.Click(`a[href="/app/families/FAM-UI"]`, chromedp.ByQuery), chromedp.WaitNotPresent("#skjult", chromedp.ByID))
	var scrollBefore, scrollAfter float64
	run("scroll", chromedp.Evaluate(`window.scrollTo(0, 300); window.scrollY`, &scrollBefore))
	// The stream is open (its response has begun, so the subscription
	// exists) before the events are posted.
	run("live open", chromedp.WaitReady("#tidslinje[data-live-open]", chromedp.ByQuery))
	e.post(events.SOF, "FAM-UI", &events.MeetingHeld{Kind: "network"})
	e.post(events.SOF, "FAM-UI", &events.MeetingHeld{Kind: "family"})
	run("live", chromedp.Poll(`document.getElementById('live').textContent === '2 nye hændelser'`, nil, chromedp.WithPollingTimeout(15*time.Second)))
	var focused string
	run("after live", chromedp.Evaluate(`window.scrollY`, &scrollAfter), chromedp.Evaluate(`document.activeElement.tagName`, &focused))
	if focused != "BODY" && focused != "MAIN" {
		t.Errorf("focus moved to %s", focused)
	}
	if scrollAfter < scrollBefore {
		t.Errorf("scroll moved from %v to %v", scrollBefore, scrollAfter)
	}
	if s := text("#tidslinje li:first-child .t"); !strings.Contains(s, "Møde") {
		t.Errorf("first entry after live %q", s)
	}
	checkA11y(t, ctx, axe, "family with live entries")

	run("logout", chromedp.Click(`.logout button`, chromedp.ByQuery), chromedp.WaitVisible("#token", chromedp.ByID))
	if s := text(".notice"); !strings.Contains(s, "Du er logget ud") {
		t.Errorf("after logout %q", s)
	}
	var status string
	run("after logout", chromedp.Navigate(base+"/app/families/FAM-UI"), chromedp.WaitVisible("#token", chromedp.ByID), chromedp.Location(&status))
	if !strings.Contains(status, "/app/login") {
		t.Errorf("family page after logout at %s", status)
	}
	// The auditor's access-log page and an error page.
	run("auditor", chromedp.SendKeys("#token", "dev-auditor", chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible(`#p5`, chromedp.ByID), chromedp.Click(`label[for="p5"]`, chromedp.ByQuery),
		chromedp.Submit("#text", chromedp.ByID), chromedp.WaitVisible("#tidslinje", chromedp.ByID),
		chromedp.Navigate(base+"/app/families/FAM-UI/access-log"), chromedp.WaitVisible("table", chromedp.ByQuery))
	if s := text("tbody"); !strings.Contains(s, "Opfølgning på Familiens Plan: møde på torsdag") {
		t.Errorf("access log page %q", s)
	}
	checkA11y(t, ctx, axe, "access log")
	run("evaluation", chromedp.Navigate(base+"/app/evaluation"), chromedp.WaitVisible("svg.chart", chromedp.ByQuery))
	checkA11y(t, ctx, axe, "evaluation")
	run("404", chromedp.Navigate(base+"/app/nothing"), chromedp.WaitVisible("h1", chromedp.ByQuery))
	checkA11y(t, ctx, axe, "error page")
}

// loginAs is the steps of a login on the page at url with token, done
// once the family list links family fam.
func loginAs(url, token, fam string) []chromedp.Action {
	return []chromedp.Action{chromedp.Navigate(url), chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", token, chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible(`a[href="/app/families/`+fam+`"]`, chromedp.ByQuery)}
}

// runner runs a test's browser steps in ctx: run(step, actions...) fails
// the test, naming the step, when one of its actions fails.
func runner(t *testing.T, ctx context.Context) func(step string, actions ...chromedp.Action) {
	return func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
}

// TestBrowserLiveOnOlderPage: on the first page of a timeline longer than
// a page, a live entry whose time puts it below the page's last entry
// (a backfill) belongs to an older page and is not added to this one;
// the live region says where it is instead of announcing an entry the
// person cannot find.
func TestBrowserLiveOnOlderPage(t *testing.T) {
	ctx, _ := newBrowser(t)
	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t))}
	e.enrol("FAM-OLD", "E1001")
	var last uint64
	for range 55 {
		last = e.post(events.SOF, "FAM-OLD", &events.MeetingHeld{Kind: "network"})
	}
	e.waitApplied(last)
	base := e.sa.URL()
	run := runner(t, ctx)
	run("login", loginAs(base+"/app/login", "dev-coordinator", "FAM-OLD")...)
	run("family", chromedp.Navigate(base+"/app/families/FAM-OLD?purpose=Akut%20henvendelse"),
		chromedp.WaitVisible(`.pager a[rel="next"]`, chromedp.ByQuery), chromedp.WaitReady("#tidslinje[data-live-open]", chromedp.ByQuery))
	var before int
	run("count", chromedp.Evaluate(`document.querySelectorAll('#tidslinje li').length`, &before))
	seq := e.post(events.SOF, "FAM-OLD", &events.MeetingHeld{Kind: "family"}, events.WithTime(time.Date(2023, 5, 1, 9, 0, 0, 0, time.UTC)))
	var region string
	run("live", chromedp.Poll(`document.getElementById('live').textContent !== ''`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Text("#live", &region, chromedp.ByID))
	var after int
	var present bool
	run("count after", chromedp.Evaluate(`document.querySelectorAll('#tidslinje li').length`, &after),
		chromedp.Evaluate(`!!document.getElementById('e`+strconv.FormatUint(seq, 10)+`')`, &present))
	if present || after != before {
		t.Errorf("the older entry was added to the first page (%d entries, then %d)", before, after)
	}
	if !strings.Contains(region, "ældre side") {
		t.Errorf("live region %q does not say the entry is on an older page", region)
	}
}

// TestBrowserLiveFiltered: a filtered timeline is not added to live (the
// stream is the family's, not the filter's); the live region counts the
// new entries and tells the person to reset the filter to see them, the
// page having no link to the newest entries but "Nulstil filter".
func TestBrowserLiveFiltered(t *testing.T) {
	ctx, _ := newBrowser(t)
	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t))}
	e.enrol("FAM-FLT", "E1001")
	base := e.sa.URL()
	run := runner(t, ctx)
	run("login", loginAs(base+"/app/login", "dev-coordinator", "FAM-FLT")...)
	run("family", chromedp.Navigate(base+"/app/families/FAM-FLT?department=buf&purpose=Akut%20henvendelse"),
		chromedp.WaitVisible("#skjult", chromedp.ByID), chromedp.WaitReady("#tidslinje[data-live-open]", chromedp.ByQuery))
	e.post(events.SOF, "FAM-FLT", &events.MeetingHeld{Kind: "family"})
	var region string
	run("live", chromedp.Poll(`document.getElementById('live').textContent !== ''`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Text("#live", &region, chromedp.ByID))
	if !strings.HasPrefix(region, "1 ny hændelse") || !strings.Contains(region, "nulstil filteret") {
		t.Errorf("live region on a filtered page: %q", region)
	}
}
