package evaluation_test

import (
	"runtime"
	"strconv"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// An event's FamilyID may be a slice of its whole decoded envelope. The
// index keeps each family's id once, so that it does not keep every
// event's envelope alive for as long as it holds the event.
func TestIndexKeepsNotTheEnvelopes(t *testing.T) {
	const n, envelope = 2000, 4096
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	pad := strings.Repeat("x", envelope-8)
	evs := make([]evaluation.Event, n)
	for i := range evs {
		doc := "F" + strconv.Itoa(i%10) + "|" + pad // one allocation an event
		evs[i] = evaluation.Event{Sequence: uint64(i + 1), FamilyID: doc[:strings.IndexByte(doc, '|')],
			Time: int64(i), Recorded: int64(i), Data: &events.EmploymentStarted{PersonID: "P1", Kind: "job"}}
	}
	x := evaluation.NewIndex()
	x.AddAll(evs)
	evs, pad = nil, ""
	runtime.GC()
	runtime.ReadMemStats(&ms)
	held := int64(ms.HeapAlloc) - int64(before)
	if held > n*envelope/4 {
		t.Errorf("the index of %d events holds %d bytes more, as much as its events' envelopes (%d bytes each)", n, held, envelope)
	}
	families := map[string]int{}
	for id, n := range x.Families() {
		families[id] += n
	}
	if len(families) != 10 || families["F3"] != n/10 {
		t.Errorf("families %v, want F0…F9 with %d events each", families, n/10)
	}
	runtime.KeepAlive(x)
}
