package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/demo"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// EvaluationOptions size the evaluation phase.
type EvaluationOptions struct {
	Families int // demo families (events of the pilot's kind)
	Runs     int // evaluations of each kind measured
}

// Evaluation measures the evaluation's fold in process: one evaluation
// at one asOf and a 24-month series, over the events of Families demo
// families as the projector's evaluation cache holds them (decoded once).
// It prints p50 and max of Runs of each.
func Evaluation(ctx context.Context, o EvaluationOptions, w io.Writer) error {
	if o.Families <= 0 {
		o.Families = 1000
	}
	if o.Runs <= 0 {
		o.Runs = 5
	}
	recorded := time.Now().UTC()
	var evs []evaluation.Event
	all := 0
	for i, e := range demo.Generate(1, o.Families) {
		all++
		env, err := events.DecodeStored(events.Subject(e.FamilyID, e.Department, e.Type), e.JSON, recorded)
		if err != nil {
			return fmt.Errorf("bench: evaluation: %w", err)
		}
		if ev, ok := evaluation.FromEnvelope(uint64(i+1), recorded, env); ok {
			evs = append(evs, ev)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	asOf := time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)
	moments, err := evaluation.Moments(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC), evaluation.StepMonth)
	if err != nil {
		return err
	}
	o2 := evaluation.Options{Suppress: true}
	measure := func(fn func()) (p50, worst time.Duration) {
		var ds []time.Duration
		for range o.Runs {
			t0 := time.Now()
			fn()
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		return ds[len(ds)/2], ds[len(ds)-1]
	}
	oneP50, oneMax := measure(func() { evaluation.Compute(evs, asOf, recorded, o2) })
	serP50, serMax := measure(func() { evaluation.ComputeSeries(evs, moments, recorded, o2) })
	fmt.Fprintf(w, "evaluation: %d families, %d events (%d read by the evaluation), %d runs each\n", o.Families, all, len(evs), o.Runs)
	fmt.Fprintf(w, "  one asOf:          p50 %v  max %v\n", oneP50.Round(time.Millisecond), oneMax.Round(time.Millisecond))
	fmt.Fprintf(w, "  24-month series:   p50 %v  max %v\n", serP50.Round(time.Millisecond), serMax.Round(time.Millisecond))
	return nil
}
