package webapp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
	"kk.dk/jobogfamilie/services/internal/webapp"
)

// clock is a settable clock for sessions.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a running standalone and, beside it, an app with a test clock on
// its own server (reading through the standalone's projector).
type env struct {
	t     *testing.T
	sa    *standalone.Standalone
	clock *clock
	app   string // base URL of the app with the test clock
	// token is a department's bearer token; dev-<dept> when nil.
	token func(events.Department) string
}

func start(t *testing.T, secure bool, mutate ...func(*config.Config)) *env {
	t.Helper()
	return serveApp(t, testenv.Start(t, testenv.Config(t, mutate...)), webapp.Options{SecureCookie: secure})
}

// serveApp runs an app with o, reading through sa, with a test clock on
// its own server.
func serveApp(t *testing.T, sa *standalone.Standalone, o webapp.Options) *env {
	t.Helper()
	c := &clock{t: time.Now()}
	o.Projector, o.Auth, o.NC, o.JS = sa.Projector, sa.Auth, sa.Store.NC, sa.Store.JS
	o.Now, o.Log = c.Now, testenv.QuietLog()
	a, err := webapp.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	service.Mount(mux, testenv.QuietLog(), a)
	srv := httptest.NewServer(problem.Mux(mux))
	t.Cleanup(srv.Close)
	return &env{t: t, sa: sa, clock: c, app: srv.URL}
}

// post sends one event through the real ingest API and returns its
// stream position.
func (e *env) post(dept events.Department, fam string, data events.Payload, opts ...events.BuildOption) uint64 {
	e.t.Helper()
	ce, err := events.Build(dept, fam, data, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := events.Marshal(ce)
	if err != nil {
		e.t.Fatal(err)
	}
	token := "dev-" + string(dept)
	if e.token != nil {
		token = e.token(dept)
	}
	r := testenv.Do(e.t, e.sa.URL(), "POST", "/departments/"+string(dept)+"/v1/events", token, b,
		map[string]string{"Content-Type": "application/cloudevents+json"})
	if r.Status != 201 {
		e.t.Fatalf("POST %s: %d %s", data.EventName(), r.Status, r.Raw)
	}
	return uint64(r.Body["position"].(float64))
}

func (e *env) waitApplied(pos uint64) {
	e.t.Helper()
	testenv.CheckFor(e.t, 15*time.Second, func() error {
		if got := e.sa.Projector.Position(); got < pos {
			return fmt.Errorf("projector at %d, want %d", got, pos)
		}
		return nil
	})
}

// enrol makes an enrolled family with caseworker emp, a goal and a school
// absence period, and waits until it is projected. The child consents to
// data sharing, so that coordinators see the absence (TestConsentLine
// covers a family without it).
func (e *env) enrol(fam, emp string) {
	e.t.Helper()
	e.post(events.SOF, fam, &events.FamilyEnrolled{
		Members:        []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart:    "2024-01-15",
		ChildCaseIDs:   []string{"CASE1"},
		ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	}, events.WithTime(time.Date(2024, 1, 15, 8, 0, 0, 0, time.UTC))) // the course's start, as its data says
	e.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: emp})
	e.post(events.SOF, fam, &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing})
	e.post(events.SOF, fam, &events.GoalSet{GoalID: "G1", Title: "Arbejde 10 timer om ugen", Domain: "employment", ExpressedBy: "family"})
	e.waitApplied(e.post(events.BUF, fam, &events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: "2024-01-01", PeriodEnd: "2024-03-31",
		SchoolDays: 60, AbsentDays: events.AbsentDays{Sickness: 3, Authorised: 1, Unauthorised: 5}}))
}

// browser is one person's cookie jar; it does not follow redirects, so
// tests see each 303.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.app, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(raw), Location: resp.Header.Get("Location")}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do("GET", path, nil) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of a page's form.
func csrf(t *testing.T, p page) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no CSRF field in page (%d): %.300s", p.Status, p.Body)
	}
	return m[1]
}

// shown is the page's body without its CSRF tokens: they are random
// base64, which may hold any short text (a family id) by chance.
func (p page) shown() string { return csrfField.ReplaceAllString(p.Body, "") }

// login signs in with token and returns the answer to the POST.
func (b *browser) login(token, next string) page {
	b.t.Helper()
	form := b.get("/app/login")
	return b.do("POST", "/app/login", url.Values{"csrf": {csrf(b.t, form)}, "token": {token}, "next": {next}})
}

// open gives the purpose for a family (from its purpose form) and returns
// the family page.
func (b *browser) open(fam, purpose string) page {
	b.t.Helper()
	form := b.get("/app/families/" + fam)
	if form.Status != 200 || !strings.Contains(form.Body, "Hvorfor åbner du") {
		b.t.Fatalf("purpose form: %d %.300s", form.Status, form.Body)
	}
	r := b.do("POST", "/app/families/"+fam+"/purpose", url.Values{"csrf": {csrf(b.t, form)}, "choice": {purpose}})
	if r.Status != 303 {
		b.t.Fatalf("purpose: %d %.300s", r.Status, r.Body)
	}
	return b.get(r.Location)
}

// accessLog is the family's ACCESS_LOG entries: every entry stored when it
// is called, read to the last (an entry is stored before the read it logs
// is answered).
func (e *env) accessLog(fam string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, data := range testenv.StreamMessages(e.t, e.sa.Store.JS, eventstore.AccessLogStream, "access."+fam) {
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}
