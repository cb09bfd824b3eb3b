package readmodel

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestGateCountKeptWhileRowsAndGateHold: a snapshot's hidden count is
// kept while the family's rows and the gate stay as they were; rows added
// after it, through the same gate read after them, are judged and added
// to it; and it is counted again when anything else changes: a row
// re-driven below the family's last sequence, an erasure's rewrite, a new
// gate. Each answer equals a count made afresh on the reader pool.
func TestGateCountKeptWhileRowsAndGateHold(t *testing.T) {
	ctx := context.Background()
	const fam = "F-KEPT"
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	m := gateModel(t)
	apply := func(msgs ...Message) {
		t.Helper()
		if _, err := m.Apply(ctx, msgs, ApplyOptions{Flush: true}); err != nil {
			t.Fatal(err)
		}
	}
	hidden := func(seq uint64) Message { // hidden: no consent of P1's
		return eventAt(t, fam, seq, events.SUF, &events.HealthReferred{PersonID: "P1", To: "x"}, base.Add(time.Duration(seq)*time.Hour))
	}
	shown := func(seq uint64) Message {
		return eventAt(t, fam, seq, events.SOF, &events.MeetingHeld{Kind: "team"}, base.Add(time.Duration(seq)*time.Hour))
	}
	// check reads, on one snapshot, the overview's scan (Hidden, up to
	// the family's last flush) and then the hidden count (or, countFirst,
	// the count first), and compares both with what the reader pool reads
	// afresh. A read of the same rows through the same gate is answered
	// by the kept scan and count (kept: two hits); a read of the same rows
	// and more, through the same gate, adds the rows after the kept
	// entry's to it (extended: one extension, and the count then
	// answers); any other scans afresh and keeps the scan, whose count
	// then answers (scanned: one hit).
	const (
		scanned = iota
		extended
		kept
	)
	countFirst := false
	check := func(step string, h *Hide, want int, mode int) {
		t.Helper()
		_, until, err := m.OverviewAt(ctx, fam)
		if err != nil {
			t.Fatal(err)
		}
		snap, end, err := m.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hits, extends := m.gateCounts.hits, m.gateCounts.extended
		var (
			hs  HiddenScan
			got int
		)
		if countFirst {
			got, err = snap.HiddenCount(ctx, fam, h)
		}
		if err == nil {
			hs, err = snap.Hidden(ctx, fam, until, h)
		}
		if err == nil && !countFirst {
			got, err = snap.HiddenCount(ctx, fam, h)
		}
		end()
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := m.HiddenCount(ctx, fam, h)
		if err != nil {
			t.Fatal(err)
		}
		freshScan, err := m.Hidden(ctx, fam, until, h)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || fresh != want || hs.Total != want {
			t.Errorf("%s: the snapshot's count %d and scan's %d, counted afresh %d; want %d", step, got, hs.Total, fresh, want)
		}
		if !reflect.DeepEqual(hs, freshScan) {
			t.Errorf("%s: the snapshot's scan %+v, scanned afresh %+v", step, hs, freshScan)
		}
		wantHits, wantExtends := 1, 0
		switch {
		case mode == kept:
			wantHits = 2
		case mode == extended && countFirst:
			// The count extends, and the scan it carried on extends
			// again: only its rows up to the flush are read.
			wantHits, wantExtends = 0, 2
		case mode == extended:
			wantExtends = 1
		}
		if n, x := m.gateCounts.hits-hits, m.gateCounts.extended-extends; n != wantHits || x != wantExtends {
			t.Errorf("%s: %d answers by what was kept and %d extensions of it, want %d and %d", step, n, x, wantHits, wantExtends)
		}
	}

	// A read folds the family's gate afresh, as the projector's reads
	// do: its sequence is the family's last.
	gate := func() *Hide { return HideOf(foldGate(t, m, fam, base.Add(100*time.Hour))) }
	apply(shown(1), hidden(2), shown(3))
	check("first read", gate(), 1, scanned)
	check("the same rows and gate", gate(), 1, kept)

	apply(hidden(4))
	check("a row added", gate(), 2, extended)
	// The timeline's read counts without the overview's scan: the scan
	// kept goes on with the count, and extends after it.
	apply(shown(5), hidden(6))
	countFirst = true
	check("rows added, counted before the scan", gate(), 3, extended)
	countFirst = false
	check("the same rows and gate, once more", gate(), 3, kept)
	h := gate()

	// A hidden event quarantined at 7 and re-driven after 8: the family's
	// last sequence stays 8, its rows grow by one.
	q := hidden(7)
	q.reason = "events: invalid: /type: not an event type of the catalog" // as an older build judged it
	apply(q, shown(8))
	check("before the re-drive", gate(), 3, extended)
	if res, err := m.Redrive(ctx, nil); err != nil || len(res.Moved) != 1 {
		t.Fatalf("re-drive: %+v, %v", res, err)
	}
	check("a row re-driven below the last sequence", gate(), 4, scanned)
	check("the same rows and gate after the re-drive", gate(), 4, kept)

	// A gate that shows P1's SUF entries (consent given) hides none. The
	// gate read before the consent (at 6) hides the re-driven row 7 as
	// well, stored after it.
	apply(eventAt(t, fam, 9, events.SOF, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeDataSharing}, base.Add(9*time.Hour)))
	check("a gate read before the last rows", h, 4, scanned)
	check("a new gate", gate(), 0, scanned)
	check("the new gate again", gate(), 0, kept)

	// P2 gave no consent: their SUF entries are hidden.
	hiddenP2 := func(seq uint64) Message {
		return eventAt(t, fam, seq, events.SUF, &events.HealthReferred{PersonID: "P2", To: "x"}, base.Add(time.Duration(seq)*time.Hour))
	}
	apply(hiddenP2(10))
	check("a row of another person added", gate(), 1, extended)

	apply(eventAt(t, fam, 11, events.Service, &events.FamilyErased{Reason: "Formål ophørt"}, base.Add(11*time.Hour)))
	n, err := m.HiddenCount(ctx, fam, gate())
	if err != nil {
		t.Fatal(err)
	}
	check("an erasure", gate(), n, scanned)

	// A row added and not yet flushed: the overview's scan is up to the
	// same sequence as before, of other rows.
	if _, err := m.Apply(ctx, []Message{hiddenP2(12)}, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	check("a row added, not flushed", gate(), n+1, extended)

	// A scan up to another sequence is made afresh.
	snap, end, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	hs, err := snap.Hidden(ctx, fam, 4, h)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := m.Hidden(ctx, fam, 4, h)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(hs, fresh) || len(hs.Rows) != 2 {
		t.Errorf("the snapshot's scan up to 4: %+v; scanned afresh %+v, with 2 hidden rows", hs, fresh)
	}
}

// TestGateCountExtendsOnlyOverRowsTheGateKnew: a kept count is not
// extended for a gate read before some of the rows it counted: the gate
// hides those rows as stored after it, where the count judged them
// through a later gate that knew them.
func TestGateCountExtendsOnlyOverRowsTheGateKnew(t *testing.T) {
	ctx := context.Background()
	const fam = "F-THROUGH"
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	m := gateModel(t)
	at := func(seq uint64) time.Time { return base.Add(time.Duration(seq) * time.Hour) }
	apply := func(msgs ...Message) {
		t.Helper()
		if _, err := m.Apply(ctx, msgs, ApplyOptions{Flush: true}); err != nil {
			t.Fatal(err)
		}
	}
	consented := func(seq uint64) Message { // shown once the gate knows it
		return eventAt(t, fam, seq, events.SUF, &events.HealthReferred{PersonID: "P3", To: "x"}, at(seq))
	}
	counted := func(h *Hide) int {
		t.Helper()
		snap, end, err := m.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer end()
		n, err := snap.HiddenCount(ctx, fam, h)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	apply(eventAt(t, fam, 1, events.SOF, &events.ConsentGiven{PersonID: "P3", Scope: events.ScopeDataSharing}, at(1)), consented(2))
	early := HideOf(foldGate(t, m, fam, at(100)))
	apply(consented(3))
	if n := counted(HideOf(foldGate(t, m, fam, at(100)))); n != 0 {
		t.Fatalf("through a gate that knows every row: %d hidden, want 0", n)
	}
	apply(eventAt(t, fam, 4, events.SOF, &events.MeetingHeld{Kind: "team"}, at(4)))
	fresh, err := m.HiddenCount(ctx, fam, early)
	if err != nil {
		t.Fatal(err)
	}
	if n := counted(early); n != fresh || n != 1 {
		t.Errorf("through the gate read before row 3: %d hidden, counted afresh %d; want 1", n, fresh)
	}
}

// TestErasureForgetsKeptScans: a kept scan holds the data of the rows the
// gate hides. An erasure drops every kept entry once committed, and a
// snapshot begun before it keeps nothing it reads after: the erased text
// stays in no kept scan, as it stays in no file.
func TestErasureForgetsKeptScans(t *testing.T) {
	ctx := context.Background()
	const fam = "F-ERASE"
	m, _, at := erasureModel(t)
	if _, err := m.Apply(ctx, []Message{eventAt(t, fam, 2, events.SUF, &events.HealthReferred{PersonID: "P1", To: "x"}, at.Add(time.Hour))}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	h := HideOf(foldGate(t, m, fam, at.Add(24*time.Hour)))
	_, until, err := m.OverviewAt(ctx, fam)
	if err != nil {
		t.Fatal(err)
	}
	kept := func() int {
		m.gateCounts.mu.Lock()
		defer m.gateCounts.mu.Unlock()
		return len(m.gateCounts.m)
	}
	read := func(snap *Model) {
		t.Helper()
		hs, err := snap.Hidden(ctx, fam, until, h)
		if err != nil {
			t.Fatal(err)
		}
		if hs.Total != 1 {
			t.Fatalf("hidden %d, want the health referral", hs.Total)
		}
	}
	snap, end, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	read(snap)
	end()
	if kept() != 1 {
		t.Fatalf("%d families kept before the erasure, want 1", kept())
	}

	early, endEarly, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer endEarly()
	if _, _, err := early.OverviewAt(ctx, fam); err != nil { // the snapshot's state is taken
		t.Fatal(err)
	}
	if _, err := m.Apply(ctx, []Message{eventAt(t, fam, 3, events.Service, &events.FamilyErased{Reason: "Formål ophørt"}, at.Add(2*time.Hour))}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	if kept() != 0 {
		t.Errorf("%d families kept after the erasure, want none", kept())
	}
	read(early)
	endEarly()
	if kept() != 0 {
		t.Errorf("a snapshot begun before the erasure kept its scan")
	}

	later, endLater, err := m.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	read(later)
	endLater()
	if kept() != 1 {
		t.Errorf("%d families kept by a snapshot begun after the erasure, want 1", kept())
	}
}

// TestGateCountsBounded: what gateCounts keeps stays within its bounds: the
// number of families, one family's scan (a larger one keeps only its
// count) and all scans together.
func TestGateCountsBounded(t *testing.T) {
	var c gateCounts
	for i := range maxGateCounts + 10 {
		c.put(fmt.Sprintf("F-%d", i), gateCount{last: 1, hidden: 1}, 0)
	}
	if len(c.m) != maxGateCounts {
		t.Errorf("%d families kept, want %d", len(c.m), maxGateCounts)
	}

	c = gateCounts{}
	big := make([]byte, maxScanBytes)
	c.keepScan("F-BIG", gateCount{last: 1}, 1, HiddenScan{Rows: []HiddenRow{{Data: big}}, Total: 1}, 0)
	if e := c.m["F-BIG"]; e.scan != nil || e.hidden != 1 || c.scanBytes != 0 {
		t.Errorf("a scan over the bound of one family: kept %v, count %d, %d bytes counted", e.scan != nil, e.hidden, c.scanBytes)
	}
	part := big[:maxScanBytes/2]
	for i := range 2 * maxAllScanBytes / len(part) {
		c.keepScan(fmt.Sprintf("F-%d", i), gateCount{last: 1}, 1, HiddenScan{Rows: []HiddenRow{{Data: part}}, Total: 1}, 0)
		if c.scanBytes > maxAllScanBytes {
			t.Fatalf("after %d scans, %d bytes kept, over %d", i+1, c.scanBytes, maxAllScanBytes)
		}
	}
	sum := 0
	for _, e := range c.m {
		sum += e.size
	}
	if sum != c.scanBytes || sum < maxAllScanBytes/2 {
		t.Errorf("kept scans of %d bytes, counted %d; want the count right and the bound used", sum, c.scanBytes)
	}
}
