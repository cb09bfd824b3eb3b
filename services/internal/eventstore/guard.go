package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"kk.dk/jobogfamilie/services/internal/durable"
)

// DefaultCheckInterval is how often a Guard checks the streams.
const DefaultCheckInterval = 10 * time.Second

// The checks a Guard makes on each stream, as named in its metrics. Not
// every check applies to every stream (checksOf).
const (
	// CheckPresent: the stream exists.
	CheckPresent = "present"
	// CheckLimits: no limit that deletes messages (MaxMsgs, MaxBytes,
	// MaxAge, per-message TTLs; on the event streams MaxMsgsPerSubject
	// too, which the data keys' bucket holds at 1 by design).
	CheckLimits = "limits"
	// CheckRollup: the data keys' bucket allows no rollups, which would
	// replace a key, or every key at once. (The event streams deny
	// purges, without which the server allows no rollups.)
	CheckRollup = "rollup"
	// CheckWriteOnce: the data keys' bucket holds one message a key and
	// refuses a second (MaxMsgsPerSubject 1, DiscardNewPerSubject), or
	// is in a master key rotation's state (RotationKeysPerSubject, the
	// rule lifted); any other state lets a user that may write a key's
	// subject replace the key, and drops the replaced one.
	CheckWriteOnce = "write-once"
	// CheckRetention: limits retention; interest or work-queue retention
	// deletes messages once consumed.
	CheckRetention = "retention"
	// CheckDenyDelete and CheckDenyPurge: the stream refuses both.
	CheckDenyDelete = "deny-delete"
	CheckDenyPurge  = "deny-purge"
	// CheckFirstSequence: the first message is sequence 1, or the stream
	// has never held a message.
	CheckFirstSequence = "first-sequence"
	// CheckLastSequence: the last sequence is not below what this process
	// has seen of the stream, now or (by its high-water mark) before.
	CheckLastSequence = "last-sequence"
	// CheckContiguous: no message is missing between the first and the
	// last (a limit lowered and lifted again between two checks deletes
	// from the middle), for a stream that denies deletes.
	CheckContiguous = "contiguous"
	// CheckSubjects: the stream's subjects are the configured ones and no
	// subject transform rewrites what is published to them (a subject
	// moved elsewhere is stored in another stream; one added, with a
	// transform, stores messages no user may publish).
	CheckSubjects = "subjects"
	// CheckSources: the stream neither sources nor mirrors another, which
	// would store messages not published to it.
	CheckSources = "sources"
	// CheckRePublish: the stream republishes nothing (a copy of every
	// message on subjects its readers' permissions do not cover).
	CheckRePublish = "republish"
	// CheckReplicas: the stream has the configured replicas; with fewer,
	// the loss of a machine loses what it was to survive.
	CheckReplicas = "replicas"
	// CheckSealed: the stream is not sealed, which refuses every write,
	// for good.
	CheckSealed = "sealed"
	// CheckAtomicPublish: FAMILY_EVENTS takes atomic batches, as it is
	// set up (FamilyStreamConfig); without, it refuses every batch whole
	// until the setup step restores it.
	CheckAtomicPublish = "atomic-publish"
)

// eventChecks are the checks of the event streams, which keep every
// message they store.
var eventChecks = []string{CheckPresent, CheckLimits, CheckRetention, CheckDenyDelete, CheckDenyPurge, CheckFirstSequence, CheckLastSequence,
	CheckContiguous, CheckSubjects, CheckSources, CheckRePublish, CheckReplicas, CheckSealed}

// familyChecks are FAMILY_EVENTS's: an event stream's, and the atomic
// batches its writers send.
var familyChecks = append(slices.Clip(eventChecks), CheckAtomicPublish)

// keyChecks are the checks of the data keys' bucket. Its messages are
// deleted by design: erasure destroys a key (a secure delete of its
// message, then a delete marker), and a master key rotation replaces
// each key, lifting the one message a key (MaxMsgsPerSubject 1,
// DiscardNewPerSubject) while it runs, and until it is run again when
// it was interrupted. So neither deny delete or purge nor its sequences
// are checked, and the write-once rule only for being either set or in
// the rotation's state: the settings by which keys would go without an
// erasure or be replaced (limits, rollups, the write-once rule,
// retention), or come from elsewhere than a key's subject (subjects,
// transform, sources, mirror), or be copied elsewhere (republish), and
// its replicas and seal.
var keyChecks = []string{CheckPresent, CheckLimits, CheckRollup, CheckWriteOnce, CheckRetention, CheckSubjects, CheckSources, CheckRePublish,
	CheckReplicas, CheckSealed}

// eventStreams are the streams whose history a Guard checks as well as
// their settings: it keeps a high-water mark of each.
var eventStreams = []string{FamilyStream, AccessLogStream}

// guardedStreams are the streams a Guard checks: the event streams and
// the data keys' bucket, without which every family's personal data is
// unreadable, as if erased.
var guardedStreams = append(slices.Clip(eventStreams), KeyStream)

// checksOf are the checks that apply to the guarded stream name.
func checksOf(name string) []string {
	switch name {
	case KeyStream:
		return keyChecks
	case FamilyStream:
		return familyChecks
	}
	return eventChecks
}

// ErrIntegrity: the event store is not what it must be (a stream missing,
// truncated or stripped of its protection). Writes are refused until an
// operator has restored it.
var ErrIntegrity = errors.New("event store integrity check failed")

// GuardOptions configure a Guard.
type GuardOptions struct {
	// HighWaterFile keeps the highest sequence of each stream this process
	// has seen, across restarts; empty keeps it in memory only.
	HighWaterFile string
	// Interval between checks; 0 is DefaultCheckInterval.
	Interval time.Duration
	// Streams are the settings the streams are set up with (as
	// EnsureStreams takes them): their replicas, and the data keys'
	// bucket's, are checked.
	Streams StreamOptions
	Log     *slog.Logger
}

// Guard checks, at start and then periodically, that FAMILY_EVENTS and
// ACCESS_LOG are intact: present, without limits that delete messages,
// denying delete and purge, starting at sequence 1, without a gap, and
// holding at least every sequence this process has seen; with the
// configured subjects and replicas, no subject transform, source,
// mirror or republish, and not sealed. The streams' own settings guard
// against deletes, but a client allowed to update a stream can lower a
// limit and so truncate it, or delete and recreate it; the Guard notices
// whatever credential did it. It checks the data keys' bucket
// (KV_JF_KEYS) too, for what applies to it (keyChecks): present,
// without limits that delete keys or rollups, its keys written once
// (or in a master key rotation's state), with limits retention,
// its subjects, replicas, no transform, source, mirror or republish,
// and not sealed. While a check fails, Ready and Refusal report it; the
// next passing run clears it.
type Guard struct {
	o   GuardOptions
	log *slog.Logger

	runMu sync.Mutex // one check at a time

	mu sync.Mutex
	// sources report what the process has seen of each stream.
	sources map[string][]seenSource
	// high is the high-water mark: the highest sequence seen per stream,
	// as stored in HighWaterFile.
	high map[string]uint64
	// verified: a check has completed; mismatches are its findings.
	verified   bool
	mismatches []Mismatch
	// checkErr: the last run could not complete (NATS unreachable).
	checkErr error
	// logged is when the findings were last logged.
	logged time.Time

	ok       *prometheus.GaugeVec
	failures *prometheus.CounterVec
	highMark *prometheus.GaugeVec
}

type seenSource struct {
	name string
	seen func() uint64
}

// Mismatch is one failed check.
type Mismatch struct {
	Stream, Check, Detail string
}

// highWater is the high-water file's content.
type highWater struct {
	Streams map[string]uint64 `json:"streams"`
}

// NewGuard makes a guard and reads its high-water mark. A high-water file
// that cannot be read is an error: starting without it would forget what
// the process had seen.
func NewGuard(o GuardOptions) (*Guard, error) {
	if o.Interval <= 0 {
		o.Interval = DefaultCheckInterval
	}
	g := &Guard{
		o: o, log: o.Log, sources: map[string][]seenSource{}, high: map[string]uint64{},
		ok: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jf_store_integrity_ok",
			Help: "1 when the stream passed the integrity check on the last run, 0 otherwise.",
		}, []string{"stream", "check"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jf_store_integrity_failures_total",
			Help: "Integrity check runs in which the check failed, by stream and check.",
		}, []string{"stream", "check"}),
		highMark: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jf_store_highwater_sequence",
			Help: "The highest sequence of the stream this process has seen (its high-water mark).",
		}, []string{"stream"}),
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if o.HighWaterFile != "" {
		b, err := os.ReadFile(o.HighWaterFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("eventstore: high-water mark: %w", err)
		default:
			var hw highWater
			if err := json.Unmarshal(b, &hw); err != nil {
				return nil, fmt.Errorf("eventstore: high-water mark %s: %w", o.HighWaterFile, err)
			}
			for s, seq := range hw.Streams {
				g.high[s] = seq
			}
		}
	}
	for _, s := range eventStreams {
		g.highMark.WithLabelValues(s).Set(float64(g.high[s]))
	}
	return g, nil
}

// Register adds the guard's metrics to reg.
func (g *Guard) Register(reg prometheus.Registerer) {
	reg.MustRegister(g.ok, g.failures, g.highMark)
}

// Seen registers what the process has seen of stream: seen returns the
// highest sequence of it that the process has read or had acknowledged;
// name says what that is in reports ("ingest index").
func (g *Guard) Seen(stream, name string, seen func() uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sources[stream] = append(g.sources[stream], seenSource{name, seen})
}

// HighWater is the highest sequence of stream the process has seen.
func (g *Guard) HighWater(stream string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.high[stream]
}

// Start checks at once, then every interval until ctx ends or stop is
// called; until a check has passed, it checks every second. stop returns
// once no check runs any more.
func (g *Guard) Start(ctx context.Context, js jetstream.JetStream) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	g.run(ctx, js)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			wait := g.o.Interval
			g.mu.Lock()
			if !g.verified || g.checkErr != nil || len(g.mismatches) > 0 {
				// Until it is known to be intact, look again soon: a
				// restored stream is then writable again within a second.
				wait = min(wait, time.Second)
			}
			g.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			g.run(ctx, js)
		}
	}()
	return func() { cancel(); <-done }
}

func (g *Guard) run(ctx context.Context, js jetstream.JetStream) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := g.Check(cctx, js); err != nil && !errors.Is(err, ErrIntegrity) && ctx.Err() == nil {
		g.log.Warn("event store: integrity not checked", "err", err)
	}
}

// Check runs every check now. It returns nil when all pass, an error
// matching ErrIntegrity when one fails, and another error when the
// streams could not be looked at (then the previous findings stand).
func (g *Guard) Check(ctx context.Context, js jetstream.JetStream) error {
	g.runMu.Lock()
	defer g.runMu.Unlock()
	// What the process has seen is read before the streams are: anything
	// seen then is in the stream when it is looked at, if it is intact.
	seen, from := g.raise()
	infos := map[string]*jetstream.StreamInfo{}
	for _, name := range guardedStreams {
		st, err := js.Stream(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			infos[name] = nil
		case err != nil:
			g.mu.Lock()
			g.checkErr = fmt.Errorf("stream %s: %w", name, err)
			g.mu.Unlock()
			return g.checkErr
		default:
			infos[name] = st.CachedInfo()
		}
	}
	var found []Mismatch
	for _, name := range guardedStreams {
		failed := map[string]bool{}
		for _, m := range inspect(name, infos[name], expected(name, g.o.Streams), seen[name], from[name], g.o.HighWaterFile) {
			found = append(found, m)
			failed[m.Check] = true
		}
		for _, c := range checksOf(name) {
			v := 1.0
			if failed[c] || (infos[name] == nil && c != CheckLastSequence) {
				v = 0
			}
			g.ok.WithLabelValues(name, c).Set(v)
			if failed[c] {
				g.failures.WithLabelValues(name, c).Inc()
			}
		}
	}
	was := g.record(found)
	if len(found) > 0 {
		return integrityError(found)
	}
	if was {
		g.log.Info("event store integrity checks pass again")
	}
	return nil
}

// record makes found the current findings and logs them when they are
// new, and once an interval while they last (checks run every second
// then). It reports whether there were findings before.
func (g *Guard) record(found []Mismatch) (was bool) {
	g.mu.Lock()
	was = len(g.mismatches) > 0
	say := len(found) > 0 && (!slices.Equal(g.mismatches, found) || time.Since(g.logged) >= g.o.Interval)
	if say {
		g.logged = time.Now()
	}
	g.verified, g.mismatches, g.checkErr = true, found, nil
	g.mu.Unlock()
	if say {
		for _, m := range found {
			g.log.Error("event store integrity check failed", "stream", m.Stream, "check", m.Check, "detail", m.Detail)
		}
	}
	return was
}

// raise reads every source, raises the high-water mark to what they have
// seen (writing the file when it rose) and returns the mark with the name
// of whatever set it.
func (g *Guard) raise() (map[string]uint64, map[string]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	seen, from := map[string]uint64{}, map[string]string{}
	rose := false
	for _, stream := range eventStreams {
		seen[stream] = g.high[stream]
		from[stream] = "its high-water mark"
		if g.o.HighWaterFile != "" {
			from[stream] += " in " + g.o.HighWaterFile
		}
		for _, src := range g.sources[stream] {
			// A source that has seen as much as the mark is named: it
			// says more than the mark does.
			if v := src.seen(); v > 0 && v >= seen[stream] {
				seen[stream], from[stream] = v, src.name
			}
		}
		if seen[stream] > g.high[stream] {
			g.high[stream], rose = seen[stream], true
			g.highMark.WithLabelValues(stream).Set(float64(seen[stream]))
		}
	}
	if rose && g.o.HighWaterFile != "" {
		if err := writeHighWater(g.o.HighWaterFile, g.high); err != nil {
			// The mark in memory still holds for this run of the process.
			g.log.Error("event store: writing the high-water mark", "file", g.o.HighWaterFile, "err", err)
		}
	}
	return seen, from
}

// expected is the configuration EnsureStreams gives the guarded stream
// name with o.
func expected(name string, o StreamOptions) jetstream.StreamConfig {
	switch name {
	case AccessLogStream:
		return AccessLogStreamConfig(o)
	case KeyStream:
		return KeyStreamConfig(o)
	}
	return FamilyStreamConfig(o)
}

// inspect checks one stream's info (nil: missing) against its expected
// configuration and, for an event stream, the highest sequence seen of
// it. It reports only the checks that apply to the stream (checksOf).
func inspect(name string, info *jetstream.StreamInfo, want jetstream.StreamConfig, seen uint64, from, hwFile string) []Mismatch {
	miss := func(check, format string, a ...any) Mismatch {
		return Mismatch{Stream: name, Check: check, Detail: name + " " + fmt.Sprintf(format, a...)}
	}
	if info == nil {
		if name == KeyStream {
			return []Mismatch{miss(CheckPresent, "is missing: no family's data key, and so no personal field, can be read")}
		}
		if seen == 0 {
			return []Mismatch{miss(CheckPresent, "is missing")}
		}
		detail := missingDetail(name, seen, from, hwFile)
		return []Mismatch{{name, CheckPresent, detail}, {name, CheckLastSequence, detail}}
	}
	// The data keys' bucket: its messages are deleted by design, and it
	// holds one a key (keyChecks).
	keys := name == KeyStream
	var out []Mismatch
	cfg, state := info.Config, info.State
	var limits []string
	if cfg.MaxMsgs > 0 {
		limits = append(limits, fmt.Sprintf("MaxMsgs=%d", cfg.MaxMsgs))
	}
	if cfg.MaxBytes > 0 {
		limits = append(limits, fmt.Sprintf("MaxBytes=%d", cfg.MaxBytes))
	}
	if cfg.MaxAge > 0 {
		limits = append(limits, fmt.Sprintf("MaxAge=%s", cfg.MaxAge))
	}
	if cfg.MaxMsgsPerSubject > 0 && !keys {
		limits = append(limits, fmt.Sprintf("MaxMsgsPerSubject=%d", cfg.MaxMsgsPerSubject))
	}
	if cfg.AllowMsgTTL {
		limits = append(limits, "AllowMsgTTL")
	}
	if len(limits) > 0 {
		what := "messages"
		if keys {
			what = "data keys, each an erasure of its family that nothing records"
		}
		out = append(out, miss(CheckLimits, "has limits that delete %s: %s", what, strings.Join(limits, ", ")))
	}
	if keys && cfg.AllowRollup {
		out = append(out, miss(CheckRollup, "allows rollups: a rollup message replaces a data key, or every key at once"))
	}
	if keys {
		set := cfg.MaxMsgsPerSubject == 1 && cfg.DiscardNewPerSubject
		rotating := cfg.MaxMsgsPerSubject == RotationKeysPerSubject && !cfg.DiscardNewPerSubject
		if !set && !rotating {
			out = append(out, miss(CheckWriteOnce, "keys are not written once (MaxMsgsPerSubject=%d, DiscardNewPerSubject=%v): a second write on a key's subject replaces the key",
				cfg.MaxMsgsPerSubject, cfg.DiscardNewPerSubject))
		}
	}
	if cfg.Retention != jetstream.LimitsPolicy {
		out = append(out, miss(CheckRetention, "retention is %s, not limits: consumed messages are deleted", cfg.Retention))
	}
	// The event streams keep every message: they deny deletes and
	// purges, and their history is whole. Not so the keys' bucket.
	if !keys {
		if !cfg.DenyDelete {
			out = append(out, miss(CheckDenyDelete, "allows deleting messages (deny delete is off)"))
		}
		if !cfg.DenyPurge {
			out = append(out, miss(CheckDenyPurge, "allows purging (deny purge is off)"))
		}
		if state.LastSeq > 0 && state.FirstSeq != 1 {
			out = append(out, miss(CheckFirstSequence, "first sequence is %d, not 1: messages 1 to %d are gone", state.FirstSeq, state.FirstSeq-1))
		}
		if state.LastSeq < seen {
			out = append(out, miss(CheckLastSequence, "last sequence is %d, below %d, which this process has seen (%s): the stream was replaced or truncated", state.LastSeq, seen, from))
		}
		// A stream that denies deletes holds every sequence from its
		// first to its last. (Emptied by a limit, its first sequence is
		// its last plus one: the first-sequence check finds that.)
		if want.DenyDelete && state.FirstSeq > 0 && state.LastSeq >= state.FirstSeq {
			if span := state.LastSeq - state.FirstSeq + 1; state.NumDeleted != 0 || state.Msgs != span {
				out = append(out, miss(CheckContiguous, "holds %d messages from sequence %d to %d, not %d: %d were deleted from the middle",
					state.Msgs, state.FirstSeq, state.LastSeq, span, max(uint64(state.NumDeleted), span-min(state.Msgs, span))))
			}
		}
	}
	// What is stored in the stream is what was published to its subjects,
	// as published, and nothing else; and it goes nowhere else.
	if !sameSubjects(cfg.Subjects, want.Subjects) {
		out = append(out, miss(CheckSubjects, "subjects are %q, not %q", cfg.Subjects, want.Subjects))
	}
	if !reflect.DeepEqual(cfg.SubjectTransform, want.SubjectTransform) {
		out = append(out, miss(CheckSubjects, "has a subject transform %s", describe(cfg.SubjectTransform)))
	}
	if (len(cfg.Sources) > 0 || len(want.Sources) > 0) && !reflect.DeepEqual(cfg.Sources, want.Sources) {
		out = append(out, miss(CheckSources, "sources %s", describe(cfg.Sources)))
	}
	if !reflect.DeepEqual(cfg.Mirror, want.Mirror) {
		out = append(out, miss(CheckSources, "mirrors %s", describe(cfg.Mirror)))
	}
	if !reflect.DeepEqual(cfg.RePublish, want.RePublish) {
		out = append(out, miss(CheckRePublish, "republishes its messages: %s", describe(cfg.RePublish)))
	}
	if cfg.Replicas != want.Replicas {
		out = append(out, miss(CheckReplicas, "is at R%d, not the configured R%d", cfg.Replicas, want.Replicas))
	}
	if cfg.Sealed {
		out = append(out, miss(CheckSealed, "is sealed: it refuses every write, for good"))
	}
	if want.AllowAtomicPublish && !cfg.AllowAtomicPublish {
		out = append(out, miss(CheckAtomicPublish, "takes no atomic batch (atomic publish is off): it refuses every batch until the setup step restores it"))
	}
	return out
}

// sameSubjects reports whether a and b hold the same subjects, in any
// order.
func sameSubjects(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// describe renders a part of a stream's configuration for a report.
func describe(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // subjects' ">" as such
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func integrityError(ms []Mismatch) error {
	var details []string
	for _, m := range ms {
		if !slices.Contains(details, m.Detail) {
			details = append(details, m.Detail)
		}
	}
	return fmt.Errorf("%w: %s", ErrIntegrity, strings.Join(details, "; "))
}

// Ready is the readiness check: nil once a check has completed and found
// nothing wrong.
func (g *Guard) Ready(context.Context) error {
	if g == nil {
		return nil
	}
	found, checkErr, verified := g.state()
	switch {
	case found != nil:
		return found
	case checkErr != nil:
		return fmt.Errorf("integrity not checked: %w", checkErr)
	case !verified:
		return errors.New("integrity not yet checked")
	}
	return nil
}

// state is what the last checks left: what they found wrong (nil when
// nothing), why the last one did not run, and whether one has completed.
func (g *Guard) state() (found, checkErr error, verified bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.mismatches) > 0 {
		found = integrityError(g.mismatches)
	}
	return found, g.checkErr, g.verified
}

// Refusal is nil when writes may go ahead: a check has completed and found
// nothing wrong. Otherwise it says why not (matching ErrIntegrity when a
// check failed).
func (g *Guard) Refusal() error {
	if g == nil {
		return nil
	}
	found, _, verified := g.state()
	switch {
	case found != nil:
		return found
	case !verified:
		return fmt.Errorf("%w: the streams have not yet been checked", ErrIntegrity)
	}
	return nil
}

// MayCreate is asked before the streams are created: a stream that is
// missing although the process has seen it hold messages must not be
// created again empty, silently. It returns an error matching ErrIntegrity
// then, and records the finding for Ready and Refusal. A nil guard allows
// everything.
func (g *Guard) MayCreate(ctx context.Context, js jetstream.JetStream) error {
	if g == nil {
		return nil
	}
	g.runMu.Lock()
	defer g.runMu.Unlock()
	seen, from := g.raise()
	var found []Mismatch
	for _, name := range eventStreams {
		if seen[name] == 0 {
			continue
		}
		_, err := js.Stream(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			found = append(found, Mismatch{Stream: name, Check: CheckPresent, Detail: missingDetail(name, seen[name], from[name], g.o.HighWaterFile)})
			g.ok.WithLabelValues(name, CheckPresent).Set(0)
			g.failures.WithLabelValues(name, CheckPresent).Inc()
		case err != nil:
			return err
		}
	}
	if len(found) == 0 {
		return nil
	}
	g.record(found)
	return integrityError(found)
}

// Refusing reports whether the last finding was a failed check.
func (g *Guard) Refusing() bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.mismatches) > 0
}

// missingDetail says that a stream the process has seen hold messages is
// missing, and what an operator can do.
func missingDetail(name string, seen uint64, from, hwFile string) string {
	undo := "restart the process"
	if hwFile != "" {
		undo = "remove " + hwFile
	}
	return fmt.Sprintf("%s is missing, but this process has seen it hold sequence %d (%s): it is not created again empty; restore it, or %s if its loss is accepted",
		name, seen, from, undo)
}

// writeHighWater replaces path atomically: a crash leaves the old mark or
// the new one, never a torn file.
func writeHighWater(path string, high map[string]uint64) error {
	b, err := json.MarshalIndent(highWater{Streams: high}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	return durable.WriteFile(path, append(b, '\n'), 0o600)
}
