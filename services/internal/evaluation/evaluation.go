// Package evaluation computes the pilot's effects from the events: the
// measures of the catalog (catalog.go, published in docs/EVALUATION.md)
// for a moment on the events' time (asOf) as known at a moment of
// recording (knownAt), alone or as a series, with statistical disclosure
// control (suppress.go) so that figures are safe to publish.
//
// The fold (fold.go) reads each family's events in the order of their
// CloudEvents time, then stream sequence: an evaluation describes what
// happened by asOf, so a backfilled event counts from the time it says it
// happened, once it is known. knownAt leaves out events recorded (the
// JetStream timestamp) after it, so a published figure can be computed
// again, identically, after later backfills.
//
// The package reads events only; where they come from (the projector's
// read model, a replay of the stream) is the caller's business.
package evaluation

import (
	"cmp"
	"encoding/json"
	"errors"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// Copenhagen is the time zone of the pilot's days: a date the evaluation
// reads (asOf, a series' bounds, courseStart, a school absence period) is
// a day in Copenhagen (family.Copenhagen).
var Copenhagen = family.Copenhagen

// ParseDay is the first moment in Copenhagen of the date s (YYYY-MM-DD).
var ParseDay = family.ParseDay

// Event is what an evaluation reads of one stored event.
type Event struct {
	Sequence uint64
	FamilyID string
	// Time is the CloudEvents time, Recorded the JetStream timestamp, both
	// in Unix nanoseconds.
	Time, Recorded int64
	Data           events.Payload
}

// FromEnvelope is the Event of a decoded stored envelope; ok is false
// when no measure depends on its type.
//
// The fold reads the latest version of each type: an envelope of an
// earlier version is upcast here, so that a caller that decoded with
// events.DecodeStored rather than DecodeLatest still counts it.
func FromEnvelope(seq uint64, recorded time.Time, env events.Envelope) (Event, bool) {
	if env.Data == nil || !Relevant(env.Spec.Name) {
		return Event{}, false
	}
	if up, err := events.Upcast(env); err == nil {
		env = up
	} else {
		return Event{}, false
	}
	return Event{Sequence: seq, FamilyID: env.FamilyID, Time: env.Time().UnixNano(),
		Recorded: recorded.UnixNano(), Data: env.Data}, true
}

// Options are the settings of an evaluation.
type Options struct {
	// Target is families.target; Threshold the smallest count shown
	// (1 up to Threshold-1 is suppressed); Suppress applies disclosure
	// control.
	Target, Threshold int
	Suppress          bool
}

// DefaultThreshold is the smallest number of units a published figure
// rests on.
const DefaultThreshold = 5

// DefaultTarget is the pilot's target (the 2017 investment case).
const DefaultTarget = 50

// Measure is one figure. Value is nil when suppressed or when no unit
// contributes to a mean or share.
type Measure struct {
	Value      *float64 `json:"value"`
	Suppressed bool     `json:"suppressed"`
	// Count is the number of units the figure rests on (families,
	// persons, children, answers); for a count, the value itself.
	Count int  `json:"count"`
	Unit  Unit `json:"unit"`
	// countedIn is, for a Proportion, how many of its Count units it
	// counts in (the share's numerator). Suppression needs it; it is not
	// published, since a shown share gives it only with its count, and a
	// suppressed one must not give it at all.
	countedIn int
	// families is how many families the units come from (for a count,
	// what it counts); familiesIn and familiesOut, for a Proportion, those
	// of the units it counts in and leaves out. Suppression needs them;
	// they are not published.
	families, familiesIn, familiesOut int
}

// Result is the catalog's measures at one moment.
type Result struct {
	AsOf     time.Time          `json:"asOf"`
	KnownAt  time.Time          `json:"knownAt"`
	Position uint64             `json:"position"`
	Measures map[string]Measure `json:"measures"`
}

// Series is the catalog's measures at several moments, column by column,
// so that a chart reads one measure's values as one array.
type Series struct {
	From     time.Time                `json:"from"`
	To       time.Time                `json:"to"`
	Step     string                   `json:"step"`
	KnownAt  time.Time                `json:"knownAt"`
	Position uint64                   `json:"position"`
	AsOf     []time.Time              `json:"asOf"`
	Measures map[string]SeriesMeasure `json:"measures"`
}

// SeriesMeasure is one measure over a series' moments.
type SeriesMeasure struct {
	Unit       Unit       `json:"unit"`
	Values     []*float64 `json:"values"`
	Suppressed []bool     `json:"suppressed"`
	Counts     []int      `json:"counts"`
}

// Steps of a series.
const (
	StepMonth   = "month"
	StepQuarter = "quarter"
)

// MaxPoints is the most moments of one series.
const MaxPoints = 240

// ErrSeries: a series' bounds or step are wrong.
var ErrSeries = errors.New("evaluation: a series needs from ≤ to within the years 1900–2200, step month or quarter, and at most 240 moments")

// InRange reports whether t is a moment the evaluation can fold at
// (family.InRange).
var InRange = family.InRange

// Moments are the moments of a series: from, then every step after it,
// up to and including to. A day that a month lacks is that month's last
// (from 31 January: 29 February, 31 March, 30 April), so that every month
// has its moment. The months are Copenhagen's: each moment is at from's
// time of day there, so a series from a date stays on Copenhagen's
// midnights when the clocks change (in UTC, 23:00 in winter and 22:00 in
// summer).
func Moments(from, to time.Time, step string) ([]time.Time, error) {
	months := map[string]int{StepMonth: 1, StepQuarter: 3}[step]
	if months == 0 || to.Before(from) || !InRange(from) || !InRange(to) {
		return nil, ErrSeries
	}
	from = from.In(Copenhagen)
	var out []time.Time
	for i := 0; ; i++ {
		t := AddMonths(from, i*months)
		if t.After(to) {
			break
		}
		if len(out) == MaxPoints {
			return nil, ErrSeries
		}
		out = append(out, t)
	}
	return out, nil
}

// AddMonths is t n months later (or earlier), on the same day or, where
// that month is shorter, on its last (time.AddDate would run over into the
// next month).
func AddMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

// Compute evaluates evs (in any order) at asOf as known at knownAt.
func Compute(evs []Event, asOf, knownAt time.Time, o Options) Result {
	return indexOf(evs).Compute(asOf, knownAt, o)
}

// ComputeSeries evaluates evs at every moment of moments (ascending) as
// known at knownAt, folding each family once.
func ComputeSeries(evs []Event, moments []time.Time, knownAt time.Time, o Options) []Result {
	return indexOf(evs).ComputeSeries(moments, knownAt, o)
}

func indexOf(evs []Event) *Index {
	x := NewIndex()
	for _, e := range evs {
		x.Add(e)
	}
	return x
}

// Index holds the events an evaluation reads, family by family, each
// family's in the order the fold reads them (time, then sequence), so
// that an evaluation is one pass over them: nothing is grouped or sorted
// per request. It is safe for concurrent use; Add waits for evaluations
// under way.
//
// It holds of each event only what the fold reads (a fact, facts.go):
// its kind, and up to three strings or lists of strings, kept once each
// in the index's texts, or numbers. An enrolment, which the fold reads
// more of, keeps its payload in its family's side list.
type Index struct {
	mu       sync.RWMutex
	ids      map[string]int
	families []familyEvents
	// order is the families in the order of their ids, so that sums are
	// added in the same order whenever they are computed.
	order  []int
	sorted bool
	n      int
	txt    texts
}

type familyEvents struct {
	id   string
	evs  []entry
	side []events.Payload
}

// entry is an event as the index holds it. Its family is the one it is
// filed under: an Event's FamilyID may be a slice of its whole decoded
// envelope (the id, subject and time share one allocation), which the
// index would otherwise keep alive for every event it holds.
type entry struct {
	seq            uint64
	time, recorded int64
	fact
}

// NewIndex is an empty index.
func NewIndex() *Index { return &Index{ids: map[string]int{}} }

// Add puts e in its family's order; an event of a time before the
// family's latest (a backfill) is inserted where it belongs.
func (x *Index) Add(e Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.add(e)
}

// AddAll adds the events of evs, as Add.
func (x *Index) AddAll(evs []Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range evs {
		x.add(e)
	}
}

func (x *Index) add(e Event) {
	if e.Data == nil {
		return
	}
	i, ok := x.ids[e.FamilyID]
	if !ok {
		i = len(x.families)
		id := strings.Clone(e.FamilyID)
		x.ids[id] = i
		x.families = append(x.families, familyEvents{id: id})
		x.order = append(x.order, i)
		x.sorted = false
	}
	f := &x.families[i]
	fc, ok := x.factOf(e.Data, f)
	if !ok {
		return
	}
	en := entry{seq: e.Sequence, time: e.Time, recorded: e.Recorded, fact: fc}
	less := func(a, b entry) int { return cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(a.seq, b.seq)) }
	if n := len(f.evs); n == cap(f.evs) {
		// An eighth more room, not append's double: a family's events
		// are most of the index, and are kept for the process's life.
		grown := make([]entry, n, n+n/8+4)
		copy(grown, f.evs)
		f.evs = grown
	}
	if n := len(f.evs); n == 0 || less(f.evs[n-1], en) < 0 {
		f.evs = append(f.evs, en)
	} else {
		at, _ := slices.BinarySearchFunc(f.evs, en, less)
		f.evs = slices.Insert(f.evs, at, en)
	}
	x.n++
}

// Families yields each family's id with the number of its events held.
func (x *Index) Families() iter.Seq2[string, int] {
	return func(yield func(string, int) bool) {
		x.mu.RLock()
		defer x.mu.RUnlock()
		for _, f := range x.families {
			if !yield(f.id, len(f.evs)) {
				return
			}
		}
	}
}

// Holds tells whether text is in anything the index holds of the events'
// data: a string a fact names, or a kept payload.
func (x *Index) Holds(text string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, s := range x.txt.strs {
		if strings.Contains(s, text) {
			return true
		}
	}
	for _, f := range x.families {
		for _, d := range f.side {
			if b, err := json.Marshal(d); err == nil && strings.Contains(string(b), text) {
				return true
			}
		}
	}
	return false
}

// Len is the number of events held.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

// Compute evaluates the index at asOf as known at knownAt.
func (x *Index) Compute(asOf, knownAt time.Time, o Options) Result {
	return x.ComputeSeries([]time.Time{asOf}, knownAt, o)[0]
}

// ComputeSeries evaluates the index at every moment of moments
// (ascending) as known at knownAt, folding each family once.
func (x *Index) ComputeSeries(moments []time.Time, knownAt time.Time, o Options) []Result {
	if o.Threshold <= 0 {
		o.Threshold = DefaultThreshold
	}
	known := knownAt.UnixNano()
	x.mu.Lock()
	if !x.sorted {
		slices.SortFunc(x.order, func(a, b int) int { return strings.Compare(x.families[a].id, x.families[b].id) })
		x.sorted = true
	}
	x.mu.Unlock()
	x.mu.RLock()
	defer x.mu.RUnlock()
	accs := make([]*acc, len(moments))
	for i := range accs {
		accs[i] = newAcc()
	}
	ats := make([]int64, len(moments))
	for i, m := range moments {
		ats[i] = m.UnixNano()
	}
	f := newFamilyFold()
	for _, fi := range x.order {
		fe := x.families[fi].evs
		f.reset()
		next := 0
		for i, at := range ats {
			for ; next < len(fe) && fe[next].time <= at; next++ {
				if fe[next].recorded <= known {
					f.apply(fe[next].time, fe[next].fact, &x.txt, x.families[fi].side)
				}
			}
			f.advanceTo(at)
			accs[i].add(f, at)
		}
	}
	out := make([]Result, len(moments))
	for i, m := range moments {
		ms := accs[i].measures(o)
		if o.Suppress {
			Suppress(ms, o.Threshold)
		}
		out[i] = Result{AsOf: m.UTC(), KnownAt: knownAt.UTC(), Measures: ms}
	}
	return out
}

// NewSeries arranges results (one per moment) as columns.
func NewSeries(results []Result, from, to time.Time, step string) Series {
	s := Series{From: from.UTC(), To: to.UTC(), Step: step, Measures: map[string]SeriesMeasure{}, AsOf: []time.Time{}}
	for _, d := range Catalog {
		s.Measures[d.Name] = SeriesMeasure{Unit: d.Unit, Values: []*float64{}, Suppressed: []bool{}, Counts: []int{}}
	}
	for _, r := range results {
		s.AsOf = append(s.AsOf, r.AsOf)
		s.KnownAt, s.Position = r.KnownAt, r.Position
		for name, m := range r.Measures {
			sm := s.Measures[name]
			sm.Values = append(sm.Values, m.Value)
			sm.Suppressed = append(sm.Suppressed, m.Suppressed)
			sm.Counts = append(sm.Counts, m.Count)
			s.Measures[name] = sm
		}
	}
	return s
}
