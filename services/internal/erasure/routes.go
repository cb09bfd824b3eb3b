package erasure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/openapi"
	"kk.dk/jobogfamilie/services/internal/problem"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/service"
)

// Service is the erasure and retention API of the data protection
// officer (auth.DPO).
type Service struct {
	Eraser *Eraser
	view   *readmodel.View
	auth   *auth.Authenticator
	years  int
	log    *slog.Logger
	stop   context.CancelFunc
	// Now is the clock of the retention rule.
	Now func() time.Time
}

// NewService is the API on p, reading due families from view (the
// projector's read model). It resumes erasures a stop left half done.
func NewService(ctx context.Context, p service.Parts, view *readmodel.View) (*Service, error) {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	pub, err := eventstore.NewPublisher(p.Store.NC)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(ctx)
	s := &Service{Eraser: &Eraser{JS: p.Store.JS, Pub: pub, Keys: p.Keys, Log: log}, view: view, auth: p.Auth,
		years: p.Config.RetentionYears, log: log, stop: stop, Now: time.Now}
	if s.years <= 0 {
		s.years = 5
	}
	go func() {
		for {
			n, err := s.Eraser.Resume(ctx)
			if err == nil {
				if n > 0 {
					log.Warn("erasures resumed", "families", n)
				}
				return
			}
			if ctx.Err() != nil {
				// Stopping: the next start resumes them.
				return
			}
			log.Error("resuming erasures", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
		}
	}()
	return s, nil
}

// Routes are the erasure and retention API. Every answer carries
// X-Position, the position of the read model the due list is read from.
func (s *Service) Routes() []service.Route {
	return service.Positioned([]service.Route{
		{Method: "POST", Pattern: "/v1/privacy/families/{familyId}/erase", Handle: s.handleErase},
		{Method: "GET", Pattern: "/v1/privacy/due", Handle: s.handleDue, GetOnly: true},
	}, readmodel.HeaderPosition, s.view.Position)
}

// Checks: none of its own.
func (s *Service) Checks() map[string]service.Check { return nil }

// API is the OpenAPI description of Routes.
func (s *Service) API() openapi.Fragment { return openapi.Erasure() }

// Stop ends a resume still running.
func (s *Service) Stop() { s.stop() }

func (s *Service) dpo(r *http.Request) (auth.Principal, error) {
	pr, err := s.auth.Authenticate(r)
	if err != nil {
		return pr, err
	}
	if pr.Kind != auth.DPO {
		return pr, problem.Forbidden("only the data protection officer (dpo) erases families and lists those due")
	}
	return pr, nil
}

// maxEraseBody bounds the body of an erasure request.
const maxEraseBody = 8 << 10

// handleErase is POST /v1/privacy/families/{familyId}/erase.
func (s *Service) handleErase(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.dpo(r); err != nil {
		return err
	}
	id := r.PathValue("familyId")
	if !events.ValidID(id) {
		return problem.BadRequest("familyId must match " + events.IDPattern)
	}
	// An erasure cannot be undone: the body is read whole, and is one
	// JSON object with nothing after it, or nothing is done.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEraseBody+1))
	if err != nil {
		return problem.BadRequest("reading the body: " + err.Error())
	}
	if len(body) > maxEraseBody {
		return problem.New(http.StatusRequestEntityTooLarge, "too-large", "Request body too large",
			"the body of an erasure is at most "+strconv.Itoa(maxEraseBody)+" bytes")
	}
	var req struct {
		Reason       string  `json:"reason"`
		LastSequence *uint64 `json:"lastSequence"`
	}
	const shape = `the body is {"reason": "<the legal ground>"}, optionally with "lastSequence": <the last sequence archived>`
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return problem.BadRequest(shape + ": " + err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return problem.BadRequest(shape + ", and nothing after it")
	}
	var last uint64
	if req.LastSequence != nil {
		if *req.LastSequence == 0 {
			return problem.BadRequest("lastSequence, when given, is the stream sequence of the family's last event archived: at least 1")
		}
		last = *req.LastSequence
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Reason == "" || len([]rune(req.Reason)) > 500 {
		return problem.BadRequest("reason is required, at most 500 characters: the legal ground of the erasure")
	}
	// The reason is stored in the clear: held to the catalog's rules (no
	// CPR number, no control characters) before anything is done.
	ev, err := events.Build(events.Service, id, &events.FamilyErased{Reason: req.Reason})
	if err == nil {
		_, err = events.Validate(ev)
	}
	if err != nil {
		return problem.BadRequest("reason: " + err.Error())
	}
	res, err := s.Eraser.Erase(r.Context(), id, req.Reason, last)
	switch {
	case errors.Is(err, ErrNoFamily):
		return problem.NotFound("the event store holds nothing about family " + id)
	case errors.Is(err, ErrChanged):
		return problem.Conflict("family-changed", strings.TrimPrefix(err.Error(), ErrChanged.Error()+": ")+"; nothing was erased")
	case errors.Is(err, eventstore.ErrUnavailable):
		return problem.Unavailable(err.Error())
	case err != nil:
		return err
	}
	status := http.StatusOK
	if res.Recorded {
		status = http.StatusCreated
	}
	return service.JSON(w, status, res)
}

// DuePurpose is the purpose a read of the due list is logged with when
// the request gives no X-Purpose.
const DuePurpose = "Opbevaringsfristen: listen over familier, der skal slettes"

// handleDue is GET /v1/privacy/due. The list names families with their
// status and the dates their period counts from and ends, so it is in the
// access log before it is sent, one entry on access.<familyId> for each
// family listed (a family's access report lists it), with X-Purpose or
// DuePurpose; an empty list is no read of a family. Without an access
// log the answer is 503. X-Min-Position waits for the read model as on
// the coordinator API. A read model that has not applied the stream as it
// was when its process started would list too few families, or a family
// as due whose later events it has not applied: the list is refused at
// once (503 with Retry-After, readmodel.NotReady) until it has.
func (s *Service) handleDue(w http.ResponseWriter, r *http.Request) error {
	if err := s.view.Await(w, r); err != nil {
		return err
	}
	pr, err := s.dpo(r)
	if err != nil {
		return err
	}
	if len(r.URL.Query()) > 0 {
		return problem.BadRequest("GET /v1/privacy/due takes no query parameters")
	}
	why, err := accesslog.Purpose(r)
	if err != nil {
		return err
	}
	if why == "" {
		why = DuePurpose
	}
	now := s.Now().UTC()
	due, err := DueFamilies(r.Context(), s.view, s.years, now)
	if err != nil {
		return err
	}
	ids := make([]string, len(due))
	for i, d := range due {
		ids[i] = d.FamilyID
	}
	if err := accesslog.RecordEach(r.Context(), s.Eraser.JS, r, pr, ids, why); err != nil {
		s.log.Warn("erasure: access log unavailable, due list refused", "families", len(ids), "err", err)
		return accesslog.Unavailable()
	}
	return service.JSON(w, http.StatusOK, map[string]any{"asOf": now, "retentionYears": s.years, "families": due})
}
