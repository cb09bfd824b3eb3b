package audit

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/problem"
)

// Access log subjects. A read of one family's data is appended to
// access.<familyId>, as the coordinator API does. A read of every family
// at once (a replay without a family filter) is appended once to
// BulkAccessSubject, which has three tokens and so can never be a family's
// subject; a family's access log includes those entries, because such a
// read covered the family too.
const (
	accessPrefix      = "access."
	BulkAccessSubject = "access.bulk.audit"
	// BulkFamily is the familyId of an entry on BulkAccessSubject.
	BulkFamily = "*"
)

// HeaderPurpose is the request header with the reason for a read.
const HeaderPurpose = "X-Purpose"

// maxPurpose is the longest purpose accepted, as for the coordinator API.
const maxPurpose = 200

// AccessEntry is one record of ACCESS_LOG, in the form the projector writes.
type AccessEntry struct {
	Time       time.Time `json:"time"`
	FamilyID   string    `json:"familyId"`
	Principal  string    `json:"principal"`
	Kind       auth.Kind `json:"kind"`
	EmployeeID string    `json:"employeeId"`
	Endpoint   string    `json:"endpoint"`
	Purpose    string    `json:"purpose"`
}

// purpose reads X-Purpose by the coordinator API's rule: optional, at most
// 200 characters of printable UTF-8, because it is stored forever.
func purpose(r *http.Request) (string, error) {
	v := strings.TrimSpace(r.Header.Get(HeaderPurpose))
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxPurpose ||
		strings.IndexFunc(v, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0 {
		return "", problem.BadRequest(HeaderPurpose + " must be printable UTF-8 of at most " + strconv.Itoa(maxPurpose) + " characters")
	}
	return v, nil
}

// logAccess appends an auditor's read to ACCESS_LOG and waits for the
// acknowledgement; family data is never sent before it, and a read that
// cannot be logged is refused (503), as in the coordinator API.
func (s *Service) logAccess(r *http.Request, pr auth.Principal, familyID, why string) error {
	subject, fam := accessPrefix+familyID, familyID
	if familyID == "" {
		subject, fam = BulkAccessSubject, BulkFamily
	}
	b, err := json.Marshal(AccessEntry{
		Time: time.Now().UTC(), FamilyID: fam, Principal: pr.Name, Kind: pr.Kind,
		EmployeeID: pr.EmployeeID, Endpoint: r.Method + " " + r.URL.RequestURI(), Purpose: why,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if _, err := s.reader.JS.Publish(ctx, subject, b); err != nil {
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
