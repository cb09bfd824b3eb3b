package demo

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// TestGenerateBreaksNoInvariant holds the simulation to its design: the
// family model refuses none of the planned events, for several seeds. The
// refusal is only a safety net; a planned event that needs it is a bug.
func TestGenerateBreaksNoInvariant(t *testing.T) {
	t.Parallel()
	for _, seed := range []int64{1, 2024} {
		evs, refused := generate(seed, DefaultFamilies)
		if len(refused) > 0 {
			t.Errorf("seed %d: %d planned events refused, e.g. %s", seed, len(refused), refused[0])
		}
		if len(evs) < 100*DefaultFamilies {
			t.Errorf("seed %d: only %d events for %d families", seed, len(evs), DefaultFamilies)
		}
	}
}

// TestGenerateIsPlausible checks what ingest and the catalog ask of each
// event, and that each family's events come in the order of their time.
func TestGenerateIsPlausible(t *testing.T) {
	t.Parallel()
	const families = 25
	evs := Generate(3, families)
	ids := map[string]bool{}
	last := map[string]Event{}
	states := map[string]*family.State{}
	for _, e := range evs {
		if ids[e.ID] {
			t.Fatalf("event id %s twice", e.ID)
		}
		ids[e.ID] = true
		spec, ok := events.ByName(e.Type)
		if !ok || !spec.OwnedBy(e.Department) {
			t.Fatalf("%s: type %s from %s, which does not own it", e.ID, e.Type, e.Department)
		}
		if e.Time.Before(dataStart) || e.Time.After(dataEnd.Add(24*60*60*1e9)) {
			t.Errorf("%s: time %s outside the demo's window", e.ID, e.Time)
		}
		if p, ok := last[e.FamilyID]; ok && e.Time.Before(p.Time) {
			t.Errorf("%s at %s comes after %s at %s", e.ID, e.Time, p.ID, p.Time)
		}
		last[e.FamilyID] = e
		// Every event checks against the family's state in this order,
		// exactly as ingest will check it.
		ce, err := events.ParseStructured(e.JSON)
		if err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		env, err := events.Decode(ce)
		if err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		st := states[e.FamilyID]
		if st == nil {
			st = family.New(e.FamilyID)
			states[e.FamilyID] = st
		}
		if err := st.Check(env); err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		st.Apply(env)
	}
	if len(states) != families {
		t.Errorf("%d families, want %d", len(states), families)
	}
	// The dev coordinators see a good share of the families.
	for emp, want := range map[string]int{"E1001": families / 2, "E1002": families / 4} {
		n := 0
		for _, st := range states {
			if st.CanRead(emp) {
				n++
			}
		}
		if n < want {
			t.Errorf("%s may read %d families, want at least %d", emp, n, want)
		}
	}
}

// postable reports whether some department may post the type: the types
// only the service records (family.erased) are not.
func postable(s events.Spec) bool {
	return slices.ContainsFunc(events.Departments, s.OwnedBy)
}

// TestGenerateCoversCatalog: even a small demo has every event type that a
// department posts, in every version, and none that only the service
// records; and some family holds both versions of a type.
func TestGenerateCoversCatalog(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	perFamily := map[string]map[string]bool{}
	for _, e := range Generate(1, 12) {
		var ce struct{ Type string }
		if err := json.Unmarshal(e.JSON, &ce); err != nil {
			t.Fatal(err)
		}
		seen[ce.Type] = true
		if perFamily[e.FamilyID] == nil {
			perFamily[e.FamilyID] = map[string]bool{}
		}
		perFamily[e.FamilyID][ce.Type] = true
	}
	serviceOnly := 0
	for _, s := range events.AllVersions() {
		switch {
		case !postable(s):
			serviceOnly++
			if seen[s.Type()] {
				t.Errorf("the demo generates %s, which no department may post", s.Type())
			}
		case !seen[s.Type()]:
			t.Errorf("no %s in a demo of 12 families", s.Type())
		}
	}
	if serviceOnly == 0 {
		t.Error("the catalog has no type that only the service records (family.erased)")
	}
	mixed := 0
	for _, types := range perFamily {
		if types[events.TypeOf("goal.set", 1)] && types[events.TypeOf("goal.set", 2)] {
			mixed++
		}
	}
	if mixed == 0 {
		t.Error("no family has goals of both versions")
	}
}

// TestGenerateIsDeterministic: the same seed gives the same bytes, a
// family is the same however many families are generated, and another
// seed gives other families.
func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := Generate(5, 12), Generate(5, 12)
	if !slices.EqualFunc(a, b, equalEvents) {
		t.Fatal("two runs with seed 5 differ")
	}
	few := Generate(5, 4)
	if !slices.EqualFunc(few, a[:len(few)], equalEvents) {
		t.Error("the first 4 families differ between a demo of 4 and one of 12")
	}
	other := Generate(6, 12)
	for _, e := range other {
		if e.FamilyID == a[0].FamilyID {
			t.Fatalf("seeds 5 and 6 share family %s", e.FamilyID)
		}
	}
}

func equalEvents(x, y Event) bool {
	return x.ID == y.ID && x.Department == y.Department && x.FamilyID == y.FamilyID &&
		x.Type == y.Type && x.Time.Equal(y.Time) && bytes.Equal(x.JSON, y.JSON)
}

// TestBatchesKeepFamilyOrder: each post is one department's, within the
// limit, and together the posts are every event with each family's in
// their order.
func TestBatchesKeepFamilyOrder(t *testing.T) {
	t.Parallel()
	evs := Generate(1, 23)
	want := map[string][]string{}
	for _, e := range evs {
		want[e.FamilyID] = append(want[e.FamilyID], e.ID)
	}
	got := map[string][]string{}
	n := 0
	for _, b := range batches(evs, familyWindow, MaxBatch) {
		if len(b) == 0 || len(b) > MaxBatch {
			t.Fatalf("batch of %d events", len(b))
		}
		for _, e := range b {
			if e.Department != b[0].Department {
				t.Fatalf("batch mixes %s and %s", b[0].Department, e.Department)
			}
			got[e.FamilyID] = append(got[e.FamilyID], e.ID)
			n++
		}
	}
	if n != len(evs) {
		t.Fatalf("batches carry %d events, want %d", n, len(evs))
	}
	for f, ids := range want {
		if !slices.Equal(got[f], ids) {
			t.Errorf("family %s posted out of order", f)
		}
	}
	// A small limit still works.
	for _, b := range batches(evs, 50, 3) {
		if len(b) > 3 {
			t.Fatalf("batch of %d with a limit of 3", len(b))
		}
	}
}

// TestErasedFamily: the family a load erases has an ended course, the dev
// coordinator reads it, it is not family 1 (the README's example), and a
// larger demo of the same seed chooses the same family.
func TestErasedFamily(t *testing.T) {
	t.Parallel()
	for _, seed := range []int64{1, 11} {
		id := ErasedFamily(seed, 12)
		if id == "" || id == FamilyID(seed, 1) {
			t.Fatalf("seed %d: erased family %q", seed, id)
		}
		if got := ErasedFamily(seed, DefaultFamilies); got != id {
			t.Errorf("seed %d: %s in a demo of 12, %s in one of %d", seed, id, got, DefaultFamilies)
		}
		st := family.New(id)
		for _, e := range Generate(seed, 12) {
			if e.FamilyID != id {
				continue
			}
			ce, err := events.ParseStructured(e.JSON)
			if err != nil {
				t.Fatal(err)
			}
			env, err := events.Decode(ce)
			if err != nil {
				t.Fatal(err)
			}
			st.Apply(env)
		}
		if st.Status() != family.StatusEnded || !st.CanRead(ErasureCoordinator) {
			t.Errorf("seed %d: %s is %s, readable by %s: %v", seed, id, st.Status(), ErasureCoordinator, st.CanRead(ErasureCoordinator))
		}
	}
	// README.md and docs/PRIVACY.md name make demo's erased family.
	if got := ErasedFamily(1, DefaultFamilies); got != "TB1-007" {
		t.Errorf("make demo erases %s; the docs say TB1-007", got)
	}
	if got := ErasedFamily(1, 1); got != "" {
		t.Errorf("a demo of one family erases %s", got)
	}
}
