package webapp_test

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kk.dk/jobogfamilie/services/internal/demo"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestScreenshots writes a PNG of each page, with the demo data, into the
// directory JF_SCREENSHOTS names (`make screenshots` sets docs/screenshots).
// Without it the test is skipped: it is a tool, not a check.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("JF_SCREENSHOTS")
	if dir == "" {
		t.Skip("JF_SCREENSHOTS not set; run make screenshots")
	}
	ctx, _ := newBrowser(t)
	sa := testenv.Start(t, testenv.Config(t))
	lctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := demo.Load(lctx, demo.Options{BaseURL: sa.URL(), Seed: 1, Families: 50}); err != nil {
		t.Fatal(err)
	}
	pr, err := sa.Auth.Token("dev-coordinator")
	if err != nil {
		t.Fatal(err)
	}
	var fams []projector.FamilySummary
	testenv.CheckFor(t, 30*time.Second, func() error {
		fams, err = sa.Projector.Families(context.Background(), pr)
		if err == nil && len(fams) == 0 {
			err = os.ErrNotExist
		}
		return err
	})
	// The coordinator's family with the longest history shows the most.
	fam := slices.MaxFunc(fams, func(a, b projector.FamilySummary) int { return cmp.Compare(a.Events, b.Events) }).FamilyID
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := sa.URL()
	shot := func(name string, actions ...chromedp.Action) {
		t.Helper()
		var png []byte
		actions = append(actions, chromedp.FullScreenshot(&png, 100))
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shot("login", chromedp.Navigate(base+"/app/login"), chromedp.WaitVisible("#token", chromedp.ByID))
	shot("families", chromedp.SendKeys("#token", "dev-coordinator", chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible("table", chromedp.ByQuery))
	shot("purpose", chromedp.Navigate(base+"/app/families/"+fam), chromedp.WaitVisible("#p0", chromedp.ByID))
	shot("family", chromedp.Click(`label[for="p1"]`, chromedp.ByQuery), chromedp.Submit("#text", chromedp.ByID),
		chromedp.WaitVisible("#tidslinje", chromedp.ByID))
	shot("family-filtered", chromedp.Navigate(base+"/app/families/"+fam+"?department=bif"), chromedp.WaitVisible("#tidslinje", chromedp.ByID))
	shot("error", chromedp.Navigate(base+"/app/families/NOT-MINE"), chromedp.WaitVisible("h1", chromedp.ByQuery))
	shot("access-log", chromedp.Click(`.logout button`, chromedp.ByQuery), chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", "dev-auditor", chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible("table", chromedp.ByQuery),
		chromedp.Navigate(base+"/app/families/"+fam+"/access-log?purpose=Tilsyn+og+revision"), chromedp.WaitVisible("tbody", chromedp.ByQuery))
}
