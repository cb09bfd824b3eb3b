package ingest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/standalone"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestVersions: ingest accepts both versions of praktik.started and
// goal.set; an earlier version is answered as before plus Deprecation and
// a Link to its successor's schema (and Sunset once one is configured);
// the invariants hold across versions; and after its sunset an earlier
// version is refused with 422 naming the version to send.
func TestVersions(t *testing.T) {
	t.Parallel()
	goalSunset := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	h := newHarness(t, func(c *config.Config) {
		c.Sunsets = config.Sunsets{
			events.TypeOf("praktik.started", 1): time.Now().Add(-time.Hour),
			events.TypeOf("goal.set", 1):        goalSunset,
		}
	})
	const fam = "FAM-VERSIONS"
	post := func(dept events.Department, data events.Payload, want int) reply {
		t.Helper()
		r := h.post(string(dept), "dev-"+string(dept), "application/cloudevents+json", ev(t, dept, fam, data), nil)
		if r.Status != want {
			t.Fatalf("%T: %d %s, want %d", data, r.Status, r.Raw, want)
		}
		return r
	}
	post(events.SOF, enrolment(), http.StatusCreated)

	// v1 before its sunset: stored, with the deprecation headers.
	r := post(events.SOF, &events.GoalSet{GoalID: "G1", Title: "Job", Domain: "employment", ExpressedBy: "family"}, http.StatusCreated)
	since, _ := events.ByType(events.TypeOf("goal.set", 1))
	if got, want := r.Header.Get("Deprecation"), "@"+strconv.FormatInt(since.Deprecated().Unix(), 10); got != want || since.Deprecated().IsZero() {
		t.Errorf("Deprecation %q, want %q", got, want)
	}
	if got, want := r.Header.Get("Link"), `<https://jobogfamilie.kk.dk/schemas/dk.kk.jobogfamilie.goal.set.v2.json>; rel="successor-version"`; got != want {
		t.Errorf("Link %q, want %q", got, want)
	}
	if got := r.Header.Get("Sunset"); got != goalSunset.Format(http.TimeFormat) {
		t.Errorf("Sunset %q, want %q", got, goalSunset.Format(http.TimeFormat))
	}
	// v2: no deprecation.
	r = post(events.SOF, &events.GoalSetV2{GoalID: "G2", Title: "Familien", Domains: []string{"family", "employment"},
		Description: "Mere tid sammen", ExpressedBy: "family"}, http.StatusCreated)
	if r.Header.Get("Deprecation") != "" || r.Header.Get("Link") != "" || r.Header.Get("Sunset") != "" {
		t.Errorf("a v2 event answered with deprecation headers %v", r.Header)
	}
	// The v1 goal is the same goal after v2 arrived; its id is taken for v2.
	post(events.SOF, &events.GoalProgressed{GoalID: "G1", Achievement: "improving"}, http.StatusCreated)
	post(events.SOF, &events.GoalSetV2{GoalID: "G1", Title: "Igen", Domains: []string{"school"}, ExpressedBy: "family"}, http.StatusConflict)
	post(events.SOF, &events.GoalClosed{GoalID: "G2", Outcome: "achieved"}, http.StatusCreated)

	// praktik.started v1 is past its sunset: 422 naming v2, nothing stored.
	before := h.lastSeq()
	r = post(events.BIF, praktik("PR1"), http.StatusUnprocessableEntity)
	if !strings.Contains(r.Raw, "dk.kk.jobogfamilie.praktik.started.v2") || !strings.Contains(r.Raw, "version-sunset") ||
		!strings.Contains(r.Raw, `"/type"`) {
		t.Errorf("sunset refusal does not name v2: %s", r.Raw)
	}
	if h.lastSeq() != before {
		t.Error("a refused event was stored")
	}
	// v2 praktik opens and closes as v1 did.
	post(events.BIF, &events.PraktikStartedV2{PraktikID: "PR2", PersonID: "P1", Employer: events.PraktikEmployer{Cvr: "12345678"}, HoursPerWeek: 10}, http.StatusCreated)
	post(events.BIF, &events.PraktikStartedV2{PraktikID: "PR2", PersonID: "P1", Employer: events.PraktikEmployer{Cvr: "12345678"}, HoursPerWeek: 10}, http.StatusConflict)
	post(events.BIF, &events.PraktikEnded{PraktikID: "PR2", Outcome: "job"}, http.StatusCreated)

	// Personal free text of v2 is held to the content rules.
	bad := h.post("sof", "dev-sof", "application/cloudevents+json",
		[]byte(strings.Replace(string(ev(t, events.SOF, fam, &events.GoalSetV2{GoalID: "G9", Title: "x", Domains: []string{"family"},
			Description: "PLACEHOLDER", ExpressedBy: "family"})), "PLACEHOLDER", `Mor 010203-1234 \u0007`, 1)), nil)
	if bad.Status != http.StatusUnprocessableEntity || !strings.Contains(bad.Raw, "/data/description") {
		t.Errorf("a description with a CPR number: %d %s", bad.Status, bad.Raw)
	}
}

// TestResendAfterSunsetIsDuplicate: an event of an earlier version stored
// before its sunset and re-sent unchanged after it is answered as any
// re-send, 200 duplicate with its original sequence, alone or in a batch;
// a batch with a new event of that version is still refused with 422, and
// the stored id with other content is 409.
func TestResendAfterSunsetIsDuplicate(t *testing.T) {
	t.Parallel()
	sunset := time.Now().Add(time.Hour)
	h := newHarness(t, func(c *config.Config) {
		c.Sunsets = config.Sunsets{events.TypeOf("praktik.started", 1): sunset}
	})
	var past atomic.Bool
	h.sa.Ingest.Now = func() time.Time {
		if past.Load() {
			return sunset.Add(time.Minute)
		}
		return time.Now()
	}
	const fam = "FAM-SUNSET-RESEND"
	type result struct {
		ID        string `json:"id"`
		Sequence  uint64 `json:"sequence"`
		Duplicate bool   `json:"duplicate"`
	}
	post := func(what, ctype string, body []byte, want int) []result {
		t.Helper()
		r := h.post("bif", "dev-bif", ctype, body, nil)
		if r.Status != want {
			t.Fatalf("%s: %d %s, want %d", what, r.Status, r.Raw, want)
		}
		var out struct{ Events []result }
		_ = json.Unmarshal([]byte(r.Raw), &out)
		return out.Events
	}
	single := func(what string, body []byte, want int) []result {
		t.Helper()
		return post(what, "application/cloudevents+json", body, want)
	}
	batch := func(what string, want int, parts ...[]byte) []result {
		t.Helper()
		return post(what, "application/cloudevents-batch+json", batchOf(parts...), want)
	}
	a := ev(t, events.BIF, fam, praktik("PR1"), events.WithID("sunset-a"))
	b := ev(t, events.BIF, fam, praktik("PR2"), events.WithID("sunset-b"))
	c := ev(t, events.BIF, fam, &events.PraktikEnded{PraktikID: "PR2", Outcome: "job"}, events.WithID("sunset-c"))
	stored := append(single("a before the sunset", a, http.StatusCreated), batch("b, c before the sunset", http.StatusCreated, b, c)...)

	past.Store(true)
	duplicates := func(what string, got []result, want ...result) {
		t.Helper()
		for i, w := range want {
			w.Duplicate = true
			if i >= len(got) || got[i] != w {
				t.Fatalf("%s: %+v, want duplicates of %+v", what, got, want)
			}
		}
	}
	duplicates("a re-sent after the sunset", single("a re-sent", a, http.StatusOK), stored[0])
	duplicates("b, c re-sent after the sunset", batch("b, c re-sent", http.StatusOK, b, c), stored[1:]...)
	v2 := ev(t, events.BIF, fam, &events.PraktikStartedV2{PraktikID: "PR3", PersonID: "P1", Employer: events.PraktikEmployer{Cvr: "12345678"}, HoursPerWeek: 10})
	got := batch("b re-sent with a new v2 event", http.StatusCreated, b, v2)
	duplicates("b beside a new v2 event", got[:1], stored[1])
	if len(got) != 2 || got[1].Duplicate || got[1].Sequence != stored[2].Sequence+1 {
		t.Fatalf("the new v2 event beside b: %+v", got)
	}

	// A new event of the sunset version refuses the whole batch.
	before := h.lastSeq()
	r := h.post("bif", "dev-bif", "application/cloudevents-batch+json", batchOf(a, ev(t, events.BIF, fam, praktik("PR4"))), nil)
	if r.Status != http.StatusUnprocessableEntity || r.Body["index"] != float64(1) || !strings.Contains(r.Raw, "version-sunset") ||
		!strings.Contains(r.Raw, `"pointer":"/1/type"`) {
		t.Fatalf("a re-sent with a new v1 event: %d %s, want 422 version-sunset at index 1, pointer /1/type", r.Status, r.Raw)
	}
	if h.lastSeq() != before {
		t.Error("a refused batch was stored")
	}
	// A stored id with other content is the 409 it always is.
	if r := h.post("bif", "dev-bif", "application/cloudevents+json", ev(t, events.BIF, fam, praktik("PR5"), events.WithID("sunset-a")), nil); r.Status != http.StatusConflict || !strings.Contains(r.Raw, "id-reused") {
		t.Fatalf("a's id with other content after the sunset: %d %s, want 409 id-reused", r.Status, r.Raw)
	}
}

// TestVersionsAcrossARestart: praktik.ended closes a praktik started in v1
// and one started in v2 when ingest's family state was folded again from
// the stream (a restart), not only live.
func TestVersionsAcrossARestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const fam = "FAM-RESTART"
	for _, e := range []struct {
		dept events.Department
		data events.Payload
	}{
		{events.SOF, enrolment()},
		{events.BIF, praktik("PR1")},
		{events.BIF, &events.PraktikStartedV2{PraktikID: "PR2", PersonID: "P1", Employer: events.PraktikEmployer{Cvr: "12345678", PNumber: "1000123456"}, HoursPerWeek: 10}},
		{events.SOF, &events.GoalSet{GoalID: "G1", Title: "Job", Domain: "employment", ExpressedBy: "family"}},
	} {
		if r := h.post(string(e.dept), "dev-"+string(e.dept), "application/cloudevents+json", ev(t, e.dept, fam, e.data), nil); r.Status != http.StatusCreated {
			t.Fatalf("%T: %d %s", e.data, r.Status, r.Raw)
		}
	}
	// A second process on the same stream folds the family from what is
	// stored, as ingest does after a restart.
	h2 := secondProcess(t, h)
	for _, e := range []struct {
		dept events.Department
		data events.Payload
		want int
	}{
		{events.BIF, &events.PraktikEnded{PraktikID: "PR1", Outcome: "completed"}, http.StatusCreated},
		{events.BIF, &events.PraktikEnded{PraktikID: "PR2", Outcome: "job"}, http.StatusCreated},
		{events.BIF, &events.PraktikEnded{PraktikID: "PR2", Outcome: "job"}, http.StatusConflict},
		{events.SOF, &events.GoalProgressed{GoalID: "G1", Achievement: "improving"}, http.StatusCreated},
		{events.SOF, &events.GoalSetV2{GoalID: "G1", Title: "Igen", Domains: []string{"school"}, ExpressedBy: "family"}, http.StatusConflict},
	} {
		if r := h2.post(string(e.dept), "dev-"+string(e.dept), "application/cloudevents+json", ev(t, e.dept, fam, e.data), nil); r.Status != e.want {
			t.Errorf("%T after the restart: %d %s, want %d", e.data, r.Status, r.Raw, e.want)
		}
	}
}

// secondProcess starts another standalone on h's NATS server, with a data
// directory of its own: its ingest index knows only what it reads from
// the stream.
func secondProcess(t *testing.T, h *harness) *harness {
	t.Helper()
	cfg := config.Defaults()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Instance = otherInstance // a projector of its own beside h's
	cfg.MasterKeyFile = h.masterKeyFile()
	cfg.NATSURL = h.ns.ClientURL()
	cfg.NATSNKey = testenv.ServiceKeyFile(t)
	sa, err := standalone.Start(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sa.Stop() })
	h2 := &harness{t: t, store: h.store, ns: h.ns, port: h.port, sa: sa, js: h.js}
	h2.waitReady()
	return h2
}
