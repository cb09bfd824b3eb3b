package audit_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestServeNotReadyRefusesReads: `audit serve` started with a fresh data
// directory on a stream that holds history catches its read model up
// from the stream. Until it has applied the stream as it was when it
// started, a read of the read model must not answer as if the model were
// complete (an access report of a family the model does not hold yet is
// no 404, a timeline lacks none of its events): it answers 503 with
// Retry-After, as the projector does, and /readyz says why; then the
// right answer. The whole stream's replay is read from the stream and
// keeps serving.
func TestServeNotReadyRefusesReads(t *testing.T) {
	t.Parallel()
	s := startSystem(t, true)
	// History: referrals of other families, published straight to the
	// stream; enough for a bulk load.
	js := s.SA.Store.JS
	wait := func() {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(60 * time.Second):
			t.Fatal("history not acknowledged in 60 s")
		}
	}
	for i := range 12_000 {
		if i > 0 && i%1000 == 0 {
			// Within the client's bound of pending publishes.
			wait()
		}
		id := fmt.Sprintf("OTHER-%d", i)
		ce, err := events.Build(events.SOF, id, &events.FamilyReferred{Reason: "x"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := events.Marshal(ce)
		if _, err := js.PublishAsync(events.Subject(id, events.SOF, "family.referred"), b); err != nil {
			t.Fatal(err)
		}
	}
	wait()
	const fam = "LATE-A"
	s.Post(events.SOF, fam, testenv.Enrolment())
	s.Post(events.SOF, fam, &events.CaseworkerAssigned{EmployeeID: "E1001"})
	last := s.Post(events.BIF, fam, &events.BenefitGranted{PersonID: "P1", Benefit: "integrationsydelse"})

	base := runServe(t, s)
	checkFor(t, 20*time.Second, func() error {
		_, err := testenv.Try(base, "GET", "/healthz", "", nil, nil)
		return err
	})

	hdr := map[string]string{"X-Purpose": "Indsigt"}
	refused := 0
	notReady := func(what string, r testenv.Reply) bool {
		if r.Status != 503 {
			return false
		}
		if r.Header.Get("Retry-After") == "" || !strings.HasSuffix(fmt.Sprint(r.Body["type"]), "/unavailable") {
			t.Fatalf("%s: a not-ready read answered 503 without Retry-After or as another problem: %v %s", what, r.Header, r.Raw)
		}
		refused++
		return true
	}
	verified := false
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		rep := testenv.Do(t, base, "GET", "/v1/privacy/families/"+fam+"/access-report", "dev-dpo", nil, hdr)
		tl := testenv.Do(t, base, "GET", "/v1/audit/families/"+fam+"/timeline", "dev-auditor", nil, hdr)
		due := testenv.Do(t, base, "GET", "/v1/privacy/due", "dev-dpo", nil, hdr)
		if !notReady("due list", due) && due.Status != 200 {
			t.Fatalf("due list %d %s", due.Status, due.Raw)
		}
		repReady, tlReady := !notReady("access report", rep), !notReady("timeline", tl)
		if repReady && rep.Status != 200 {
			ready := testenv.Do(t, base, "GET", "/readyz", "", nil, nil)
			t.Fatalf("access report %d %s (X-Position %s) while /readyz says %d %s", rep.Status, rep.Raw, rep.Header.Get("X-Position"), ready.Status, strings.TrimSpace(ready.Raw))
		}
		var v asOf
		if tlReady && (tl.Status != 200 || json.Unmarshal([]byte(tl.Raw), &v) != nil || len(v.Entries) != 3 || v.Overview.Caseworker != "E1001") {
			t.Fatalf("timeline %d %s (X-Position %s)", tl.Status, tl.Raw[:min(len(tl.Raw), 300)], tl.Header.Get("X-Position"))
		}
		if !repReady || !tlReady {
			// Not ready: /readyz says so, and says why; the stream's
			// replay still answers.
			// (The model may have caught up since the reads.)
			if ready := testenv.Do(t, base, "GET", "/readyz", "", nil, nil); ready.Status != 200 &&
				(ready.Status != 503 || !strings.Contains(ready.Raw, `"read-model":"`) || strings.Contains(ready.Raw, `"read-model":"ok"`)) {
				t.Fatalf("not ready, but /readyz says %d %s", ready.Status, ready.Raw)
			}
			if ev := testenv.Do(t, base, "GET", fmt.Sprintf("/v1/audit/events?after=%d", last.Sequence-1), "dev-auditor", nil, hdr); ev.Status != 200 || !strings.Contains(ev.Raw, fmt.Sprintf(`"jfsequence":"%d"`, last.Sequence)) {
				t.Fatalf("not ready, the stream's replay answered %d %s", ev.Status, ev.Raw)
			}
			// A verification asked for meanwhile is refused as the reads
			// are, not run and recorded as a failed verification (the
			// read model may have caught up since: then it runs).
			if !verified {
				verified = true
				vr := testenv.Do(t, base, "POST", "/v1/audit/verify", "dev-auditor", nil, nil)
				if !notReady("verify", vr) && vr.Status != 200 {
					t.Fatalf("verify while not ready: %d %s", vr.Status, vr.Raw)
				}
				if st := testenv.Do(t, base, "GET", "/v1/audit/verify", "dev-auditor", nil, nil); st.Body["state"] == "failed" {
					t.Fatalf("a verify asked for while not ready is recorded as failed: %s", st.Raw)
				}
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if ready := testenv.Do(t, base, "GET", "/readyz", "", nil, nil); ready.Status != 200 {
			t.Fatalf("audit serve served read-model reads while /readyz says %d %s", ready.Status, ready.Raw)
		}
		t.Logf("audit serve answered right once ready, after %d reads refused with 503", refused)
		return
	}
	t.Fatal("audit serve did not answer within 90 s")
}
