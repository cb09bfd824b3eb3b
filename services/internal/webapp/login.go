package webapp

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/projector"
)

// page is what every page's layout needs.
type page struct {
	Title string
	// User is the signed-in person's name; empty on the login page.
	User    string
	Auditor bool
	// Analyst sees the evaluation only; Evaluation is whether the person
	// may see it (analysts and auditors).
	Analyst, Evaluation bool
	CSRF                string
	// Script includes the app's script.
	Script bool
}

func (a *App) pageOf(r *http.Request, ss *session, title string) page {
	if ss == nil {
		ss = sessionFrom(r.Context())
	}
	p := page{Title: title}
	if ss != nil {
		p.User, p.Auditor, p.CSRF = ss.principal.Name, ss.principal.Kind == auth.Auditor, ss.csrf
		p.Analyst, p.Evaluation = ss.principal.Kind == auth.Analyst, projector.EvaluationReader(ss.principal)
	}
	return p
}

type loginView struct {
	page
	Next    string
	Expired bool
	Out     bool
	Error   string
	Token   string
	// OIDC offers the IdP's login; TokenForm the token form.
	OIDC, TokenForm bool
}

func (a *App) showLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	nonce := random(32)
	a.setCookie(w, a.loginCookieName(), nonce, int(SessionIdle.Seconds()))
	v.page = page{Title: "Log ind", CSRF: loginCSRF(a.loginKey, nonce)}
	v.OIDC, v.TokenForm = a.oidc != nil, a.tokenLogin
	a.render(w, status, "login", v)
}

func (a *App) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	next := safeNext(q.Get("next"))
	if fromOtherSite(r) {
		// Another site's link does not choose the purpose of the reads
		// after the login, as it does not on the family page itself.
		next = suggestedNext(next)
	}
	a.showLogin(w, r, http.StatusOK, loginView{
		Next: next, Expired: q.Get("expired") == "1", Out: q.Get("out") == "1",
	})
}

// handleLogin signs in with a token of the configuration: coordinators,
// auditors and analysts only. The session id is new at every login; an
// analyst lands on the evaluation, whatever next says.
//
// Wrong tokens are counted per client address (loginLimiter, clientAddr): past
// LoginFailures within LoginWindow every login from the address is
// answered 429 with Retry-After, before the token is looked at.
func (a *App) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !a.tokenLogin {
		a.errorPage(w, r, nil, http.StatusForbidden, "Log ind med kommunens login.")
		return
	}
	client := clientAddr(r, a.opts.TrustedProxies)
	if wait := a.logins.blocked(client); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		when := "1 minut"
		if m := (secs + 59) / 60; m > 1 {
			when = strconv.Itoa(m) + " minutter"
		}
		a.errorPage(w, r, nil, http.StatusTooManyRequests,
			"Der er forsøgt at logge ind med forkerte nøgler for mange gange fra din computer. Prøv igen om "+when+".")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		a.formFailed(w, r, nil, err)
		return
	}
	nonce := cookieValue(r, a.loginCookieName())
	if nonce == "" || !validCSRF(loginCSRF(a.loginKey, nonce), r.PostForm.Get("csrf")) {
		a.errorPage(w, r, nil, http.StatusForbidden, "Formularen var for gammel eller kom ikke fra Job og Familie. Åbn login-siden igen og prøv igen.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	pr, err := a.opts.Auth.Token(r.PostForm.Get("token"))
	if err != nil {
		if !errors.Is(err, auth.ErrNoToken) {
			a.logins.failed(client)
		}
		a.showLogin(w, r, http.StatusUnauthorized, loginView{Next: next, Error: "Nøglen blev ikke genkendt. Kontrollér den og prøv igen."})
		return
	}
	a.startSession(w, r, pr, next, "")
}

// startSession signs pr in, after a token or an IdP login (idToken is the
// IdP's ID token then): coordinators, auditors and analysts only. The
// session id is new at every login; an analyst lands on the evaluation,
// whatever next says.
func (a *App) startSession(w http.ResponseWriter, r *http.Request, pr auth.Principal, next, idToken string) {
	switch pr.Kind {
	case auth.Coordinator, auth.Auditor:
	case auth.Analyst:
		if !strings.HasPrefix(next, "/app/evaluation") {
			next = "/app/evaluation"
		}
	default:
		msg := "Denne nøgle hører til et system eller en driftsansvarlig, ikke en medarbejder. Kun koordinatorer, revisorer og analytikere kan logge ind i Job og Familie."
		if idToken != "" {
			msg = "Din rolle giver ikke adgang til web-appen. Kun koordinatorer, revisorer og analytikere kan logge ind i Job og Familie."
		}
		a.showLogin(w, r, http.StatusForbidden, loginView{Next: next, Error: msg})
		return
	}
	// A session the browser still holds ends here: the new one has a new id.
	if old := cookieValue(r, a.sessionCookieName()); old != "" {
		a.sessions.remove(old)
	}
	id, ss, ok := a.sessions.create(pr)
	if !ok {
		a.errorPage(w, r, nil, http.StatusServiceUnavailable, "Der er for mange samtidige sessioner. Prøv igen om lidt.")
		return
	}
	ss.idToken = idToken
	a.setCookie(w, a.loginCookieName(), "", -1)
	// No Max-Age: the cookie ends with the browser; the server ends the
	// session after SessionLifetime or SessionIdle anyway.
	a.setCookie(w, a.sessionCookieName(), id, 0)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// handleLogout ends the session on the server, and at the IdP.
func (a *App) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	id := cookieValue(r, a.sessionCookieName())
	ss, res := a.sessions.get(id)
	if res != validSession {
		// The session here has ended (idle or too old), but the person
		// may still be signed in at the IdP, whose single sign-on would
		// sign the next person at the computer in as them: logout ends
		// it there too. The cookie says this browser had a session, and,
		// SameSite=Lax, that the form came from this site.
		if res == expiredSession {
			if end := a.endSessionURL(r, ""); end != "" {
				a.setCookie(w, a.sessionCookieName(), "", -1)
				http.Redirect(w, r, end, http.StatusSeeOther)
				return
			}
		}
		a.toLogin(w, r, res == expiredSession, "")
		return
	}
	if err := r.ParseForm(); err != nil {
		a.formFailed(w, r, ss, err)
		return
	}
	if !validCSRF(ss.csrf, r.PostForm.Get("csrf")) {
		a.errorPage(w, r, ss, http.StatusForbidden, "Formularen kom ikke fra Job og Familie.")
		return
	}
	a.sessions.remove(id)
	a.setCookie(w, a.sessionCookieName(), "", -1)
	// After a login through the IdP, its session ends too where it
	// supports RP-initiated logout; it sends the browser back here.
	if ss.idToken != "" {
		if end := a.endSessionURL(r, ss.idToken); end != "" {
			http.Redirect(w, r, end, http.StatusSeeOther)
			return
		}
	}
	http.Redirect(w, r, "/app/login?out=1", http.StatusSeeOther)
}
