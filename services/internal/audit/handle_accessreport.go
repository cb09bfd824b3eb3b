package audit

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
)

// The citizen's access report: GET
// /v1/privacy/families/{familyId}/access-report?personId=&from=&to=&includeEmployees=
// (data protection officers only). It lists every logged read of the
// family's data, from ACCESS_LOG: when, why, the reader's organisation
// and the kind of endpoint, and, as Datatilsynet's practice after
// C-579/21 has it, not the employee's identity, unless
// includeEmployees=true asks for it for internal use. The report is itself
// a read of the family's data and is logged, with its query, before it is
// made: so a report whose period reaches now lists itself, and every
// later report of the family shows that one with employees was asked for.
// JSON by default; Accept: text/html gives a printable Danish
// page.

// AccessReport is the JSON of the report.
type AccessReport struct {
	FamilyID         string       `json:"familyId"`
	PersonID         *string      `json:"personId"`
	From             *time.Time   `json:"from"`
	To               *time.Time   `json:"to"`
	GeneratedAt      time.Time    `json:"generatedAt"`
	IncludeEmployees bool         `json:"includeEmployees"`
	Reads            []AccessRead `json:"reads"`
}

// AccessRead is one logged read in the report.
type AccessRead struct {
	Time time.Time `json:"time"`
	// Purpose is the reader's X-Purpose as logged; "" when none was given.
	Purpose string `json:"purpose"`
	// ReaderKind is the reader's role (auth.Kind); Organisation says, in
	// Danish, the organisation or department the reader read for.
	ReaderKind   string `json:"readerKind"`
	Organisation string `json:"organisation"`
	// EndpointKind names what was read (see endpointKinds); AllFamilies
	// is set for an audit of every family at once.
	EndpointKind string `json:"endpointKind"`
	AllFamilies  bool   `json:"allFamilies"`
	// EmployeeID is set only with includeEmployees=true.
	EmployeeID string `json:"employeeId,omitempty"`
}

// maxReportReads bounds a report; a family read more often than this
// needs from and to.
const maxReportReads = 100_000

func (s *Service) handleAccessReport(w http.ResponseWriter, r *http.Request) error {
	// The family is checked in the read model: X-Min-Position waits for
	// it, so that a report asked for right after a family's first event
	// finds the family; a read model that has not caught up would not
	// find it, and the report is refused at once (503) until it has.
	if err := s.view.Await(w, r); err != nil {
		return err
	}
	pr, err := s.auth.Authenticate(r)
	if err != nil {
		return err
	}
	if pr.Kind != auth.DPO {
		return problem.Forbidden("only the data protection officer (dpo) reads access reports")
	}
	fam := r.PathValue("familyId")
	if !events.ValidID(fam) {
		// Not repeated: what is no id may be a CPR number.
		return problem.NotFound("no family: the family id is not an id (" + events.IDPattern + ", and no CPR number)")
	}
	q := r.URL.Query()
	if err := checkParams(q, "personId", "from", "to", "includeEmployees"); err != nil {
		return err
	}
	var aq AccessQuery
	aq.FamilyID = fam
	if aq.From, aq.To, err = parseRange(q); err != nil {
		return err
	}
	withEmployees := false
	switch v := q.Get("includeEmployees"); v {
	case "", "false":
	case "true":
		withEmployees = true
	default:
		return problem.BadRequest("includeEmployees must be true or false")
	}
	person := q.Get("personId")
	if q.Has("personId") && !events.ValidID(person) {
		return problem.BadRequest("personId must be a pseudonymous person id matching " + events.IDPattern)
	}
	why, err := accesslog.Purpose(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	persons, err := s.view.Persons(ctx, fam)
	if errors.Is(err, readmodel.ErrUnknownFamily) {
		return problem.NotFound("no events of family " + strconv.Quote(fam) + " have been projected")
	}
	if err != nil {
		return err
	}
	if person != "" && !slices.Contains(persons, person) {
		return problem.New(http.StatusNotFound, "unknown-person", "Unknown person",
			"person "+strconv.Quote(person)+" is not a member of family "+strconv.Quote(fam)+" and no event of the family names them")
	}
	// Logged first, and acknowledged: a report whose period reaches now
	// lists this read too.
	if err := s.logAccess(r, pr, fam, why); err != nil {
		return err
	}
	if withEmployees {
		s.log.Info("audit: access report with employee ids", "family", fam, "principal", pr.Name)
	}
	rep := AccessReport{FamilyID: fam, GeneratedAt: time.Now().UTC(), IncludeEmployees: withEmployees, Reads: []AccessRead{}}
	if person != "" {
		rep.PersonID = &person
	}
	if !aq.From.IsZero() {
		rep.From = &aq.From
	}
	if !aq.To.IsZero() {
		rep.To = &aq.To
	}
	err = s.reader.AccessLog(ctx, aq, func(st Stored) error {
		var e AccessEntry
		if err := json.Unmarshal(st.Data, &e); err != nil {
			return err
		}
		if len(rep.Reads) == maxReportReads {
			return problem.New(http.StatusUnprocessableEntity, "report-too-large", "Report too large",
				"the family was read more than "+strconv.Itoa(maxReportReads)+" times in the period; ask for a shorter one with from and to")
		}
		rd := AccessRead{Time: e.Time.UTC(), Purpose: e.Purpose, ReaderKind: string(e.Kind), Organisation: organisation(e),
			EndpointKind: endpointKind(e.Endpoint), AllFamilies: e.FamilyID == BulkFamily}
		if withEmployees {
			rd.EmployeeID = e.EmployeeID
		}
		rep.Reads = append(rep.Reads, rd)
		return nil
	})
	if err != nil {
		return storeProblem(err)
	}
	if wantsHTML(r) {
		return writeReportHTML(w, rep)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(rep)
}

// wantsHTML reports whether the request's Accept prefers text/html to
// JSON.
func wantsHTML(r *http.Request) bool {
	best, bestQ := "", -1.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if (mt == "text/html" || mt == "application/json") && q > bestQ {
			best, bestQ = mt, q
		}
	}
	return best == "text/html" && bestQ > 0
}

// organisation is the reader's organisation or department, in Danish. The
// log records the reader's role, and the department for a department
// system; it records no employee's home department.
func organisation(e AccessEntry) string {
	switch e.Kind {
	case auth.Coordinator:
		return "Job og Familie, Københavns Kommune (koordinator)"
	case auth.Auditor:
		return "Revision, Københavns Kommune"
	case auth.DPO:
		return "Databeskyttelsesrådgiveren, Københavns Kommune"
	case auth.Analyst:
		return "Evaluering af Job og Familie, Københavns Kommune"
	case auth.Operator:
		return "Drift af Job og Familie, Københavns Kommune"
	}
	return "Københavns Kommune"
}

// endpointKinds name the endpoints a family's data is read through, by
// the path's pattern ({} is any one segment).
var endpointKinds = []struct{ pattern, kind, danish string }{
	{"/v1/families/{}", "overview", "Overblik over familien"},
	{"/v1/families/{}/timeline", "timeline", "Familiens tidslinje"},
	{"/v1/families/{}/timeline/stream", "timeline-stream", "Familiens tidslinje, løbende"},
	{"/v1/families", "family-list", "Listen over familier"},
	{"/v1/privacy/due", "retention-list", "Listen over familier, hvis opbevaringsperiode er udløbet"},
	{"/app/", "web-app-list", "Listen over familier i webappen"},
	{"/app/families", "web-app-list", "Listen over familier i webappen"},
	{"/app/families/{}", "web-app", "Familiens side i webappen"},
	{"/app/families/{}/live", "web-app-live", "Familiens side i webappen, løbende"},
	{"/app/families/{}/access-log", "access-log", "Adgangsloggen i webappen"},
	{"/v1/audit/events", "audit-events", "Revision: de gemte hændelser"},
	{"/v1/audit/families/{}/timeline", "audit-as-of", "Revision: tidslinjen som kendt på et tidspunkt"},
	{"/v1/privacy/families/{}/access-report", "access-report", "Indsigtsrapport (denne slags rapport)"},
}

// commandKinds name the reads of the audit CLI, by its command (the
// endpoint "CLI audit replay -family F1": accesslog.RecordCommand).
var commandKinds = []struct{ command, kind, danish string }{
	{"audit replay", "audit-cli-replay", "Revision: de gemte hændelser, læst med kommandolinjen"},
	{"audit export", "audit-cli-export", "Revision: eksport af de gemte hændelser"},
	{"audit erase-due", "erasure-archive", "Arkivering før sletning, da opbevaringsperioden var udløbet"},
}

// endpointKind is the kind of the logged endpoint ("GET /path?query", or
// "CLI <command>" for a read through the audit CLI).
func endpointKind(endpoint string) string {
	method, path, _ := strings.Cut(endpoint, " ")
	if method == accesslog.CommandMethod {
		for _, k := range commandKinds {
			if path == k.command || strings.HasPrefix(path, k.command+" ") {
				return k.kind
			}
		}
		return "other"
	}
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	for _, k := range endpointKinds {
		ps := strings.Split(k.pattern, "/")
		if len(ps) != len(segs) {
			continue
		}
		ok := true
		for i := range ps {
			if ps[i] != "{}" && ps[i] != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return k.kind
		}
	}
	return "other"
}

func endpointDanish(kind string) string {
	for _, k := range endpointKinds {
		if k.kind == kind {
			return k.danish
		}
	}
	for _, k := range commandKinds {
		if k.kind == kind {
			return k.danish
		}
	}
	return "Andet opslag"
}

//go:embed report/accessreport.html report/accessreport.css
var reportFiles embed.FS

var (
	reportCSS  = mustRead("report/accessreport.css")
	reportTmpl = template.Must(template.New("accessreport.html").Funcs(template.FuncMap{
		"endpoint": endpointDanish,
		"when":     danishTime,
		"from":     func(t *time.Time) string { return periodFrom(*t) },
		"to":       func(t *time.Time) string { return periodTo(*t) },
		"css":      func() template.CSS { return template.CSS(reportCSS) },
	}).ParseFS(reportFiles, "report/accessreport.html"))
	// The page's only style is inline; the policy allows exactly it.
	reportCSP = "default-src 'none'; style-src 'sha256-" + cssHash() + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

var danishMonths = []string{"jan.", "feb.", "mar.", "apr.", "maj", "jun.", "jul.", "aug.", "sep.", "okt.", "nov.", "dec."}

// danishTime is "5. mar. 2024 kl. 09.30", as the web app writes times.
func danishTime(t time.Time) string {
	t = t.In(family.Copenhagen)
	return danishDate(t) + fmt.Sprintf(" kl. %02d.%02d", t.Hour(), t.Minute())
}

// periodFrom is the report period's first day ("Fra 1. mar. 2024"), or
// its first moment when that is not a Copenhagen midnight.
func periodFrom(t time.Time) string {
	if midnight(t) {
		return "Fra " + danishDate(t)
	}
	return "Fra " + danishTime(t)
}

// periodTo names the report period's last day, inclusive ("til og med 31.
// mar. 2024" for to=2024-04-01, which the period excludes), or its end
// when that is not a Copenhagen midnight ("til 1. apr. 2024 kl. 12.00").
func periodTo(t time.Time) string {
	if midnight(t) {
		return "til og med " + danishDate(t.In(family.Copenhagen).AddDate(0, 0, -1))
	}
	return "til " + danishTime(t)
}

func midnight(t time.Time) bool {
	t = t.In(family.Copenhagen)
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

func danishDate(t time.Time) string {
	t = t.In(family.Copenhagen)
	return fmt.Sprintf("%d. %s %d", t.Day(), danishMonths[t.Month()-1], t.Year())
}

func mustRead(name string) string {
	b, err := reportFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func cssHash() string {
	h := sha256.Sum256([]byte(reportCSS))
	return base64.StdEncoding.EncodeToString(h[:])
}

func writeReportHTML(w http.ResponseWriter, rep AccessReport) error {
	var buf bytes.Buffer
	if err := reportTmpl.Execute(&buf, rep); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", reportCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}
