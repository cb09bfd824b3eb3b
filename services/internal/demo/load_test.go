package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"kk.dk/jobogfamilie/services/internal/testenv"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"kk.dk/jobogfamilie/events"
	"kk.dk/jobogfamilie/events/family"
	"kk.dk/jobogfamilie/services/internal/config"
	"kk.dk/jobogfamilie/services/internal/demo"
	"kk.dk/jobogfamilie/services/internal/eventstore"
	"kk.dk/jobogfamilie/services/internal/standalone"
)

var checkFor = testenv.CheckFor

// TestLoadThroughIngest loads a demo into a real standalone through its
// HTTP API, then loads it again: the first load stores every event, the
// second only finds duplicates.
func TestLoadThroughIngest(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.NATSListen = "off"
	sa, err := standalone.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sa.Stop() })

	const seed, families = 11, 12
	want := demo.Generate(seed, families)
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := demo.Load(ctx, demo.Options{BaseURL: sa.URL(), Seed: seed, Families: families, Progress: &progress})
	if err != nil {
		t.Fatalf("load: %v\nprogress:\n%s", err, progress.String())
	}
	// One process, one view of the stream: no batch may need a retry,
	// so no 409 was hidden by the retries a distributed deployment needs.
	if st.Families != families || st.Events != len(want) || st.Duplicates != 0 || st.Stored() != len(want) || st.Retries != 0 {
		t.Fatalf("stats %+v, want %d events, no duplicates, no retries", st, len(want))
	}
	if got := streamMsgs(t, sa); got != uint64(st.Events) {
		t.Fatalf("stream holds %d messages, the load posted %d", got, st.Events)
	}
	for _, s := range events.Catalog() {
		if st.PerType[s.Name] == 0 {
			t.Errorf("no %s loaded", s.Name)
		}
	}
	sum := 0
	for _, d := range events.Departments {
		sum += st.PerDepartment[d]
	}
	if sum != st.Events {
		t.Errorf("per department %v adds up to %d, want %d", st.PerDepartment, sum, st.Events)
	}
	if !strings.Contains(progress.String(), fmt.Sprintf("demo: %d/%d families, %d events", families, families, len(want))) {
		t.Errorf("no final progress line in:\n%s", progress.String())
	}

	// The coordinator E1001 (dev-coordinator) sees exactly the families
	// the fold says it is assigned to.
	assigned := 0
	states := map[string]*family.State{}
	for _, e := range want {
		ce, err := events.ParseStructured(e.JSON)
		if err != nil {
			t.Fatal(err)
		}
		env, err := events.Decode(ce)
		if err != nil {
			t.Fatal(err)
		}
		if states[e.FamilyID] == nil {
			states[e.FamilyID] = family.New(e.FamilyID)
		}
		states[e.FamilyID].Apply(env)
	}
	for _, s := range states {
		if s.CanRead("E1001") {
			assigned++
		}
	}
	if got := coordinatorFamilies(t, sa.URL(), st.Events); got != assigned || assigned == 0 {
		t.Errorf("dev-coordinator lists %d families, the fold assigns E1001 to %d", got, assigned)
	}

	again, err := demo.Load(ctx, demo.Options{BaseURL: sa.URL(), Seed: seed, Families: families})
	if err != nil {
		t.Fatalf("second load: %v", err)
	}
	if again.Events != st.Events || again.Duplicates != again.Events || again.Stored() != 0 {
		t.Fatalf("second load %+v, want all %d duplicates", again, st.Events)
	}
	if got := streamMsgs(t, sa); got != uint64(st.Events) {
		t.Fatalf("after the second load the stream holds %d messages, want %d", got, st.Events)
	}
}

func streamMsgs(t *testing.T, sa *standalone.Standalone) uint64 {
	t.Helper()
	s, err := sa.Store.JS.Stream(context.Background(), eventstore.FamilyStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// coordinatorFamilies lists dev-coordinator's families once the read
// model has applied position.
func coordinatorFamilies(t *testing.T, base string, position int) int {
	t.Helper()
	var n int
	checkFor(t, 30*time.Second, func() error {
		req, err := http.NewRequest("GET", base+"/v1/families", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer dev-coordinator")
		req.Header.Set("X-Min-Position", strconv.Itoa(position))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET /v1/families: %d %s", resp.StatusCode, b)
		}
		var body struct {
			Families []json.RawMessage `json:"families"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			return err
		}
		n = len(body.Families)
		return nil
	})
	return n
}
