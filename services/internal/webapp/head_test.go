package webapp_test

import (
	"net/http"
	"testing"
	"time"
)

// TestHeadShowsNoFamily: a HEAD of the app's views of family data (the
// list, the family page, its live view and its access log) is answered
// 405 (Allow: GET) and recorded nowhere, as on the APIs: its answer would
// show nothing but the length of the page, while the access log and the
// citizen's report would name a view of the family.
func TestHeadShowsNoFamily(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	const fam = "FAM-HEADAPP"
	e.enrol(fam, "E1001")
	for _, token := range []string{"dev-coordinator", "dev-auditor"} {
		b := e.browser()
		b.login(token, "/app/")
		if fp := b.open(fam, "Akut henvendelse"); fp.Status != http.StatusOK {
			t.Fatalf("%s: family page: %d", token, fp.Status)
		}
		logged := len(e.accessLog(fam))
		b.c.Timeout = 5 * time.Second // a HEAD answered as a GET of the live view never ends
		paths := []string{"/app/", "/app/families", "/app/families/" + fam, "/app/families/" + fam + "/live"}
		if token == "dev-auditor" {
			paths = append(paths, "/app/families/"+fam+"/access-log")
		}
		for _, p := range paths {
			r := b.do("HEAD", p, nil)
			if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET" {
				t.Errorf("%s: HEAD %s: %d, Allow %q; want 405, Allow GET", token, p, r.Status, r.Header.Get("Allow"))
			}
		}
		if got := len(e.accessLog(fam)) - logged; got != 0 {
			t.Errorf("%s: HEAD requests wrote %d access-log entries", token, got)
		}
	}
}
