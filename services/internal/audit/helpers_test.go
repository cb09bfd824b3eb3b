package audit_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/audit"
	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

var (
	quietLog = testenv.QuietLog
	checkFor = testenv.CheckFor
)

// system is a running standalone: ingest, projector and the audit API on
// one mux over real HTTP, with an embedded NATS (listening on a free port
// when the test drives the CLI).
type system struct {
	t  testing.TB
	sa *standalone.Standalone
}

func startSystem(t testing.TB, listen bool) *system {
	t.Helper()
	cfg := testenv.Config(t)
	if listen {
		cfg.NATSListen = "127.0.0.1:0"
	}
	return &system{t: t, sa: testenv.Start(t, cfg)}
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

// posted is an event as its department sent it.
type posted struct {
	ID       string
	Sequence uint64
	JSON     []byte
}

// post sends one event through the real ingest API.
func (s *system) post(dept events.Department, fam string, data events.Payload, opts ...events.BuildOption) posted {
	s.t.Helper()
	ce, err := events.Build(dept, fam, data, opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	b, err := events.Marshal(ce)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.postRaw(dept, b)
}

func (s *system) postRaw(dept events.Department, b []byte) posted {
	s.t.Helper()
	r := s.do("POST", "/departments/"+string(dept)+"/v1/events", "dev-"+string(dept), b,
		map[string]string{"Content-Type": "application/cloudevents+json"})
	if r.Status != 201 {
		s.t.Fatalf("POST %s: %d %s", dept, r.Status, r.Raw)
	}
	var id struct{ ID string }
	_ = json.Unmarshal(b, &id)
	return posted{ID: id.ID, Sequence: uint64(r.Body["position"].(float64)), JSON: b}
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

// lines reads a JSON Lines answer of the audit API.
func (s *system) lines(path string) ([]map[string]json.RawMessage, []string) {
	s.t.Helper()
	r := s.get(path, "dev-auditor", nil)
	if r.Status != 200 {
		s.t.Fatalf("GET %s: %d %s", path, r.Status, r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		s.t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	return splitLines(s.t, r.Raw)
}

func splitLines(t testing.TB, raw string) ([]map[string]json.RawMessage, []string) {
	t.Helper()
	var objs []map[string]json.RawMessage
	var texts []string
	sc := bufio.NewScanner(strings.NewReader(raw))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not a JSON object: %v: %s", len(objs)+1, err, sc.Text())
		}
		objs = append(objs, m)
		texts = append(texts, sc.Text())
	}
	return objs, texts
}

// seqOf is the stream sequence of a replay line (jfsequence, a String).
func seqOf(t testing.TB, m map[string]json.RawMessage) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(str(m, audit.ExtSequence), 10, 64)
	if err != nil {
		t.Fatalf("%s %s: %v", audit.ExtSequence, m[audit.ExtSequence], err)
	}
	return n
}

// recordedAtOf is the recording time of a replay line (jfrecordedat).
func recordedAtOf(t testing.TB, m map[string]json.RawMessage) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, str(m, audit.ExtRecordedAt))
	if err != nil {
		t.Fatalf("%s %s: %v", audit.ExtRecordedAt, m[audit.ExtRecordedAt], err)
	}
	return at
}

func str(m map[string]json.RawMessage, k string) string {
	var s string
	_ = json.Unmarshal(m[k], &s)
	return s
}

func enrolment() *events.FamilyEnrolled {
	return &events.FamilyEnrolled{
		Members:        []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart:    "2024-01-15",
		ChildCaseIDs:   []string{"CASE1"},
		ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	}
}
