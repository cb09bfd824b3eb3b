package readmodel

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestSnapshotOneState: a snapshot's reads all see the model as it was at
// its first, whatever is applied meanwhile; the pool sees the new rows.
func TestSnapshotOneState(t *testing.T) {
	ctx := context.Background()
	const fam = "F-SNAP"
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	m := gateModel(t)
	if _, err := m.Apply(ctx, []Message{eventAt(t, fam, 1, events.SOF, &events.FamilyReferred{Reason: "x"}, base)}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	snap, end, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	if _, last, err := snap.OverviewAt(ctx, fam); err != nil || last != 1 {
		t.Fatalf("snapshot's overview at %d, %v", last, err)
	}
	if _, err := m.Apply(ctx, []Message{eventAt(t, fam, 2, events.SOF, &events.MeetingHeld{Kind: "family"}, base.Add(time.Hour))}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	tq, err := ParseTimeline(fam, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := snap.Consents(ctx, fam, func(string) bool { return false })
	if err != nil || cr.Through != 1 {
		t.Errorf("snapshot's consents through %d, %v; want 1", cr.Through, err)
	}
	if p, err := snap.Timeline(ctx, tq); err != nil || len(p.Entries) != 1 {
		t.Errorf("snapshot's timeline %d entries, %v; want 1", len(p.Entries), err)
	}
	if n, err := snap.LastSequence(ctx, fam); err != nil || n != 1 {
		t.Errorf("snapshot's last sequence %d, %v; want 1", n, err)
	}
	if p, err := m.Timeline(ctx, tq); err != nil || len(p.Entries) != 2 {
		t.Errorf("pool's timeline %d entries, %v; want 2", len(p.Entries), err)
	}
}

// TestSnapshotsFillThePool: with every connection of the reader pool held
// by a snapshot, each still runs a query the pool has no statement of
// (it prepares none on the pool, which would wait for a connection none
// gives back), and the statement is kept for later reads once it ends.
func TestSnapshotsFillThePool(t *testing.T) {
	ctx := context.Background()
	const fam = "F-SNAP-POOL"
	m := gateModel(t)
	if _, err := m.Apply(ctx, []Message{eventAt(t, fam, 1, events.SOF, &events.FamilyReferred{Reason: "x"}, time.Now().UTC())}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	n := m.rdb.Stats().MaxOpenConnections
	ends := make([]func(), n)
	snaps := make([]*Model, n)
	for i := range n {
		var err error
		if snaps[i], ends[i], err = m.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := snaps[i].OverviewAt(ctx, fam); err != nil {
			t.Fatal(err)
		}
	}
	queries := make([]TimelineQuery, n)
	for i, s := range snaps {
		// A query of its own for each: departments and order vary.
		depts := []string{"sof", "bif", "buf", "suf"}[:i%4+1]
		tq, err := ParseTimeline(fam, url.Values{"department": {strings.Join(depts, ",")}, "order": {[]string{"asc", "desc"}[i/4%2]}})
		if err != nil {
			t.Fatal(err)
		}
		queries[i] = tq
		if p, err := s.Timeline(ctx, tq); err != nil || len(p.Entries) != 1 {
			t.Fatalf("snapshot %d: %d entries, %v", i, len(p.Entries), err)
		}
	}
	for _, end := range ends {
		end()
	}
	seen := map[string]bool{}
	for i, tq := range queries {
		q, _, err := tq.sql()
		if err != nil {
			t.Fatal(err)
		}
		if seen[q] {
			t.Fatalf("query %d is another's", i)
		}
		seen[q] = true
		if m.cached(q) == nil {
			t.Errorf("query %d was not kept for the pool", i)
		}
	}
}
