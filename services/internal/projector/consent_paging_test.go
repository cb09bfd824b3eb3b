package projector_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
)

// TestConsentGatePagingTies: entries sharing one time, hidden ones among
// them at every page boundary, both orders, with and without a filter:
// the pages are the one-page answer, and every page says how many of the
// family's entries are hidden, whatever the filter.
func TestConsentGatePagingTies(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-CG-PAGE"
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	coordinatedFamily(t, s, fam, base)
	tie := events.WithTime(base.Add(5 * time.Minute))
	var last uint64
	for i := range 9 {
		switch i % 3 {
		case 0:
			last = s.post(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: float64(i)}, tie)
		case 1:
			last = s.post(events.BUF, fam, &events.MeetingHeld{Kind: "family"}, tie)
		default:
			last = s.post(events.BIF, fam, &events.EducationStarted{PersonID: "P1", Programme: fmt.Sprint("p", i)}, tie)
		}
	}
	// Backfilled (earlier time, later sequence).
	last = s.post(events.BUF, fam, &events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 99}, events.WithTime(base.Add(3*time.Minute)))
	s.WaitApplied(last)
	const hidden = 4 // the wellbeing.measured about C1, who has no consent
	for _, q := range []string{"order=asc", "order=desc", "order=asc&department=buf", "order=desc&department=buf"} {
		whole := s.timeline(fam, q+"&limit=500", "dev-coordinator", nil)
		if whole.HiddenByConsent != hidden {
			t.Errorf("%s: %d hidden, want the family's %d", q, whole.HiddenByConsent, hidden)
		}
		for limit := 1; limit <= 4; limit++ {
			got, counts := s.allPages(fam, fmt.Sprintf("%s&limit=%d", q, limit), "dev-coordinator")
			if len(got) != len(whole.Entries) || slices.ContainsFunc(counts, func(n int) bool { return n != hidden }) {
				t.Errorf("%s limit %d: %d entries, hidden per page %v; one page: %d, want %d on every page", q, limit, len(got), counts, len(whole.Entries), hidden)
				continue
			}
			for i := range got {
				if got[i].Sequence != whole.Entries[i].Sequence {
					t.Errorf("%s limit %d: entry %d is %d, want %d", q, limit, i, got[i].Sequence, whole.Entries[i].Sequence)
				}
			}
		}
	}
	for _, c := range []string{"x", "!!", base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"fam":"OTHER","o":"asc","p":{"t":0,"s":0}}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"fam":"` + fam + `","o":"asc","p":{"t":0,"s":-1}}`))} {
		if r := s.Get("/v1/families/"+fam+"/timeline?cursor="+c, "dev-coordinator", nil); r.Status != 400 {
			t.Errorf("cursor %s: %d %s", c, r.Status, r.Raw)
		}
	}
}

// TestTimelineForgedCursorFilters: a cursor's filters are checked as the
// parameters are: as department=zz is a 400, so is a forged cursor with an
// unknown department or type.
func TestTimelineForgedCursorFilters(t *testing.T) {
	t.Parallel()
	s := startSystem(t)
	const fam = "FAM-CG-CUR"
	coordinatedFamily(t, s, fam, time.Now().UTC().Add(-time.Hour).Truncate(time.Second))
	s.WaitApplied(s.post(events.BUF, fam, &events.MeetingHeld{Kind: "family"}))
	if r := s.Get("/v1/families/"+fam+"/timeline?department=zz", "dev-coordinator", nil); r.Status != 400 {
		t.Fatalf("department=zz: %d", r.Status)
	}
	for _, c := range []string{`{"v":1,"fam":"` + fam + `","o":"asc","d":["zz"],"p":{"t":0,"s":0}}`,
		`{"v":1,"fam":"` + fam + `","o":"asc","y":["zz"],"p":{"t":0,"s":0}}`} {
		if r := s.Get("/v1/families/"+fam+"/timeline?cursor="+base64.RawURLEncoding.EncodeToString([]byte(c)), "dev-coordinator", nil); r.Status != 400 {
			t.Errorf("forged cursor %s: %d %s", c, r.Status, r.Raw)
		}
	}
}
