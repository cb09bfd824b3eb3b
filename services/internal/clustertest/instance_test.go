package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/process"
	"kk.dk/jobogfamilie/services/internal/projector"
	"kk.dk/jobogfamilie/services/internal/service"
	"kk.dk/jobogfamilie/services/internal/testenv"
)

// TestSameInstanceTwice: two projector processes started with the same
// -instance (two machines given the same JF_INSTANCE, each its own data
// directory) would share the durable consumer projector-a and stall each
// other. The second refuses to start, naming the first; the first serves
// every read with X-Min-Position, each holding every event written.
func TestSameInstanceTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	cfg, ing := startDeployment(t)

	const fam = "SAME-1"
	var written []string
	post := func(dept events.Department, data events.Payload) uint64 {
		t.Helper()
		ce, err := events.Build(dept, fam, data)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := events.Marshal(ce)
		r := testenv.Do(t, ing.URL(), "POST", "/departments/"+string(dept)+"/v1/events", "dev-"+string(dept), body,
			map[string]string{"Content-Type": "application/cloudevents+json"})
		if r.Status != 201 {
			t.Fatalf("POST: %d %s", r.Status, r.Raw)
		}
		written = append(written, ce.ID())
		return uint64(r.Body["position"].(float64))
	}
	post(events.SOF, &events.FamilyReferred{Reason: "Kompleks sag"})
	post(events.SOF, testenv.Enrolment())
	post(events.SOF, &events.CaseworkerAssigned{EmployeeID: "E1001"})

	first := startProjector(t, cfg, "a", t.TempDir())
	t.Cleanup(func() { _ = first.Stop() })
	var last uint64
	for i := range 20 {
		last = post(events.BIF, &events.EducationStarted{PersonID: "P1", Programme: "hf-" + strconv.Itoa(i)})
	}
	// The same name on a second machine.
	second, err := process.Start(context.Background(), func() config.Config { c := cfg; c.Instance, c.DataDir = "a", t.TempDir(); return c }(),
		"projector", testenv.QuietLog(), func(ctx context.Context, p service.Parts) (service.Service, error) {
			return projector.NewService(ctx, p)
		})
	if err == nil {
		_ = second.Stop()
		t.Fatal("a second process with instance a started")
	}
	if !errors.Is(err, projector.ErrInstanceTaken) {
		t.Fatalf("the second process with instance a: %v, want ErrInstanceTaken", err)
	}
	t.Logf("the second process refused: %v", err)
	// Writes go on, as in a working day; the coordinator reads its own
	// write through the first with X-Min-Position.
	// At most 5 s and fewer entries than a page holds (500): on a quick
	// machine 5 s of writes fill more than one page.
	deadline := time.Now().Add(5 * time.Second)
	for i := 20; i < 400 && time.Now().Before(deadline); i++ {
		last = post(events.BIF, &events.EducationStarted{PersonID: "P1", Programme: "hf-" + strconv.Itoa(i)})
		r := testenv.Do(t, first.URL(), "GET", "/v1/families/"+fam+"/timeline?order=asc&limit=500", "dev-coordinator", nil,
			map[string]string{projector.HeaderMinPosition: strconv.FormatUint(last, 10), "X-Purpose": "review"})
		if r.Status != 200 {
			ready := testenv.Do(t, first.URL(), "GET", "/readyz", "", nil, nil)
			t.Fatalf("the first process: %d %s; its /readyz: %d %s", r.Status, r.Raw, ready.Status, strings.TrimSpace(ready.Raw))
		}
		var page struct {
			Entries []struct{ ID string } `json:"entries"`
		}
		if err := json.Unmarshal([]byte(r.Raw), &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) != len(written) {
			t.Fatalf("the first process answered 200 with %d of %d entries", len(page.Entries), len(written))
		}
	}
}
