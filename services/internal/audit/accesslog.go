package audit

import (
	"context"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/problem"
)

// Access log subjects and the purpose header, as the coordinator API
// records them (package accesslog).
const (
	accessPrefix      = accesslog.Prefix
	BulkAccessSubject = accesslog.BulkSubject
	// BulkFamily is the familyId of an entry on BulkAccessSubject.
	BulkFamily    = accesslog.BulkFamily
	HeaderPurpose = accesslog.HeaderPurpose
)

// AccessEntry is one record of ACCESS_LOG.
type AccessEntry = accesslog.Entry

// logAccess appends an auditor's read to ACCESS_LOG and waits for the
// acknowledgement; family data is never sent before it, and a read that
// cannot be logged is refused (503), as in the coordinator API.
func (s *Service) logAccess(r *http.Request, pr auth.Principal, familyID, why string) error {
	if err := accesslog.Record(r.Context(), s.reader.JS, r, pr, familyID, why); err != nil {
		s.metrics.accessFail.Inc()
		s.log.Warn("audit: access log unavailable, read refused", "family", familyID, "err", err)
		return problem.Unavailable("the access log could not be written; family data is never served unlogged")
	}
	return nil
}

// AccessQuery selects access log entries.
type AccessQuery struct {
	// FamilyID keeps the reads of one family (and reads of all
	// families); empty keeps every entry.
	FamilyID string
	// From (inclusive) and To (exclusive) bound recordedAt, the time the
	// read was logged.
	From, To time.Time
}

// AccessLog calls emit with the entries of ACCESS_LOG that q selects, in
// the order they were logged. For one family the consumer is filtered on
// two literal subjects, access.<familyId> and BulkAccessSubject: JetStream
// keeps an index per subject, so it finds them without reading the other
// families' entries, and ACCESS_LOG is read rarely (a citizen's request,
// an audit). From starts the read by JetStream's time lookup.
func (r *Reader) AccessLog(ctx context.Context, q AccessQuery, emit func(Stored) error) error {
	last, err := r.LastSequence(ctx, eventstore.AccessLogStream)
	if err != nil || last == 0 {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if q.FamilyID != "" {
		cfg.FilterSubjects = []string{accessPrefix + q.FamilyID, BulkAccessSubject}
	}
	if !q.From.IsZero() {
		from := q.From
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	}
	return scan(ctx, r.JS, eventstore.AccessLogStream, cfg, last, func(s Stored) (bool, error) {
		if !q.To.IsZero() && !s.RecordedAt.Before(q.To) {
			return false, nil
		}
		if !q.From.IsZero() && s.RecordedAt.Before(q.From) {
			return true, nil
		}
		return true, emit(s)
	})
}
