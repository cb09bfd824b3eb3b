package audit

import (
	"context"
	"fmt"
	"net/http"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/eventstore"
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
		return accesslog.Unavailable()
	}
	return nil
}

// cliAccess records the CLI's reads of family data in ACCESS_LOG, as the
// API records its requests (package accesslog): the CLI has no token, so
// its principal names the CLI and the operating system's user who ran it
// (accesslog.CommandPrincipal, "cli:audit (<user>)"), with the purpose
// given. A read that decrypts the families' personal fields is recorded,
// and acknowledged, before any of it is written; one that prints only
// ciphertext (no master key) is not.
type cliAccess struct {
	js      jetstream.JetStream
	pr      auth.Principal
	purpose string
}

// CLITool names the audit CLI in its principal.
const CLITool = "audit"

// ErasureArchivePurpose is the purpose erase-due records for the archive
// of each family it erases.
const ErasureArchivePurpose = "Arkivering før sletning: opbevaringsperioden er udløbet (audit erase-due)"

func newCLIAccess(js jetstream.JetStream, getenv func(string) string, kind auth.Kind, purpose string) cliAccess {
	return cliAccess{js: js, pr: accesslog.CommandPrincipal(CLITool, osUser(getenv), kind), purpose: purpose}
}

// record appends the read of familyID's data (every family's when it is
// empty) by command, e.g. "audit replay -family F1", and waits for the
// acknowledgement: nothing of the families' data is written unless it
// returns nil.
func (a cliAccess) record(ctx context.Context, command, familyID string) error {
	if err := accesslog.RecordCommand(ctx, a.js, a.pr, command, familyID, a.purpose); err != nil {
		return fmt.Errorf("nothing read: the read could not be recorded in the access log, and family data is never read unlogged "+
			"(the NATS user must be one that may publish to %s<familyId> and %s): %w", accessPrefix, BulkAccessSubject, err)
	}
	return nil
}

// osUser is the operating system's user running the CLI: its account's
// name, else $USER or $LOGNAME; "" when none is known.
func osUser(getenv func(string) string) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	for _, k := range []string{"USER", "LOGNAME"} {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// commandFlags is the selection of a replay as the CLI's flags, for the
// access log's record of the read: only what was parsed (an id, catalog
// types, times, a sequence), never the text as typed.
func (q Query) commandFlags() string {
	var b strings.Builder
	if q.FamilyID != "" {
		b.WriteString(" -family " + q.FamilyID)
	}
	if len(q.Types) > 0 {
		types := make([]string, len(q.Types))
		for i, s := range q.Types {
			types[i] = s.Type()
		}
		b.WriteString(" -type " + strings.Join(types, ","))
	}
	if !q.From.IsZero() {
		b.WriteString(" -from " + q.From.UTC().Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		b.WriteString(" -to " + q.To.UTC().Format(time.RFC3339Nano))
	}
	if q.After > 0 {
		b.WriteString(" -after " + strconv.FormatUint(q.After, 10))
	}
	return b.String()
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

// denseAccess: a family whose entries are more than one in denseAccess
// of the log's from its first on is read by the consumer from there, not
// by a get each: a get costs about as much as the consumer's read of 20
// entries of the log.
const denseAccess = 20

// AccessLog calls emit with the entries of ACCESS_LOG that q selects, in
// the order they were logged. One family's are its own subject's,
// access.<familyId>, and BulkAccessSubject's. With an index (Reader.Access) they are
// found in the index and fetched by sequence, and those after the index's
// last are read by a consumer filtered on the two subjects from there on.
// Without one, that consumer reads from the log's start (from From, by
// JetStream's time lookup), and the server reads every block of the log
// on the way.
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
	if q.FamilyID != "" && r.Access != nil {
		seqs, upTo, err := r.Access.Sequences(ctx, cfg.FilterSubjects, q.From, q.To, last)
		if err != nil {
			return err
		}
		start := upTo + 1
		if len(seqs) > 0 && uint64(len(seqs)) > (upTo-seqs[0]+1)/denseAccess {
			// So many of the entries from the first on are the family's
			// that reading them all costs less than a get each.
			start = seqs[0]
		} else {
			for chunk := range slices.Chunk(seqs, 1024) {
				if err := r.Fetch(ctx, eventstore.AccessLogStream, chunk, emit); err != nil {
					return err
				}
			}
			if upTo >= last {
				return nil
			}
		}
		cfg.DeliverPolicy, cfg.OptStartTime, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, nil, start
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
