package webapp_test

// How the family page's live view ends: with the session, and without
// holding connections in hidden tabs.

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
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
