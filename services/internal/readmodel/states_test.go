package readmodel

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/demo"
)

// demoMessages are the demo's events of the given number of families as
// the stream holds them, decoded, in the order of their times: the
// families' events interleave as departments would send them.
func demoMessages(t testing.TB, families int) []Message {
	t.Helper()
	evs := demo.Generate(1, families)
	slices.SortStableFunc(evs, func(a, b demo.Event) int { return a.Time.Compare(b.Time) })
	var msgs []Message
	for i, e := range evs {
		ce, err := events.ParseStructured(e.JSON)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, Message{seq: uint64(i + 1), subject: events.Subject(e.FamilyID, e.Department, e.Type),
			recorded: e.Time.Add(time.Minute), raw: stored(t, ce)})
	}
	DecodeAll(msgs, nil)
	for i := range msgs {
		if msgs[i].reason != "" {
			t.Fatalf("demo event %d: %s", msgs[i].seq, msgs[i].reason)
		}
	}
	return msgs
}

// TestTrimmedStatesFoldAgainFromRows: a model that keeps only a few
// family states in memory writes the same rows as one that keeps them
// all. Each family whose state was dropped is folded again from its rows
// when its next event arrives, and the fold goes on from there.
func TestTrimmedStatesFoldAgainFromRows(t *testing.T) {
	t.Parallel()
	const families, limit = 12, 3
	trimmed := openModel(t)
	kept, dropped := inStep(t, families, trimmed, true, func(hi int) int {
		n := trimmed.TrimStates(limit)
		if held := trimmed.States(); held > limit {
			t.Fatalf("after batch ending at %d: %d states held, limit %d", hi, held, limit)
		}
		return n
	})
	if kept.States() != families {
		t.Fatalf("the untrimmed model holds %d states, want %d", kept.States(), families)
	}
	if dropped < families {
		t.Fatalf("%d states dropped over the events of %d families: the test does not exercise folding again", dropped, families)
	}
	sameDigest(t, trimmed, kept, "the trimmed model")
}

// inStep applies the demo's events of families, 25 at a time, to a new
// model that keeps every state and flushes each batch, and to other,
// which flushes each batch only when flush is set. After each batch it
// calls bound (with the end of the batch), which bounds other's states and
// returns how many left memory. It returns the new model and the sum.
func inStep(t *testing.T, families int, other *Model, flush bool, bound func(hi int) int) (kept *Model, moved int) {
	t.Helper()
	const batch = 25
	ctx := context.Background()
	kept = openModel(t)
	keptMsgs, otherMsgs := demoMessages(t, families), demoMessages(t, families)
	for lo := 0; lo < len(keptMsgs); lo += batch {
		hi := min(lo+batch, len(keptMsgs))
		if _, err := kept.Apply(ctx, keptMsgs[lo:hi], ApplyOptions{Flush: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Apply(ctx, otherMsgs[lo:hi], ApplyOptions{Flush: flush}); err != nil {
			t.Fatal(err)
		}
		moved += bound(hi)
	}
	return kept, moved
}

// sameDigest fails t unless got and want digest alike; what names got.
func sameDigest(t *testing.T, got, want *Model, what string) {
	t.Helper()
	ctx := context.Background()
	w, err := want.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g, err := got.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g != w {
		t.Fatalf("%s digests %v, want %v", what, g, w)
	}
}

// TestTrimKeepsRecentlyUsedStates: the states dropped are those used
// least recently, and a trim leaves room below the limit so that the next
// batches need none. A limit below 1 keeps every state.
func TestTrimKeepsRecentlyUsedStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := openModel(t)
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	fam := func(n int) string { return "F-TRIM-" + itoa(n) }
	var seq uint64
	apply := func(ids ...int) {
		t.Helper()
		var b []Message
		for _, n := range ids {
			seq++
			b = append(b, eventAt(t, fam(n), seq, events.SOF, &events.FamilyReferred{Reason: "Bekymring"}, at.Add(time.Duration(seq)*time.Minute)))
		}
		if _, err := m.Apply(ctx, b, ApplyOptions{Flush: true}); err != nil {
			t.Fatal(err)
		}
	}
	for n := range 16 {
		apply(n)
	}
	apply(0, 1) // used again: now the most recent
	if n := m.TrimStates(0); n != 0 || m.States() != 16 {
		t.Fatalf("limit 0 dropped %d, %d held; want none dropped", n, m.States())
	}
	if n := m.TrimStates(16); n != 0 {
		t.Fatalf("at the limit, %d dropped", n)
	}
	// 16 held, limit 8: down to 7 (an eighth below the limit).
	if n := m.TrimStates(8); n != 9 || m.States() != 7 {
		t.Fatalf("dropped %d, %d held; want 9 dropped and 7 held", n, m.States())
	}
	for _, n := range []int{0, 1, 11, 12, 13, 14, 15} {
		if _, ok := m.states[fam(n)]; !ok {
			t.Errorf("%s, among the 7 used last, was dropped", fam(n))
		}
	}
	if m.complete {
		t.Error("the model still counts itself complete after dropping states")
	}
}

// BenchmarkRefold is folding a family of 10,000 events again from its
// rows, as the applier does at the next event of a family whose state
// TrimStates dropped (or after a restart).
//
//	go test ./internal/readmodel/ -run '^$' -bench Refold
func BenchmarkRefold(b *testing.B) {
	const fam, n = "F-BIG", 10_000
	ctx := context.Background()
	m := openModel(b)
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []Message
	for i := range n {
		seq := uint64(i + 1)
		var d events.Department
		var p events.Payload
		switch {
		case i == 0:
			d, p = events.SOF, &events.FamilyReferred{Reason: "Bekymring"}
		case i%2 == 0:
			d, p = events.SOF, &events.MeetingHeld{Kind: "team"}
		default:
			d, p = events.BUF, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: float64(i % 40)}
		}
		batch = append(batch, eventAt(b, fam, seq, d, p, at.Add(time.Duration(i)*time.Minute)))
		if len(batch) == DefaultBatchSize || i == n-1 {
			if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for b.Loop() {
		tx, err := m.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		st := family.New(fam)
		err = m.fold(ctx, tx.StmtContext(ctx, m.familyRows), fam, st)
		_ = tx.Rollback()
		if err != nil {
			b.Fatal(err)
		}
		if st.Events() != n {
			b.Fatalf("folded %d events, want %d", st.Events(), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n/1000, "µs/row")
}

// TestSpilledStatesComeBack: a model loaded in bulk that keeps only a few
// family states in memory, spilling the rest, writes the same rows as one
// that keeps them all. It stays a bulk load throughout (a spill needs no
// family index), and each spilled state comes back at its family's next
// event and is folded on from there. Flushed only at the end, as a bulk
// load is, every family waits for the flush when it is spilled, and the
// flush reads the spilled states without taking them back into memory.
func TestSpilledStatesComeBack(t *testing.T) {
	t.Parallel()
	for _, flushEach := range []bool{true, false} {
		t.Run(fmt.Sprintf("flush each batch %v", flushEach), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			const families, limit = 12, 3
			spilling := openModel(t)
			if err := spilling.SetBulk(ctx, true); err != nil || !spilling.Bulk() {
				t.Fatalf("bulk load: %v, %v", spilling.Bulk(), err)
			}
			kept, spilled := inStep(t, families, spilling, flushEach, func(hi int) int {
				n, err := spilling.SpillStates(ctx, limit)
				if err != nil {
					t.Fatal(err)
				}
				if held := spilling.States(); held > limit || held+spilling.Spilled() > families {
					t.Fatalf("after batch ending at %d: %d states held and %d spilled, limit %d", hi, held, spilling.Spilled(), limit)
				}
				// A bulk load writes a family's rows with its spill, so
				// that no flush reads its state back.
				for id := range spilling.spilled {
					if spilling.dirty[id] != nil {
						t.Fatalf("after batch ending at %d: spilled family %s waits for a flush", hi, id)
					}
				}
				return n
			})
			if spilled < families {
				t.Fatalf("%d states spilled over the events of %d families: the test does not exercise the spill", spilled, families)
			}
			if _, err := spilling.Apply(ctx, nil, ApplyOptions{Flush: true}); err != nil {
				t.Fatal(err)
			}
			if held := spilling.States(); held > limit {
				t.Fatalf("the flush took spilled states back: %d held, limit %d", held, limit)
			}
			if !spilling.Bulk() || !spilling.complete {
				t.Fatalf("after the spills: bulk %v, complete %v; want both", spilling.Bulk(), spilling.complete)
			}
			if err := spilling.SetBulk(ctx, false); err != nil {
				t.Fatal(err)
			}
			sameDigest(t, spilling, kept, "the spilling model")
		})
	}
}

// TestErasureLeavesNoSpilledState: the spill holds a family's text until
// the family is erased, and no row of it after.
func TestErasureLeavesNoSpilledState(t *testing.T) {
	ctx := context.Background()
	m, _, at := erasureModel(t)
	other := eventAt(t, "F-OTHER", 2, events.SOF, &events.FamilyReferred{Reason: "Bekymring"}, at)
	if _, err := m.Apply(ctx, []Message{other}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	holding := func() int {
		var n int
		if err := m.w.QueryRowContext(ctx, `SELECT count(*) FROM temp.state_spill WHERE family_id = 'F-ERASE' OR instr(state, ?) > 0`, erasedSecret).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n, err := m.SpillStates(ctx, 1); err != nil || n != 1 || m.Spilled() != 1 {
		t.Fatalf("spilled %d (%d in the spill), %v; want F-ERASE's state, used least recently", n, m.Spilled(), err)
	}
	if n := holding(); n != 1 {
		t.Fatalf("%d spill rows of F-ERASE before its erasure, want 1", n)
	}
	erase := eventAt(t, "F-ERASE", 3, events.Service, &events.FamilyErased{Reason: "Formål ophørt"}, at.Add(time.Hour))
	if _, err := m.Apply(ctx, []Message{erase}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	if n := holding(); n != 0 || m.Spilled() != 0 {
		t.Fatalf("after the erasure: %d spill rows of F-ERASE, %d states spilled; want none", n, m.Spilled())
	}
}
