package readmodel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/evaluation"
)

// TestScansDoNotMapTheFile: the evaluation's read and a digest read every
// page of the model, and must not leave them mapped into the process, as
// a reader's map would for as long as its connection lives; a reader's
// query does map the file, which shows that the check sees a map.
func TestScansDoNotMapTheFile(t *testing.T) {
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		t.Skip("no /proc/self/maps:", err)
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), ModelName(1))
	m, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var batch []Message
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := range 200 {
		batch = append(batch, eventAt(t, "F1", uint64(i+1), events.SOF, &events.FamilyReferred{Reason: strings.Repeat("Bekymring ", 50)}, at.Add(time.Duration(i)*time.Minute)))
	}
	if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	// Into the file, where a map would read it, rather than the WAL.
	if _, err := m.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	mapped := func() bool {
		b, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(line, " "+path) {
				return true
			}
		}
		return false
	}

	n := 0
	if err := m.EvaluationEvents(ctx, 0, 200, func(evaluation.Event) { n++ }); err != nil || n != 200 {
		t.Fatalf("the evaluation's read: %d events, %v", n, err)
	}
	if _, err := m.Digest(ctx); err != nil {
		t.Fatal(err)
	}
	if mapped() {
		t.Fatal("the evaluation's read or the digest left the model file mapped")
	}
	if entries, err := m.EntriesAfter(ctx, "F1", 0, 200); err != nil || len(entries) != 200 {
		t.Fatalf("a reader's read: %d entries, %v", len(entries), err)
	}
	if !mapped() {
		t.Fatal("a reader's read did not map the model file: the check cannot see a map")
	}
}
