// Package erasure is the data protection officer's API: erasing a
// family's personal data by crypto-shredding (package shred) and listing
// the families whose retention period is over.
//
// An erasure is two steps, in this order: family.erased is appended to
// the stream and acknowledged, then the family's data key is destroyed.
// A crash between them leaves the record without the destruction, never
// the reverse; Resume, run at every start, finishes it.
package erasure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// Eraser erases families.
type Eraser struct {
	JS   jetstream.JetStream
	Pub  *eventstore.Publisher
	Keys *shred.Keyring
	Log  *slog.Logger
	// AfterRecord, when set, runs between the two steps: the crash test's
	// hook.
	AfterRecord func()
	// BeforeRecord, when set, runs after the family's last sequence is
	// looked up and before family.erased is stored: the race test's hook.
	BeforeRecord func()
}

// Result is what an erasure did.
type Result struct {
	FamilyID string `json:"familyId"`
	// Sequence is family.erased's stream sequence.
	Sequence uint64 `json:"sequence"`
	// Recorded is false when family.erased was stored before (a repeated
	// erasure).
	Recorded bool `json:"recorded"`
	// KeyDestroyed: the family's data key is gone.
	KeyDestroyed bool `json:"keyDestroyed"`
}

// ErrNoFamily: the stream holds nothing about the family.
var ErrNoFamily = errors.New("erasure: no such family")

// ErrChanged: the family's last event is not at the sequence the caller
// gave (the last one its archive holds): events were stored since, and
// erasing would make them unreadable without their being archived.
var ErrChanged = errors.New("erasure: the family's events are not those archived")

// ErasedID is the event id of a family's family.erased: one per family,
// so that JetStream's deduplication also catches a repeated request.
func ErasedID(familyID string) string { return "erased-" + familyID }

// Erase records family.erased for the family (unless stored already) and
// waits for its acknowledgement, then destroys the family's data key.
//
// lastSequence, when not 0, is the stream sequence of the family's last
// event the caller has archived: family.erased is then recorded only if
// it is still the family's last, checked by JetStream as it stores it
// (the expected last sequence of the family's subjects), else Erase fails
// with ErrChanged and nothing is done. A family erased before is erased
// whatever lastSequence says.
func (e *Eraser) Erase(ctx context.Context, familyID, reason string, lastSequence uint64) (Result, error) {
	res := Result{FamilyID: familyID}
	s, err := e.JS.Stream(ctx, eventstore.FamilyStream)
	if err != nil {
		return res, fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	m, err := s.GetLastMsgForSubject(ctx, shred.ErasedSubject(familyID))
	switch {
	case err == nil:
		res.Sequence = m.Sequence
	case errors.Is(err, jetstream.ErrMsgNotFound):
		last, err := e.Pub.LastSequence(ctx, events.FamilyFilter(familyID))
		if err != nil {
			return res, err
		}
		if last == 0 {
			return res, ErrNoFamily
		}
		if lastSequence != 0 && last != lastSequence {
			return res, changed(familyID, lastSequence, last)
		}
		ev, err := events.Build(events.Service, familyID, &events.FamilyErased{Reason: reason},
			events.WithID(ErasedID(familyID)), events.WithTime(time.Now().UTC()))
		if err != nil {
			return res, err
		}
		events.StampSchema(&ev)
		b, err := events.Marshal(ev)
		if err != nil {
			return res, err
		}
		if e.BeforeRecord != nil {
			e.BeforeRecord()
		}
		msg := eventstore.Message{Subject: shred.ErasedSubject(familyID), Data: b, MsgID: ErasedID(familyID)}
		if lastSequence != 0 {
			// An event stored since the look-up above fails the write.
			msg.Expect, msg.ExpectFilter, msg.ExpectSeq = true, events.FamilyFilter(familyID), lastSequence
		}
		ack, err := e.Pub.Publish(ctx, msg)
		if errors.Is(err, eventstore.ErrConflict) {
			last, lerr := e.Pub.LastSequence(ctx, events.FamilyFilter(familyID))
			if lerr != nil {
				return res, fmt.Errorf("%w: family %s has events after sequence %d", ErrChanged, familyID, lastSequence)
			}
			return res, changed(familyID, lastSequence, last)
		}
		if err != nil {
			return res, err
		}
		res.Sequence, res.Recorded = ack.Sequence, !ack.Duplicate
	default:
		return res, fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	if e.AfterRecord != nil {
		e.AfterRecord()
	}
	if err := e.Keys.Destroy(ctx, familyID); err != nil {
		return res, fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	res.KeyDestroyed = true
	e.log().Info("family erased", "family", familyID, "sequence", res.Sequence, "recorded", res.Recorded)
	return res, nil
}

func changed(familyID string, archived, last uint64) error {
	if last > archived {
		return fmt.Errorf("%w: family %s has events after sequence %d (its last is at %d): archive them, then erase", ErrChanged, familyID, archived, last)
	}
	return fmt.Errorf("%w: family %s's last event is at sequence %d, not %d", ErrChanged, familyID, last, archived)
}

func (e *Eraser) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// Resume destroys the key of every family whose family.erased is stored
// while its key still exists: what a crash between the two steps of an
// erasure left. It reads the family.erased subjects only.
func (e *Eraser) Resume(ctx context.Context) (int, error) {
	cons, err := e.JS.OrderedConsumer(ctx, eventstore.FamilyStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.SubjectRoot + ".*." + string(events.Service) + "." + shred.ErasedType},
	})
	if err != nil {
		return 0, err
	}
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		// No erasure was ever recorded: nothing to wait for.
		return 0, nil
	}
	n := 0
	for {
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		msg, err := cons.Next(jetstream.FetchContext(fctx))
		cancel()
		// The fetch's expiry ends as nats.ErrTimeout or as the context's
		// deadline, whichever comes first: either way nothing is left.
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
		parts, err := events.ParseSubject(msg.Subject())
		if err != nil {
			continue
		}
		exists, err := e.Keys.KeyExists(ctx, parts.FamilyID)
		if err != nil {
			return n, err
		}
		if exists {
			if err := e.Keys.Destroy(ctx, parts.FamilyID); err != nil {
				return n, err
			}
			e.log().Warn("erasure resumed: key destroyed after a stop between the two steps", "family", parts.FamilyID)
			n++
		}
		if md, err := msg.Metadata(); err == nil && md.NumPending == 0 {
			return n, nil
		}
	}
}

// Due is a family whose retention period is over.
type Due struct {
	FamilyID string `json:"familyId"`
	Status   string `json:"status"`
	// Basis is what the period counts from: course-ended (the family's
	// course ended) or last-event (never enrolled, or referred again).
	Basis string    `json:"basis"`
	Since time.Time `json:"since"`
	DueAt time.Time `json:"dueAt"`
}

// DueFamilies are the families, not erased yet, whose data is kept
// longer than years after their course ended, or after their last event
// when they never were enrolled, the years counted in Copenhagen (from 1
// March 2020 00:30 there to 1 March 2025 00:30). A family in a course is
// never due.
func DueFamilies(ctx context.Context, v *readmodel.View, years int, now time.Time) ([]Due, error) {
	fams, err := v.RetentionFamilies(ctx)
	if err != nil {
		return nil, err
	}
	out := []Due{}
	for _, f := range fams {
		if f.Erased || f.Status == "enrolled" {
			continue
		}
		d := Due{FamilyID: f.FamilyID, Status: f.Status, Basis: "last-event", Since: f.LastEvent}
		if f.Status == "ended" && !f.CourseEnded.IsZero() {
			d.Basis, d.Since = "course-ended", f.CourseEnded
		}
		if d.Since.IsZero() {
			continue
		}
		// Years are counted on the Copenhagen calendar, where the dates
		// of the course and of the list are: the same day of the year.
		d.DueAt = d.Since.In(family.Copenhagen).AddDate(years, 0, 0).UTC()
		if !d.DueAt.After(now) {
			out = append(out, d)
		}
	}
	return out, nil
}
