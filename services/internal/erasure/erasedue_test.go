package erasure_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestEraseDue runs `audit erase-due`: without -yes it lists the families
// due and changes nothing; with it, it archives each one (plaintext,
// checked by verify-export) before erasing it, and leaves the families not
// due alone.
func TestEraseDue(t *testing.T) {
	s := testenv.StartSystem(t, func(c *config.Config) {
		c.RetentionYears = 1
		c.NATSListen = "127.0.0.1:0"
	})
	const reason = "MARKER-due-8Qw-henvisning"
	old := time.Now().UTC().AddDate(-2, 0, 0)
	s.Post(events.SOF, "F-OLD", &events.FamilyReferred{Reason: reason}, events.WithTime(old))
	p := s.Post(events.SOF, "F-NEW", &events.FamilyReferred{Reason: "ny henvisning"})
	s.WaitApplied(p.Sequence)

	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := audit.Command(context.Background(), "erase-due", args, func(string) string { return "" }, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	api := []string{"-url", s.SA.URL(), "-token", dpo}
	archive := t.TempDir()
	withArchive := append(append([]string{}, api...), "-yes", "-reason", "Opbevaringsperioden er udløbet", "-archive", archive,
		"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.AuditKey,
		"-master-key-file", shred.DevMasterKeyFile(s.SA.Config.DataDir))

	// A listing changes nothing.
	code, out, errOut := run(api...)
	if code != 0 || !strings.Contains(out, "1 families due") || !strings.Contains(out, "F-OLD") || strings.Contains(out, "F-NEW") ||
		!strings.Contains(out, "nothing archived or erased") {
		t.Fatalf("listing: %d %s %s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(archive); len(entries) != 0 {
		t.Fatalf("a listing wrote %d archives", len(entries))
	}
	if !strings.Contains(replayOf(t, s, "F-OLD"), reason) {
		t.Fatal("a listing erased the family")
	}
	// -yes without what an erasure needs is a usage error.
	if code, _, errOut := run(append(append([]string{}, api...), "-yes")...); code != 2 || !strings.Contains(errOut, "-reason") {
		t.Errorf("-yes alone: %d %s", code, errOut)
	}
	// A coordinator's token is refused by the API.
	if code, _, errOut := run("-url", s.SA.URL(), "-token", coord); code != 1 || !strings.Contains(errOut, "403") {
		t.Errorf("as coordinator: %d %s", code, errOut)
	}

	code, out, errOut = run(withArchive...)
	if code != 0 || !strings.Contains(out, "erased F-OLD") || !strings.Contains(out, "key destroyed true") {
		t.Fatalf("erase-due -yes: %d %s %s", code, out, errOut)
	}
	dir := filepath.Join(archive, "F-OLD")
	b, err := os.ReadFile(filepath.Join(dir, audit.EventsFile))
	if err != nil || !strings.Contains(string(b), reason) {
		t.Fatalf("the archive lacks the plaintext: %v %s", err, b)
	}
	if res, err := audit.VerifyExport(dir); err != nil || !res.OK {
		t.Fatalf("verify-export of the archive: %+v %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(archive, "F-NEW")); err == nil {
		t.Error("a family not due was archived")
	}
	// The archive's read of the plaintext is in the family's access
	// report, as the data protection officer's, with its purpose.
	if r := s.Get("/v1/privacy/families/F-OLD/access-report", dpo, nil); r.Status != 200 ||
		!strings.Contains(r.Raw, `"endpointKind":"erasure-archive"`) || !strings.Contains(r.Raw, audit.ErasureArchivePurpose) {
		t.Errorf("the access report of F-OLD lacks the archive's read: %d %s", r.Status, r.Raw)
	}
	if got := replayOf(t, s, "F-OLD"); strings.Contains(got, reason) || !strings.Contains(got, shred.Tombstone) {
		t.Errorf("F-OLD after erase-due: %s", got)
	}
	if got := replayOf(t, s, "F-NEW"); !strings.Contains(got, "ny henvisning") {
		t.Errorf("F-NEW after erase-due: %s", got)
	}
	// Run again: nothing is due any more.
	if code, out, errOut := run(withArchive...); code != 0 || !strings.Contains(out, "0 families due") {
		t.Errorf("second run: %d %s %s", code, out, errOut)
	}
}

// replayOf is the audit replay of one family, as the auditor reads it.
func replayOf(t *testing.T, s *testenv.System, family string) string {
	t.Helper()
	r := s.Get("/v1/audit/events?family="+family, auditor, nil)
	if r.Status != 200 {
		t.Fatalf("replay of %s: %d %s", family, r.Status, r.Raw)
	}
	return r.Raw
}

// eraseDue runs `audit erase-due -yes` against s with the master key file
// given, archiving into archive.
func eraseDue(t *testing.T, s *testenv.System, archive, masterKeyFile string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := audit.Command(context.Background(), "erase-due", []string{"-url", s.SA.URL(), "-token", dpo,
		"-yes", "-reason", "Opbevaringsperioden er udløbet", "-archive", archive,
		"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.AuditKey, "-master-key-file", masterKeyFile},
		func(string) string { return "" }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// otherMasterKey writes a master key that is not the deployment's.
func otherMasterKey(t *testing.T) (string, shred.MasterKey) {
	t.Helper()
	text, err := shred.NewMasterKeyText()
	if err != nil {
		t.Fatal(err)
	}
	m, err := shred.ParseMasterKey(text)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, m
}

// dueFamily stores F-OLD, due for erasure, with reason as its personal
// text, and returns its event's sequence.
func dueFamily(t *testing.T, s *testenv.System, reason string) uint64 {
	t.Helper()
	p := s.Post(events.SOF, "F-OLD", &events.FamilyReferred{Reason: reason}, events.WithTime(time.Now().UTC().AddDate(-2, 0, 0)))
	s.WaitApplied(p.Sequence)
	return p.Sequence
}

// TestEraseDueWrongMasterKey: with a master key other than the one the
// data keys are wrapped with, erase-due stops before archiving or
// erasing anything: its archive would hold ciphertext only, and the
// plaintext would then be lost everywhere.
func TestEraseDueWrongMasterKey(t *testing.T) {
	s := testenv.StartSystem(t, func(c *config.Config) {
		c.RetentionYears = 1
		c.NATSListen = "127.0.0.1:0"
	})
	const reason = "MARKER-wrongkey-henvisning"
	dueFamily(t, s, reason)
	wrong, _ := otherMasterKey(t)
	archive := t.TempDir()
	code, out, errOut := eraseDue(t, s, archive, wrong)
	if code != 1 || !strings.Contains(errOut, "master key") || strings.Contains(out, "erased F-OLD") {
		t.Fatalf("erase-due with another master key: %d\n%s\n%s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(archive); len(entries) != 0 {
		t.Errorf("erase-due with another master key wrote %d archives", len(entries))
	}
	if !strings.Contains(replayOf(t, s, "F-OLD"), reason) {
		t.Fatal("F-OLD was erased")
	}
}

// TestEraseDueStopsAtCiphertext: when an event of a due family does not
// decrypt (here its data key is wrapped by another master key than the
// one given, although the newest key of the bucket is the given one's),
// erase-due stops before erasing, naming the family and the event's
// sequence, and leaves no archive of it.
func TestEraseDueStopsAtCiphertext(t *testing.T) {
	s := testenv.StartSystem(t, func(c *config.Config) {
		c.RetentionYears = 1
		c.NATSListen = "127.0.0.1:0"
	})
	const reason = "MARKER-ciphertext-henvisning"
	seq := dueFamily(t, s, reason)
	wrong, wrongMaster := otherMasterKey(t)
	// The newest data key is wrapped by the other master key: the
	// master key check passes, F-OLD's key still does not open.
	ev, err := events.Build(events.SOF, "F-OTHER", &events.FamilyReferred{Reason: "anden"})
	if err != nil {
		t.Fatal(err)
	}
	events.StampSchema(&ev)
	b, err := events.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	env, err := events.DecodeStored(events.Subject("F-OTHER", events.SOF, "family.referred"), b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shred.New(s.SA.Store.JS, wrongMaster).Seal(context.Background(), env, b); err != nil {
		t.Fatal(err)
	}

	archive := t.TempDir()
	code, out, errOut := eraseDue(t, s, archive, wrong)
	if code != 1 || !strings.Contains(errOut, "family F-OLD not erased") || !strings.Contains(errOut, fmt.Sprintf("sequence %d", seq)) ||
		!strings.Contains(errOut, "do not decrypt") || strings.Contains(out, "erased F-OLD") {
		t.Fatalf("erase-due of a family whose events do not decrypt: %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(archive, "F-OLD", audit.ManifestFile)); err == nil {
		t.Error("an archive of ciphertext was completed")
	}
	if !strings.Contains(replayOf(t, s, "F-OLD"), reason) {
		t.Fatal("F-OLD was erased")
	}
}

// TestEraseDueRefusesArchiveOfCiphertext: an archive left in the family's
// directory that holds an event as stored, encrypted (an export without
// the master key), is not taken for the family's archive: erase-due stops,
// naming the family and the event's sequence.
func TestEraseDueRefusesArchiveOfCiphertext(t *testing.T) {
	s := testenv.StartSystem(t, func(c *config.Config) {
		c.RetentionYears = 1
		c.NATSListen = "127.0.0.1:0"
	})
	const reason = "MARKER-oldarchive-henvisning"
	seq := dueFamily(t, s, reason)
	archive := t.TempDir()
	if _, err := audit.Export(context.Background(), s.SA.Store.JS, filepath.Join(archive, "F-OLD"), audit.ExportOptions{Family: "F-OLD"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := eraseDue(t, s, archive, shred.DevMasterKeyFile(s.SA.Config.DataDir))
	if code != 1 || !strings.Contains(errOut, "family F-OLD not erased") || !strings.Contains(errOut, fmt.Sprintf("sequence %d", seq)) ||
		!strings.Contains(errOut, "do not decrypt") {
		t.Fatalf("erase-due over an archive of ciphertext: %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(replayOf(t, s, "F-OLD"), reason) {
		t.Fatal("F-OLD was erased")
	}
}

// TestEraseDueArchivesEventsStoredSince: an archive left by an earlier
// run is reused only while it holds every event the stream holds of the
// family. An event stored since (a backfill, so the family stays due) makes
// erase-due archive the family again, the new archive taking the old
// one's place, before it erases.
func TestEraseDueArchivesEventsStoredSince(t *testing.T) {
	s := testenv.StartSystem(t, func(c *config.Config) {
		c.RetentionYears = 1
		c.NATSListen = "127.0.0.1:0"
	})
	first := dueFamily(t, s, "MARKER-first-henvisning")
	archive := t.TempDir()
	keys := shred.New(s.SA.Store.JS, masterKey(t, s))
	if _, err := audit.Export(context.Background(), s.SA.Store.JS, filepath.Join(archive, "F-OLD"), audit.ExportOptions{Family: "F-OLD", Keys: keys}); err != nil {
		t.Fatal(err)
	}
	const late = "MARKER-late-note"
	p := s.Post(events.SOF, "F-OLD", &events.FamilyReferred{Reason: late}, events.WithTime(time.Now().UTC().AddDate(-2, 0, 1)))
	s.WaitApplied(p.Sequence)

	code, out, errOut := eraseDue(t, s, archive, shred.DevMasterKeyFile(s.SA.Config.DataDir))
	if code != 0 || !strings.Contains(out, "archiving it again") || !strings.Contains(out, "erased F-OLD: 2 events archived") {
		t.Fatalf("erase-due over a stale archive: %d\n%s\n%s", code, out, errOut)
	}
	dir := filepath.Join(archive, "F-OLD")
	if res, err := audit.VerifyExport(dir); err != nil || !res.OK || res.Lines != 2 {
		t.Fatalf("verify-export of the new archive: %+v %v", res, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, audit.EventsFile))
	if !strings.Contains(string(b), late) || !strings.Contains(string(b), fmt.Sprintf(`"jfsequence":"%d"`, first)) {
		t.Fatalf("the archive lacks an event: %s", b)
	}
	if entries, _ := os.ReadDir(archive); len(entries) != 1 {
		t.Errorf("the archive directory holds %d entries, want F-OLD only: %v", len(entries), entries)
	}
	if got := replayOf(t, s, "F-OLD"); strings.Contains(got, late) {
		t.Errorf("F-OLD not erased: %s", got)
	}
}

// TestEraseDueEventStoredBeforeErase: an event stored after erase-due
// archived the family and before its erase request reached the API makes
// the API refuse the erasure (409, the request naming the archive's last
// sequence): nothing is erased, and the next run archives the event and
// erases.
func TestEraseDueEventStoredBeforeErase(t *testing.T) {
	s := testenv.StartSystem(t, func(c *config.Config) {
		c.RetentionYears = 1
		c.NATSListen = "127.0.0.1:0"
	})
	first := dueFamily(t, s, "MARKER-first-henvisning")
	const late = "MARKER-between-note"
	var (
		mu     sync.Mutex
		bodies []string
	)
	target, err := url.Parse(s.SA.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/erase") {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			mu.Lock()
			bodies = append(bodies, string(b))
			n := len(bodies)
			mu.Unlock()
			if n == 1 {
				// Stored between the archive and the erasure.
				s.Post(events.SOF, "F-OLD", &events.FamilyReferred{Reason: late}, events.WithTime(time.Now().UTC().AddDate(-2, 0, 1)))
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	run := func() (int, string, string) {
		var out, errOut bytes.Buffer
		code := audit.Command(context.Background(), "erase-due", []string{"-url", front.URL, "-token", dpo,
			"-yes", "-reason", "Opbevaringsperioden er udløbet", "-archive", t.TempDir(),
			"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.AuditKey,
			"-master-key-file", shred.DevMasterKeyFile(s.SA.Config.DataDir)},
			func(string) string { return "" }, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run()
	if code != 1 || !strings.Contains(errOut, "not erased") || !strings.Contains(errOut, "409") || !strings.Contains(errOut, "family-changed") {
		t.Fatalf("erase-due with an event stored before the erasure: %d\n%s\n%s", code, out, errOut)
	}
	if want := fmt.Sprintf(`"lastSequence":%d`, first); len(bodies) != 1 || !strings.Contains(bodies[0], want) {
		t.Fatalf("erase requests %q, want one with %s", bodies, want)
	}
	if !strings.Contains(replayOf(t, s, "F-OLD"), late) {
		t.Fatal("F-OLD erased with an event its archive lacks")
	}
	if code, out, errOut := run(); code != 0 || !strings.Contains(out, "erased F-OLD: 2 events archived") {
		t.Fatalf("erase-due again: %d\n%s\n%s", code, out, errOut)
	}
}

// TestEraseDueLeavesForeignDirectory: a family's directory in the archive
// that holds anything but an archive's files is not replaced, and the
// family is not erased.
func TestEraseDueLeavesForeignDirectory(t *testing.T) {
	s := testenv.StartSystem(t, func(c *config.Config) {
		c.RetentionYears = 1
		c.NATSListen = "127.0.0.1:0"
	})
	const reason = "MARKER-foreign-henvisning"
	dueFamily(t, s, reason)
	archive := t.TempDir()
	note := filepath.Join(archive, "F-OLD", "notes.txt")
	if err := os.MkdirAll(filepath.Dir(note), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(note, []byte("sagsnoter"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := eraseDue(t, s, archive, shred.DevMasterKeyFile(s.SA.Config.DataDir))
	if code != 1 || !strings.Contains(errOut, "family F-OLD not erased") || !strings.Contains(errOut, "notes.txt") {
		t.Fatalf("erase-due over a foreign directory: %d\n%s\n%s", code, out, errOut)
	}
	if b, err := os.ReadFile(note); err != nil || string(b) != "sagsnoter" {
		t.Errorf("the directory was changed: %q %v", b, err)
	}
	if entries, _ := os.ReadDir(archive); len(entries) != 1 {
		t.Errorf("the archive directory holds %d entries: %v", len(entries), entries)
	}
	if !strings.Contains(replayOf(t, s, "F-OLD"), reason) {
		t.Fatal("F-OLD was erased")
	}
}

func masterKey(t *testing.T, s *testenv.System) shred.MasterKey {
	t.Helper()
	m, err := shred.LoadMasterKeyFile(shred.DevMasterKeyFile(s.SA.Config.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDueOnCopenhagenCalendar: the retention period ends on the same day
// of the year in Copenhagen as it began, and the list and erase-due name
// those days. A referral at 00:30 on 1 March 2020 in Copenhagen (29
// February, 23:30 UTC) is due at 00:30 on 1 March 2025 there, not a day
// later, as counting the years on the UTC calendar from 29 February gives.
func TestDueOnCopenhagenCalendar(t *testing.T) {
	s := testenv.StartSystem(t, func(c *config.Config) { c.RetentionYears = 5 })
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2020, 3, 1, 0, 30, 0, 0, cph)
	s.WaitApplied(s.Post(events.SOF, "F-LEAP", &events.FamilyReferred{Reason: "skudår"}, events.WithTime(at)).Sequence)
	r := s.Get("/v1/privacy/due", dpo, nil)
	if r.Status != 200 {
		t.Fatalf("due: %d %s", r.Status, r.Raw)
	}
	fams, _ := r.Body["families"].([]any)
	if len(fams) != 1 {
		t.Fatalf("due: %s", r.Raw)
	}
	got, _ := time.Parse(time.RFC3339, fams[0].(map[string]any)["dueAt"].(string))
	if want := time.Date(2025, 3, 1, 0, 30, 0, 0, cph); !got.Equal(want) {
		t.Errorf("dueAt %s (%s in Copenhagen), want %s", got, got.In(cph), want)
	}
	var out, errOut bytes.Buffer
	code := audit.Command(context.Background(), "erase-due", []string{"-url", s.SA.URL(), "-token", dpo}, func(string) string { return "" }, &out, &errOut)
	if want := "F-LEAP  last-event since 2020-03-01, due 2025-03-01"; code != 0 || !strings.Contains(out.String(), want) {
		t.Errorf("erase-due: %d %s %s, want the line %q", code, out.String(), errOut.String(), want)
	}
}
