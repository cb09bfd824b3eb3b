package process

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/config"
)

// The profiling switches write their files when the run ends: a CPU
// profile and a heap profile (pprof's gzipped protobuf) and a trace.
func TestMainWritesTheProfilesAsked(t *testing.T) {
	dir := t.TempDir()
	paths := map[string]string{}
	for _, env := range []string{"JF_CPUPROFILE", "JF_TRACE", "JF_MEMPROFILE"} {
		paths[env] = filepath.Join(dir, env)
		t.Setenv(env, paths[env])
	}
	var kept [][]byte
	code := Main(context.Background(), "test", []string{"-log-level", "error"}, func(context.Context, config.Config, *slog.Logger) error {
		for range 1000 {
			kept = append(kept, make([]byte, 1024))
		}
		return nil
	})
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	gzip := []byte{0x1f, 0x8b}
	for env, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		if len(b) == 0 {
			t.Errorf("%s: empty", env)
		}
		if env != "JF_TRACE" && !bytes.HasPrefix(b, gzip) {
			t.Errorf("%s: not a pprof profile: % x", env, b[:min(len(b), 8)])
		}
	}
	if len(kept) != 1000 {
		t.Fatal("the run did not run")
	}
}

// TestUsageNamesTheCommand: a server that is a subcommand of its binary
// (audit serve) heads its flags' usage with the command, as the binary's
// other subcommands do, and its flag errors name it.
func TestUsageNamesTheCommand(t *testing.T) {
	for _, c := range []struct {
		args      []string
		code      int
		want, not string
	}{
		{[]string{"-h"}, 0, "Usage of audit serve:\n", "Usage of audit:"},
		{[]string{"-no-such-flag"}, 2, "audit serve: flag provided but not defined: -no-such-flag", "audit: flag"},
		{[]string{"extra"}, 2, "audit serve: unexpected arguments [extra]\n", "audit serve: audit serve:"},
	} {
		var out bytes.Buffer
		code := mainWith(context.Background(), "audit", "audit serve", c.args, &out, func(context.Context, config.Config, *slog.Logger) error {
			t.Error("the run ran")
			return nil
		})
		if code != c.code || !strings.Contains(out.String(), c.want) || strings.Contains(out.String(), c.not) {
			t.Errorf("audit serve %v: exit %d, want %d, saying %q: %s", c.args, code, c.code, c.want, out.String())
		}
	}
}
