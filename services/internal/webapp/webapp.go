// Package webapp is the coordinators' web app, in Danish, under /app/:
// login through the municipality's IdP (oidc.go: the authorization code
// flow with PKCE, state and nonce) or, without one or with the dev config,
// with a token of the configuration; the families a person is
// assigned to, and one family's overview, Familiens Plan, school absence
// and timeline, live. Auditors also see every family and who read it.
// Analysts see the evaluation's suppressed aggregates (/app/evaluation),
// as charts with their tables and CSV, and no family page.
//
// Pages are rendered on the server with html/template and work without
// JavaScript; the app's own small script (embedded, like its CSS) adds
// live entries only. Every family datum comes from the projector's
// principal-level reads (Families, ReadFamily, Subscribe), the same code
// the JSON API calls: the same authorization, and an acknowledged
// access-log entry with the purpose before any family data is sent. The
// family list shows more here than the API's (course dates, caseworker,
// goals), and the app records its views itself, as the API records its
// list, without a purpose (recordList).
//
// The app is a service of the projector process and of the standalone
// (NewService), beside the projector's API on the same listener. Its
// routes are pages (service.Route.Page), not API operations: they are not
// in the OpenAPI document, and they never hand an error to the error
// middleware (problem.Handler), which answers problem+json for the APIs.
// Every failure is written by the app itself as a Danish HTML error page
// with the right status, since a person reads it in a browser; anything
// under /app/ no route matches is the app's own 404 page too.
//
// Sessions live on the server (a random 256-bit id in an HttpOnly,
// SameSite=Lax cookie, Secure behind TLS); they end after 8 hours, after
// 30 minutes idle (the live view's own requests are not activity), and at
// logout (which also ends the IdP's session where
// it supports RP-initiated logout), and the id is new at every login.
// Every POST carries a CSRF token.
package webapp

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/openapi"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/sse"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the app.
type Options struct {
	Projector *projector.Projector
	Auth      *auth.Authenticator
	// NC and JS read ACCESS_LOG for the auditors' access-log page.
	NC *nats.Conn
	JS jetstream.JetStream
	// SecureCookie marks the session cookie Secure (set it behind TLS).
	SecureCookie bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client a failed login is counted against (ParseProxies).
	TrustedProxies []netip.Prefix
	// OIDC, when set, logs people in through the IdP; the token form
	// then stays only with the dev config.
	OIDC *OIDCLogin
	// Now is the clock of sessions and due dates; time.Now by default.
	Now func() time.Time
	Log *slog.Logger
}

// App is the web app.
type App struct {
	opts     Options
	sessions *sessions
	pages    map[string]*template.Template
	loginKey []byte
	logins   *loginLimiter
	static   fs.FS
	// oidc is the IdP login; nil without one. tokenLogin is whether the
	// token form is offered (no IdP login, or the dev config).
	oidc       *oidcClient
	tokenLogin bool
	csp        string
	// liveWriteTimeout is the deadline of each write of a live view, in
	// nanoseconds (sse.WriteTimeout).
	liveWriteTimeout atomic.Int64
	// heartbeat is the interval of a live view's heartbeats, in
	// nanoseconds (liveHeartbeat).
	heartbeat atomic.Int64
}

// New makes the app.
func New(o Options) (*App, error) {
	if o.Projector == nil || o.Auth == nil {
		return nil, errors.New("webapp: projector and authenticator are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, _ := fs.Sub(staticFS, "static")
	a := &App{opts: o, sessions: newSessions(o.Now), pages: pages, loginKey: []byte(random(32)),
		logins: newLoginLimiter(o.Now), static: static, tokenLogin: true, csp: csp}
	a.liveWriteTimeout.Store(int64(sse.WriteTimeout))
	a.heartbeat.Store(int64(liveHeartbeat))
	if o.OIDC != nil {
		if a.oidc, err = newOIDCClient(*o.OIDC); err != nil {
			return nil, err
		}
		origin, err := issuerOrigin(o.OIDC.Issuer)
		if err != nil {
			return nil, err
		}
		a.tokenLogin = o.Auth.UsesDevTokens()
		// Logout's form is answered with a redirect to the IdP.
		a.csp = strings.Replace(csp, "form-action 'self'", "form-action 'self' "+origin, 1)
	}
	return a, nil
}

// NewService is the app as a service of the process on p, reading through
// pj (built before it on the same parts): the projector process and the
// standalone both run it.
func NewService(_ context.Context, p service.Parts, pj *projector.Projector) (*App, error) {
	proxies, err := ParseProxies(p.Config.AppTrustedProxies)
	if err != nil {
		return nil, err
	}
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	o := Options{Projector: pj, Auth: p.Auth, NC: p.Store.NC, JS: p.Store.JS,
		SecureCookie: p.Config.AppSecureCookie, TrustedProxies: proxies, Log: log.With("component", "webapp")}
	if c := p.Config.OIDC; c.Issuer != "" && c.ClientID != "" {
		o.OIDC = &OIDCLogin{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
			RoleClaim: c.RoleClaim, EmployeeClaim: c.EmployeeClaim}
	}
	return New(o)
}

// Routes are the app's pages under /app/. They are pages, not API
// operations (service.Route.Page): each writes its own answer, failures
// included, as a Danish HTML page, and returns no error to the error
// middleware; they are not in the OpenAPI document.
func (a *App) Routes() []service.Route {
	page := func(method, pattern string, f func(http.ResponseWriter, *http.Request)) service.Route {
		h := a.secure(http.HandlerFunc(f))
		return service.Route{Method: method, Pattern: pattern, Page: true, Handle: func(w http.ResponseWriter, r *http.Request) error {
			h.ServeHTTP(w, r)
			return nil
		}}
	}
	toApp := http.RedirectHandler("/app/", http.StatusMovedPermanently)
	return []service.Route{
		page("GET", "/app/login", a.handleLoginForm),
		page("POST", "/app/login", a.handleLogin),
		page("POST", "/app/logout", a.handleLogout),
		page("GET", "/app/login/oidc", a.handleOIDCStart),
		page("GET", "/app/login/callback", a.handleOIDCCallback),
		page("GET", "/app/{$}", a.withSession(a.noAnalyst(a.handleFamilies))),
		page("GET", "/app/families", a.withSession(a.noAnalyst(a.handleFamilies))),
		page("GET", "/app/families/{familyId}", a.withSession(a.noAnalyst(a.handleFamily))),
		page("POST", "/app/families/{familyId}/purpose", a.handlePurpose),
		page("GET", "/app/families/{familyId}/live", a.withScriptSession(a.noAnalyst(a.handleLive))),
		page("GET", "/app/families/{familyId}/access-log", a.withSession(a.noAnalyst(a.handleAccessLog))),
		page("GET", "/app/evaluation", a.withSession(a.evaluationOnly(a.handleEvaluation))),
		page("GET", "/app/evaluation/series.csv", a.withSession(a.evaluationOnly(a.handleEvaluationCSV))),
		page("GET", "/app/static/{file}", a.handleStatic),
		// Whatever else is under /app/, with any method, is the app's own
		// 404 page rather than a problem.
		page("", "/app/", func(w http.ResponseWriter, r *http.Request) { a.errorPage(w, r, nil, http.StatusNotFound, "") }),
		page("GET", "/app", toApp.ServeHTTP),
	}
}

// Checks: none of its own; the app is ready when the projector it reads
// through is, and the projector's check says so.
func (a *App) Checks() map[string]service.Check { return nil }

// API is empty: the app's routes are pages, not an API.
func (a *App) API() openapi.Fragment { return openapi.Fragment(`{"paths": {}}`) }

// Stop releases nothing: sessions live in memory and end with the
// process, and live views end when the HTTP server stops.
func (a *App) Stop() {}

// csp allows the app's own script and style only: no inline code, no
// framing, no foreign form targets.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// secure sets the headers every response of the app carries.
func (a *App) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", a.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type ctxKey struct{}

// sessionFrom is the request's session (set by withSession or
// withScriptSession).
func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(ctxKey{}).(*session)
	return s
}

// withSession lets only signed-in persons through; others go to the login
// page, which brings them back here afterwards. The request is the
// person's activity: it keeps the session from going idle.
func (a *App) withSession(next func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, res := a.sessions.get(cookieValue(r, a.sessionCookieName()))
		if res != validSession {
			a.toLogin(w, r, res == expiredSession, r.URL.RequestURI())
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, ss)))
	}
}

// withScriptSession is withSession for what the page's script requests
// by itself, with nobody at the page: the live view's connects, and the
// reconnects its EventSource makes after a dropped stream. Such a request
// is not the person's activity, so that an unattended page goes idle
// after SessionIdle like any other; without a session it is answered 401,
// not sent to the login page.
func (a *App) withScriptSession(next func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, res := a.sessions.peek(cookieValue(r, a.sessionCookieName()))
		if res != validSession {
			http.Error(w, "session udløbet", http.StatusUnauthorized)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, ss)))
	}
}

// toLogin answers 303 to the login page with next (and why).
func (a *App) toLogin(w http.ResponseWriter, r *http.Request, expired bool, next string) {
	q := url.Values{}
	if next != "" && next != "/app/" {
		q.Set("next", next)
	}
	if expired {
		q.Set("expired", "1")
		// The cookie names a session that no longer exists.
		a.setCookie(w, a.sessionCookieName(), "", -1)
	}
	target := "/app/login"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext accepts only a path of this app: no scheme, no host, no
// protocol-relative or backslash tricks. Anything else is /app/.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/app/") || strings.ContainsAny(next, "\\\r\n\t") || strings.HasPrefix(next, "//") {
		return "/app/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/app/") || strings.Contains(u.Path, "/../") {
		return "/app/"
	}
	return u.RequestURI()
}

// render writes a page; the page is made in a buffer first, so that a
// template failure becomes an error page rather than half a page.
func (a *App) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	t, ok := a.pages[name]
	if !ok {
		a.opts.Log.Error("webapp: no such page", "page", name)
		http.Error(w, "Intern fejl", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		a.opts.Log.Error("webapp: render failed", "page", name, "err", err)
		http.Error(w, "Intern fejl", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorView is the data of the error page.
type errorView struct {
	page
	Status  int
	Heading string
	Text    string
}

// errorPage shows a Danish error page with the status (a 4xx or 5xx;
// anything else is a 500); detail, when given, is its text.
func (a *App) errorPage(w http.ResponseWriter, r *http.Request, ss *session, status int, detail string) {
	v := errorView{page: a.pageOf(r, ss, ""), Status: status, Text: detail}
	switch status {
	case http.StatusBadRequest:
		v.Heading = "Forespørgslen kunne ikke forstås"
		if v.Text == "" {
			v.Text = "Kontrollér det, du har skrevet, og prøv igen."
		}
	case http.StatusForbidden:
		v.Heading = "Du har ikke adgang"
		if v.Text == "" {
			v.Text = "Du kan kun se familier, du er tilknyttet som sagsbehandler, makkerpar eller i teamet."
		}
	case http.StatusNotFound:
		v.Heading = "Siden findes ikke"
		if v.Text == "" {
			v.Text = "Adressen findes ikke i Job og Familie. Gå til forsiden og find familien der."
		}
	case http.StatusMethodNotAllowed:
		v.Heading = "Forespørgslen blev afvist"
		if v.Text == "" {
			v.Text = "Siden kan kun hentes med GET: et opslag i en families oplysninger logges, og en HEAD-forespørgsel viser intet."
		}
	case http.StatusUnprocessableEntity:
		v.Heading = "Forespørgslen blev afvist"
		if v.Text == "" {
			v.Text = "Adressen indeholder noget, der ligner et CPR-nummer, eller et kontroltegn. Adressen gemmes i adgangsloggen og må ikke indeholde det. Fjern det, og prøv igen."
		}
	case http.StatusUnauthorized:
		v.Heading = "Du er ikke logget ind"
		if v.Text == "" {
			v.Text = "Log ind, og prøv igen."
		}
	case http.StatusConflict:
		v.Heading = "Forespørgslen kunne ikke gennemføres"
		if v.Text == "" {
			v.Text = "Den strider mod noget, der er i gang lige nu. Prøv igen om lidt."
		}
	case http.StatusRequestEntityTooLarge:
		v.Heading = "Forespørgslen er for stor"
		if v.Text == "" {
			v.Text = "Det, du har sendt, fylder for meget. Forkort teksten, og prøv igen."
		}
	case http.StatusTooManyRequests:
		v.Heading = "For mange forsøg"
		if v.Text == "" {
			v.Text = "Der er sendt for mange forespørgsler på kort tid. Vent lidt, og prøv igen."
		}
	case http.StatusServiceUnavailable:
		v.Heading = "Systemet kan ikke vise data lige nu"
		if v.Text == "" {
			v.Text = "Prøv igen om lidt."
		}
	default:
		// Any other refusal keeps its status: a request the server
		// refuses is not the server's fault.
		if status >= 400 && status < 500 {
			v.Heading = "Forespørgslen blev afvist"
			if v.Text == "" {
				v.Text = "Job og Familie kunne ikke gøre det, du bad om. Gå til forsiden, og prøv igen derfra."
			}
			break
		}
		if status < 500 || status > 599 {
			v.Status = http.StatusInternalServerError
		}
		v.Heading = "Der opstod en fejl"
		if v.Text == "" {
			v.Text = "Prøv igen om lidt. Hvis fejlen bliver ved, så kontakt IT-support."
		}
	}
	v.Title = v.Heading
	a.render(w, v.Status, "error", v)
}

// formFailed shows the error page for a form ParseForm refused: 413 when
// it is larger than the handler reads (http.MaxBytesReader), else 400.
func (a *App) formFailed(w http.ResponseWriter, r *http.Request, ss *session, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		a.errorPage(w, r, ss, http.StatusRequestEntityTooLarge, "")
		return
	}
	a.errorPage(w, r, ss, http.StatusBadRequest, "")
}

// fail shows the error page for err: problems keep their status, with a
// Danish text; anything else is logged and shown as a 500.
func (a *App) fail(w http.ResponseWriter, r *http.Request, ss *session, err error) {
	var pr *problem.Problem
	if errors.As(err, &pr) {
		if pr.Allow != "" {
			w.Header().Set("Allow", pr.Allow)
		}
		if pr.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(pr.RetryAfter))
		}
		switch pr.Status {
		case http.StatusServiceUnavailable:
			if errors.Is(err, projector.ErrNotReady) {
				a.errorPage(w, r, ss, pr.Status, "Systemet er ved at indlæse data og kan ikke vise dem endnu. Prøv igen om lidt.")
				return
			}
			a.errorPage(w, r, ss, pr.Status, "Adgangsloggen kunne ikke skrives, og familiens data vises aldrig uden at adgangen er logget. Prøv igen om lidt.")
		case http.StatusNotFound:
			a.errorPage(w, r, ss, pr.Status, "Der findes ingen familie med det id.")
		default:
			a.errorPage(w, r, ss, pr.Status, "")
		}
		return
	}
	if r.Context().Err() == nil {
		a.opts.Log.Error("webapp: request failed", "path", r.URL.Path, "err", err)
	}
	a.errorPage(w, r, ss, http.StatusInternalServerError, "")
}

func (a *App) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(a.static, name)
	if err != nil {
		a.errorPage(w, r, nil, http.StatusNotFound, "")
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	// Static files hold no family data; they may be cached, revalidated.
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
