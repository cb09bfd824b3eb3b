package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"kk.dk/jobogfamilie/services/internal/testenv"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/shred"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// harness is a running standalone against its own NATS server, so tests can
// stop and restart NATS under it.
type harness struct {
	t     *testing.T
	ns    *server.Server
	store string
	port  int
	sa    *standalone.Standalone
	js    jetstream.JetStream
}

var quietLog = testenv.QuietLog

// otherInstance is the -instance of a second process on a test's server:
// each process's projector holds a consumer of its own.
const otherInstance = "other"

// masterKeyFile is the dev master key h's process made in its data
// directory: another process on the same stream needs it to read the data
// keys that h's process wrapped.
func (h *harness) masterKeyFile() string {
	return shred.DevMasterKeyFile(h.sa.Config.DataDir)
}

func startNATS(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	admin := testenv.AdminKey()
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{
		StoreDir: dir, Listen: fmt.Sprintf("127.0.0.1:%d", port), ServiceSeed: testenv.ServiceSeed(), Admin: &admin,
		MoreProjectors: []string{eventstore.ProjectorConsumer(otherInstance)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Server
}

func newHarness(t *testing.T, mutate ...func(*config.Config)) *harness {
	t.Helper()
	h := &harness{t: t, store: t.TempDir()}
	h.ns = startNATS(t, h.store, -1)
	h.port = portOf(t, h.ns)
	t.Cleanup(func() {
		if h.ns != nil {
			h.ns.Shutdown()
			h.ns.WaitForShutdown()
		}
	})
	cfg := config.Defaults()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.NATSURL = h.ns.ClientURL()
	cfg.NATSNKey = testenv.ServiceKeyFile(t)
	for _, m := range mutate {
		m(&cfg)
	}
	sa, err := standalone.Start(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sa.Stop() })
	h.sa = sa
	h.js, err = jetstream.New(sa.Store.NC)
	if err != nil {
		t.Fatal(err)
	}
	h.waitReady()
	return h
}

func portOf(t *testing.T, ns *server.Server) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(ns.ClientURL()[strings.LastIndex(ns.ClientURL(), ":")+1:], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return port
}

var checkFor = testenv.CheckFor

func (h *harness) waitReady() {
	h.t.Helper()
	testenv.WaitReady(h.t, h.sa.URL())
}

type reply struct {
	Status int
	Body   map[string]any
	Raw    string
	Header http.Header
}

func (h *harness) post(dept, token, contentType string, body []byte, hdr map[string]string) reply {
	h.t.Helper()
	return h.postTo("/departments/"+dept+"/v1/events", token, contentType, body, hdr)
}

// postTo posts body to path of the running system.
func (h *harness) postTo(path, token, contentType string, body []byte, hdr map[string]string) reply {
	h.t.Helper()
	r, err := h.tryPostTo(path, token, contentType, body, hdr)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// tryPost is post for a goroutine other than the test's: it returns the
// failure to send, for t.Error, rather than calling t.Fatal.
func (h *harness) tryPost(dept, token, contentType string, body []byte, hdr map[string]string) (reply, error) {
	return h.tryPostTo("/departments/"+dept+"/v1/events", token, contentType, body, hdr)
}

func (h *harness) tryPostTo(path, token, contentType string, body []byte, hdr map[string]string) (reply, error) {
	req, err := http.NewRequest("POST", h.sa.URL()+path, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Raw: string(raw), Header: resp.Header}
	_ = json.Unmarshal(raw, &r.Body)
	return r, nil
}

func (h *harness) lastSeq() uint64 {
	h.t.Helper()
	s, err := h.js.Stream(context.Background(), eventstore.FamilyStream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.LastSeq
}

// ev builds and marshals a valid event.
func ev(t *testing.T, dept events.Department, fam string, data events.Payload, opts ...events.BuildOption) []byte {
	t.Helper()
	ce, err := events.Build(dept, fam, data, opts...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.Marshal(ce)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func enrolment() *events.FamilyEnrolled {
	return &events.FamilyEnrolled{
		Members:        []events.Member{{PersonID: "P1", Role: "parent"}, {PersonID: "C1", Role: "child"}},
		CourseStart:    "2024-01-15",
		ChildCaseIDs:   []string{"CASE1"},
		ParentBenefits: []events.ParentBenefit{{PersonID: "P1", Benefit: "kontanthjaelp"}},
	}
}

func praktik(id string) *events.PraktikStarted {
	return &events.PraktikStarted{PraktikID: id, PersonID: "P1", Employer: "12345678", HoursPerWeek: 10}
}

func batchOf(parts ...[]byte) []byte {
	return append(append([]byte("["), bytes.Join(parts, []byte(","))...), ']')
}

func TestIngestStatusCodes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	referred := ev(t, events.SOF, "F100", &events.FamilyReferred{Reason: "skolefravær og ledighed"}, events.WithID("ev-referred"))
	// Stored once before the table so duplicates and id reuse can be tested.
	if r := h.post("sof", "dev-sof", "application/cloudevents+json", referred, nil); r.Status != 201 {
		t.Fatalf("setup: %d %s", r.Status, r.Raw)
	}
	cpr := bytes.Replace(ev(t, events.BIF, "F100", praktik("PR1")), []byte(`"P1"`), []byte(`"010203-1234"`), 1)
	// praktik.started is BIF's; SOF sends it, readable JSON, without time.
	notOwned := []byte(`{"specversion":"1.0","id":"own-1","source":"/departments/sof","type":"dk.kk.jobogfamilie.praktik.started.v2","subject":"F105","data":{"praktikId":"PR1","personId":"P1","employer":{"cvr":"12345678"},"hoursPerWeek":10}}`)
	ptr := func(i int) *int { return &i }
	tooBig := bytes.Repeat([]byte(" "), 1<<20+10)

	tests := []struct {
		name        string
		dept, token string
		ctype       string
		body        []byte
		hdr         map[string]string
		status      int
		pointer     string
		index       *int
	}{
		{name: "structured event stored", dept: "bif", token: "dev-bif", ctype: "application/cloudevents+json",
			body: ev(t, events.BIF, "F101", praktik("PR1")), status: 201},
		{name: "binary event stored", dept: "buf", token: "dev-buf", ctype: "application/json",
			body: []byte(`{"childId":"C1","reason":"læsevanskeligheder"}`),
			hdr: map[string]string{"ce-specversion": "1.0", "ce-id": "bin-1", "ce-source": "/departments/buf",
				"ce-type": "dk.kk.jobogfamilie.ppr.referred.v1", "ce-subject": "F102", "ce-time": "2024-03-01T10:00:00Z"},
			status: 201},
		{name: "batch stored", dept: "bif", token: "dev-bif", ctype: "application/cloudevents-batch+json",
			body: batchOf(ev(t, events.BIF, "F103", praktik("PR1")), ev(t, events.BIF, "F104", praktik("PR1"))), status: 201},
		{name: "same id same content is a duplicate", dept: "sof", token: "dev-sof", ctype: "application/cloudevents+json",
			body: referred, status: 200},
		{name: "malformed JSON", dept: "sof", token: "dev-sof", ctype: "application/cloudevents+json",
			body: []byte(`{"specversion":`), status: 400},
		{name: "missing attribute", dept: "sof", token: "dev-sof", ctype: "application/cloudevents+json",
			body:   []byte(`{"specversion":"1.0","id":"x","source":"/departments/sof","type":"dk.kk.jobogfamilie.family.referred.v1","time":"2024-01-01T00:00:00Z","data":{"reason":"r"}}`),
			status: 400, pointer: "/subject"},
		{name: "no token", dept: "sof", ctype: "application/cloudevents+json", body: referred, status: 401},
		{name: "unknown token", dept: "sof", token: "forged", ctype: "application/cloudevents+json", body: referred, status: 401},
		{name: "another department's token", dept: "sof", token: "dev-bif", ctype: "application/cloudevents+json", body: referred, status: 403},
		{name: "coordinator token", dept: "sof", token: "dev-coordinator", ctype: "application/cloudevents+json", body: referred, status: 403},
		{name: "type not owned", dept: "buf", token: "dev-buf", ctype: "application/cloudevents+json",
			body: ev(t, events.BUF, "F105", praktik("PR1")), status: 403},
		// Owner first: before anything else of the event, only an unreadable
		// body comes earlier.
		{name: "type not owned, time missing", dept: "sof", token: "dev-sof", ctype: "application/cloudevents+json",
			body: notOwned, status: 403},
		{name: "type not owned, time missing, in a batch", dept: "sof", token: "dev-sof", ctype: "application/cloudevents-batch+json",
			body: batchOf(ev(t, events.SOF, "F105", &events.FamilyReferred{Reason: "r"}), notOwned), status: 403, index: ptr(1)},
		{name: "type not owned, ce-time missing, binary", dept: "suf", token: "dev-suf", ctype: "application/json",
			body: []byte(`{"childId":"C1"}`),
			hdr: map[string]string{"ce-specversion": "1.0", "ce-id": "bin-2", "ce-source": "/departments/suf",
				"ce-type": "dk.kk.jobogfamilie.ppr.referred.v1", "ce-subject": "F105"},
			status: 403},
		{name: "source of another department, subject missing", dept: "sof", token: "dev-sof", ctype: "application/cloudevents+json",
			body:   []byte(`{"specversion":"1.0","id":"own-2","source":"/departments/bif","type":"dk.kk.jobogfamilie.family.referred.v1","time":"2024-01-01T00:00:00Z","data":{"reason":"r"}}`),
			status: 403},
		{name: "type not owned, body unreadable", dept: "sof", token: "dev-sof", ctype: "application/cloudevents+json",
			body: bytes.Replace(notOwned, []byte(`"id":`), []byte(`"id":"x","id":`), 1), status: 400},
		{name: "type not owned, batch unreadable", dept: "sof", token: "dev-sof", ctype: "application/cloudevents-batch+json",
			body: append(batchOf(notOwned), ','), status: 400},
		{name: "invariant broken", dept: "bif", token: "dev-bif", ctype: "application/cloudevents+json",
			body: ev(t, events.BIF, "F106", &events.PraktikEnded{PraktikID: "PRX", Outcome: "completed"}), status: 409},
		{name: "same id other content", dept: "sof", token: "dev-sof", ctype: "application/cloudevents+json",
			body: ev(t, events.SOF, "F100", &events.FamilyReferred{Reason: "anden grund"}, events.WithID("ev-referred")), status: 409},
		{name: "body over 1 MiB", dept: "sof", token: "dev-sof", ctype: "application/cloudevents+json", body: tooBig, status: 413},
		{name: "other content type", dept: "sof", token: "dev-sof", ctype: "text/plain", body: referred, status: 415},
		{name: "structured in UTF-8, said so", dept: "bif", token: "dev-bif", ctype: "application/cloudevents+json; charset=UTF-8",
			body: ev(t, events.BIF, "F109", praktik("PR1")), status: 201},
		{name: "structured in another charset", dept: "bif", token: "dev-bif", ctype: "application/cloudevents+json; charset=iso-8859-1",
			body: ev(t, events.BIF, "F109", praktik("PR2")), status: 415},
		{name: "batch in another charset", dept: "bif", token: "dev-bif", ctype: "application/cloudevents-batch+json; charset=iso-8859-1",
			body: batchOf(ev(t, events.BIF, "F109", praktik("PR3"))), status: 415},
		{name: "binary in another charset", dept: "buf", token: "dev-buf", ctype: "application/json; charset=iso-8859-1",
			body: []byte(`{"childId":"C1","reason":"x"}`),
			hdr: map[string]string{"ce-specversion": "1.0", "ce-id": "bin-cs-1", "ce-source": "/departments/buf",
				"ce-type": "dk.kk.jobogfamilie.ppr.referred.v1", "ce-subject": "F102", "ce-time": "2024-03-01T10:00:00Z"},
			status: 415},
		{name: "schema failure", dept: "bif", token: "dev-bif", ctype: "application/cloudevents+json",
			body:   bytes.Replace(ev(t, events.BIF, "F107", praktik("PR1")), []byte(`"hoursPerWeek":10`), []byte(`"hoursPerWeek":99`), 1),
			status: 422, pointer: "/data/hoursPerWeek"},
		{name: "CPR-like id", dept: "bif", token: "dev-bif", ctype: "application/cloudevents+json", body: cpr,
			status: 422, pointer: "/data/personId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post(tc.dept, tc.token, tc.ctype, tc.body, tc.hdr)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Raw)
			}
			if tc.status >= 400 {
				if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q, want application/problem+json", ct)
				}
				if r.Body["status"] != float64(tc.status) || r.Body["title"] == "" || r.Body["type"] == "" {
					t.Errorf("not RFC 9457 problem details: %s", r.Raw)
				}
			}
			if tc.index != nil && r.Body["index"] != float64(*tc.index) {
				t.Errorf("want index %d in %s", *tc.index, r.Raw)
			}
			if tc.pointer != "" && !strings.Contains(r.Raw, `"pointer":"`+tc.pointer+`"`) {
				t.Errorf("want pointer %s in %s", tc.pointer, r.Raw)
			}
			if tc.status == 200 {
				evs := r.Body["events"].([]any)
				if evs[0].(map[string]any)["duplicate"] != true || evs[0].(map[string]any)["sequence"] != float64(1) {
					t.Errorf("duplicate must report the original sequence 1: %s", r.Raw)
				}
			}
			if tc.status == 201 && r.Body["position"] == nil {
				t.Errorf("no position: %s", r.Raw)
			}
		})
	}

	// A write that finds the event store gone is answered 503 at once, not
	// when the wait for its acknowledgement times out: with that timeout
	// longer than the test may run, a 503 at all says the write did not
	// wait for it. F100's data key is held since the setup, so the write
	// gets as far as the publish.
	t.Run("event store unavailable", func(t *testing.T) {
		h.sa.Ingest.Writer.Publisher.Timeout = 24 * time.Hour
		h.ns.Shutdown()
		h.ns.WaitForShutdown()
		r := h.post("sof", "dev-sof", "application/cloudevents+json", ev(t, events.SOF, "F100", enrolment()), nil)
		if r.Status != 503 {
			t.Fatalf("status %d, want 503: %s", r.Status, r.Raw)
		}
		if r.Body["type"] != "https://jobogfamilie.kk.dk/problems/unavailable" {
			t.Errorf("not the event store's unavailability: %s", r.Raw)
		}
	})
}

func TestConcurrentConflictingWritesOneWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	enrol := func(i int) []byte {
		return ev(t, events.SOF, "F200", enrolment(), events.WithID(fmt.Sprintf("enrol-%d", i)))
	}
	bodies := make([][]byte, 20)
	for i := range bodies {
		bodies[i] = enrol(i)
	}
	var wg sync.WaitGroup
	statuses := make([]int, len(bodies))
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := h.tryPost("sof", "dev-sof", "application/cloudevents+json", bodies[i], nil)
			if err != nil {
				t.Error(err)
			}
			statuses[i] = r.Status
		}()
	}
	wg.Wait()
	won, lost := 0, 0
	for _, s := range statuses {
		switch s {
		case 201:
			won++
		case 409:
			lost++
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if won != 1 || lost != 19 {
		t.Fatalf("%d succeeded and %d conflicted; want exactly 1 and 19 (%v)", won, lost, statuses)
	}
	if got := h.lastSeq(); got != 1 {
		t.Fatalf("stream holds %d messages, want 1", got)
	}
}

// A client that re-sends an event while its first request is still in
// flight gets the answer of any re-send: 200 duplicate with the sequence
// the first was stored at, not a conflict of the event with itself. The
// same holds for a batch.
func TestConcurrentResendsAreDuplicates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resend := func(t *testing.T, ctype string, body []byte, n int) {
		t.Helper()
		replies := make([]reply, 10)
		var wg sync.WaitGroup
		for i := range replies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := h.tryPost("bif", "dev-bif", ctype, body, nil)
				if err != nil {
					t.Error(err)
				}
				replies[i] = r
			}()
		}
		wg.Wait()
		created := 0
		var first string
		for _, r := range replies {
			switch r.Status {
			case 201:
				created++
			case 200:
			default:
				t.Fatalf("an identical re-send got %d %s", r.Status, r.Raw)
			}
			evs, _ := json.Marshal(r.Body["events"])
			if want := strings.ReplaceAll(string(evs), `"duplicate":true`, `"duplicate":false`); first == "" {
				first = want
			} else if want != first {
				t.Errorf("answers name other sequences: %s and %s", first, evs)
			}
		}
		if created != 1 {
			t.Errorf("%d requests answered 201, want 1", created)
		}
		if len(first) == 0 || strings.Count(first, `"sequence"`) != n {
			t.Errorf("answer %s, want %d events", first, n)
		}
	}
	seq := h.lastSeq()
	for f := range 5 {
		fam := fmt.Sprintf("RS%d", f)
		resend(t, "application/cloudevents+json", ev(t, events.BIF, fam, praktik("PR1"), events.WithID("resend-"+fam)), 1)
	}
	for f := range 5 {
		a, b := fmt.Sprintf("RB%da", f), fmt.Sprintf("RB%db", f)
		resend(t, "application/cloudevents-batch+json", batchOf(
			ev(t, events.BIF, a, praktik("PR1"), events.WithID("resend-"+a)),
			ev(t, events.BIF, b, praktik("PR1"), events.WithID("resend-"+b))), 2)
	}
	if got := h.lastSeq() - seq; got != 15 {
		t.Fatalf("the stream holds %d new messages, want 15 (each event once)", got)
	}
}

// Two ingest processes with their own caches on one stream: only JetStream's
// expected-sequence check can keep them from both accepting conflicting
// writes.
func TestConflictingWritesAcrossProcesses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := h.sa.Config
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()    // a process of its own, with its own index store
	cfg.Instance = otherInstance // and a projector of its own beside h's
	cfg.MasterKeyFile = h.masterKeyFile()
	other, err := standalone.Start(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Stop() })
	(&harness{t: t, sa: other}).waitReady()
	urls := []string{h.sa.URL(), other.URL()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := ev(t, events.SOF, "F300", enrolment(), events.WithID(fmt.Sprintf("x-enrol-%d", i)))
			req, _ := http.NewRequest("POST", urls[i%2]+"/departments/sof/v1/events", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer dev-sof")
			req.Header.Set("Content-Type", "application/cloudevents+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode == 201 {
				mu.Lock()
				won++
				mu.Unlock()
			} else if resp.StatusCode != 409 {
				b, _ := io.ReadAll(resp.Body)
				t.Errorf("status %d %s", resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d writes succeeded across two processes; want 1", won)
	}
}

func TestIdempotentAfterDedupeWindow(t *testing.T) {
	t.Parallel()
	window := 500 * time.Millisecond
	h := newHarness(t, func(c *config.Config) { c.Dedupe = window })
	body := ev(t, events.BIF, "F400", praktik("PR1"), events.WithID("late-retry"))
	first := h.post("bif", "dev-bif", "application/cloudevents+json", body, nil)
	if first.Status != 201 {
		t.Fatalf("first: %d %s", first.Status, first.Raw)
	}
	// Let JetStream forget the Nats-Msg-Id.
	time.Sleep(3 * window)

	// A fresh process, whose index knows the id only from the stream.
	cfg := h.sa.Config
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()    // a process of its own, with its own index store
	cfg.Instance = otherInstance // and a projector of its own beside h's
	cfg.MasterKeyFile = h.masterKeyFile()
	fresh, err := standalone.Start(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fresh.Stop() })
	for _, base := range []string{h.sa.URL(), fresh.URL()} {
		hh := &harness{t: t, sa: h.sa}
		if base == fresh.URL() {
			hh.sa = fresh
		}
		hh.waitReady()
		again := hh.post("bif", "dev-bif", "application/cloudevents+json", body, nil)
		if again.Status != 200 || !strings.Contains(again.Raw, `"duplicate":true`) || !strings.Contains(again.Raw, `"sequence":1`) {
			t.Fatalf("%s: re-send after the window: %d %s", base, again.Status, again.Raw)
		}
		changed := ev(t, events.BIF, "F400", praktik("PR2"), events.WithID("late-retry"))
		if r := hh.post("bif", "dev-bif", "application/cloudevents+json", changed, nil); r.Status != 409 {
			t.Fatalf("%s: same id, other content: %d %s", base, r.Status, r.Raw)
		}
	}
	if got := h.lastSeq(); got != 1 {
		t.Fatalf("stream holds %d messages, want 1", got)
	}
}

// RFC 3339 (section 5.6) allows "t" and "z" for "T" and "Z". Ingest
// accepts them in every mode and stores the time as any other, in UTC
// with "T" and "Z", which every reader of the stream parses; a re-send in
// either case is the same event.
func TestLowerCaseTimeIsStoredInUpperCase(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	event := func(at string) []byte {
		return []byte(`{"specversion":"1.0","id":"lc-time","source":"/departments/sof","type":"dk.kk.jobogfamilie.family.referred.v1","subject":"TM1","time":"` + at + `","data":{"reason":"r"}}`)
	}
	if r := h.post("sof", "dev-sof", "application/cloudevents+json", event("2024-01-01t09:00:00.5z"), nil); r.Status != 201 {
		t.Fatalf("time 2024-01-01t09:00:00.5z: %d %s, want 201", r.Status, r.Raw)
	}
	if r := h.post("sof", "dev-sof", "application/cloudevents+json", event("2024-01-01T10:00:00.5+01:00"), nil); r.Status != 200 {
		t.Fatalf("the same instant in upper case: %d %s, want 200 duplicate", r.Status, r.Raw)
	}
	if r := h.post("sof", "dev-sof", "application/cloudevents-batch+json", batchOf(event("2024-01-01T09:00:00.5Z")), nil); r.Status != 200 {
		t.Fatalf("the same in a batch: %d %s, want 200 duplicate", r.Status, r.Raw)
	}
	hdr := map[string]string{"ce-specversion": "1.0", "ce-id": "lc-time-bin", "ce-source": "/departments/buf",
		"ce-type": "dk.kk.jobogfamilie.ppr.referred.v1", "ce-subject": "TM1", "ce-time": "2024-03-01t10:00:00+01:00"}
	if r := h.post("buf", "dev-buf", "application/json", []byte(`{"childId":"C1","reason":"x"}`), hdr); r.Status != 201 {
		t.Fatalf("binary, ce-time 2024-03-01t10:00:00+01:00: %d %s, want 201", r.Status, r.Raw)
	}
	s, err := h.js.Stream(context.Background(), eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range map[uint64]string{1: "2024-01-01T09:00:00.5Z", 2: "2024-03-01T09:00:00Z"} {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(m.Data), `"time":"`+want+`"`) {
			t.Errorf("message %d: %s, want time %s", seq, m.Data, want)
		}
	}
}

func TestBatchIsAllOrNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	good1 := ev(t, events.BIF, "F500", praktik("PR1"), events.WithID("all-or-nothing-1"))
	good2 := ev(t, events.BIF, "F501", praktik("PR1"))
	invalid := bytes.Replace(ev(t, events.BIF, "F502", praktik("PR1")), []byte(`"12345678"`), []byte(`"123"`), 1)
	conflict := ev(t, events.BIF, "F500", &events.PraktikEnded{PraktikID: "NOPE", Outcome: "job"})

	r := h.post("bif", "dev-bif", "application/cloudevents-batch+json", batchOf(good1, invalid, good2), nil)
	if r.Status != 422 || r.Body["index"] != float64(1) || !strings.Contains(r.Raw, `"/1/data/employer"`) {
		t.Fatalf("invalid event in batch: %d %s", r.Status, r.Raw)
	}
	r = h.post("bif", "dev-bif", "application/cloudevents-batch+json", batchOf(good1, good2, conflict), nil)
	if r.Status != 409 || r.Body["index"] != float64(2) {
		t.Fatalf("invariant in batch: %d %s", r.Status, r.Raw)
	}
	// One id twice in a batch: with other content it is the 409 of an id
	// reused, with the same content a malformed request.
	other := ev(t, events.BIF, "F501", praktik("PR2"), events.WithID("all-or-nothing-1"))
	r = h.post("bif", "dev-bif", "application/cloudevents-batch+json", batchOf(good1, other), nil)
	if r.Status != 409 || r.Body["index"] != float64(1) || r.Body["rule"] != "id-reused" ||
		!strings.HasSuffix(r.Body["type"].(string), "/id-reused") || !strings.Contains(r.Raw, `"pointer":"/1/id"`) {
		t.Fatalf("one id, other content in a batch: %d %s", r.Status, r.Raw)
	}
	r = h.post("bif", "dev-bif", "application/cloudevents-batch+json", batchOf(good2, good1, good1), nil)
	if r.Status != 400 || r.Body["index"] != float64(2) || !strings.Contains(r.Raw, `"pointer":"/2/id"`) {
		t.Fatalf("one event twice in a batch: %d %s", r.Status, r.Raw)
	}
	// Validation comes before the conflict, as it does for a stored id.
	r = h.post("bif", "dev-bif", "application/cloudevents-batch+json", batchOf(good1, other, invalid), nil)
	if r.Status != 422 || r.Body["index"] != float64(2) {
		t.Fatalf("one id, other content, and an invalid event in a batch: %d %s", r.Status, r.Raw)
	}
	if got := h.lastSeq(); got != 0 {
		t.Fatalf("a refused batch stored %d messages", got)
	}
	// The same family twice in one batch, checked in order.
	end := ev(t, events.BIF, "F500", &events.PraktikEnded{PraktikID: "PR1", Outcome: "job"})
	r = h.post("bif", "dev-bif", "application/cloudevents-batch+json", batchOf(good1, good2, end), nil)
	if r.Status != 201 || r.Body["position"] != float64(3) {
		t.Fatalf("good batch: %d %s", r.Status, r.Raw)
	}
	// Re-sending it is a duplicate of every event, with the same sequences.
	r2 := h.post("bif", "dev-bif", "application/cloudevents-batch+json", batchOf(good1, good2, end), nil)
	if r2.Status != 200 || strings.Count(r2.Raw, `"duplicate":true`) != 3 {
		t.Fatalf("re-sent batch: %d %s", r2.Status, r2.Raw)
	}
	tooMany := make([][]byte, 501)
	for i := range tooMany {
		tooMany[i] = ev(t, events.BIF, "F503", &events.EducationStarted{PersonID: "P1", Programme: "hf"})
	}
	if r := h.post("bif", "dev-bif", "application/cloudevents-batch+json", batchOf(tooMany...), nil); r.Status != 400 && r.Status != 413 {
		t.Fatalf("batch of 501: %d %s", r.Status, r.Raw)
	}
}

func TestRecoversWhenNATSReturns(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	post := func(fam string) reply {
		return h.post("sof", "dev-sof", "application/cloudevents+json", ev(t, events.SOF, fam, &events.FamilyReferred{Reason: "r"}), nil)
	}
	if r := post("F600"); r.Status != 201 {
		t.Fatalf("before: %d %s", r.Status, r.Raw)
	}
	h.ns.Shutdown()
	h.ns.WaitForShutdown()
	if r := post("F601"); r.Status != 503 {
		t.Fatalf("while down: %d %s", r.Status, r.Raw)
	}
	h.ns = startNATS(t, h.store, h.port)
	// A 503 means the outcome is unknown; a client sends the same event
	// again, as this one does, and a write that did land is answered as a
	// duplicate.
	after := ev(t, events.SOF, "F602", &events.FamilyReferred{Reason: "r"})
	checkFor(t, 20*time.Second, func() error {
		r := h.post("sof", "dev-sof", "application/cloudevents+json", after, nil)
		if r.Status != 201 && r.Status != 200 {
			return fmt.Errorf("after restart: %d %s", r.Status, r.Raw)
		}
		return nil
	})
	if got := h.lastSeq(); got != 2 {
		t.Fatalf("stream holds %d messages, want 2", got)
	}
}

func TestOperationalEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	get := func(path string) (int, string) {
		resp, err := http.Get(h.sa.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, _ := get("/healthz"); s != 200 {
		t.Fatalf("healthz %d", s)
	}
	if r := h.post("bif", "dev-bif", "application/cloudevents+json", ev(t, events.BIF, "F700", praktik("PR1")), nil); r.Status != 201 {
		t.Fatalf("post %d %s", r.Status, r.Raw)
	}
	h.post("bif", "dev-bif", "application/cloudevents+json", []byte("{"), nil)
	s, body := get("/metrics")
	if s != 200 || !strings.Contains(body, `jf_ingest_events_total{department="bif",outcome="stored"} 1`) ||
		!strings.Contains(body, `jf_ingest_events_total{department="bif",outcome="rejected"} 1`) {
		t.Fatalf("metrics %d:\n%s", s, body)
	}
	h.ns.Shutdown()
	h.ns.WaitForShutdown()
	checkFor(t, 5*time.Second, func() error {
		if s, body := get("/readyz"); s != 503 {
			return fmt.Errorf("readyz %d %s while NATS is down", s, body)
		}
		return nil
	})
	if s, _ := get("/healthz"); s != 200 {
		t.Fatalf("healthz %d while NATS is down: the process itself is alive", s)
	}
}

// TestFullStoreGivesClearErrorAndKeepsWhatIsStored: when the store has no
// room left, writes get a 503 that says so; what was stored stays intact
// and duplicates are still recognised.
func TestFullStoreGivesClearErrorAndKeepsWhatIsStored(t *testing.T) {
	t.Parallel()
	h := &harness{t: t, store: t.TempDir()}
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedOptions{StoreDir: h.store, Listen: "127.0.0.1:-1", MaxStore: 256 << 10, ServiceSeed: testenv.ServiceSeed()})
	if err != nil {
		t.Fatal(err)
	}
	h.ns = ns.Server
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.DataDir, cfg.NATSURL = "127.0.0.1:0", t.TempDir(), ns.ClientURL()
	cfg.NATSNKey = testenv.ServiceKeyFile(t)
	h.sa, err = standalone.Start(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.sa.Stop() })
	h.js, _ = jetstream.New(h.sa.Store.NC)
	h.waitReady()

	var stored [][]byte
	var full reply
	for i := 0; i < 2000; i++ {
		body := ev(t, events.BIF, fmt.Sprintf("F%d", i%10), &events.EducationStarted{PersonID: "P1", Programme: strings.Repeat("x", 200)})
		r := h.post("bif", "dev-bif", "application/cloudevents+json", body, nil)
		if r.Status == 201 {
			stored = append(stored, body)
			continue
		}
		full = r
		break
	}
	if full.Status != 503 || full.Body["type"] != "https://jobogfamilie.kk.dk/problems/store-full" {
		t.Fatalf("a full store answered %d %s", full.Status, full.Raw)
	}
	if len(stored) == 0 || h.lastSeq() != uint64(len(stored)) {
		t.Fatalf("%d events acknowledged, stream holds %d", len(stored), h.lastSeq())
	}
	if r := h.post("bif", "dev-bif", "application/cloudevents+json", stored[0], nil); r.Status != 200 {
		t.Fatalf("a stored event re-sent to a full store: %d %s", r.Status, r.Raw)
	}
}

// TestCrossDepartmentWriteRightAfterAnother: with one ingest process per
// department, a write that depends on another department's write a moment
// earlier must be checked against a current view of the family, not
// refused because this process had not yet heard of the earlier write.
func TestCrossDepartmentWriteRightAfterAnother(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := h.sa.Config
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()    // a process of its own, with its own index store
	cfg.Instance = otherInstance // and a projector of its own beside h's
	cfg.MasterKeyFile = h.masterKeyFile()
	other, err := standalone.Start(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Stop() })
	suf := &harness{t: t, sa: other}
	suf.waitReady()
	for i := range 30 {
		fam := fmt.Sprintf("X%d", i)
		consent := ev(t, events.SOF, fam, &events.ConsentGiven{PersonID: "P1", Scope: "gp-cooperation"})
		if r := h.post("sof", "dev-sof", "application/cloudevents+json", consent, nil); r.Status != 201 {
			t.Fatalf("consent: %d %s", r.Status, r.Raw)
		}
		gp := ev(t, events.SUF, fam, &events.GPConsultationHeld{PersonID: "P1", Category: "physical"})
		if r := suf.post("suf", "dev-suf", "application/cloudevents+json", gp, nil); r.Status != 201 {
			t.Fatalf("family %s: a consultation right after the consent, through another process: %d %s", fam, r.Status, r.Raw)
		}
	}
	// And a real refusal is still a refusal.
	gp := ev(t, events.SUF, "X-none", &events.GPConsultationHeld{PersonID: "P1", Category: "physical"})
	if r := suf.post("suf", "dev-suf", "application/cloudevents+json", gp, nil); r.Status != 409 || r.Body["rule"] != "gp-consent-missing" {
		t.Fatalf("without consent: %d %s", r.Status, r.Raw)
	}
}
