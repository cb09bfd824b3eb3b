package projector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// checkFor polls cond until it returns nil or the time is up.
func checkFor(t testing.TB, total time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", total, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// system is a running standalone with its embedded NATS, in-process only.
type system struct {
	t  testing.TB
	sa *standalone.Standalone
	js jetstream.JetStream
}

func startSystem(t testing.TB) *system {
	t.Helper()
	cfg := config.Defaults()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.NATSListen = "off"
	sa, err := standalone.Start(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sa.Stop() })
	s := &system{t: t, sa: sa, js: sa.Store.JS}
	checkFor(t, 20*time.Second, func() error {
		r := s.do("GET", "/readyz", "", nil, nil)
		if r.Status != 200 {
			return fmt.Errorf("readyz %d %s", r.Status, r.Raw)
		}
		return nil
	})
	return s
}

type reply struct {
	Status int
	Raw    string
	Body   map[string]any
	Header http.Header
}

func (s *system) do(method, path, token string, body []byte, hdr map[string]string) reply {
	s.t.Helper()
	req, err := http.NewRequest(method, s.sa.URL()+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Raw: string(raw), Header: resp.Header}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

func (s *system) get(path, token string, hdr map[string]string) reply {
	s.t.Helper()
	return s.do("GET", path, token, nil, hdr)
}

// post sends one event through the real ingest API and returns the
// stream position it was stored at.
func (s *system) post(dept events.Department, fam string, data events.Payload, opts ...events.BuildOption) uint64 {
	s.t.Helper()
	ce, err := events.Build(dept, fam, data, opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	b, err := events.Marshal(ce)
	if err != nil {
		s.t.Fatal(err)
	}
	r := s.do("POST", "/departments/"+string(dept)+"/v1/events", "dev-"+string(dept), b,
		map[string]string{"Content-Type": "application/cloudevents+json"})
	if r.Status != 201 {
		s.t.Fatalf("POST %s %s: %d %s", dept, data.EventName(), r.Status, r.Raw)
	}
	return uint64(r.Body["position"].(float64))
}

// waitApplied waits until the projector applied position pos.
func (s *system) waitApplied(pos uint64) {
	s.t.Helper()
	checkFor(s.t, 15*time.Second, func() error {
		if got := s.sa.Projector.Position(); got < pos {
			return fmt.Errorf("projector at %d, want %d", got, pos)
		}
		return nil
	})
}

func minPos(pos uint64) map[string]string {
	return map[string]string{"X-Min-Position": strconv.FormatUint(pos, 10)}
}

// page is a decoded timeline page.
type page struct {
	FamilyID   string  `json:"familyId"`
	Entries    []entry `json:"entries"`
	NextCursor *string `json:"nextCursor"`
}

type entry struct {
	ID         string          `json:"id"`
	Sequence   uint64          `json:"sequence"`
	Time       time.Time       `json:"time"`
	RecordedAt time.Time       `json:"recordedAt"`
	Department string          `json:"department"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Data       json.RawMessage `json:"data"`
	Actor      string          `json:"actor"`
}

func (s *system) timeline(fam, query, token string, hdr map[string]string) page {
	s.t.Helper()
	path := "/v1/families/" + fam + "/timeline"
	if query != "" {
		path += "?" + query
	}
	r := s.get(path, token, hdr)
	if r.Status != 200 {
		s.t.Fatalf("GET %s: %d %s", path, r.Status, r.Raw)
	}
	var p page
	if err := json.Unmarshal([]byte(r.Raw), &p); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// Payloads used across the tests.

func enrolment() *events.FamilyEnrolled {
	return &events.FamilyEnrolled{
		Members:        []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart:    "2024-01-15",
		ChildCaseIDs:   []string{"CASE1"},
		ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	}
}

// enrol makes an enrolled family with caseworker emp; it returns the
// position of the assignment.
func (s *system) enrol(fam, emp string) uint64 {
	s.t.Helper()
	s.post(events.SOF, fam, enrolment())
	return s.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: emp})
}
