package readmodel

import (
	"context"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestAccessRowsKeepUpWithWatchedFamilies: a batch that changes who is
// assigned to a family a live stream follows writes the access rows with
// its entries, even between two flushes, since the stream checks its
// reader's access against them before it hands on the entries; a family
// nobody follows waits for the next flush.
func TestAccessRowsKeepUpWithWatchedFamilies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := openModel(t)
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	watched := func(id string) bool { return id == "F-WATCHED" }
	var seq uint64
	apply := func(fam, employee string, flush bool) {
		t.Helper()
		seq++
		msg := eventAt(t, fam, seq, events.SOF, &events.CaseworkerAssigned{EmployeeID: employee}, at.Add(time.Duration(seq)*time.Minute))
		if _, err := m.Apply(ctx, []Message{msg}, ApplyOptions{Flush: flush, Wants: watched}); err != nil {
			t.Fatal(err)
		}
	}
	has := func(fam, employee string) bool {
		t.Helper()
		ok, err := m.HasAccess(ctx, fam, employee)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, fam := range []string{"F-WATCHED", "F-OTHER"} {
		apply(fam, "E1", true)
	}
	// Reassigned between two flushes.
	for _, fam := range []string{"F-WATCHED", "F-OTHER"} {
		apply(fam, "E2", false)
	}
	if has("F-WATCHED", "E1") || !has("F-WATCHED", "E2") {
		t.Errorf("a followed family reassigned from E1 to E2: access rows E1 %v, E2 %v; want them written with the batch", has("F-WATCHED", "E1"), has("F-WATCHED", "E2"))
	}
	if !has("F-OTHER", "E1") {
		t.Error("a family nobody follows had its access rows written between flushes: the flush is forced too often")
	}
}
