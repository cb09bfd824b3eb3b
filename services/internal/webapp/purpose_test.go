package webapp_test

import (
	"cmp"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/webapp"
)

// TestPurposeTextRoom: the logged purpose is the choice, ": " and the
// text, at most accesslog.MaxPurpose characters in all, so the form's
// Uddybning promises (in its label and maxlength, without JavaScript) the
// room left beside the longest choice, and that room is accepted beside
// it. A text too long for its choice is the form again, saying that the
// Uddybning is too long and how long it may be, with the choice and what
// was typed kept.
func TestPurposeTextRoom(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-Q", "E1001")
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	longest := ""
	for _, p := range webapp.Purposes {
		if utf8.RuneCountInString(p) > utf8.RuneCountInString(longest) {
			longest = p
		}
	}
	room := accesslog.MaxPurpose - utf8.RuneCountInString(longest) - len(": ")
	form := b.get("/app/families/FAM-Q")
	for _, want := range []string{"Uddybning (valgfri, højst " + strconv.Itoa(room) + " tegn)", `maxlength="` + strconv.Itoa(room) + `"`} {
		if !strings.Contains(form.Body, want) {
			t.Errorf("purpose form lacks %q", want)
		}
	}

	tooLong := strings.Repeat("ø", room+1)
	r := b.do("POST", "/app/families/FAM-Q/purpose", url.Values{"csrf": {csrf(t, form)}, "choice": {longest}, "text": {tooLong}})
	if r.Status != 400 {
		t.Fatalf("%s + %d characters: %d", longest, room+1, r.Status)
	}
	for _, want := range []string{"Uddybningen er " + strconv.Itoa(room+1) + " tegn", "plads til højst " + strconv.Itoa(room) + " tegn",
		">" + tooLong + "</textarea>", `value="` + longest + `" checked`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("form after a too long text lacks %q", want)
		}
	}

	fits := strings.Repeat("ø", room)
	r = b.do("POST", "/app/families/FAM-Q/purpose", url.Values{"csrf": {csrf(t, form)}, "choice": {longest}, "text": {fits}})
	if r.Status != 303 {
		t.Fatalf("%s + %d characters (the form's room): %d %.300s", longest, room, r.Status, r.Body)
	}
	if fp := b.get(r.Location); fp.Status != 200 {
		t.Fatalf("family page: %d", fp.Status)
	}
	log := e.accessLog("FAM-Q")
	if got := log[len(log)-1]["purpose"]; got != longest+": "+fits {
		t.Errorf("logged purpose %q, want the choice and the whole text", got)
	}

	// Andet has the whole length to itself.
	r = b.do("POST", "/app/families/FAM-Q/purpose", url.Values{"csrf": {csrf(t, form)}, "choice": {"Andet"},
		"text": {strings.Repeat("x", accesslog.MaxPurpose+1)}})
	if r.Status != 400 || !strings.Contains(r.Body, "må højst være "+strconv.Itoa(accesslog.MaxPurpose)+" tegn") {
		t.Errorf("Andet + %d characters: %d", accesslog.MaxPurpose+1, r.Status)
	}
}

// TestPurposeQueryRefusedKeepsText: a ?purpose= that fails the check (one
// carried through the login, say) shows the purpose form again with what
// was typed, split into its choice and text as the form had them, and
// says what is wrong; the form returns to the page without ?purpose=.
func TestPurposeQueryRefusedKeepsText(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-P", "E1001")
	b := e.browser()
	b.login("dev-coordinator", "/app/")
	long := strings.Repeat("x", 190)
	for _, tc := range []struct {
		name, purpose string
		want          []string
	}{
		{"free text", "Møde med skolen " + long, []string{">Møde med skolen " + long + "</textarea>",
			`value="Andet" checked`, "Årsagen er 206 tegn; den må højst være 200 tegn"}},
		{"choice and text", "Akut henvendelse: opkald fra skolen " + long, []string{">opkald fra skolen " + long + "</textarea>",
			`value="Akut henvendelse" checked`, "Uddybningen er 208 tegn; ved siden af årsagen »Akut henvendelse« er der plads til højst 182 tegn"}},
	} {
		r := b.get("/app/families/FAM-P?department=buf&purpose=" + url.QueryEscape(tc.purpose))
		if r.Status != 400 {
			t.Fatalf("%s: status %d", tc.name, r.Status)
		}
		for _, want := range append(tc.want, `name="next" value="/app/families/FAM-P?department=buf"`) {
			if !strings.Contains(r.Body, want) {
				t.Errorf("%s: the form again lacks %q", tc.name, want)
			}
		}
	}
	if log := e.accessLog("FAM-P"); len(log) != 0 {
		t.Errorf("a refused purpose is in the access log: %v", log)
	}
}

// navigate is a browser's GET of path with the Sec-Fetch-Site it sends
// for a navigation ("" sends none, as an older browser or a script).
func (b *browser) navigate(site, path string) page {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	if site != "" {
		req.Header.Set("Sec-Fetch-Site", site)
		req.Header.Set("Sec-Fetch-Mode", "navigate")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(raw), Location: resp.Header.Get("Location")}
}

// TestPurposeQueryFromAnotherSite: the session cookie is SameSite=Lax, so
// a link on another site opens the family page with the person's
// session. Its ?purpose= does not choose the purpose the person's reads
// are logged with: the browser says where the request came from
// (Sec-Fetch-Site), and a request another site started gets the purpose
// form with the value filled in, nothing read or logged, and later views
// are still asked, until the person submits the form (with its CSRF
// token). From the app's own pages, typed or bookmarked, or without the
// header, ?purpose= is taken as before.
func TestPurposeQueryFromAnotherSite(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	for i, site := range []string{"cross-site", "same-site"} {
		t.Run(site, func(t *testing.T) {
			fam := "FAM-X" + strconv.Itoa(i)
			e.enrol(fam, "E1001")
			b := e.browser()
			b.login("dev-coordinator", "")
			r := b.navigate(site, "/app/families/"+fam+"?department=buf&purpose="+url.QueryEscape("Akut henvendelse: valgt af en anden side"))
			if r.Status != 200 || !strings.Contains(r.Body, "Hvorfor åbner du") {
				t.Fatalf("?purpose= from %s: %d %q, want the purpose form", site, r.Status, r.Location)
			}
			for _, want := range []string{`value="Akut henvendelse" checked`, ">valgt af en anden side</textarea>",
				"kom fra en anden side", `name="next" value="/app/families/` + fam + `?department=buf"`} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("the form lacks %q", want)
				}
			}
			if log := e.accessLog(fam); len(log) != 0 {
				t.Errorf("a purpose another site chose is in the access log: %v", log)
			}
			if p := b.get("/app/families/" + fam); p.Status != 200 || !strings.Contains(p.Body, "Hvorfor åbner du") {
				t.Errorf("the next view is not asked why: %d", p.Status)
			}
			c := b.do("POST", "/app/families/"+fam+"/purpose", url.Values{"csrf": {csrf(t, r)}, "choice": {"Akut henvendelse"},
				"text": {"valgt af en anden side"}, "next": {"/app/families/" + fam + "?department=buf"}})
			if c.Status != 303 {
				t.Fatalf("the form confirmed: %d %.300s", c.Status, c.Body)
			}
			if p := b.get(c.Location); p.Status != 200 {
				t.Fatalf("family page: %d", p.Status)
			}
			if log := e.accessLog(fam); len(log) != 1 || log[0]["purpose"] != "Akut henvendelse: valgt af en anden side" {
				t.Errorf("access log after the person confirmed: %v", log)
			}
		})
	}
	e.enrol("FAM-S", "E1001")
	for _, site := range []string{"same-origin", "none", ""} {
		b := e.browser()
		b.login("dev-coordinator", "")
		purpose := "Tilsyn og revision: Sec-Fetch-Site " + cmp.Or(site, "absent")
		r := b.navigate(site, "/app/families/FAM-S?purpose="+url.QueryEscape(purpose))
		if r.Status != 303 || r.Location != "/app/families/FAM-S" {
			t.Fatalf("?purpose= with Sec-Fetch-Site %q: %d %q", site, r.Status, r.Location)
		}
		if p := b.navigate(site, r.Location); p.Status != 200 || !strings.Contains(p.Body, purpose) {
			t.Fatalf("after ?purpose= with Sec-Fetch-Site %q: %d", site, p.Status)
		}
		if log := e.accessLog("FAM-S"); len(log) == 0 || log[len(log)-1]["purpose"] != purpose {
			t.Errorf("Sec-Fetch-Site %q: access log %v, want the last entry's purpose %q", site, log, purpose)
		}
	}
}

// TestFormTooLarge: a form larger than the app reads (16 KiB) is answered
// 413 with the app's page saying so, at login, at the purpose form and at
// logout, not 400 as if what was typed could not be understood, nor 403
// as if the form had come from another site.
func TestFormTooLarge(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-BIG", "E1001")
	b := e.browser()
	huge := strings.Repeat("ø", 20<<10)
	lf := b.get("/app/login")
	if r := b.do("POST", "/app/login", url.Values{"csrf": {csrf(t, lf)}, "token": {huge}}); r.Status != http.StatusRequestEntityTooLarge ||
		!strings.Contains(r.Body, "Forespørgslen er for stor") {
		t.Errorf("login with a %d-byte form: %d %.300s", len(huge), r.Status, r.Body)
	}
	b.login("dev-coordinator", "/app/")
	form := b.get("/app/families/FAM-BIG")
	r := b.do("POST", "/app/families/FAM-BIG/purpose", url.Values{"csrf": {csrf(t, form)}, "choice": {"Andet"}, "text": {huge}})
	if r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "Forespørgslen er for stor") {
		t.Errorf("purpose with a %d-byte form: %d %.300s", len(huge), r.Status, r.Body)
	}
	list := b.get("/app/")
	if r := b.do("POST", "/app/logout", url.Values{"csrf": {csrf(t, list)}, "pad": {huge}}); r.Status != http.StatusRequestEntityTooLarge ||
		!strings.Contains(r.Body, "Forespørgslen er for stor") {
		t.Errorf("logout with a %d-byte form: %d %.300s", len(huge), r.Status, r.Body)
	}
}

// TestPurposeThroughLoginFromAnotherSite: a link on another site to the
// login page, with a family page and its ?purpose= as next, does not
// choose the purpose either: after the login (a POST from the app's own
// form, so the browser's redirect to next says same-origin) the person
// gets the purpose form with the value filled in, and nothing is read or
// logged until they submit it. The login page opened from the app itself
// (a purpose typed as the session expired) still carries it through.
func TestPurposeThroughLoginFromAnotherSite(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-LX", "E1001")
	purpose := "Akut henvendelse: valgt af en anden side"
	next := "/app/families/FAM-LX?purpose=" + url.QueryEscape(purpose)
	for _, site := range []string{"cross-site", "same-origin"} {
		b := e.browser()
		lf := b.navigate(site, "/app/login?next="+url.QueryEscape(next))
		if lf.Status != 200 {
			t.Fatalf("%s: login page: %d", site, lf.Status)
		}
		m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(lf.Body)
		if m == nil {
			t.Fatalf("%s: the login form has no next", site)
		}
		r := b.do("POST", "/app/login", url.Values{"csrf": {csrf(t, lf)}, "token": {"dev-coordinator"}, "next": {html.UnescapeString(m[1])}})
		if r.Status != 303 {
			t.Fatalf("%s: login: %d", site, r.Status)
		}
		logged := len(e.accessLog("FAM-LX"))
		p := b.navigate("same-origin", r.Location)
		if p.Status == 303 {
			p = b.navigate("same-origin", p.Location)
		}
		if site == "same-origin" {
			if p.Status != 200 || !strings.Contains(p.Body, "Din årsag til opslaget: <strong>"+purpose) {
				t.Errorf("login from the app: %d, want the family page with the purpose", p.Status)
			}
			continue
		}
		if p.Status != 200 || !strings.Contains(p.Body, "Hvorfor åbner du") || !strings.Contains(p.Body, ">valgt af en anden side</textarea>") {
			t.Errorf("login linked from another site: %d %.300s, want the purpose form filled in", p.Status, p.shown())
		}
		if got := len(e.accessLog("FAM-LX")) - logged; got != 0 {
			t.Errorf("a purpose another site chose through the login is in the access log (%d entries)", got)
		}
	}
}
