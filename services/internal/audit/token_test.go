package audit_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"kk.dk/jobogfamilie/services/internal/audit"
)

// The commands take -token from JF_TOKEN, a bearer token: neither the
// usage (-h, or a bad flag) nor a usage error prints it, and a command
// given no -token still sends JF_TOKEN's.
func TestTokenIsNotPrinted(t *testing.T) {
	t.Parallel()
	const secret = "tok-audit-9f3e"
	getenv := func(k string) string {
		if k == "JF_TOKEN" {
			return secret
		}
		return ""
	}
	for _, args := range [][]string{
		{"replay", "-h"}, {"verify", "-h"}, {"export", "-h"}, {"erase-due", "-h"},
		{"replay", "-no-such-flag"}, {"erase-due", "-no-such-flag"}, {"erase-due"},
	} {
		var stdout, stderr bytes.Buffer
		audit.Command(context.Background(), args[0], args[1:], getenv, &stdout, &stderr)
		if strings.Contains(stderr.String()+stdout.String(), secret) {
			t.Errorf("audit %v printed JF_TOKEN:\n%s%s", args, stdout.String(), stderr.String())
		}
	}

	var (
		mu   sync.Mutex
		auth []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"families":[]}`)
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if code := audit.Command(context.Background(), "erase-due", []string{"-url", srv.URL}, getenv, &stdout, &stderr); code != 0 {
		t.Fatalf("erase-due with JF_TOKEN: exit %d: %s", code, stderr.String())
	}
	audit.Command(context.Background(), "replay", []string{"-url", srv.URL}, getenv, io.Discard, io.Discard)
	// A -token given wins over JF_TOKEN.
	audit.Command(context.Background(), "erase-due", []string{"-url", srv.URL, "-token", "given"}, getenv, io.Discard, io.Discard)
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/v1/privacy/due Bearer " + secret, "/v1/audit/events Bearer " + secret, "/v1/privacy/due Bearer given"}
	if len(auth) < 3 || auth[0] != want[0] || auth[1] != want[1] || auth[len(auth)-1] != want[2] {
		t.Errorf("requests sent %q; want %q", auth, want)
	}
}
