package audit_test

import (
	"context"
	"sync"
	"testing"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestVerifyDuringErasure: a family is erased while a verification
// replays the stream up to the checkpoint it pinned before the erasure.
// The pinned model holds the family's text, and the replay can no longer
// read it (its key is gone): that is no difference between the read
// model and the stream, and verify must not report one.
func TestVerifyDuringErasure(t *testing.T) {
	t.Parallel()
	s := startSystem(t, false)
	const fam = "FAM-VE"
	s.Post(events.SOF, fam, testenv.Enrolment())
	last := s.Post(events.SOF, fam, &events.FamilyReferred{Reason: "Tekst om familien", Note: "en note"})
	s.WaitApplied(last.Sequence)

	var once sync.Once
	res, err := s.SA.Projector.AuditView().Verify(context.Background(), s.SA.Running.Store.JS, readmodel.VerifyOptions{
		Dir:  t.TempDir(),
		Keys: s.SA.Running.Keys,
		Progress: func(p readmodel.VerifyProgress) {
			if p.Phase != readmodel.PhaseReplay {
				return
			}
			once.Do(func() {
				// Pinned, nothing replayed yet: the erasure, whole.
				r := s.Do("POST", "/v1/privacy/families/"+fam+"/erase", "dev-dpo", []byte(`{"reason":"Art. 17"}`), nil)
				if r.Status != 201 {
					t.Errorf("erase: %d %s", r.Status, r.Raw)
				}
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Match {
		t.Fatalf("verify during an erasure: %+v %+v", res, res.FirstDifference)
	}
}
