package projector_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/accesslog"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/readmodel"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

var (
	quietLog = testenv.QuietLog
	checkFor = testenv.CheckFor
)

// system is a running standalone with its embedded NATS, in-process only.
type system struct {
	*testenv.System
	js jetstream.JetStream
}

func startSystem(t testing.TB) *system {
	t.Helper()
	ts := testenv.StartSystem(t)
	return &system{System: ts, js: ts.SA.Store.JS}
}

// post sends one event through the real ingest API and returns the
// stream position it was stored at.
func (s *system) post(dept events.Department, fam string, data events.Payload, opts ...events.BuildOption) uint64 {
	s.T.Helper()
	return s.Post(dept, fam, data, opts...).Sequence
}

// tryPost is post for a goroutine of the test: it returns the error, for
// t.Error, instead of failing the test.
func (s *system) tryPost(dept events.Department, fam string, data events.Payload, opts ...events.BuildOption) (uint64, error) {
	p, err := s.TryPost(dept, fam, data, opts...)
	return p.Sequence, err
}

func minPos(pos uint64) map[string]string {
	return map[string]string{"X-Min-Position": strconv.FormatUint(pos, 10)}
}

// page and entry are a timeline page and entry as the API's JSON decodes.
type (
	page  = readmodel.TimelinePage
	entry = readmodel.Entry
)

func (s *system) timeline(fam, query, token string, hdr map[string]string) page {
	s.T.Helper()
	path := "/v1/families/" + fam + "/timeline"
	if query != "" {
		path += "?" + query
	}
	return getOK[page](s, path, token, hdr)
}

// getOK is GET path's JSON answer; anything but 200, or a body that does
// not decode into T, fails the test.
func getOK[T any](s *system, path, token string, hdr map[string]string) T {
	s.T.Helper()
	r := s.Get(path, token, hdr)
	if r.Status != 200 {
		s.T.Fatalf("GET %s: %d %s", path, r.Status, r.Raw)
	}
	var v T
	if err := json.Unmarshal([]byte(r.Raw), &v); err != nil {
		s.T.Fatalf("GET %s: %v: %s", path, err, r.Raw)
	}
	return v
}

// enrol makes an enrolled family with caseworker emp; it returns the
// position of the assignment.
func (s *system) enrol(fam, emp string) uint64 {
	s.T.Helper()
	s.post(events.SOF, fam, testenv.Enrolment())
	return s.post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: emp})
}

// accessEntries are the ACCESS_LOG entries on subject (a filter: "access.>"
// is every entry), in order: every entry stored when it is called, read to
// the last (an entry is stored before the read it logs is answered).
func (s *system) accessEntries(subject string) []accesslog.Entry {
	s.T.Helper()
	var out []accesslog.Entry
	for _, data := range testenv.StreamMessages(s.T, s.js, eventstore.AccessLogStream, subject) {
		var e accesslog.Entry
		if err := json.Unmarshal(data, &e); err != nil {
			s.T.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}
