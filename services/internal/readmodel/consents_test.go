package readmodel

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/consent"
)

// eventAt is the decoded message of an event of fam stored at seq.
func eventAt(t testing.TB, fam string, seq uint64, d events.Department, p events.Payload, at time.Time) Message {
	t.Helper()
	ce, err := events.Build(d, fam, p, events.WithTime(at))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := events.SpecOf(p)
	msgs := []Message{{seq: seq, subject: events.Subject(fam, d, spec.Name), recorded: at.Add(time.Second), raw: stored(t, ce)}}
	DecodeAll(msgs, nil)
	if msgs[0].reason != "" {
		t.Fatal(msgs[0].reason)
	}
	return msgs[0]
}

// stored is ce as ingest stores it: its dataschema stamped, encoded.
func stored(t testing.TB, ce cloudevents.Event) []byte {
	t.Helper()
	events.StampSchema(&ce)
	b, err := events.Marshal(ce)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConsentsUnderConcurrentFlushes: Consents, which every coordinator's
// consent gate is folded from, never fails while the family is flushed
// again and again beside it (a gate that cannot be folded fails closed and
// hides every BUF and SUF entry), and always finds the consent in force.
func TestConsentsUnderConcurrentFlushes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const fam = "F-FLUSHED"
	m := openModel(t)
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(seq uint64) time.Time { return base.Add(time.Duration(seq) * time.Minute) }
	given := eventAt(t, fam, 1, events.SOF, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeDataSharing}, at(1))
	if _, err := m.Apply(ctx, []Message{given}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	var meetings []Message
	for seq := uint64(2); seq <= 600; seq++ {
		meetings = append(meetings, eventAt(t, fam, seq, events.SOF, &events.MeetingHeld{Kind: "team"}, at(seq)))
	}
	var written atomic.Bool
	go func() {
		defer written.Store(true)
		for _, msg := range meetings {
			if _, err := m.Apply(ctx, []Message{msg}, ApplyOptions{Flush: true}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	reads, fails := 0, 0
	for !written.Load() {
		cr, err := m.Consents(ctx, fam, consent.IsConsentType)
		reads++
		if err != nil || len(inForce(cr)) != 1 || inForce(cr)[0].PersonID != "P1" {
			if fails == 0 {
				t.Errorf("Consents while the family is flushed: %+v, %v", cr, err)
			}
			fails++
		}
	}
	if fails > 0 {
		t.Errorf("%d of %d reads failed", fails, reads)
	}
}

// TestRedriveWithdrawnConsent: a consent.withdrawn that an older build
// quarantined is re-driven after its family's consents were read at the
// family's last sequence, which the re-drive leaves as it was. Consents, which the coordinator's gate is folded from, then no
// longer holds the consent in force: BUF and SUF information reaches
// coordinators only while a data-sharing consent is in force.
func TestRedriveWithdrawnConsent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const fam = "F-REDRIVEN"
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	batch := []Message{
		eventAt(t, fam, 1, events.SOF, &events.FamilyReferred{Reason: "Bekymring"}, at(0)),
		eventAt(t, fam, 2, events.SOF, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeDataSharing}, at(1)),
		eventAt(t, fam, 3, events.SOF, &events.ConsentWithdrawn{PersonID: "P1", Scope: events.ScopeDataSharing}, at(2)),
		eventAt(t, fam, 4, events.SUF, &events.HealthAssessed{PersonID: "P1", BarrierToWork: true}, at(3)),
	}
	// As an older build judged the withdrawal.
	batch[2].reason = "events: invalid: the event breaks the rules of the catalog; /type: not an event type of the catalog"
	m := openModel(t)
	if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	before, err := m.Consents(ctx, fam, consent.IsConsentType)
	if err != nil || len(inForce(before)) != 1 || before.Through != 4 {
		t.Fatalf("before the re-drive: %+v, %v", before, err)
	}
	res, err := m.Redrive(ctx, nil)
	if err != nil || len(res.Moved) != 1 || res.Moved[0].Sequence != 3 {
		t.Fatalf("redrive: %+v, %v", res, err)
	}
	after, err := m.Consents(ctx, fam, consent.IsConsentType)
	if err != nil {
		t.Fatal(err)
	}
	if len(inForce(after)) != 0 || len(after.Later) != 0 || after.Through != 4 {
		t.Errorf("after the re-drive Consents holds %+v in force (later %+v, through %d); the overview holds none", inForce(after), after.Later, after.Through)
	}
	if again, err := m.Consents(ctx, fam, consent.IsConsentType); err != nil || len(inForce(again)) != 0 {
		t.Errorf("read again: %+v, %v", inForce(again), err)
	}
}

// TestRefold: a model whose families were folded with another
// family.SnapshotVersion is emptied when it is opened, to be replayed from
// the stream's start; one of this build's fold is kept as it is.
func TestRefold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const fam = "F-REFOLD"
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), ModelName(1))
	m, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	batch := []Message{
		eventAt(t, fam, 1, events.SOF, &events.FamilyReferred{Reason: "Bekymring"}, at),
		eventAt(t, fam, 2, events.SOF, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeDataSharing}, at.Add(time.Hour)),
	}
	if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if m, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Consents(ctx, fam, consent.IsConsentType); err != nil || m.Checkpoint() != 2 || len(inForce(got)) != 1 {
		t.Fatalf("reopened at the same fold: checkpoint %d, consents %+v, %v", m.Checkpoint(), got, err)
	}
	if _, err := m.w.ExecContext(ctx, `UPDATE checkpoint SET fold = ?`, family.SnapshotVersion-1); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if m, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var rows, fold int
	if err := m.w.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM timeline) + (SELECT count(*) FROM families), fold FROM checkpoint`).Scan(&rows, &fold); err != nil {
		t.Fatal(err)
	}
	if m.Checkpoint() != 0 || rows != 0 || fold != family.SnapshotVersion {
		t.Fatalf("reopened after another fold: checkpoint %d, %d rows, fold %d; want an empty model of fold %d", m.Checkpoint(), rows, fold, family.SnapshotVersion)
	}
	if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Consents(ctx, fam, consent.IsConsentType); err != nil || len(inForce(got)) != 1 {
		t.Fatalf("replayed: %+v, %v", got, err)
	}
}

// TestDigestCoversConsents: the consents column, which the coordinators'
// consent gate reads, is part of the digest that verify compares: a
// consent no event gave, written into it, changes the digest.
func TestDigestCoversConsents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const fam = "F-DIGEST"
	m := openModel(t)
	batch := []Message{eventAt(t, fam, 1, events.SOF, &events.FamilyReferred{Reason: "Bekymring"}, time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC))}
	if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	before, err := m.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.w.ExecContext(ctx, `UPDATE families SET consents = '[{"personId":"P1","scope":"data-sharing","inForce":true,"at":"2024-03-01T09:00:00Z"}]' WHERE family_id = ?`, fam); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Consents(ctx, fam, consent.IsConsentType); err != nil || len(inForce(got)) != 1 {
		t.Fatalf("the forged consent: %+v, %v", got, err)
	}
	if after, err := m.Digest(ctx); err != nil || after == before {
		t.Errorf("digest %s unchanged by a forged consent (%v)", after, err)
	}
}

// inForce are the consents cr's decisions leave in force.
func inForce(cr ConsentRead) []family.Consent {
	var out []family.Consent
	for i := 0; i < len(cr.Decided); {
		j := i + 1
		for j < len(cr.Decided) && cr.Decided[j].PersonID == cr.Decided[i].PersonID && cr.Decided[j].Scope == cr.Decided[i].Scope {
			j++
		}
		if family.ConsentInForce(cr.Decided[i:j], time.Now()) {
			out = append(out, family.Consent{PersonID: cr.Decided[i].PersonID, Scope: cr.Decided[i].Scope})
		}
		i = j
	}
	return out
}
