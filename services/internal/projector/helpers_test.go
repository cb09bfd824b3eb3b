package projector_test

import (
	"encoding/json"
	"fmt"
	"kk.dk/jobogfamilie/services/internal/testenv"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

var (
	quietLog = testenv.QuietLog
	checkFor = testenv.CheckFor
)

// system is a running standalone with its embedded NATS, in-process only.
type system struct {
	t  testing.TB
	sa *standalone.Standalone
	js jetstream.JetStream
}

func startSystem(t testing.TB) *system {
	t.Helper()
	sa := testenv.Start(t, testenv.Config(t))
	return &system{t: t, sa: sa, js: sa.Store.JS}
}

type reply = testenv.Reply

func (s *system) do(method, path, token string, body []byte, hdr map[string]string) reply {
	s.t.Helper()
	return testenv.Do(s.t, s.sa.URL(), method, path, token, body, hdr)
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
