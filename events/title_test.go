package events_test

import (
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
)

// titleExamples has a realistic payload for every catalog type and the
// title it must give.
var titleExamples = map[string]struct {
	data events.Payload
	want string
}{
	"family.referred": {&events.FamilyReferred{Reason: "Komplekse problemer,\n flere foranstaltninger"},
		"Familie henvist til Job og Familie: Komplekse problemer, flere foranstaltninger"},
	"family.enrolled": {&events.FamilyEnrolled{
		Members: []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "P2", Role: "parent"},
			{PersonID: "C1", Role: "child"}},
		CourseStart: "2024-01-01", PlannedEnd: "2025-12-31"},
		"Familie optaget i forløb fra 2024-01-01 til 2025-12-31 (2 forældre, 1 barn)"},
	"consent.given": {&events.ConsentGiven{PersonID: "P1", Scope: "gp-cooperation"},
		"Samtykke givet af P1: samarbejde med egen læge"},
	"consent.withdrawn": {&events.ConsentWithdrawn{PersonID: "P1", Scope: "family-plan"},
		"Samtykke trukket tilbage af P1: Familiens Plan"},
	"caseworker.assigned": {&events.CaseworkerAssigned{EmployeeID: "E1001"}, "Sagsbehandler tildelt: E1001"},
	"makkerpar.assigned": {&events.MakkerparAssigned{JobConsultantID: "E1", FamilyWorkerID: "E2"},
		"Makkerpar tildelt: jobkonsulent E1, familiemedarbejder E2"},
	"team.member-joined": {&events.TeamMemberJoined{EmployeeID: "E3", Role: "sundhedsplejerske"},
		"Teammedlem tilknyttet: E3 (sundhedsplejerske)"},
	"team.member-left": {&events.TeamMemberLeft{EmployeeID: "E3"}, "Teammedlem udtrådt: E3"},
	"childcase.opened": {&events.ChildCaseOpened{CaseID: "CC1", ChildID: "C1", LegalBasis: "SEL-52"},
		"Børnesag CC1 åbnet: barn C1, SEL-52"},
	"childcase.closed": {&events.ChildCaseClosed{CaseID: "CC1", Reason: "not-needed"}, "Børnesag CC1 lukket: not-needed"},
	"measure.started": {&events.MeasureStarted{MeasureID: "M1", Kind: "praktisk-hjaelp", ChildID: "C1", Purpose: "x"},
		"Foranstaltning iværksat: praktisk hjælp for barn C1"},
	"measure.ended": {&events.MeasureEnded{MeasureID: "M1", Reason: "goal-reached"}, "Foranstaltning M1 ophørt: goal-reached"},
	"goal.set": {&events.GoalSet{GoalID: "G1", Title: "Mor i praktik inden sommer", Domain: "employment"},
		"Mål sat: Mor i praktik inden sommer"},
	"goal.progressed": {&events.GoalProgressed{GoalID: "G1", Achievement: "improving"}, "Målopfølgning G1: i bedring"},
	"goal.closed":     {&events.GoalClosed{GoalID: "G1", Outcome: "not-achieved"}, "Mål G1 afsluttet: ikke opnået"},
	"meeting.held": {&events.MeetingHeld{Kind: "network", Participants: []string{"E1", "E2", "E3"}},
		"Møde afholdt: netværksmøde, 3 deltagere"},
	"benefit.granted": {&events.BenefitGranted{PersonID: "P1", Benefit: "kontanthjaelp"},
		"Ydelse bevilget: kontanthjælp til P1"},
	"benefit.ended": {&events.BenefitEnded{PersonID: "P1", Benefit: "ressourceforloeb", Reason: "employment"},
		"Ydelse ophørt: ressourceforløb for P1 (beskæftigelse)"},
	"praktik.started": {&events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 10},
		"Praktik startet hos 12345678, 10 t/uge"},
	"praktik.ended": {&events.PraktikEnded{PraktikID: "PR1", Outcome: "job"}, "Praktik PR1 afsluttet: overgang til job"},
	"wagesubsidy.started": {&events.WageSubsidyStarted{SubsidyID: "S1", Employer: "87654321", Sector: "public"},
		"Løntilskud startet hos 87654321 (offentlig)"},
	"wagesubsidy.ended": {&events.WageSubsidyEnded{SubsidyID: "S1", Outcome: "completed"}, "Løntilskud S1 afsluttet: gennemført"},
	"languagecourse.started": {&events.LanguageCourseStarted{CourseID: "L1", PersonID: "P2", Level: "DU2"},
		"Sprogkursus startet for P2, niveau DU2"},
	"languagecourse.ended": {&events.LanguageCourseEnded{CourseID: "L1", Outcome: "passed"}, "Sprogkursus L1 afsluttet: bestået"},
	"employment.started": {&events.EmploymentStarted{PersonID: "P1", Kind: "flexjob", HoursPerWeek: 7.5},
		"Ansættelse startet for P1: fleksjob, 7,5 t/uge"},
	"education.started": {&events.EducationStarted{PersonID: "P2", Programme: "SOSU-hjælper"},
		"Uddannelse startet for P2: SOSU-hjælper"},
	"schoolabsence.noted": {&events.SchoolAbsenceNoted{ChildID: "C1", PeriodStart: "2024-08-01", PeriodEnd: "2024-10-31",
		SchoolDays: 50, AbsentDays: events.AbsentDays{Sickness: 3, Authorised: 1, Unauthorised: 6}},
		"Skolefravær 12% ulovligt (2024-08-01–2024-10-31)"},
	"ppr.referred": {&events.PPRReferred{ChildID: "C1", Reason: "læsevanskeligheder"},
		"Henvist til PPR: barn C1 (læsevanskeligheder)"},
	"leisure.started": {&events.LeisureStarted{ChildID: "C1", Kind: "pocket-money", Name: "Tingbjerg Lommepengeprojekt"},
		"Fritidsaktivitet startet for C1: lommepengejob (Tingbjerg Lommepengeprojekt)"},
	"wellbeing.measured": {&events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 12.5},
		"Trivsel målt for C1: 12,5 (SDQ)"},
	"gp.consultation-held": {&events.GPConsultationHeld{PersonID: "P1", Category: "mental-health"},
		"Konsultation hos egen læge (psykisk helbred)"},
	"health.assessed": {&events.HealthAssessed{PersonID: "P1", BarrierToWork: true},
		"Helbred vurderet for P1: helbredet er en barriere for arbejde"},
	"health.referred": {&events.HealthReferred{PersonID: "P1", To: "rygestop"}, "Henvist til sundhedstilbud: rygestop (P1)"},
	"course.ended":    {&events.CourseEnded{Reason: "moved"}, "Forløb afsluttet: fraflyttet"},
	"evaluation.recorded": {&events.EvaluationRecorded{Kind: "midway", FamilySatisfaction: 4, ChildWellbeing: 3},
		"Midtvejsevaluering registreret: familiens tilfredshed 4/5, barnets trivsel 3/5"},
}

func envelope(spec events.Spec, data events.Payload) events.Envelope {
	return events.Envelope{Spec: spec, Department: spec.Owners[0], FamilyID: "F1", Data: data}
}

func checkTitle(t *testing.T, title string) {
	t.Helper()
	if strings.TrimSpace(title) == "" {
		t.Fatal("empty title")
	}
	for _, bad := range []string{"%!", "<nil>", "()", ": :", "  "} {
		if strings.Contains(title, bad) {
			t.Errorf("title %q contains %q", title, bad)
		}
	}
	if strings.HasSuffix(title, ":") || strings.HasSuffix(title, " ") || strings.HasSuffix(title, ",") {
		t.Errorf("title %q ends in a dangling separator", title)
	}
}

// TestTitleEveryType: every catalog type has its own title, for a
// realistic payload and for an empty one.
func TestTitleEveryType(t *testing.T) {
	t.Parallel()
	zeroTitles := map[string]string{}
	for _, spec := range events.Catalog() {
		zeroTitles[events.Title(envelope(spec, spec.NewData()))] = spec.Name
	}
	for _, spec := range events.Catalog() {
		t.Run(spec.Name, func(t *testing.T) {
			t.Parallel()
			// A type added since has its example in its schema only
			// (TestTitleOfSchemaExamples); these are the catalog's first.
			if ex, ok := titleExamples[spec.Name]; ok {
				got := events.Title(envelope(spec, ex.data))
				checkTitle(t, got)
				if got != ex.want {
					t.Errorf("Title = %q, want %q", got, ex.want)
				}
			} else if _, ok := exampleTitles[spec.Key()]; !ok {
				t.Fatal("no example payload")
			}

			zero := events.Title(envelope(spec, spec.NewData()))
			checkTitle(t, zero)
			if other := zeroTitles[zero]; other != spec.Name {
				t.Errorf("empty %s gives %q, the same title as %s", spec.Name, zero, other)
			}
		})
	}
	if len(titleExamples) < 35 || len(exampleTitles) != len(events.AllVersions()) {
		t.Errorf("%d examples and %d schema examples for %d catalog types",
			len(titleExamples), len(exampleTitles), len(events.AllVersions()))
	}
}

func TestTitleCases(t *testing.T) {
	t.Parallel()
	spec := func(name string) events.Spec { s, _ := events.ByName(name); return s }
	long := strings.Repeat("ø", 150)
	cases := []struct {
		name string
		e    events.Envelope
		want string
	}{
		{"praktik without optional fields", envelope(spec("praktik.started"),
			&events.PraktikStarted{PraktikID: "PR1", Employer: "12345678"}), "Praktik startet hos 12345678"},
		{"unknown code shown as it is", envelope(spec("gp.consultation-held"),
			&events.GPConsultationHeld{PersonID: "P1", Category: "dental"}), "Konsultation hos egen læge (dental)"},
		{"absence rounds to whole percent", envelope(spec("schoolabsence.noted"),
			&events.SchoolAbsenceNoted{PeriodStart: "2024-01-01", PeriodEnd: "2024-01-31", SchoolDays: 3,
				AbsentDays: events.AbsentDays{Unauthorised: 2}}), "Skolefravær 67% ulovligt (2024-01-01–2024-01-31)"},
		{"absence without school days", envelope(spec("schoolabsence.noted"),
			&events.SchoolAbsenceNoted{PeriodStart: "2024-01-01", PeriodEnd: "2024-01-31"}),
			"Skolefravær registreret (2024-01-01–2024-01-31)"},
		{"one parent one child", envelope(spec("family.enrolled"), &events.FamilyEnrolled{CourseStart: "2024-02-01",
			Members: []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}}}),
			"Familie optaget i forløb fra 2024-02-01 (1 forælder, 1 barn)"},
		{"health without barrier", envelope(spec("health.assessed"), &events.HealthAssessed{PersonID: "P1"}),
			"Helbred vurderet for P1: helbredet er ikke en barriere for arbejde"},
		{"final evaluation without scores", envelope(spec("evaluation.recorded"), &events.EvaluationRecorded{Kind: "final"}),
			"Slutevaluering registreret"},
		{"long goal title is cut", envelope(spec("goal.set"), &events.GoalSet{Title: long}),
			"Mål sat: " + strings.Repeat("ø", 79) + "…"},
		{"nil payload falls back to the catalog's Danish name", events.Envelope{Spec: spec("praktik.ended")},
			"Virksomhedspraktik afsluttet"},
		{"typed nil payload falls back too", events.Envelope{Spec: spec("praktik.ended"), Data: (*events.PraktikEnded)(nil)},
			"Virksomhedspraktik afsluttet"},
		{"empty envelope", events.Envelope{}, "Hændelse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := events.Title(tc.e); got != tc.want {
				t.Errorf("Title = %q, want %q", got, tc.want)
			}
		})
	}
}
