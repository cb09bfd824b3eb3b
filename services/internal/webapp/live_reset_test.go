package webapp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestLiveResetAfterReplacedStream: a rebuild over a replaced, shorter
// stream ends the family page's open live view with an event "reset",
// and a view resumed after the page's position, beyond the new stream's
// end, is answered the same: the page's entries are of the old stream,
// and the view would otherwise wait silently for sequences the new
// stream has not reached.
func TestLiveResetAfterReplacedStream(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	e := start(t, false, func(cfg *config.Config) { n.Use(t, cfg) })
	const fam = "FAM-RESET"
	e.enrol(fam, "E1001")
	var last uint64
	for range 5 {
		last = e.post(events.SOF, fam, &events.MeetingHeld{Kind: "network"})
	}
	e.waitApplied(last)
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	fp := b.open(fam, "Akut henvendelse")
	m := liveURL.FindStringSubmatch(fp.Body)
	if m == nil {
		t.Fatal("no live URL on the page")
	}
	path := strings.ReplaceAll(m[1], "&amp;", "&")
	lines := liveLines(t, b, path)

	replaceStream(t, e, n, fam)
	if s := untilEnd(lines); !strings.Contains(s, "event: reset") {
		t.Errorf("the open live view after the rebuild: %q, want an event reset", s)
	}

	// The page's URL resumes after its position, beyond the new stream.
	if s := untilEnd(liveLines(t, b, path)); !strings.Contains(s, "event: reset") {
		t.Errorf("a live view resumed after the page's position: %q, want an event reset", s)
	}
}

// replaceStream replaces the family stream by a shorter one (the family's
// enrolment and caseworker again) and rebuilds the read model over it.
func replaceStream(t *testing.T, e *env, n *testenv.NATS, fam string) {
	t.Helper()
	ctx := context.Background()
	if err := n.Admin.DeleteStream(ctx, eventstore.FamilyStream); err != nil {
		t.Fatal(err)
	}
	if err := eventstore.EnsureStreams(ctx, n.Admin, eventstore.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, data := range []events.Payload{testenv.Enrolment(), &events.CaseworkerAssigned{EmployeeID: "E1001"}} {
		ce, err := events.Build(events.SOF, fam, data)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := events.Marshal(ce)
		if _, err := n.Admin.Publish(ctx, events.Subject(fam, events.SOF, data.EventName()), raw); err != nil {
			t.Fatal(err)
		}
	}
	p := e.sa.Projector
	testenv.CheckFor(t, 20*time.Second, func() error {
		if p.Ready(ctx) == nil {
			return fmt.Errorf("still ready at %d", p.Position())
		}
		return nil
	})
	if err := p.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLiveSaysWhenReset: when the live view ends with a reset (the stream
// was replaced and the read model rebuilt over it), the page's live region
// says that the page is no longer updated and should be reloaded; the page
// does not silently stop being live.
func TestLiveSaysWhenReset(t *testing.T) {
	ctx := newPlainBrowser(t)
	n := testenv.StartNATS(t)
	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t, func(cfg *config.Config) { n.Use(t, cfg) }))}
	const fam = "FAM-RESET-PAGE"
	e.enrol(fam, "E1001")
	base := e.sa.URL()
	run := runner(t, ctx)
	run("login", loginAs(base+"/app/", "dev-coordinator", fam)...)
	run("family", chromedp.Navigate(base+"/app/families/"+fam+"?purpose=Akut+henvendelse"),
		chromedp.WaitReady("#tidslinje[data-live-open]", chromedp.ByQuery))
	replaceStream(t, e, n, fam)
	err := chromedp.Run(ctx, chromedp.Poll(`document.getElementById('live').textContent.indexOf('Genindlæs siden') >= 0`, nil,
		chromedp.WithPollingTimeout(10*time.Second)))
	var region string
	var open bool
	_ = chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('live').textContent`, &region),
		chromedp.Evaluate(`document.getElementById('tidslinje').hasAttribute('data-live-open')`, &open))
	if err != nil || open {
		t.Errorf("the stream was replaced; the live region says %q (view open: %v), want that the page is no longer updated and should be reloaded", region, open)
	}
}

// untilEnd is the stream's lines until it ends, or those of 10 s: before
// the heartbeat (15 s) would write more.
func untilEnd(lines <-chan string) string {
	var got []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return strings.Join(got, "\n")
			}
			got = append(got, l)
		case <-timeout:
			return strings.Join(got, "\n")
		}
	}
}
