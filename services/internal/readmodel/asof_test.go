package readmodel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
)

// modelSource serves one open model to a View.
type modelSource struct{ m *Model }

func (s modelSource) Acquire() (*Model, func(), error)      { return s.m, func() {}, nil }
func (s modelSource) Ready(context.Context) error           { return nil }
func (s modelSource) LockApply() func()                     { return func() {} }
func (s modelSource) SetApplied(uint64)                     {}
func (s modelSource) Position() uint64                      { return s.m.consistent }
func (s modelSource) WaitFor(context.Context, uint64) error { return nil }
func (s modelSource) view() *View                           { return &View{src: s} }

// referenceAsOf is the as-of view the plain way: every row read, decoded
// with storedEnvelope and folded in stream order, the entries sorted by
// (time, sequence).
func referenceAsOf(t *testing.T, m *Model, fam string, at time.Time) AsOfView {
	t.Helper()
	rows, err := m.rdb.Query(`SELECT sequence, event_id, time_ns, recorded_ns, department, type, title, data, actor
		FROM timeline WHERE family_id = ? ORDER BY sequence`, fam)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	st := family.New(fam)
	entries := []Entry{}
	for rows.Next() {
		var (
			e        Entry
			seq      int64
			tns, rns int64
			data     []byte
		)
		if err := rows.Scan(&seq, &e.ID, &tns, &rns, &e.Department, &e.Type, &e.Title, &data, &e.Actor); err != nil {
			t.Fatal(err)
		}
		if rns > at.UnixNano() {
			continue
		}
		e.Sequence, e.Time, e.RecordedAt, e.Data = uint64(seq), time.Unix(0, tns).UTC(), time.Unix(0, rns).UTC(), data
		env, err := storedEnvelope(fam, e.ID, tns, e.Department, e.Type, data, e.Actor)
		if err != nil {
			t.Fatal(err)
		}
		st.Apply(env)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(entries, func(a, b Entry) int { return a.Time.Compare(b.Time) })
	return AsOfView{FamilyID: fam, AsOf: at.UTC(), Position: m.consistent, Overview: st.Overview(), Entries: entries}
}

// TestAsOfMatchesReference: the as-of view, read in batches on several
// goroutines with its entries encoded as they are read, is the plain
// fold's view, for families longer than a batch, with backfilled events,
// recording times out of stream order, and strings that need escaping.
func TestAsOfMatchesReference(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := openModel(t)

	payloads := []events.Payload{
		&events.FamilyEnrolled{Members: []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
			CourseStart: "2024-01-15", ChildCaseIDs: []string{"CASE1"}},
		&events.CaseworkerAssigned{EmployeeID: "E1"},
		&events.BenefitGranted{PersonID: "P1", Benefit: "kontanthjaelp"},
		&events.GoalSet{GoalID: "G1", Title: `Job <snart> & "godt"`, Domain: "employment", ExpressedBy: "family"},
		&events.GoalProgressed{GoalID: "G1", Achievement: "some"},
		&events.MeetingHeld{Kind: "family", Participants: []string{"P1", "E1"}},
		&events.EmploymentStarted{PersonID: "P1", Kind: "flexjob", HoursPerWeek: 12.5},
		&events.TeamMemberJoined{EmployeeID: "E2", Role: "familiekonsulent"},
		&events.TeamMemberLeft{EmployeeID: "E2"},
		&events.WellbeingMeasured{ChildID: "C1", Instrument: "SDQ", Score: 0.1 + 0.2},
	}
	titles := []string{"Familien er indskrevet", `Citat "her" \ og <b>&</b>`, "linje\u2028skift\u2029", "æøå ÆØÅ", "tab\there", "\x7f del", "ugyldig \xff utf-8"}
	base := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	recorded := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	const n = asOfSplit + foldBatch + 17
	var seq int64
	insert := func(fam string, i int) {
		seq++
		p := payloads[i%len(payloads)]
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := events.ByName(p.EventName())
		happened := base.Add(time.Duration(i) * time.Hour)
		if i%10 == 3 {
			happened = happened.AddDate(-1, 0, 0) // backfilled
		}
		if i%7 == 0 {
			happened = base.Add(time.Duration(i-1) * time.Hour) // same time as another event
		}
		rec := recorded.Add(time.Duration(i) * time.Second)
		if i%13 == 5 {
			rec = rec.Add(-90 * time.Second) // recorded before rows earlier in the stream
		}
		if _, err := m.w.ExecContext(ctx, `INSERT INTO timeline (sequence, family_id, event_id, time_ns, recorded_ns, department, type, title, data, actor)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, seq, fam, fmt.Sprintf("ev-%s-%d", fam, i), happened.UnixNano(), rec.UnixNano(),
			string(spec.Owners[0]), spec.Type(), titles[i%len(titles)], string(data), "urn:kk:"+string(spec.Owners[0])); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		insert("FAM-LONG", i)
		if i%5 == 0 {
			insert("FAM-OTHER", i)
		}
	}
	// The families table says how long a family is, which decides
	// whether its rows are read in two halves.
	for _, f := range []struct {
		id     string
		events int
	}{{"FAM-LONG", n}, {"FAM-OTHER", n/5 + 1}} {
		if _, err := m.w.ExecContext(ctx, `INSERT INTO families (family_id, status, overview, last_sequence, events) VALUES (?, 'known', '{}', ?, ?)`,
			f.id, seq, f.events); err != nil {
			t.Fatal(err)
		}
	}
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}

	src := modelSource{m}
	for _, c := range []struct {
		fam   string
		split bool
	}{{"FAM-LONG", true}, {"FAM-LONG", false}, {"FAM-OTHER", false}} {
		fam := c.fam
		if !c.split {
			// Every helper connection taken: one connection reads all.
			for range cap(asOfHelpers) {
				asOfHelpers <- struct{}{}
			}
		}
		before := m.rdb.Stats().InUse
		for _, at := range []time.Time{
			recorded.Add(-time.Second), recorded, recorded.Add(100 * time.Second), recorded.Add(400 * time.Second),
			recorded.Add(400*time.Second + 1), recorded.Add(time.Hour),
		} {
			got, err := src.view().AsOf(ctx, fam, at)
			if err != nil {
				t.Fatal(err)
			}
			want := referenceAsOf(t, m, fam, at)
			if !reflect.DeepEqual(got.Entries, want.Entries) {
				t.Fatalf("%s as of %s: %d entries differ from the reference's %d", fam, at, len(got.Entries), len(want.Entries))
			}
			if !reflect.DeepEqual(got.Overview, want.Overview) {
				t.Fatalf("%s as of %s: overview\n%+v\nreference\n%+v", fam, at, got.Overview, want.Overview)
			}
			hand, err := got.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := want.AppendJSON(nil) // encodes the entries there and then
			if err != nil {
				t.Fatal(err)
			}
			if string(hand) != string(plain) {
				t.Fatalf("%s as of %s: AppendJSON of the view read differs from that of the reference", fam, at)
			}
			enc, err := got.Encode()
			if err != nil {
				t.Fatal(err)
			}
			var written bytes.Buffer
			if n, err := enc.WriteTo(&written); err != nil || n != int64(len(hand)) || enc.Len() != len(hand) || written.String() != string(hand) {
				t.Fatalf("%s as of %s: Encode: WriteTo wrote %d bytes (%v), Len %d, AppendJSON %d; same %v", fam, at, n, err, enc.Len(), len(hand), written.String() == string(hand))
			}
			reflected, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			var x, y any
			if err := json.Unmarshal(hand, &x); err != nil {
				t.Fatalf("AppendJSON: %v", err)
			}
			_ = json.Unmarshal(reflected, &y)
			if !reflect.DeepEqual(x, y) {
				t.Fatalf("%s as of %s: AppendJSON is not json.Marshal's view", fam, at)
			}
		}
		if !c.split {
			for range cap(asOfHelpers) {
				<-asOfHelpers
			}
		}
		if in := m.rdb.Stats().InUse; in != before {
			t.Fatalf("%s: %d reader connections in use after the views, %d before", fam, in, before)
		}
		// The first case is the first to take two connections at once.
		if open := m.rdb.Stats().OpenConnections; c.split && open < 2 {
			t.Fatalf("%s: read with %d connection, not in two halves", fam, open)
		}
	}
	if _, err := src.view().AsOf(ctx, "FAM-NONE", recorded); err != ErrUnknownFamily {
		t.Fatalf("unknown family: %v", err)
	}
}

// TestAppendString: every string is written as json.Marshal writes it.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "æøå", `"`, `\`, "<>&", "\x00\x1f", "\x7f", "\u2028", "a\u2029b", "\xff", "\xe2\x80",
		"\ufffd", "😀", "tab\t", "mixed æ \"q\" <x> \u2028 \xc3"} {
		want, _ := json.Marshal(s)
		if got := appendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("%q: %s, json.Marshal %s", s, got[1:], want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"plain", "æøå", "<\u2028>", "\xff\xfe", `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("%q: %s, json.Marshal %s", s, got, want)
		}
	})
}

// TestReadersMapTheModel: reader connections read the file through a
// memory map (dsn).
func TestReadersMapTheModel(t *testing.T) {
	t.Parallel()
	m, err := Open(context.Background(), filepath.Join(t.TempDir(), ModelName(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var size int64
	if err := m.rdb.QueryRow(`PRAGMA mmap_size`).Scan(&size); err != nil || size <= 0 {
		t.Fatalf("mmap_size %d %v", size, err)
	}
}

// TestTimelinePageJSON: the timeline's encoder writes what writeJSON, that
// is json.Marshal and a newline, writes for the same page; data is copied
// as stored, so there the two may differ in escaping only.
func TestTimelinePageJSON(t *testing.T) {
	at := time.Date(2024, 5, 1, 9, 30, 0, 120, time.FixedZone("", 7200)).UTC()
	entry := func(i int, s, data string) Entry {
		return Entry{ID: fmt.Sprintf("ev-%d", i), Sequence: uint64(i) * 977, Time: at.Add(time.Duration(i) * time.Hour),
			RecordedAt: at.Add(time.Duration(i) * time.Second), Department: "BIF", Type: "dk.kk.jobogfamilie.bif.praktik-started.v1",
			Title: "Praktik startet " + s, Data: json.RawMessage(data), Actor: "medarbejder " + s}
	}
	cursor := "eyJ2IjoxfQ<&>"
	plain := `{"note":"æøå \\u2028 \\\"q\\\"","n":1.5,"a":[true,null]}`
	for _, page := range []TimelinePage{
		{FamilyID: "F1"},
		{FamilyID: "F1", Entries: []Entry{}},
		{FamilyID: "F<1>&", Entries: []Entry{entry(1, "æøå", plain), entry(2, `"<x>" \u2028`, plain), {ID: "no-data"}}, NextCursor: &cursor},
		{FamilyID: "F2", Entries: []Entry{entry(3, "\xff", `{}`), entry(4, "", plain)}},
	} {
		want, err := json.Marshal(page)
		if err != nil {
			t.Fatal(err)
		}
		if got := page.AppendJSON(nil); string(got) != string(want)+"\n" {
			t.Errorf("page %+v:\n got %s\nwant %s", page, got, want)
		}
	}
	// Stored data with characters json.Marshal escapes for HTML: the same
	// JSON value.
	page := TimelinePage{FamilyID: "F3", Entries: []Entry{entry(5, "", `{"note":"<b> & </b>"}`)}}
	want, err := json.Marshal(page)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(page.AppendJSON(nil), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("got %v, json.Marshal %v", a, b)
	}
}
