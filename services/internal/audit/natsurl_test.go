package audit_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/audit"
)

// The commands take -nats-url from JF_NATS_URL, which in deploy/ holds
// the user's password: neither the usage (-h, or a bad flag) nor a
// failed connection prints it.
func TestNATSURLPasswordIsNotPrinted(t *testing.T) {
	t.Parallel()
	const secret = "Pw-audit-4c1d"
	getenv := func(k string) string {
		if k == "JF_NATS_URL" {
			return "nats://audit:" + secret + "@bad host:4222"
		}
		return ""
	}
	for _, args := range [][]string{
		{"replay", "-h"}, {"verify", "-no-such-flag"}, {"export", "-h"}, {"erase-due", "-h"},
		{"replay"}, {"export", "-out", t.TempDir() + "/x"},
	} {
		var stderr bytes.Buffer
		audit.Command(context.Background(), args[0], args[1:], getenv, io.Discard, &stderr)
		if strings.Contains(stderr.String(), secret) {
			t.Errorf("audit %v printed the NATS password:\n%s", args, stderr.String())
		}
		if !strings.Contains(stderr.String(), "nats://audit:xxxxx@bad host:4222") {
			t.Errorf("audit %v does not name the NATS URL (redacted):\n%s", args, stderr.String())
		}
	}
}
