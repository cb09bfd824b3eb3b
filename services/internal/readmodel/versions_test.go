package readmodel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// mixedVersions is the golden fixture: a stored stream in which one family's
// history holds both versions of praktik.started and goal.set, mixed (a
// goal set in v1 progressed after a v2 goal, praktik of either version
// ended). Each line is a stored message: sequence, subject, recording time
// and the stored bytes.
const mixedVersions = "testdata/mixed-versions.jsonl"

type storedLine struct {
	Seq      uint64          `json:"seq"`
	Subject  string          `json:"subject"`
	Recorded time.Time       `json:"recorded"`
	Event    json.RawMessage `json:"event"`
}

// mixedHistory builds the fixture's events, as department systems send
// them, in stream order.
func mixedHistory(t *testing.T) []storedLine {
	t.Helper()
	const fam = "F-GOLD"
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	type sent struct {
		dept events.Department
		data events.Payload
	}
	history := []sent{
		{events.SOF, &events.FamilyReferred{Reason: "visitation"}},
		{events.SOF, &events.FamilyEnrolled{Members: []events.Member{
			{PersonID: "P1", Role: events.RoleParent, BirthYear: 1985}, {PersonID: "C1", Role: events.RoleChild, BirthYear: 2012}},
			CourseStart: "2024-03-01", ChildCaseIDs: []string{"CC1"}, ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}}}},
		{events.SOF, &events.GoalSet{GoalID: "G1", Title: "Mor i praktik", Domain: "employment", PersonID: "P1", ExpressedBy: "family"}},
		{events.BIF, &events.PraktikStarted{PraktikID: "PR1", PersonID: "P1", Employer: "12345678", HoursPerWeek: 12.5, PlannedEnd: "2024-06-30"}},
		{events.SOF, &events.GoalSetV2{GoalID: "G2", Title: "Hverdagen hænger sammen", Domains: []string{"family", "employment"},
			Description: "Aftensmad og lektier før kl. 19", ExpressedBy: "family"}},
		{events.BIF, &events.PraktikStartedV2{PraktikID: "PR2", PersonID: "P1",
			Employer: events.PraktikEmployer{Cvr: "87654321", PNumber: "1000123456"}, HoursPerWeek: 10}},
		{events.SOF, &events.GoalProgressed{GoalID: "G1", Achievement: "improving"}},
		{events.BIF, &events.PraktikEnded{PraktikID: "PR1", Outcome: "completed"}},
		{events.SOF, &events.GoalSet{GoalID: "G3", Title: "Skolegang hver dag", Domain: "school", ExpressedBy: "professional"}},
		{events.BIF, &events.PraktikEnded{PraktikID: "PR2", Outcome: "job"}},
		{events.SOF, &events.GoalClosed{GoalID: "G1", Outcome: "achieved"}},
		{events.SOF, &events.GoalProgressed{GoalID: "G2", Achievement: "in-progress"}},
	}
	var out []storedLine
	for i, s := range history {
		at := base.Add(time.Duration(i) * time.Hour)
		ce, err := events.Build(s.dept, fam, s.data, events.WithID(fam+"-"+string(rune('a'+i))), events.WithTime(at))
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		events.StampSchema(&ce)
		b, err := events.Marshal(ce)
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := events.SpecOf(s.data)
		out = append(out, storedLine{Seq: uint64(i + 1), Subject: events.Subject(fam, s.dept, spec.Name), Recorded: at.Add(time.Second), Event: b})
	}
	return out
}

// readFixture reads the golden fixture; UPDATE_GOLDEN=1 writes it from
// mixedHistory first. A fixture that differs from what mixedHistory
// builds fails, so that neither changes unnoticed.
func readFixture(t *testing.T) []storedLine {
	t.Helper()
	want := mixedHistory(t)
	var buf bytes.Buffer
	for _, l := range want {
		b, _ := json.Marshal(l)
		buf.Write(append(b, '\n'))
	}
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(mixedVersions, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(mixedVersions)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []storedLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var file bytes.Buffer
	for sc.Scan() {
		file.Write(append(sc.Bytes(), '\n'))
		var l storedLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		got = append(got, l)
	}
	if !bytes.Equal(file.Bytes(), buf.Bytes()) {
		t.Fatalf("%s is not what mixedHistory builds; run UPDATE_GOLDEN=1 go test -run Versions ./internal/readmodel/", mixedVersions)
	}
	return got
}

// allLatest is the same history with every event sent as the latest
// version: the stored bytes of an earlier version replaced by its upcast.
func allLatest(t *testing.T, lines []storedLine) []storedLine {
	t.Helper()
	var out []storedLine
	for _, l := range lines {
		env, err := events.DecodeLatest(l.Subject, l.Event, l.Recorded)
		if err != nil {
			t.Fatal(err)
		}
		b, err := events.Marshal(env.Event)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, storedLine{l.Seq, l.Subject, l.Recorded, b})
	}
	return out
}

// buildModel applies the stored lines to a new model, as the projector
// does (decode, apply, flush), and returns it.
func buildModel(t *testing.T, lines []storedLine) *Model {
	t.Helper()
	ctx := context.Background()
	m, err := Open(ctx, filepath.Join(t.TempDir(), ModelName(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	batch := make([]Message, len(lines))
	for i, l := range lines {
		batch[i] = Message{seq: l.Seq, subject: l.Subject, recorded: l.Recorded, raw: l.Event}
	}
	DecodeAll(batch, nil)
	for _, msg := range batch {
		if msg.reason != "" {
			t.Fatalf("message %d quarantined: %s", msg.seq, msg.reason)
		}
	}
	if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestVersionsGoldenDigest: the read model built from the stored stream
// with both versions mixed equals the one built from the same history all
// in v2, but for stored_type, which records what was stored: it is the v1
// type on exactly the rows stored as v1, and "" on every other.
func TestVersionsGoldenDigest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mixed := readFixture(t)
	v1 := 0
	for _, l := range mixed {
		if strings.Contains(string(l.Event), `.v1"`) && (strings.Contains(l.Subject, "praktik.started") || strings.Contains(l.Subject, "goal.set")) {
			v1++
		}
	}
	if v1 != 3 {
		t.Fatalf("the fixture holds %d events of an earlier version, want 3", v1)
	}
	a, b := buildModel(t, mixed), buildModel(t, allLatest(t, mixed))

	rows, err := a.rdb.QueryContext(ctx, `SELECT sequence, type, stored_type FROM timeline ORDER BY sequence`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var seq int
		var typ, stored string
		if err := rows.Scan(&seq, &typ, &stored); err != nil {
			t.Fatal(err)
		}
		spec, _ := events.ByType(typ)
		if !spec.IsLatest() {
			t.Errorf("row %d has type %s, not the latest version", seq, typ)
		}
		want := ""
		if ev := mixed[seq-1].Event; !strings.Contains(string(ev), `"type":"`+typ+`"`) {
			want = events.TypeOf(spec.Name, 1)
		}
		if stored != want {
			t.Errorf("row %d stored_type %q, want %q", seq, stored, want)
		}
	}
	rows.Close()

	da, err := a.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := b.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da == db {
		t.Fatal("the digests agree although stored_type differs: the digest does not cover it")
	}
	if _, err := a.w.ExecContext(ctx, `UPDATE timeline SET stored_type = ''`); err != nil {
		t.Fatal(err)
	}
	if da, _ = a.Digest(ctx); da != db {
		diff, _ := firstDifference(ctx, a.rdb, b.rdb)
		t.Fatalf("mixed versions digest %s, all-v2 digest %s: %v", da, db, diff)
	}

	// The family's overview is the v2 shape, whatever version each event
	// was stored in.
	ov, err := a.Overview(ctx, "F-GOLD")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"domains":["employment"]`, `"domains":["family","employment"]`, `"domains":["school"]`, `"description":"Aftensmad og lektier før kl. 19"`} {
		if !strings.Contains(string(ov), want) {
			t.Errorf("overview lacks %s:\n%s", want, ov)
		}
	}
	if strings.Contains(string(ov), `"praktikId"`) {
		t.Errorf("a praktik is still open, though praktik.ended closed both versions:\n%s", ov)
	}
}

// TestRedrive: a message an older build quarantined (a version it did not
// know) is moved to the timeline by Redrive once this build decodes it,
// its family folded again in stream order; the model then equals the one a
// fresh replay builds (what verify compares with), and a message that
// still does not decode stays with this build's reason.
func TestRedrive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lines := readFixture(t)
	m := openModel(t)
	batch := make([]Message, 0, len(lines)+1)
	for _, l := range lines {
		batch = append(batch, Message{seq: l.Seq, subject: l.Subject, recorded: l.Recorded, raw: l.Event})
	}
	junk := Message{seq: uint64(len(lines) + 1), subject: "families.F-GOLD.sof.goal.set", recorded: lines[0].Recorded, raw: []byte(`{"not":"an event"}`)}
	batch = append(batch, junk)
	DecodeAll(batch, nil)
	// As the build before v2 judged them: goal.set.v2 and praktik.started.v2
	// were no catalog types.
	older := 0
	for i := range batch {
		if strings.Contains(string(batch[i].raw), `.v2"`) {
			batch[i].reason = "events: invalid: the event breaks the rules of the catalog; /type: not an event type of the catalog"
			older++
		}
	}
	if older != 2 {
		t.Fatalf("%d v2 messages in the fixture, want 2", older)
	}
	if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	want := buildModelWith(t, lines, junk)
	wantDigest, _ := want.Digest(ctx)
	if d, _ := m.Digest(ctx); d == wantDigest {
		t.Fatal("the model with quarantined v2 messages already equals the replay")
	}

	res, err := m.Redrive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Moved) != 2 || res.Moved[0].Type != events.TypeOf("goal.set", 2) || res.Moved[1].Type != events.TypeOf("praktik.started", 2) ||
		res.Moved[0].FamilyID != "F-GOLD" || len(res.NotMoved) != 1 || res.NotMoved[0].Sequence != junk.seq || res.NotMoved[0].Reason == "" {
		t.Fatalf("redrive %+v", res)
	}
	if d, _ := m.Digest(ctx); d != wantDigest {
		diff, _ := firstDifference(ctx, m.rdb, want.rdb)
		t.Fatalf("after the redrive the model differs from a replay: %v", diff)
	}
	// The states in memory agree with the file: the next event folds on
	// the refolded state (G2, set by the re-driven message, progresses).
	next := mixedNext(t, uint64(len(lines)+2))
	if _, err := m.Apply(ctx, []Message{next}, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	ov, _ := m.Overview(ctx, "F-GOLD")
	if !strings.Contains(string(ov), `"latestAchievement":"achieved"`) {
		t.Errorf("the event after the redrive did not fold on the refolded state:\n%s", ov)
	}
	again, err := m.Redrive(ctx, nil)
	if err != nil || len(again.Moved) != 0 || len(again.NotMoved) != 1 {
		t.Errorf("a second redrive: %+v, %v", again, err)
	}
}

// buildModelWith is buildModel with extra messages that are quarantined.
func buildModelWith(t *testing.T, lines []storedLine, extra ...Message) *Model {
	t.Helper()
	ctx := context.Background()
	m, err := Open(ctx, filepath.Join(t.TempDir(), ModelName(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var batch []Message
	for _, l := range lines {
		batch = append(batch, Message{seq: l.Seq, subject: l.Subject, recorded: l.Recorded, raw: l.Event})
	}
	for _, e := range extra {
		batch = append(batch, Message{seq: e.seq, subject: e.subject, recorded: e.recorded, raw: e.raw})
	}
	DecodeAll(batch, nil)
	if _, err := m.Apply(ctx, batch, ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	return m
}

// mixedNext is a goal.progressed of G2 at seq, decoded.
func mixedNext(t *testing.T, seq uint64) Message {
	t.Helper()
	at := time.Date(2024, 3, 2, 9, 0, 0, 0, time.UTC)
	ce, err := events.Build(events.SOF, "F-GOLD", &events.GoalProgressed{GoalID: "G2", Achievement: "achieved"}, events.WithTime(at))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := events.Marshal(ce)
	msg := Message{seq: seq, subject: "families.F-GOLD.sof.goal.progressed", recorded: at, raw: b}
	msg.decode()
	if msg.reason != "" {
		t.Fatal(msg.reason)
	}
	return msg
}

// TestVersionsReadPaths names the read model's read paths beside apply
// (TestVersionsGoldenDigest) and verify's replay (TestRedrive): the as-of
// view, the timeline query and the live entries that SSE sends all
// present the mixed stream as the latest versions, with storedType.
func TestVersionsReadPaths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lines := readFixture(t)
	m := openModel(t)
	batch := make([]Message, len(lines))
	for i, l := range lines {
		batch[i] = Message{seq: l.Seq, subject: l.Subject, recorded: l.Recorded, raw: l.Event}
	}
	DecodeAll(batch, nil)
	res, err := m.Apply(ctx, batch, ApplyOptions{Flush: true, Wants: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	check := func(path string, entries []Entry) {
		t.Helper()
		if len(entries) != len(lines) {
			t.Fatalf("%s: %d entries", path, len(entries))
		}
		stored := 0
		for _, e := range entries {
			spec, _ := events.ByType(e.Type)
			if !spec.IsLatest() {
				t.Errorf("%s: entry %d of type %s", path, e.Sequence, e.Type)
			}
			if e.StoredType != "" {
				stored++
				if b, _ := json.Marshal(e); !strings.Contains(string(b), `"storedType":"`+e.StoredType+`"`) {
					t.Errorf("%s: entry JSON without storedType: %s", path, b)
				}
			}
		}
		if stored != 3 {
			t.Errorf("%s: %d entries with a storedType, want 3", path, stored)
		}
	}
	// The live entries (what the projector sends to SSE subscribers).
	check("live", res.Entries["F-GOLD"])
	// The as-of view, a moment after the last event.
	view, err := modelSource{m}.view().AsOf(ctx, "F-GOLD", lines[len(lines)-1].Recorded.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	check("as-of", view.Entries)
	if js, err := view.AppendJSON(nil); err != nil || !strings.Contains(string(js), `"storedType":"dk.kk.jobogfamilie.goal.set.v1"`) ||
		!strings.Contains(string(js), `"domains":["family","employment"]`) {
		t.Errorf("as-of JSON: %v %.300s", err, js)
	}
	// The timeline query.
	tq, err := ParseTimeline("F-GOLD", url.Values{"limit": {"100"}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := m.Timeline(ctx, tq)
	if err != nil {
		t.Fatal(err)
	}
	check("timeline", page.Entries)
	// A type filter on either version selects the type's events, however
	// stored.
	for _, typ := range []string{events.TypeOf("goal.set", 1), events.TypeOf("goal.set", 2), "goal.set"} {
		tq, err := ParseTimeline("F-GOLD", url.Values{"type": {typ}})
		if err != nil {
			t.Fatal(err)
		}
		if page, err := m.Timeline(ctx, tq); err != nil || len(page.Entries) != 3 {
			t.Errorf("type=%s: %d entries, %v; want the 3 goal.set", typ, len(page.Entries), err)
		}
	}
}

// TestUnknownVersionQuarantined: a stored event of a version this build
// does not know is quarantined, and the reason says which versions it
// knows, for the operator who deploys the build that does (and re-drives).
func TestUnknownVersionQuarantined(t *testing.T) {
	t.Parallel()
	lines := readFixture(t)
	raw := strings.Replace(string(lines[3].Event), events.TypeOf("praktik.started", 1), "dk.kk.jobogfamilie.praktik.started.v3", 1)
	m := Message{seq: 1, subject: lines[3].Subject, recorded: lines[3].Recorded, raw: []byte(raw)}
	m.decode()
	if !strings.Contains(m.reason, "version 3 of praktik.started is not known to this build, which knows versions 1 to 2") {
		t.Errorf("reason %q", m.reason)
	}
}

// TestRedriveAfterAFailedBatch: a re-drive while a failed batch left the
// families changed since the last consistent position to repair (the
// overviews trailed the checkpoint) writes them too, so the model is the
// stream's afterwards, as a replay is.
func TestRedriveAfterAFailedBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	orig := []Message{
		eventAt(t, "F1", 1, events.SOF, &events.FamilyReferred{Reason: "x"}, at(0)),
		eventAt(t, "F2", 2, events.SOF, &events.FamilyReferred{Reason: "y"}, at(1)),
		eventAt(t, "F1", 3, events.SOF, &events.ConsentGiven{PersonID: "P1", Scope: events.ScopeDataSharing}, at(2)),
		eventAt(t, "F3", 4, events.SOF, &events.FamilyReferred{Reason: "z"}, at(3)),
	}
	mk := func() []Message { return append([]Message(nil), orig...) }
	// The reference: every message applied, flushed.
	want, err := Open(ctx, filepath.Join(t.TempDir(), ModelName(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if _, err := want.Apply(ctx, mk(), ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	wantDigest, err := want.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}

	m := openModel(t)
	msgs := mk()
	msgs[1].reason = "as an older build judged it" // quarantined, re-drivable
	if _, err := m.Apply(ctx, msgs[:2], ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	// Catching up: a batch without a flush (consistent 2, checkpoint 3).
	if _, err := m.Apply(ctx, msgs[2:3], ApplyOptions{Flush: false}); err != nil {
		t.Fatal(err)
	}
	// A batch that fails (here: a gap), as after a rebuild swap or an I/O error.
	gap := eventAt(t, "F3", 9, events.SOF, &events.FamilyReferred{Reason: "z"}, at(3))
	if _, err := m.Apply(ctx, []Message{gap}, ApplyOptions{Flush: true}); err == nil {
		t.Fatal("no gap error")
	}
	// The operator's re-drive, then the consumer carries on.
	if res, err := m.Redrive(ctx, nil); err != nil || len(res.Moved) != 1 {
		t.Fatalf("redrive %+v %v", res, err)
	}
	if _, err := m.Apply(ctx, msgs[3:], ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	if d, err := m.Digest(ctx); err != nil || d != wantDigest {
		diff, _ := firstDifference(ctx, m.rdb, want.rdb)
		t.Errorf("model differs from a replay: %+v", diff)
	}
}

// TestRefoldOnAnotherCatalog: a model whose rows were read as the newest
// versions of another catalog (another events.NewestFingerprint) is
// emptied when it is opened, as one of another fold is, and the replay
// makes the same model again; one of the same catalog is kept as it is.
func TestRefoldOnAnotherCatalog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lines := readFixture(t)
	decoded := func() []Message {
		batch := make([]Message, len(lines))
		for i, l := range lines {
			batch[i] = Message{seq: l.Seq, subject: l.Subject, recorded: l.Recorded, raw: l.Event}
		}
		DecodeAll(batch, nil)
		return batch
	}
	path := filepath.Join(t.TempDir(), ModelName(1))
	reopen := func(m *Model, catalog string) *Model {
		t.Helper()
		if m != nil {
			m.Close()
		}
		m, err := open(ctx, path, catalog)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	state := func(m *Model) (rows int, fold int, catalog string) {
		t.Helper()
		if err := m.w.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM timeline) + (SELECT count(*) FROM families), fold, catalog FROM checkpoint`).Scan(&rows, &fold, &catalog); err != nil {
			t.Fatal(err)
		}
		return rows, fold, catalog
	}
	m := reopen(nil, "catalog-a")
	defer func() { m.Close() }()
	if _, err := m.Apply(ctx, decoded(), ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	want, err := m.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := m.Checkpoint()

	m = reopen(m, "catalog-a")
	if rows, _, catalog := state(m); m.Checkpoint() != last || rows == 0 || catalog != "catalog-a" {
		t.Fatalf("reopened with the same catalog: checkpoint %d, %d rows, catalog %q; want it kept at %d", m.Checkpoint(), rows, catalog, last)
	}

	m = reopen(m, "catalog-b")
	if rows, fold, catalog := state(m); m.Checkpoint() != 0 || m.Consistent() != 0 || rows != 0 || fold != family.SnapshotVersion || catalog != "catalog-b" {
		t.Fatalf("reopened with another catalog: checkpoint %d, %d rows, fold %d, catalog %q; want an empty model of catalog-b", m.Checkpoint(), rows, fold, catalog)
	}
	if _, err := m.Apply(ctx, decoded(), ApplyOptions{Flush: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Digest(ctx); err != nil || got != want {
		t.Fatalf("replayed after the refold: digest %s, %v; want %s", got, err, want)
	}

	// This build's catalog is neither.
	m.Close()
	if m, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	if rows, _, catalog := state(m); rows != 0 || catalog != events.NewestFingerprint() {
		t.Fatalf("opened by this build: %d rows, catalog %q; want an empty model of %q", rows, catalog, events.NewestFingerprint())
	}
}
