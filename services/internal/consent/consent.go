// Package consent is the policy that decides which events coordinators
// see, as data: which departments' events about a person need which
// consent scope in force for that person. The projector applies it in one
// place that every coordinator read goes through (the overview, the
// timeline, its stream, the family list and the web app); auditors are
// not gated.
//
// The rule is judged now: what counts is the consent in force at the
// moment the entry is read, not when the event happened. Withdrawing a
// consent hides the person's gated events from then on; giving it again
// shows them again. A consent event dated after the read's moment (ingest
// accepts times a little ahead) is not in force at that read yet; a read
// after its time judges by it.
package consent

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// Rule says that events of Department about a person are shown to
// coordinators only while that person has a consent of Scope in force.
// An empty Scope shows them always.
type Rule struct {
	Department events.Department
	Scope      string
}

// Policy is the table: one rule per department. An event about no person
// (none of PersonFields in its data) is shown whatever its rule says.
var Policy = []Rule{
	{Department: events.SOF, Scope: ""},
	{Department: events.BIF, Scope: ""},
	{Department: events.BUF, Scope: events.ScopeDataSharing},
	{Department: events.SUF, Scope: events.ScopeDataSharing},
}

// PersonFields are the members of an event's data that say which person
// the event is about.
var PersonFields = []string{"personId", "childId"}

// ReferenceFields are the members of an event's data that name, by its
// id, what an earlier event about a person began: a follow-up names its
// goal, case, measure, praktik, subsidy or course and often no person
// (goal.progressed and goal.closed name only the goalId, yet their note
// and outcome are about the goal's person). Such an entry is judged as
// the event it refers to (Openers): it is hidden exactly when that one
// is, and hidden when the family has no such event the gate can judge by
// (quarantined, say), unless the policy shows every department's events
// of that kind (Gate.HidesUnknown).
var ReferenceFields = []string{"goalId", "caseId", "measureId", "praktikId", "subsidyId", "courseId"}

// Openers are, by field of ReferenceFields, the catalog name of the event
// that begins what the id names: the event a follow-up naming the id is
// judged as.
var Openers = map[string]string{
	"goalId":    "goal.set",
	"caseId":    "childcase.opened",
	"measureId": "measure.started",
	"praktikId": "praktik.started",
	"subsidyId": "wagesubsidy.started",
	"courseId":  "languagecourse.started",
}

// OpenerTypes are the CloudEvents types of Openers as the read model
// stores them (the latest version of each), sorted.
var OpenerTypes = func() []string {
	var out []string
	for _, f := range ReferenceFields {
		s, ok := events.ByName(Openers[f])
		if !ok {
			panic("consent: no catalog type " + Openers[f])
		}
		out = append(out, s.Latest().Type())
	}
	slices.Sort(out)
	return out
}()

// ErrPolicy is a policy that cannot be evaluated for a department: no
// rule, or more than one.
var ErrPolicy = errors.New("consent: the policy has no single rule for the department")

// ruleOf is the scope that d's events about a person need.
func ruleOf(policy []Rule, d string) (string, error) {
	var (
		scope string
		n     int
	)
	for _, r := range policy {
		if string(r.Department) == d {
			scope, n = r.Scope, n+1
		}
	}
	if n != 1 {
		return "", fmt.Errorf("%w %q", ErrPolicy, d)
	}
	return scope, nil
}

type key struct{ person, scope string }

// ref is an id in one of ReferenceFields.
type ref struct{ field, id string }

// owner is what the event that a ref names was about: its department,
// persons (none when it is about no one) and sequence. An opener whose
// fields cannot be read is no owner: its follow-ups are of an unknown id
// (hidesUnknown).
type owner struct {
	dept    string
	persons []string
	seq     uint64
}

// Gate is the policy applied to one family's consents in force at one
// moment: it says of each entry whether it is hidden.
type Gate struct {
	policy []Rule
	// decisions are the consent decisions folded of each person and
	// scope, in time order (family.State.ConsentDecisions).
	decisions map[key][]family.ConsentDecision
	// at is the moment the gate judges at; inForce holds the consents in
	// force then.
	at      time.Time
	inForce map[key]bool
	// owners are, of each id a follow-up may name, the event it refers
	// to (Refer).
	owners  map[ref]owner
	closed  bool
	through uint64
}

// ConsentEvent is a consent.given or consent.withdrawn of the family, as
// stored: CloudEvents type and data.
type ConsentEvent struct {
	Sequence uint64
	Type     string
	Data     []byte
	// Time is the event's time: of a person's consent events of one
	// scope, the latest in time not after the gate's moment decides, as in
	// the family's fold.
	Time time.Time
}

var (
	typeGiven     = typeOf("consent.given")
	typeWithdrawn = typeOf("consent.withdrawn")
)

func typeOf(name string) string {
	s, ok := events.ByName(name)
	if !ok {
		panic("consent: no catalog type " + name)
	}
	return s.Type()
}

// IsConsentType reports whether t (a CloudEvents type) changes consents.
func IsConsentType(t string) bool { return t == typeGiven || t == typeWithdrawn }

// NewAt folds the family's consents and judges them at the moment at (the
// read's): its consent decisions at a position (as its row holds them,
// family.State.ConsentDecisions, in time order) and the consent events
// stored after it, in stream order. As in the family's fold, the decision
// in force is the latest in time not later than at, so a backfilled
// consent.given cannot bring back a consent withdrawn after it, and a
// decision dated after at is not in force yet. through is the last
// sequence the caller read consent events up to: a gated entry stored
// after it is hidden, since the consents it would be judged by are not
// known yet. An event that cannot be read is an error, and the gate it
// returns is closed.
func NewAt(policy []Rule, decided []family.ConsentDecision, later []ConsentEvent, through uint64, at time.Time) (*Gate, error) {
	g := &Gate{policy: policy, decisions: map[key][]family.ConsentDecision{}, at: at, inForce: map[key]bool{}, owners: map[ref]owner{}, through: through}
	for _, d := range decided {
		g.decide(d)
	}
	for _, e := range later {
		if err := g.fold(e); err != nil {
			return Closed(policy), err
		}
	}
	for _, d := range events.Departments {
		if _, err := ruleOf(policy, string(d)); err != nil {
			return Closed(policy), err
		}
	}
	return g, nil
}

// fold applies one consent event.
func (g *Gate) fold(e ConsentEvent) error {
	var d struct {
		PersonID string `json:"personId"`
		Scope    string `json:"scope"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil || d.PersonID == "" || d.Scope == "" {
		return fmt.Errorf("consent: event %d cannot be read", e.Sequence)
	}
	if e.Type != typeGiven && e.Type != typeWithdrawn {
		return fmt.Errorf("consent: event %d is a %s, not a consent", e.Sequence, e.Type)
	}
	g.decide(family.ConsentDecision{PersonID: d.PersonID, Scope: d.Scope, InForce: e.Type == typeGiven, At: e.Time})
	return nil
}

// decide places d after every decision of its person and scope not later
// than it (of two at one time the later stored is the later decision, as
// in the family's fold), and judges that consent at the gate's moment.
func (g *Gate) decide(d family.ConsentDecision) {
	k := key{d.PersonID, d.Scope}
	ds := g.decisions[k]
	i := len(ds)
	for i > 0 && d.At.Before(ds[i-1].At) {
		i--
	}
	ds = slices.Insert(ds, i, d)
	g.decisions[k] = ds
	g.judge(k)
}

// judge sets whether the consent k is in force at the gate's moment.
func (g *Gate) judge(k key) {
	if family.ConsentInForce(g.decisions[k], g.at) {
		g.inForce[k] = true
	} else {
		delete(g.inForce, k)
	}
}

// JudgeAt moves the moment the gate judges at to t, for a read that lasts
// (a stream): a decision dated between the former moment and t is in
// force from then on.
func (g *Gate) JudgeAt(t time.Time) {
	if g.closed || !t.After(g.at) {
		return
	}
	g.at = t
	for k := range g.decisions {
		g.judge(k)
	}
}

// InForce are the consents in force at the gate's moment, by person then
// scope; none when the gate is closed.
func (g *Gate) InForce() []family.Consent {
	out := []family.Consent{}
	if g.closed {
		return out
	}
	for k := range g.inForce {
		out = append(out, family.Consent{PersonID: k.person, Scope: k.scope})
	}
	slices.SortFunc(out, func(a, b family.Consent) int {
		return cmp.Or(cmp.Compare(a.PersonID, b.PersonID), cmp.Compare(a.Scope, b.Scope))
	})
	return out
}

// Observe moves the gate on over one more event of the family, stored
// after what it knows (a live stream's): a consent event changes what it
// shows from then on. An event it knows already changes nothing. A
// consent event it cannot read is an error, and the caller closes the
// gate.
func (g *Gate) Observe(e ConsentEvent) error {
	if g.closed || e.Sequence <= g.through {
		return nil
	}
	if IsConsentType(e.Type) {
		if err := g.fold(e); err != nil {
			return err
		}
	}
	g.through = e.Sequence
	return nil
}

// Refer records an event of the family of type typ (a CloudEvents type)
// that begins what it names in ReferenceFields (Openers: a goal.set, about
// a person or not): a later entry that names the same id and no person is
// judged as this event. The first event (in stream order) to open an id
// keeps it. Events of other types are ignored. The caller hands the gate
// every such event up to what it knows (readmodel's References), then, on
// a stream, each entry as it comes.
func (g *Gate) Refer(typ, dept string, data []byte, seq uint64) {
	spec, ok := events.ByType(typ)
	if !ok {
		return
	}
	var fields []string
	for _, f := range ReferenceFields {
		if Openers[f] == spec.Name {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return
	}
	persons, refs, _ := fieldsOf(data)
	for _, r := range refs {
		if !slices.Contains(fields, r.field) {
			continue
		}
		if o, known := g.owners[r]; known && o.seq <= seq {
			continue
		}
		if g.owners == nil {
			g.owners = map[ref]owner{}
		}
		g.owners[r] = owner{dept: dept, persons: persons, seq: seq}
	}
}

// ownerHidden reports whether the event o is hidden now, judged at
// sequence seq.
func (g *Gate) ownerHidden(o owner, seq uint64) bool {
	return g.hiddenAbout(o.dept, o.persons, seq)
}

// HiddenReferences are, by field of ReferenceFields, the ids whose event
// (Refer) is hidden now: the entries that name one and no person are
// hidden too (readmodel.Hide.Refs).
func (g *Gate) HiddenReferences() map[string][]string {
	out := map[string][]string{}
	for r, o := range g.owners {
		if g.ownerHidden(o, o.seq) {
			out[r.field] = append(out[r.field], r.id)
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// KnownReferences are, by field of ReferenceFields, the ids whose event
// the gate knows (Refer), sorted (readmodel.Hide.Known).
func (g *Gate) KnownReferences() map[string][]string {
	out := map[string][]string{}
	for r := range g.owners {
		out[r.field] = append(out[r.field], r.id)
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// HidesUnknown are the fields of ReferenceFields whose follow-ups are
// hidden when the gate knows no event that opened their id: those whose
// opener some department may emit whose events the policy gates (or that
// has no single rule), and every one when the gate is closed. A follow-up
// whose event cannot be read (quarantined) may be about anyone.
func (g *Gate) HidesUnknown() []string {
	var out []string
	for _, f := range ReferenceFields {
		if g.hidesUnknown(f) {
			out = append(out, f)
		}
	}
	return out
}

func (g *Gate) hidesUnknown(field string) bool {
	if g.closed {
		return true
	}
	spec, ok := events.ByName(Openers[field])
	if !ok {
		return true
	}
	for _, d := range spec.Owners {
		if g.gated(string(d)) {
			return true
		}
	}
	return false
}

// Policy is the table the gate applies.
func (g *Gate) Policy() []Rule { return g.policy }

// Closed is the gate that fails closed: every entry of a department whose
// rule needs a consent, or that has no rule, is hidden, whoever it is
// about. Entries of no department (the service's) are shown.
func Closed(policy []Rule) *Gate { return &Gate{policy: policy, closed: true} }

// IsClosed reports whether the gate fails closed.
func (g *Gate) IsClosed() bool { return g.closed }

// Through is the last sequence whose consents the gate knows; 0 when it
// is not bounded (closed).
func (g *Gate) Through() uint64 { return g.through }

// Shown are the persons whose events need scope and are shown now, that
// is, who have a consent of scope in force, sorted.
func (g *Gate) Shown(scope string) []string {
	out := []string{}
	if g.closed {
		return out
	}
	for k := range g.inForce {
		if k.scope == scope {
			out = append(out, k.person)
		}
	}
	slices.Sort(out)
	return out
}

// Group is one scope of the policy as a query applies it: entries of
// Departments that name a person not in Shown are hidden.
type Group struct {
	Scope       string
	Departments []string
	Shown       []string
}

// Groups are the policy's scopes with their departments and the persons
// shown, for a query that excludes hidden entries (readmodel.Hide); whole
// are the departments hidden whatever their entries are about (every
// department with a scope, or without a single rule, when the gate is
// closed). Both name only departments (events.Departments): what else
// stored an event is outside the policy and never hidden (HiddenEntry
// judges alike).
func (g *Gate) Groups() (groups []Group, whole []string) {
	byScope := map[string]int{}
	for _, d := range events.Departments {
		scope, err := ruleOf(g.policy, string(d))
		switch {
		case err != nil || (g.closed && scope != ""):
			whole = append(whole, string(d))
		case scope != "":
			i, ok := byScope[scope]
			if !ok {
				i = len(groups)
				byScope[scope] = i
				groups = append(groups, Group{Scope: scope, Shown: g.Shown(scope)})
			}
			groups[i].Departments = append(groups[i].Departments, string(d))
		}
	}
	return groups, whole
}

// HiddenEntry reports whether an entry of department dept with this data,
// stored at sequence seq, is hidden from coordinators now. It never fails:
// an entry of a department it cannot judge is hidden. An entry of an
// emitter outside the policy, which is no department (the service's own
// family.erased), is never hidden by consent, as Groups leaves it out of
// what a query hides. An entry that names no person but names, in
// ReferenceFields, what an earlier event began is hidden when that event
// is (whatever department the follow-up came from), and when the gate
// knows no such event and the policy gates some department that may emit
// one (HidesUnknown); when the gate is closed, or the entry was stored
// after what the gate knows, every such follow-up is hidden.
func (g *Gate) HiddenEntry(dept string, data []byte, seq uint64) bool {
	if _, ok := events.ParseDepartment(dept); !ok {
		return false
	}
	persons, refs, ok := fieldsOf(data)
	if ok && len(persons) == 0 {
		if len(refs) > 0 {
			if g.closed || seq > g.through {
				return true
			}
			for _, r := range refs {
				o, known := g.owners[r]
				if known && g.ownerHidden(o, seq) || !known && g.hidesUnknown(r.field) {
					return true
				}
			}
		}
	}
	if !ok {
		persons = nil
	}
	return g.hiddenAbout(dept, persons, seq) || (!ok && g.gated(dept))
}

// gated reports whether dept's events about a person need a consent (or
// dept has no single rule).
func (g *Gate) gated(dept string) bool {
	scope, err := ruleOf(g.policy, dept)
	return err != nil || scope != ""
}

// hiddenAbout reports whether an entry of department dept about persons,
// stored at sequence seq, is hidden now.
func (g *Gate) hiddenAbout(dept string, persons []string, seq uint64) bool {
	scope, err := ruleOf(g.policy, dept)
	if err != nil {
		return true
	}
	if scope == "" {
		return false
	}
	if g.closed {
		return true
	}
	for _, p := range persons {
		if seq > g.through || !g.inForce[key{p, scope}] {
			return true
		}
	}
	return false
}

// fieldsOf reads, parsing the data once, its PersonFields and the
// ReferenceFields that hold a non-empty string; ok is false when the data
// is not a JSON object or one of PersonFields is not a string.
func fieldsOf(data []byte) (persons []string, refs []ref, ok bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, nil, false
	}
	for _, f := range PersonFields {
		raw, ok := m[f]
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, nil, false
		}
		persons = append(persons, s)
	}
	for _, f := range ReferenceFields {
		var s string
		if raw, ok := m[f]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
			refs = append(refs, ref{f, s})
		}
	}
	return persons, refs, true
}
