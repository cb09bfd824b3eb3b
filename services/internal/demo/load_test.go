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
	"slices"
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
// HTTP API, with the dev data protection officer's token, then loads it
// again: the first load stores every event and erases one family, the
// second only finds duplicates and an erasure done before.
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
	st, err := demo.Load(ctx, demo.Options{BaseURL: sa.URL(), Seed: seed, Families: families, Progress: &progress, DPOToken: "dev-dpo"})
	if err != nil {
		t.Fatalf("load: %v\nprogress:\n%s", err, progress.String())
	}
	// One process, one view of the stream: no batch may need a retry,
	// so no 409 was hidden by the retries a distributed deployment needs.
	if st.Families != families || st.Events != len(want) || st.Duplicates != 0 || st.Stored() != len(want) || st.Retries != 0 {
		t.Fatalf("stats %+v, want %d events, no duplicates, no retries", st, len(want))
	}
	erased := demo.ErasedFamily(seed, families)
	if erased == "" || st.Erased != erased || !st.ErasureRecorded {
		t.Fatalf("erased %q (recorded %v), want %q recorded now", st.Erased, st.ErasureRecorded, erased)
	}
	// The departments' events and the service's one family.erased.
	if got := streamMsgs(t, sa); got != uint64(st.Events)+1 {
		t.Fatalf("stream holds %d messages, the load posted %d and erased one family", got, st.Events)
	}
	// Every type a department may post is loaded; family.erased, which
	// only the service records, is not posted but recorded by the erasure.
	for _, s := range events.Catalog() {
		postable := slices.ContainsFunc(events.Departments, s.OwnedBy)
		if postable && st.PerType[s.Name] == 0 {
			t.Errorf("no %s loaded", s.Name)
		}
		if !postable && st.PerType[s.Name] != 0 {
			t.Errorf("%d %s posted by a department", st.PerType[s.Name], s.Name)
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
	// The erased family stays listed: erasure keeps every event.
	if got := coordinatorFamilies(t, sa.URL(), st.Events+1); got != assigned || assigned == 0 {
		t.Errorf("dev-coordinator lists %d families, the fold assigns E1001 to %d", got, assigned)
	}
	// The erased family's personal text reads as tombstones on the
	// coordinator's timeline; another family's does not.
	if n := erasedEntries(t, sa.URL(), erased, st.Events+1); n == 0 {
		t.Errorf("no entry of the erased family %s says erased", erased)
	}
	if n := erasedEntries(t, sa.URL(), demo.FamilyID(seed, 1), st.Events+1); n != 0 {
		t.Errorf("%d entries of family %s say erased", n, demo.FamilyID(seed, 1))
	}

	again, err := demo.Load(ctx, demo.Options{BaseURL: sa.URL(), Seed: seed, Families: families, DPOToken: "dev-dpo"})
	if err != nil {
		t.Fatalf("second load: %v", err)
	}
	if again.Events != st.Events || again.Duplicates != again.Events || again.Stored() != 0 {
		t.Fatalf("second load %+v, want all %d duplicates", again, st.Events)
	}
	if again.Erased != erased || again.ErasureRecorded {
		t.Errorf("second load erased %q (recorded %v), want %s erased before", again.Erased, again.ErasureRecorded, erased)
	}
	if got := streamMsgs(t, sa); got != uint64(st.Events)+1 {
		t.Fatalf("after the second load the stream holds %d messages, want %d", got, st.Events+1)
	}
}

// erasedEntries counts the entries of the family's timeline (all on one
// page) that say erased, once the read model has applied position.
func erasedEntries(t *testing.T, base, familyID string, position int) int {
	t.Helper()
	var n int
	checkFor(t, 30*time.Second, func() error {
		req, err := http.NewRequest("GET", base+"/v1/families/"+familyID+"/timeline?limit=500", nil)
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
			return fmt.Errorf("GET timeline of %s: %d %s", familyID, resp.StatusCode, b)
		}
		var body struct {
			Entries []struct {
				Erased       bool     `json:"erased"`
				ErasedFields []string `json:"erasedFields"`
			} `json:"entries"`
			NextCursor *string `json:"nextCursor"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			return err
		}
		if body.NextCursor != nil || len(body.Entries) == 0 {
			return fmt.Errorf("timeline of %s: %d entries, next cursor %v", familyID, len(body.Entries), body.NextCursor)
		}
		n = 0
		for _, e := range body.Entries {
			if e.Erased && len(e.ErasedFields) > 0 {
				n++
			}
		}
		return nil
	})
	return n
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
