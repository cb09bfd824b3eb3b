package accesslog_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/auth"
	"kk.dk/jobogfamilie/services/internal/problem"
)

// TestPurpose: what Purpose lets into the immutable access log, and the
// answer for what it refuses: 422 naming the header or the parameter,
// without the value.
func TestPurpose(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, purpose, query string
		status               int
		pointer              string
	}{
		{"none", "", "", 0, ""},
		{"Danish text", "Forberedelse af netværksmøde 15.01.2024", "", 0, ""},
		{"near misses", "Sag 9999991234, CVR 12345678, 2024-01-15 kl. 09:30", "", 0, ""},
		{"harmless query", "", "order=asc&limit=5&department=sof", 0, ""},
		{"CPR", "Opslag 010190-1234", "", 422, "X-Purpose"},
		{"CPR, ten digits", "0101901234", "", 422, "X-Purpose"},
		{"CPR, en dash", "010190\u20131234", "", 422, "X-Purpose"},
		{"CPR, full-width", "０１０１９０１２３４", "", 422, "X-Purpose"},
		{"CPR, dotted date", "01.01.90-1234", "", 422, "X-Purpose"},
		{"tab", "a\tb", "", 422, "X-Purpose"},
		{"zero-width space", "a\u200bb", "", 422, "X-Purpose"},
		{"too long", strings.Repeat("x", accesslog.MaxPurpose+1), "", 400, ""},
		{"CPR in a query value", "", "department=010190-1234", 422, "?department"},
		{"control character in a query value", "", "type=a%00b", 422, "?type"},
		{"CPR as a query name", "", "0101901234=x", 422, "?"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/v1/families/F1?"+c.query, nil)
			if c.purpose != "" {
				r.Header[accesslog.HeaderPurpose] = []string{c.purpose}
			}
			got, err := accesslog.Purpose(r)
			if c.status == 0 {
				if err != nil || got != strings.TrimSpace(c.purpose) {
					t.Fatalf("Purpose = %q, %v; want %q", got, err, c.purpose)
				}
				return
			}
			var p *problem.Problem
			if !errors.As(err, &p) || p.Status != c.status {
				t.Fatalf("Purpose error %v, want status %d", err, c.status)
			}
			if c.pointer != "" && (len(p.Errors) != 1 || p.Errors[0].Pointer != c.pointer) {
				t.Errorf("errors %+v, want one at %s", p.Errors, c.pointer)
			}
			if strings.Contains(p.Detail, "1234") {
				t.Errorf("the answer repeats the value: %s", p.Detail)
			}
		})
	}
}

// TestCommandPrincipal: a read through a command-line tool is recorded as
// the tool and the operating system's user, "cli:<tool> (<user>)"; a user
// name that could not go into the log for good is recorded as unknown.
func TestCommandPrincipal(t *testing.T) {
	t.Parallel()
	for user, want := range map[string]string{
		"alice":        "cli:audit (alice)",
		"":             "cli:audit (unknown)",
		"0101901234":   "cli:audit (unknown)",
		"a\tb":         "cli:audit (unknown)",
		"a\u200bb":     "cli:audit (unknown)",
		"ÆØÅ-sagsbeh.": "cli:audit (ÆØÅ-sagsbeh.)",
		"x\x00":        "cli:audit (unknown)",
	} {
		pr := accesslog.CommandPrincipal("audit", user, auth.Auditor)
		if pr.Name != want || pr.Kind != auth.Auditor || pr.EmployeeID != "" {
			t.Errorf("%q: %+v, want %s", user, pr, want)
		}
	}
}

// TestRecordCommandRefuses: what RecordCommand keeps out of the immutable
// log before it publishes anything: a read without a purpose, a purpose
// or a command with a CPR number or a control character, a family id
// that is not an id.
func TestRecordCommandRefuses(t *testing.T) {
	t.Parallel()
	pr := accesslog.CommandPrincipal("audit", "alice", auth.Auditor)
	for _, c := range []struct{ name, command, family, purpose string }{
		{"no purpose", "audit replay", "F1", " "},
		{"CPR in the purpose", "audit replay", "F1", "Opslag 010190-1234"},
		{"control character in the purpose", "audit replay", "F1", "a\tb"},
		{"CPR in the command", "audit replay -family 0101901234", "", "Revision"},
		{"not an id", "audit replay", "F1.>", "Revision"},
	} {
		// A nil connection: a refusal never gets as far as publishing.
		if err := accesslog.RecordCommand(context.Background(), nil, pr, c.command, c.family, c.purpose); err == nil {
			t.Errorf("%s: recorded", c.name)
		}
	}
}

// TestPurposeGivenTwice: a request with two X-Purpose headers (a client's
// and a proxy's, say) is refused (400): the log would keep one of them as
// the read's purpose and drop the other unseen.
func TestPurposeGivenTwice(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/v1/families/F1", nil)
	r.Header[accesslog.HeaderPurpose] = []string{"Forberedelse af netværksmøde", "Aktindsigt"}
	got, err := accesslog.Purpose(r)
	var p *problem.Problem
	if !errors.As(err, &p) || p.Status != 400 || !strings.Contains(p.Detail, accesslog.HeaderPurpose) {
		t.Fatalf("Purpose = %q, %v; want a 400 naming %s", got, err, accesslog.HeaderPurpose)
	}
}
