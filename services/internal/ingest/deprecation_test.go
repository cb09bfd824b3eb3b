package ingest_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
)

// TestRefusalsCarryDeprecation: every answer to an event of an earlier
// version carries its deprecation headers, a refusal (409 invariant, 422
// version-sunset) as much as a success.
func TestRefusalsCarryDeprecation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *config.Config) {
		c.Sunsets = config.Sunsets{events.TypeOf("goal.set", 1): time.Now().Add(-time.Hour)}
	})
	const fam = "FAM-DEPRECATION"
	post := func(dept events.Department, data events.Payload, want int) reply {
		t.Helper()
		r := h.post(string(dept), "dev-"+string(dept), "application/cloudevents+json", ev(t, dept, fam, data), nil)
		if r.Status != want {
			t.Fatalf("%T: %d %s, want %d", data, r.Status, r.Raw, want)
		}
		return r
	}
	post(events.SOF, enrolment(), http.StatusCreated)
	if r := post(events.BIF, praktik("PR1"), http.StatusCreated); r.Header.Get("Deprecation") == "" {
		t.Fatal("201 to a v1 event without Deprecation")
	}
	// The same praktik again: 409 praktikId already open.
	if r := post(events.BIF, praktik("PR1"), http.StatusConflict); r.Header.Get("Deprecation") == "" {
		t.Errorf("409 to a v1 praktik.started carries no Deprecation header; headers %v", r.Header)
	}
	// A batch whose second event fails its schema: 422, for a request
	// that holds a v1 event.
	bad := bytes.Replace(ev(t, events.BIF, fam, &events.PraktikStartedV2{PraktikID: "PR3", PersonID: "P1",
		Employer: events.PraktikEmployer{Cvr: "12345678"}, HoursPerWeek: 10}), []byte(`"hoursPerWeek":10`), []byte(`"hoursPerWeek":99`), 1)
	r := h.post("bif", "dev-bif", "application/cloudevents-batch+json", batchOf(ev(t, events.BIF, fam, praktik("PR2")), bad), nil)
	if r.Status != http.StatusUnprocessableEntity || r.Header.Get("Deprecation") == "" || r.Header.Get("Link") == "" {
		t.Errorf("batch with a v1 event and a schema failure: %d, Deprecation %q, Link %q; %s", r.Status, r.Header.Get("Deprecation"), r.Header.Get("Link"), r.Raw)
	}
	// A v1 event in a body that does not parse: 400, its type readable.
	unparsed := bytes.Replace(ev(t, events.BIF, fam, praktik("PR4")), []byte(`"specversion":"1.0"`), []byte(`"specversion":"0.3"`), 1)
	r = h.post("bif", "dev-bif", "application/cloudevents+json", unparsed, nil)
	if r.Status != http.StatusBadRequest || r.Header.Get("Deprecation") == "" {
		t.Errorf("unparsed v1 event: %d, Deprecation %q; %s", r.Status, r.Header.Get("Deprecation"), r.Raw)
	}
	// goal.set v1 past its sunset: 422 version-sunset.
	r = post(events.SOF, &events.GoalSet{GoalID: "G1", Title: "Job", Domain: "employment", ExpressedBy: "family"}, http.StatusUnprocessableEntity)
	if r.Header.Get("Deprecation") == "" || r.Header.Get("Sunset") == "" {
		t.Errorf("422 version-sunset to a v1 goal.set carries Deprecation %q, Sunset %q", r.Header.Get("Deprecation"), r.Header.Get("Sunset"))
	}
}
