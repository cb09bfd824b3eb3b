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
	"errors"
	"slices"
	"sort"
	"time"

	"kk.dk/jobogfamilie/events"
)

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
var ErrSeries = errors.New("evaluation: a series needs from ≤ to, step month or quarter, and at most 240 moments")

// Moments are the moments of a series: from, then every step after it,
// up to and including to.
func Moments(from, to time.Time, step string) ([]time.Time, error) {
	months := map[string]int{StepMonth: 1, StepQuarter: 3}[step]
	if months == 0 || to.Before(from) {
		return nil, ErrSeries
	}
	var out []time.Time
	for i := 0; ; i++ {
		t := from.AddDate(0, i*months, 0)
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

// Compute evaluates evs (in any order) at asOf as known at knownAt.
func Compute(evs []Event, asOf, knownAt time.Time, o Options) Result {
	r := computeAt(evs, []time.Time{asOf}, knownAt, o)[0]
	return r
}

// ComputeSeries evaluates evs at every moment of moments (ascending) as
// known at knownAt, folding each family once.
func ComputeSeries(evs []Event, moments []time.Time, knownAt time.Time, o Options) []Result {
	return computeAt(evs, moments, knownAt, o)
}

func computeAt(evs []Event, moments []time.Time, knownAt time.Time, o Options) []Result {
	if o.Threshold <= 0 {
		o.Threshold = DefaultThreshold
	}
	known := knownAt.UnixNano()
	byFamily := map[string][]Event{}
	for _, e := range evs {
		if e.Recorded <= known && e.Data != nil {
			byFamily[e.FamilyID] = append(byFamily[e.FamilyID], e)
		}
	}
	ids := make([]string, 0, len(byFamily))
	for id := range byFamily {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	accs := make([]*acc, len(moments))
	for i := range accs {
		accs[i] = newAcc()
	}
	for _, id := range ids {
		fe := byFamily[id]
		slices.SortFunc(fe, func(a, b Event) int {
			return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Sequence, b.Sequence))
		})
		f := newFamilyFold()
		next := 0
		for i, m := range moments {
			at := m.UnixNano()
			for next < len(fe) && fe[next].Time <= at {
				f.apply(fe[next].Time, fe[next].Data)
				next++
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
