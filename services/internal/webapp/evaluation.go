package webapp

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/evaluation"
	"kk.dk/jobogfamilie/services/internal/projector"
)

// EvaluationMonths is how many months the evaluation page shows when no
// period is chosen: the last two years up to this month.
const EvaluationMonths = 24

// evalLine is one measure drawn as a line of a chart.
type evalLine struct {
	Measure, Label, Colour string
	Dashed                 bool
}

// evalChart is one chart of the evaluation page: lines over the series'
// moments, or (Bars) one bar per measure at the last moment.
type evalChart struct {
	ID, Title, Text string
	Lines           []evalLine
	Share           bool
	Bars            bool
}

// evalCharts are the page's charts, in order. Each draws measures of the
// catalog (docs/EVALUATION.md), suppressed as the API suppresses them.
var evalCharts = []evalChart{
	{ID: "indskrevne", Title: "Indskrevne familier mod målet", Text: "Familier indskrevet mindst én gang, mod målet for antal familier i forløbet.",
		Lines: []evalLine{{"families.enrolled", "Indskrevne familier", "#0b4f8a", false}, {"families.target", "Mål", "#7a1f1f", true}}},
	{ID: "aktive", Title: "Aktive familier", Text: "Familier, hvis seneste forløb kører.",
		Lines: []evalLine{{"families.active", "Aktive familier", "#0b4f8a", false}}},
	{ID: "foraeldre", Title: "Forældre i praktik, løntilskud, job og uddannelse", Share: true,
		Text: "Andel af forældrene i indskrevne familier, der under forløbet har startet hver af dem.",
		Lines: []evalLine{{"parents.praktik.share", "Praktik", "#0b4f8a", false}, {"parents.wageSubsidy.share", "Løntilskud", "#7a1f1f", true},
			{"parents.job.share", "Job", "#2e6b30", false}, {"parents.education.share", "Uddannelse", "#5b3a8c", true}}},
	{ID: "fravaer", Title: "Skolefravær før og under forløbet", Share: true,
		Text:  "Børnenes gennemsnitlige fraværsandel før forløbet og under forløbet.",
		Lines: []evalLine{{"children.absence.before.meanShare", "Før forløbet", "#7a1f1f", true}, {"children.absence.during.meanShare", "Under forløbet", "#0b4f8a", false}}},
	{ID: "maal", Title: "Nåede mål pr. domæne", Bars: true,
		Text:  "Mål i Familiens Plan, der er lukket som nået, pr. domæne, ved periodens slutning.",
		Lines: goalLines()},
}

func goalLines() []evalLine {
	names := map[string]string{"employment": "Beskæftigelse", "education": "Uddannelse", "child-wellbeing": "Barnets trivsel",
		"school": "Skole", "health": "Sundhed", "family": "Familie", "economy": "Økonomi"}
	var out []evalLine
	for _, d := range evaluation.GoalDomains {
		out = append(out, evalLine{"goals.achieved.domain." + d, names[d], "#0b4f8a", false})
	}
	return out
}

// evalRow is one row of a chart's table.
type evalRow struct {
	Label string
	Cells []string
}

type evalChartView struct {
	evalChart
	SVG        template.HTML
	Columns    []string
	Rows       []evalRow
	Suppressed bool
	CSV        string
}

type evaluationView struct {
	page
	From, To string
	Charts   []evalChartView
	KnownAt  time.Time
}

// evaluationPeriod reads from and to of the page's form: dates, days in
// Copenhagen as the family page's filters read theirs, each its first
// moment there (as the API reads a date). Without them it is
// EvaluationMonths monthly moments ending today, Copenhagen's day: dates,
// so that a chart's CSV link, which carries them, has the page's moments.
func evaluationPeriod(r *http.Request, now time.Time) (from, to time.Time, ok bool) {
	y, m, d := now.In(copenhagen).Date()
	to = time.Date(y, m, d, 0, 0, 0, 0, copenhagen)
	from = evaluation.AddMonths(to, 1-EvaluationMonths)
	q := r.URL.Query()
	for k := range q {
		if k != "from" && k != "to" && k != "chart" {
			return from, to, false
		}
	}
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = family.ParseDay(v); err != nil {
			return from, to, false
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = family.ParseDay(v); err != nil {
			return from, to, false
		}
	}
	_, err = evaluation.Moments(from, to, evaluation.StepMonth)
	return from, to, err == nil
}

// evaluationOnly lets only those who read the evaluation through.
func (a *App) evaluationOnly(next func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := sessionFrom(r.Context())
		if !projector.EvaluationReader(ss.principal) {
			a.errorPage(w, r, ss, http.StatusForbidden, "Kun analytikere og revisorer ser evalueringen.")
			return
		}
		next(w, r)
	}
}

// noAnalyst keeps analysts off every family page: they see the
// evaluation's aggregates only, never a family or a family id.
func (a *App) noAnalyst(next func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := sessionFrom(r.Context())
		if ss.principal.Kind == auth.Analyst {
			if r.URL.Path == "/app/" {
				http.Redirect(w, r, "/app/evaluation", http.StatusSeeOther)
				return
			}
			a.errorPage(w, r, ss, http.StatusForbidden, "Som analytiker ser du evalueringens samlede tal, aldrig en familie.")
			return
		}
		next(w, r)
	}
}

// handleEvaluation is the analysts' page: each chart of evalCharts drawn
// on the server with its figures as a table beside it and a CSV link.
// Figures are always suppressed here; exact ones are the API's, logged.
func (a *App) handleEvaluation(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r.Context())
	now := a.opts.Now().UTC()
	from, to, ok := evaluationPeriod(r, now)
	if !ok {
		a.errorPage(w, r, ss, http.StatusBadRequest, "Perioden er ikke gyldig (brug ÅÅÅÅ-MM-DD).")
		return
	}
	results, err := a.opts.Projector.EvaluationSeries(r.Context(), from, to, evaluation.StepMonth, now, true)
	if err != nil {
		a.fail(w, r, ss, err)
		return
	}
	v := evaluationView{page: a.pageOf(r, ss, "Evaluering af Job og Familie"), From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), KnownAt: now}
	for _, c := range evalCharts {
		v.Charts = append(v.Charts, chartView(c, results, v.From, v.To))
	}
	a.render(w, http.StatusOK, "evaluation", v)
}

// handleEvaluationCSV is the series of one chart's measures (or of all)
// as the API's CSV, suppressed, for the signed-in analyst or auditor.
func (a *App) handleEvaluationCSV(w http.ResponseWriter, r *http.Request) {
	ss := sessionFrom(r.Context())
	now := a.opts.Now().UTC()
	from, to, ok := evaluationPeriod(r, now)
	if !ok {
		a.errorPage(w, r, ss, http.StatusBadRequest, "Perioden er ikke gyldig (brug ÅÅÅÅ-MM-DD).")
		return
	}
	var keep map[string]bool
	if id := r.URL.Query().Get("chart"); id != "" {
		i := slices.IndexFunc(evalCharts, func(c evalChart) bool { return c.ID == id })
		if i < 0 {
			a.errorPage(w, r, ss, http.StatusNotFound, "Der er ingen graf med det navn.")
			return
		}
		keep = map[string]bool{}
		for _, l := range evalCharts[i].Lines {
			keep[l.Measure] = true
		}
	}
	results, err := a.opts.Projector.EvaluationSeries(r.Context(), from, to, evaluation.StepMonth, now, true)
	if err != nil {
		a.fail(w, r, ss, err)
		return
	}
	rows := projector.SeriesCSV(results)
	if keep != nil {
		rows = slices.DeleteFunc(rows, func(row []string) bool { return row[3] != "measure" && !keep[row[3]] })
	}
	w.Header().Set("Content-Disposition", `attachment; filename="evaluering-`+strings.Join([]string{cmp.Or(r.URL.Query().Get("chart"), "alle"), from.Format("2006-01"), to.Format("2006-01")}, "-")+`.csv"`)
	if err := projector.WriteCSV(w, rows); err != nil {
		a.fail(w, r, ss, err)
	}
}

// value is a measure's figure at moment i, or nil (suppressed or none).
func value(results []evaluation.Result, i int, name string) (*float64, bool) {
	m := results[i].Measures[name]
	return m.Value, m.Suppressed
}

// cell is a measure's figure as a table shows it: a mean, share or sum
// of goals with the number of units it rests on beside it ("n = 12"), so
// that no figure stands without its count; a count is its own.
func cell(m evaluation.Measure, name string, share bool) string {
	s := formatValue(m.Value, m.Suppressed, share)
	if d, ok := evaluation.Lookup(name); ok && (d.Kind == evaluation.Aggregate || d.Kind == evaluation.Proportion) && !m.Suppressed {
		s += " (n = " + strconv.Itoa(m.Count) + ")"
	}
	return s
}

func formatValue(v *float64, suppressed, share bool) string {
	switch {
	case suppressed:
		return "skjult"
	case v == nil:
		return "–"
	case share:
		return percent(*v)
	}
	return decimal(*v)
}

// monthLabel is a moment's month in Copenhagen: a series' moments are
// Copenhagen's midnights, which are the evening before in UTC.
func monthLabel(t time.Time) string {
	t = t.In(copenhagen)
	return months[t.Month()-1] + " " + strconv.Itoa(t.Year())
}

func chartView(c evalChart, results []evaluation.Result, from, to string) evalChartView {
	v := evalChartView{evalChart: c, CSV: "/app/evaluation/series.csv?chart=" + c.ID + "&from=" + from + "&to=" + to}
	if c.Bars {
		v.Columns = []string{"Domæne", "Nåede mål"}
		last := len(results) - 1
		for _, l := range c.Lines {
			m := results[last].Measures[l.Measure]
			v.Suppressed = v.Suppressed || m.Suppressed
			v.Rows = append(v.Rows, evalRow{Label: l.Label, Cells: []string{cell(m, l.Measure, c.Share)}})
		}
		v.SVG = barChart(c, results[last])
		return v
	}
	v.Columns = []string{"Måned"}
	for _, l := range c.Lines {
		v.Columns = append(v.Columns, l.Label)
	}
	for _, res := range results {
		row := evalRow{Label: monthLabel(res.AsOf)}
		for _, l := range c.Lines {
			m := res.Measures[l.Measure]
			v.Suppressed = v.Suppressed || m.Suppressed
			row.Cells = append(row.Cells, cell(m, l.Measure, c.Share))
		}
		v.Rows = append(v.Rows, row)
	}
	v.SVG = lineChart(c, results)
	return v
}

const (
	chartW, chartH                             = 560.0, 240.0
	chartTop, chartBottom, chartLeft, chartEnd = 12.0, 34.0, 48.0, 12.0
)

// scaleOf is the top of a chart's axis: a share's up to 100 %, a count's
// a round number above the largest value.
func scaleOf(max float64, share bool) float64 {
	if share {
		return math.Min(1, math.Max(0.1, math.Ceil(max*10)/10))
	}
	if max < 5 {
		return 5
	}
	p := math.Pow(10, math.Floor(math.Log10(max)))
	return math.Ceil(max/p*2) / 2 * p
}

func axisLabel(v float64, share bool) string {
	if share {
		return percent(v)
	}
	return decimal(v)
}

// lineChart draws c's lines over the moments of results. A suppressed
// point (or one without a value) is a gap in its line; a point with no
// shown neighbour is drawn as a dot. The table beside the chart is its
// text alternative, so the chart has a title only.
func lineChart(c evalChart, results []evaluation.Result) template.HTML {
	plotW, plotH := chartW-chartLeft-chartEnd, chartH-chartTop-chartBottom
	top := 0.0
	for i := range results {
		for _, l := range c.Lines {
			if v, _ := value(results, i, l.Measure); v != nil {
				top = math.Max(top, *v)
			}
		}
	}
	scale := scaleOf(top, c.Share)
	n := len(results)
	x := func(i int) float64 {
		if n == 1 {
			return chartLeft + plotW/2
		}
		return chartLeft + float64(i)*plotW/float64(n-1)
	}
	y := func(v float64) float64 { return chartTop + plotH - v/scale*plotH }
	var b strings.Builder
	openChart(&b, c)
	for _, s := range []float64{0, scale / 2, scale} {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" font-size="11" fill="#1a1a1a">%s</text>`, chartLeft-6, y(s)+4, template.HTMLEscapeString(axisLabel(s, c.Share)))
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#c8ccd2"/>`, chartLeft, chartW-chartEnd, y(s), y(s))
	}
	fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#1a1a1a"/>`, chartLeft, chartW-chartEnd, y(0), y(0))
	every := max(1, (n+5)/6)
	for i, res := range results {
		if i%every == 0 || i == n-1 {
			at := res.AsOf.In(copenhagen)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="10" fill="#1a1a1a">%s</text>`, x(i), chartH-18, months[at.Month()-1])
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="10" fill="#1a1a1a">%d</text>`, x(i), chartH-6, at.Year())
		}
	}
	for _, l := range c.Lines {
		var d strings.Builder
		pen := false
		for i := range results {
			v, _ := value(results, i, l.Measure)
			if v == nil {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(i), y(*v))
			prev, next := i > 0 && hasValue(results, i-1, l.Measure), i < n-1 && hasValue(results, i+1, l.Measure)
			if !prev && !next {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, x(i), y(*v), l.Colour)
			}
			pen = true
		}
		if d.Len() == 0 {
			continue
		}
		dash := ""
		if l.Dashed {
			dash = ` stroke-dasharray="6 3"`
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2.5"%s/>`, strings.TrimSpace(d.String()), l.Colour, dash)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every value above is a number, a constant or escaped
}

func hasValue(results []evaluation.Result, i int, name string) bool {
	v, _ := value(results, i, name)
	return v != nil
}

// barChart draws one bar per line's measure at res; a suppressed one is
// an empty place marked "skjult".
func barChart(c evalChart, res evaluation.Result) template.HTML {
	plotH := chartH - chartTop - chartBottom
	top := 0.0
	for _, l := range c.Lines {
		if v := res.Measures[l.Measure].Value; v != nil {
			top = math.Max(top, *v)
		}
	}
	scale := scaleOf(top, c.Share)
	y := func(v float64) float64 { return chartTop + plotH - v/scale*plotH }
	slot := (chartW - chartLeft - chartEnd) / float64(len(c.Lines))
	var b strings.Builder
	openChart(&b, c)
	for _, s := range []float64{0, scale / 2, scale} {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" font-size="11" fill="#1a1a1a">%s</text>`, chartLeft-6, y(s)+4, template.HTMLEscapeString(axisLabel(s, c.Share)))
	}
	fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#1a1a1a"/>`, chartLeft, chartW-chartEnd, y(0), y(0))
	for i, l := range c.Lines {
		x := chartLeft + float64(i)*slot
		m := res.Measures[l.Measure]
		switch {
		case m.Value != nil:
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x+slot*0.2, y(*m.Value), slot*0.6, y(0)-y(*m.Value), l.Colour)
		case m.Suppressed:
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="#1a1a1a">skjult</text>`, x+slot/2, y(0)-4)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="10" fill="#1a1a1a">%s</text>`, x+slot/2, chartH-18, template.HTMLEscapeString(l.Label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every value above is a number, a constant or escaped
}

func openChart(b *strings.Builder, c evalChart) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-labelledby="chart-%s-t" focusable="false">`,
		chartW, chartH, chartW, chartH, c.ID)
	fmt.Fprintf(b, `<title id="chart-%s-t">%s; tallene står i tabellen ved siden af</title>`, c.ID, template.HTMLEscapeString(c.Title))
}
