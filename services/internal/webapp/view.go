package webapp

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Copenhagen also where the system has no zone files

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// copenhagen is the time zone every time is shown in.
var copenhagen = family.Copenhagen

func itoa(n int) string { return strconv.Itoa(n) }

var months = []string{"jan.", "feb.", "mar.", "apr.", "maj", "jun.", "jul.", "aug.", "sep.", "okt.", "nov.", "dec."}

// dateTime is a time in Danish: "5. mar. 2024 kl. 09.30".
func dateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(copenhagen)
	return fmt.Sprintf("%d. %s %d kl. %02d.%02d", t.Day(), months[t.Month()-1], t.Year(), t.Hour(), t.Minute())
}

// date is a YYYY-MM-DD date in Danish: "5. mar. 2024".
func date(s string) string {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	return fmt.Sprintf("%d. %s %d", t.Day(), months[t.Month()-1], t.Year())
}

func departmentName(code string) string {
	if d, ok := events.ParseDepartment(code); ok {
		return strings.ToUpper(code) + " (" + d.DanishName() + ")"
	}
	return code
}

// deptCount is one department's count of events in the overview.
type deptCount struct {
	Code string // "SOF"
	Name string // "Socialforvaltningen"
	N    int
}

// deptCounts are the overview's counts of events per department, in the
// catalog's order of departments. For a coordinator they are the counts
// of the entries shown: the consent gate has taken out what it hides
// (consent.FilterOverview).
func deptCounts(c family.EventCounts) []deptCount {
	n := map[events.Department]int{events.SOF: c.SOF, events.BIF: c.BIF, events.BUF: c.BUF, events.SUF: c.SUF}
	out := make([]deptCount, 0, len(events.Departments))
	for _, d := range events.Departments {
		out = append(out, deptCount{Code: strings.ToUpper(string(d)), Name: d.DanishName(), N: n[d]})
	}
	return out
}

// kindName is a principal's kind (auth.Kind) as the access log shows it:
// its Danish name, every kind of auth having one. A kind the app does not
// know (from a later version) is shown with its code; none is shown as
// "Ikke angivet".
func kindName(k string) string {
	switch auth.Kind(k) {
	case auth.Coordinator:
		return "Koordinator"
	case auth.Auditor:
		return "Revisor"
	case auth.DPO:
		return "Databeskyttelsesrådgiver"
	case auth.Analyst:
		return "Analytiker"
	case auth.Operator:
		return "Drift"
	case auth.Department:
		return "Forvaltningens system"
	case "":
		return "Ikke angivet"
	}
	return "Anden rolle (" + k + ")"
}

// danish are the words for the codes the pages show.
var danish = map[string]string{
	"known": "Kendt", "referred": "Visiteret", "enrolled": "I forløb", "ended": "Afsluttet",
	"parent": "Forælder", "child": "Barn",
	"employment": "Beskæftigelse", "education": "Uddannelse", "child-wellbeing": "Barnets trivsel",
	"school": "Skole", "health": "Sundhed", "family": "Familien", "economy": "Økonomi",
	"in-progress": "I gang", "improving": "I bedring", "worsening": "Forværret", "no-change": "Uændret",
	"achieved": "Opnået", "sustaining": "Fastholdt", "not-achieved": "Ikke opnået", "no-progress": "Ingen fremdrift",
	"not-attainable": "Ikke opnåeligt", "cancelled": "Annulleret",
	"professional": "Fagperson",
	"family-plan":  "Familiens Plan", "data-sharing": "Deling af oplysninger", "gp-cooperation": "Samarbejde med egen læge",
	"kontanthjaelp": "Kontanthjælp", "uddannelseshjaelp": "Uddannelseshjælp", "integrationsydelse": "Integrationsydelse",
	"sygedagpenge": "Sygedagpenge", "ressourceforloeb": "Ressourceforløb", "other": "Andet",
	"familiebehandling": "Familiebehandling", "kontaktperson": "Kontaktperson", "praktisk-hjaelp": "Praktisk hjælp",
	"aflastning": "Aflastning", "anbringelse": "Anbringelse",
	"private": "Privat", "public": "Offentlig",
	"completed": "Gennemført", "dropped-out": "Faldet fra", "moved": "Fraflyttet", "not-eligible": "Ikke i målgruppen",
}

func da(v any) string {
	code := fmt.Sprint(v)
	if w, ok := danish[code]; ok {
		return w
	}
	return code
}

// expressedBy says who expressed a goal.
func expressedBy(code string) string {
	switch code {
	case "family":
		return "Familien"
	case "professional":
		return "Fagperson"
	}
	return code
}

// decimal is a number as the pages and their charts show it, with a
// decimal comma. The evaluation's CSV keeps the decimal point.
var decimal = events.Decimal

// percent is a share as a percentage with at most one decimal: "12,5 %".
func percent(f float64) string {
	return decimal(math.Round(f*1000)/10) + " %"
}

var funcs = template.FuncMap{
	"da": da, "date": date, "dateTime": dateTime, "decimal": decimal, "dept": departmentName, "deptCounts": deptCounts, "percent": percent,
	"expressedBy": expressedBy, "iso": func(t time.Time) string { return t.Format(time.RFC3339) },
}

// parsePages makes one template set per page: the layout and the page.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// absencePeriod is one school absence event of a child.
type absencePeriod struct {
	Start, End        string
	SchoolDays        int
	Sickness          int
	Authorised        int
	Unauthorised      int
	AbsentShare       float64
	UnauthorisedShare float64
}

type childAbsence struct {
	ChildID string
	Periods []absencePeriod
	Chart   template.HTML
}

type absenceData struct {
	ChildID     string `json:"childId"`
	PeriodStart string `json:"periodStart"`
	PeriodEnd   string `json:"periodEnd"`
	SchoolDays  int    `json:"schoolDays"`
	AbsentDays  struct {
		Sickness     int `json:"sickness"`
		Authorised   int `json:"authorised"`
		Unauthorised int `json:"unauthorised"`
	} `json:"absentDays"`
}

// absenceOf groups schoolabsence.noted entries (in time order) by child
// and period; a period noted again replaces the earlier figures.
func absenceOf(entries []readmodel.Entry) []childAbsence {
	byChild := map[string]map[string]absencePeriod{}
	for _, e := range entries {
		var d absenceData
		if json.Unmarshal(e.Data, &d) != nil || d.ChildID == "" || d.SchoolDays <= 0 {
			continue
		}
		p := absencePeriod{Start: d.PeriodStart, End: d.PeriodEnd, SchoolDays: d.SchoolDays,
			Sickness: d.AbsentDays.Sickness, Authorised: d.AbsentDays.Authorised, Unauthorised: d.AbsentDays.Unauthorised}
		days := float64(d.SchoolDays)
		p.AbsentShare = float64(p.Sickness+p.Authorised+p.Unauthorised) / days
		p.UnauthorisedShare = float64(p.Unauthorised) / days
		if byChild[d.ChildID] == nil {
			byChild[d.ChildID] = map[string]absencePeriod{}
		}
		byChild[d.ChildID][d.PeriodStart+"/"+d.PeriodEnd] = p
	}
	var out []childAbsence
	for child, periods := range byChild {
		c := childAbsence{ChildID: child}
		for _, p := range periods {
			c.Periods = append(c.Periods, p)
		}
		slices.SortFunc(c.Periods, func(a, b absencePeriod) int { return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End)) })
		c.Chart = absenceChart(c)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b childAbsence) int { return cmp.Compare(a.ChildID, b.ChildID) })
	return out
}

// absenceChart draws a child's absence per period as an SVG bar chart:
// all absence, the unauthorised part darker, and the 10 % line. The table
// beside it is its text alternative, so the chart is hidden from screen
// readers apart from its title.
func absenceChart(c childAbsence) template.HTML {
	const (
		h, top, bottom, left, bar, gap = 160.0, 10.0, 30.0, 44.0, 28.0, 14.0
	)
	scale := 0.3
	for _, p := range c.Periods {
		scale = max(scale, math.Ceil(p.AbsentShare*10)/10)
	}
	plot := h - top - bottom
	w := left + float64(len(c.Periods))*(bar+gap) + gap
	y := func(share float64) float64 { return top + plot - share/scale*plot }
	esc := template.HTMLEscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-labelledby="chart-%s-t" focusable="false">`,
		w, h, w, h, esc(c.ChildID))
	fmt.Fprintf(&b, `<title id="chart-%s-t">Skolefravær for %s pr. periode; se tabellen nedenfor</title>`, esc(c.ChildID), esc(c.ChildID))
	for _, s := range []float64{0, scale / 2, scale} {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" font-size="11" fill="#1a1a1a">%s</text>`, left-6, y(s)+4, esc(percent(s)))
	}
	fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#1a1a1a"/>`, left, w, y(0), y(0))
	for i, p := range c.Periods {
		x := left + gap + float64(i)*(bar+gap)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.0f" height="%.1f" fill="#5a7fa8"/>`, x, y(p.AbsentShare), bar, y(0)-y(p.AbsentShare))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.0f" height="%.1f" fill="#7a1f1f"/>`, x, y(p.UnauthorisedShare), bar, y(0)-y(p.UnauthorisedShare))
		if t, err := time.Parse(time.DateOnly, p.Start); err == nil {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="10" fill="#1a1a1a">%s</text>`, x+bar/2, h-14, esc(months[t.Month()-1]))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="10" fill="#1a1a1a">%d</text>`, x+bar/2, h-2, t.Year()%100)
		}
	}
	fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#b00020" stroke-width="2" stroke-dasharray="6 3"/>`, left, w, y(0.1), y(0.1))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" font-size="11" fill="#b00020">10 %%</text>`, w-2, y(0.1)-4)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every value above is a number or escaped
}
