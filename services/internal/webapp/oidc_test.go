package webapp_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2/clientcredentials"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/dextest"
	"kk.dk/jobogfamilie/services/internal/idptest"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

const apiAudience = "https://jobogfamilie.kk.dk/api"

// startOIDC runs a standalone whose web app logs in through an
// in-process IdP and whose APIs accept its access tokens, configured by
// flags as an operator would. dev keeps the dev config's static tokens;
// otherwise the principals file holds one service account only.
func startOIDC(t *testing.T, dev bool) (*env, *idptest.IdP) {
	t.Helper()
	idp := idptest.New(t, apiAudience)
	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t, func(c *config.Config) {
		c.OIDC = config.OIDC{Issuer: idp.URL, Audience: apiAudience, RoleClaim: "roles", EmployeeClaim: "employee_id",
			ClientID: "jf-app", ClientSecret: "app-secret", JWKSLifetime: auth.DefaultJWKSLifetime}
		if !dev {
			path := filepath.Join(t.TempDir(), "principals.json")
			cfg := `{"principals": [{"name": "sof-system", "kind": "department", "department": "sof", "tokenSha256": "` + auth.Hash("sof-service-token") + `"}]}`
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			c.ConfigPath = path
			// Without the dev config the operator provides the master
			// key: here a fresh one, in a file as in production.
			c.MasterKeyFile = testMasterKeyFile(t)
		}
	}))}
	e.app = e.sa.URL()
	// The departments post with client-credentials tokens of the IdP.
	e.token = func(d events.Department) string {
		return idp.AccessToken(t, map[string]any{"sub": string(d) + "-system", "roles": "department:" + string(d)})
	}
	idp.AddClient(idptest.Client{ID: "jf-app", Secret: "app-secret", RedirectURIs: []string{e.app + "/app/login/callback"}})
	return e, idp
}

// testMasterKeyFile writes a new master key (64 hex digits, mode 0600) to
// a file of the test's own.
func testMasterKeyFile(t *testing.T) string {
	t.Helper()
	text, err := shred.NewMasterKeyText()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// oidcLogin follows the login through the IdP as a browser would and
// returns the callback's answer.
func (b *browser) oidcLogin(next string) page {
	b.t.Helper()
	start := b.get("/app/login/oidc?next=" + url.QueryEscape(next))
	if start.Status != 303 {
		b.t.Fatalf("login start: %d %.300s", start.Status, start.Body)
	}
	u, err := url.Parse(start.Location)
	if err != nil {
		b.t.Fatal(err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" ||
		q.Get("response_type") != "code" || !strings.Contains(q.Get("scope"), "openid") {
		b.t.Fatalf("authorization request lacks PKCE, state or nonce: %s", start.Location)
	}
	at, err := b.c.Get(start.Location)
	if err != nil {
		b.t.Fatal(err)
	}
	at.Body.Close()
	back := at.Header.Get("Location")
	if !strings.HasPrefix(back, b.base+"/app/login/callback?") {
		b.t.Fatalf("the IdP sent the browser to %q", back)
	}
	return b.get(strings.TrimPrefix(back, b.base))
}

func TestOIDCLogin(t *testing.T) {
	t.Parallel()
	e, idp := startOIDC(t, false)
	e.enrol("FAM-OIDC", "E1001")

	// Without the dev config, the token form is gone.
	b := e.browser()
	lp := b.get("/app/login")
	if lp.Status != 200 || !strings.Contains(lp.Body, `id="oidc-login"`) || strings.Contains(lp.Body, `id="token"`) {
		t.Fatalf("login page: %d %.600s", lp.Status, lp.Body)
	}
	if csp := lp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+idp.URL) {
		t.Fatalf("CSP %q does not let logout's form reach the IdP", csp)
	}
	if r := b.do("POST", "/app/login", url.Values{"token": {"sof-service-token"}}); r.Status != 403 {
		t.Fatalf("token login without the dev config: %d", r.Status)
	}

	// A coordinator logs in and lands where they were going.
	idp.SetUser(map[string]any{"sub": "mj", "preferred_username": "mette.jensen@kk.dk", "roles": []string{"coordinator"}, "employee_id": "E1001"})
	r := b.oidcLogin("/app/families/FAM-OIDC")
	if r.Status != 303 || r.Location != "/app/families/FAM-OIDC" {
		t.Fatalf("callback: %d %q %.300s", r.Status, r.Location, r.Body)
	}
	fams := b.get("/app/")
	if fams.Status != 200 || !strings.Contains(fams.Body, "mette.jensen@kk.dk") || !strings.Contains(fams.Body, "FAM-OIDC") {
		t.Fatalf("families after login: %d %.500s", fams.Status, fams.Body)
	}

	// Logout ends the session here and sends the browser to the IdP's
	// end-session endpoint with the ID token as hint.
	out := b.do("POST", "/app/logout", url.Values{"csrf": {csrf(t, fams)}})
	if out.Status != 303 || !strings.HasPrefix(out.Location, idp.URL+"/logout?") {
		t.Fatalf("logout: %d %q", out.Status, out.Location)
	}
	lu, _ := url.Parse(out.Location)
	if lu.Query().Get("id_token_hint") == "" || lu.Query().Get("post_logout_redirect_uri") != e.app+"/app/login?out=1" {
		t.Fatalf("end-session request %q", out.Location)
	}
	if r := b.get("/app/"); r.Status != 303 || !strings.HasPrefix(r.Location, "/app/login") {
		t.Fatalf("after logout: %d %q", r.Status, r.Location)
	}

	// A callback whose state is not the browser's is refused, and so is
	// the same callback a second time (the flow cookie is spent).
	b2 := e.browser()
	start := b2.get("/app/login/oidc")
	at, err := b2.c.Get(start.Location)
	if err != nil {
		t.Fatal(err)
	}
	at.Body.Close()
	cb, _ := url.Parse(at.Header.Get("Location"))
	q := cb.Query()
	q.Set("state", "forged")
	if r := b2.get("/app/login/callback?" + q.Encode()); r.Status != 400 {
		t.Fatalf("forged state: %d", r.Status)
	}
	if r := b2.get(strings.TrimPrefix(at.Header.Get("Location"), e.app)); r.Status != 400 {
		t.Fatalf("callback without the flow cookie: %d", r.Status)
	}
	// Another browser cannot use a callback it did not start.
	if r := e.browser().get(strings.TrimPrefix(at.Header.Get("Location"), e.app)); r.Status != 400 {
		t.Fatalf("callback in another browser: %d", r.Status)
	}

	// People whose claims give no web-app role are refused.
	for _, user := range []map[string]any{
		{"roles": []string{"coordinator"}},    // no employee id
		{"roles": []string{"department:sof"}}, // a system
		{"roles": []string{"everyone"}},       // no known role
		{"roles": []string{"auditor"}, "nonce": "another-login"},
	} {
		idp.SetUser(user)
		if r := e.browser().oidcLogin("/app/"); r.Status != 403 {
			t.Fatalf("%v: %d %.300s", user, r.Status, r.Body)
		}
	}
	// An analyst lands on the evaluation.
	idp.SetUser(map[string]any{"roles": "analyst"})
	if r := e.browser().oidcLogin("/app/"); r.Status != 303 || r.Location != "/app/evaluation" {
		t.Fatalf("analyst: %d %q", r.Status, r.Location)
	}

	// The APIs of the same process take the IdP's access tokens and the
	// configuration's static ones, and refuse an ID token.
	coord := idp.AccessToken(t, map[string]any{"roles": "coordinator", "employee_id": "E1001"})
	if r := testenv.Do(t, e.app, "GET", "/v1/families", coord, nil, nil); r.Status != 200 || !strings.Contains(string(r.Raw), "FAM-OIDC") {
		t.Fatalf("GET /v1/families with a JWT: %d %s", r.Status, r.Raw)
	}
	idToken := idp.Sign(t, idptest.Options{Typ: "JWT"}, map[string]any{"roles": "coordinator", "employee_id": "E1001"})
	if r := testenv.Do(t, e.app, "GET", "/v1/families", idToken, nil, nil); r.Status != 401 || !strings.Contains(string(r.Raw), "typ") {
		t.Fatalf("GET /v1/families with an ID token: %d %s", r.Status, r.Raw)
	}
	ce, err := events.Build(events.SOF, "FAM-OIDC", &events.MeetingHeld{Kind: "family"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := events.Marshal(ce)
	ct := map[string]string{"Content-Type": "application/cloudevents+json"}
	// SOF's system gets its token with the client credentials grant.
	idp.AddClient(idptest.Client{ID: "jf-sof", Secret: "sof-secret", Claims: map[string]any{"roles": []string{"department:sof"}}})
	cc := clientcredentials.Config{ClientID: "jf-sof", ClientSecret: "sof-secret", TokenURL: idp.URL + "/token"}
	sofTok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sof := sofTok.AccessToken
	if r := testenv.Do(t, e.app, "POST", "/departments/sof/v1/events", sof, body, ct); r.Status != 201 {
		t.Fatalf("department JWT: %d %s", r.Status, r.Raw)
	}
	ce2, _ := events.Build(events.SOF, "FAM-OIDC", &events.MeetingHeld{Kind: "network"})
	body2, _ := events.Marshal(ce2)
	if r := testenv.Do(t, e.app, "POST", "/departments/sof/v1/events", "sof-service-token", body2, ct); r.Status != 201 {
		t.Fatalf("static service token: %d %s", r.Status, r.Raw)
	}
	bif := idp.AccessToken(t, map[string]any{"sub": "bif-system", "roles": "department:bif"})
	if r := testenv.Do(t, e.app, "POST", "/departments/sof/v1/events", bif, body, ct); r.Status != 403 {
		t.Fatalf("another department's JWT: %d %s", r.Status, r.Raw)
	}
}

// TestOIDCPersonIsSubject: an IdP user is their sub. The access log names
// them oidc:<sub> with their user name beside it, and "new since you last
// opened it" follows the sub: it survives a change of user name, and a
// user name another person had before does not bring theirs along.
func TestOIDCPersonIsSubject(t *testing.T) {
	t.Parallel()
	e, idp := startOIDC(t, false)
	e.enrol("FAM-SUB", "E1001")
	login := func(sub, username string) *browser {
		t.Helper()
		idp.SetUser(map[string]any{"sub": sub, "preferred_username": username, "roles": []string{"coordinator"}, "employee_id": "E1001"})
		b := e.browser()
		if r := b.oidcLogin("/app/"); r.Status != 303 {
			t.Fatalf("login of %s: %d %.300s", sub, r.Status, r.Body)
		}
		return b
	}
	if r := login("mj-1", "mette").open("FAM-SUB", "Akut henvendelse"); r.Status != 200 {
		t.Fatalf("family page: %d", r.Status)
	}
	log := e.accessLog("FAM-SUB")
	if last := log[len(log)-1]; last["principal"] != "oidc:mj-1 (mette)" || last["purpose"] != "Akut henvendelse" {
		t.Fatalf("access log entry %v", last)
	}
	// The same person under a new user name has opened the family.
	if r := login("mj-1", "mette.jensen").get("/app/"); r.Status != 200 || !strings.Contains(r.Body, "oidc:mj-1 (mette.jensen)") ||
		strings.Contains(r.Body, "Ikke åbnet endnu") {
		t.Errorf("renamed user's list: %d %.600s", r.Status, r.Body)
	}
	// Another person given the old user name has not.
	if r := login("mh-2", "mette").get("/app/"); r.Status != 200 || !strings.Contains(r.Body, "Ikke åbnet endnu") {
		t.Errorf("another person with the old user name: %d %.600s", r.Status, r.Body)
	}
	for _, entry := range e.accessLog("FAM-SUB") {
		if p, _ := entry["principal"].(string); !strings.HasPrefix(p, "oidc:mj-1 (") && !strings.HasPrefix(p, "oidc:mh-2 (") {
			t.Errorf("access log names %q", p)
		}
	}
}

// TestBrowserOIDC logs in through the IdP in headless Chromium, with
// axe-core's WCAG 2.1 A/AA rules on the login page, and logs out of both.
func TestBrowserOIDC(t *testing.T) {
	ctx, axe := newBrowser(t)
	e, idp := startOIDC(t, true)
	e.enrol("FAM-UI", "E1001")
	idp.SetUser(map[string]any{"sub": "mj", "preferred_username": "mette.jensen@kk.dk", "roles": []string{"coordinator"}, "employee_id": "E1001"})
	run := runner(t, ctx)
	run("login page", chromedp.Navigate(e.app+"/app/"), chromedp.WaitVisible("#oidc-login", chromedp.ByID))
	// The dev config keeps the token form beside the IdP's login.
	run("token form", chromedp.WaitVisible("#token", chromedp.ByID))
	checkA11y(t, ctx, axe, "login with the IdP")
	run("login", chromedp.Click("#oidc-login", chromedp.ByID), chromedp.WaitVisible(`a[href="/app/families/FAM-UI"]`, chromedp.ByQuery))
	var who string
	run("who", chromedp.Text(".who", &who, chromedp.ByQuery))
	if !strings.Contains(who, "mette.jensen@kk.dk") {
		t.Errorf("signed in as %q", who)
	}
	run("logout", chromedp.Click(`.logout button`, chromedp.ByQuery), chromedp.WaitVisible(".notice", chromedp.ByQuery))
	var loc, notice string
	run("after logout", chromedp.Location(&loc), chromedp.Text(".notice", &notice, chromedp.ByQuery))
	if !strings.HasPrefix(loc, e.app+"/app/login") || !strings.Contains(notice, "Du er logget ud") {
		t.Errorf("after logout at %s: %q", loc, notice)
	}
	if n := len(idp.Logouts()); n != 1 {
		t.Errorf("the IdP saw %d end-session requests, want 1", n)
	}
}

// TestBrowserDex logs in through Dex, a real OIDC provider, in headless
// Chromium: the app's login sends the browser to Dex's password form, Dex
// sends it back with a code, and the app signs the coordinator in from the
// ID token's groups and preferred_username; logout ends Dex's session too.
func TestBrowserDex(t *testing.T) {
	ctx, _ := newBrowser(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appAddr := l.Addr().String()
	l.Close()
	app := "http://" + appAddr
	dex := dextest.Start(t, []dextest.Client{{ID: "jf-app", Secret: "app-secret", RedirectURIs: []string{app + "/app/login/callback"}}},
		[]dextest.User{{Email: "mette@kk.dk", Password: "pw-mette", Name: "Mette Jensen", Username: "E1001", Groups: []string{"coordinator"}}})
	e := &env{t: t, sa: testenv.Start(t, testenv.Config(t, func(c *config.Config) {
		c.HTTPAddr = appAddr
		c.OIDC = config.OIDC{Issuer: dex.Issuer, Audience: "jf-app", RoleClaim: "groups", EmployeeClaim: "preferred_username",
			ClientID: "jf-app", ClientSecret: "app-secret", JWKSLifetime: auth.DefaultJWKSLifetime}
	}))}
	e.app = e.sa.URL()
	if e.app != app {
		t.Fatalf("standalone at %s, not %s", e.app, app)
	}
	e.enrol("FAM-DEX", "E1001")
	run := runner(t, ctx)
	run("login page", chromedp.Navigate(app+"/app/"), chromedp.WaitVisible("#oidc-login", chromedp.ByID),
		chromedp.Click("#oidc-login", chromedp.ByID), chromedp.WaitVisible("#password", chromedp.ByID))
	var at string
	run("at Dex", chromedp.Location(&at))
	if !strings.HasPrefix(at, dex.Issuer) {
		t.Fatalf("password form at %s, not Dex", at)
	}
	run("Dex login", chromedp.SendKeys("#login", "mette@kk.dk", chromedp.ByID), chromedp.SendKeys("#password", "pw-mette", chromedp.ByID),
		chromedp.Click("#submit-login", chromedp.ByID), chromedp.WaitVisible(`a[href="/app/families/FAM-DEX"]`, chromedp.ByQuery))
	var who string
	run("who", chromedp.Text(".who", &who, chromedp.ByQuery))
	if !strings.Contains(who, "E1001") {
		t.Errorf("signed in as %q", who)
	}
	// Dex's discovery has no end_session_endpoint: logout ends the
	// session here and lands on the login page.
	run("logout", chromedp.Click(`.logout button`, chromedp.ByQuery), chromedp.WaitVisible(".notice", chromedp.ByQuery))
	var loc string
	run("after logout", chromedp.Location(&loc))
	if !strings.HasPrefix(loc, app+"/app/login") {
		t.Errorf("after logout at %s", loc)
	}
}

// TestNoOIDC: without an IdP the login page has the token form only, and
// the IdP's routes are not there.
func TestNoOIDC(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	b := e.browser()
	lp := b.get("/app/login")
	if lp.Status != 200 || strings.Contains(lp.Body, "oidc-login") || !strings.Contains(lp.Body, `id="token"`) {
		t.Fatalf("login page: %d %.500s", lp.Status, lp.Body)
	}
	if csp := lp.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "form-action 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	for _, p := range []string{"/app/login/oidc", "/app/login/callback?code=x&state=y"} {
		if r := b.get(p); r.Status != 404 {
			t.Fatalf("%s without an IdP: %d", p, r.Status)
		}
	}
}
