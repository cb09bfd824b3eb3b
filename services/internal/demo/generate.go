// Package demo makes realistic synthetic data for Job og Familie and loads
// it through the real ingest API, so that a newcomer sees a populated
// system: about fifty Tingbjerg-like families over 2023 and 2024, with the
// baseline before enrolment, the course with its makkerpar, plan, praktik
// and school absence, and a few courses that end early.
//
// The data is seeded and deterministic: the same seed gives byte-identical
// events with the same ids, so a second load is all duplicates (200) and
// never a conflict. Each family is simulated with the family model of
// events/family: every event is checked with State.Check before it is kept,
// so the demo can never contain an event that ingest would refuse (409).
package demo

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// The demo's window: the pilot's two years. Nothing is generated after
// dataEnd, so a course that started in 2024 is still running at the end.
var (
	dataStart = date(2023, 1, 2)
	dataEnd   = date(2024, 12, 31)
)

// DefaultFamilies is the pilot's target (DOMAIN.md).
const DefaultFamilies = 50

// Event is one generated event, ready to post.
type Event struct {
	// Department emits it (it owns the type: events.Spec.OwnedBy).
	Department events.Department
	FamilyID   string
	// Type is the catalog name, e.g. "praktik.started".
	Type string
	// ID is the CloudEvent id: demo-<seed>-<family>-<counter>.
	ID   string
	Time time.Time
	// JSON is the structured CloudEvent as it is posted.
	JSON []byte
}

// FamilyID is the id of the n-th family (1-based) of a seed. The seed is in
// the id so that loads with different seeds never touch the same family.
func FamilyID(seed int64, n int) string { return fmt.Sprintf("TB%d-%03d", seed, n) }

// Generate returns the events of families families for seed, family by
// family, each family's events in the order they must be stored (the order
// of their time). Family n is the same whatever the number of families, so
// a load of 50 after a load of 12 finds the first 12 stored already.
func Generate(seed int64, families int) []Event {
	evs, _ := generate(seed, families)
	return evs
}

// generate also returns the planned events that the family model refused.
// By design there are none (a test holds it to that); the check is the
// safety net that keeps a mistake in the simulation out of the demo.
func generate(seed int64, families int) ([]Event, []string) {
	if families <= 0 {
		families = DefaultFamilies
	}
	var out []Event
	var refused []string
	for n := 1; n <= families; n++ {
		f := newSim(seed, n)
		f.plan()
		evs, ref := f.emit()
		out = append(out, evs...)
		refused = append(refused, ref...)
	}
	return out, refused
}

// item is one planned event before it is checked.
type item struct {
	t    time.Time
	dept events.Department
	data events.Payload
	seq  int // planning order, to keep ties stable
}

// systems name the department's system in the CloudEvent source, as real
// senders would: /departments/sof/dubu.
var systems = map[events.Department]string{
	events.SOF: "dubu", events.BIF: "momentum", events.BUF: "skoleadm", events.SUF: "sundhed",
}

// emit orders the plan by time and keeps each event that the family's
// state accepts, numbering the kept ones.
func (f *sim) emit() ([]Event, []string) {
	slices.SortStableFunc(f.items, func(a, b item) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	st := family.New(f.id)
	var out []Event
	var refused []string
	for _, it := range f.items {
		id := fmt.Sprintf("demo-%d-%03d-%04d", f.seed, f.n, len(out)+1)
		ce, err := events.Build(it.dept, f.id, it.data, events.WithID(id), events.WithTime(it.t),
			events.WithSystem(systems[it.dept]))
		if err != nil {
			// A payload the schema refuses is a bug in this package.
			panic(fmt.Sprintf("demo: family %s: %s: %v", f.id, it.data.EventName(), err))
		}
		// Build has validated the event; the envelope is made here rather
		// than by validating it a second time.
		spec, _ := events.SpecOf(it.data)
		env := events.Envelope{Event: ce, Spec: spec, Department: it.dept, FamilyID: f.id, Data: it.data}
		if !env.Spec.OwnedBy(it.dept) {
			panic(fmt.Sprintf("demo: %s planned for %s, which does not own it", env.Spec.Name, it.dept))
		}
		if err := st.Check(env); err != nil {
			refused = append(refused, fmt.Sprintf("%s %s %s: %v", f.id, it.t.Format(time.DateOnly), env.Spec.Name, err))
			continue
		}
		st.Apply(env)
		b, err := events.Marshal(ce)
		if err != nil {
			panic(fmt.Sprintf("demo: family %s: %v", f.id, err))
		}
		out = append(out, Event{Department: it.dept, FamilyID: f.id, Type: env.Spec.Name, ID: id, Time: ce.Time(), JSON: b})
	}
	f.state = st
	return out, refused
}

// ErasureCoordinator is the employee whose families ErasedFamily chooses
// from: dev-coordinator's, so that the erasure shows where a newcomer looks.
const ErasureCoordinator = "E1001"

// ErasedFamily is the family that a load given a data protection officer's
// token erases (Options.DPOToken): the first family after family 1 (the
// README's example) whose course has ended and whom ErasureCoordinator may
// still read. It is "" when no family of the first families qualifies. As
// family n is the same whatever the number of families, a larger load of
// the same seed chooses the same family.
//
// The generator itself never emits family.erased: no department owns it,
// the service records it when the data protection officer erases.
func ErasedFamily(seed int64, families int) string {
	if families <= 0 {
		families = DefaultFamilies
	}
	for n := 2; n <= families; n++ {
		f := newSim(seed, n)
		f.plan()
		f.emit()
		if f.state.Status() == family.StatusEnded && f.state.CanRead(ErasureCoordinator) {
			return f.id
		}
	}
	return ""
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func ymd(t time.Time) string { return t.Format(time.DateOnly) }

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// months adds whole months to a date.
func months(t time.Time, n int) time.Time { return t.AddDate(0, n, 0) }

// sim is one family being simulated.
type sim struct {
	seed  int64
	n     int
	id    string
	r     *rand.Rand
	items []item

	parents  []person
	children []person

	referral, enrolment time.Time
	// courseEnd is when the course ends early; zero when it runs past the
	// demo's window. end is when the course's activities stop: courseEnd
	// or dataEnd.
	courseEnd, end time.Time
	endReason      string

	caseworker                  string
	jobConsultant, familyWorker string
	teacher, healthVisitor      string
	team                        []string // employees in the team now, in joining order
	cases                       []childCase
	ids                         map[string]int // counters per id prefix
	// state is the family model after the kept events (set by emit).
	state *family.State
}

type person struct {
	id        string
	birthYear int
	benefit   string // parents: the benefit at enrolment, "" if none
	// gpFrom and gpUntil bound the gp-cooperation consent (zero: none, or
	// never withdrawn).
	gpFrom, gpUntil time.Time
}

type childCase struct {
	id, child string
}

func newSim(seed int64, n int) *sim {
	return &sim{
		seed: seed, n: n, id: FamilyID(seed, n),
		r:   rand.New(rand.NewPCG(uint64(seed), uint64(n)*0x9E3779B97F4A7C15+1)),
		ids: map[string]int{},
	}
}

// add plans an event; events after the window are left out, so that a
// course still running at the end simply has no end yet.
func (f *sim) add(t time.Time, d events.Department, p events.Payload) {
	if t.After(dataEnd) || t.Before(dataStart) {
		return
	}
	f.items = append(f.items, item{t: t, dept: d, data: p, seq: len(f.items)})
}

// next returns a new id with the family's prefix, e.g. TB1-007-PR2.
func (f *sim) next(prefix string) string {
	f.ids[prefix]++
	return fmt.Sprintf("%s-%s%d", f.id, prefix, f.ids[prefix])
}

func (f *sim) intn(lo, hi int) int { return lo + f.r.IntN(hi-lo+1) } // lo..hi inclusive

func (f *sim) chance(p float64) bool { return f.r.Float64() < p }

func pick[T any](f *sim, xs ...T) T { return xs[f.r.IntN(len(xs))] }

// at is a working-day time on or after day d: 07:00–14:59 UTC, i.e. office
// hours in Copenhagen; weekends and Christmas move to the next working day.
func (f *sim) at(d time.Time) time.Time {
	d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	for d.Weekday() == time.Saturday || d.Weekday() == time.Sunday || holiday(d) {
		d = d.Add(days(1))
	}
	return d.Add(7*time.Hour + time.Duration(f.r.IntN(8*60))*time.Minute)
}

func holiday(d time.Time) bool {
	return (d.Month() == time.December && d.Day() >= 24 && d.Day() <= 26) || (d.Month() == time.January && d.Day() == 1)
}

// within is at() of a day in [from+lo, from+hi] days.
func (f *sim) within(from time.Time, lo, hi int) time.Time {
	return f.at(from.Add(days(f.intn(lo, hi))))
}

func (f *sim) active(t time.Time) bool { return !t.Before(f.enrolment) && t.Before(f.end) }

// plan lays out the family's whole history.
func (f *sim) plan() {
	f.household()
	f.dates()
	f.baseline()
	f.enrol()
	f.assignments()
	f.consents()
	f.measuresAndCases()
	f.goals()
	f.meetings()
	for i := range f.parents {
		f.employment(i)
	}
	f.teenJobs()
	f.health()
	f.school()
	f.evaluations()
	f.ending()
}

func (f *sim) household() {
	np := 1
	if f.chance(0.6) {
		np = 2
	}
	nc := pick(f, 1, 2, 2, 3, 3, 4)
	for i := range np {
		p := person{id: fmt.Sprintf("%s-P%d", f.id, i+1), birthYear: f.intn(1976, 1996)}
		f.parents = append(f.parents, p)
	}
	for i := range nc {
		// The first child is of school age through the window, so every
		// family has school absence; younger siblings may not be.
		by := f.intn(2008, 2016)
		if i > 0 {
			by = f.intn(2007, 2021)
		}
		f.children = append(f.children, person{id: fmt.Sprintf("%s-C%d", f.id, i+1), birthYear: by})
	}
	// Benefits at enrolment. Every third family has a parent on
	// integrationsydelse (with Danish lessons); the first parent always
	// receives something, as eligibility demands.
	for i := range f.parents {
		p := &f.parents[i]
		switch {
		case i == 0 && f.n%3 == 0:
			p.benefit = "integrationsydelse"
		case i == 1 && f.chance(0.35):
			p.benefit = "" // in work already
		case 2024-p.birthYear < 30 && f.chance(0.5):
			p.benefit = "uddannelseshjaelp"
		default:
			p.benefit = pick(f, "kontanthjaelp", "kontanthjaelp", "kontanthjaelp", "integrationsydelse", "sygedagpenge", "ressourceforloeb")
		}
	}
}

func (f *sim) dates() {
	// Referrals spread over the pilot's first eighteen months, as families
	// were found one by one.
	off := ((f.n - 1) * 9) % 540
	f.referral = f.at(date(2023, 2, 1).Add(days(off + f.r.IntN(8))))
	f.enrolment = f.within(f.referral, 14, 56)
	// A few courses end early: DOMAIN.md's "a few course ends". Chosen by
	// family number so that even a small demo has each reason.
	switch {
	case f.n%10 == 7:
		f.courseEnd, f.endReason = f.at(months(f.enrolment, f.intn(5, 11))), "dropped-out"
	case f.n%16 == 3:
		f.courseEnd, f.endReason = f.at(months(f.enrolment, f.intn(4, 10))), "moved"
	case f.n%23 == 12:
		f.courseEnd, f.endReason = f.within(f.enrolment, 35, 60), "not-eligible"
	}
	if !f.courseEnd.IsZero() && f.courseEnd.After(dataEnd) {
		f.courseEnd, f.endReason = time.Time{}, ""
	}
	f.end = dataEnd
	if !f.courseEnd.IsZero() {
		f.end = f.courseEnd
	}
}

func (f *sim) legalBasis(t time.Time) string {
	// Barnets lov replaced the child provisions of serviceloven in 2024.
	if t.Before(date(2024, 1, 1)) {
		return "SEL § 52"
	}
	return "Barnets lov § 32"
}

// baseline is what the departments knew before the course: benefits,
// child cases and measures, Danish lessons, a network meeting.
func (f *sim) baseline() {
	// Benefits are granted before the referral, so that the enrolment
	// finds them active (a grant after it would be refused as a repeat).
	span := int(f.referral.Sub(dataStart).Hours() / 24)
	for i := range f.parents {
		p := f.parents[i]
		if p.benefit == "" {
			continue
		}
		f.add(f.within(dataStart, 0, min(40, span/2)), events.BIF, &events.BenefitGranted{PersonID: p.id, Benefit: p.benefit})
		if p.benefit == "integrationsydelse" {
			id := f.next("DU")
			start := f.within(dataStart, 20, 70)
			f.add(start, events.BIF, &events.LanguageCourseStarted{CourseID: id, PersonID: p.id, Level: "DU2 modul 2"})
			end := f.within(f.enrolment, 60, 240)
			f.add(end, events.BIF, &events.LanguageCourseEnded{CourseID: id, Outcome: pick(f, "passed", "passed", "stopped")})
			if f.chance(0.6) {
				id2 := f.next("DU")
				s2 := f.within(end, 20, 50)
				f.add(s2, events.BIF, &events.LanguageCourseStarted{CourseID: id2, PersonID: p.id, Level: "DU2 modul 3"})
				f.add(f.within(s2, 120, 200), events.BIF, &events.LanguageCourseEnded{CourseID: id2, Outcome: pick(f, "passed", "passed", "stopped")})
			}
		}
	}
	// At least one child has a social case: eligibility. The baseline
	// lies between the window's start and the referral, a month at least.
	firstCase := dataStart.Add(days(f.intn(0, span/2)))
	for i, c := range f.children {
		if i > 0 && !f.chance(0.45) {
			continue
		}
		cc := childCase{id: f.next("SAG"), child: c.id}
		t := f.within(firstCase, 0, span/8)
		f.add(t, events.SOF, &events.ChildCaseOpened{CaseID: cc.id, ChildID: c.id, LegalBasis: f.legalBasis(t)})
		f.cases = append(f.cases, cc)
	}
	// Measures running before the course; as a rule they end once it
	// starts (see measuresAndCases).
	kinds := []struct{ kind, purpose string }{
		{"familiebehandling", "Styrke forældreevnen og skabe struktur i hverdagen"},
		{"kontaktperson", "Støtte til skolegang og fritidsliv"},
		{"praktisk-hjaelp", "Praktisk pædagogisk støtte i hjemmet"},
		{"aflastning", "Aflastning, så familien får ro i hverdagen"},
	}
	nm := f.intn(1, 2)
	for k := range nm {
		m := kinds[(f.n+k)%len(kinds)]
		child := ""
		if m.kind != "familiebehandling" {
			child = f.cases[0].child
		}
		f.add(f.within(firstCase, span/8, span/4), events.SOF, &events.MeasureStarted{MeasureID: f.next("FOR"), Kind: m.kind, ChildID: child, Purpose: m.purpose})
	}
	if f.n%15 == 9 {
		// A placement outside the home, which goes on during the course.
		f.add(f.within(firstCase, span/8, span/4), events.SOF, &events.MeasureStarted{MeasureID: f.next("ANB"), Kind: "anbringelse",
			ChildID: f.cases[0].child, Purpose: "Anbringelse i netværksplejefamilie"})
	}
	if f.chance(0.5) {
		f.add(f.within(f.referral, -30, -7), events.SOF, &events.MeetingHeld{Kind: "network",
			Participants: []string{f.employee("E2", 12), f.employee("E5", 40)}})
	}
	referrer := pick(f, events.SOF, events.SOF, events.SOF, events.BUF, events.BUF, events.BIF)
	ref := &events.FamilyReferred{Reason: pick(f, referralReasons...)}
	if f.chance(0.5) {
		ref.Note = pick(f, referralNotes...)
	}
	f.add(f.referral, referrer, ref)
}

// employee is an id from a pool, e.g. E2 with 12 gives E2001..E2012.
func (f *sim) employee(prefix string, pool int) string {
	return fmt.Sprintf("%s%03d", prefix, 1+f.r.IntN(pool))
}

func (f *sim) enrol() {
	d := &events.FamilyEnrolled{
		CourseStart: ymd(f.enrolment),
		PlannedEnd:  ymd(months(f.enrolment, 24).Add(-days(1))),
	}
	for _, p := range f.parents {
		d.Members = append(d.Members, events.Member{PersonID: p.id, Role: events.RoleParent, BirthYear: p.birthYear})
		if p.benefit != "" {
			d.ParentBenefits = append(d.ParentBenefits, events.ParentBenefit{PersonID: p.id, Benefit: p.benefit})
		}
	}
	for _, c := range f.children {
		d.Members = append(d.Members, events.Member{PersonID: c.id, Role: events.RoleChild, BirthYear: c.birthYear})
	}
	for _, c := range f.cases {
		d.ChildCaseIDs = append(d.ChildCaseIDs, c.id)
	}
	f.add(f.enrolment, events.SOF, d)
}

// assignments: the caseworker, the makkerpar and the team. The dev
// coordinators E1001 and E1002 get a share of the families so that their
// tokens see data: E1001 about 60 %, E1002 about 40 %.
func (f *sim) assignments() {
	switch f.n % 5 {
	case 1, 2:
		f.caseworker = "E1001"
	case 3:
		f.caseworker = "E1002"
	default:
		f.caseworker = f.employee("E2", 12)
	}
	f.add(f.within(f.enrolment, 1, 3), events.SOF, &events.CaseworkerAssigned{EmployeeID: f.caseworker})
	f.jobConsultant, f.familyWorker = f.employee("E3", 12), f.employee("E4", 10)
	f.add(f.within(f.enrolment, 2, 6), pick(f, events.SOF, events.BIF), &events.MakkerparAssigned{
		JobConsultantID: f.jobConsultant, FamilyWorkerID: f.familyWorker})

	join := func(t time.Time, d events.Department, emp, role string) {
		if !f.active(t) {
			return
		}
		f.add(t, d, &events.TeamMemberJoined{EmployeeID: emp, Role: role})
		f.team = append(f.team, emp)
	}
	switch f.n % 5 {
	case 4:
		join(f.within(f.enrolment, 4, 10), events.SOF, "E1001", "coordinator")
	case 0, 1:
		join(f.within(f.enrolment, 4, 10), events.SOF, "E1002", "coordinator")
	}
	f.teacher = f.employee("E5", 40)
	join(f.within(f.enrolment, 7, 30), events.BUF, f.teacher, "teacher")
	if f.youngest() >= 2019 {
		f.healthVisitor = f.employee("E6", 8)
		join(f.within(f.enrolment, 7, 30), events.SUF, f.healthVisitor, "health-visitor")
	}
	// A new school year brings a new class teacher for some.
	for _, y := range []int{2023, 2024} {
		t := f.at(date(y, 8, 14).Add(days(f.intn(0, 10))))
		if f.active(t) && t.After(f.enrolment.Add(days(40))) && f.chance(0.5) {
			f.add(t, events.BUF, &events.TeamMemberLeft{EmployeeID: f.teacher})
			f.team = slices.DeleteFunc(f.team, func(e string) bool { return e == f.teacher })
			f.teacher = f.employee("E5", 40)
			join(t.Add(time.Hour), events.BUF, f.teacher, "teacher")
		}
	}
	// Caseworker and makkerpar changes, counted by the evaluation.
	if f.n%9 == 4 && f.caseworker != "E1001" && f.caseworker != "E1002" {
		t := f.at(months(f.enrolment, f.intn(7, 12)))
		if f.active(t) {
			f.caseworker = fmt.Sprintf("E2%03d", 1+(f.n%12))
			f.add(t, events.SOF, &events.CaseworkerAssigned{EmployeeID: f.caseworker})
		}
	}
	if f.n%11 == 6 {
		t := f.at(months(f.enrolment, f.intn(6, 10)))
		if f.active(t) {
			f.jobConsultant = fmt.Sprintf("E3%03d", 1+(f.n+5)%12)
			f.add(t, events.BIF, &events.MakkerparAssigned{JobConsultantID: f.jobConsultant, FamilyWorkerID: f.familyWorker})
		}
	}
}

func (f *sim) youngest() int {
	y := 0
	for _, c := range f.children {
		y = max(y, c.birthYear)
	}
	return y
}

// consents: the plan, data sharing and cooperation with the GP, given in
// the first week, data sharing also for each child, by the parents on the
// child's behalf, so that coordinators see the school's and health
// service's events; some are withdrawn later.
func (f *sim) consents() {
	for i := range f.parents {
		p := &f.parents[i]
		t := f.within(f.enrolment, 1, 7)
		f.add(t, events.SOF, &events.ConsentGiven{PersonID: p.id, Scope: events.ScopeFamilyPlan})
		f.add(t.Add(5*time.Minute), events.SOF, &events.ConsentGiven{PersonID: p.id, Scope: events.ScopeDataSharing})
		if i == 0 {
			for j, c := range f.children {
				f.add(t.Add(time.Duration(6+j)*time.Minute), events.SOF, &events.ConsentGiven{PersonID: c.id, Scope: events.ScopeDataSharing})
			}
		}
		if i == 0 || f.chance(0.8) {
			p.gpFrom = t.Add(10 * time.Minute)
			f.add(p.gpFrom, pick(f, events.SOF, events.BIF), &events.ConsentGiven{PersonID: p.id, Scope: events.ScopeGPCooperation})
		}
	}
	if f.chance(0.6) {
		for i := range f.children {
			c := &f.children[i]
			c.gpFrom = f.within(f.enrolment, 8, 20)
			f.add(c.gpFrom, events.SOF, &events.ConsentGiven{PersonID: c.id, Scope: events.ScopeGPCooperation})
		}
	}
	p := &f.parents[len(f.parents)-1]
	if f.n%8 == 5 {
		if t := f.at(months(f.enrolment, f.intn(4, 10))); t.Before(dataEnd) {
			f.add(t, events.SOF, &events.ConsentWithdrawn{PersonID: p.id, Scope: events.ScopeDataSharing})
		}
	}
	if f.n%13 == 2 && !p.gpFrom.IsZero() {
		if t := f.at(months(f.enrolment, f.intn(6, 12))); t.Before(dataEnd) {
			p.gpUntil = t
			f.add(t, events.BIF, &events.ConsentWithdrawn{PersonID: p.id, Scope: events.ScopeGPCooperation})
		}
	}
}

// measuresAndCases ends the measures that ran before the course, starts
// the course's family treatment, and closes and opens child cases.
func (f *sim) measuresAndCases() {
	var baseline []*events.MeasureStarted
	for _, it := range f.items {
		if m, ok := it.data.(*events.MeasureStarted); ok {
			baseline = append(baseline, m)
		}
	}
	for _, m := range baseline {
		if m.Kind == "anbringelse" {
			continue
		}
		f.add(f.within(f.enrolment, 14, 60), events.SOF, &events.MeasureEnded{MeasureID: m.MeasureID, Reason: "Afløst af indsatsen i Job og Familie"})
	}
	id := f.next("FOR")
	f.add(f.within(f.enrolment, 7, 21), events.SOF, &events.MeasureStarted{MeasureID: id, Kind: "familiebehandling",
		Purpose: "Familiebehandling ved familiearbejderen i Job og Familie"})
	if !f.courseEnd.IsZero() {
		f.add(f.within(f.courseEnd, 0, 3), events.SOF, &events.MeasureEnded{MeasureID: id, Reason: "Forløbet i Job og Familie er afsluttet"})
	}
	if teen := f.teen(2024); teen != "" && f.chance(0.3) {
		kid := f.next("FOR")
		t := f.at(months(f.enrolment, f.intn(2, 6)))
		if f.active(t) {
			f.add(t, events.SOF, &events.MeasureStarted{MeasureID: kid, Kind: "kontaktperson", ChildID: teen,
				Purpose: "Fast voksenkontakt og støtte til fremmøde i skolen"})
			f.add(f.at(months(t, f.intn(6, 10))), events.SOF, &events.MeasureEnded{MeasureID: kid, Reason: "Formålet er opnået"})
		}
	}
	if f.n%3 == 1 && len(f.cases) > 0 {
		c := f.cases[len(f.cases)-1]
		t := f.at(months(f.enrolment, f.intn(10, 20)))
		if f.active(t) {
			f.add(t, events.SOF, &events.ChildCaseClosed{CaseID: c.id, Reason: pick(f, caseCloseReasons...)})
		}
	}
	if len(f.children) > 1 && f.chance(0.25) {
		c := f.children[len(f.children)-1]
		t := f.at(months(f.enrolment, f.intn(2, 8)))
		if f.active(t) {
			f.add(t, events.SOF, &events.ChildCaseOpened{CaseID: f.next("SAG"), ChildID: c.id, LegalBasis: f.legalBasis(t)})
		}
	}
}

// teen returns a child aged 13–17 in year y, or "".
func (f *sim) teen(y int) string {
	for _, c := range f.children {
		if a := y - c.birthYear; a >= 13 && a <= 17 {
			return c.id
		}
	}
	return ""
}

// goals: Familiens Plan, set at the first family meeting, followed up about
// every quarter and closed when reached, given up or at the course's end.
func (f *sim) goals() {
	first := f.within(f.enrolment, 14, 35)
	if !f.active(first) {
		return
	}
	n := f.intn(3, 6)
	domains := []string{"employment", "school", "child-wellbeing", "family", "health", "economy", "education"}
	f.r.Shuffle(len(domains)-1, func(i, j int) { domains[i+1], domains[j+1] = domains[j+1], domains[i+1] })
	for k := range n {
		f.goal(domains[k%len(domains)], first.Add(time.Duration(k)*10*time.Minute), true)
	}
}

// goal plans one goal of a domain, set at t; again says whether an
// achieved goal may be followed by a new one.
func (f *sim) goal(domain string, t time.Time, again bool) {
	id := f.next("MAAL")
	g := &events.GoalSet{GoalID: id, Domain: domain, ExpressedBy: pick(f, "family", "family", "professional"),
		Due: ymd(months(t, f.intn(6, 15)))}
	var dept events.Department
	switch domain {
	case "employment", "economy", "education":
		dept = events.BIF
		g.PersonID = f.parents[f.r.IntN(len(f.parents))].id
	case "school", "child-wellbeing":
		dept = pick(f, events.BUF, events.SOF)
		g.PersonID = f.children[f.r.IntN(len(f.children))].id
	case "health":
		dept = events.SUF
		g.PersonID = f.parents[0].id
	default:
		dept = events.SOF
	}
	g.Title = pick(f, goalTitles[domain]...)
	if upgraded(dept, t) {
		f.add(t, dept, f.goalV2(g))
	} else {
		f.add(t, dept, g)
	}

	due, _ := time.Parse(time.DateOnly, g.Due)
	outcome := pick(f, "achieved", "achieved", "achieved", "not-achieved", "cancelled", "open")
	closeAt := f.at(due.Add(days(f.intn(0, 30))))
	if outcome == "cancelled" {
		closeAt = f.at(months(t, f.intn(3, 8)))
	}
	if outcome == "open" || !closeAt.Before(f.end) {
		outcome, closeAt = "open", f.end // still open when the course ends or the window closes
	}
	ach := "in-progress"
	for p := f.within(t, 60, 100); p.Before(closeAt) && f.active(p); p = f.within(p, 70, 110) {
		ach = nextAchievement(f, ach)
		gp := &events.GoalProgressed{GoalID: id, Achievement: ach}
		if f.chance(0.4) {
			gp.Note = pick(f, progressNotes...)
		}
		f.add(p, dept, gp)
	}
	if outcome == "open" {
		if !f.courseEnd.IsZero() {
			// Open goals are closed when the course ends early.
			f.add(f.within(f.courseEnd, 0, 2), events.SOF, &events.GoalClosed{GoalID: id, Outcome: "cancelled"})
		}
		return
	}
	if outcome == "achieved" {
		f.add(closeAt.Add(-time.Minute), dept, &events.GoalProgressed{GoalID: id, Achievement: "achieved"})
	}
	f.add(closeAt, dept, &events.GoalClosed{GoalID: id, Outcome: outcome})
	if again && outcome == "achieved" && f.chance(0.4) {
		if nt := f.within(closeAt, 14, 45); f.active(nt) {
			f.goal(domain, nt, false)
		}
	}
}

func nextAchievement(f *sim, cur string) string {
	switch cur {
	case "improving", "sustaining":
		return pick(f, "improving", "sustaining", "sustaining", "no-change", "worsening")
	case "worsening", "no-progress":
		return pick(f, "no-change", "improving", "worsening", "no-progress")
	default:
		return pick(f, "in-progress", "improving", "improving", "no-change", "worsening")
	}
}

// meetings: the rhythm of the course, from the family's own meetings to
// the team's.
func (f *sim) meetings() {
	every := func(kind string, lo, hi int, dept func() events.Department, who func() []string) {
		for t := f.within(f.enrolment, lo/2, hi/2); f.active(t); t = f.within(t, lo, hi) {
			f.add(t, dept(), &events.MeetingHeld{Kind: kind, Participants: who()})
		}
	}
	sofOrBif := func() events.Department { return pick(f, events.SOF, events.BIF) }
	pair := func() []string { return []string{f.jobConsultant, f.familyWorker} }
	every("family", 35, 50, sofOrBif, pair)
	every("job-centre", 28, 42, func() events.Department { return events.BIF }, func() []string { return []string{f.jobConsultant} })
	every("network", 90, 120, func() events.Department { return events.SOF }, func() []string {
		return compact(f.caseworker, f.jobConsultant, f.familyWorker, f.teacher, f.healthVisitor)
	})
	every("team", 42, 60, func() events.Department { return pick(f, events.SOF, events.SOF, events.BIF, events.BUF, events.SUF) },
		func() []string {
			return compact(append([]string{f.caseworker, f.jobConsultant, f.familyWorker}, f.team...)...)
		})
	for _, t := range terms {
		m := f.at(t.start.Add(days(f.intn(30, 60))))
		if f.active(m) {
			f.add(m, events.BUF, &events.MeetingHeld{Kind: "school-home", Participants: compact(f.teacher, f.familyWorker)})
		}
	}
}

// compact drops empty and repeated ids, keeping the first occurrence.
func compact(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// employment is one parent's way towards work: Job First's small steps,
// praktik, wage subsidy, a job or an education, or a health barrier.
func (f *sim) employment(i int) {
	p := f.parents[i]
	if p.benefit == "" {
		return
	}
	path := (f.n + i) % 5 // 0 subsidy, 1 small job, 2 education, 3 health barrier, 4 slow start
	start := f.at(months(f.enrolment, f.intn(1, 4)))
	if path == 4 {
		start = f.at(months(f.enrolment, f.intn(5, 9)))
	}
	if !f.active(start) {
		return
	}
	pr := f.next("PR")
	weeks := 13
	started := &events.PraktikStarted{PraktikID: pr, PersonID: p.id, Employer: f.cvr(),
		HoursPerWeek: float64(pick(f, 8, 10, 12, 15, 20, 25)), PlannedEnd: ymd(start.Add(days(7 * weeks)))}
	if upgraded(events.BIF, start) {
		employer := events.PraktikEmployer{Cvr: started.Employer}
		if f.chance(0.7) {
			employer.PNumber = f.pNumber()
		}
		f.add(start, events.BIF, &events.PraktikStartedV2{PraktikID: pr, PersonID: p.id, Employer: employer,
			HoursPerWeek: started.HoursPerWeek, PlannedEnd: started.PlannedEnd})
	} else {
		f.add(start, events.BIF, started)
	}
	end := f.within(start, 7*weeks-20, 7*weeks)
	outcome := map[int]string{0: "completed", 1: "job", 2: "education", 3: "cancelled", 4: "completed"}[path]
	if end.After(f.end) && !f.courseEnd.IsZero() {
		end, outcome = f.within(f.courseEnd, 0, 5), "cancelled"
	}
	f.add(end, events.BIF, &events.PraktikEnded{PraktikID: pr, Outcome: outcome})
	if !f.active(end) {
		return
	}
	switch path {
	case 0, 4:
		s := f.within(end, 14, 45)
		if !f.active(s) {
			return
		}
		ls := f.next("LT")
		f.add(s, events.BIF, &events.WageSubsidyStarted{SubsidyID: ls, PersonID: p.id, Employer: f.cvr(),
			Sector: pick(f, "private", "private", "public"), PlannedEnd: ymd(months(s, 6))})
		e := f.at(months(s, f.intn(5, 6)))
		job := f.chance(0.6)
		out := "completed"
		if job {
			out = "job"
		}
		f.add(e, events.BIF, &events.WageSubsidyEnded{SubsidyID: ls, Outcome: out})
		if job {
			f.add(e.Add(time.Hour), events.BIF, &events.EmploymentStarted{PersonID: p.id, Kind: "ordinary", HoursPerWeek: float64(f.intn(25, 37))})
			f.add(e.Add(2*time.Hour), events.BIF, &events.BenefitEnded{PersonID: p.id, Benefit: p.benefit, Reason: "employment"})
		}
	case 1:
		f.add(end.Add(time.Hour), events.BIF, &events.EmploymentStarted{PersonID: p.id, Kind: "small-job", HoursPerWeek: float64(f.intn(8, 15))})
		if f.chance(0.5) {
			t := f.at(months(end, f.intn(4, 9)))
			f.add(t, events.BIF, &events.EmploymentStarted{PersonID: p.id, Kind: pick(f, "ordinary", "ordinary", "flexjob"), HoursPerWeek: float64(f.intn(20, 37))})
			f.add(t.Add(time.Hour), events.BIF, &events.BenefitEnded{PersonID: p.id, Benefit: p.benefit, Reason: "employment"})
		}
	case 2:
		// Educations start in August or January.
		s := date(end.Year(), 8, 12)
		if !end.Before(s) {
			s = date(end.Year()+1, 1, 6)
		}
		t := f.at(s)
		f.add(t, events.BIF, &events.EducationStarted{PersonID: p.id, Programme: pick(f, programmes...)})
		f.add(t.Add(time.Hour), events.BIF, &events.BenefitEnded{PersonID: p.id, Benefit: p.benefit, Reason: "education"})
	case 3:
		f.add(f.within(start, 20, 40), events.SUF, &events.HealthAssessed{PersonID: p.id, BarrierToWork: true})
		if p.benefit == "kontanthjaelp" {
			t := f.at(months(end, f.intn(1, 3)))
			f.add(t, events.BIF, &events.BenefitEnded{PersonID: p.id, Benefit: p.benefit, Reason: "other"})
			f.add(t.Add(time.Hour), events.BIF, &events.BenefitGranted{PersonID: p.id, Benefit: "ressourceforloeb"})
		}
	}
}

// cvr is an employer's CVR number: eight digits, never starting with 0.
// The department systems move to the v2 event types on different days, as
// they would: BIF's job-centre system in January 2024, the others in September.
// Before that they send v1, so the demo holds both versions of goal.set
// and praktik.started, mixed within families.
var upgrades = map[events.Department]time.Time{events.BIF: date(2024, 1, 1)}

const upgradeOthers = "2024-09-01"

func upgraded(d events.Department, t time.Time) bool {
	at, ok := upgrades[d]
	if !ok {
		at, _ = time.Parse(time.DateOnly, upgradeOthers)
	}
	return !t.Before(at)
}

// goalV2 is the goal as a system that sends goal.set.v2 states it: some
// goals span a second domain, and some have a description.
func (f *sim) goalV2(g *events.GoalSet) *events.GoalSetV2 {
	v2 := &events.GoalSetV2{GoalID: g.GoalID, Title: g.Title, Domains: []string{g.Domain}, PersonID: g.PersonID, Due: g.Due, ExpressedBy: g.ExpressedBy}
	if f.chance(0.4) {
		second := pick(f, "family", "economy", "health", "child-wellbeing")
		if second != g.Domain {
			v2.Domains = append(v2.Domains, second)
		}
	}
	if f.chance(0.5) {
		v2.Description = pick(f, goalDescriptions...)
	}
	return v2
}

var goalDescriptions = []string{
	"Familien vil have mere ro i hverdagen, så der er tid til lektier og aftensmad.",
	"Målet er aftalt på netværksmødet; familien følger selv op hver måned.",
	"Det vigtigste for familien er, at arbejdstiden passer med at hente børnene.",
	"Skridt for skridt: først faste mødetider, så flere timer.",
}

// pNumber is a synthetic P-number: 1000 and six digits, which no date
// and hence no CPR number begins with (month 00).
func (f *sim) pNumber() string { return fmt.Sprintf("1000%06d", f.r.IntN(1_000_000)) }

func (f *sim) cvr() string { return fmt.Sprintf("%d%07d", f.intn(1, 4), f.r.IntN(10_000_000)) }

// teenJobs: a leisure-time job for a teenager, as the pilot encouraged.
func (f *sim) teenJobs() {
	teen := f.teen(2024)
	if teen == "" || !f.chance(0.5) {
		return
	}
	t := f.at(months(f.enrolment, f.intn(3, 10)))
	if !f.active(t) {
		return
	}
	if f.chance(0.5) {
		f.add(t, events.BIF, &events.EmploymentStarted{PersonID: teen, Kind: "fritidsjob", HoursPerWeek: float64(f.intn(4, 10))})
	} else {
		f.add(t, events.BUF, &events.LeisureStarted{ChildID: teen, Kind: "fritidsjob", Name: "Fritidsjob via Tingbjerg Ungdomsklub"})
	}
}

// health: SUF's assessment of whether health stands in the way of work,
// referrals, and consultations in general practice under the consent.
func (f *sim) health() {
	for _, p := range f.parents {
		if p.benefit != "" {
			barrier := f.chance(0.3)
			t := f.within(f.enrolment, 30, 90)
			if f.active(t) {
				f.add(t, events.SUF, &events.HealthAssessed{PersonID: p.id, BarrierToWork: barrier})
				if barrier || f.chance(0.2) {
					f.add(f.within(t, 7, 30), events.SUF, &events.HealthReferred{PersonID: p.id, To: pick(f, healthServices...)})
				}
			}
		}
	}
	people := append(slices.Clone(f.parents), f.children...)
	for k, p := range people {
		if p.gpFrom.IsZero() {
			continue
		}
		until := f.end
		if !p.gpUntil.IsZero() && p.gpUntil.Before(until) {
			until = p.gpUntil
		}
		child := k >= len(f.parents)
		lo, hi := 60, 150
		if child {
			lo, hi = 120, 240
		}
		for t := f.within(p.gpFrom, 10, hi); t.Before(until); t = f.within(t, lo, hi) {
			cat := pick(f, "mental-health", "physical", "physical", "other")
			if child {
				cat = "child-health"
			}
			f.add(t, events.SUF, &events.GPConsultationHeld{PersonID: p.id, Category: cat})
		}
	}
}

// term is a school half-year.
type term struct {
	start, end time.Time
	days       int
}

var terms = []term{
	{date(2023, 1, 3), date(2023, 6, 23), 108},
	{date(2023, 8, 14), date(2023, 12, 21), 88},
	{date(2024, 1, 3), date(2024, 6, 21), 107},
	{date(2024, 8, 12), date(2024, 12, 20), 89},
}

// school: BUF's absence per child and term (falling during the course, as
// the pilot hoped), the yearly national well-being survey, PPR and leisure.
func (f *sim) school() {
	for _, c := range f.children {
		// Each child has a baseline profile; the course lowers the
		// unauthorised share, more the longer it has run.
		unauth := 0.03 + 0.15*f.r.Float64()
		sick := 0.03 + 0.05*f.r.Float64()
		wb := 2.4 + 1.4*f.r.Float64()
		for _, tm := range terms {
			age := tm.start.Year() - c.birthYear
			if age < 6 || age > 16 {
				continue
			}
			u := unauth
			if tm.start.After(f.enrolment) && tm.start.Before(f.end) {
				monthsIn := tm.end.Sub(f.enrolment).Hours() / 24 / 30
				u *= max(0.35, 1-0.04*monthsIn)
			}
			u *= 0.8 + 0.4*f.r.Float64()
			a := events.AbsentDays{
				Sickness:     int(float64(tm.days) * sick * (0.7 + 0.6*f.r.Float64())),
				Authorised:   f.intn(0, 3),
				Unauthorised: int(float64(tm.days) * u),
			}
			// Noted in the week after the term; the autumn term before
			// Christmas.
			noted := tm.end.Add(days(f.intn(3, 10)))
			if tm.end.Month() == time.December {
				noted = tm.end.Add(days(f.intn(0, 2)))
			}
			f.add(f.at(noted), events.BUF, &events.SchoolAbsenceNoted{ChildID: c.id, PeriodStart: ymd(tm.start), PeriodEnd: ymd(tm.end),
				SchoolDays: tm.days, AbsentDays: a})
		}
		for _, y := range []int{2023, 2024} {
			age := y - c.birthYear
			if age < 6 || age > 16 {
				continue
			}
			t := f.at(date(y, 2, 1).Add(days(f.intn(0, 40))))
			score := wb
			if t.After(f.enrolment.Add(days(120))) && t.Before(f.end) {
				score += 0.3 + 0.4*f.r.Float64()
			}
			f.add(t, events.BUF, &events.WellbeingMeasured{ChildID: c.id, Instrument: "national-trivselsmaaling",
				Score: float64(int(min(score, 5)*10)) / 10})
		}
	}
	if len(f.children) > 0 && f.n%3 != 2 {
		c := f.children[f.r.IntN(len(f.children))]
		t := f.within(f.referral, -90, 60)
		f.add(t, events.BUF, &events.PPRReferred{ChildID: c.id, Reason: pick(f, pprReasons...)})
		// PPR's psychologist joins the team and measures with SDQ.
		if j := f.within(t, 20, 50); f.active(j) && f.chance(0.5) {
			psych := f.employee("E7", 4)
			f.add(j, events.BUF, &events.TeamMemberJoined{EmployeeID: psych, Role: "ppr-psychologist"})
			f.team = append(f.team, psych)
			f.add(j.Add(days(7)), events.BUF, &events.WellbeingMeasured{ChildID: c.id, Instrument: "sdq-total", Score: float64(f.intn(14, 26))})
			if again := f.at(months(j, 9)); f.active(again) {
				f.add(again, events.BUF, &events.WellbeingMeasured{ChildID: c.id, Instrument: "sdq-total", Score: float64(f.intn(8, 20))})
			}
		}
	}
	for _, c := range f.children {
		if 2024-c.birthYear < 7 || !f.chance(0.55) {
			continue
		}
		t := f.at(months(f.enrolment, f.intn(2, 10)))
		if f.active(t) {
			l := pick(f, leisure...)
			f.add(t, events.BUF, &events.LeisureStarted{ChildID: c.id, Kind: l.kind, Name: l.name})
		}
	}
}

// evaluations: midway after a year, final when a course ends.
func (f *sim) evaluations() {
	mid := f.at(months(f.enrolment, 12).Add(days(f.intn(0, 14))))
	if f.active(mid) {
		f.add(mid, events.SOF, &events.EvaluationRecorded{Kind: "midway", FamilySatisfaction: f.intn(3, 5),
			ChildWellbeing: f.intn(2, 5), Note: pick(f, evaluationNotes...)})
	}
	if !f.courseEnd.IsZero() {
		f.add(f.within(f.courseEnd, 7, 21), events.SOF, &events.EvaluationRecorded{Kind: "final",
			FamilySatisfaction: f.intn(1, 4), ChildWellbeing: f.intn(2, 4), Note: endNotes[f.endReason]})
	}
}

// ending: a course that ends early ends with course.ended and the team
// leaving.
func (f *sim) ending() {
	if f.courseEnd.IsZero() {
		return
	}
	f.add(f.courseEnd, events.SOF, &events.CourseEnded{Reason: f.endReason})
	for _, emp := range f.team {
		f.add(f.within(f.courseEnd, 1, 10), events.SOF, &events.TeamMemberLeft{EmployeeID: emp})
	}
}
