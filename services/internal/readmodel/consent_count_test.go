package readmodel

import (
	"context"
	"net/url"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestHiddenCountOneNumber: while the family's row lags its timeline rows
// (a catch-up batch not flushed), the overview's scan (Hidden, up to the
// family's last flush) and the timeline's page count every stored row of
// the family: one read, one hiddenByConsent.
func TestHiddenCountOneNumber(t *testing.T) {
	ctx := context.Background()
	const fam = "F-COUNTS"
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	m := gateModel(t)
	if _, err := m.Apply(ctx, []Message{eventAt(t, fam, 1, events.SOF, &events.FamilyReferred{Reason: "x"}, base)}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(ctx, []Message{eventAt(t, fam, 2, events.SUF, &events.HealthReferred{PersonID: "P1", To: "x"}, base.Add(time.Hour))}, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	h := HideOf(foldGate(t, m, fam, base.Add(24*time.Hour)))
	_, last, err := m.OverviewAt(ctx, fam)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := m.Hidden(ctx, fam, last, h) // as the overview and GET /v1/families count
	if err != nil {
		t.Fatal(err)
	}
	tq, err := ParseTimeline(fam, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := m.Timeline(ctx, tq.WithHide(h).WithHiddenCount()) // as the API's timeline counts
	if err != nil {
		t.Fatal(err)
	}
	if hs.Total != 1 || page.HiddenByConsent != 1 || len(hs.Rows) != 0 {
		t.Errorf("overview's count %d (hidden rows up to its fold %d), timeline's %d; want 1, 0 and 1", hs.Total, len(hs.Rows), page.HiddenByConsent)
	}
}
