package readmodel

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

const erasedSecret = "HemmeligBegrundelseXYZ"

// erasureModel is a model holding one referral of F-ERASE whose reason is
// erasedSecret, with the scrub's waits shortened for the test.
func erasureModel(t *testing.T) (*Model, string, time.Time) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), ModelName(1))
	m, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	m.scrubWait, m.scrubRetryEvery = 300*time.Millisecond, 0
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	ref := eventAt(t, "F-ERASE", 1, events.SOF, &events.FamilyReferred{Reason: erasedSecret}, at)
	if _, err := m.Apply(ctx, []Message{ref}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	return m, path, at
}

// secretOnDisk lists the model's files (the database and its WAL) that
// hold erasedSecret.
func secretOnDisk(path string) []string {
	var where []string
	for _, p := range []string{path, path + "-wal"} {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(erasedSecret)) {
			where = append(where, filepath.Base(p))
		}
	}
	return where
}

// pinSnapshot begins a read transaction on db and reads, so that it holds
// a snapshot (as Verify's pin does) until rolled back.
func pinSnapshot(t *testing.T, db *sql.DB) *sql.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM timeline`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return tx
}

// TestErasureScrubFinishesAfterReaderLetsGo: an erasure applied while a
// reader holds a snapshot commits and is reported as applied, though the
// checkpoint that scrubs the WAL cannot finish; the scrub stays pending
// and the next batch after the reader lets go finishes it, leaving the
// erased text in neither the file nor its WAL.
func TestErasureScrubFinishesAfterReaderLetsGo(t *testing.T) {
	ctx := context.Background()
	m, path, at := erasureModel(t)
	tx := pinSnapshot(t, m.rdb)
	erase := eventAt(t, "F-ERASE", 2, events.Service, &events.FamilyErased{Reason: "Formål ophørt"}, at.Add(time.Hour))
	res, err := m.Apply(ctx, []Message{erase}, ApplyOptions{Flush: true})
	if err != nil {
		t.Fatalf("the erasure was committed, but Apply failed: %v", err)
	}
	if !res.Erased || res.Last != 2 || m.Checkpoint() != 2 {
		t.Fatalf("erasure not applied: %+v, checkpoint %d", res, m.Checkpoint())
	}
	if res.Scrub == nil || !m.ScrubPending() {
		t.Fatalf("a reader held a snapshot, yet the scrub is reported done (scrub %v, pending %v)", res.Scrub, m.ScrubPending())
	}
	var flag int
	if err := m.w.QueryRowContext(ctx, `SELECT scrub FROM checkpoint`).Scan(&flag); err != nil || flag != 1 {
		t.Fatalf("pending scrub not recorded in the checkpoint row: %d %v", flag, err)
	}
	_ = tx.Rollback()

	next := eventAt(t, "F-OTHER", 3, events.SOF, &events.MeetingHeld{Kind: "team"}, at.Add(2*time.Hour))
	if _, err := m.Apply(ctx, []Message{next}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	if m.ScrubPending() {
		t.Error("the scrub is still pending after the reader ended and another batch committed")
	}
	if w := secretOnDisk(path); len(w) > 0 {
		t.Errorf("after the reader ended and another batch committed, the erased text is still in %v", w)
	}
	if err := m.w.QueryRowContext(ctx, `SELECT scrub FROM checkpoint`).Scan(&flag); err != nil || flag != 0 {
		t.Errorf("scrub flag after the scrub: %d %v", flag, err)
	}
}

// TestPendingScrubIsFinishedAtOpen: a model closed while its erasure's
// scrub was pending (a reader held a snapshot throughout) finishes the
// scrub when it is opened again, and RetryScrub finishes one between
// batches.
func TestPendingScrubIsFinishedAtOpen(t *testing.T) {
	ctx := context.Background()
	m, path, at := erasureModel(t)
	// Another connection's snapshot, which outlives the model's own.
	other, err := sql.Open("sqlite", dsn(path, readerConn))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx := pinSnapshot(t, other)
	erase := eventAt(t, "F-ERASE", 2, events.Service, &events.FamilyErased{Reason: "Formål ophørt"}, at.Add(time.Hour))
	if res, err := m.Apply(ctx, []Message{erase}, ApplyOptions{Flush: true}); err != nil || res.Scrub == nil {
		t.Fatalf("erasure under a reader: %v, scrub %v", err, res.Scrub)
	}
	if err := m.RetryScrub(ctx); err == nil || !m.ScrubPending() {
		t.Fatalf("RetryScrub under a reader: %v, pending %v", err, m.ScrubPending())
	}
	m.Close()
	_ = tx.Rollback()

	m2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2.ScrubPending() {
		t.Error("the scrub recorded as pending was not finished at open")
	}
	if w := secretOnDisk(path); len(w) > 0 {
		t.Errorf("after the model was opened again, the erased text is still in %v", w)
	}
	if err := m2.RetryScrub(ctx); err != nil {
		t.Errorf("RetryScrub with nothing pending: %v", err)
	}
}

// deferredErasures applies, with the scrub deferred, referrals of two more
// families whose reasons hold erasedSecret and erasures of all three
// families of erasureModel and those, each batch of its own, and checks
// that no batch scrubbed.
func deferredErasures(t *testing.T, m *Model, at time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := m.DeferScrub(ctx, true); err != nil {
		t.Fatal(err)
	}
	erase := func() events.Payload { return &events.FamilyErased{Reason: "Formål ophørt"} }
	batches := []Message{
		eventAt(t, "F-ERASE2", 2, events.SOF, &events.FamilyReferred{Reason: erasedSecret + "-2"}, at),
		eventAt(t, "F-ERASE", 3, events.Service, erase(), at.Add(time.Hour)),
		eventAt(t, "F-ERASE3", 4, events.SOF, &events.FamilyReferred{Reason: erasedSecret + "-3"}, at),
		eventAt(t, "F-ERASE2", 5, events.Service, erase(), at.Add(time.Hour)),
		eventAt(t, "F-ERASE3", 6, events.Service, erase(), at.Add(time.Hour)),
	}
	erasures := 0
	for _, msg := range batches {
		res, err := m.Apply(ctx, []Message{msg}, ApplyOptions{Flush: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Erased {
			erasures++
			if res.Scrub != nil || !m.ScrubPending() {
				t.Fatalf("deferred erasure at %d: scrub %v, pending %v", res.Last, res.Scrub, m.ScrubPending())
			}
		}
	}
	if erasures != 3 {
		t.Fatalf("%d batches erased a family, want 3", erasures)
	}
	var flag int
	if err := m.w.QueryRowContext(ctx, `SELECT scrub FROM checkpoint`).Scan(&flag); err != nil || flag != 1 {
		t.Fatalf("deferred scrub not recorded as pending in the checkpoint row: %d %v", flag, err)
	}
	if err := m.RetryScrub(ctx); err != nil || !m.ScrubPending() {
		t.Fatalf("RetryScrub while deferred: %v, pending %v", err, m.ScrubPending())
	}
	if n := m.Vacuums(); n != 0 {
		t.Fatalf("%d VACUUMs while the scrub was deferred", n)
	}
}

// TestDeferredScrubRunsOnce: while the scrub is deferred (a bulk load
// that serves no reads), erasures in several batches mark it pending and
// neither the batches after them nor RetryScrubs' ticks run it; ending the
// deferral runs one VACUUM, which leaves the text of every erasure in
// neither the file nor its WAL.
func TestDeferredScrubRunsOnce(t *testing.T) {
	ctx := context.Background()
	m, path, at := erasureModel(t)
	deferredErasures(t, m, at)
	if len(secretOnDisk(path)) == 0 {
		t.Fatal("the erased text is in neither file before the scrub: the test shows nothing")
	}
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	RetryScrubs(tctx, 10*time.Millisecond, func() (*Model, func()) { return m, func() {} }, func(_ *Model, finished bool) {
		if finished {
			t.Error("RetryScrubs reports a deferred scrub finished")
		}
	})
	if n := m.Vacuums(); n != 0 || !m.ScrubPending() {
		t.Fatalf("RetryScrubs while deferred: %d VACUUMs, pending %v", n, m.ScrubPending())
	}

	if err := m.DeferScrub(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := m.Vacuums(); n != 1 || m.ScrubPending() {
		t.Errorf("ending the deferral: %d VACUUMs, pending %v; want 1, not pending", n, m.ScrubPending())
	}
	if w := secretOnDisk(path); len(w) > 0 {
		t.Errorf("after the deferred scrub, the erased text is still in %v", w)
	}
	var flag int
	if err := m.w.QueryRowContext(ctx, `SELECT scrub FROM checkpoint`).Scan(&flag); err != nil || flag != 0 {
		t.Errorf("scrub flag after the scrub: %d %v", flag, err)
	}
	// Not deferred any more: the next erasure scrubs at once.
	ref := eventAt(t, "F-ERASE4", 7, events.SOF, &events.FamilyReferred{Reason: erasedSecret + "-4"}, at)
	erase := eventAt(t, "F-ERASE4", 8, events.Service, &events.FamilyErased{Reason: "Formål ophørt"}, at.Add(time.Hour))
	for _, msg := range []Message{ref, erase} {
		if _, err := m.Apply(ctx, []Message{msg}, ApplyOptions{Flush: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Vacuums(); n != 2 || m.ScrubPending() {
		t.Errorf("an erasure after the deferral: %d VACUUMs in all, pending %v; want 2, not pending", n, m.ScrubPending())
	}
	if w := secretOnDisk(path); len(w) > 0 {
		t.Errorf("after an erasure with no deferral, the erased text is still in %v", w)
	}
}

// TestDeferredScrubIsFinishedAtOpen: a load that stops with its deferred
// scrub pending (a crash before it ended) is scrubbed when the model is
// opened again, with one VACUUM.
func TestDeferredScrubIsFinishedAtOpen(t *testing.T) {
	ctx := context.Background()
	m, crashed, at := erasureModel(t)
	deferredErasures(t, m, at)
	// The files as a crash leaves them: a close would checkpoint the WAL
	// into the file.
	path := filepath.Join(filepath.Dir(crashed), ModelName(2))
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(crashed + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	if len(secretOnDisk(path)) == 0 {
		t.Fatal("the erased text is in neither file before the scrub: the test shows nothing")
	}

	m2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2.ScrubPending() || m2.ScrubDeferred() || m2.Vacuums() != 1 {
		t.Errorf("at open: pending %v, deferred %v, %d VACUUMs; want the scrub done with one", m2.ScrubPending(), m2.ScrubDeferred(), m2.Vacuums())
	}
	if w := secretOnDisk(path); len(w) > 0 {
		t.Errorf("after the model was opened again, the erased text is still in %v", w)
	}
}
