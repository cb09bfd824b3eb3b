package ingest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

// erase erases the family as the data protection officer.
func (h *harness) erase(fam string) {
	h.t.Helper()
	if r := h.postTo("/v1/privacy/families/"+fam+"/erase", "dev-dpo", "application/json", []byte(`{"reason":"Art. 17"}`), nil); r.Status != 201 {
		h.t.Fatalf("erase %s: %d %s", fam, r.Status, r.Raw)
	}
}

// TestEventAfterErasureAcrossRestart: no event about an erased family is
// stored, with personal fields or without, also by a process restarted on
// the index it kept (which does not read family.erased again).
func TestEventAfterErasureAcrossRestart(t *testing.T) {
	h := newHarness(t)
	const fam = "F-ERASED-RESTART"
	if r := h.post("sof", "dev-sof", "application/cloudevents+json", ev(t, events.SOF, fam, enrolment()), nil); r.Status != 201 {
		t.Fatalf("enrol: %d %s", r.Status, r.Raw)
	}
	h.erase(fam)
	refused := func(p *harness, when string) {
		t.Helper()
		for _, e := range []struct {
			dept events.Department
			data events.Payload
		}{
			{events.SOF, &events.CaseworkerAssigned{EmployeeID: "E1001"}},
			{events.BIF, &events.BenefitEnded{PersonID: "P1", Benefit: "kontanthjaelp", Reason: "employment"}},
			{events.SOF, &events.FamilyReferred{Reason: "Ny bekymring"}},
		} {
			r := p.post(string(e.dept), "dev-"+string(e.dept), "application/cloudevents+json", ev(t, e.dept, fam, e.data), nil)
			if r.Status != 409 || !strings.Contains(r.Raw, "family-erased") {
				t.Errorf("%s: %s about an erased family: %d %s, want 409 family-erased", when, e.data.EventName(), r.Status, r.Raw)
			}
		}
	}
	refused(h, "before a restart")
	cfg := h.sa.Config
	if err := h.sa.Stop(); err != nil {
		t.Fatal(err)
	}
	sa, err := standalone.Start(context.Background(), cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sa.Stop() })
	h2 := &harness{t: t, sa: sa, js: h.js, ns: h.ns, store: h.store, port: h.port}
	h2.waitReady()
	refused(h2, "after a restart")
}

// TestResendAfterErasure: an event stored before its family was erased,
// re-sent unchanged, is a duplicate with its original sequence both to
// the process that stored it and to one whose index learned the id from
// the stream after the family's data key was destroyed (it reads the
// personal fields as the tombstone). The same id with other non-personal
// content (another time) stays 409 to both.
func TestResendAfterErasure(t *testing.T) {
	h := newHarness(t)
	const fam = "F-ERASED-RESEND"
	at := time.Date(2024, 5, 2, 9, 0, 0, 0, time.UTC)
	referred := &events.FamilyReferred{Reason: "Bekymring for skolefravær", Note: "Mor ringede"}
	body := ev(t, events.SOF, fam, referred, events.WithID("erased-resend-1"), events.WithTime(at))
	other := ev(t, events.SOF, fam, referred, events.WithID("erased-resend-1"), events.WithTime(at.Add(time.Hour)))
	first := h.post("sof", "dev-sof", "application/cloudevents+json", body, nil)
	if first.Status != 201 {
		t.Fatalf("store: %d %s", first.Status, first.Raw)
	}
	seq := first.Body["events"].([]any)[0].(map[string]any)["sequence"]
	h.erase(fam)
	h2 := secondProcess(t, h)
	for _, p := range []struct {
		name string
		h    *harness
	}{{"the process that stored it", h}, {"a process whose index read the stream", h2}} {
		r := p.h.post("sof", "dev-sof", "application/cloudevents+json", body, nil)
		if r.Status != 200 || !strings.Contains(r.Raw, `"duplicate":true`) || r.Body["events"].([]any)[0].(map[string]any)["sequence"] != seq {
			t.Errorf("re-send to %s: %d %s, want 200 duplicate at sequence %v", p.name, r.Status, r.Raw, seq)
		}
		if r := p.h.post("sof", "dev-sof", "application/cloudevents+json", other, nil); r.Status != 409 || !strings.Contains(r.Raw, "id-reused") {
			t.Errorf("the id with another time to %s: %d %s, want 409 id-reused", p.name, r.Status, r.Raw)
		}
	}
}
