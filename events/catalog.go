// Package events is the Job og Familie event catalog: the event types each
// department may emit, their payloads, the NATS subjects they are stored under,
// and the CloudEvents envelope that carries them. A department system written
// in Go can import it as a client library to build events that ingest accepts.
package events

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
)

// Department is one of the four municipal administrations that emit events.
type Department string

// The departments of the City of Copenhagen that take part in Job og Familie.
const (
	SOF Department = "sof" // Socialforvaltningen: child welfare, owner of the project
	BIF Department = "bif" // Beskæftigelses- og Integrationsforvaltningen: job centre, benefits
	BUF Department = "buf" // Børne- og Ungdomsforvaltningen: schools, daycare, PPR, absence
	SUF Department = "suf" // Sundheds- og Omsorgsforvaltningen: health, general practice
)

// Departments lists every department, in a fixed order.
var Departments = []Department{SOF, BIF, BUF, SUF}

// ParseDepartment returns the department with that lower-case code.
func ParseDepartment(s string) (Department, bool) {
	d := Department(s)
	return d, slices.Contains(Departments, d)
}

// DanishName is the department's full Danish name.
func (d Department) DanishName() string {
	switch d {
	case SOF:
		return "Socialforvaltningen"
	case BIF:
		return "Beskæftigelses- og Integrationsforvaltningen"
	case BUF:
		return "Børne- og Ungdomsforvaltningen"
	case SUF:
		return "Sundheds- og Omsorgsforvaltningen"
	}
	return string(d)
}

const (
	// TypePrefix and TypeSuffix wrap a catalog name into its CloudEvents type.
	TypePrefix = "dk.kk.jobogfamilie."
	TypeSuffix = ".v1"
	// SchemaBaseURL is where the JSON Schemas are published; a schema's $id is
	// SchemaBaseURL + type + ".json", and ingest stamps it as dataschema.
	SchemaBaseURL = "https://jobogfamilie.kk.dk/schemas/"
	// SubjectRoot is the first token of every family event subject.
	SubjectRoot = "families"
)

// any is the owner list of types every department may emit.
var anyDept = Departments

// Spec describes one event type of the catalog.
type Spec struct {
	// Name is the catalog name, e.g. "praktik.started".
	Name string
	// Owners are the departments allowed to emit it.
	Owners []Department
	// Danish and English are the terms a caseworker and a developer use.
	Danish, English string
	// Invariant says when an event of this type is refused (409), in English
	// and Danish; empty when any well-formed event is accepted.
	Invariant, InvariantDa string
	newData                func() Payload
	// typ and schemaURL are Type and SchemaURL, made once: every event
	// read asks for them.
	typ, schemaURL string
	// cache is shared by every copy of a catalog Spec; nil in any other.
	cache *typeCache
}

// typeCache holds what reading an event of a catalog type needs beyond its
// Spec, found on first use: at hand in the Spec, it costs no look-up in a
// map keyed by the type for every event read.
type typeCache struct {
	compiled atomic.Pointer[compiled]
	plan     atomic.Pointer[decodePlan]
}

// Type is the CloudEvents type, e.g. "dk.kk.jobogfamilie.praktik.started.v1".
func (s Spec) Type() string {
	if s.typ != "" {
		return s.typ
	}
	return TypePrefix + s.Name + TypeSuffix
}

// SchemaURL is the $id of the type's JSON Schema, stamped as dataschema.
func (s Spec) SchemaURL() string {
	if s.schemaURL != "" {
		return s.schemaURL
	}
	return SchemaBaseURL + s.Type() + ".json"
}

// OwnedBy reports whether d may emit events of this type.
func (s Spec) OwnedBy(d Department) bool { return slices.Contains(s.Owners, d) }

// NewData returns a new, empty payload of the type's Go type.
func (s Spec) NewData() Payload { return s.newData() }

// AnyOwner reports whether every department may emit this type.
func (s Spec) AnyOwner() bool { return len(s.Owners) == len(Departments) }

func spec[T any, P interface {
	*T
	Payload
}](name string, owners []Department, da, en, inv, invDa string) Spec {
	typ := TypePrefix + name + TypeSuffix
	return Spec{Name: name, Owners: owners, Danish: da, English: en, Invariant: inv, InvariantDa: invDa,
		newData: func() Payload { return P(new(T)) }, typ: typ, schemaURL: SchemaBaseURL + typ + ".json",
		cache: &typeCache{}}
}

func owners(d ...Department) []Department { return d }

// catalog is version 1 of the event catalog, in the order of DOMAIN.md.
var catalog = []Spec{
	spec[FamilyReferred]("family.referred", anyDept, "Familie visiteret/henvist", "Family referred", "", ""),
	spec[FamilyEnrolled]("family.enrolled", owners(SOF), "Familie optaget i forløb", "Family enrolled",
		"at least one parent and one child member; no course already active for the family",
		"mindst én forælder og ét barn; familien må ikke allerede være i et aktivt forløb"),
	spec[ConsentGiven]("consent.given", owners(SOF, BIF), "Samtykke givet", "Consent given", "", ""),
	spec[ConsentWithdrawn]("consent.withdrawn", owners(SOF, BIF), "Samtykke trukket tilbage", "Consent withdrawn",
		"that consent was given and not withdrawn", "samtykket er givet og ikke trukket tilbage"),
	spec[CaseworkerAssigned]("caseworker.assigned", owners(SOF), "Sagsbehandler tildelt", "Caseworker assigned",
		"family enrolled", "familien er optaget"),
	spec[MakkerparAssigned]("makkerpar.assigned", owners(SOF, BIF), "Makkerpar tildelt", "Primary contact pair assigned",
		"family enrolled", "familien er optaget"),
	spec[TeamMemberJoined]("team.member-joined", anyDept, "Medlem tilknyttet teamet", "Team member joined",
		"family enrolled", "familien er optaget"),
	spec[TeamMemberLeft]("team.member-left", anyDept, "Medlem forladt teamet", "Team member left",
		"that member joined and has not left", "medlemmet er tilknyttet og ikke udtrådt"),
	spec[ChildCaseOpened]("childcase.opened", owners(SOF), "Børnesag åbnet", "Child case opened",
		"caseId not already open", "sagen er ikke allerede åben"),
	spec[ChildCaseClosed]("childcase.closed", owners(SOF), "Børnesag lukket", "Child case closed",
		"caseId open", "sagen er åben"),
	spec[MeasureStarted]("measure.started", owners(SOF), "Foranstaltning iværksat", "Measure started",
		"measureId not already open", "foranstaltningen er ikke allerede i gang"),
	spec[MeasureEnded]("measure.ended", owners(SOF), "Foranstaltning ophørt", "Measure ended",
		"measureId open", "foranstaltningen er i gang"),
	spec[GoalSet]("goal.set", anyDept, "Mål sat i Familiens Plan", "Goal set in the family plan",
		"family enrolled; goalId new", "familien er optaget; målet findes ikke i forvejen"),
	spec[GoalProgressed]("goal.progressed", anyDept, "Målopfølgning", "Goal progressed",
		"goal set and not closed", "målet er sat og ikke afsluttet"),
	spec[GoalClosed]("goal.closed", anyDept, "Mål afsluttet", "Goal closed",
		"goal set and not closed", "målet er sat og ikke afsluttet"),
	spec[MeetingHeld]("meeting.held", anyDept, "Møde afholdt", "Meeting held", "", ""),
	spec[BenefitGranted]("benefit.granted", owners(BIF), "Ydelse bevilget", "Benefit granted",
		"that benefit not already active for the person", "ydelsen er ikke allerede aktiv for personen"),
	spec[BenefitEnded]("benefit.ended", owners(BIF), "Ydelse ophørt", "Benefit ended",
		"that benefit active for the person", "ydelsen er aktiv for personen"),
	spec[PraktikStarted]("praktik.started", owners(BIF), "Virksomhedspraktik startet", "Company internship started",
		"praktikId not already open", "praktikken er ikke allerede i gang"),
	spec[PraktikEnded]("praktik.ended", owners(BIF), "Virksomhedspraktik afsluttet", "Company internship ended",
		"praktikId open", "praktikken er i gang"),
	spec[WageSubsidyStarted]("wagesubsidy.started", owners(BIF), "Løntilskud startet", "Wage subsidy started",
		"subsidyId not already open", "løntilskuddet er ikke allerede i gang"),
	spec[WageSubsidyEnded]("wagesubsidy.ended", owners(BIF), "Løntilskud afsluttet", "Wage subsidy ended",
		"subsidyId open", "løntilskuddet er i gang"),
	spec[LanguageCourseStarted]("languagecourse.started", owners(BIF), "Sprogkursus startet", "Language course started",
		"courseId not already open", "kurset er ikke allerede i gang"),
	spec[LanguageCourseEnded]("languagecourse.ended", owners(BIF), "Sprogkursus afsluttet", "Language course ended",
		"courseId open", "kurset er i gang"),
	spec[EmploymentStarted]("employment.started", owners(BIF), "Ansættelse startet", "Employment started", "", ""),
	spec[EducationStarted]("education.started", owners(BIF), "Uddannelse startet", "Education started", "", ""),
	spec[SchoolAbsenceNoted]("schoolabsence.noted", owners(BUF), "Skolefravær registreret", "School absence noted", "", ""),
	spec[PPRReferred]("ppr.referred", owners(BUF), "Henvist til PPR", "Referred to educational psychology (PPR)", "", ""),
	spec[LeisureStarted]("leisure.started", owners(BUF), "Fritidsaktivitet startet", "Leisure activity started", "", ""),
	spec[WellbeingMeasured]("wellbeing.measured", owners(BUF), "Trivsel målt", "Well-being measured", "", ""),
	spec[GPConsultationHeld]("gp.consultation-held", owners(SUF), "Konsultation hos egen læge", "GP consultation held",
		"consent gp-cooperation given (and not withdrawn) for that person",
		"samtykke til samarbejde med egen læge er givet for personen"),
	spec[HealthAssessed]("health.assessed", owners(SUF), "Helbred vurderet", "Health assessed", "", ""),
	spec[HealthReferred]("health.referred", owners(SUF), "Henvist til sundhedstilbud", "Health referral", "", ""),
	spec[CourseEnded]("course.ended", owners(SOF), "Forløb afsluttet", "Course ended",
		"family enrolled", "familien er optaget"),
	spec[EvaluationRecorded]("evaluation.recorded", owners(SOF), "Evaluering registreret", "Evaluation recorded",
		"family enrolled or ended", "familien er optaget eller har afsluttet forløbet"),
}

var (
	byName = map[string]Spec{}
	byType = map[string]Spec{}
)

func init() {
	for _, s := range catalog {
		if _, dup := byName[s.Name]; dup {
			panic("events: duplicate catalog name " + s.Name)
		}
		if got := s.NewData().EventName(); got != s.Name {
			panic(fmt.Sprintf("events: payload of %s names itself %s", s.Name, got))
		}
		byName[s.Name] = s
		byType[s.Type()] = s
	}
}

// Catalog returns every event type, in catalog order.
func Catalog() []Spec { return slices.Clone(catalog) }

// ByName looks a type up by its catalog name ("praktik.started").
func ByName(name string) (Spec, bool) { s, ok := byName[name]; return s, ok }

// ByType looks a type up by its CloudEvents type.
func ByType(ceType string) (Spec, bool) { s, ok := byType[ceType]; return s, ok }

// Subject is the NATS subject an event is stored under:
// families.<familyId>.<dept>.<name>, the catalog name's dots becoming tokens.
func Subject(familyID string, dept Department, name string) string {
	return SubjectRoot + "." + familyID + "." + string(dept) + "." + name
}

// FamilyFilter matches every event of one family, for per-family optimistic
// concurrency (WithExpectLastSequenceForSubject) and for filtered reads.
func FamilyFilter(familyID string) string { return SubjectRoot + "." + familyID + ".>" }

// AllFamilies matches every family event subject.
const AllFamilies = SubjectRoot + ".>"

// DepartmentFilter matches the subjects a department may publish to.
func DepartmentFilter(d Department) string { return SubjectRoot + ".*." + string(d) + ".>" }

// SubjectParts is a parsed family event subject.
type SubjectParts struct {
	FamilyID   string
	Department Department
	Name       string
}

// ParseSubject splits a subject made by Subject. It does not require the name
// to be in the catalog, so that unknown types can be reported by name.
func ParseSubject(subject string) (SubjectParts, error) {
	// strings.SplitN(subject, ".", 4), without allocating its result:
	// every stored event's subject is parsed.
	root, rest, ok1 := strings.Cut(subject, ".")
	family, rest, ok2 := strings.Cut(rest, ".")
	dept, name, ok3 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !ok3 || root != SubjectRoot || name == "" {
		return SubjectParts{}, fmt.Errorf("%w: %q is not families.<familyId>.<dept>.<name>", ErrSubject, subject)
	}
	if !ValidID(family) {
		return SubjectParts{}, fmt.Errorf("%w: family id %q", ErrSubject, family)
	}
	d, ok := ParseDepartment(dept)
	if !ok {
		return SubjectParts{}, fmt.Errorf("%w: department %q", ErrSubject, dept)
	}
	return SubjectParts{FamilyID: family, Department: d, Name: name}, nil
}
