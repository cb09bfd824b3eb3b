package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runServe runs `audit serve` with a data directory of its own against
// the event store of s, stopped at t's end, and returns its base URL; it
// does not wait for it to listen.
func runServe(t *testing.T, s *system) string {
	t.Helper()
	cfg := config.Defaults()
	cfg.HTTPAddr = freeAddr(t)
	cfg.DataDir = t.TempDir()
	cfg.NATSURL = s.SA.Store.ClientURL
	// The audit service appends to the access log: it needs a service
	// key, which the operator's read-only key is not.
	cfg.NATSNKey = filepath.Join(t.TempDir(), "service.nk")
	if err := s.SA.Store.Embedded.Service.WriteSeedFile(cfg.NATSNKey); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- audit.Run(ctx, cfg, quietLog()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("audit serve: %v", err)
		}
	})
	return "http://" + cfg.HTTPAddr
}

// TestServe runs `audit serve` alone against the event store of a running
// system: it keeps a read model of its own, which agrees with the
// projector's digest for digest, and serves the same answers.
func TestServe(t *testing.T) {
	t.Parallel()
	s := startSystem(t, true)
	const fam = "FAM-S"
	s.Post(events.SOF, fam, testenv.Enrolment())
	s.Post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"})

	base := runServe(t, s)
	get := func(path string) (int, []byte) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer dev-auditor")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	checkFor(t, 20*time.Second, func() error {
		if code, b := get("/readyz"); code != 200 {
			return fmt.Errorf("readyz %d %s", code, b)
		}
		return nil
	})
	// Events stored while it runs are followed.
	last := s.Post(events.BIF, fam, &events.BenefitGranted{PersonID: "P1", Benefit: "integrationsydelse"})
	s.WaitApplied(last.Sequence)

	_, want := s.lines("/v1/audit/events?family=" + fam)
	code, b := get("/v1/audit/events?family=" + fam)
	if _, got := splitLines(t, string(b)); code != 200 || len(got) != 3 || got[2] != want[2] {
		t.Fatalf("audit serve events: %d %s", code, b)
	}
	code, b = get("/v1/audit/families/" + fam + "/timeline")
	var v asOf
	if err := json.Unmarshal(b, &v); code != 200 || err != nil || len(v.Entries) != 3 || v.Overview.Caseworker != "E1001" {
		t.Fatalf("audit serve as-of: %d %s", code, b)
	}
	req, _ := http.NewRequest("POST", base+"/v1/audit/verify", nil)
	req.Header.Set("Authorization", "Bearer dev-auditor")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res verifyResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || !res.Match || res.Events != last.Sequence {
		t.Fatalf("audit serve verify: %+v %v", res, err)
	}
	// Its own model holds what the projector's does.
	if d, err := s.SA.Projector.Digest(context.Background()); err != nil || d != res.Live {
		t.Errorf("projector digest %s, audit serve's model %s", d, res.Live)
	}
}
