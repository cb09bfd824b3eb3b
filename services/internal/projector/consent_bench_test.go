package projector_test

import (
	"testing"

	"kk.dk/jobogfamilie/events"
)

// BenchmarkTimelineConsentGate measures a timeline page of 100 entries of
// one family of 10 000 events (half of them BUF and SUF events about P1 and
// C1) over HTTP: as an auditor (not gated), as the coordinator while
// nobody has consented (half the entries hidden), and once both have.
func BenchmarkTimelineConsentGate(b *testing.B) {
	s := startSystem(b)
	const fam = "F0"
	s.WaitApplied(fill(b, s.SA.Store, 10_000, 1))
	page := func(b *testing.B, token string, wantHidden bool) {
		for b.Loop() {
			r := s.Get("/v1/families/"+fam+"/timeline?limit=100", token, nil)
			if r.Status != 200 {
				b.Fatalf("%d %s", r.Status, r.Raw)
			}
		}
		p := s.timeline(fam, "limit=100", token, nil)
		if (p.HiddenByConsent > 0) != wantHidden || len(p.Entries) != 100 {
			b.Fatalf("%d entries, %d hidden", len(p.Entries), p.HiddenByConsent)
		}
	}
	b.Run("auditor", func(b *testing.B) { page(b, "dev-auditor", false) })
	b.Run("coordinator-no-consent", func(b *testing.B) { page(b, "dev-coordinator", true) })
	s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeDataSharing})
	s.WaitApplied(s.post(events.SOF, fam, &events.ConsentGiven{PersonID: "C1", Scope: events.ScopeDataSharing}))
	b.Run("coordinator-consent", func(b *testing.B) { page(b, "dev-coordinator", false) })
}
