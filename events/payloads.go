package events

// Payload is the data of one catalog event type. Every type of the catalog
// has exactly one payload struct; a test proves each agrees with its JSON
// Schema in schemas/ (field names, required fields, JSON types).
//
// Dates are "YYYY-MM-DD" strings; ids match IDPattern. Optional fields carry
// `omitempty`; required ones do not.
type Payload interface {
	// EventName is the catalog name of the payload's type.
	EventName() string
}

// Values of enumerated fields that the family model reasons about.
const (
	RoleParent = "parent"
	RoleChild  = "child"

	ScopeFamilyPlan    = "family-plan"
	ScopeDataSharing   = "data-sharing"
	ScopeGPCooperation = "gp-cooperation"
)

// FamilyReferred: a family is referred to (visiteret til) Job og Familie.
type FamilyReferred struct {
	Reason string `json:"reason"`
	Note   string `json:"note,omitempty"`
}

// Member is one person of an enrolled family.
type Member struct {
	PersonID  string `json:"personId"`
	Role      string `json:"role"` // parent | child
	BirthYear int    `json:"birthYear,omitempty"`
}

// ParentBenefit is a benefit a parent receives at enrolment.
type ParentBenefit struct {
	PersonID string `json:"personId"`
	Benefit  string `json:"benefit"` // as BenefitGranted.Benefit
}

// FamilyEnrolled: the family starts its two-year course.
type FamilyEnrolled struct {
	Members        []Member        `json:"members"`
	CourseStart    string          `json:"courseStart"`
	PlannedEnd     string          `json:"plannedEnd,omitempty"`
	ChildCaseIDs   []string        `json:"childCaseIds"`
	ParentBenefits []ParentBenefit `json:"parentBenefits"`
}

// ConsentGiven: a person consents to a scope of cooperation.
type ConsentGiven struct {
	PersonID string `json:"personId"`
	Scope    string `json:"scope"` // family-plan | data-sharing | gp-cooperation
}

// ConsentWithdrawn: a person withdraws a consent given earlier.
type ConsentWithdrawn struct {
	PersonID string `json:"personId"`
	Scope    string `json:"scope"`
}

// CaseworkerAssigned: the family's one caseworker (sagsbehandler) in SOF.
type CaseworkerAssigned struct {
	EmployeeID string `json:"employeeId"`
}

// MakkerparAssigned: the family's pair of primary contacts.
type MakkerparAssigned struct {
	JobConsultantID string `json:"jobConsultantId"`
	FamilyWorkerID  string `json:"familyWorkerId"`
}

// TeamMemberJoined: a professional joins the interdisciplinary team.
type TeamMemberJoined struct {
	EmployeeID string `json:"employeeId"`
	Role       string `json:"role"`
}

// TeamMemberLeft: a professional leaves the team.
type TeamMemberLeft struct {
	EmployeeID string `json:"employeeId"`
}

// ChildCaseOpened: a child's social case is opened in SOF.
type ChildCaseOpened struct {
	CaseID     string `json:"caseId"`
	ChildID    string `json:"childId"`
	LegalBasis string `json:"legalBasis,omitempty"`
}

// ChildCaseClosed: a child's social case is closed.
type ChildCaseClosed struct {
	CaseID string `json:"caseId"`
	Reason string `json:"reason"`
}

// MeasureStarted: a measure (foranstaltning) starts.
type MeasureStarted struct {
	MeasureID string `json:"measureId"`
	Kind      string `json:"kind"` // familiebehandling | kontaktperson | praktisk-hjaelp | aflastning | anbringelse | other
	ChildID   string `json:"childId,omitempty"`
	Purpose   string `json:"purpose"`
}

// MeasureEnded: a measure ends.
type MeasureEnded struct {
	MeasureID string `json:"measureId"`
	Reason    string `json:"reason"`
}

// GoalSet: a goal of Familiens Plan.
type GoalSet struct {
	GoalID      string `json:"goalId"`
	Title       string `json:"title"`
	Domain      string `json:"domain"` // employment | education | child-wellbeing | school | health | family | economy
	PersonID    string `json:"personId,omitempty"`
	Due         string `json:"due,omitempty"`
	ExpressedBy string `json:"expressedBy"` // family | professional
}

// GoalProgressed: a follow-up on a goal.
type GoalProgressed struct {
	GoalID      string `json:"goalId"`
	Achievement string `json:"achievement"`
	Note        string `json:"note,omitempty"`
}

// GoalClosed: a goal is closed.
type GoalClosed struct {
	GoalID  string `json:"goalId"`
	Outcome string `json:"outcome"` // achieved | not-achieved | cancelled
}

// MeetingHeld: a meeting with or about the family.
type MeetingHeld struct {
	Kind         string   `json:"kind"` // family | network | team | school-home | job-centre
	Participants []string `json:"participants,omitempty"`
}

// BenefitGranted: a benefit is granted to a person.
type BenefitGranted struct {
	PersonID string `json:"personId"`
	Benefit  string `json:"benefit"` // kontanthjaelp | uddannelseshjaelp | integrationsydelse | sygedagpenge | ressourceforloeb | other
}

// BenefitEnded: a benefit ends.
type BenefitEnded struct {
	PersonID string `json:"personId"`
	Benefit  string `json:"benefit"`
	Reason   string `json:"reason"` // employment | education | other
}

// PraktikStarted: a company internship (virksomhedspraktik) starts.
type PraktikStarted struct {
	PraktikID    string  `json:"praktikId"`
	PersonID     string  `json:"personId"`
	Employer     string  `json:"employer"` // CVR number, 8 digits
	HoursPerWeek float64 `json:"hoursPerWeek"`
	PlannedEnd   string  `json:"plannedEnd,omitempty"`
}

// PraktikEnded: a company internship ends.
type PraktikEnded struct {
	PraktikID string `json:"praktikId"`
	Outcome   string `json:"outcome"` // completed | job | education | cancelled
}

// WageSubsidyStarted: employment with wage subsidy (løntilskud) starts.
type WageSubsidyStarted struct {
	SubsidyID  string `json:"subsidyId"`
	PersonID   string `json:"personId"`
	Employer   string `json:"employer"` // CVR number, 8 digits
	Sector     string `json:"sector"`   // private | public
	PlannedEnd string `json:"plannedEnd,omitempty"`
}

// WageSubsidyEnded: a wage subsidy ends.
type WageSubsidyEnded struct {
	SubsidyID string `json:"subsidyId"`
	Outcome   string `json:"outcome"` // completed | job | education | cancelled
}

// LanguageCourseStarted: Danish language training starts.
type LanguageCourseStarted struct {
	CourseID string `json:"courseId"`
	PersonID string `json:"personId"`
	Level    string `json:"level,omitempty"`
}

// LanguageCourseEnded: language training ends.
type LanguageCourseEnded struct {
	CourseID string `json:"courseId"`
	Outcome  string `json:"outcome"` // passed | stopped
}

// EmploymentStarted: a person starts work.
type EmploymentStarted struct {
	PersonID     string  `json:"personId"`
	Kind         string  `json:"kind"` // ordinary | flexjob | small-job | fritidsjob
	HoursPerWeek float64 `json:"hoursPerWeek,omitempty"`
}

// EducationStarted: a person starts an education.
type EducationStarted struct {
	PersonID  string `json:"personId"`
	Programme string `json:"programme"`
}

// AbsentDays splits a period's absence by kind.
type AbsentDays struct {
	Sickness     int `json:"sickness"`
	Authorised   int `json:"authorised"`
	Unauthorised int `json:"unauthorised"`
}

// SchoolAbsenceNoted: a child's school absence over a period.
type SchoolAbsenceNoted struct {
	ChildID     string     `json:"childId"`
	PeriodStart string     `json:"periodStart"`
	PeriodEnd   string     `json:"periodEnd"`
	SchoolDays  int        `json:"schoolDays"`
	AbsentDays  AbsentDays `json:"absentDays"`
}

// PPRReferred: a child is referred to educational psychology (PPR).
type PPRReferred struct {
	ChildID string `json:"childId"`
	Reason  string `json:"reason"`
}

// LeisureStarted: a child starts a leisure activity.
type LeisureStarted struct {
	ChildID string `json:"childId"`
	Kind    string `json:"kind"` // club | sport | fritidsjob | pocket-money | other
	Name    string `json:"name,omitempty"`
}

// WellbeingMeasured: a child's well-being score on an instrument.
type WellbeingMeasured struct {
	ChildID    string  `json:"childId"`
	Instrument string  `json:"instrument"`
	Score      float64 `json:"score"`
}

// GPConsultationHeld: a consultation in general practice, coded only.
type GPConsultationHeld struct {
	PersonID string `json:"personId"`
	Category string `json:"category"` // mental-health | physical | child-health | other
}

// HealthAssessed: whether health is a barrier to work.
type HealthAssessed struct {
	PersonID      string `json:"personId"`
	BarrierToWork bool   `json:"barrierToWork"`
}

// HealthReferred: a referral to a health service, as a code.
type HealthReferred struct {
	PersonID string `json:"personId"`
	To       string `json:"to"`
}

// CourseEnded: the family's course ends.
type CourseEnded struct {
	Reason string `json:"reason"` // completed | dropped-out | moved | not-eligible
}

// EvaluationRecorded: the midway or final evaluation.
type EvaluationRecorded struct {
	Kind               string `json:"kind"` // midway | final
	FamilySatisfaction int    `json:"familySatisfaction,omitempty"`
	ChildWellbeing     int    `json:"childWellbeing,omitempty"`
	Note               string `json:"note,omitempty"`
}

func (*FamilyReferred) EventName() string        { return "family.referred" }
func (*FamilyEnrolled) EventName() string        { return "family.enrolled" }
func (*ConsentGiven) EventName() string          { return "consent.given" }
func (*ConsentWithdrawn) EventName() string      { return "consent.withdrawn" }
func (*CaseworkerAssigned) EventName() string    { return "caseworker.assigned" }
func (*MakkerparAssigned) EventName() string     { return "makkerpar.assigned" }
func (*TeamMemberJoined) EventName() string      { return "team.member-joined" }
func (*TeamMemberLeft) EventName() string        { return "team.member-left" }
func (*ChildCaseOpened) EventName() string       { return "childcase.opened" }
func (*ChildCaseClosed) EventName() string       { return "childcase.closed" }
func (*MeasureStarted) EventName() string        { return "measure.started" }
func (*MeasureEnded) EventName() string          { return "measure.ended" }
func (*GoalSet) EventName() string               { return "goal.set" }
func (*GoalProgressed) EventName() string        { return "goal.progressed" }
func (*GoalClosed) EventName() string            { return "goal.closed" }
func (*MeetingHeld) EventName() string           { return "meeting.held" }
func (*BenefitGranted) EventName() string        { return "benefit.granted" }
func (*BenefitEnded) EventName() string          { return "benefit.ended" }
func (*PraktikStarted) EventName() string        { return "praktik.started" }
func (*PraktikEnded) EventName() string          { return "praktik.ended" }
func (*WageSubsidyStarted) EventName() string    { return "wagesubsidy.started" }
func (*WageSubsidyEnded) EventName() string      { return "wagesubsidy.ended" }
func (*LanguageCourseStarted) EventName() string { return "languagecourse.started" }
func (*LanguageCourseEnded) EventName() string   { return "languagecourse.ended" }
func (*EmploymentStarted) EventName() string     { return "employment.started" }
func (*EducationStarted) EventName() string      { return "education.started" }
func (*SchoolAbsenceNoted) EventName() string    { return "schoolabsence.noted" }
func (*PPRReferred) EventName() string           { return "ppr.referred" }
func (*LeisureStarted) EventName() string        { return "leisure.started" }
func (*WellbeingMeasured) EventName() string     { return "wellbeing.measured" }
func (*GPConsultationHeld) EventName() string    { return "gp.consultation-held" }
func (*HealthAssessed) EventName() string        { return "health.assessed" }
func (*HealthReferred) EventName() string        { return "health.referred" }
func (*CourseEnded) EventName() string           { return "course.ended" }
func (*EvaluationRecorded) EventName() string    { return "evaluation.recorded" }
