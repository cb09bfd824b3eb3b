package readmodel

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kk.dk/jobogfamilie/services/internal/problem"
)

// Read-your-writes (CONTRACT.md): a read that carries X-Min-Position: N
// waits, up to MinPositionWait, until the read model it is served from
// has applied sequence N, and answers 503 (NotApplied) otherwise. The
// coordinator, auditor and privacy APIs all honour it through
// WaitMinPosition, so that the header means the same everywhere.
const (
	// HeaderMinPosition is the request header: wait until the read model
	// has applied this stream sequence.
	HeaderMinPosition = "X-Min-Position"
	// MinPositionWait is how long a read waits for X-Min-Position.
	MinPositionWait = 5 * time.Second
)

// Positions is a read model a read can wait for: the projector, a View or
// a Follower.
type Positions interface {
	// Position is the stream sequence up to which the model is consistent.
	Position() uint64
	// WaitFor blocks until the model has applied sequence seq.
	WaitFor(ctx context.Context, seq uint64) error
}

// MinPosition reads X-Min-Position from r: ok is false without it, and a
// value that is no stream sequence is a 400.
func MinPosition(r *http.Request) (seq uint64, ok bool, err error) {
	v := r.Header.Get(HeaderMinPosition)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, false, problem.BadRequest(HeaderMinPosition + " must be a stream sequence (a non-negative integer)")
	}
	return n, true, nil
}

// AwaitPosition waits, up to MinPositionWait, until m has applied seq,
// and then sets HeaderPosition on w to where m is; otherwise it answers
// NotApplied.
func AwaitPosition(ctx context.Context, w http.ResponseWriter, m Positions, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, MinPositionWait)
	defer cancel()
	if err := m.WaitFor(ctx, seq); err != nil {
		return NotApplied(seq, m.Position())
	}
	w.Header().Set(HeaderPosition, strconv.FormatUint(m.Position(), 10))
	return nil
}

// WaitMinPosition honours X-Min-Position on a read served from m: without
// the header it returns at once, with a malformed one it is a 400, and
// otherwise it is AwaitPosition.
func WaitMinPosition(w http.ResponseWriter, r *http.Request, m Positions) error {
	seq, ok, err := MinPosition(r)
	if err != nil || !ok {
		return err
	}
	return AwaitPosition(r.Context(), w, m, seq)
}

// NotApplied is the 503 (with Retry-After) of a read whose read model did
// not reach its X-Min-Position, want, within MinPositionWait; it is at at.
func NotApplied(want, at uint64) *problem.Problem {
	pr := problem.Unavailable("the read model has not applied position " + strconv.FormatUint(want, 10) +
		" within " + MinPositionWait.String() + "; it is at " + strconv.FormatUint(at, 10))
	pr.Position = want
	return pr
}
