package erasure_test

import (
	"bytes"
	"context"
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
