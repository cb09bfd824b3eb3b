package readmodel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// erasures are the families a batch erases (family.erased), with the
// sequence of the erasure.
func erasures(msgs []Message) map[string]uint64 {
	var out map[string]uint64
	for i := range msgs {
		m := &msgs[i]
		if m.reason == "" && m.env.Department == events.Service && m.env.Spec.Name == shred.ErasedType {
			if out == nil {
				out = map[string]uint64{}
			}
			out[m.env.FamilyID] = m.seq
		}
	}
	return out
}

// eraseFamily rewrites every timeline row of an erased family as a replay
// reads it once the family's key is destroyed: each personal field the
// tombstone, and the title made again from that. The family's state is
// folded again from the rewritten rows, so that its overview holds no
// personal text either. The old text leaves the file with scrub.
func (m *Model) eraseFamily(ctx context.Context, tx *sql.Tx, familyID string, seq uint64, prepared map[string]familyRow) error {
	rows, err := tx.QueryContext(ctx, `SELECT sequence, event_id, time_ns, department, type, data, actor FROM timeline
		WHERE family_id = ? AND sequence < ? ORDER BY sequence`, familyID, int64(seq))
	if err != nil {
		return err
	}
	type change struct {
		seq   int64
		data  []byte
		title string
	}
	var changes []change
	for rows.Next() {
		var (
			s                        int64
			eventID, dept, typ, actr string
			timeNS                   int64
			data                     []byte
		)
		if err := rows.Scan(&s, &eventID, &timeNS, &dept, &typ, &data, &actr); err != nil {
			rows.Close()
			return err
		}
		spec, ok := events.ByType(typ)
		if !ok {
			continue
		}
		erased, changed := shred.EraseData(spec, data)
		if !changed {
			continue
		}
		env, err := storedEnvelope(familyID, eventID, timeNS, dept, typ, erased, actr)
		if err != nil {
			rows.Close()
			return fmt.Errorf("erase row %d: %w", s, err)
		}
		changes = append(changes, change{s, erased, events.Title(env)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, `UPDATE timeline SET data = ?, title = ? WHERE sequence = ?`, c.data, c.title, c.seq); err != nil {
			return fmt.Errorf("erase row %d: %w", c.seq, err)
		}
	}
	st := family.New(familyID)
	if err := m.fold(ctx, tx.StmtContext(ctx, m.familyRows), familyID, st); err != nil {
		return fmt.Errorf("erase: %w", familyErr("refold", familyID, err))
	}
	// A state spilled before the erasure holds the old text.
	if _, err := tx.StmtContext(ctx, m.delSpill).ExecContext(ctx, familyID); err != nil {
		return fmt.Errorf("erase: %w", familyErr("spilled state of", familyID, err))
	}
	m.keepState(familyID, st)
	d, ok := m.dirty[familyID]
	if !ok {
		d = &dirtyFamily{before: st.Assigned()}
		m.dirty[familyID] = d
	}
	d.last = max(d.last, seq)
	delete(prepared, familyID)
	return nil
}

const (
	// scrubWait is how long the batch that erases a family waits for
	// readers that hold a snapshot to let the checkpoint empty the WAL.
	// Reads of the API take milliseconds; a reader that holds its
	// snapshot longer (Verify pins one for its whole replay) leaves the
	// scrub pending rather than hold up the applier.
	scrubWait = 30 * time.Second
	// scrubRetryEvery is how often a pending scrub is tried again after
	// later batches.
	scrubRetryEvery = time.Second
)

// ScrubPending reports whether an erasure's old text may still be in the
// model's files: its scrub has not yet succeeded (or is deferred). It is
// tried again after later batches, at open and by RetryScrub. Only the
// applier may ask.
func (m *Model) ScrubPending() bool { return m.scrubPending }

// RetryScrub tries a pending scrub once, without waiting for readers; nil
// when none is pending, it is deferred (DeferScrub) or it succeeded. It is
// for the applier, between batches.
func (m *Model) RetryScrub(ctx context.Context) error {
	if !m.scrubPending || m.scrubDeferred {
		return nil
	}
	return m.scrub(ctx, 0)
}

// DeferScrub defers (on) the scrub of the erasures the model applies, or
// ends the deferral (off) and runs the scrub then pending, waiting up to
// scrubWait for readers as the batch of an erasure does. It is for a
// model loaded in bulk that serves no family reads: a rebuild's model
// until it is swapped in, and a catching-up model until its projector or
// follower is ready. A VACUUM rewrites the whole file, and while loading
// one per family.erased of the stream would cost more than the load; the
// one at the end removes the text of every erasure before it. Meanwhile
// the checkpoint row records the scrub as pending, as it does for an
// erasure whose scrub readers held up, so that a load that stops before
// it ends is scrubbed when the model is opened again (a model is opened
// with no deferral). Off returns the scrub's error; the scrub then stays
// pending and is retried as any other. Only the applier may call it.
func (m *Model) DeferScrub(ctx context.Context, on bool) error {
	m.scrubDeferred = on
	if on || !m.scrubPending {
		return nil
	}
	return m.scrub(ctx, m.scrubWait)
}

// ScrubDeferred reports whether the erasure scrub is deferred
// (DeferScrub). Only the applier may ask.
func (m *Model) ScrubDeferred() bool { return m.scrubDeferred }

// Vacuums is how many times the erasure scrub has rewritten the model's
// file (VACUUM) since it was opened. Only the applier may ask.
func (m *Model) Vacuums() int { return m.vacuums }

// erased is called after the commit of a batch that erased a family: the
// old text is to be scrubbed, now unless the scrub is deferred, and the
// kept consent scans, which may hold it, are dropped (gateCounts.forget).
func (m *Model) erased(ctx context.Context) error {
	m.gateCounts.forget()
	m.scrubPending, m.vacuumed = true, false
	if m.scrubDeferred {
		return nil
	}
	return m.scrub(ctx, m.scrubWait)
}

// IdleScrubEvery is how often RetryScrubs tries a pending scrub while no
// batch comes to try it.
const IdleScrubEvery = 10 * time.Second

// RetryScrubs tries the live model's pending erasure scrub every `every`
// until ctx ends: a reader that held a snapshot (a verify) kept it from
// finishing, and an applier with no new events has no batch after which
// to try it, so the erased text would stay in the files until the next
// event or restart. live shuts the applier out and returns the model it
// applies to with the function that lets it in again; tried, when not
// nil, is called under that lock after each tick with the model and
// whether this tick finished the scrub. The projector and the audit
// follower run it beside their appliers.
func RetryScrubs(ctx context.Context, every time.Duration, live func() (*Model, func()), tried func(m *Model, finished bool)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m, unlock := live()
		finished := m.ScrubPending() && m.RetryScrub(ctx) == nil && !m.ScrubPending()
		if tried != nil {
			tried(m, finished)
		}
		unlock()
	}
}

// retryScrub is RetryScrub after a batch, at most every scrubRetryEvery
// while readers keep it from succeeding.
func (m *Model) retryScrub(ctx context.Context) {
	if m.scrubPending && !m.scrubDeferred && time.Since(m.scrubTried) >= m.scrubRetryEvery {
		_ = m.scrub(ctx, 0)
	}
}

// scrub removes what erased rows left in the file: secure_delete (on for
// every connection) zeroed the freed cells, VACUUM writes the database
// afresh, and a truncating checkpoint empties the WAL, which held the
// pages as they were, and writes the pages back to the file. Readers that
// hold a snapshot keep the checkpoint from completing; it is tried again
// every 50 ms for up to wait, then the scrub stays pending (the checkpoint
// row says so, so that a restart scrubs too) and a later try needs only
// the checkpoint. It is done once the pending flag is cleared.
func (m *Model) scrub(ctx context.Context, wait time.Duration) error {
	m.scrubTried = time.Now()
	if !m.vacuumed {
		if _, err := m.w.ExecContext(ctx, `VACUUM`); err != nil {
			return fmt.Errorf("readmodel: vacuum: %w", err)
		}
		m.vacuumed = true
		m.vacuums++
	}
	if err := m.checkpointWAL(ctx, wait); err != nil {
		return err
	}
	if _, err := m.w.ExecContext(ctx, `UPDATE checkpoint SET scrub = 0 WHERE id = 1`); err != nil {
		return fmt.Errorf("readmodel: scrubbed: %w", err)
	}
	m.scrubPending, m.vacuumed = false, false
	return nil
}

// errWALBusy: readers kept the WAL from being emptied.
var errWALBusy = errors.New("readmodel: checkpoint: readers kept the WAL busy")

// checkpointWAL runs a truncating checkpoint on the writer's connection,
// tried again every 50 ms for up to wait while readers keep it busy. Each
// try is made without the connection's busy timeout, so that wait bounds
// how long the applier is held.
func (m *Model) checkpointWAL(ctx context.Context, wait time.Duration) (err error) {
	c, err := m.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		return err
	}
	defer func() {
		if _, rerr := c.ExecContext(context.WithoutCancel(ctx), `PRAGMA busy_timeout = `+strconv.Itoa(busyTimeoutMS)); rerr != nil && err == nil {
			err = rerr
		}
	}()
	deadline := time.Now().Add(wait)
	for {
		var busy, logged, done int
		if err := c.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &done); err != nil {
			return fmt.Errorf("readmodel: checkpoint: %w", err)
		}
		if busy == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			return errWALBusy
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
