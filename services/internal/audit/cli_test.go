package audit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/audit"
)

// TestCommandUsageExitCode: Command documents "2 usage"; an unknown flag
// or a malformed flag value is a usage error, like a missing -out, for
// every subcommand, and the flag package's message says which. -h prints
// the subcommand's flags, or audit's usage, and exits 0.
func TestCommandUsageExitCode(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	for _, c := range []struct {
		cmd  string
		args []string
		code int
		say  string
	}{
		{"replay", []string{"-no-such-flag"}, 2, "flag provided but not defined: -no-such-flag"},
		{"replay", []string{"-after", "abc"}, 2, `invalid value "abc" for flag -after`},
		{"replay", []string{"-family"}, 2, "flag needs an argument: -family"},
		{"verify", []string{"-bogus"}, 2, "flag provided but not defined: -bogus"},
		{"export", []string{"-from-seq", "x", "-out", out}, 2, `invalid value "x" for flag -from-seq`},
		{"export", []string{}, 2, "give -out DIR"},
		{"verify-export", []string{"-bogus", out}, 2, "flag provided but not defined: -bogus"},
		{"verify-export", []string{}, 2, "give the archive's directory"},
		{"erase-due", []string{"-bogus"}, 2, "flag provided but not defined: -bogus"},
		{"no-such-command", nil, 2, "usage:"},

		{"replay", []string{"-h"}, 0, "-after"},
		{"verify", []string{"-help"}, 0, "-model"},
		{"export", []string{"-h"}, 0, "-from-seq"},
		{"verify-export", []string{"-h"}, 0, "usage: audit verify-export DIR"},
		{"erase-due", []string{"-h"}, 0, "-archive"},
		{"-h", nil, 0, "usage:"},
	} {
		var stdout, stderr bytes.Buffer
		code := audit.Command(context.Background(), c.cmd, c.args, func(string) string { return "" }, &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.say) {
			t.Errorf("audit %s %v: exit %d, want %d, and stderr saying %q: %s", c.cmd, c.args, code, c.code, c.say, stderr.String())
		}
	}
}
