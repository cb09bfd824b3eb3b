package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/shred"
)

// TestLoadMasterKey: the file wins over JF_MASTER_KEY; without either, the
// dev config makes and then reuses <data>/keys/master.key, and any other
// process refuses to start with an error that says what to provide and
// how to make it.
func TestLoadMasterKey(t *testing.T) {
	t.Parallel()
	text := func() string {
		s, err := shred.NewMasterKeyText()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	idOf := func(s string) string {
		m, err := shred.ParseMasterKey(s)
		if err != nil {
			t.Fatal(err)
		}
		return m.ID()
	}
	fileKey, envKey := text(), text()
	file := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(file, []byte(fileKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	m, err := config.Config{MasterKeyFile: file, MasterKey: envKey}.LoadMasterKey(false)
	if err != nil || m.ID() != idOf(fileKey) {
		t.Errorf("file and environment: key %s (%v), want the file's %s", m.ID(), err, idOf(fileKey))
	}
	m, err = config.Config{MasterKey: envKey}.LoadMasterKey(false)
	if err != nil || m.ID() != idOf(envKey) {
		t.Errorf("environment: key %s (%v), want %s", m.ID(), err, idOf(envKey))
	}
	if _, err := (config.Config{MasterKey: "not a key"}).LoadMasterKey(true); err == nil || !strings.Contains(err.Error(), "JF_MASTER_KEY") {
		t.Errorf("a bad JF_MASTER_KEY: %v, want an error naming it", err)
	}

	_, err = config.Config{DataDir: t.TempDir()}.LoadMasterKey(false)
	if err == nil || err.Error() != config.NoMasterKey {
		t.Fatalf("no key outside the dev config: %v", err)
	}
	for _, want := range []string{"-master-key-file", "JF_MASTER_KEY_FILE", "JF_MASTER_KEY ", "64 hex digits", "openssl rand -hex 32", "docs/PRIVACY.md"} {
		if !strings.Contains(config.NoMasterKey, want) {
			t.Errorf("the error %q does not say %q", config.NoMasterKey, want)
		}
	}

	dir := t.TempDir()
	first, err := config.Config{DataDir: dir}.LoadMasterKey(true)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(shred.DevMasterKeyFile(dir))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("dev master key file: %v %v, want mode 0600", info, err)
	}
	again, err := config.Config{DataDir: dir}.LoadMasterKey(true)
	if err != nil || again.ID() != first.ID() {
		t.Errorf("dev config, second start: key %s (%v), want %s again", again.ID(), err, first.ID())
	}
}
