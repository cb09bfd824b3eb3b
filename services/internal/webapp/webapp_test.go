package webapp_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/testenv"
	"kk.dk/jobogfamilie/services/internal/webapp"
)

// TestFamilyPage goes login → families → purpose → family page over HTTP
// and checks the headers and the access log entry of the view.
func TestFamilyPage(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-A", "E1001")
	b := e.browser()
	if r := b.get("/app/"); r.Status != 303 || !strings.HasPrefix(r.Location, "/app/login") {
		t.Fatalf("without a session: %d %q", r.Status, r.Location)
	}
	if r := b.login("dev-coordinator", "/app/"); r.Status != 303 || r.Location != "/app/" {
		t.Fatalf("login: %d %q %.300s", r.Status, r.Location, r.Body)
	}
	list := b.get("/app/")
	if list.Status != 200 || !strings.Contains(list.Body, `href="/app/families/FAM-A"`) || !strings.Contains(list.Body, "I forløb") {
		t.Fatalf("families: %d %.500s", list.Status, list.Body)
	}
	// The list is one access-log entry for the family, without a purpose.
	if log := e.accessLog("FAM-A"); len(log) != 1 || log[0]["endpoint"] != "GET /app/" || log[0]["purpose"] != "" {
		t.Fatalf("access log after the list: %v", log)
	}
	// The purpose form comes before any family data and writes no log.
	form := b.get("/app/families/FAM-A")
	if strings.Contains(form.Body, "Arbejde 10 timer") {
		t.Error("the purpose form shows family data")
	}
	if r := b.do("POST", "/app/families/FAM-A/purpose", url.Values{"choice": {"Akut henvendelse"}}); r.Status != 403 {
		t.Errorf("purpose without CSRF: %d", r.Status)
	}
	if r := b.do("POST", "/app/families/FAM-A/purpose", url.Values{"choice": {"Akut henvendelse"}, "csrf": {"wrong"}}); r.Status != 403 {
		t.Errorf("purpose with a wrong CSRF token: %d", r.Status)
	}
	if r := b.do("POST", "/app/families/FAM-A/purpose", url.Values{"csrf": {csrf(t, form)}, "choice": {"Andet"},
		"text": {strings.Repeat("x", 201)}}); r.Status != 400 {
		t.Errorf("purpose of 201 characters: %d", r.Status)
	}
	if n := len(e.accessLog("FAM-A")); n != 1 {
		t.Fatalf("%d access log entries before the purpose, want the list's one", n)
	}
	fp := b.open("FAM-A", "Opfølgning på Familiens Plan")
	if fp.Status != 200 {
		t.Fatalf("family page: %d %.500s", fp.Status, fp.Body)
	}
	for _, want := range []string{"Familie FAM-A", "Arbejde 10 timer om ugen", "Beskæftigelse", "Kontanthjælp", "<svg", "10 %",
		"Fravær pr. periode for C1", "15 %", "8,3 %", "Tidslinje", "Mål sat", `lang="da"`} {
		if !strings.Contains(fp.Body, want) {
			t.Errorf("family page lacks %q", want)
		}
	}
	h := fp.Header
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"X-Content-Type-Options":  "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	log := e.accessLog("FAM-A")
	if len(log) != 2 || log[1]["purpose"] != "Opfølgning på Familiens Plan" || log[1]["endpoint"] != "GET /app/families/FAM-A" ||
		log[1]["employeeId"] != "E1001" {
		t.Fatalf("access log: %v", log)
	}
	// Every view is logged, filters and paging included; the purpose is
	// asked once per family per session.
	if r := b.get("/app/families/FAM-A?department=buf"); r.Status != 200 || !strings.Contains(r.Body, "er skjult af filteret") {
		t.Fatalf("filtered: %d %.300s", r.Status, r.Body)
	}
	if n := len(e.accessLog("FAM-A")); n != 3 {
		t.Errorf("%d access log entries after the list and two views", n)
	}
	// ?purpose= is accepted and reloads without it.
	b2 := e.browser()
	b2.login("dev-auditor", "/app/")
	r := b2.get("/app/families/FAM-A?purpose=Tilsyn")
	if r.Status != 303 || r.Location != "/app/families/FAM-A" {
		t.Fatalf("?purpose=: %d %q", r.Status, r.Location)
	}
	if r := b2.get(r.Location); r.Status != 200 || !strings.Contains(r.Body, "Tilsyn") {
		t.Fatalf("after ?purpose=: %d", r.Status)
	}
	if r := b2.get("/app/families/FAM-A/access-log"); r.Status != 200 || !strings.Contains(r.Body, "Opfølgning på Familiens Plan") ||
		!strings.Contains(r.Body, "coordinator E1001") {
		t.Fatalf("access-log page: %d %.500s", r.Status, r.Body)
	}
}

func TestLoginRefused(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	for _, tc := range []struct {
		name, token string
		status      int
		text        string
	}{
		{"department", "dev-sof", 403, "Kun koordinatorer, revisorer og analytikere"},
		{"operator", "dev-operator", 403, "Kun koordinatorer, revisorer og analytikere"},
		{"unknown", "not-a-token", 401, "Nøglen blev ikke genkendt"},
		{"empty", "", 401, "Nøglen blev ikke genkendt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			r := b.login(tc.token, "")
			if r.Status != tc.status || !strings.Contains(r.Body, tc.text) {
				t.Fatalf("%d %.300s", r.Status, r.Body)
			}
			if r := b.get("/app/"); r.Status != 303 {
				t.Errorf("signed in after a refused login: %d", r.Status)
			}
		})
	}
	t.Run("no CSRF", func(t *testing.T) {
		b := e.browser()
		if r := b.do("POST", "/app/login", url.Values{"token": {"dev-coordinator"}}); r.Status != 403 {
			t.Fatalf("%d", r.Status)
		}
		b.get("/app/login")
		if r := b.do("POST", "/app/login", url.Values{"token": {"dev-coordinator"}, "csrf": {"forged"}}); r.Status != 403 {
			t.Fatalf("%d", r.Status)
		}
	})
}

func TestSessions(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	t.Run("cookie", func(t *testing.T) {
		b := e.browser()
		r := b.login("dev-coordinator", "")
		c := r.Header.Get("Set-Cookie")
		var sess string
		for _, v := range r.Header.Values("Set-Cookie") {
			if strings.HasPrefix(v, "jf_session=") {
				sess = v
			}
		}
		if sess == "" || !strings.Contains(sess, "HttpOnly") || !strings.Contains(sess, "SameSite=Lax") || strings.Contains(sess, "Secure") {
			t.Fatalf("session cookie %q (%q)", sess, c)
		}
		// 256 bits, base64url: 43 characters.
		if v := strings.TrimPrefix(strings.Split(sess, ";")[0], "jf_session="); len(v) != 43 {
			t.Errorf("session id %q", v)
		}
	})
	t.Run("rotated at login", func(t *testing.T) {
		b := e.browser()
		b.login("dev-coordinator", "")
		u, _ := url.Parse(e.app)
		first := b.c.Jar.Cookies(u)
		b.login("dev-coordinator", "")
		second := b.c.Jar.Cookies(u)
		if len(first) == 0 || len(second) == 0 || first[0].Value == second[0].Value {
			t.Fatalf("not rotated: %v %v", first, second)
		}
		old := e.browser()
		old.c.Jar.SetCookies(u, first)
		if r := old.get("/app/"); r.Status != 303 || !strings.Contains(r.Location, "expired=1") {
			t.Errorf("old session id still valid: %d %q", r.Status, r.Location)
		}
	})
	t.Run("logout", func(t *testing.T) {
		b := e.browser()
		b.login("dev-coordinator", "")
		list := b.get("/app/")
		if r := b.do("POST", "/app/logout", url.Values{"csrf": {"wrong"}}); r.Status != 403 {
			t.Errorf("logout with a wrong token: %d", r.Status)
		}
		u, _ := url.Parse(e.app)
		kept := b.c.Jar.Cookies(u)
		if r := b.do("POST", "/app/logout", url.Values{"csrf": {csrf(t, list)}}); r.Status != 303 || r.Location != "/app/login?out=1" {
			t.Fatalf("logout: %d %q", r.Status, r.Location)
		}
		// The session ended on the server, not only in the browser.
		replay := e.browser()
		replay.c.Jar.SetCookies(u, kept)
		if r := replay.get("/app/"); r.Status != 303 {
			t.Errorf("session after logout: %d", r.Status)
		}
	})
}

// TestSessionExpiry runs on its own app: it moves the clock.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-X", "E1001")
	t.Run("idle", func(t *testing.T) {
		b := e.browser()
		b.login("dev-coordinator", "")
		e.clock.Add(29 * time.Minute)
		if r := b.get("/app/"); r.Status != 200 {
			t.Fatalf("after 29 min: %d", r.Status)
		}
		e.clock.Add(webapp.SessionIdle)
		r := b.get("/app/families?status=enrolled")
		if r.Status != 303 || r.Location != "/app/login?expired=1&next=%2Fapp%2Ffamilies%3Fstatus%3Denrolled" {
			t.Fatalf("after 30 idle min: %d %q", r.Status, r.Location)
		}
		if r := b.get(r.Location); !strings.Contains(r.Body, "Din session er udløbet") || !strings.Contains(r.Body, `value="/app/families?status=enrolled"`) {
			t.Errorf("login page after expiry: %.400s", r.Body)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		b := e.browser()
		b.login("dev-coordinator", "")
		for range 23 { // 23 × 20 min < 8 h
			e.clock.Add(20 * time.Minute)
			if r := b.get("/app/"); r.Status != 200 {
				t.Fatalf("active session ended early: %d", r.Status)
			}
		}
		e.clock.Add(20 * time.Minute)
		if r := b.get("/app/"); r.Status != 303 {
			t.Fatalf("after 8 h: %d", r.Status)
		}
	})
	t.Run("purpose carried through login", func(t *testing.T) {
		b := e.browser()
		b.login("dev-coordinator", "")
		form := b.get("/app/families/FAM-X")
		e.clock.Add(webapp.SessionIdle)
		r := b.do("POST", "/app/families/FAM-X/purpose", url.Values{"csrf": {csrf(t, form)},
			"choice": {"Akut henvendelse"}, "text": {"opkald fra skolen"}})
		if r.Status != 303 || !strings.HasPrefix(r.Location, "/app/login?") {
			t.Fatalf("expired purpose post: %d %q", r.Status, r.Location)
		}
		lq, _ := url.Parse(r.Location)
		next := lq.Query().Get("next")
		if next != "/app/families/FAM-X?purpose=Akut+henvendelse%3A+opkald+fra+skolen" {
			t.Fatalf("next = %q", next)
		}
		r = b.login("dev-coordinator", next)
		if r.Status != 303 || r.Location != next {
			t.Fatalf("login: %d %q", r.Status, r.Location)
		}
		r = b.get(r.Location)
		if r.Status != 303 {
			t.Fatalf("?purpose=: %d", r.Status)
		}
		if r := b.get(r.Location); r.Status != 200 || !strings.Contains(r.Body, "Akut henvendelse: opkald fra skolen") {
			t.Fatalf("family page: %d %.300s", r.Status, r.Body)
		}
	})
}

func TestSecureCookie(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	b := e.browser()
	form := b.get("/app/login")
	var login string
	for _, v := range form.Header.Values("Set-Cookie") {
		login = v
	}
	if !strings.HasPrefix(login, "__Host-jf_login=") || !strings.Contains(login, "Secure") || !strings.Contains(login, "Path=/") {
		t.Errorf("login cookie %q", login)
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-B", "E1001")
	other := e.browser()
	other.login("dev-coordinator-2", "")
	auditor := e.browser()
	auditor.login("dev-auditor", "")
	owner := e.browser()
	owner.login("dev-coordinator", "")
	for _, tc := range []struct {
		name   string
		b      *browser
		path   string
		status int
		text   string
	}{
		{"other coordinator", other, "/app/families/FAM-B", 403, "Du har ikke adgang"},
		{"unknown family for a coordinator", owner, "/app/families/NOPE", 403, "Du har ikke adgang"},
		{"CPR-like id for a coordinator", owner, "/app/families/010101-1234", 403, "Du har ikke adgang"},
		{"unknown family for an auditor", auditor, "/app/families/NOPE", 404, "Der findes ingen familie"},
		{"access log for a coordinator", owner, "/app/families/FAM-B/access-log", 403, "Kun revisorer"},
		{"unknown page", owner, "/app/nothing", 404, "Siden findes ikke"},
		{"auditor lists every family", auditor, "/app/families?q=fam-b", 200, "/app/families/FAM-B"},
		{"other coordinator's list", other, "/app/", 200, "0 af 0 familier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.b.get(tc.path)
			if r.Status != tc.status || !strings.Contains(r.Body, tc.text) {
				t.Fatalf("%d %.400s", r.Status, r.Body)
			}
			if r.Status != 200 && strings.Contains(r.Body, "Arbejde 10 timer") {
				t.Error("error page with family data")
			}
		})
	}
	if r := other.do("POST", "/app/families/FAM-B/purpose", url.Values{"csrf": {csrf(t, other.get("/app/"))}, "choice": {"Akut henvendelse"}}); r.Status != 403 {
		t.Errorf("purpose for another's family: %d", r.Status)
	}
	if n := len(e.accessLog("FAM-B")); n != 0 {
		t.Errorf("refused reads logged: %d", n)
	}
}

// TestQueryWithCPRRefused: the family page's query string is stored in
// the access log with the endpoint, so one holding a CPR number is a 422
// page, and nothing is logged.
func TestQueryWithCPRRefused(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	e.enrol("FAM-Q", "E1001")
	b := e.browser()
	b.login("dev-coordinator", "")
	if r := b.open("FAM-Q", "Akut henvendelse"); r.Status != 200 {
		t.Fatal(r.Status)
	}
	before := len(e.accessLog("FAM-Q"))
	r := b.get("/app/families/FAM-Q?note=" + url.QueryEscape("010190-1234"))
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "CPR-nummer") {
		t.Fatalf("%d %.400s", r.Status, r.Body)
	}
	if strings.Contains(r.Body, "Arbejde 10 timer") {
		t.Error("422 page shows family data")
	}
	if n := len(e.accessLog("FAM-Q")); n != before {
		t.Errorf("refused read logged: %d entries, want %d", n, before)
	}
}

// TestNoUnloggedPages: when the access log cannot be written the family
// page is a 503 error page without family data.
func TestNoUnloggedPages(t *testing.T) {
	t.Parallel()
	// An operator's damage: only an admin outside the services may do it.
	n := testenv.StartNATS(t)
	e := start(t, false, func(cfg *config.Config) { n.Use(t, cfg) })
	e.enrol("FAM-C", "E1001")
	b := e.browser()
	b.login("dev-coordinator", "")
	if r := b.open("FAM-C", "Akut henvendelse"); r.Status != 200 {
		t.Fatal(r.Status)
	}
	if err := n.Admin.DeleteStream(context.Background(), eventstore.AccessLogStream); err != nil {
		t.Fatal(err)
	}
	r := b.get("/app/families/FAM-C")
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "Adgangsloggen kunne ikke skrives") {
		t.Fatalf("%d %.400s", r.Status, r.Body)
	}
	// The logout form's CSRF token is random text, which may hold "P1".
	page := regexp.MustCompile(`name="csrf" value="[^"]*"`).ReplaceAllString(r.Body, `name="csrf"`)
	for _, leak := range []string{"Arbejde 10 timer", "P1", "Kontanthjælp", "<svg"} {
		if strings.Contains(page, leak) {
			t.Errorf("503 page shows %q", leak)
		}
	}
	if r := b.get("/app/families/FAM-C/live"); r.Status != http.StatusServiceUnavailable {
		t.Errorf("live without an access log: %d", r.Status)
	}
}

// TestLiveViewsEndAtStop: open live streams, the web app's family view
// and the API's timeline stream, end as soon as a graceful stop begins,
// so that the stop neither waits for the shutdown timeout nor fails, and
// other requests in flight are not cut off.
func TestLiveViewsEndAtStop(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	// No heartbeat comes first to end a live view whose session the stop
	// has ended: only the stop itself ends the views.
	webapp.SetLiveHeartbeat(e.sa.App, time.Hour)
	e.enrol("FAM-L", "E1001")
	b := e.browser()
	b.base = e.sa.URL() // the app as the standalone itself serves it
	if r := b.login("dev-coordinator", "/app/families"); r.Status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.Status)
	}
	if r := b.open("FAM-L", "Akut henvendelse"); r.Status != 200 {
		t.Fatalf("open: %d", r.Status)
	}
	c := *b.c
	c.Timeout = 0 // a stream lives until the server ends it
	stream := func(path string, hdr map[string]string) (ended <-chan struct{}) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.sa.URL()+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		r := bufio.NewReader(resp.Body)
		if _, err := r.ReadString('\n'); err != nil { // the stream is open
			t.Fatalf("%s: %v", path, err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
			}
		}()
		return done
	}
	views := []<-chan struct{}{
		stream("/app/families/FAM-L/live", nil),
		stream("/v1/families/FAM-L/timeline/stream", map[string]string{
			"Authorization": "Bearer dev-coordinator", "X-Purpose": "Akut henvendelse"}),
	}
	// A stream that the stop does not end holds the stop until the
	// server's shutdown timeout, and Stop then fails with it: the error,
	// not the stop's duration, is what is checked.
	begun := time.Now()
	err := e.sa.Stop()
	t.Logf("graceful stop with open live streams: %s", time.Since(begun).Round(time.Millisecond))
	if err != nil {
		t.Errorf("graceful stop with open live streams: %v", err)
	}
	for i, ended := range views {
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Errorf("stream %d still open after the stop", i)
		}
	}
}

// TestLoginRateLimit: after webapp.LoginFailures wrong tokens from one
// address within webapp.LoginWindow, every login from it is a 429 page in
// Danish with Retry-After, even with a right token, until the oldest
// failure has left the window.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	b := e.browser()
	// An empty form is not a guess.
	if r := b.login("", ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("empty token: %d", r.Status)
	}
	for i := range webapp.LoginFailures {
		if r := b.login("wrong-token", ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d", i+1, r.Status)
		}
		if i == 0 {
			e.clock.Add(time.Minute) // the first failure is the oldest by a minute
		}
	}
	limited := func(wantRetry string) {
		t.Helper()
		r := b.login("dev-coordinator", "")
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("login past the limit: %d %q", r.Status, r.Location)
		}
		if got := r.Header.Get("Retry-After"); got != wantRetry {
			t.Errorf("Retry-After %q, want %q", got, wantRetry)
		}
		if !strings.Contains(r.Body, "For mange forsøg") || !strings.Contains(r.Body, `lang="da"`) {
			t.Errorf("429 page: %.500s", r.Body)
		}
		if strings.Contains(r.Header.Get("Set-Cookie"), "jf_session") {
			t.Error("a session cookie past the limit")
		}
	}
	limited("540")
	// Another browser from the same address waits too.
	e.clock.Add(8 * time.Minute)
	if r := e.browser().login("dev-coordinator", ""); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "60" {
		t.Fatalf("other browser, same address: %d %q", r.Status, r.Header.Get("Retry-After"))
	}
	// The oldest failure leaves the window: one try is free again, and a
	// right token signs in.
	e.clock.Add(time.Minute)
	if r := b.login("dev-coordinator", "/app/"); r.Status != http.StatusSeeOther || r.Location != "/app/" {
		t.Fatalf("login after the window: %d %q %.300s", r.Status, r.Location, r.Body)
	}
	// A success does not clear the count: nine failures, a minute younger
	// than the first, are still in the window, so one more wrong token
	// reaches the limit again until they leave it a minute later.
	if r := b.login("wrong-token", ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong token after the window: %d", r.Status)
	}
	limited("60")
}

// TestStandaloneServesPages: in the standalone, beside the APIs behind the
// error middleware, what no page of the app matches under /app/ is the
// app's own Danish HTML page, with any method, while elsewhere it stays a
// problem.
func TestStandaloneServesPages(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	for _, c := range []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/app/nothing", 404, "text/html; charset=utf-8", "Siden findes ikke"},
		{"DELETE", "/app/families", 404, "text/html; charset=utf-8", "Siden findes ikke"},
		{"GET", "/app/login", 200, "text/html; charset=utf-8", "<form"},
		{"GET", "/nowhere", 404, "application/problem+json", `"status":404`},
	} {
		r := testenv.Do(t, e.sa.URL(), c.method, c.path, "", nil, nil)
		if r.Status != c.status || r.Header.Get("Content-Type") != c.ctype || !strings.Contains(r.Raw, c.body) {
			t.Errorf("%s %s: %d %q, want %d %q with %q: %.200s", c.method, c.path, r.Status, r.Header.Get("Content-Type"), c.status, c.ctype, c.body, r.Raw)
		}
	}
}
