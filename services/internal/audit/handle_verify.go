package audit

import (
	"context"
	"errors"
	"net/http"
	"time"

	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/service"
)

// Verification states.
const (
	VerifyIdle    = "idle"
	VerifyRunning = "running"
	VerifyDone    = "done"
	VerifyFailed  = "failed"
)

// VerifyStatus is the running or latest verification, as GET
// /v1/audit/verify shows it.
type VerifyStatus struct {
	State      string                   `json:"state"`
	StartedAt  *time.Time               `json:"startedAt,omitempty"`
	FinishedAt *time.Time               `json:"finishedAt,omitempty"`
	Progress   readmodel.VerifyProgress `json:"progress"`
	Result     *readmodel.VerifyResult  `json:"result,omitempty"`
	Error      string                   `json:"error,omitempty"`
}

// Verify replays the whole stream into a fresh temporary projection and
// compares it with the live read model (see readmodel.View.Verify).
// One runs at a time: each replays the whole history.
func (s *Service) Verify(ctx context.Context) (readmodel.VerifyResult, error) {
	s.verifyMu.Lock()
	if s.verify.State == VerifyRunning {
		s.verifyMu.Unlock()
		return readmodel.VerifyResult{}, errVerifyRunning
	}
	now := time.Now().UTC()
	s.verify = VerifyStatus{State: VerifyRunning, StartedAt: &now}
	s.verifyMu.Unlock()

	res, err := s.view.Verify(ctx, s.reader.JS, readmodel.VerifyOptions{
		Dir:  s.verifyDir,
		Keys: s.reader.Keys,
		Progress: func(p readmodel.VerifyProgress) {
			s.verifyMu.Lock()
			s.verify.Progress = p
			s.verifyMu.Unlock()
		},
	})
	end := time.Now().UTC()
	s.verifyMu.Lock()
	s.verify.FinishedAt = &end
	outcome := "failed"
	if err != nil {
		s.verify.State, s.verify.Error = VerifyFailed, err.Error()
	} else {
		s.verify.State, s.verify.Result = VerifyDone, &res
		outcome = "match"
		if !res.Match {
			outcome = "mismatch"
		}
	}
	s.verifyMu.Unlock()
	s.metrics.verifies.WithLabelValues(outcome).Inc()
	if err == nil && !res.Match {
		s.log.Warn("audit: the read model differs from a replay of the stream", "events", res.Events,
			"live", res.Live, "replay", res.Replay, "difference", res.FirstDifference)
	}
	return res, err
}

// VerifyStatus reports the running or latest verification.
func (s *Service) VerifyStatus() VerifyStatus {
	s.verifyMu.Lock()
	defer s.verifyMu.Unlock()
	return s.verify
}

// handleVerify is POST /v1/audit/verify: it answers when the verification
// is done, 200 whatever the outcome (match says it); GET /v1/audit/verify
// follows it meanwhile.
func (s *Service) handleVerify(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.auditor(r); err != nil {
		return err
	}
	if len(r.URL.Query()) > 0 {
		return problem.BadRequest("POST /v1/audit/verify takes no query parameters")
	}
	// A read model still catching up is refused at once, as its reads
	// are: the verification is neither run nor recorded as failed.
	if err := s.view.Servable(r.Context()); err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	res, err := s.Verify(r.Context())
	if errors.Is(err, errVerifyRunning) {
		return err
	}
	if err != nil {
		if r.Context().Err() != nil {
			return nil
		}
		return storeProblem(err)
	}
	return service.JSON(w, http.StatusOK, res)
}

// handleVerifyStatus is GET /v1/audit/verify.
func (s *Service) handleVerifyStatus(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.auditor(r); err != nil {
		return err
	}
	return service.JSON(w, http.StatusOK, s.VerifyStatus())
}
