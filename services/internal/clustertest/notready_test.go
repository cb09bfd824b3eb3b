package clustertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestNotReadyReplicaRefusesReads: a replica added behind the load
// balancer catches its read model up from the stream. Until it has, it
// must not answer a coordinator's read of an assigned family as if the
// coordinator were not assigned (403), nor list too few families: it
// answers 503 with Retry-After, which the balancer passes to another
// replica (deploy/lb/nginx.conf), and then the right answer. The history
// is below the projector's bulk-load threshold, so that the replica
// catches up on its durable consumer, as one restarted with a model a
// little behind does.
func TestNotReadyReplicaRefusesReads(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	cfg, ing := startDeployment(t)

	// History: 4,000 referrals of other families, published straight
	// to the stream (quicker than through ingest; the projector reads
	// them alike).
	nc, err := nats.Connect(cfg.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4000 {
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
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("history not acknowledged in 30 s")
	}
	const fam = "LATE-1"
	for _, data := range []events.Payload{&events.FamilyReferred{Reason: "Kompleks sag"}, testenv.Enrolment(), &events.CaseworkerAssigned{EmployeeID: "E1001"}} {
		ce, _ := events.Build(events.SOF, fam, data)
		body, _ := events.Marshal(ce)
		if r := testenv.Do(t, ing.URL(), "POST", "/departments/sof/v1/events", "dev-sof", body,
			map[string]string{"Content-Type": "application/cloudevents+json"}); r.Status != 201 {
			t.Fatalf("POST: %d %s", r.Status, r.Raw)
		}
	}

	// The new replica b: started, not waited for (the balancer does not).
	c := cfg
	c.Instance, c.DataDir = "b", t.TempDir()
	b, err := process.Start(context.Background(), c, "projector", testenv.QuietLog(), func(ctx context.Context, p service.Parts) (service.Service, error) {
		return projector.NewService(ctx, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop() })
	refused := 0
	t0 := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		r := testenv.Do(t, b.URL(), "GET", "/v1/families/"+fam, "dev-coordinator", nil, map[string]string{"X-Purpose": "review"})
		l := testenv.Do(t, b.URL(), "GET", "/v1/families", "dev-coordinator", nil, map[string]string{"X-Purpose": "review"})
		for _, got := range []testenv.Reply{r, l} {
			if got.Status == 503 {
				refused++
				if got.Header.Get("Retry-After") == "" || !strings.HasSuffix(fmt.Sprint(got.Body["type"]), "/unavailable") {
					t.Fatalf("a not-ready read answered 503 without Retry-After or as another problem: %v %s", got.Header, got.Raw)
				}
			}
		}
		if r.Status == 403 || (r.Status == 200 && !strings.Contains(r.Raw, "E1001")) || (l.Status == 200 && !strings.Contains(l.Raw, fam)) {
			ready := testenv.Do(t, b.URL(), "GET", "/readyz", "", nil, nil)
			t.Fatalf("replica b, /readyz %d %s, answered the assigned coordinator %d %s (X-Position %s); GET /v1/families: %d %s",
				ready.Status, strings.TrimSpace(ready.Raw), r.Status, r.Raw, r.Header.Get("X-Position"), l.Status, l.Raw[:min(len(l.Raw), 300)])
		}
		if r.Status == 200 && l.Status == 200 {
			if ready := testenv.Do(t, b.URL(), "GET", "/readyz", "", nil, nil); ready.Status != 200 {
				t.Fatalf("replica b served family data while /readyz says %d %s", ready.Status, ready.Raw)
			}
			t.Logf("b answered right once ready, after %d reads refused with 503 in %v", refused, time.Since(t0).Round(time.Millisecond))
			return
		}
		if (r.Status != 503 && r.Status != 200) || (l.Status != 503 && l.Status != 200) {
			t.Fatalf("replica b: %d %s; GET /v1/families: %d %s", r.Status, r.Raw, l.Status, l.Raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("replica b did not answer within 60 s")
}
