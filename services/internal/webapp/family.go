package webapp

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// PageSize is the number of timeline entries a page shows.
const PageSize = 50

// Purposes are the reasons offered when a family is opened; free text may
// be added to any of them.
var Purposes = []string{
	"Forberedelse af netværksmøde",
	"Opfølgning på Familiens Plan",
	"Akut henvendelse",
	"Sagsbehandling og dokumentation",
	"Koordinering med samarbejdspartnere",
	"Tilsyn og revision",
}

// otherPurpose is the choice whose text is the free text alone.
const otherPurpose = "Andet"

// checkPurpose validates a purpose exactly as the API validates X-Purpose
// (accesslog.Purpose): the one place the app checks a purpose. The query
// strings of the app's reads are checked by Projector.ReadFamily.
func checkPurpose(s string) (string, error) {
	return accesslog.Purpose(&http.Request{URL: &url.URL{}, Header: http.Header{accesslog.HeaderPurpose: {s}}})
}

// composePurpose makes the logged purpose from the form's choice and text.
func composePurpose(choice, text string) string {
	choice, text = strings.TrimSpace(choice), purposeText(text)
	switch {
	case choice == otherPurpose || choice == "":
		return text
	case text == "":
		return choice
	}
	return choice + purposeSep + text
}

// splitPurpose is composePurpose undone, for showing a purpose in the
// form again: a purpose that begins with one of the choices is that choice
// and the rest; any other is Andet's text.
func splitPurpose(purpose string) (choice, text string) {
	purpose = purposeText(purpose)
	for _, c := range Purposes {
		if purpose == c {
			return c, ""
		}
		if rest, ok := strings.CutPrefix(purpose, c+purposeSep); ok {
			return c, rest
		}
	}
	if purpose == "" {
		return "", ""
	}
	return otherPurpose, purpose
}

// purposeSep joins a choice and its text in the logged purpose.
const purposeSep = ": "

// purposeText is the form's text as the purpose holds it: its runs of
// white space made one space.
func purposeText(text string) string { return strings.Join(strings.Fields(text), " ") }

// textRoom is how many characters the text may have beside choice, the
// logged purpose holding at most accesslog.MaxPurpose.
func textRoom(choice string) int {
	choice = strings.TrimSpace(choice)
	if choice == otherPurpose || choice == "" {
		return accesslog.MaxPurpose
	}
	return accesslog.MaxPurpose - utf8.RuneCountInString(choice) - utf8.RuneCountInString(purposeSep)
}

// purposeTextMax is the room the form promises for the text: what is left
// beside the longest choice, so that it holds whichever is chosen.
func purposeTextMax() int {
	room := accesslog.MaxPurpose
	for _, p := range Purposes {
		room = min(room, textRoom(p))
	}
	return room
}

// purposeProblem says, in Danish, what is wrong with a purpose that
// checkPurpose refused: which part is too long and by how much, or that
// it holds what it may not.
func purposeProblem(choice, text string) string {
	n, room := utf8.RuneCountInString(purposeText(text)), textRoom(choice)
	switch {
	case n > room && room == accesslog.MaxPurpose:
		return "Årsagen er " + itoa(n) + " tegn; den må højst være " + itoa(room) + " tegn. Forkort den."
	case n > room && room > 0:
		return "Uddybningen er " + itoa(n) + " tegn; ved siden af årsagen »" + strings.TrimSpace(choice) + "« er der plads til højst " +
			itoa(room) + " tegn. Forkort uddybningen."
	case utf8.RuneCountInString(composePurpose(choice, text)) > accesslog.MaxPurpose:
		return "Årsagen må højst være " + itoa(accesslog.MaxPurpose) + " tegn."
	}
	return "Årsagen må kun indeholde almindelig tekst og intet CPR-nummer."
}

type purposeView struct {
	page
	FamilyID string
	Next     string
	Purposes []string
	Other    string
	Choice   string
	Text     string
	// TextMax is the room for the text beside any choice.
	TextMax int
	Error   string
	// Suggested: the choice and text came in a link from another site;
	// the person confirms them or chooses another.
	Suggested bool
}

func (a *App) showPurpose(w http.ResponseWriter, r *http.Request, ss *session, status int, v purposeView) {
	v.page = a.pageOf(r, ss, "Hvorfor åbner du familien?")
	v.Purposes, v.Other, v.TextMax = Purposes, otherPurpose, purposeTextMax()
	a.render(w, status, "purpose", v)
}

// familyNext keeps a purpose form's return path within the family's own
// pages.
func familyNext(familyID, next string) string {
	base := "/app/families/" + url.PathEscape(familyID)
	next = safeNext(next)
	if next == base || strings.HasPrefix(next, base+"?") || strings.HasPrefix(next, base+"/access-log") {
		return next
	}
	return base
}

// handlePurpose records why the person opens the family, for this session.
// With the session expired the purpose travels through the login page in
// next (as ?purpose=), so nothing typed is lost.
func (a *App) handlePurpose(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	fam := r.PathValue("familyId")
	if err := r.ParseForm(); err != nil {
		a.formFailed(w, r, nil, err)
		return
	}
	purpose := composePurpose(r.PostForm.Get("choice"), r.PostForm.Get("text"))
	next := familyNext(fam, r.PostForm.Get("next"))
	id := cookieValue(r, a.sessionCookieName())
	ss, res := a.sessions.get(id)
	if res != validSession {
		u, _ := url.Parse(next)
		q := u.Query()
		q.Set("purpose", purpose)
		u.RawQuery = q.Encode()
		a.toLogin(w, r, res == expiredSession, u.RequestURI())
		return
	}
	if !validCSRF(ss.csrf, r.PostForm.Get("csrf")) {
		a.errorPage(w, r, ss, http.StatusForbidden, "Formularen kom ikke fra Job og Familie. Åbn familien igen.")
		return
	}
	if err := a.opts.Projector.Authorize(r.Context(), ss.principal, fam); err != nil {
		a.fail(w, r, ss, err)
		return
	}
	v := purposeView{FamilyID: fam, Next: next, Choice: r.PostForm.Get("choice"), Text: r.PostForm.Get("text")}
	if purpose == "" {
		v.Error = "Vælg en årsag, eller skriv den under Andet."
		a.showPurpose(w, r, ss, http.StatusBadRequest, v)
		return
	}
	checked, err := checkPurpose(purpose)
	if err != nil {
		v.Error = purposeProblem(v.Choice, v.Text)
		a.showPurpose(w, r, ss, http.StatusBadRequest, v)
		return
	}
	a.sessions.setPurpose(ss, fam, checked)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// purposeOf is the session's purpose for the family. A ?purpose= on the
// URL is taken (checked as the form's) and the page reloaded without it;
// done is then true and the response written. Only a request this site
// or the person started sets it (fromOtherSite): the session cookie is
// SameSite=Lax, so a link on another site arrives with it, and would
// otherwise choose the purpose the person's reads are logged with for the
// rest of the session. Such a request gets the purpose form with the
// value filled in, which the person submits (with its CSRF token) or
// changes; nothing is read or logged until then. So does ?suggest=, the
// ?purpose= of a login page another site linked to (suggestedNext).
func (a *App) purposeOf(w http.ResponseWriter, r *http.Request, ss *session, fam string) (purpose string, done bool) {
	q := r.URL.Query()
	if q.Has("purpose") || q.Has(suggestParam) {
		typed, suggested := q.Get("purpose"), false
		if q.Has(suggestParam) {
			typed, suggested = q.Get(suggestParam), true
		}
		q.Del("purpose")
		q.Del(suggestParam)
		u := *r.URL
		u.RawQuery = q.Encode()
		checked, err := checkPurpose(composePurpose("", typed))
		if err == nil && checked != "" && !suggested && !fromOtherSite(r) {
			a.sessions.setPurpose(ss, fam, checked)
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return "", true
		}
		v := purposeView{FamilyID: fam, Next: u.RequestURI()}
		v.Choice, v.Text = splitPurpose(typed)
		switch {
		case err != nil:
			v.Error = purposeProblem(v.Choice, v.Text)
		case checked == "":
			v.Error = "Vælg en årsag, eller skriv den under Andet."
		default:
			v.Suggested = true
			a.showPurpose(w, r, ss, http.StatusOK, v)
			return "", true
		}
		a.showPurpose(w, r, ss, http.StatusBadRequest, v)
		return "", true
	}
	if p := a.sessions.purpose(ss, fam); p != "" {
		return p, false
	}
	a.showPurpose(w, r, ss, http.StatusOK, purposeView{FamilyID: fam, Next: r.URL.RequestURI()})
	return "", true
}

// suggestParam is ?purpose= as the login page passes it on when another
// site linked to it (suggestedNext): after the login the redirect to the
// family page comes from the app's own form, so the purpose form, filled
// in, asks the person to confirm it.
const suggestParam = "suggest"

// suggestedNext is next with its ?purpose= made a suggestion
// (suggestParam).
func suggestedNext(next string) string {
	u, err := url.Parse(next)
	if err != nil {
		return next
	}
	q := u.Query()
	if !q.Has("purpose") {
		return next
	}
	q.Set(suggestParam, q.Get("purpose"))
	q.Del("purpose")
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// fromOtherSite is whether the browser says another site started the
// request (Sec-Fetch-Site "cross-site" or "same-site", or a value this
// app does not know). A request without the header (an older browser,
// a script), one the person started themselves ("none": typed, a
// bookmark) and one from the app's own pages ("same-origin") are not.
func fromOtherSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "none", "same-origin":
		return false
	}
	return true
}

// entryView is one timeline entry as shown.
type entryView struct {
	Sequence   uint64
	Anchor     string
	Title      string
	Department string
	Time       time.Time
	// Recorded is set when the entry was recorded well after it happened
	// (a backfill).
	Recorded *time.Time
	New      bool
}

func viewEntry(e readmodel.Entry, seenSeq uint64, seen bool) entryView {
	v := entryView{Sequence: e.Sequence, Title: e.Title, Department: departmentName(e.Department), Time: e.Time,
		New: seen && e.Sequence > seenSeq}
	if e.RecordedAt.Sub(e.Time) > time.Hour {
		rec := e.RecordedAt
		v.Recorded = &rec
	}
	return v
}

// goalView is a goal of Familiens Plan with its history. It is listed
// under its first domain; Also are the others (goal.set.v2 gives 1–3).
type goalView struct {
	family.Goal
	Also     []string
	DueState string
	History  []goalStep
}

type goalStep struct {
	Time  time.Time
	Text  string
	Link  string
	Title string
}

type goalDomain struct {
	Domain string
	Goals  []goalView
}

type filterView struct {
	Department  string
	Type        string
	From, To    string
	Departments []option
	Types       []option
}

type familyView struct {
	page
	FamilyID string
	Purpose  string
	Ov       family.Overview
	Goals    []goalDomain
	Children []childAbsence
	Entries  []entryView
	Filter   filterView
	Filtered bool
	Shown    int
	Hidden   int
	// ByConsent is how many of the family's entries the consent gate
	// hides from this coordinator.
	ByConsent int
	NextPage  string
	FirstPage string
	Paged     bool
	NewCount  int
	SeenFirst bool
	// LiveURL is the page's live view, after the family's last sequence
	// the page read, so that it misses nothing applied since.
	LiveURL string
}

// timelineValues turns the page's filter form into the API's parameters.
// The form's dates are days in Copenhagen, as the page shows every time:
// "from" is the start of its day there and "to", a day included, the
// start of the next (the API's is exclusive), each as an RFC 3339 time,
// so that the API's query names the instants themselves. A day is not always 24
// hours long: the next day is the calendar's. The same form gives the
// same instants, so a page's cursor agrees with the filters it is
// repeated with.
func timelineValues(q url.Values) (url.Values, filterView, error) {
	f := filterView{Department: q.Get("department"), Type: q.Get("type"), From: q.Get("from"), To: q.Get("to")}
	v := url.Values{"order": {"desc"}, "limit": {itoa(PageSize)}}
	if f.Department != "" {
		v.Set("department", f.Department)
	}
	if f.Type != "" {
		v.Set("type", f.Type)
	}
	if f.From != "" {
		d, err := family.ParseDay(f.From)
		if err != nil {
			return nil, f, err
		}
		v.Set("from", d.Format(time.RFC3339))
	}
	if f.To != "" {
		d, err := family.ParseDay(f.To)
		if err != nil {
			return nil, f, err
		}
		v.Set("to", d.AddDate(0, 0, 1).Format(time.RFC3339))
	}
	if c := q.Get("cursor"); c != "" {
		v.Set("cursor", c)
	}
	return v, f, nil
}

// handleFamily is the family page. It asks for the purpose first; then
// one logged read (projector.ReadFamily) gathers overview, timeline page,
// goal history and school absence, and the page is rendered only once the
// access log has acknowledged it.
func (a *App) handleFamily(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r.Context())
	fam := r.PathValue("familyId")
	if err := a.opts.Projector.Authorize(r.Context(), ss.principal, fam); err != nil {
		a.fail(w, r, ss, err)
		return
	}
	purpose, done := a.purposeOf(w, r, ss, fam)
	if done {
		return
	}
	vals, filter, err := timelineValues(r.URL.Query())
	if err != nil {
		a.errorPage(w, r, ss, http.StatusBadRequest, "Datoen i filteret er ikke gyldig (brug ÅÅÅÅ-MM-DD).")
		return
	}
	tq, err := readmodel.ParseTimeline(fam, vals)
	if err != nil {
		a.errorPage(w, r, ss, http.StatusBadRequest, "Filteret eller siden i tidslinjen er ikke gyldig. Nulstil filteret og prøv igen.")
		return
	}
	unfiltered, _ := readmodel.ParseTimeline(fam, url.Values{})
	// Goal history and absence periods: the latest historyLimit of each,
	// so that the page's cost does not grow with the family's history; the
	// timeline's type filter shows older ones.
	goalQ, _ := readmodel.ParseTimeline(fam, url.Values{"limit": {itoa(historyLimit)}, "type": {"goal.set,goal.progressed,goal.closed"}})
	absQ, _ := readmodel.ParseTimeline(fam, url.Values{"limit": {itoa(historyLimit)}, "type": {"schoolabsence.noted"}})

	var (
		ov                     family.Overview
		page                   readmodel.TimelinePage
		shown, total           int
		goalEntries, absentees []readmodel.Entry
		lastSeq                uint64
		byConsent              int
	)
	err = a.opts.Projector.ReadFamily(r, ss.principal, fam, purpose, func(fr *projector.FamilyRead) error {
		var err error
		if lastSeq, err = fr.LastSequence(); err != nil {
			return err
		}
		if ov, err = fr.Overview(); err != nil {
			return err
		}
		if byConsent, err = fr.HiddenByConsent(); err != nil {
			return err
		}
		if page, err = fr.Timeline(tq); err != nil {
			return err
		}
		if tq.Filtered() {
			if shown, err = fr.Count(tq); err != nil {
				return err
			}
			if total, err = fr.Count(unfiltered); err != nil {
				return err
			}
		}
		if goalEntries, err = latest(fr, goalQ); err != nil {
			return err
		}
		absentees, err = latest(fr, absQ)
		return err
	})
	if err != nil {
		a.fail(w, r, ss, err)
		return
	}
	before, seenBefore := a.sessions.markSeen(ss.principal.Key(), fam, seen{events: ov.TotalEvents, sequence: lastSeq})
	v := familyView{page: a.pageOf(r, ss, "Familie "+fam), FamilyID: fam, Purpose: purpose, Ov: ov,
		Filter: filter, Filtered: tq.Filtered(), Shown: shown, Hidden: max(0, total-shown), ByConsent: byConsent,
		Paged: vals.Has("cursor"), SeenFirst: !seenBefore,
		LiveURL: "/app/families/" + url.PathEscape(fam) + "/live?after=" + strconv.FormatUint(lastSeq, 10)}
	v.Script = true
	v.Filter.Departments = departmentOptions()
	v.Filter.Types = typeOptions()
	if seenBefore {
		v.NewCount = max(0, ov.TotalEvents-before.events)
	}
	for _, e := range page.Entries {
		v.Entries = append(v.Entries, viewEntry(e, before.sequence, seenBefore))
	}
	base := "/app/families/" + url.PathEscape(fam)
	if page.NextCursor != nil {
		q := filterQuery(filter)
		q.Set("cursor", *page.NextCursor)
		v.NextPage = base + "?" + q.Encode()
	}
	if v.Paged {
		v.FirstPage = base
		if q := filterQuery(filter); len(q) > 0 {
			v.FirstPage += "?" + q.Encode()
		}
	}
	v.Goals = goalsOf(ov, goalEntries, base, a.opts.Now())
	v.Children = absenceOf(absentees)
	a.render(w, http.StatusOK, "family", v)
}

func filterQuery(f filterView) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"department": f.Department, "type": f.Type, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// historyLimit is how many of the latest goal and school absence entries
// the family page reads.
const historyLimit = 500

// latest reads the query's one page, newest first, and returns it in
// time order.
func latest(fr *projector.FamilyRead, tq readmodel.TimelineQuery) ([]readmodel.Entry, error) {
	p, err := fr.Timeline(tq)
	if err != nil {
		return nil, err
	}
	slices.Reverse(p.Entries)
	return p.Entries, nil
}

// goalData is what the goal events say about a goal.
type goalData struct {
	GoalID      string `json:"goalId"`
	Achievement string `json:"achievement"`
	Outcome     string `json:"outcome"`
}

// goalsOf groups Familiens Plan by domain, each goal with its history
// (linked to its timeline entries). A goal of several domains is listed
// once, under the first its department named, with the others beside it:
// listing it under each would show one goal as several.
func goalsOf(ov family.Overview, entries []readmodel.Entry, base string, now time.Time) []goalDomain {
	history := map[string][]goalStep{}
	for _, e := range entries {
		var d goalData
		if json.Unmarshal(e.Data, &d) != nil || d.GoalID == "" {
			continue
		}
		day := e.Time.In(copenhagen).Format(time.DateOnly)
		q := url.Values{"from": {day}, "to": {day}}
		history[d.GoalID] = append(history[d.GoalID], goalStep{Time: e.Time, Title: e.Title,
			Link: base + "?" + q.Encode() + "#e" + itoa(int(e.Sequence))})
	}
	byDomain := map[string][]goalView{}
	for _, g := range ov.Goals {
		first, also := "", []string(nil)
		if len(g.Domains) > 0 {
			first, also = g.Domains[0], g.Domains[1:]
		}
		byDomain[first] = append(byDomain[first], goalView{Goal: g, Also: also, DueState: dueState(g, now), History: history[g.GoalID]})
	}
	var out []goalDomain
	for _, d := range slices.Sorted(func(yield func(string) bool) {
		for k := range byDomain {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, goalDomain{Domain: d, Goals: byDomain[d]})
	}
	return out
}

// departmentOptions are the timeline's department filter.
func departmentOptions() []option {
	out := []option{{"", "Alle forvaltninger"}}
	for _, d := range events.Departments {
		out = append(out, option{string(d), departmentName(string(d))})
	}
	return out
}

// typeOptions are the timeline's type filter: every catalog type by its
// Danish term.
func typeOptions() []option {
	out := []option{}
	for _, s := range events.Catalog() {
		label := s.Danish
		if label == "" {
			label = s.Name
		}
		out = append(out, option{s.Name, label})
	}
	slices.SortFunc(out, func(a, b option) int { return cmp.Compare(a.Label, b.Label) })
	return append([]option{{"", "Alle typer"}}, out...)
}
