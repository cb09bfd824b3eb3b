package evaluation_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/demo"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// demoEvents are the evaluation's events of the demo's first n
// families, event i recorded i nanoseconds after recorded.
func demoEvents(t testing.TB, n int, recorded time.Time) []evaluation.Event {
	var out []evaluation.Event
	for i, e := range demo.Generate(1, n) {
		ev, err := events.ParseStructured(e.JSON)
		if err != nil {
			t.Fatal(err)
		}
		env, err := events.Validator{Now: func() time.Time { return recorded }}.Validate(ev)
		if err != nil {
			t.Fatal(err)
		}
		if fe, ok := evaluation.FromEnvelope(uint64(i+1), recorded.Add(time.Duration(i)), env); ok {
			out = append(out, fe)
		}
	}
	return out
}

func writeRead(t *testing.T, x *evaluation.Index) *evaluation.Index {
	t.Helper()
	var buf bytes.Buffer
	if n, err := x.WriteTo(&buf); err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo: %d bytes, %v; wrote %d", n, err, buf.Len())
	}
	y, err := evaluation.ReadIndex(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// An index written and read back computes every figure as the index it
// was written from, at every moment of a series and at a knownAt before
// some of its events were recorded; so does one read back and then added
// to, as the projector adds the events after the position it was written
// at.
func TestIndexReadBack(t *testing.T) {
	recorded := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := demoEvents(t, 80, recorded)
	half := len(evs) / 2
	all := evaluation.NewIndex()
	all.AddAll(evs)
	first := evaluation.NewIndex()
	first.AddAll(evs[:half])

	moments, err := evaluation.Moments(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), evaluation.StepMonth)
	if err != nil {
		t.Fatal(err)
	}
	o := evaluation.Options{Target: 50}
	same := func(what string, a, b *evaluation.Index) {
		t.Helper()
		if a.Len() != b.Len() || a.Len() == 0 {
			t.Fatalf("%s: %d events, want %d", what, b.Len(), a.Len())
		}
		for _, known := range []time.Time{recorded.Add(time.Duration(len(evs) / 3)), recorded.Add(time.Hour)} {
			ra, _ := json.Marshal(a.ComputeSeries(moments, known, o))
			rb, _ := json.Marshal(b.ComputeSeries(moments, known, o))
			if !bytes.Equal(ra, rb) {
				t.Fatalf("%s: the figures differ at knownAt %s", what, known)
			}
		}
	}
	same("read back", all, writeRead(t, all))
	y := writeRead(t, first)
	same("half read back", first, y)
	y.AddAll(evs[half:])
	same("half read back, then the rest added", all, y)
	same("that written and read back again", all, writeRead(t, y))
}

// A damaged, cut or lengthened index is refused, and one of another
// FactsVersion is ErrSnapshotVersion.
func TestIndexReadRefusesDamage(t *testing.T) {
	x := evaluation.NewIndex()
	x.AddAll(demoEvents(t, 5, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)))
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for i := 0; i < len(good); i += max(1, len(good)/97) {
		bad := bytes.Clone(good)
		bad[i] ^= 0x20
		if _, err := evaluation.ReadIndex(bytes.NewReader(bad)); err == nil {
			t.Fatalf("byte %d of %d changed: read without an error", i, len(good))
		}
	}
	for _, bad := range [][]byte{good[:len(good)-1], good[:len(good)/2], append(bytes.Clone(good), 0)} {
		if _, err := evaluation.ReadIndex(bytes.NewReader(bad)); err == nil {
			t.Fatalf("%d bytes of %d: read without an error", len(bad), len(good))
		}
	}
	other := bytes.Clone(good)
	other[len("jf-evaluation-index\n")] = evaluation.FactsVersion + 1
	if _, err := evaluation.ReadIndex(bytes.NewReader(other)); !errors.Is(err, evaluation.ErrSnapshotVersion) {
		t.Fatalf("another version: %v, want ErrSnapshotVersion", err)
	}
}

// A family of more events than ReadIndex makes room for at first is read
// back whole.
func TestIndexReadBackLargeFamily(t *testing.T) {
	const n = 70_000
	x := evaluation.NewIndex()
	for i := range n {
		x.Add(evaluation.Event{Sequence: uint64(i + 1), FamilyID: "BIG", Time: int64(i), Recorded: int64(i),
			Data: &events.EmploymentStarted{PersonID: "P1", Kind: "small-job"}})
	}
	y := writeRead(t, x)
	for id, got := range y.Families() {
		if id != "BIG" || got != n {
			t.Errorf("read back %s with %d events, want BIG with %d", id, got, n)
		}
	}
	if y.Len() != n {
		t.Errorf("read back %d events, want %d", y.Len(), n)
	}
}
