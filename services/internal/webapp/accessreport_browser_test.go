package webapp_test

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestAccessReportPage: the citizen's access report as the printable page
// the data protection officer hands out (served by the audit API, in the
// web app's style) passes axe-core's WCAG 2.1 A/AA rules in Chromium,
// under its own Content-Security-Policy.
func TestAccessReportPage(t *testing.T) {
	ctx, axe := newBrowser(t)
	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t))}
	e.enrol("FAM-AR", "E1001")
	if r := testenv.Do(t, e.sa.URL(), "GET", "/v1/families/FAM-AR", "dev-coordinator", nil, map[string]string{"X-Purpose": "Forberedelse af møde"}); r.Status != 200 {
		t.Fatalf("overview: %d %s", r.Status, r.Raw)
	}
	var h1, rows string
	err := chromedp.Run(ctx,
		network.Enable(),
		network.SetExtraHTTPHeaders(network.Headers{"Authorization": "Bearer dev-dpo"}),
		chromedp.Navigate(e.sa.URL()+"/v1/privacy/families/FAM-AR/access-report"),
		chromedp.WaitVisible("table.list", chromedp.ByQuery),
		chromedp.Text("h1", &h1, chromedp.ByQuery),
		chromedp.Text("table.list tbody", &rows, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if h1 != "Hvem har set oplysningerne?" || !strings.Contains(rows, "Forberedelse af møde") || !strings.Contains(rows, "Indsigtsrapport") {
		t.Errorf("page: %q, rows %q", h1, rows)
	}
	checkA11y(t, ctx, axe, "access report")
	// The style applies (the CSP allows it by hash): the header bar is
	// coloured as the web app's.
	var bg string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`getComputedStyle(document.querySelector('.top')).backgroundColor`, &bg)); err != nil {
		t.Fatal(err)
	}
	if bg != "rgb(11, 58, 99)" {
		t.Errorf("header background %q: the page's style did not apply", bg)
	}
}
