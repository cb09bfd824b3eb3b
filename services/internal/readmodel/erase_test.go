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
	other, err := sql.Open("sqlite", dsn(path, true))
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
