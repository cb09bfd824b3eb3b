package readmodel

// Verification for the audit service: replay the stream into a fresh
// temporary model with the projector's own code and compare it with the
// live model at the same sequence.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// VerifyOptions configure a verification.
type VerifyOptions struct {
	// Dir is where the temporary model is built; it is removed afterwards.
	// Empty is the system's temporary directory.
	Dir string
	// BatchSize is the most messages applied in one transaction.
	BatchSize int
	// Progress, when set, is called as the replay advances.
	Progress func(VerifyProgress)
	// Keys decrypt the events' personal fields, as the live model's did.
	Keys *shred.Keyring
}

// Verification phases, in order.
const (
	PhasePin    = "pin"    // taking the live model's snapshot
	PhaseReplay = "replay" // replaying the stream into the temporary model
	PhaseDigest = "digest" // digesting both models
	PhaseDiff   = "diff"   // looking for the first difference
	PhaseDone   = "done"
)

// VerifyProgress is where a verification is.
type VerifyProgress struct {
	Phase   string `json:"phase"`
	Applied uint64 `json:"applied"`
	Target  uint64 `json:"target"`
}

// VerifyResult is the outcome: the digests of both models at the same
// stream sequence and, when they differ, the first difference.
type VerifyResult struct {
	// Events is the number of stream messages replayed: the live model's
	// checkpoint (sequences are consecutive; the stream denies deletes).
	Events          uint64      `json:"events"`
	Live            string      `json:"live"`
	Replay          string      `json:"replay"`
	Match           bool        `json:"match"`
	FirstDifference *Difference `json:"firstDifference,omitempty"`
}

// Difference names the first row where the live model and the replay
// differ, in the digest's order: checkpoint, timeline (by sequence),
// families (by id), access (by family and employee), quarantine.
type Difference struct {
	Table      string `json:"table"`
	FamilyID   string `json:"familyId,omitempty"`
	Sequence   uint64 `json:"sequence,omitempty"`
	EventID    string `json:"eventId,omitempty"`
	EmployeeID string `json:"employeeId,omitempty"`
	Detail     string `json:"detail"`
}

// Verify pins the live model at its checkpoint (one SQLite read
// transaction holds the checkpoint and every row the digest reads),
// replays the stream exactly up to that checkpoint into a fresh model in
// o.Dir with the projector's own decode and apply code, and compares the
// digests; on a mismatch it walks both models to the first difference.
// The live model keeps applying meanwhile; the pin only holds its snapshot.
//
// A family erased while the replay runs is the one difference that is no
// fault: the pinned model still holds the text that the replay, its key
// destroyed, reads as the tombstone. When the digests differ and a
// family.erased is stored after the checkpoint, the verification runs
// again on a model that has applied it (verifyAttempts in all).
func (v *View) Verify(ctx context.Context, js jetstream.JetStream, o VerifyOptions) (VerifyResult, error) {
	return verifyAgainAfterErasures(ctx, js, func(atLeast uint64) (VerifyResult, error) {
		if atLeast > 0 {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := v.WaitFor(wctx, atLeast)
			cancel()
			if err != nil {
				return VerifyResult{}, fmt.Errorf("readmodel: verify: the read model has not applied the erasures recorded meanwhile (up to %d): %w", atLeast, err)
			}
		}
		return v.verifyOnce(ctx, js, o)
	})
}

// verifyAttempts bounds the verifications Verify and VerifyFile run while
// erasures recorded during each explain its difference.
const verifyAttempts = 3

// verifyAgainAfterErasures runs verify (atLeast 0) and, while its answer is a
// difference and a family.erased is stored after the checkpoint it
// pinned, runs it again on a model that has applied the stream up to atLeast,
// the stream's last sequence then.
func verifyAgainAfterErasures(ctx context.Context, js jetstream.JetStream, verify func(atLeast uint64) (VerifyResult, error)) (VerifyResult, error) {
	var atLeast uint64
	for attempt := 1; ; attempt++ {
		res, err := verify(atLeast)
		if err != nil || res.Match {
			return res, err
		}
		erased, last, err := erasedAfter(ctx, js, res.Events)
		if err != nil || !erased {
			return res, err
		}
		if attempt == verifyAttempts {
			return VerifyResult{}, fmt.Errorf("readmodel: verify: families were erased during each of %d verifications, which the replay reads erased and the pinned model did not yet; verify again later", attempt)
		}
		atLeast = last
	}
}

// erasedAfter reports whether a family.erased is stored after sequence
// cp and, if so, the stream's last sequence, which is at or after it.
func erasedAfter(ctx context.Context, js jetstream.JetStream, cp uint64) (bool, uint64, error) {
	stream, err := js.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return false, 0, fmt.Errorf("readmodel: verify: stream: %w", err)
	}
	_, err = stream.GetMsg(ctx, cp+1, jetstream.WithGetMsgSubject(shred.ErasedSubject("*")))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("readmodel: verify: erasures after %d: %w", cp, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return false, 0, fmt.Errorf("readmodel: verify: stream: %w", err)
	}
	return true, info.State.LastSeq, nil
}

// verifyOnce is one verification of Verify.
func (v *View) verifyOnce(ctx context.Context, js jetstream.JetStream, o VerifyOptions) (VerifyResult, error) {
	report(o, VerifyProgress{Phase: PhasePin})
	// The apply lock first, then the model: the order Projector.Close
	// takes them in. Under the lock the model acquired is the live one (a
	// rebuild swaps under it, and only Close retires the live model).
	unlock := v.src.LockApply()
	m, release, err := v.src.Acquire()
	if err != nil {
		unlock()
		return VerifyResult{}, err
	}
	snap, cp, err := v.pin(ctx, m)
	unlock()
	if err != nil {
		release()
		return VerifyResult{}, err
	}
	defer release()
	defer func() { _ = snap.Rollback() }()
	return verifySnapshot(ctx, js, snap, cp, o)
}

// pin takes a read transaction on m, the live model, whose first read
// happens while the caller holds the applier between two batches, after a
// Flush: its snapshot is a model consistent up to its checkpoint.
func (v *View) pin(ctx context.Context, m *Model) (*sql.Tx, uint64, error) {
	if m.consistent < m.checkpoint {
		res, err := m.Apply(ctx, nil, ApplyOptions{Flush: true})
		if err != nil {
			return nil, 0, fmt.Errorf("readmodel: flush before verify: %w", err)
		}
		v.src.SetApplied(res.Consistent)
	}
	tx, err := m.sdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	var cp, consistent int64
	if err := tx.QueryRowContext(ctx, `SELECT sequence, overviews FROM checkpoint WHERE id = 1`).Scan(&cp, &consistent); err != nil {
		_ = tx.Rollback()
		return nil, 0, err
	}
	if cp != consistent {
		_ = tx.Rollback()
		return nil, 0, fmt.Errorf("readmodel: the pinned model is at %d but consistent only to %d", cp, consistent)
	}
	return tx, uint64(cp), nil
}

// VerifyFile verifies a read model file that another process (a running
// projector) owns, opened read-only: the snapshot is taken at a moment
// when the file is consistent up to its checkpoint, which it is after
// every flush; the wait for one is bounded.
//
// As Verify, it verifies again when a family erased meanwhile explains a
// difference, on a snapshot taken once the file has applied the erasure.
func VerifyFile(ctx context.Context, js jetstream.JetStream, path string, o VerifyOptions) (VerifyResult, error) {
	return verifyAgainAfterErasures(ctx, js, func(atLeast uint64) (VerifyResult, error) {
		return verifyFileOnce(ctx, js, path, atLeast, o)
	})
}

// verifyFileOnce is one verification of VerifyFile, of a snapshot at a
// checkpoint at or after atLeast.
func verifyFileOnce(ctx context.Context, js jetstream.JetStream, path string, atLeast uint64, o VerifyOptions) (VerifyResult, error) {
	report(o, VerifyProgress{Phase: PhasePin})
	if _, err := os.Stat(path); err != nil {
		return VerifyResult{}, fmt.Errorf("readmodel: read model: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(path, scanConn))
	if err != nil {
		return VerifyResult{}, err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return VerifyResult{}, err
		}
		var cp, consistent int64
		if err := tx.QueryRowContext(ctx, `SELECT sequence, overviews FROM checkpoint WHERE id = 1`).Scan(&cp, &consistent); err != nil {
			_ = tx.Rollback()
			return VerifyResult{}, fmt.Errorf("readmodel: %s is not a read model: %w", path, err)
		}
		if cp == consistent && uint64(cp) >= atLeast {
			defer func() { _ = tx.Rollback() }()
			return verifySnapshot(ctx, js, tx, uint64(cp), o)
		}
		_ = tx.Rollback()
		if time.Now().After(deadline) {
			if cp == consistent {
				return VerifyResult{}, fmt.Errorf("readmodel: %s did not apply the erasures recorded meanwhile (it is at %d, they are up to %d) within 30s", path, cp, atLeast)
			}
			return VerifyResult{}, fmt.Errorf("readmodel: %s stayed between two flushes (at %d, consistent to %d) for 30s", path, cp, consistent)
		}
		select {
		case <-ctx.Done():
			return VerifyResult{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func report(o VerifyOptions, p VerifyProgress) {
	if o.Progress != nil {
		o.Progress(p)
	}
}

// verifySnapshot replays up to cp and compares with the pinned snapshot.
func verifySnapshot(ctx context.Context, js jetstream.JetStream, live *sql.Tx, cp uint64, o VerifyOptions) (VerifyResult, error) {
	dir := o.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := MakeDir(dir); err != nil {
		return VerifyResult{}, err
	}
	tmp, err := os.MkdirTemp(dir, "verify-*")
	if err != nil {
		return VerifyResult{}, err
	}
	defer os.RemoveAll(tmp)

	// The live digest reads the pinned snapshot while the replay writes
	// another file: the two overlap.
	type digestResult struct {
		sum string
		err error
	}
	liveDigest := make(chan digestResult, 1)
	go func() {
		s, err := digest(ctx, live)
		liveDigest <- digestResult{s, err}
	}()
	waitLive := func() (string, error) {
		r := <-liveDigest
		return r.sum, r.err
	}

	rm, err := replayModel(ctx, js, filepath.Join(tmp, "replay.db"), cp, o)
	if err != nil {
		_, _ = waitLive()
		return VerifyResult{}, err
	}
	defer rm.Close()
	report(o, VerifyProgress{Phase: PhaseDigest, Applied: cp, Target: cp})
	replaySum, err := digest(ctx, rm.sdb)
	if err != nil {
		_, _ = waitLive()
		return VerifyResult{}, err
	}
	liveSum, err := waitLive()
	if err != nil {
		return VerifyResult{}, err
	}
	res := VerifyResult{Events: cp, Live: liveSum, Replay: replaySum, Match: liveSum == replaySum}
	if !res.Match {
		report(o, VerifyProgress{Phase: PhaseDiff, Applied: cp, Target: cp})
		if res.FirstDifference, err = firstDifference(ctx, live, rm.sdb); err != nil {
			return res, err
		}
		if res.FirstDifference == nil {
			res.FirstDifference = &Difference{Detail: "the digests differ but no row does; the digest encodings disagree"}
		}
	}
	report(o, VerifyProgress{Phase: PhaseDone, Applied: cp, Target: cp})
	return res, nil
}

// replayModel builds a fresh model at path from stream sequence 1 exactly
// up to target, the way a rebuild does: an ordered consumer, the
// batch reader and decoder the projector uses, and Model.Apply. The timeline
// indexes are never built, because the digest does not use them.
func replayModel(ctx context.Context, js jetstream.JetStream, path string, target uint64, o VerifyOptions) (*Model, error) {
	batch := o.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	m, err := Open(ctx, path)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			m.Close()
		}
	}()
	report(o, VerifyProgress{Phase: PhaseReplay, Target: target})
	if target == 0 {
		ok = true
		return m, nil
	}
	if err := m.SetBulk(ctx, true); err != nil {
		return nil, err
	}
	stream, err := js.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return nil, fmt.Errorf("readmodel: verify: stream: %w", err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, fmt.Errorf("readmodel: verify: consumer: %w", err)
	}
	it, err := cons.Messages(eventstore.Pull(8 * batch)...)
	if err != nil {
		return nil, fmt.Errorf("readmodel: verify: messages: %w", err)
	}
	defer it.Stop()
	var fl Flusher
	first := true
	last := time.Now()
	for m.checkpoint < target {
		b, err := ReadBatch(ctx, it, batch, o.Keys)
		if len(b) == 0 {
			if err == nil {
				err = errors.New("no messages")
			}
			return nil, fmt.Errorf("readmodel: verify: fetch: %w", err)
		}
		k := 0
		for k < len(b) && b[k].seq <= target {
			k++
		}
		if k == 0 {
			if b[0].seq <= m.checkpoint {
				continue
			}
			return nil, fmt.Errorf("readmodel: verify: the stream skips from %d to %d", m.checkpoint, b[0].seq)
		}
		// With the indexes dropped the flusher flushes only when many
		// families wait; the final flush below writes the rest.
		if _, err := m.Apply(ctx, b[:k], ApplyOptions{AllowGap: first, Flush: fl.Due(m, false)}); err != nil {
			return nil, fmt.Errorf("readmodel: verify: %w", err)
		}
		if _, err := m.SpillStates(ctx, DefaultSpillLimit); err != nil {
			return nil, fmt.Errorf("readmodel: verify: %w", err)
		}
		first = false
		if time.Since(last) >= 200*time.Millisecond || m.checkpoint >= target {
			report(o, VerifyProgress{Phase: PhaseReplay, Applied: m.checkpoint, Target: target})
			last = time.Now()
		}
	}
	if _, err := m.Apply(ctx, nil, ApplyOptions{Flush: true}); err != nil {
		return nil, fmt.Errorf("readmodel: verify: %w", err)
	}
	if m.checkpoint != target || m.consistent != target {
		return nil, fmt.Errorf("readmodel: verify: replay at %d (consistent %d), not at %d", m.checkpoint, m.consistent, target)
	}
	ok = true
	return m, nil
}
