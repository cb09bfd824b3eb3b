// Package benchloop runs a benchmark over a set of inputs in turn, so
// that one measurement covers every example of the catalogue instead of
// the cheapest one.
package benchloop

import "testing"

// Cycle runs f on xs in turn for as long as b loops, reporting
// allocations.
func Cycle[T any](b *testing.B, xs []T, f func(T)) {
	b.Helper()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f(xs[i%len(xs)])
		i++
	}
}
