package erasure_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
		"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey,
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
		"-nats-url", s.SA.Store.ClientURL, "-nats-nkey", s.SA.Store.OperatorKey, "-master-key-file", masterKeyFile},
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
