package family_test

import (
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

const fam = "F1"

// ev wraps a payload the way the parser would: its catalog entry, its first
// owner as the department, family F1 and no CloudEvent attributes.
func ev(data events.Payload) events.Envelope {
	spec, ok := events.SpecOf(data)
	if !ok {
		panic("not in catalog: " + data.EventName())
	}
	return events.Envelope{Spec: spec, Department: spec.Owners[0], FamilyID: fam, Data: data}
}

// at gives e a CloudEvent with an id and a time (RFC 3339).
func at(e events.Envelope, id, ts string) events.Envelope {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		panic(err)
	}
	ce := cloudevents.NewEvent()
	ce.SetID(id)
	ce.SetTime(t)
	e.Event = ce
	return e
}

// from sets the department.
func from(d events.Department, e events.Envelope) events.Envelope {
	e.Department = d
	return e
}

// fold applies the events to a new state of family F1.
func fold(t testing.TB, es ...events.Envelope) *family.State {
	t.Helper()
	s := family.New(fam)
	for _, e := range es {
		s.Apply(e)
	}
	return s
}

func referred() events.Envelope { return ev(&events.FamilyReferred{Reason: "visitation"}) }

// enrolled is a valid enrolment: parents P1 and P2, child C1, child case
// CC0 and P1's kontanthjaelp opened by the enrolment itself.
func enrolled() events.Envelope {
	return ev(&events.FamilyEnrolled{
		Members: []events.Member{
			{PersonID: "P2", Role: events.RoleParent},
			{PersonID: "C1", Role: events.RoleChild, BirthYear: 2012},
			{PersonID: "P1", Role: events.RoleParent, BirthYear: 1985},
		},
		CourseStart:    "2024-01-01",
		PlannedEnd:     "2025-12-31",
		ChildCaseIDs:   []string{"CC0"},
		ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	})
}

func ended() events.Envelope { return ev(&events.CourseEnded{Reason: "completed"}) }

func consent(person, scope string) events.Envelope {
	return ev(&events.ConsentGiven{PersonID: person, Scope: scope})
}

func withdraw(person, scope string) events.Envelope {
	return ev(&events.ConsentWithdrawn{PersonID: person, Scope: scope})
}

func joined(emp string) events.Envelope {
	return ev(&events.TeamMemberJoined{EmployeeID: emp, Role: "sundhedsplejerske"})
}

func left(emp string) events.Envelope { return ev(&events.TeamMemberLeft{EmployeeID: emp}) }

func caseOpened(id string) events.Envelope {
	return ev(&events.ChildCaseOpened{CaseID: id, ChildID: "C1", LegalBasis: "SEL-52"})
}

func caseClosed(id string) events.Envelope {
	return ev(&events.ChildCaseClosed{CaseID: id, Reason: "no-longer-needed"})
}

func measureStarted(id string) events.Envelope {
	return ev(&events.MeasureStarted{MeasureID: id, Kind: "familiebehandling", ChildID: "C1", Purpose: "trivsel"})
}

func measureEnded(id string) events.Envelope {
	return ev(&events.MeasureEnded{MeasureID: id, Reason: "goal-reached"})
}

func goalSet(id string) events.Envelope {
	return ev(&events.GoalSet{GoalID: id, Title: "Job inden sommer", Domain: "employment", PersonID: "P1", ExpressedBy: "family"})
}

func goalProgressed(id, achievement string) events.Envelope {
	return ev(&events.GoalProgressed{GoalID: id, Achievement: achievement})
}

func goalClosed(id string) events.Envelope {
	return ev(&events.GoalClosed{GoalID: id, Outcome: "achieved"})
}

func granted(person, benefit string) events.Envelope {
	return ev(&events.BenefitGranted{PersonID: person, Benefit: benefit})
}

func benefitEnded(person, benefit string) events.Envelope {
	return ev(&events.BenefitEnded{PersonID: person, Benefit: benefit, Reason: "employment"})
}

func praktikStarted(id string) events.Envelope {
	return ev(&events.PraktikStarted{PraktikID: id, PersonID: "P1", Employer: "12345678", HoursPerWeek: 10})
}

func praktikEnded(id string) events.Envelope {
	return ev(&events.PraktikEnded{PraktikID: id, Outcome: "completed"})
}

func subsidyStarted(id string) events.Envelope {
	return ev(&events.WageSubsidyStarted{SubsidyID: id, PersonID: "P2", Employer: "87654321", Sector: "public"})
}

func subsidyEnded(id string) events.Envelope {
	return ev(&events.WageSubsidyEnded{SubsidyID: id, Outcome: "job"})
}

func langStarted(id string) events.Envelope {
	return ev(&events.LanguageCourseStarted{CourseID: id, PersonID: "P2", Level: "DU2"})
}

func langEnded(id string) events.Envelope {
	return ev(&events.LanguageCourseEnded{CourseID: id, Outcome: "passed"})
}

func gp(person string) events.Envelope {
	return ev(&events.GPConsultationHeld{PersonID: person, Category: "mental-health"})
}

func evaluation() events.Envelope {
	return ev(&events.EvaluationRecorded{Kind: "midway", FamilySatisfaction: 4})
}

func caseworker(emp string) events.Envelope {
	return ev(&events.CaseworkerAssigned{EmployeeID: emp})
}

func makkerpar(jc, fw string) events.Envelope {
	return ev(&events.MakkerparAssigned{JobConsultantID: jc, FamilyWorkerID: fw})
}

func absence(child, start, end string, days, unauthorised int) events.Envelope {
	return ev(&events.SchoolAbsenceNoted{ChildID: child, PeriodStart: start, PeriodEnd: end, SchoolDays: days,
		AbsentDays: events.AbsentDays{Sickness: 1, Unauthorised: unauthorised}})
}
