package readmodel

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestOperatorErrorNamesNoFamily: a write that fails on a full disk
// fails with an error that names the family, for the log; the operator,
// who sees no family data (a failed rebuild's status), gets it without.
func TestOperatorErrorNamesNoFamily(t *testing.T) {
	ctx := context.Background()
	m := openModel(t)
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	const fam = "F-FULLDISK"
	var batch []Message
	for i := range 400 {
		batch = append(batch, eventAt(t, fam+"-"+strconv.Itoa(i), uint64(i+1), events.SOF, &events.FamilyReferred{Reason: "x"}, at.Add(time.Duration(i)*time.Minute)))
	}
	if _, err := m.Apply(ctx, batch, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// The disk is full: not one page more.
	var pages int
	if err := m.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := m.w.ExecContext(ctx, `PRAGMA max_page_count = `+itoa(pages)); err != nil {
		t.Fatal(err)
	}
	_, err := m.Apply(ctx, nil, ApplyOptions{Flush: true})
	if err == nil || !strings.Contains(err.Error(), fam) {
		t.Fatalf("a flush on a full disk: %v", err)
	}
	t.Logf("the error: %v", err)
	op := OperatorError(err)
	if strings.Contains(op, fam) || !strings.Contains(op, "full") {
		t.Errorf("the operator's error: %q (of %q)", op, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
