package projector

import (
	"net/http"

	"kk.dk/jobogfamilie/services/internal/service"
)

// handleRedrive is POST /v1/admin/quarantine/redrive (operators only):
// after a deploy that added a version or an upcaster, the quarantined
// messages that now decode move to the timeline (readmodel.Model.Redrive).
// The operator sees no family data, so the answer says how many moved and
// how many did not, each by its sequence, and why each that did not
// stays, with no family or value named (readmodel.RedriveResult.Report):
// no family, subject or event type. An open stream of a family whose
// entries moved reads its consent gate again before it judges another
// entry: a re-driven consent event changes what it shows, as it changes
// what a page read shows.
func (p *Projector) handleRedrive(w http.ResponseWriter, r *http.Request) error {
	if err := p.operator(r, "re-drives the quarantine"); err != nil {
		return err
	}
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	m, release, err := p.acquire()
	if err != nil {
		return err
	}
	defer release()
	res, err := m.Redrive(r.Context(), p.opts.Keys)
	if res.Scrub != nil {
		p.log.Warn("projector: a re-driven erasure is applied, but readers kept its old text from being scrubbed from the read model's files; retrying", "err", res.Scrub)
	}
	p.noteScrub(m)
	if len(res.Moved) > 0 {
		moved := map[string]bool{}
		for _, mv := range res.Moved {
			moved[mv.FamilyID] = true
		}
		p.subs.regate(moved)
	}
	if len(res.Moved) > 0 || err != nil {
		// The evaluation's cache holds no event of the moved rows.
		p.eval.drop()
		p.rewarmEvaluation()
	}
	if err != nil {
		return err
	}
	p.opts.Log.Info("quarantine re-driven", "moved", len(res.Moved), "notMoved", len(res.NotMoved))
	return service.JSON(w, http.StatusOK, res.Report())
}
