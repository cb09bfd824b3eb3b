package events

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Title is a short line in Danish that says what the event is about, for
// the coordinators' timeline, e.g. "Praktik startet hos 12345678, 10 t/uge".
// It is made from the payload alone: payloads carry ids, codes and numbers,
// never names, so a title reveals nothing the entry's data does not. Codes
// are shown in Danish; a code without a Danish word is shown as it is, so a
// new value never breaks a title. Free text is cut to a line. Optional or
// empty fields are left out rather than printed empty, so a title always
// reads as a sentence.
func Title(e Envelope) string {
	if v := reflect.ValueOf(e.Data); !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
		if e.Spec.Danish != "" {
			return e.Spec.Danish
		}
		return "Hændelse"
	}
	switch d := e.Data.(type) {
	case *FamilyReferred:
		return titled("Familie henvist til Job og Familie", cut(d.Reason))
	case *FamilyEnrolled:
		var parents, children int
		for _, m := range d.Members {
			switch m.Role {
			case RoleParent:
				parents++
			case RoleChild:
				children++
			}
		}
		t := "Familie optaget i forløb" + prefixed(" fra ", d.CourseStart) + prefixed(" til ", d.PlannedEnd)
		if parents+children > 0 {
			t += " (" + count(parents, "forælder", "forældre") + ", " + count(children, "barn", "børn") + ")"
		}
		return t
	case *ConsentGiven:
		return titled("Samtykke givet"+prefixed(" af ", d.PersonID), da(scopes, d.Scope))
	case *ConsentWithdrawn:
		return titled("Samtykke trukket tilbage"+prefixed(" af ", d.PersonID), da(scopes, d.Scope))
	case *CaseworkerAssigned:
		return titled("Sagsbehandler tildelt", d.EmployeeID)
	case *MakkerparAssigned:
		return titled("Makkerpar tildelt", list(prefixed("jobkonsulent ", d.JobConsultantID),
			prefixed("familiemedarbejder ", d.FamilyWorkerID)))
	case *TeamMemberJoined:
		return titled("Teammedlem tilknyttet", d.EmployeeID+paren(cut(d.Role)))
	case *TeamMemberLeft:
		return titled("Teammedlem udtrådt", d.EmployeeID)
	case *ChildCaseOpened:
		return titled("Børnesag"+prefixed(" ", d.CaseID)+" åbnet",
			list(prefixed("barn ", d.ChildID), d.LegalBasis))
	case *ChildCaseClosed:
		return titled("Børnesag"+prefixed(" ", d.CaseID)+" lukket", cut(d.Reason))
	case *MeasureStarted:
		return titled("Foranstaltning iværksat", da(measureKinds, d.Kind)+prefixed(" for barn ", d.ChildID))
	case *MeasureEnded:
		return titled("Foranstaltning"+prefixed(" ", d.MeasureID)+" ophørt", cut(d.Reason))
	case *GoalSet:
		return titled("Mål sat", cut(d.Title))
	case *GoalProgressed:
		return titled("Målopfølgning"+prefixed(" ", d.GoalID), da(achievements, d.Achievement))
	case *GoalClosed:
		return titled("Mål"+prefixed(" ", d.GoalID)+" afsluttet", da(goalOutcomes, d.Outcome))
	case *MeetingHeld:
		n := ""
		if len(d.Participants) > 0 {
			n = count(len(d.Participants), "deltager", "deltagere")
		}
		return titled("Møde afholdt", list(da(meetingKinds, d.Kind), n))
	case *BenefitGranted:
		return titled("Ydelse bevilget", da(benefits, d.Benefit)+prefixed(" til ", d.PersonID))
	case *BenefitEnded:
		return titled("Ydelse ophørt", da(benefits, d.Benefit)+prefixed(" for ", d.PersonID)+
			paren(da(benefitEndReasons, d.Reason)))
	case *PraktikStarted:
		return "Praktik startet" + prefixed(" hos ", d.Employer) + prefixed(", ", hours(d.HoursPerWeek))
	case *PraktikEnded:
		return titled("Praktik"+prefixed(" ", d.PraktikID)+" afsluttet", da(placementOutcomes, d.Outcome))
	case *WageSubsidyStarted:
		return "Løntilskud startet" + prefixed(" hos ", d.Employer) + paren(da(sectors, d.Sector))
	case *WageSubsidyEnded:
		return titled("Løntilskud"+prefixed(" ", d.SubsidyID)+" afsluttet", da(placementOutcomes, d.Outcome))
	case *LanguageCourseStarted:
		return "Sprogkursus startet" + prefixed(" for ", d.PersonID) + prefixed(", niveau ", d.Level)
	case *LanguageCourseEnded:
		return titled("Sprogkursus"+prefixed(" ", d.CourseID)+" afsluttet", da(languageOutcomes, d.Outcome))
	case *EmploymentStarted:
		return titled("Ansættelse startet"+prefixed(" for ", d.PersonID),
			list(da(employmentKinds, d.Kind), hours(d.HoursPerWeek)))
	case *EducationStarted:
		return titled("Uddannelse startet"+prefixed(" for ", d.PersonID), cut(d.Programme))
	case *SchoolAbsenceNoted:
		period := ""
		if d.PeriodStart != "" || d.PeriodEnd != "" {
			period = " (" + d.PeriodStart + "–" + d.PeriodEnd + ")"
		}
		if d.SchoolDays <= 0 {
			return "Skolefravær registreret" + period
		}
		pct := math.Round(100 * float64(d.AbsentDays.Unauthorised) / float64(d.SchoolDays))
		return fmt.Sprintf("Skolefravær %d%% ulovligt%s", int(pct), period)
	case *PPRReferred:
		return titled("Henvist til PPR", prefixed("barn ", d.ChildID)+paren(cut(d.Reason)))
	case *LeisureStarted:
		return titled("Fritidsaktivitet startet"+prefixed(" for ", d.ChildID),
			da(leisureKinds, d.Kind)+paren(cut(d.Name)))
	case *WellbeingMeasured:
		return titled("Trivsel målt"+prefixed(" for ", d.ChildID), number(d.Score)+paren(cut(d.Instrument)))
	case *GPConsultationHeld:
		return "Konsultation hos egen læge" + paren(da(gpCategories, d.Category))
	case *HealthAssessed:
		barrier := "ikke en barriere for arbejde"
		if d.BarrierToWork {
			barrier = "en barriere for arbejde"
		}
		return titled("Helbred vurderet"+prefixed(" for ", d.PersonID), "helbredet er "+barrier)
	case *HealthReferred:
		return titled("Henvist til sundhedstilbud", cut(d.To)+paren(d.PersonID))
	case *CourseEnded:
		return titled("Forløb afsluttet", da(courseEndReasons, d.Reason))
	case *EvaluationRecorded:
		head := "Evaluering registreret"
		if k, ok := evaluationKinds[d.Kind]; ok {
			head = k + " registreret"
		} else if d.Kind != "" {
			head = "Evaluering (" + d.Kind + ") registreret"
		}
		return titled(head, list(score("familiens tilfredshed", d.FamilySatisfaction),
			score("barnets trivsel", d.ChildWellbeing)))
	}
	// A payload type added to the catalog before it gets a title here.
	if e.Spec.Danish != "" {
		return e.Spec.Danish
	}
	return "Hændelse"
}

// Danish words for the codes of enumerated fields.
var (
	scopes = map[string]string{
		ScopeFamilyPlan:    "Familiens Plan",
		ScopeDataSharing:   "deling af oplysninger",
		ScopeGPCooperation: "samarbejde med egen læge",
	}
	measureKinds = map[string]string{
		"familiebehandling": "familiebehandling",
		"kontaktperson":     "kontaktperson",
		"praktisk-hjaelp":   "praktisk hjælp",
		"aflastning":        "aflastning",
		"anbringelse":       "anbringelse",
		"other":             "anden foranstaltning",
	}
	achievements = map[string]string{
		"in-progress":    "i gang",
		"improving":      "i bedring",
		"worsening":      "forværret",
		"no-change":      "uændret",
		"achieved":       "opnået",
		"sustaining":     "fastholdt",
		"not-achieved":   "ikke opnået",
		"no-progress":    "ingen fremgang",
		"not-attainable": "ikke opnåeligt",
	}
	goalOutcomes = map[string]string{
		"achieved":     "opnået",
		"not-achieved": "ikke opnået",
		"cancelled":    "annulleret",
	}
	meetingKinds = map[string]string{
		"family":      "familiemøde",
		"network":     "netværksmøde",
		"team":        "teammøde",
		"school-home": "skole-hjem-samtale",
		"job-centre":  "møde i jobcentret",
	}
	benefits = map[string]string{
		"kontanthjaelp":      "kontanthjælp",
		"uddannelseshjaelp":  "uddannelseshjælp",
		"integrationsydelse": "integrationsydelse",
		"sygedagpenge":       "sygedagpenge",
		"ressourceforloeb":   "ressourceforløb",
		"other":              "anden ydelse",
	}
	benefitEndReasons = map[string]string{
		"employment": "beskæftigelse",
		"education":  "uddannelse",
		"other":      "andet",
	}
	placementOutcomes = map[string]string{
		"completed": "gennemført",
		"job":       "overgang til job",
		"education": "overgang til uddannelse",
		"cancelled": "afbrudt",
	}
	sectors = map[string]string{
		"private": "privat",
		"public":  "offentlig",
	}
	languageOutcomes = map[string]string{
		"passed":  "bestået",
		"stopped": "stoppet",
	}
	employmentKinds = map[string]string{
		"ordinary":   "ordinært job",
		"flexjob":    "fleksjob",
		"small-job":  "småjob",
		"fritidsjob": "fritidsjob",
	}
	leisureKinds = map[string]string{
		"club":         "klub",
		"sport":        "sport",
		"fritidsjob":   "fritidsjob",
		"pocket-money": "lommepengejob",
		"other":        "anden aktivitet",
	}
	gpCategories = map[string]string{
		"mental-health": "psykisk helbred",
		"physical":      "fysisk helbred",
		"child-health":  "barnets helbred",
		"other":         "andet",
	}
	courseEndReasons = map[string]string{
		"completed":    "gennemført",
		"dropped-out":  "udgået",
		"moved":        "fraflyttet",
		"not-eligible": "ikke i målgruppen",
	}
	evaluationKinds = map[string]string{
		"midway": "Midtvejsevaluering",
		"final":  "Slutevaluering",
	}
)

// da is the Danish word for a code, or the code itself when it has none.
func da(words map[string]string, code string) string {
	if w, ok := words[code]; ok {
		return w
	}
	return code
}

// titled is "head: detail", or head alone when there is no detail.
func titled(head, detail string) string {
	if detail == "" {
		return head
	}
	return head + ": " + detail
}

// prefixed is prefix+s, or "" when s is empty.
func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// paren is " (s)", or "" when s is empty.
func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// list joins the non-empty parts with ", ".
func list(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ", ")
}

// count is "1 barn" or "2 børn".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// number formats with a decimal comma, as Danish readers expect.
func number(f float64) string {
	return strings.Replace(strconv.FormatFloat(f, 'f', -1, 64), ".", ",", 1)
}

// hours is "10 t/uge", or "" when not given.
func hours(h float64) string {
	if h <= 0 {
		return ""
	}
	return number(h) + " t/uge"
}

// score is "label 4/5" for a 1–5 score, or "" when not given.
func score(label string, v int) string {
	if v == 0 {
		return ""
	}
	return label + " " + strconv.Itoa(v) + "/5"
}

// maxFree is how much of a free-text field a title shows; the whole text is
// in the entry's data.
const maxFree = 80

// cut shortens free text to one line of at most maxFree characters.
func cut(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxFree {
		return strings.TrimSpace(string(r[:maxFree-1])) + "…"
	}
	return s
}
