package standalone_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestRotateMasterKey rotates the master key of a stopped standalone: the
// data keys are rewrapped, the family's personal text reads with the new
// key and no longer with the old one, and running the command again
// changes nothing.
func TestRotateMasterKey(t *testing.T) {
	const marker = "MARKER-rot-7Hq-grund"
	cfg := testenv.Config(t)
	s := &testenv.System{T: t, SA: testenv.Start(t, cfg)}
	p := s.Post(events.SOF, "F-ROT", &events.FamilyReferred{Reason: marker})
	s.WaitApplied(p.Sequence)
	if err := s.SA.Stop(); err != nil {
		t.Fatal(err)
	}

	oldKey := shred.DevMasterKeyFile(cfg.DataDir)
	text, err := shred.NewMasterKeyText()
	if err != nil {
		t.Fatal(err)
	}
	newKey := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(newKey, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rotate := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := standalone.RotateMasterKeyCommand(context.Background(), append([]string{"-data", cfg.DataDir}, args...),
			func(string) string { return "" }, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := rotate("-master-key-file", newKey); code != 2 || !strings.Contains(out, "usage") {
		t.Errorf("without -old-key-file: %d %s", code, out)
	}
	if code, out := rotate("-old-key-file", oldKey, "-master-key-file", newKey); code != 0 || !strings.Contains(out, "rewrapped 1 data keys") {
		t.Fatalf("rotate: %d %s", code, out)
	}
	if code, out := rotate("-old-key-file", oldKey, "-master-key-file", newKey); code != 0 || !strings.Contains(out, "rewrapped 0 data keys") {
		t.Errorf("rotate again: %d %s", code, out)
	}

	// With the new key the replay, which decrypts from the stream, reads
	// the text, and ingest takes the family's next event.
	cfg.MasterKeyFile = newKey
	s = &testenv.System{T: t, SA: testenv.Start(t, cfg)}
	r := s.Get("/v1/audit/events?family=F-ROT", "dev-auditor", nil)
	if r.Status != 200 || !strings.Contains(r.Raw, marker) {
		t.Fatalf("replay with the new key: %d %s", r.Status, r.Raw)
	}
	s.Post(events.SOF, "F-ROT", &events.FamilyReferred{Reason: "igen"})
	if err := s.SA.Stop(); err != nil {
		t.Fatal(err)
	}

	// The old key opens nothing any more.
	cfg.MasterKeyFile = oldKey
	sa, err := standalone.Start(context.Background(), cfg, testenv.QuietLog())
	if err == nil {
		t.Cleanup(func() { _ = sa.Stop() })
		r := testenv.Do(t, sa.URL(), "GET", "/v1/audit/events?family=F-ROT", "dev-auditor", nil, nil)
		if strings.Contains(r.Raw, marker) {
			t.Fatalf("the old key still reads the text: %s", r.Raw)
		}
	}
}

// TestRotateMasterKeyDoesNotCreateALostStream: rotate-master-key opens the
// embedded store with the standalone's integrity guard, so a FAMILY_EVENTS
// lost from the data directory, which the standalone had seen hold events,
// is reported and not created again empty (after which the standalone
// would start on an empty history).
func TestRotateMasterKeyDoesNotCreateALostStream(t *testing.T) {
	cfg := testenv.Config(t, func(c *config.Config) { c.StoreCheckInterval = 100 * time.Millisecond })
	s := &testenv.System{T: t, SA: testenv.Start(t, cfg)}
	p := s.Post(events.SOF, "F-LOST", &events.FamilyReferred{Reason: "tabt"})
	s.WaitApplied(p.Sequence)
	mark := cfg.GuardOptions("standalone", nil).HighWaterFile
	testenv.CheckFor(t, 10*time.Second, func() error {
		b, err := os.ReadFile(mark)
		if err != nil || !strings.Contains(string(b), fmt.Sprintf(`"FAMILY_EVENTS": %d`, p.Sequence)) {
			return fmt.Errorf("high-water file %q: %v", b, err)
		}
		return nil
	})
	if err := s.SA.Stop(); err != nil {
		t.Fatal(err)
	}
	streamDir := func() string {
		var found string
		_ = filepath.WalkDir(filepath.Join(cfg.DataDir, "nats"), func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == eventstore.FamilyStream {
				found = path
			}
			return err
		})
		return found
	}
	dir := streamDir()
	if dir == "" {
		t.Fatal("no FAMILY_EVENTS in the data directory")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	text, err := shred.NewMasterKeyText()
	if err != nil {
		t.Fatal(err)
	}
	newKey := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(newKey, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := standalone.RotateMasterKeyCommand(context.Background(),
		[]string{"-data", cfg.DataDir, "-old-key-file", shred.DevMasterKeyFile(cfg.DataDir), "-master-key-file", newKey},
		func(string) string { return "" }, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "FAMILY_EVENTS is missing") {
		t.Errorf("rotate with FAMILY_EVENTS lost: exit %d, %s%s", code, out.String(), errOut.String())
	}
	if dir := streamDir(); dir != "" {
		t.Errorf("FAMILY_EVENTS was created again: %s", dir)
	}
}
