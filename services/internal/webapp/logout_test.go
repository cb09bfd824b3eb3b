package webapp_test

import (
	"net/url"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/idptest"
	"kk.dk/jobogfamilie/services/internal/testenv"
	"kk.dk/jobogfamilie/services/internal/webapp"
)

// TestLogoutAfterIdleEndsIdPSession: a person who presses "Log ud" after
// their session here went idle is still signed in at the IdP; logout
// sends them to its end-session endpoint all the same (with the client
// id, the ID token being gone with the session), so that the next person
// at the computer is not signed in as them by the IdP's single sign-on.
func TestLogoutAfterIdleEndsIdPSession(t *testing.T) {
	t.Parallel()
	idp := idptest.New(t, apiAudience)
	e := serveApp(t, testenv.Start(t, testenv.Config(t)),
		webapp.Options{OIDC: &webapp.OIDCLogin{Issuer: idp.URL, ClientID: "jf-app", ClientSecret: "app-secret"}})
	c := e.clock
	idp.AddClient(idptest.Client{ID: "jf-app", Secret: "app-secret", RedirectURIs: []string{e.app + "/app/login/callback"}})
	idp.SetUser(map[string]any{"sub": "mj", "roles": []string{"auditor"}})

	b := e.browser()
	if r := b.oidcLogin("/app/"); r.Status != 303 {
		t.Fatalf("login: %d %.300s", r.Status, r.Body)
	}
	fams := b.get("/app/")
	if fams.Status != 200 {
		t.Fatalf("families: %d", fams.Status)
	}
	c.Add(webapp.SessionIdle)
	out := b.do("POST", "/app/logout", url.Values{"csrf": {csrf(t, fams)}})
	if out.Status != 303 || !strings.HasPrefix(out.Location, idp.URL+"/logout?") {
		t.Fatalf("logout after the session went idle: %d %q", out.Status, out.Location)
	}
	q, _ := url.Parse(out.Location)
	if q.Query().Get("client_id") != "jf-app" || q.Query().Get("post_logout_redirect_uri") != e.app+"/app/login?out=1" {
		t.Fatalf("end-session request %q", out.Location)
	}
	if !strings.Contains(strings.Join(out.Header.Values("Set-Cookie"), "\n"), "jf_session=;") {
		t.Errorf("the ended session's cookie is kept: %v", out.Header.Values("Set-Cookie"))
	}
	// Without any session cookie (a cross-site form, which SameSite=Lax
	// sends without it) logout does not reach the IdP.
	if r := e.browser().do("POST", "/app/logout", url.Values{}); r.Status != 303 || strings.HasPrefix(r.Location, idp.URL) {
		t.Fatalf("logout without a session: %d %q", r.Status, r.Location)
	}
}
