package audit_test

import (
	"bytes"
	"context"
	"io"
	"regexp"
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
		// Given empty, -family is refused, as family= is by the API: it
		// would widen one family's read to every family's.
		{"replay", []string{"-family", ""}, 2, "family must be a familyId"},
		{"replay", []string{"-family="}, 2, "family must be a familyId"},
		{"export", []string{"-family", "", "-out", out}, 2, "-family"},
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

// TestUsageListsEveryFlag: audit's usage (no or an unknown subcommand)
// gives each subcommand every flag that its -h lists, so that the two
// cannot disagree.
func TestUsageListsEveryFlag(t *testing.T) {
	t.Parallel()
	synopsis := map[string]string{}
	for _, line := range strings.Split(audit.Usage, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "audit" {
			synopsis[f[1]] += line + "\n"
		}
	}
	flagLine := regexp.MustCompile(`(?m)^  (-[a-z-]+)`)
	for _, cmd := range []string{"replay", "verify", "export", "verify-export", "erase-due"} {
		if synopsis[cmd] == "" {
			t.Errorf("the usage has no line for audit %s", cmd)
			continue
		}
		var stderr bytes.Buffer
		if code := audit.Command(context.Background(), cmd, []string{"-h"}, func(string) string { return "" }, io.Discard, &stderr); code != 0 {
			t.Fatalf("audit %s -h: exit %d", cmd, code)
		}
		for _, m := range flagLine.FindAllStringSubmatch(stderr.String(), -1) {
			if !regexp.MustCompile(`(^|[\s\[])` + regexp.QuoteMeta(m[1]) + `[\s\]]`).MatchString(synopsis[cmd]) {
				t.Errorf("audit %s -h lists %s, the usage does not:\n%s", cmd, m[1], synopsis[cmd])
			}
		}
	}
}
