package readmodel

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/consent"
)

// TestReferencesByTypeInStreamOrder: References finds a family's openers
// through the index by type, so that a coordinator's read of a large
// family does not visit its other rows, and returns them in stream order,
// up to its sequence, whatever their types.
func TestReferencesByTypeInStreamOrder(t *testing.T) {
	ctx := context.Background()
	const fam = "F-REFS"
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	m := gateModel(t)
	goal := func(seq uint64, id string) Message {
		return eventAt(t, fam, seq, events.SUF, &events.GoalSetV2{GoalID: id, Title: "Mål", Domains: []string{"health"}, PersonID: "P1", ExpressedBy: "professional"}, base.Add(time.Duration(seq)*time.Hour))
	}
	praktik := func(seq uint64, id string) Message {
		return eventAt(t, fam, seq, events.BIF, &events.PraktikStartedV2{PraktikID: id, PersonID: "P1", Employer: events.PraktikEmployer{Cvr: "12345678"}, HoursPerWeek: 10}, base.Add(time.Duration(seq)*time.Hour))
	}
	meeting := func(seq uint64) Message {
		return eventAt(t, fam, seq, events.SOF, &events.MeetingHeld{Kind: "team"}, base.Add(time.Duration(seq)*time.Hour))
	}
	if _, err := m.Apply(ctx, []Message{praktik(1, "X1"), meeting(2), goal(3, "G1"), praktik(4, "X2"), goal(5, "G2"), goal(6, "G3")}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	refs, err := m.References(ctx, fam, 5, consent.OpenerTypes)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, r := range refs {
		seqs = append(seqs, r.Sequence)
	}
	if want := []uint64{1, 3, 4, 5}; !slices.Equal(seqs, want) {
		t.Errorf("openers up to 5: sequences %v, want %v", seqs, want)
	}

	args := []any{fam, 5}
	for _, typ := range consent.OpenerTypes {
		args = append(args, typ)
	}
	rows, err := m.rdb.QueryContext(ctx, `EXPLAIN QUERY PLAN `+referencesQuery(len(consent.OpenerTypes)), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "USING INDEX timeline_family_type (family_id=? AND type=?") {
		t.Errorf("References' plan: %s; want a search of timeline_family_type by family and type", p)
	}
}
